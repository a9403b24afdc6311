"""The partnership review end to end on synthetic events around a place in Blackburn.

Every expected count is recounted here by brute force: an explicit distance
and time check per event, block membership from the ``h3`` library's own
parent of each event's cell, UK Mondays from ``zoneinfo``. The measures
themselves are tested in ``test_displacement.py``; here the rows must agree
with calling them on the rows' own counts.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import bng_to_latlng, latlng_to_bng
from geo.grid import area_cells
from models import displacement as dm
from models.review import GivenControl, ReviewResult, review
from models.review_areas import ReviewSpec

UK = ZoneInfo("Europe/London")
LAT0, LNG0 = 53.75, -2.48
PX, PY = (float(v[0]) for v in latlng_to_bng([LAT0], [LNG0]))


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def uk_midnight_utc(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UK)).tz_convert("UTC")


# The disruption of most tests: Wednesday 4 Mar 2026, 12:00 UTC. Its week is
# Monday 2 Mar to Monday 9 Mar (GMT); 26 whole weeks each side, computed by hand:
DISRUPTED = utc("2026-03-04 12:00")
BEFORE_START = utc("2025-08-31 23:00")  # Monday 1 Sep 2025 00:00 BST
HALF = utc("2025-12-01 00:00")  # Monday 1 Dec 2025: 13 weeks into the before window
WEEK_START = utc("2026-03-02 00:00")
WEEK_END = utc("2026-03-09 00:00")
AFTER_END = utc("2026-09-06 23:00")  # Monday 7 Sep 2026 00:00 BST
DATA_START = utc("2025-01-06 00:00")
DATA_END = utc("2026-12-28 12:00")

B1 = utc("2025-10-15 12:00")  # first half of the before window
B2 = utc("2026-01-14 12:00")  # second half
A1 = utc("2026-04-15 12:00")  # after window
A2 = utc("2026-07-15 12:00")
O1 = utc("2025-06-11 12:00")  # outside both windows
O2 = utc("2026-10-14 12:00")
W0 = utc("2026-03-05 12:00")  # the disruption's own week
JUST_BEFORE = BEFORE_START - pd.Timedelta(seconds=1)  # Sunday 31 Aug 2025 23:59:59 BST
EDGES = (O1, O2, W0, JUST_BEFORE, AFTER_END)  # times no window holds

HEAVY_M = 850.0  # background blocks nearer than this hold 6 before events, the rest 2
QUIET_M = 650.0  # background blocks nearer than this hold nothing


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    """Resolution-9 blocks over about 6.6 km x 7.8 km around the place."""
    return area_cells(shapely.box(LNG0 - 0.05, LAT0 - 0.035, LNG0 + 0.05, LAT0 + 0.035), 9)


def events(
    xs: list[float] | np.ndarray,
    ys: list[float] | np.ndarray,
    ats: list[pd.Timestamp],
    layer: str = "last_seen",
    record: list[str] | None = None,
) -> pd.DataFrame:
    """Events at BNG points; ``h3`` the res-12 cell of each point, ``block`` its res-9 parent."""
    xs = np.asarray(xs, float)
    ys = np.asarray(ys, float)
    lat, lng = bng_to_latlng(xs, ys)
    cell = [h3.latlng_to_cell(a, b, 12) for a, b in zip(lat, lng, strict=True)]
    frame = pd.DataFrame(
        {
            "record_id": record if record is not None else [""] * len(xs),
            "x": xs,
            "y": ys,
            "h3": np.array([h3.str_to_int(c) for c in cell], dtype=np.int64),
            "at": pd.to_datetime(pd.Series(ats, dtype=object), utc=True),
            "layer": layer,
        }
    )
    frame["block"] = np.array([h3.str_to_int(h3.cell_to_parent(c, 9)) for c in cell], np.int64)
    return frame


def around(
    px: float, py: float, dist: float, ats: list[pd.Timestamp], turn: float = 0.0
) -> pd.DataFrame:
    """One event per time, each ``dist`` metres from (px, py) at evenly spread bearings."""
    angles = turn + np.linspace(0.0, 2 * np.pi, len(ats), endpoint=False)
    return events(px + dist * np.cos(angles), py + dist * np.sin(angles), ats)


def at_bearing(dist: float, degrees: float, at: pd.Timestamp) -> pd.DataFrame:
    a = math.radians(degrees)
    return events([PX + dist * math.cos(a)], [PY + dist * math.sin(a)], [at])


def background(
    cells: pd.DataFrame,
    light: tuple[pd.Timestamp, ...] = (B1, B2, A1, A2, *EDGES),
    heavy: tuple[pd.Timestamp, ...] = (B1, B1, B1, B2, B2, B2, A1, A2, *EDGES),
) -> pd.DataFrame:
    """Events at the centres of blocks beyond QUIET_M from the place, by distance band.

    Every block also holds events in no window (``EDGES``), which no count may include.
    """
    d = np.hypot(cells["x"].to_numpy() - PX, cells["y"].to_numpy() - PY)
    xs: list[float] = []
    ys: list[float] = []
    ats: list[pd.Timestamp] = []
    for x, y, dist in zip(cells["x"], cells["y"], d, strict=True):
        if dist <= QUIET_M:
            continue
        times = heavy if dist <= HEAVY_M else light
        xs += [x] * len(times)
        ys += [y] * len(times)
        ats += list(times)
    return events(xs, ys, ats)


def base_near() -> pd.DataFrame:
    """Response area: 10 + 10 before (a batch per half), 6 after; buffer: 2 + 2 before, 8 after."""
    return pd.concat(
        [
            around(PX, PY, 50.0, [B1] * 10),
            around(PX, PY, 50.0, [B2] * 10, turn=0.1),
            around(PX, PY, 60.0, [A1] * 6),
            around(PX, PY, 250.0, [B1, B1, B2, B2]),
            around(PX, PY, 250.0, [A2] * 8, turn=0.2),
        ],
        ignore_index=True,
    )


def disruptions(*rows: tuple) -> pd.DataFrame:
    """Rows of (id, time, tactic, x, y)."""
    return pd.DataFrame(
        {
            "disruption_id": [r[0] for r in rows],
            "disrupted_at": pd.to_datetime([r[1] for r in rows], utc=True),
            "tactic": [r[2] for r in rows],
            "x": [float(r[3]) for r in rows],
            "y": [float(r[4]) for r in rows],
            "venue_id": [f"V-{i + 1:04d}" for i in range(len(rows))],
            "public": [True] * len(rows),
        }
    )


ONE = (("D-0001", DISRUPTED, "patrol", PX, PY),)


def run(
    cells: pd.DataFrame,
    ev: pd.DataFrame,
    dis: pd.DataFrame | None = None,
    spec: ReviewSpec | None = None,
    **kw: object,
) -> ReviewResult:
    return review(
        ev.drop(columns=["block", "record_id"]),
        disruptions(*ONE) if dis is None else dis,
        cells,
        spec or ReviewSpec.make(),
        data_start=DATA_START,
        data_end=DATA_END,
        **kw,  # type: ignore[arg-type]
    )


def row_of(result: ReviewResult, disruption_id: str = "D-0001") -> pd.Series:
    rows = result.rows.loc[result.rows["disruption_id"] == disruption_id]
    assert len(rows) == 1
    return rows.iloc[0]


def count_near(
    ev: pd.DataFrame,
    px: float,
    py: float,
    lo: float,
    hi: float,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> int:
    """Events with lo <= distance < hi and start <= at < end, one at a time."""
    n = 0
    for x, y, at in zip(ev["x"], ev["y"], ev["at"], strict=True):
        if lo <= math.hypot(x - px, y - py) < hi and start <= at < end:
            n += 1
    return n


def block_counts(ev: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> Counter:
    c: Counter = Counter()
    for block, at in zip(ev["block"], ev["at"], strict=True):
        if start <= at < end:
            c[int(block)] += 1
    return c


def chosen(result: ReviewResult, area: str, disruption_id: str = "D-0001") -> list[int]:
    a = result.areas
    sel = a.loc[(a["disruption_id"] == disruption_id) & (a["area"] == area)]
    assert (sel["kind"] == "block").all()
    return [int(v) for v in sel["h3"]]


def centre(block: int) -> tuple[float, float]:
    lat, lng = h3.cell_to_latlng(h3.int_to_str(block))
    x, y = latlng_to_bng([lat], [lng])
    return float(x[0]), float(y[0])


def nearest_vertex_m(block: int, px: float, py: float) -> float:
    b = np.array(h3.cell_to_boundary(h3.int_to_str(block)))
    bx, by = latlng_to_bng(b[:, 0], b[:, 1])
    return float(np.hypot(bx - px, by - py).min())


@pytest.fixture(scope="module")
def bg(cells: pd.DataFrame) -> pd.DataFrame:
    return background(cells)


@pytest.fixture(scope="module")
def base(cells: pd.DataFrame, bg: pd.DataFrame) -> tuple[pd.DataFrame, ReviewResult]:
    ev = pd.concat([bg, base_near()], ignore_index=True)
    return ev, run(cells, ev)


# --- counting --------------------------------------------------------------------------


def test_base_counts_equal_brute_force(base: tuple[pd.DataFrame, ReviewResult]) -> None:
    ev, res = base
    r = row_of(res)
    assert bool(r["reviewed"]), r["reason"]
    assert r["response_before"] == count_near(ev, PX, PY, 0, 150, BEFORE_START, WEEK_START) == 20
    assert r["response_after"] == count_near(ev, PX, PY, 0, 150, WEEK_END, AFTER_END) == 6
    assert r["buffer_before"] == count_near(ev, PX, PY, 150, 400, BEFORE_START, WEEK_START) == 4
    assert r["buffer_after"] == count_near(ev, PX, PY, 150, 400, WEEK_END, AFTER_END) == 8
    assert r["week_start"] == WEEK_START
    assert r["before_start"] == BEFORE_START
    assert r["after_end"] == AFTER_END
    assert (r["before_weeks"], r["after_weeks"]) == (26, 26)


def test_edge_distances_fall_in_response_buffer_or_nothing(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    extra = [
        at_bearing(149.0, 10, B1),
        at_bearing(151.0, 100, B1),
        at_bearing(399.0, 190, B2),
        at_bearing(401.0, 280, B2),
        at_bearing(149.0, 30, A1),
        at_bearing(151.0, 120, A1),
        at_bearing(399.0, 210, A2),
        at_bearing(401.0, 300, A2),
    ]
    ev = pd.concat([bg, base_near(), *extra], ignore_index=True)
    r = row_of(run(cells, ev))
    assert bool(r["reviewed"]), r["reason"]
    # 149 m: response; 151 m and 399 m: buffer; 401 m: neither.
    assert r["response_before"] == 20 + 1
    assert r["buffer_before"] == 4 + 2
    assert r["response_after"] == 6 + 1
    assert r["buffer_after"] == 8 + 2
    assert r["response_before"] == count_near(ev, PX, PY, 0, 150, BEFORE_START, WEEK_START)
    assert r["buffer_after"] == count_near(ev, PX, PY, 150, 400, WEEK_END, AFTER_END)


def test_the_disruption_week_and_times_outside_the_windows_count_nowhere(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    second = pd.Timedelta(seconds=1)
    nowhere = [
        WEEK_START,
        DISRUPTED,
        WEEK_END - second,  # Sunday 8 Mar 23:59:59 GMT
        BEFORE_START - second,  # Sunday 31 Aug 2025 23:59:59 BST
        AFTER_END,  # Monday 7 Sep 2026 00:00 BST
        AFTER_END + pd.Timedelta(hours=5),
    ]
    inside = [BEFORE_START, WEEK_START - second, WEEK_END, AFTER_END - second]
    ev = pd.concat(
        [
            bg,
            base_near(),
            around(PX, PY, 80.0, nowhere),
            around(PX, PY, 300.0, nowhere),
            around(PX, PY, 90.0, inside),
            around(PX, PY, 310.0, inside),
        ],
        ignore_index=True,
    )
    r = row_of(run(cells, ev))
    assert bool(r["reviewed"]), r["reason"]
    assert (r["response_before"], r["response_after"]) == (20 + 2, 6 + 2)
    assert (r["buffer_before"], r["buffer_after"]) == (4 + 2, 8 + 2)
    assert r["response_before"] == count_near(ev, PX, PY, 0, 150, BEFORE_START, WEEK_START)
    assert r["response_after"] == count_near(ev, PX, PY, 0, 150, WEEK_END, AFTER_END)


def test_buffer_rings_have_their_own_columns_that_sum_to_the_buffer(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    extra = [
        at_bearing(199.0, 45, B1),
        at_bearing(201.0, 135, B2),
        at_bearing(160.0, 225, A1),
        at_bearing(390.0, 315, A1),
    ]
    ev = pd.concat([bg, base_near(), *extra], ignore_index=True)
    res = run(cells, ev, spec=ReviewSpec.make(buffer_m=(200, 400)))
    r = row_of(res)
    assert bool(r["reviewed"]), r["reason"]
    for when, (start, end) in {
        "before": (BEFORE_START, WEEK_START),
        "after": (WEEK_END, AFTER_END),
    }.items():
        inner = count_near(ev, PX, PY, 150, 200, start, end)
        outer = count_near(ev, PX, PY, 200, 400, start, end)
        assert r[f"buffer_200_{when}"] == inner
        assert r[f"buffer_400_{when}"] == outer
        assert r[f"buffer_{when}"] == inner + outer
    assert (r["buffer_200_before"], r["buffer_400_before"]) == (1, 4 + 1)
    assert (r["buffer_200_after"], r["buffer_400_after"]) == (1, 8 + 1)
    s = res.series
    for name in ("buffer_200", "buffer_400", "buffer"):
        part = s.loc[s["area"] == name]
        assert part.loc[part["week"] < 0, "n"].sum() == r[f"{name}_before"]
        assert part.loc[part["week"] > 0, "n"].sum() == r[f"{name}_after"]
    rings = res.areas.loc[res.areas["kind"] == "ring"]
    assert rings["area"].tolist() == ["buffer_200", "buffer_400"]
    assert rings["inner_m"].tolist() == [150.0, 200.0]
    assert rings["radius_m"].tolist() == [200.0, 400.0]


def test_an_episode_last_seen_in_the_response_area_and_found_in_the_buffer_counts_once_in_each(
    cells: pd.DataFrame, bg: pd.DataFrame, base: tuple[pd.DataFrame, ReviewResult]
) -> None:
    seen = events([PX + 100.0], [PY], [B2], layer="last_seen", record=["E-0001"])
    found = events([PX], [PY - 300.0], [B2 + pd.Timedelta(hours=6)], layer="found")
    found["record_id"] = "E-0001"
    ev = pd.concat([bg, base_near(), seen, found], ignore_index=True)
    r = row_of(run(cells, ev))
    before = row_of(base[1])
    assert r["response_before"] == before["response_before"] + 1
    assert r["buffer_before"] == before["buffer_before"] + 1
    assert r["response_after"] == before["response_after"]
    assert r["buffer_after"] == before["buffer_after"]


# --- matched control -------------------------------------------------------------------


def test_matched_control_follows_the_rules(base: tuple[pd.DataFrame, ReviewResult]) -> None:
    ev, res = base
    r = row_of(res)
    blocks = chosen(res, "control")
    assert blocks
    before = block_counts(ev, BEFORE_START, WEEK_START)
    after = block_counts(ev, WEEK_END, AFTER_END)
    cap = 0.2 * r["response_before"]
    for b in blocks:
        assert 0 < before[b] <= cap
        assert nearest_vertex_m(b, PX, PY) > 400.0  # wholly outside the buffer
    assert r["control_before"] == sum(before[b] for b in blocks) >= r["response_before"]
    assert r["control_after"] == sum(after[b] for b in blocks)
    # The cap mattered: a block over it lies nearer than the farthest block chosen.
    far = max(math.dist(centre(b), (PX, PY)) for b in blocks)
    over = [b for b, n in before.items() if n > cap]
    assert any(math.dist(centre(b), (PX, PY)) < far for b in over)
    buffer_blocks = chosen(res, "buffer_control")
    assert buffer_blocks
    assert not set(buffer_blocks) & set(blocks)
    for b in buffer_blocks:
        assert nearest_vertex_m(b, PX, PY) > 400.0
        assert before[b] <= 0.2 * max(r["buffer_before"], r["response_before"])
    assert r["buffer_control_before"] == sum(before[b] for b in buffer_blocks)
    assert r["buffer_control_after"] == sum(after[b] for b in buffer_blocks)


def test_matched_control_takes_the_nearest_eligible_blocks(
    cells: pd.DataFrame, base: tuple[pd.DataFrame, ReviewResult]
) -> None:
    # Every block beyond HEAVY_M holds one event in each half: equal in every respect
    # but distance, so the control is the nearest of them, as many as the level needs.
    res = base[1]
    blocks = chosen(res, "control")
    assert len(blocks) == 10  # 20 before events, 2 per block
    light = [
        math.dist((x, y), (PX, PY))
        for x, y in zip(cells["x"], cells["y"], strict=True)
        if math.dist((x, y), (PX, PY)) > HEAVY_M
    ]
    got = sorted(math.dist(centre(b), (PX, PY)) for b in blocks)
    assert got == pytest.approx(sorted(light)[:10], abs=0.01)


def other_disruption_context(when: str) -> pd.DataFrame:
    return disruptions(*ONE, ("D-0002", when, "patrol", PX + 1000.0, PY))


def test_blocks_near_another_disruption_within_the_windows_are_never_chosen(
    cells: pd.DataFrame, base: tuple[pd.DataFrame, ReviewResult]
) -> None:
    ev = base[0]
    res = run(cells, ev, context=other_disruption_context("2026-04-01 12:00"))
    r = row_of(res)
    assert bool(r["reviewed"]), r["reason"]
    picked = chosen(res, "control") + chosen(res, "buffer_control")
    for b in picked:
        assert nearest_vertex_m(b, PX + 1000.0, PY) > 400.0
    # The other disruption dated a year later leaves its surroundings available, and
    # the nearest blocks (see the previous test) include some of them.
    res = run(cells, ev, context=other_disruption_context("2027-06-02 12:00"))
    picked = chosen(res, "control") + chosen(res, "buffer_control")
    assert any(nearest_vertex_m(b, PX + 1000.0, PY) < 400.0 for b in picked)


def test_no_before_events_in_the_response_area_are_compared_with_an_empty_block(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    # Nothing before to match but nothing itself: the control is the nearest eligible
    # block that was empty before too, and the row says so.
    ev = pd.concat([bg, around(PX, PY, 50.0, [A1] * 8)], ignore_index=True)
    r = row_of(run(cells, ev))
    assert r["response_before"] == 0 and r["response_after"] == 8
    assert bool(r["reviewed"])
    assert r["control_before"] == 0
    assert "had no events before" in r["control_rule"]


def test_a_buffer_without_before_events_gets_an_empty_block_outside_it(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    near = pd.concat(
        [
            around(PX, PY, 50.0, [B1] * 10),
            around(PX, PY, 50.0, [B2] * 10, turn=0.1),
            around(PX, PY, 60.0, [A1] * 6),
            around(PX, PY, 250.0, [A2] * 5),
        ],
        ignore_index=True,
    )
    ev = pd.concat([bg, near], ignore_index=True)
    res = run(cells, ev)
    r = row_of(res)
    assert bool(r["reviewed"]), r["reason"]
    assert (r["buffer_before"], r["buffer_after"]) == (0, 5)
    before = block_counts(ev, BEFORE_START, WEEK_START)
    after = block_counts(ev, WEEK_END, AFTER_END)
    picked = chosen(res, "buffer_control")
    assert len(picked) == 1
    assert before[picked[0]] == 0
    assert nearest_vertex_m(picked[0], PX, PY) > 400.0
    assert not set(picked) & set(chosen(res, "control"))
    assert (r["buffer_control_before"], r["buffer_control_after"]) == (0, after[picked[0]])


def test_a_trend_mismatch_is_not_reviewed(cells: pd.DataFrame) -> None:
    # The response area rises (2 then 18 before events); every candidate block falls (2 then 0).
    falling = background(cells, light=(B1, B1, A1, A2), heavy=(B1,) * 6 + (A1,))
    near = pd.concat(
        [around(PX, PY, 50.0, [B1] * 2), around(PX, PY, 50.0, [B2] * 18), around(PX, PY, 50, [A1])],
        ignore_index=True,
    )
    r = row_of(run(cells, pd.concat([falling, near], ignore_index=True)))
    assert (r["response_before"], r["response_after"]) == (20, 1)
    assert not bool(r["reviewed"])
    assert "trend" in r["reason"]
    assert r["reason"] == r["control_rule"]


# --- measures on the rows' own counts --------------------------------------------------


def expected_wdd(r: pd.Series) -> dm.WDDResult:
    tw = (r["before_weeks"] / r["after_weeks"], 1.0)
    pairs = [
        (r["control_before"], r["control_after"]),
        (r["response_before"], r["response_after"]),
    ]
    if r["buffer_control_before"] is not None and not pd.isna(r["buffer_control_before"]):
        pairs += [
            (r["buffer_control_before"], r["buffer_control_after"]),
            (r["buffer_before"], r["buffer_after"]),
        ]
    return dm.wdd(*pairs, time_weights=tw, alpha=0.1, phi=r["phi"])


def test_row_measures_agree_with_the_displacement_functions(
    base: tuple[pd.DataFrame, ReviewResult],
) -> None:
    r = row_of(base[1])
    w = expected_wdd(r)
    assert r["buffer_control_before"] is not None  # the four-area WDD is in use
    assert r["wdd"] == pytest.approx(w.est_total)
    assert r["wdd_se"] == pytest.approx(w.se_total)
    assert (r["wdd_low"], r["wdd_high"]) == pytest.approx((w.low, w.high))
    assert r["wdd_local"] == pytest.approx(w.est_local)
    assert r["wdd_displace"] == pytest.approx(w.est_displace)
    # Hand arithmetic for the estimate: dT - dC + dD - dCd.
    hand = (
        (r["response_after"] - r["response_before"])
        - (r["control_after"] - r["control_before"])
        + (r["buffer_after"] - r["buffer_before"])
        - (r["buffer_control_after"] - r["buffer_control_before"])
    )
    assert r["wdd"] == pytest.approx(hand)
    q = dm.wdq(
        (r["response_before"], r["response_after"]),
        (r["buffer_before"], r["buffer_after"]),
        (r["control_before"], r["control_after"]),
    )
    assert (r["ge"], r["ne"], r["success_measure"]) == pytest.approx((q.ge, q.ne, q.s))
    assert r["tne"] == pytest.approx(q.tne)
    p = dm.e_test(r["response_before"], r["response_after"], n1=26, n2=26)
    assert r["etest_p"] == pytest.approx(p)
    assert r["mde"] == pytest.approx(dm.mde(r["response_before"], alpha=0.1, buffer=True))


def pearson_phi(matrix: np.ndarray) -> float:
    """Pearson's dispersion over rows (blocks) with a positive mean, written out."""
    total, df = 0.0, 0
    for row in matrix:
        m = sum(row) / len(row)
        if m <= 0:
            continue
        total += sum((v - m) ** 2 / m for v in row)
        df += len(row) - 1
    return total / df


