"""Forecast evaluation: hand-calculated hit rate, PAI and PEI*, plus invariants."""

from __future__ import annotations

import math

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import ValidationError
from geo.h3index import cells_area_m2
from models.evaluation import (
    EVALUATION_COLUMNS,
    evaluate,
    evaluate_many,
    naive_scores,
    persistence_scores,
    rolling_origin,
    select_by_coverage,
    stability,
)

# Ten stand-in cells 101..110 with areas 1..10 m2 (A = 55).
CELLS = pd.Index(np.arange(101, 111, dtype=np.int64), name="h3")
AREAS = pd.Series(np.arange(1.0, 11.0), index=CELLS)
# The forecast ranks 103 (area 3), then 105 (area 5), then 110 (area 10), the rest lower.
SCORES = pd.Series([0.1, 0.2, 9.0, 0.3, 8.0, 0.4, 0.5, 0.6, 0.7, 7.0], index=CELLS)
# Outcomes: 102:5, 103:4, 101:3, 105:2, 110:1 (others absent = 0); N = 15.
OUTCOMES = pd.Series({102: 5, 103: 4, 101: 3, 105: 2, 110: 1})


def _res9_cells(count: int) -> pd.Index:
    """Real H3 resolution-9 cells around central Preston, sorted."""
    origin = h3.latlng_to_cell(53.759, -2.699, 9)
    disk = sorted(h3.str_to_int(c) for c in h3.grid_disk(origin, 6))
    return pd.Index(np.array(disk[:count], dtype=np.int64), name="h3")


# --- selection -------------------------------------------------------------------------


def test_selection_stops_before_exceeding_budget() -> None:
    # Budget 10/55 of A = 10 m2: 103 (3) + 105 (5) = 8 fits, + 110 (10) = 18 does not.
    # Cell 101 (area 1) would still fit, but the selection is a prefix of the score order.
    got = select_by_coverage(SCORES, AREAS, 10 / 55)
    assert got.tolist() == [103, 105]


def test_selection_includes_a_cell_that_fits_exactly() -> None:
    # Budget 8 m2 = 3 + 5 exactly; float rounding of 8/55*55 must not drop 105.
    assert select_by_coverage(SCORES, AREAS, 8 / 55).tolist() == [103, 105]


def test_selection_takes_at_least_one_cell() -> None:
    # Budget 0.55 m2 is smaller than the top cell (3 m2), which is still taken.
    assert select_by_coverage(SCORES, AREAS, 0.01).tolist() == [103]


def test_full_coverage_selects_every_cell_in_score_order() -> None:
    got = select_by_coverage(SCORES, AREAS, 1.0)
    assert got.tolist() == [103, 105, 110, 109, 108, 107, 106, 104, 102, 101]


def test_ties_broken_by_lower_cell_whatever_the_input_order() -> None:
    flat = pd.Series(1.0, index=CELLS)
    shuffled = flat.iloc[[7, 2, 9, 0, 5, 1, 8, 3, 6, 4]]
    areas = AREAS.iloc[[3, 1, 0, 9, 8, 7, 6, 5, 4, 2]]
    # Budget 6 m2: 101 (1) + 102 (2) + 103 (3) = 6.
    expected = [101, 102, 103]
    assert select_by_coverage(flat, AREAS, 6 / 55).tolist() == expected
    assert select_by_coverage(shuffled, areas, 6 / 55).tolist() == expected


def test_cells_without_score_rank_last() -> None:
    partial = pd.Series({107: 1.0, 104: np.nan})
    # 107 first, then the unscored cells by lower id: 101, 102 (area 7 + 1 + 2 = 10).
    assert select_by_coverage(partial, AREAS, 10 / 55).tolist() == [107, 101, 102]


def test_scores_outside_study_cells_are_refused() -> None:
    with pytest.raises(ValidationError, match="`scores`"):
        select_by_coverage(pd.Series({999: 1.0}), AREAS, 0.5)


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, math.nan, math.inf, True, "0.1", None])
def test_bad_coverage_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"`coverage` must be a share .* in \(0, 1\]"):
        select_by_coverage(SCORES, AREAS, bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="`coverage`"):
        evaluate(SCORES, AREAS, OUTCOMES, coverage=bad)  # type: ignore[arg-type]


def test_bad_areas_are_refused() -> None:
    with pytest.raises(ValidationError, match="`areas` must be > 0"):
        select_by_coverage(SCORES, AREAS.where(AREAS != 4, 0.0), 0.5)
    with pytest.raises(ValidationError, match="`areas` is empty"):
        select_by_coverage(SCORES.iloc[:0], AREAS.iloc[:0], 0.5)
    with pytest.raises(ValidationError, match="duplicate"):
        select_by_coverage(SCORES, pd.concat([AREAS, AREAS.iloc[:1]]), 0.5)


