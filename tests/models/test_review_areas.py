"""Areas and windows of the partnership review: settings, UK weeks, control matching, overlaps.

Reference values are worked out by hand in each test (calendar arithmetic on
UK dates, explicit distance checks, the two-proportion z written out).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import latlng_to_bng
from geo.errors import ValidationError
from geo.grid import area_cells
from models.review_areas import (
    ReviewSpec,
    Windows,
    build_blocks,
    eligible_blocks,
    match_control,
    overlaps,
    trend_z,
    week_index,
    windows_for,
)

UK = ZoneInfo("Europe/London")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def uk_midnight_utc(day: date) -> pd.Timestamp:
    """Midnight UK time at the start of ``day``, as a UTC timestamp (computed with zoneinfo)."""
    local = datetime(day.year, day.month, day.day, tzinfo=UK)
    return pd.Timestamp(local).tz_convert("UTC")


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


# Data cover two full years around the disruptions used below.
DATA_START = utc("2025-01-06 00:00")
DATA_END = utc("2027-12-27 12:00")


def windows(at: str, spec: ReviewSpec | None = None, **data: pd.Timestamp) -> Windows:
    got = windows_for(
        utc(at),
        spec or ReviewSpec.make(),
        data_start=data.get("data_start", DATA_START),
        data_end=data.get("data_end", DATA_END),
    )
    assert isinstance(got, Windows), got
    return got


# --- ReviewSpec.make -------------------------------------------------------------------


def test_spec_defaults() -> None:
    s = ReviewSpec.make()
    assert s.response_m == 150.0
    assert s.buffer_m == (400.0,)
    assert s.outer_m == 400.0
    assert (s.before_weeks, s.after_weeks) == (26, 26)
    assert s.alpha == 0.1
    assert s.block_res == 9
    assert s.max_block_share == 0.2
    assert s.ring_names() == ("buffer",)


def test_spec_rings_are_named_by_their_outer_radius() -> None:
    s = ReviewSpec.make(buffer_m=[200, 400])
    assert s.buffer_m == (200.0, 400.0)
    assert s.outer_m == 400.0
    assert s.ring_names() == ("buffer_200", "buffer_400")


def test_spec_accepts_a_buffer_of_exactly_5_km() -> None:
    assert ReviewSpec.make(buffer_m=(5000,)).outer_m == 5000.0


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"response_m": 500.0}, "--buffer-m"),  # response larger than the buffer
        ({"response_m": 500.0}, "--response-m"),
        ({"response_m": 400.0}, "--response-m"),  # equal to the buffer: no ring left
        ({"response_m": 0.0}, "--response-m"),
        ({"response_m": -10.0}, "--response-m"),
        ({"response_m": math.nan}, "--response-m"),
        ({"response_m": True}, "--response-m"),
        ({"response_m": 250.0, "buffer_m": (200.0, 400.0)}, "--response-m"),
        ({"buffer_m": (400.0, 200.0)}, "--buffer-m"),  # decreasing
        ({"buffer_m": (200.0, 200.0)}, "--buffer-m"),  # not increasing
        ({"buffer_m": (200.0, 400.0, 300.0)}, "--buffer-m"),
        ({"buffer_m": ()}, "--buffer-m"),
        ({"buffer_m": (400.0, math.inf)}, "--buffer-m"),
        ({"buffer_m": (5000.5,)}, "--buffer-m"),  # over 5 km
        ({"buffer_m": (400.0, 6000.0)}, "--buffer-m"),
        ({"before_weeks": 0}, "--before-weeks"),
        ({"before_weeks": True}, "--before-weeks"),
        ({"before_weeks": 2.5}, "--before-weeks"),
        ({"before_weeks": 521}, "--before-weeks"),
        ({"after_weeks": 0}, "--after-weeks"),
        ({"after_weeks": False}, "--after-weeks"),
        ({"after_weeks": -3}, "--after-weeks"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
    ],
)
def test_spec_rejects_bad_settings_naming_the_option(kwargs: dict, option: str) -> None:
    with pytest.raises(ValidationError) as err:
        ReviewSpec.make(**kwargs)
    assert option in str(err.value)


# --- windows_for -----------------------------------------------------------------------


def test_windows_of_a_wednesday_exclude_its_week_and_take_26_whole_weeks_each_side() -> None:
    day = date(2026, 3, 4)
    assert day.strftime("%A") == "Wednesday"
    w = windows("2026-03-04 12:00")
    monday = monday_of(day)  # 2 Mar 2026
    assert w.week_start == uk_midnight_utc(monday) == utc("2026-03-02 00:00")
    assert w.week_end == uk_midnight_utc(monday + timedelta(days=7)) == utc("2026-03-09 00:00")
    # 26 weeks before 2 Mar 2026 is Monday 1 Sep 2025, in summer time: 23:00 UTC the day before.
    assert monday - timedelta(weeks=26) == date(2025, 9, 1)
    assert w.before_start == uk_midnight_utc(date(2025, 9, 1)) == utc("2025-08-31 23:00")
    # 26 weeks after 9 Mar 2026 is Monday 7 Sep 2026, in summer time.
    assert monday + timedelta(weeks=27) == date(2026, 9, 7)
    assert w.after_end == uk_midnight_utc(date(2026, 9, 7)) == utc("2026-09-06 23:00")
    assert (w.before_weeks, w.after_weeks) == (26, 26)
    assert w.time_weights == (1.0, 1.0)
    assert w.note == ""


@pytest.mark.parametrize(
    "at",
    [
        "2026-03-02 00:00",  # Monday 00:00 GMT: the first instant of the week
        "2026-03-08 23:59",  # Sunday 23:59 GMT: the last minute of the week
        "2026-03-06 18:30",
    ],
)
def test_every_time_of_the_week_gives_the_same_week(at: str) -> None:
    w = windows(at)
    assert w.week_start == utc("2026-03-02 00:00")
    assert w.week_end == utc("2026-03-09 00:00")


def test_a_disruption_at_monday_midnight_starts_the_next_week() -> None:
    assert windows("2026-03-09 00:00").week_start == utc("2026-03-09 00:00")


def test_data_ending_early_shortens_both_windows_to_the_same_length_with_a_note() -> None:
    # Last event Wednesday 20 May 2026: the last whole week ends Monday 18 May.
    w = windows("2026-03-04 12:00", data_end=utc("2026-05-20 10:00"))
    after = (date(2026, 5, 18) - date(2026, 3, 9)).days // 7
    assert after == 10
    assert (w.before_weeks, w.after_weeks) == (after, after)
    assert w.before_start == uk_midnight_utc(date(2026, 3, 2) - timedelta(weeks=10))
    assert w.before_start == utc("2025-12-22 00:00")
    assert w.after_end == uk_midnight_utc(date(2026, 5, 18)) == utc("2026-05-17 23:00")
    assert w.time_weights == (1.0, 1.0)
    assert "10 of 26" in w.note
    assert "before" in w.note and "after" in w.note
    assert "20 May 2026" in w.note


def test_a_week_ending_exactly_at_the_data_end_is_whole_and_one_minute_short_is_not() -> None:
    end = uk_midnight_utc(date(2026, 5, 18))  # 17 May 23:00 UTC
    assert windows("2026-03-04 12:00", data_end=end).after_weeks == 10
    short = end - pd.Timedelta(minutes=1)
    assert windows("2026-03-04 12:00", data_end=short).after_weeks == 9


def test_data_starting_late_shortens_both_windows() -> None:
    # First event Wednesday 10 Dec 2025: the first whole week starts Monday 15 Dec.
    w = windows("2026-03-04 12:00", data_start=utc("2025-12-10 09:00"))
    before = (date(2026, 3, 2) - date(2025, 12, 15)).days // 7
    assert before == 11
    assert (w.before_weeks, w.after_weeks) == (11, 11)
    assert w.before_start == utc("2025-12-15 00:00")
    assert w.after_end == uk_midnight_utc(date(2026, 3, 9) + timedelta(weeks=11))
    assert "11 of 26" in w.note
    assert "10 Dec 2025" in w.note


def test_data_starting_exactly_at_monday_midnight_uses_that_week() -> None:
    w = windows("2026-03-04 12:00", data_start=utc("2025-12-15 00:00"))
    assert w.before_weeks == 11
    w = windows("2026-03-04 12:00", data_start=utc("2025-12-15 00:01"))
    assert w.before_weeks == 10


def test_unequal_windows_give_time_weights() -> None:
    spec = ReviewSpec.make(before_weeks=26, after_weeks=13)
    w = windows("2026-03-04 12:00", spec)
    assert (w.before_weeks, w.after_weeks) == (26, 13)
    assert w.time_weights == (2.0, 1.0)
    assert w.after_end == uk_midnight_utc(date(2026, 3, 9) + timedelta(weeks=13))
    assert w.note == ""


def test_unequal_windows_are_shortened_separately() -> None:
    spec = ReviewSpec.make(before_weeks=26, after_weeks=13)
    w = windows("2026-03-04 12:00", spec, data_end=utc("2026-05-20 10:00"))
    assert (w.before_weeks, w.after_weeks) == (26, 10)
    assert w.time_weights == pytest.approx((2.6, 1.0))
    assert "after window shortened to 10 of 13" in w.note
    assert "before window" not in w.note


@pytest.mark.parametrize("start", ["2026-03-03 00:00", "2026-02-25 12:00", "2026-05-01 00:00"])
def test_no_whole_week_before_gives_a_reason(start: str) -> None:
    got = windows_for(
        utc("2026-03-04 12:00"), ReviewSpec.make(), data_start=utc(start), data_end=DATA_END
    )
    assert isinstance(got, str)
    assert "no whole week of data before" in got


def test_one_whole_week_before_is_enough() -> None:
    w = windows("2026-03-04 12:00", data_start=utc("2026-02-23 00:00"))
    assert (w.before_weeks, w.after_weeks) == (1, 1)


def test_no_whole_week_after_gives_a_reason() -> None:
    # The data end on Sunday 15 Mar 2026: the week after the disruption's is not whole.
    got = windows_for(
        utc("2026-03-04 12:00"),
        ReviewSpec.make(),
        data_start=DATA_START,
        data_end=utc("2026-03-15 20:00"),
    )
    assert isinstance(got, str)
    assert "no whole week of data after" in got


def test_windows_across_the_spring_clock_change_start_at_uk_monday_midnight() -> None:
    # Sunday 29 Mar 2026: clocks go forward at 01:00 UTC.
    day = date(2026, 3, 29)
    assert day.strftime("%A") == "Sunday"
    w = windows("2026-03-29 10:00")
    assert w.week_start == utc("2026-03-23 00:00")  # Monday 23 Mar, still GMT
    assert w.week_end == utc("2026-03-29 23:00")  # Monday 30 Mar 00:00 BST
    assert w.before_start == uk_midnight_utc(date(2026, 3, 23) - timedelta(weeks=26))
    assert w.before_start == utc("2025-09-21 23:00")  # Monday 22 Sep 2025, BST
    assert w.after_end == uk_midnight_utc(date(2026, 3, 30) + timedelta(weeks=26))
    assert w.after_end == utc("2026-09-27 23:00")  # Monday 28 Sep 2026, BST
    for ts in (w.week_start, w.week_end, w.before_start, w.after_end):
        local = ts.tz_convert(UK)
        assert (local.day_name(), local.hour, local.minute) == ("Monday", 0, 0)


def test_windows_across_the_autumn_clock_change_start_at_uk_monday_midnight() -> None:
    # Sunday 25 Oct 2026: clocks go back at 01:00 UTC.
    w = windows("2026-10-25 12:00")
    assert w.week_start == utc("2026-10-18 23:00")  # Monday 19 Oct 00:00 BST
    assert w.week_end == utc("2026-10-26 00:00")  # Monday 26 Oct 00:00 GMT
    assert w.before_start == utc("2026-04-19 23:00")  # Monday 20 Apr 2026, BST
    assert w.after_end == utc("2027-04-25 23:00")  # Monday 26 Apr 2027, BST
    for ts in (w.week_start, w.week_end, w.before_start, w.after_end):
        local = ts.tz_convert(UK)
        assert (local.day_name(), local.hour, local.minute) == ("Monday", 0, 0)


def test_a_disruption_in_the_repeated_hour_belongs_to_its_sunday_week() -> None:
    # 00:30 UTC on 25 Oct 2026 is 01:30 BST, Sunday; 01:30 UTC is 01:30 GMT.
    for at in ("2026-10-25 00:30", "2026-10-25 01:30"):
        assert windows(at).week_start == utc("2026-10-18 23:00")


def test_week_index_counts_uk_days_across_clock_changes() -> None:
    spring = windows("2026-03-29 10:00")
    at = pd.Series(
        pd.to_datetime(
            [
                "2026-03-22 23:30",  # Sunday 23:30 GMT: the last before week
                "2026-03-23 00:00",  # Monday 00:00 GMT: the disruption's week
                "2026-03-29 22:59",  # Sunday 23:59 BST: still the disruption's week
                "2026-03-29 23:30",  # Monday 00:30 BST: the first after week
                "2025-09-21 22:59",  # Sunday 23:59 BST, just before the before window
                "2025-09-21 23:00",  # Monday 00:00 BST: the first before week
            ],
            utc=True,
        )
    )
    assert week_index(at, spring).tolist() == [-1, 0, 0, 1, -27, -26]
    autumn = windows("2026-10-25 12:00")
    at = pd.Series(
        pd.to_datetime(
            [
                "2026-10-18 22:30",  # Sunday 23:30 BST: the last before week
                "2026-10-18 23:30",  # Monday 00:30 BST: the disruption's week
                "2026-10-25 23:30",  # Sunday 23:30 GMT: still the disruption's week
                "2026-10-26 00:00",  # Monday 00:00 GMT: the first after week
            ],
            utc=True,
        )
    )
    assert week_index(at, autumn).tolist() == [-1, 0, 0, 1]


# --- match_control ---------------------------------------------------------------------


def two_proportion_z(t1: int, t2: int, u1: int, u2: int) -> float:
    """Hand formula: z of the second-half shares t2/(t1+t2) and u2/(u1+u2), pooled variance."""
    n1, n2 = t1 + t2, u1 + u2
    p1, p2 = t2 / n1, u2 / n2
    p = (t2 + u2) / (n1 + n2)
    if p in (0.0, 1.0):
        return 0.0  # both shares 0, or both 1: no difference to test
    return (p1 - p2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


def test_trend_z_matches_the_hand_formula() -> None:
    assert trend_z((10, 10), (30, 30)) == 0.0
    # shares 0.75 and 0.5, pooled 25/40: z = 0.25 / sqrt(0.625 * 0.375 * 0.1) = 1.633
    assert trend_z((5, 15), (10, 10)) == pytest.approx(1.632993, abs=1e-6)
    assert trend_z((5, 15), (10, 10)) == pytest.approx(two_proportion_z(5, 15, 10, 10))
    assert trend_z((3, 9), (14, 6)) == pytest.approx(two_proportion_z(3, 9, 14, 6))


def halves_of(pairs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([p[0] for p in pairs], dtype=np.int64)
    b = np.array([p[1] for p in pairs], dtype=np.int64)
    return a, b


def test_no_chosen_block_holds_more_than_a_fifth_of_the_target() -> None:
    # Target 20 before events: at most 4 per block. The two nearest hold 5 and 6.
    pairs = [(3, 2), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1), (1, 1)]
    pairs += [(1, 1)] * 10
    first, second = halves_of(pairs)
    dist = np.arange(1, len(pairs) + 1, dtype=float) * 100.0
    ctl = match_control((10, 10), (first, second), dist, np.ones(len(pairs), bool))
    assert ctl.passed, ctl.rule
    counts = first + second
    assert all(counts[i] <= 0.2 * 20 for i in ctl.rows)
    assert 0 not in ctl.rows and 1 not in ctl.rows
    assert 2 in ctl.rows  # exactly 20% is allowed
    assert ctl.before == sum(int(counts[i]) for i in ctl.rows) >= 20


def test_ineligible_blocks_are_never_chosen() -> None:
    pairs = [(1, 1)] * 30
    first, second = halves_of(pairs)
    dist = np.arange(1, 31, dtype=float) * 100.0
    eligible = np.ones(30, bool)
    eligible[:12] = False  # the twelve nearest are inside a buffer
    ctl = match_control((5, 5), (first, second), dist, eligible)
    assert ctl.passed, ctl.rule
    assert set(ctl.rows.tolist()) == set(range(12, 17))


def test_nearest_blocks_are_chosen_first() -> None:
    rng = np.random.default_rng(7)
    n = 40
    dist = rng.permutation(np.arange(1, n + 1)) * 137.0
    first = np.full(n, 1, np.int64)
    second = np.full(n, 1, np.int64)
    ctl = match_control((6, 6), (first, second), dist, np.ones(n, bool))
    assert ctl.passed, ctl.rule
    nearest_six = set(np.argsort(dist)[:6].tolist())
    assert set(ctl.rows.tolist()) == nearest_six
    assert ctl.before == 12


def test_a_far_block_is_not_chosen_while_nearer_ones_suffice() -> None:
    # The farthest block has a perfect trend match, but eight nearer blocks suffice.
    n = 40
    dist = np.arange(1, n + 1, dtype=float) * 100.0
    first = np.full(n, 2, np.int64)
    second = np.full(n, 1, np.int64)
    first[-1], second[-1] = 2, 2
    ctl = match_control((12, 12), (first, second), dist, np.ones(n, bool))
    assert ctl.passed, ctl.rule
    assert set(ctl.rows.tolist()) == set(range(8))


def test_union_before_count_reaches_the_target_for_random_inputs() -> None:
    rng = np.random.default_rng(11)
    passed = 0
    for _ in range(200):
        n = int(rng.integers(5, 60))
        first = rng.poisson(1.5, n).astype(np.int64)
        second = rng.poisson(1.5, n).astype(np.int64)
        dist = rng.uniform(500, 3000, n)
        eligible = rng.random(n) < 0.8
        t1, t2 = int(rng.integers(0, 25)), int(rng.integers(0, 25))
        ctl = match_control((t1, t2), (first, second), dist, eligible)
        rows = ctl.rows.tolist()
        assert len(set(rows)) == len(rows)
        assert all(eligible[i] for i in rows)
        if t1 + t2 == 0 or not ctl.passed:
            continue
        passed += 1
        total = t1 + t2
        # A fifth of the count, but never below one event (blocks cannot hold less).
        cap = max(1.0, 0.2 * total)
        assert all(first[i] + second[i] <= cap for i in rows)
        assert all(first[i] + second[i] > 0 for i in rows)
        union = sum(int(first[i] + second[i]) for i in rows)
        assert union == ctl.before >= total
        u2 = sum(int(second[i]) for i in rows)
        assert abs(two_proportion_z(t1, t2, union - u2, u2)) <= 1.6449
    assert passed > 20  # the loop exercised the passing branch


def test_too_few_events_in_eligible_blocks_fail_the_level_check() -> None:
    first, second = halves_of([(1, 1)] * 4)
    dist = np.array([700.0, 800.0, 900.0, 1000.0])
    ctl = match_control((10, 10), (first, second), dist, np.ones(4, bool))
    assert not ctl.passed
    assert ctl.before == 8
    assert "fewer" in ctl.rule and "20" in ctl.rule


def test_blocks_all_above_the_cap_give_no_control() -> None:
    first, second = halves_of([(3, 3)] * 10)
    ctl = match_control((10, 10), (first, second), np.arange(10.0) + 700, np.ones(10, bool))
    assert not ctl.passed
    assert len(ctl.rows) == 0
    assert "20%" in ctl.rule


def test_no_before_events_in_the_response_area_take_the_nearest_empty_block() -> None:
    first, second = halves_of([(0, 0), (1, 1), (2, 1)] * 5)
    ctl = match_control((0, 0), (first, second), np.arange(15.0) + 700, np.ones(15, bool))
    assert ctl.passed
    assert list(ctl.rows) == [0]  # the nearest block with no events before
    assert "had no events before" in ctl.rule
    # With no empty block eligible there is no control.
    busy = halves_of([(1, 1)] * 5)
    none = match_control((0, 0), busy, np.arange(5.0), np.ones(5, bool))
    assert not none.passed


def test_a_buffer_without_before_events_is_matched_to_the_nearest_empty_block() -> None:
    first, second = halves_of([(1, 1), (0, 0), (2, 0), (0, 0), (0, 0)])
    dist = np.array([700.0, 900.0, 650.0, 800.0, 1200.0])
    eligible = np.array([True, True, True, False, True])
    ctl = match_control((0, 0), (first, second), dist, eligible, what="buffer")
    # Empty and eligible: blocks 1 (900 m) and 4 (1200 m); block 3 (800 m) is not eligible.
    assert ctl.passed
    assert ctl.rows.tolist() == [1]
    assert ctl.before == 0
    assert "buffer" in ctl.rule


def test_a_buffer_without_before_events_and_no_empty_block_has_no_control() -> None:
    first, second = halves_of([(1, 1), (2, 0), (0, 0)])
    eligible = np.array([True, True, False])
    ctl = match_control((0, 0), (first, second), np.array([700.0, 800.0, 600.0]), eligible)
    assert not ctl.passed
    assert len(ctl.rows) == 0


def test_a_trend_mismatch_fails_with_the_trend_reason() -> None:
    # Response rising (2 then 18); every candidate falling (2 then 0).
    first, second = halves_of([(2, 0)] * 20)
    dist = np.arange(20, dtype=float) * 100 + 700
    ctl = match_control((2, 18), (first, second), dist, np.ones(20, bool))
    assert not ctl.passed
    assert ctl.before == 20
    z = two_proportion_z(2, 18, 20, 0)  # 0.9 / sqrt(0.45 * 0.55 * 0.1) = 5.72
    assert z == pytest.approx(5.72, abs=0.005)
    assert "trend" in ctl.rule
    assert f"z {z:.2f}" in ctl.rule


def test_a_matching_trend_passes_and_reports_its_z() -> None:
    first, second = halves_of([(1, 1)] * 20)
    dist = np.arange(20, dtype=float) * 100 + 700
    ctl = match_control((9, 11), (first, second), dist, np.ones(20, bool))
    assert ctl.passed
    assert ctl.before == 20
    z = two_proportion_z(9, 11, 10, 10)
    assert f"trend z {z:.2f}" in ctl.rule


# --- eligible blocks (real H3 blocks around Blackburn) ---------------------------------

LAT0, LNG0 = 53.75, -2.48
PX, PY = (float(v[0]) for v in latlng_to_bng([LAT0], [LNG0]))


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return area_cells(shapely.box(LNG0 - 0.04, LAT0 - 0.025, LNG0 + 0.04, LAT0 + 0.025), 9)


def vertex_distances(cell: int, x: float, y: float) -> np.ndarray:
    """Distances (BNG metres) from (x, y) to each vertex of an H3 cell."""
    b = np.array(h3.cell_to_boundary(h3.int_to_str(int(cell))))
    bx, by = latlng_to_bng(b[:, 0], b[:, 1])
    return np.hypot(bx - x, by - y)


def true_circumradius(cells: pd.DataFrame) -> float:
    return max(
        float(vertex_distances(c, x, y).max())
        for c, x, y in zip(cells["h3"], cells["x"], cells["y"], strict=True)
    )


def test_eligible_blocks_lie_wholly_outside_this_buffer_and_the_active_others(
    cells: pd.DataFrame,
) -> None:
    radius = true_circumradius(cells)
    assert 150 < radius < 250  # resolution 9
    blocks = build_blocks(
        cells, np.zeros(0, np.int64), pd.Series([], dtype="datetime64[ns, UTC]"), radius
    )
    other = (PX + 1500.0, PY + 200.0)
    ok, dist = eligible_blocks(blocks, PX, PY, 400.0, np.array([other]))
    for i, (c, x, y) in enumerate(zip(cells["h3"], cells["x"], cells["y"], strict=True)):
        d = math.hypot(x - PX, y - PY)
        d_other = math.hypot(x - other[0], y - other[1])
        assert dist[i] == pytest.approx(d)
        assert bool(ok[i]) == (d > 400.0 + radius and d_other > 400.0 + radius)
        if ok[i]:
            assert vertex_distances(c, PX, PY).min() > 400.0
            assert vertex_distances(c, *other).min() > 400.0
    assert ok.sum() > 100  # most of the area is still available
    assert (~ok).sum() > 20


# --- overlaps --------------------------------------------------------------------------


def test_overlaps_are_reported_both_ways_and_only_near_in_space_and_time() -> None:
    ids = np.array(["D-0001", "D-0002", "D-0003", "D-0004", "D-0005"], dtype=object)
    x = np.array([PX, PX + 300.0, PX + 2000.0, PX, PX])
    y = np.array([PY, PY, PY, PY + 300.0, PY - 600.0])
    at = pd.Series(
        pd.to_datetime(
            [
                "2026-03-04 12:00",
                "2026-03-25 12:00",  # 300 m away, 3 weeks later: overlaps D-0001
                "2026-03-04 12:00",  # 2 km away, same day: no overlap with anything
                "2027-03-03 12:00",  # 300 m from D-0001 but a year later
                "2026-11-04 12:00",  # 600 m, 35 weeks later: beyond the windows
            ],
            utc=True,
        )
    )
    got = overlaps(ids, x, y, at, ReviewSpec.make())
    assert got[0] == ["D-0002 (300 m, 3 weeks after)"]
    assert got[1] == ["D-0001 (300 m, 3 weeks before)"]
    assert got[2] == []
    assert got[3] == []
    # D-0005 is 671 m from D-0002 and 32 weeks after it, 900 m from D-0004.
    assert got[4] == []


def test_overlaps_need_buffers_that_meet() -> None:
    ids = np.array(["D-0001", "D-0002", "D-0003"], dtype=object)
    x = np.array([PX, PX + 790.0, PX - 810.0])
    y = np.array([PY, PY, PY])
    at = pd.Series(pd.to_datetime(["2026-03-04", "2026-03-04", "2026-03-04"], utc=True))
    got = overlaps(ids, x, y, at, ReviewSpec.make())
    # 790 m < 2 x 400 m: the buffers meet; 810 m: they do not.
    assert got[0] == ["D-0002 (790 m, same week)"]
    assert got[1] == ["D-0001 (790 m, same week)"]
    assert got[2] == []