def uk_mondays(first: date, n: int) -> list[pd.Timestamp]:
    return [uk_midnight_utc(first + timedelta(weeks=k)) for k in range(n + 1)]


def test_phi_comes_from_weekly_before_counts_of_the_nearest_candidate_blocks(
    base: tuple[pd.DataFrame, ReviewResult],
) -> None:
    ev, res = base
    # Candidates: blocks beyond QUIET_M (all hold before events, all outside the
    # buffer); the nearest 100 of them. Light blocks are identical, so ties at the
    # hundredth do not matter.
    held = block_counts(ev, BEFORE_START, WEEK_START)
    ranked = sorted((math.dist(centre(b), (PX, PY)), b) for b in held)
    # The other blocks holding events hold the response area's and the buffer's:
    # their centres lie within 400 m plus a block's circumradius (about 200 m).
    assert all(d < 600.0 for d, _ in ranked if d <= QUIET_M)
    nearest = [b for d, b in ranked if d > QUIET_M][:100]
    assert len(nearest) == 100
    mondays = uk_mondays(date(2025, 9, 1), 26)
    row = {b: i for i, b in enumerate(nearest)}
    weekly = np.zeros((len(nearest), 26), dtype=int)
    for blk, at in zip(ev["block"], ev["at"], strict=True):
        if blk not in row:
            continue
        for k in range(26):
            if mondays[k] <= at < mondays[k + 1]:
                weekly[row[blk], k] += 1
    hand = pearson_phi(weekly)
    assert hand > 1  # the heavy blocks make the counts overdispersed
    assert row_of(res)["phi"] == pytest.approx(max(1.0, hand))


