"""Patrol windows and visiting order, against hand-worked cases and brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from geo.errors import ValidationError
from models.patrol import patrol_windows, tour_length_m, visiting_order, window_label


def _uk(*stamps: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps)).tz_localize("Europe/London").tz_convert("UTC"))


def test_busiest_window_in_uk_time() -> None:
    # Friday 3 Jan 2025 at 21:00, 22:00 and 23:00 GMT; one Tuesday morning event.
    at = _uk("2025-01-03 21:00", "2025-01-03 22:00", "2025-01-03 23:00", "2025-01-07 09:00")
    got = patrol_windows(pd.Series(["a"] * 4, name="cell"), at)
    # Windows starting 20:00 and 21:00 both hold three; the earlier wins.
    assert got.loc["a", "patrol_window"] == "Fri 20:00-24:00"
    assert got.loc["a", "window_events"] == 3
    assert got.loc["a", "window_share"] == pytest.approx(0.75)


def test_summer_time_is_local() -> None:
    # 21:30 BST on a Saturday in July is 20:30 UTC.
    at = _uk("2025-07-05 21:30")
    got = patrol_windows(pd.Series([1], name="cell"), at, hours=1)
    assert got.loc[1, "patrol_window"] == "Sat 21:00-22:00"


def test_window_wraps_round_the_week() -> None:
    at = _uk("2025-01-05 23:00", "2025-01-06 00:30")  # Sunday 23:00, Monday 00:30
    got = patrol_windows(pd.Series(["z", "z"], name="cell"), at)
    assert got.loc["z", "window_events"] == 2
    assert got.loc["z", "patrol_window"] == "Sun 21:00-01:00"


def test_weights_and_groups_are_independent() -> None:
    at = _uk("2025-01-03 21:00", "2025-01-04 10:00", "2025-01-04 10:00")
    groups = pd.Series(["a", "a", "b"], name="cell")
    got = patrol_windows(groups, at, weights=[5.0, 1.0, 1.0])
    assert got.loc["a", "patrol_window"].startswith("Fri")
    assert got.loc["b", "patrol_window"] == "Sat 07:00-11:00"
    with pytest.raises(ValidationError, match="`hours`"):
        patrol_windows(groups, at, hours=0)


def test_window_label() -> None:
    assert window_label(4, 20, 4) == "Fri 20:00-24:00"
    assert window_label(5, 22, 4) == "Sat 22:00-02:00"


def test_tour_on_a_line_is_the_line() -> None:
    x = np.array([0.0, 300.0, 100.0, 400.0, 200.0])
    order = visiting_order(x, np.zeros(5), start=0)
    assert x[order].tolist() == [0.0, 100.0, 200.0, 300.0, 400.0]
    assert tour_length_m(x, np.zeros(5), order) == pytest.approx(400.0)


def test_tour_is_two_opt_optimal_and_close_to_the_best_path() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 2000, 8), rng.uniform(0, 2000, 8)
    order = visiting_order(x, y, start=0)
    assert sorted(order.tolist()) == list(range(8)) and order[0] == 0
    length = tour_length_m(x, y, order)
    # No exchange of two edges shortens it (the 2-opt stopping rule).
    for i in range(1, 7):
        for j in range(i + 1, 8):
            swapped = order.copy()
            swapped[i : j + 1] = swapped[i : j + 1][::-1]
            assert tour_length_m(x, y, swapped) >= length - 1e-6
    best = min(tour_length_m(x, y, np.array([0, *p])) for p in itertools.permutations(range(1, 8)))
    assert length >= best - 1e-6
    assert length <= 1.25 * best


def test_tour_arguments() -> None:
    assert visiting_order([], []).size == 0
    with pytest.raises(ValidationError, match="`start`"):
        visiting_order([0.0], [0.0], start=3)