def test_negative_outcomes_are_refused() -> None:
    with pytest.raises(ValidationError, match="`outcomes` values must be finite and >= 0"):
        evaluate(SCORES, AREAS, pd.Series({101: -1}), coverage=0.5)


# --- evaluate --------------------------------------------------------------------------


def test_evaluate_by_hand_two_cells() -> None:
    got = evaluate(SCORES, AREAS, OUTCOMES, coverage=10 / 55)
    # Selected 103 (4 events, 3 m2) and 105 (2 events, 5 m2): n = 6, a = 8; N = 15, A = 55.
    # n*: by count 102 (5, 2 m2), 103 (4, 3 m2), 101 (3, 1 m2) = 6 m2; 105 (5 m2) would make
    # 11 > 8, so stop: n* = 12.
    assert got["cells_selected"] == 2
    assert (got["n"], got["N"], got["a_m2"], got["A_m2"], got["n_star"]) == (6, 15, 8, 55, 12)
    assert got["hit_rate"] == pytest.approx(6 / 15)
    assert got["pai"] == pytest.approx((6 / 15) / (8 / 55))  # 2.75
    assert got["pai"] == pytest.approx(2.75)
    assert got["pei_star"] == pytest.approx(0.5)
    assert got["no_outcomes"] is False
    assert list(got) == list(EVALUATION_COLUMNS)


def test_outcomes_outside_study_cells_are_ignored() -> None:
    extra = pd.concat([OUTCOMES, pd.Series({999: 100})])
    assert evaluate(SCORES, AREAS, extra, coverage=10 / 55) == evaluate(
        SCORES, AREAS, OUTCOMES, coverage=10 / 55
    )


def test_pei_star_is_one_when_scores_are_the_outcomes() -> None:
    cells = _res9_cells(60)
    areas = pd.Series(cells_area_m2(cells.to_numpy()), index=cells)
    rng = np.random.default_rng(7)
    outcomes = pd.Series(rng.poisson(1.5, cells.size).astype(float), index=cells)
    for coverage in (0.01, 0.05, 0.1, 0.3, 1.0):
        got = evaluate(outcomes, areas, outcomes, coverage=coverage)
        assert got["pei_star"] == 1.0
        assert got["n"] == got["n_star"]


def test_no_outcomes_gives_nan_metrics_and_a_flag() -> None:
    got = evaluate(SCORES, AREAS, pd.Series(dtype=float), coverage=0.2)
    assert got["no_outcomes"] is True
    assert got["N"] == 0 and got["n"] == 0 and got["n_star"] == 0
    assert math.isnan(got["hit_rate"]) and math.isnan(got["pai"]) and math.isnan(got["pei_star"])
    assert got["cells_selected"] == 2  # the selection does not depend on the outcomes


def test_evaluate_many_one_row_per_coverage() -> None:
    got = evaluate_many(SCORES, AREAS, OUTCOMES, coverages=(0.01, 10 / 55, 1.0))
    assert list(got.columns) == list(EVALUATION_COLUMNS)
    assert got["coverage"].tolist() == [0.01, 10 / 55, 1.0]
    assert got["cells_selected"].tolist() == [1, 2, 10]
    one = evaluate(SCORES, AREAS, OUTCOMES, coverage=10 / 55)
    assert got.iloc[1].to_dict() == pytest.approx(one)
    # At full coverage everything is caught: hit rate 1, PAI 1, PEI* 1.
    assert got.iloc[2][["hit_rate", "pai", "pei_star"]].tolist() == pytest.approx([1, 1, 1])
    with pytest.raises(ValidationError, match="`coverages` is empty"):
        evaluate_many(SCORES, AREAS, OUTCOMES, coverages=())