def test_unequal_windows_use_time_weights(cells: pd.DataFrame, bg: pd.DataFrame) -> None:
    ev = pd.concat([bg, base_near()], ignore_index=True)
    r = row_of(run(cells, ev, spec=ReviewSpec.make(before_weeks=26, after_weeks=13)))
    assert bool(r["reviewed"]), r["reason"]
    after_end = uk_midnight_utc(date(2026, 3, 9) + timedelta(weeks=13))
    assert r["after_end"] == after_end
    assert r["response_after"] == count_near(ev, PX, PY, 0, 150, WEEK_END, after_end)
    assert r["control_after"] is not None
    w = expected_wdd(r)
    assert r["wdd"] == pytest.approx(w.est_total)
    assert r["wdd_se"] == pytest.approx(w.se_total)
    # Hand arithmetic: the before counts are halved (26 weeks against 13).
    hand = (r["response_after"] - r["response_before"] / 2) - (
        r["control_after"] - r["control_before"] / 2
    )
    hand += (r["buffer_after"] - r["buffer_before"] / 2) - (
        r["buffer_control_after"] - r["buffer_control_before"] / 2
    )
    assert r["wdd"] == pytest.approx(hand)
    assert r["etest_p"] == pytest.approx(
        dm.e_test(r["response_before"], r["response_after"], n1=26, n2=13)
    )


