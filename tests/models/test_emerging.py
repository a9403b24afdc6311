"""Tests for models.emerging: Mann-Kendall and the emerging hot/cold spot patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from h3.api import numpy_int as h3n
from scipy import stats

from geo.errors import ValidationError
from models.emerging import (
    COLUMNS,
    PATTERNS,
    emerging_classes,
    emerging_hotspots,
    mann_kendall,
)

BLACKBURN = (53.75, -2.48)
STEPS = 10
RAMP = np.arange(STEPS, dtype=float)


def _masks(code: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``"H"`` hot, ``"C"`` cold, ``"."`` neither -> (default z, hot, cold), one row."""
    chars = np.array(list(code))
    hot = chars == "H"
    cold = chars == "C"
    z = np.where(hot, 3.0, np.where(cold, -3.0, 0.0))
    return z[None, :], hot[None, :], cold[None, :]


# One hand-built series per class. ``z`` None means the default z of the code
# (3 hot, -3 cold, 0 otherwise); where the class depends on the trend, z is
# built so that the Mann-Kendall trend is unambiguous.
CASES: dict[str, tuple[str, np.ndarray | None]] = {
    "new_hot": (".........H", None),
    "consecutive_hot": ("......HHHH", None),
    "intensifying_hot": ("HHHHHHHHHH", 2.0 + 0.5 * RAMP),  # S = 45: increasing
    "persistent_hot": ("HHHHHHHHHH", 3.0 + (RAMP % 2)),  # 3,4,3,4,...: S = 5, no trend
    "diminishing_hot": ("HHHHHHHHHH", 7.0 - 0.5 * RAMP),  # S = -45: decreasing
    "sporadic_hot": ("H..H...H.H", None),  # on and off, never cold
    "oscillating_hot": ("C....H...H", None),  # cold before, hot now
    "historical_hot": ("HHHHHHHHH.", None),  # 9 of 10 hot, final not hot
    "new_cold": (".........C", None),
    "consecutive_cold": (".......CCC", None),
    "intensifying_cold": ("CCCCCCCCCC", -2.0 - 0.5 * RAMP),  # colder and colder
    "persistent_cold": ("CCCCCCCCCC", -3.0 - (RAMP % 2)),
    "diminishing_cold": ("CCCCCCCCCC", -7.0 + 0.5 * RAMP),  # warming up
    "sporadic_cold": ("C.C..C..CC", None),
    "oscillating_cold": ("..H..C.C.C", None),
    "historical_cold": ("CCCCCCCCC.", None),
    "no_pattern": ("HH..H.....", None),  # hot once, not now, under 90%
}


def test_cases_cover_every_pattern() -> None:
    assert set(CASES) == set(PATTERNS)
    assert len(PATTERNS) == 17


