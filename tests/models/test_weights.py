"""Event weights and distinct counts: hand-calculated references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.errors import ValidationError
from models.weights import (
    COUNT_COLUMNS,
    DEFAULT_GRADING_WEIGHTS,
    GradingWeights,
    WeightParams,
    distinct_counts,
    event_weights,
    grading_weight,
    recency_weight,
)

AS_OF = pd.Timestamp("2024-06-03 00:00", tz="UTC")


def _ago(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days)


# --- recency ---------------------------------------------------------------------------


def test_recency_halves_every_half_life() -> None:
    at = pd.Series([_ago(0), _ago(28), _ago(56), _ago(0.5)])
    got = recency_weight(at, AS_OF, half_life_days=28.0)
    # By hand: 1, 1/2, 1/4, and half a day at a 28-day half-life is 2 ** (-0.5 / 28).
    np.testing.assert_allclose(got, [1.0, 0.5, 0.25, 2.0 ** (-0.5 / 28.0)], rtol=1e-12)


def test_recency_uses_fractional_days() -> None:
    at = pd.Series([AS_OF - pd.Timedelta(hours=12)])
    got = recency_weight(at, AS_OF, half_life_days=1.0)
    np.testing.assert_allclose(got, [np.sqrt(0.5)], rtol=1e-12)


def test_recency_converts_time_zones() -> None:
    # 01:00 in London on a summer day is 00:00 UTC: the same instant as AS_OF.
    at = pd.Series([pd.Timestamp("2024-06-03 01:00", tz="Europe/London")])
    np.testing.assert_allclose(recency_weight(at, AS_OF, half_life_days=7), [1.0])


def test_recency_refuses_events_after_as_of() -> None:
    at = pd.Series([_ago(1), _ago(-1), _ago(-2)])
    with pytest.raises(ValidationError, match=r"2 events are after `as_of`"):
        recency_weight(at, AS_OF, half_life_days=28)


@pytest.mark.parametrize("bad", [0, -3, float("nan"), float("inf")])
def test_recency_refuses_bad_half_life(bad: float) -> None:
    with pytest.raises(ValidationError, match=r"`half_life_days` must be > 0"):
        recency_weight(pd.Series([_ago(1)]), AS_OF, half_life_days=bad)


def test_recency_refuses_naive_times_and_missing_times() -> None:
    with pytest.raises(ValidationError, match=r"`as_of` must be timezone-aware"):
        recency_weight(pd.Series([_ago(1)]), pd.Timestamp("2024-06-03"), half_life_days=28)
    naive = pd.Series([pd.Timestamp("2024-06-01")])
    with pytest.raises(ValidationError, match=r"`at` must be timezone-aware"):
        recency_weight(naive, AS_OF, half_life_days=28)
    with pytest.raises(ValidationError, match=r"1 missing times"):
        recency_weight(
            pd.Series([_ago(1), pd.NaT], dtype="datetime64[ns, UTC]"), AS_OF, half_life_days=28
        )


# --- grading ---------------------------------------------------------------------------


def test_grading_default_table_is_the_documented_product() -> None:
    source = {"1": 1.0, "2": 0.6, "3": 0.3}
    assessment = {"A": 1.0, "B": 0.8, "C": 0.6, "D": 0.3, "E": 0.0}
    pairs = [(s, a) for s in source for a in assessment]
    got = grading_weight([s for s, _ in pairs], [a for _, a in pairs])
    np.testing.assert_allclose(got, [source[s] * assessment[a] for s, a in pairs], rtol=1e-12)
    # "E" (suspected false) contributes nothing, whatever the source.
    assert (got[[i for i, (_, a) in enumerate(pairs) if a == "E"]] == 0).all()


def test_grading_table_is_configurable() -> None:
    table = GradingWeights(
        source={"1": 2.0, "2": 1.0, "3": 0.5},
        assessment={"A": 1.0, "B": 1.0, "C": 0.5, "D": 0.25, "E": 0.1},
    )
    got = grading_weight(["1", "3", "2"], ["C", "E", "D"], table=table)
    np.testing.assert_allclose(got, [2.0 * 0.5, 0.5 * 0.1, 1.0 * 0.25])


def test_grading_refuses_unknown_or_missing_grades() -> None:
    with pytest.raises(ValidationError, match=r"`intelligence_assessment` has 2 values"):
        grading_weight(["1", "2", "3"], ["A", "F", None])
    with pytest.raises(ValidationError, match=r"`source_evaluation` has 1 values"):
        grading_weight(["4"], ["A"])
    with pytest.raises(ValidationError, match=r"same length"):
        grading_weight(["1", "2"], ["A"])


def test_grading_table_must_be_complete_and_non_negative() -> None:
    with pytest.raises(ValidationError, match=r"missing \['3'\]"):
        GradingWeights(source={"1": 1.0, "2": 0.5})
    with pytest.raises(ValidationError, match=r"`assessment\['B'\]` must be a finite number"):
        GradingWeights(assessment={"A": 1.0, "B": -1.0, "C": 0.6, "D": 0.3, "E": 0.0})


# --- params and event weights ------------------------------------------------------------


def test_weight_params_defaults_and_immutability() -> None:
    p = WeightParams()
    assert p.half_life_days == 28.0
    assert dict(p.layer_weights) == {
        "last_seen": 1.0,
        "found": 1.5,
        "venue_report": 1.0,
        "incident": 1.0,
    }
    assert p.grading == DEFAULT_GRADING_WEIGHTS
    with pytest.raises(TypeError):
        p.layer_weights["found"] = 9.0  # type: ignore[index]
    assert p.as_dict()["layer_weights"]["found"] == 1.5


def test_weight_params_validate() -> None:
    with pytest.raises(ValidationError, match=r"`half_life_days` must be > 0, got -1"):
        WeightParams(half_life_days=-1)
    with pytest.raises(ValidationError, match=r"unknown \['lost'\]"):
        WeightParams(
            layer_weights={"last_seen": 1, "found": 1, "venue_report": 1, "incident": 1, "lost": 1}
        )


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "layer": ["last_seen", "found", "venue_report", "incident", "venue_report"],
            "at": [_ago(0), _ago(28), _ago(56), _ago(0), _ago(14)],
            "source_evaluation": [None, None, "2", None, "1"],
            "intelligence_assessment": [None, None, "B", None, "E"],
        }
    )


def test_event_weights_multiply_recency_layer_and_grading() -> None:
    got = event_weights(_events(), AS_OF, WeightParams())
    expected = [
        1.0 * 1.0,  # last seen today
        0.5 * 1.5,  # found one half-life ago, found weight 1.5
        0.25 * 1.0 * (0.6 * 0.8),  # report graded 2B, two half-lives ago
        1.0,  # incident today
        0.0,  # report graded 1E: suspected false
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_event_weights_use_the_base_weight_column() -> None:
    events = _events().assign(weight=[2.0, 2.0, 1.0, 3.0, 1.0])
    got = event_weights(events, AS_OF, WeightParams(half_life_days=14))
    np.testing.assert_allclose(got[[0, 1, 3]], [2.0, 2.0 * 0.25 * 1.5, 3.0], rtol=1e-12)


def test_event_weights_refuse_bad_input() -> None:
    with pytest.raises(ValidationError, match=r"`layer` has 1 values"):
        event_weights(
            _events().assign(layer=["lost", "found", "incident", "incident", "incident"]), AS_OF
        )
    with pytest.raises(ValidationError, match=r"lacks columns \['source_evaluation'"):
        event_weights(_events().drop(columns=["source_evaluation"]), AS_OF)
    with pytest.raises(ValidationError, match=r"`weight` must be finite and >= 0"):
        event_weights(_events().assign(weight=[1, -1, 1, 1, 1]), AS_OF)


# --- distinct counts -----------------------------------------------------------------------


def test_one_child_seventy_times_is_one_child() -> None:
    many = pd.DataFrame(
        {
            "h3": 1,
            "layer": "last_seen",
            "child_ref": "c-1",
            "episode_id": [f"e-{i}" for i in range(70)],
        }
    )
    ten = pd.DataFrame(
        {
            "h3": 2,
            "layer": ["found"] * 4 + ["last_seen"] * 6,
            "child_ref": [f"k-{i}" for i in range(10)],
            "episode_id": [f"f-{i}" for i in range(10)],
        }
    )
    got = distinct_counts(pd.concat([many, ten], ignore_index=True)).set_index("h3")
    assert list(got.columns) == list(COUNT_COLUMNS)
    assert got.loc[1, "n"] == 70 and got.loc[2, "n"] == 10
    assert got.loc[1, "n_episodes"] == 70 and got.loc[2, "n_episodes"] == 10
    assert got.loc[1, "n_children"] == 1 and got.loc[2, "n_children"] == 10
    assert got.loc[2, "n_found"] == 4 and got.loc[2, "n_last_seen"] == 6
    assert got.loc[1, "weighted"] == 70.0


def test_distinct_counts_by_layer_and_weight() -> None:
    events = pd.DataFrame(
        {
            "cell": ["a", "a", "a", "a", "b"],
            "layer": ["found", "last_seen", "venue_report", "incident", "incident"],
            "child_ref": ["c1", "c1", None, None, None],
            "episode_id": ["e1", "e1", None, None, None],
            "weight": [1.5, 1.0, 0.25, 2.0, 0.5],
        }
    )
    got = distinct_counts(events, by="cell").set_index("cell")
    a = got.loc["a"]
    assert (a["n"], a["n_episodes"], a["n_children"]) == (4, 1, 1)
    assert (a["n_found"], a["n_last_seen"], a["n_reports"], a["n_incidents"]) == (1, 1, 1, 1)
    assert a["weighted"] == pytest.approx(1.5 + 1.0 + 0.25 + 2.0)
    b = got.loc["b"]
    assert (b["n"], b["n_episodes"], b["n_children"], b["n_incidents"]) == (1, 0, 0, 1)
    assert got["n"].dtype == np.int64 and got["weighted"].dtype == np.float64


def test_distinct_counts_without_episode_columns() -> None:
    events = pd.DataFrame({"h3": [5, 5, 6], "layer": "incident"})
    got = distinct_counts(events).set_index("h3")
    assert got["n"].tolist() == [2, 1]
    assert got["n_children"].tolist() == [0, 0]
    assert got["weighted"].tolist() == [2.0, 1.0]


def test_distinct_counts_refuse_missing_group() -> None:
    with pytest.raises(ValidationError, match=r"lacks columns \['ward'\]"):
        distinct_counts(pd.DataFrame({"h3": [1], "layer": ["found"]}), by="ward")