@pytest.mark.parametrize(("after", "reading"), [(0, "fell"), (45, "rose"), (20, "no clear change")])
def test_local_reading_follows_the_local_wdd_test(
    cells: pd.DataFrame, bg: pd.DataFrame, after: int, reading: str
) -> None:
    near = pd.concat(
        [
            around(PX, PY, 50.0, [B1] * 10),
            around(PX, PY, 50.0, [B2] * 10, turn=0.1),
            around(PX, PY, 60.0, [A1] * after),
        ],
        ignore_index=True,
    )
    r = row_of(run(cells, pd.concat([bg, near], ignore_index=True)))
    assert bool(r["reviewed"]), r["reason"]
    # The local estimate: change in the response area minus change in its control;
    # its variance phi times the four counts; read at alpha 0.1 (|z| > 1.645).
    est = (r["response_after"] - 20) - (r["control_after"] - r["control_before"])
    se = math.sqrt(r["phi"] * (r["response_after"] + 20 + r["control_after"] + r["control_before"]))
    assert r["wdd_local"] == pytest.approx(est)
    assert r["wdd_local_se"] == pytest.approx(se)
    z = est / se
    assert (z < -1.645, z > 1.645) == (reading == "fell", reading == "rose")
    assert r["local_reading"] == reading


def test_no_events_in_either_window_is_not_reviewed(cells: pd.DataFrame) -> None:
    early = pd.concat(
        [around(PX, PY, 50.0, [O1] * 5), around(PX + 1500, PY, 50.0, [O1] * 5)],
        ignore_index=True,
    )
    r = row_of(run(cells, early))
    assert not bool(r["reviewed"])
    assert "no events anywhere" in r["reason"]