def _case(pattern: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(z, hot, cold) of the hand-built case of ``pattern``, one row."""
    code, z_given = CASES[pattern]
    z, hot, cold = _masks(code)
    if z_given is not None:
        z = z_given[None, :]
    return z, hot, cold


@pytest.mark.parametrize("pattern", list(CASES))
def test_each_pattern_from_hand_built_series(pattern: str) -> None:
    z, hot, cold = _case(pattern)
    assert emerging_classes(z, hot, cold).tolist() == [pattern]


def test_all_patterns_at_once_match_row_by_row() -> None:
    z, hot, cold = (np.vstack(parts) for parts in zip(*map(_case, CASES), strict=True))
    assert emerging_classes(z, hot, cold).tolist() == list(CASES)


def test_trend_series_of_the_90_percent_classes() -> None:
    z = np.vstack([_case(p)[0] for p in ("intensifying_hot", "persistent_hot", "diminishing_hot")])
    s, _, _, trend = mann_kendall(z)
    assert s.tolist() == [45, 5, -45]
    assert trend.tolist() == ["increasing", "no trend", "decreasing"]


def test_cold_history_makes_a_new_looking_cell_oscillating() -> None:
    # Only the final step is hot, but the cell was cold before: oscillating
    # (our documented reading), not new.
    z, hot, cold = _masks("..C......H")
    assert emerging_classes(z, hot, cold).tolist() == ["oscillating_hot"]


def test_ninety_percent_boundary() -> None:
    # 8 of 10 hot with the final one: under 90%, hot before the final run.
    z, hot, cold = _masks("HHHH.HHHH.")
    assert emerging_classes(z, hot, cold).tolist() == ["no_pattern"]
    z, hot, cold = _masks("HHHH.HHH.H")
    assert emerging_classes(z, hot, cold).tolist() == ["sporadic_hot"]
    z, hot, cold = _masks("HHHH.HHHHH")  # 9 of 10: 90%
    assert emerging_classes(z, hot, cold).tolist() == ["persistent_hot"]


def test_final_cold_beats_historical_hot() -> None:
    z, hot, cold = _masks("HHHHHHHHHC")  # 90% hot, but cold now
    assert emerging_classes(z, hot, cold).tolist() == ["oscillating_cold"]


def test_classes_reject_bad_input() -> None:
    z, hot, cold = _masks("HHHHHHHHHH")
    with pytest.raises(ValidationError, match="overlap"):
        emerging_classes(z, hot, hot)
    with pytest.raises(ValidationError, match="`significant_hot` must be a boolean"):
        emerging_classes(z, hot.astype(int), cold)
    with pytest.raises(ValidationError, match="`significant_cold` must have the shape"):
        emerging_classes(z, hot, cold[:, :5])
    with pytest.raises(ValidationError, match="`alpha`"):
        emerging_classes(z, hot, cold, alpha=1.5)
    with pytest.raises(ValidationError, match="`z` must be finite"):
        emerging_classes(np.full_like(z, np.nan), hot, cold)


def test_mann_kendall_hand_calculation() -> None:
    # [1..5]: all 10 pairs increase, S = 10; Var = 5*4*15/18 = 50/3;
    # z = (10 - 1) / sqrt(50/3) = 2.2045; p = 2 * (1 - Phi(z)) = 0.02749.
    s, z, p, trend = mann_kendall(np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]))
    assert s.tolist() == [10, -10]
    np.testing.assert_allclose(z, [9 / np.sqrt(50 / 3), -9 / np.sqrt(50 / 3)])
    np.testing.assert_allclose(p, [0.027486, 0.027486], atol=1e-6)
    assert trend.tolist() == ["increasing", "decreasing"]


def test_mann_kendall_ties() -> None:
    # [1, 2, 2, 3]: pairs + + + 0 + + -> S = 5; one tie group of 2:
    # Var = (4*3*13 - 2*1*9) / 18 = 138/18; z = 4 / sqrt(138/18).
    s, z, p, trend = mann_kendall(np.array([1.0, 2.0, 2.0, 3.0]))
    assert s.tolist() == [5]
    np.testing.assert_allclose(z, [4 / np.sqrt(138 / 18)])
    np.testing.assert_allclose(p, 2 * stats.norm.sf(4 / np.sqrt(138 / 18)))
    assert trend.tolist() == ["no trend"]
    # All equal: Var = 0 -> z = 0, p = 1.
    s, z, p, trend = mann_kendall(np.full((2, 6), 4.0))
    assert s.tolist() == [0, 0]
    assert z.tolist() == [0.0, 0.0]
    assert p.tolist() == [1.0, 1.0]
    assert trend.tolist() == ["no trend", "no trend"]


def test_mann_kendall_against_scipy_kendalltau() -> None:
    # Kendall's tau-b of the series against time has the same S (time has no
    # ties, so S = tau_b * sqrt(n0 (n0 - n1))) and the same tie-corrected
    # variance, but scipy's asymptotic p has no continuity correction: our
    # |z| is (|S| - 1) / |S| times scipy's, and our p slightly larger.
    rng = np.random.default_rng(11)
    n = 24
    series = np.vstack(
        [
            rng.integers(0, 5, n) + 0.4 * np.arange(n),  # rising, many ties
            rng.integers(0, 5, n) - 0.4 * np.arange(n),  # falling, many ties
            rng.integers(0, 3, n).astype(float),  # flat noise, heavy ties
            rng.normal(size=n),  # no ties
        ]
    )
    s, z, p, trend = mann_kendall(series)
    time = np.arange(n)
    n0 = n * (n - 1) / 2
    for i, row in enumerate(series):
        res = stats.kendalltau(time, row, method="asymptotic")
        _, t_counts = np.unique(row, return_counts=True)
        n1 = (t_counts * (t_counts - 1) / 2).sum()
        assert s[i] == round(res.statistic * np.sqrt(n0 * (n0 - n1)))
        z_scipy = stats.norm.isf(res.pvalue / 2)
        np.testing.assert_allclose(abs(z[i]), (abs(s[i]) - 1) / abs(s[i]) * z_scipy, rtol=1e-9)
        assert p[i] >= res.pvalue
        assert (p[i] <= 0.05) == (res.pvalue <= 0.05)
    assert trend.tolist()[:2] == ["increasing", "decreasing"]


def test_mann_kendall_rejects_bad_input() -> None:
    with pytest.raises(ValidationError, match="at least 2 time steps"):
        mann_kendall(np.zeros((3, 1)))
    with pytest.raises(ValidationError, match="two-dimensional"):
        mann_kendall(np.zeros((2, 2, 2)))
    with pytest.raises(ValidationError, match="`alpha`"):
        mann_kendall(np.zeros((2, 4)), alpha=0)


def _area(rings: int = 5) -> np.ndarray:
    centre = h3n.latlng_to_cell(*BLACKBURN, 9)
    return np.sort(np.asarray(h3n.grid_disk(centre, rings), dtype=np.int64))


def test_emerging_hotspots_finds_planted_intensifying_cell() -> None:
    cells = _area()  # 91 res-9 cells
    centre = h3n.latlng_to_cell(*BLACKBURN, 9)
    hot_disk = np.isin(cells, np.asarray(h3n.grid_disk(centre, 1), dtype=np.int64))
    rng = np.random.default_rng(2026)
    n_weeks = 16
    counts = rng.poisson(1.0, (n_weeks, cells.size)).astype(float)
    counts[:, hot_disk] += (2.0 + np.arange(n_weeks))[:, None]  # growing every week
    counts[5] = 0.0  # a week without events: zero variance, skipped
    weeks = pd.date_range("2026-01-05", periods=n_weeks, freq="W-MON")
    frame_in = pd.DataFrame(counts, index=weeks, columns=cells)

    frame, meta = emerging_hotspots(cells, frame_in)

    assert list(frame.columns) == list(COLUMNS)
    assert frame["h3"].tolist() == cells.tolist()
    row = frame.loc[frame["h3"] == centre].iloc[0]
    assert row["pattern"] == "intensifying_hot"
    assert row["trend"] == "increasing"
    assert row["hot_share"] == pytest.approx(15 / 16)
    assert bool(row["final_hot"])
    assert meta["skipped_weeks"] == [weeks[5]]
    assert meta["n_skipped_weeks"] == 1
    assert meta["z"].shape == (cells.size, n_weeks)
    assert (meta["z"][:, 5] == 0).all()
    assert sum(meta["pattern_counts"].values()) == cells.size
    assert set(frame["pattern"]) <= set(PATTERNS)
    # Far from the planted disk nothing is persistently hot.
    assert not frame.loc[~hot_disk, "pattern"].isin(["persistent_hot", "intensifying_hot"]).any()


def test_emerging_hotspots_rejects_bad_counts() -> None:
    cells = _area(2)
    good = pd.DataFrame(np.ones((3, cells.size)), columns=cells)
    with pytest.raises(ValidationError, match="ascending"):
        emerging_hotspots(cells, good.iloc[::-1].set_axis([2, 1, 0]))
    with pytest.raises(ValidationError, match="not in `cells`"):
        emerging_hotspots(cells[1:], good)
    with pytest.raises(ValidationError, match="non-negative"):
        emerging_hotspots(cells, good * -1)
    with pytest.raises(ValidationError, match="at least 2 weeks"):
        emerging_hotspots(cells, good.iloc[:1])
    with pytest.raises(ValidationError, match="`counts_by_week` must be a pandas DataFrame"):
        emerging_hotspots(cells, good.to_numpy())  # type: ignore[arg-type]