@settings(max_examples=150, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.floats(0.5, 2.0),  # area
            st.integers(0, 6),  # outcome
            st.integers(0, 4),  # score (small range: many ties)
        ),
        min_size=1,
        max_size=40,
    ),
    coverage=st.floats(0.001, 1.0),
)
def test_invariants_on_random_data(data: list[tuple[float, int, int]], coverage: float) -> None:
    cells = pd.Index(np.arange(len(data), dtype=np.int64) * 7 + 3)
    areas = pd.Series([d[0] for d in data], index=cells)
    outcomes = pd.Series([float(d[1]) for d in data], index=cells)
    scores = pd.Series([float(d[2]) for d in data], index=cells)
    got = evaluate(scores, areas, outcomes, coverage=coverage)
    budget = coverage * areas.sum()
    assert got["cells_selected"] >= 1
    assert got["a_m2"] <= budget * (1 + 1e-9) or got["cells_selected"] == 1
    assert got["n"] <= got["n_star"] <= got["N"]
    if got["no_outcomes"]:
        assert math.isnan(got["pai"]) and math.isnan(got["pei_star"])
        return
    assert got["pai"] == pytest.approx(got["hit_rate"] / (got["a_m2"] / got["A_m2"]))
    assert 0 <= got["hit_rate"] <= 1
    if got["n_star"] > 0:
        assert 0 <= got["pei_star"] <= 1
    perfect = evaluate(outcomes, areas, outcomes, coverage=coverage)
    if perfect["n_star"] > 0:
        assert perfect["pei_star"] == 1.0
    # The reverse order of the input changes nothing.
    assert evaluate(scores.iloc[::-1], areas.iloc[::-1], outcomes, coverage=coverage) == got


# --- stability -------------------------------------------------------------------------


def test_stability_is_jaccard() -> None:
    # {1, 2, 3} vs {2, 3, 4, 5}: 2 in common of 5 distinct.
    assert stability([1, 2, 3], pd.Index([5, 4, 3, 2])) == pytest.approx(2 / 5)
    assert stability([1, 2], [2, 1, 1]) == 1.0
    assert stability([1], []) == 0.0
    assert math.isnan(stability([], pd.Index([], dtype=np.int64)))


# --- baselines -------------------------------------------------------------------------


def test_naive_scores_are_last_period_counts() -> None:
    got = naive_scores(pd.Series({101: 3, 102: 0}))
    pd.testing.assert_series_equal(got, pd.Series({101: 3.0, 102: 0.0}, name="score"))
    with pytest.raises(ValidationError, match="`counts_last_period`"):
        naive_scores(pd.Series({101: -1}))


def test_persistence_sums_last_periods() -> None:
    weeks = pd.to_datetime(["2024-01-15", "2024-01-01", "2024-01-08"])
    table = pd.DataFrame({101: [1, 5, np.nan], 102: [0, 1, 2]}, index=weeks)
    # Sorted by week: 01-01 (5, 1), 01-08 (NaN=0, 2), 01-15 (1, 0).
    two = persistence_scores(table, periods=2)
    pd.testing.assert_series_equal(two, pd.Series({101: 1.0, 102: 2.0}, name="score"))
    three = persistence_scores(table, periods=3)
    assert three.tolist() == [6.0, 3.0]
    for bad in (0, 4, 1.5, True):
        with pytest.raises(
            ValidationError,
            match=r"`periods` must be an integer from 1 to the number of periods \(3\)",
        ):
            persistence_scores(table, periods=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="`counts_by_period` values"):
        persistence_scores(table * -1, periods=1)


def test_selection_is_pure() -> None:
    scores, areas = SCORES.copy(), AREAS.copy()
    evaluate_many(scores, areas, OUTCOMES)
    pd.testing.assert_series_equal(scores, SCORES)
    pd.testing.assert_series_equal(areas, AREAS)


# --- rolling origin --------------------------------------------------------------------


def test_rolling_origin_by_hand() -> None:
    # Four cells of 1 m2; coverage 0.25 selects one cell.
    areas = pd.Series(1.0, index=pd.Index([1, 2, 3, 4], dtype=np.int64))
    table = pd.DataFrame(
        {1: [3, 0, 0], 2: [0, 2, 1], 3: [0, 0, 0], 4: [0, 0, 3]},
        index=pd.Index([0, 1, 2], name="week"),
    )
    got = rolling_origin(
        table,
        areas,
        lambda past: naive_scores(past.iloc[-1]),
        min_train_periods=1,
        coverages=(0.25,),
    )
    # Origin 1: last week's top cell is 1; week 1 has 2 events, none in cell 1.
    # Origin 2: last week's top cell is 2 (1 of 4 events); best single cell is 4 (3 events).
    assert got["origin"].tolist() == [1, 2]
    assert got["n"].tolist() == [0, 1]
    assert got["hit_rate"].tolist() == pytest.approx([0.0, 0.25])
    assert got["pai"].tolist() == pytest.approx([0.0, 1.0])
    assert got["pei_star"].tolist() == pytest.approx([0.0, 1 / 3])
    assert math.isnan(got["stability"].iloc[0])
    assert got["stability"].iloc[1] == 0.0  # cell 1, then cell 2
    with pytest.raises(ValidationError, match="`min_train_periods`"):
        rolling_origin(table, areas, lambda past: naive_scores(past.iloc[-1]), min_train_periods=3)