# --- several disruptions ---------------------------------------------------------------

NORTH = (PX, PY + 2000.0)
SOUTH = (PX, PY - 2000.0)


def near_of(px: float, py: float, after: int) -> pd.DataFrame:
    return pd.concat(
        [
            around(px, py, 50.0, [B1] * 10),
            around(px, py, 50.0, [B2] * 10, turn=0.1),
            around(px, py, 60.0, [A1] * after),
        ],
        ignore_index=True,
    )


@pytest.fixture(scope="module")
def several(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, ReviewResult]:
    ev = pd.concat(
        [bg, base_near(), near_of(*NORTH, after=14), near_of(*SOUTH, after=25)],
        ignore_index=True,
    )
    dis = disruptions(
        *ONE,
        ("D-0003", DISRUPTED, "patrol", *NORTH),
        ("D-0004", DISRUPTED, "cawn", *SOUTH),
        ("D-0005", DISRUPTED, "patrol", math.nan, math.nan),  # no location
        ("D-0006", "2024-06-05 12:00", "patrol", PX + 500.0, PY),  # before the data
        ("D-0007", "2026-12-23 12:00", "cawn", PX - 500.0, PY),  # no whole week after
    )
    return ev, dis, run(cells, ev, dis)


def test_each_reviewable_disruption_is_reviewed_and_the_others_say_why(
    several: tuple[pd.DataFrame, pd.DataFrame, ReviewResult],
) -> None:
    ev, _, res = several
    for did in ("D-0001", "D-0003", "D-0004"):
        r = row_of(res, did)
        assert bool(r["reviewed"]), (did, r["reason"])
    assert "no location" in row_of(res, "D-0005")["reason"]
    assert "no whole week of data before" in row_of(res, "D-0006")["reason"]
    assert "no whole week of data after" in row_of(res, "D-0007")["reason"]
    for did in ("D-0005", "D-0006", "D-0007"):
        assert not bool(row_of(res, did)["reviewed"])
    assert (res.reviewed, res.not_reviewed) == (3, 3)
    north = row_of(res, "D-0003")
    assert north["response_before"] == count_near(ev, *NORTH, 0, 150, BEFORE_START, WEEK_START)
    assert north["response_after"] == count_near(ev, *NORTH, 0, 150, WEEK_END, AFTER_END)


def test_controls_keep_away_from_the_other_disruptions(
    several: tuple[pd.DataFrame, pd.DataFrame, ReviewResult],
) -> None:
    _, _, res = several
    places = {"D-0001": (PX, PY), "D-0003": NORTH, "D-0004": SOUTH}
    for did in places:
        for b in chosen(res, "control", did) + chosen(res, "buffer_control", did):
            for there in places.values():
                assert nearest_vertex_m(b, *there) > 400.0, (did, b)


def test_pooled_tactic_rows_are_the_harm_sum_of_their_disruptions(
    several: tuple[pd.DataFrame, pd.DataFrame, ReviewResult],
) -> None:
    _, _, res = several
    pooled = res.rows.loc[res.rows["disruption_id"] == ""].set_index("tactic")
    assert sorted(pooled.index) == ["all", "cawn", "patrol"]
    one, north = row_of(res, "D-0001"), row_of(res, "D-0003")
    patrol = pooled.loc["patrol"]
    assert patrol["pooled"] == 2
    assert patrol["wdd"] == pytest.approx(one["wdd"] + north["wdd"])
    assert patrol["wdd_se"] == pytest.approx(math.hypot(one["wdd_se"], north["wdd_se"]))
    h = dm.wdd_harm([one["wdd"], north["wdd"]], [one["wdd_se"], north["wdd_se"]], [1, 1])
    assert (patrol["wdd_low"], patrol["wdd_high"]) == pytest.approx((h.low, h.high))
    # The local and buffer parts are pooled too, and read as the rows' parts are.
    assert patrol["wdd_local"] == pytest.approx(one["wdd_local"] + north["wdd_local"])
    assert patrol["wdd_local_se"] == pytest.approx(
        math.hypot(one["wdd_local_se"], north["wdd_local_se"])
    )
    local = dm.wdd_harm(
        [one["wdd_local"], north["wdd_local"]], [one["wdd_local_se"], north["wdd_local_se"]], [1, 1]
    )
    want = "no clear change" if local.p >= 0.1 else ("fell" if local.est < 0 else "rose")
    assert patrol["local_reading"] == want
    assert patrol["response_before"] == one["response_before"] + north["response_before"]
    south = row_of(res, "D-0004")
    cawn = pooled.loc["cawn"]
    assert cawn["pooled"] == 1
    assert cawn["wdd"] == pytest.approx(south["wdd"])
    assert cawn["wdd_se"] == pytest.approx(south["wdd_se"])
    for did in ("D-0001", "D-0003", "D-0004"):
        r = row_of(res, did)
        assert r["wdd"] == pytest.approx(expected_wdd(r).est_total)
    # Several tactics: one more row over every reviewed disruption.
    every = pooled.loc["all"]
    assert every["pooled"] == 3
    assert every["wdd"] == pytest.approx(one["wdd"] + north["wdd"] + south["wdd"])
    assert every["wdd_se"] == pytest.approx(
        math.sqrt(one["wdd_se"] ** 2 + north["wdd_se"] ** 2 + south["wdd_se"] ** 2)
    )


def test_overlaps_are_reported_both_ways(cells: pd.DataFrame, bg: pd.DataFrame) -> None:
    ev = pd.concat([bg, base_near(), near_of(*NORTH, after=10)], ignore_index=True)
    dis = disruptions(
        *ONE,
        ("D-0002", "2026-03-25 12:00", "patrol", PX + 300.0, PY),  # 300 m, 3 weeks later
        ("D-0003", DISRUPTED, "patrol", *NORTH),  # 2 km away
        ("D-0004", "2027-03-03 12:00", "patrol", PX, PY + 300.0),  # 300 m, a year later
    )
    res = run(cells, ev, dis)
    assert row_of(res, "D-0001")["overlaps"] == "D-0002 (300 m, 3 weeks after)"
    assert row_of(res, "D-0002")["overlaps"] == "D-0001 (300 m, 3 weeks before)"
    assert row_of(res, "D-0003")["overlaps"] == ""
    assert row_of(res, "D-0004")["overlaps"] == ""


# --- a control given by the analyst ----------------------------------------------------


def in_box(ev: pd.DataFrame, box: tuple[float, float, float, float], start, end) -> int:
    x0, y0, x1, y1 = box
    return sum(
        1
        for x, y, at in zip(ev["x"], ev["y"], ev["at"], strict=True)
        if x0 < x < x1 and y0 < y < y1 and start <= at < end
    )


def test_a_given_control_counts_the_events_inside_its_polygon(
    cells: pd.DataFrame, base: tuple[pd.DataFrame, ReviewResult]
) -> None:
    ev = base[0]
    box = (PX + 900.0, PY - 450.0, PX + 1700.0, PY + 450.0)
    given = GivenControl("Stand-in ward A", shapely.box(*box))
    res = run(cells, ev, control=given)
    r = row_of(res)
    assert bool(r["reviewed"]), r["reason"]
    assert r["control_before"] == in_box(ev, box, BEFORE_START, WEEK_START) > 0
    assert r["control_after"] == in_box(ev, box, WEEK_END, AFTER_END)
    assert "Stand-in ward A" in r["control_rule"]
    assert "touches the buffer" not in r["control_rule"]
    assert r["wdd"] == pytest.approx(expected_wdd(r).est_total)
    part = res.areas.loc[res.areas["area"] == "control"]
    assert part["kind"].tolist() == ["given"]
    s = res.series
    control = s.loc[s["area"] == "control"]
    assert control.loc[control["week"] < 0, "n"].sum() == r["control_before"]
    assert control.loc[control["week"] > 0, "n"].sum() == r["control_after"]


def test_a_given_control_touching_the_buffer_says_so(
    cells: pd.DataFrame, base: tuple[pd.DataFrame, ReviewResult]
) -> None:
    box = (PX + 300.0, PY - 450.0, PX + 1700.0, PY + 450.0)
    res = run(cells, base[0], control=GivenControl("Stand-in ward B", shapely.box(*box)))
    r = row_of(res)
    assert r["control_before"] == in_box(base[0], box, BEFORE_START, WEEK_START)
    assert "touches the buffer" in r["control_rule"]


def test_a_given_control_over_the_response_area_is_refused_by_name(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    # The control reaches 100 m from D-0001's place and lies 2 km from D-0003's.
    ev = pd.concat([bg, base_near(), near_of(*NORTH, after=10)], ignore_index=True)
    dis = disruptions(*ONE, ("D-0003", DISRUPTED, "patrol", *NORTH))
    given = GivenControl("Stand-in ward C", shapely.box(PX + 100.0, PY - 50, PX + 600, PY + 50))
    res = run(cells, ev, dis, control=given)
    r = row_of(res)
    assert not bool(r["reviewed"])
    assert "Stand-in ward C" in r["reason"]
    assert "overlaps the response area" in r["reason"]
    assert bool(row_of(res, "D-0003")["reviewed"])


# --- month-stamped events --------------------------------------------------------------


def month_firsts(first: date, last: date) -> list[date]:
    out, d = [], first
    while d <= last:
        out.append(d)
        d = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return out


FIRSTS = month_firsts(date(2025, 6, 1), date(2026, 12, 1))


@pytest.fixture(scope="module")
def stamped(cells: pd.DataFrame) -> tuple[pd.DataFrame, list[int], ReviewResult]:
    """Events stamped at UK midnight on the 1st of each month.

    Blocks between QUIET_M and 1200 m hold, in month m, 3 events when m + j is
    even (j the block's order) and 1 more when j is a multiple of 3; the
    response area holds 15 a month.
    """
    d = np.hypot(cells["x"].to_numpy() - PX, cells["y"].to_numpy() - PY)
    sel = cells.loc[(d > QUIET_M) & (d < 1200.0)].reset_index(drop=True)
    xs, ys, ats = [], [], []
    for j, (x, y) in enumerate(zip(sel["x"], sel["y"], strict=True)):
        for m, day in enumerate(FIRSTS):
            n = (3 if (m + j) % 2 == 0 else 0) + (1 if j % 3 == 0 else 0)
            xs += [x] * n
            ys += [y] * n
            ats += [uk_midnight_utc(day)] * n
    blocks_ev = events(xs, ys, ats)
    resp = [around(PX, PY, 40.0, [uk_midnight_utc(day)] * 15) for day in FIRSTS]
    ev = pd.concat([blocks_ev, *resp], ignore_index=True)
    order = [int(b) for b in sel["h3"]]
    return ev, order, run(cells, ev, month_stamped=True)


def test_month_stamped_phi_uses_only_weeks_holding_a_first_of_month(
    stamped: tuple[pd.DataFrame, list[int], ReviewResult],
) -> None:
    ev, order, res = stamped
    r = row_of(res)
    assert bool(r["reviewed"]), r["reason"]
    before_firsts = [d for d in FIRSTS if BEFORE_START <= uk_midnight_utc(d) < WEEK_START]
    after_firsts = [d for d in FIRSTS if WEEK_END <= uk_midnight_utc(d) < AFTER_END]
    # 1 Sep 2025 ... 1 Mar 2026 (a Sunday, in the last before week); 1 Apr ... 1 Sep 2026.
    assert len(before_firsts) == 7 and len(after_firsts) == 6
    # Monthly counts of every background block (all candidates: fewer than 100, all
    # outside the buffer, all holding before events), from the events themselves.
    row = {b: i for i, b in enumerate(order)}
    stamps = [uk_midnight_utc(day) for day in before_firsts]
    monthly = np.zeros((len(order), len(stamps)), dtype=int)
    for blk, at in zip(ev["block"], ev["at"], strict=True):
        if blk in row and at in stamps:
            monthly[row[blk], stamps.index(at)] += 1
    assert (monthly.sum(axis=1) > 0).all()
    hand = pearson_phi(monthly)
    # The same counts spread over 26 weeks, 19 of them empty.
    weekly = np.hstack([monthly, np.zeros((len(order), 26 - 7), dtype=int)])
    hand_weekly = pearson_phi(weekly)
    assert hand > 1 and hand_weekly > hand + 1
    assert r["phi"] == pytest.approx(hand)
    # The E-test's exposures are the months (weeks holding a 1st), not the weeks.
    assert r["response_before"] == 15 * 7 and r["response_after"] == 15 * 6
    assert r["etest_p"] == pytest.approx(dm.e_test(105, 90, n1=7, n2=6))
    assert r["etest_p"] != pytest.approx(dm.e_test(105, 90, n1=26, n2=26))


def test_month_stamped_poisson_counts_give_phi_near_one(cells: pd.DataFrame) -> None:
    rng = np.random.default_rng(3)
    d = np.hypot(cells["x"].to_numpy() - PX, cells["y"].to_numpy() - PY)
    sel = cells.loc[(d > QUIET_M) & (d < 2500.0)]
    xs, ys, ats = [], [], []
    for x, y in zip(sel["x"], sel["y"], strict=True):
        for day in FIRSTS:
            n = int(rng.poisson(4.0))
            xs += [x] * n
            ys += [y] * n
            ats += [uk_midnight_utc(day)] * n
    resp = [around(PX, PY, 40.0, [uk_midnight_utc(day)] * 30) for day in FIRSTS]
    ev = pd.concat([events(xs, ys, ats), *resp], ignore_index=True)
    stamped_row = row_of(run(cells, ev, month_stamped=True))
    weekly_row = row_of(run(cells, ev))
    assert bool(stamped_row["reviewed"]), stamped_row["reason"]
    assert bool(weekly_row["reviewed"]), weekly_row["reason"]
    # Poisson monthly counts (mean 4): phi near 1 from the months; read weekly, each
    # month's count sits in one week of about four, and Pearson's phi is about 4.
    assert stamped_row["phi"] < 1.3
    assert weekly_row["phi"] > 3.0


# --- weekly series ---------------------------------------------------------------------


def test_series_sum_to_the_row_counts(
    several: tuple[pd.DataFrame, pd.DataFrame, ReviewResult],
) -> None:
    _, _, res = several
    s = res.series
    for did in ("D-0001", "D-0003", "D-0004"):
        r = row_of(res, did)
        mine = s.loc[s["disruption_id"] == did]
        assert set(mine["area"]) == {"response", "buffer", "control", "buffer_control"}
        for area, part in mine.groupby("area"):
            assert sorted(part["week"]) == [*range(-26, 0), *range(1, 27)]
            assert part.loc[part["week"] < 0, "n"].sum() == r[f"{area}_before"], (did, area)
            assert part.loc[part["week"] > 0, "n"].sum() == r[f"{area}_after"], (did, area)
    assert set(s["disruption_id"]) == {"D-0001", "D-0003", "D-0004"}


def test_series_weeks_hold_the_events_of_their_uk_weeks(
    base: tuple[pd.DataFrame, ReviewResult],
) -> None:
    ev, res = base
    s = res.series
    resp = s.loc[s["area"] == "response"].set_index("week")["n"]
    mondays = uk_mondays(date(2025, 9, 1), 53)  # 1 Sep 2025 ... 7 Sep 2026
    for k in [*range(-26, 0), *range(1, 27)]:
        lo, hi = mondays[k + 26], mondays[k + 27]
        assert resp[k] == count_near(ev, PX, PY, 0, 150, lo, hi), k


def test_series_week_starts_are_uk_monday_midnights(
    base: tuple[pd.DataFrame, ReviewResult],
) -> None:
    s = base[1].series
    resp = s.loc[s["area"] == "response"]
    mondays = uk_mondays(date(2025, 9, 1), 53)
    for k, start in zip(resp["week"], resp["week_start"], strict=True):
        assert start == mondays[k + 26], (k, start)


def test_between_window_dispersion_comes_from_the_nearest_blocks_and_scales_the_variance(
    cells: pd.DataFrame, bg: pd.DataFrame
) -> None:
    # Volatile surroundings: half the background blocks hold all their events before,
    # the other half after, so their splits vary far beyond the binomial.
    lopsided = []
    for i, (x, y) in enumerate(zip(cells["x"], cells["y"], strict=True)):
        if math.dist((x, y), (PX, PY)) <= QUIET_M:
            continue
        lopsided.append(events([x] * 4, [y] * 4, [(B1, B2, A1, A2)[i % 4]] * 4))
    ev = pd.concat([*lopsided, base_near()], ignore_index=True)
    r = row_of(run(cells, ev))
    assert bool(r["reviewed"]), r["reason"]
    before = block_counts(ev, BEFORE_START, WEEK_START)
    after = block_counts(ev, WEEK_END, AFTER_END)
    held = set(before) | set(after)
    ranked = sorted((math.dist(centre(b), (PX, PY)), b) for b in held)
    nearest = [b for d, b in ranked if d > QUIET_M][:300]
    # Method of moments written out: rho = sum[(a - n p)^2 - n p q] / sum[n (n - 1) p q].
    a = np.array([after[b] for b in nearest], float)
    n = a + np.array([before[b] for b in nearest], float)
    p = a.sum() / n.sum()
    q = p * (1 - p)
    hand = max(0.0, float(((a - n * p) ** 2 - n * q).sum() / (n * (n - 1) * q).sum()))
    assert hand > 0.5  # all-or-nothing splits of four events
    assert r["rho_blocks"] == pytest.approx(hand)
    # The response area's factor comes from placebo areas of its own shape (their
    # dispersion is ``rho``), growing with its count.
    total = r["response_before"] + r["response_after"]
    assert r["variance_factor"] == pytest.approx(max(r["phi"], 1 + (total - 1) * r["rho"]))
    # The treated area's variance carries its factor: the local SE is at least that part.
    assert r["wdd_local_se"] >= math.sqrt(r["variance_factor"] * total) - 1e-9
