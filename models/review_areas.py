"""Areas and windows of a partnership review: response, buffer rings, matched controls.

Everything is in British National Grid metres and UTC times, and pure: the
caller hands in the events (``x``, ``y``, ``h3`` at the stored resolution,
``at``), the disruptions and the study area's candidate blocks.

* **Windows.** The disruption's own ISO week (Monday 00:00 UK time) belongs
  to neither window; the before window is the whole weeks just before it, the
  after window the whole weeks just after it. A window running past the data
  is shortened to the whole weeks the data cover; when equal windows were
  asked for, both are shortened to the shorter (see :func:`windows_for`).
* **Response area and buffer.** An event is in the response area when its
  point lies within ``response_m`` of the disrupted place, and in buffer ring
  ``i`` when it lies from the ring's inner radius (the previous ring, or the
  response radius) up to its outer one. The areas of one review are disjoint.
  An episode is two events (last seen and found), so one last seen in the
  response area and found in the buffer counts once in each.
* **Control blocks.** Candidates are the H3 cells of the study area at
  ``block_res`` (resolution 9, about 0.1 km2, by default) that lie wholly
  outside the buffer (centre further than the outer radius plus the cell's
  circumradius) and outside the buffer of every other disruption dated
  within the review's windows. :func:`match_control` builds the control as a
  union of candidates, nearest first, following the rules of
  apwheele/WDDControl as REVIEW.md gives them: no block holding more than
  ``max_block_share`` (20%) of the response area's before count (or more
  than one event, where a fifth of the count is below one), the union's
  before count at least the response area's (the level check) and its trend
  (the share of the before count falling in the second half of the before
  window) not different from the response area's at the 10% level by a
  two-proportion z-test (the trend check).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from geo.calendar import LOCAL_TZ
from geo.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

RESPONSE_M = 150.0
"""Default response radius: about one premises and its frontage (REVIEW.md)."""

BUFFER_M = (400.0,)
"""Default buffer: one ring to 400 m (a quarter mile, as apwheele/WDDControl excludes)."""

WEEKS = 26
"""Default length of the before and of the after window, in weeks."""

BLOCK_RES = 9
"""H3 resolution of the control's candidate blocks."""

MAX_BLOCK_SHARE = 0.2
"""No control block may hold more than this share of the response area's before count."""

TREND_ALPHA = 0.1
"""Level of the two-proportion test that the control's trend matches the response area's."""

MAX_BUFFER_M = 5_000.0
"""Largest buffer radius accepted: beyond a few kilometres a ring is a district, not a buffer."""

WEEK = pd.Timedelta(days=7)


@dataclass(frozen=True)
class ReviewSpec:
    """Checked settings of a review; build with :meth:`make`."""

    response_m: float = RESPONSE_M
    buffer_m: tuple[float, ...] = BUFFER_M
    before_weeks: int = WEEKS
    after_weeks: int = WEEKS
    alpha: float = 0.1
    block_res: int = BLOCK_RES
    max_block_share: float = MAX_BLOCK_SHARE

    @classmethod
    def make(
        cls,
        *,
        response_m: float = RESPONSE_M,
        buffer_m: tuple[float, ...] | list[float] = BUFFER_M,
        before_weeks: int = WEEKS,
        after_weeks: int = WEEKS,
        alpha: float = 0.1,
    ) -> ReviewSpec:
        """Check every setting once, naming the command-line option on failure."""
        if not _finite(response_m) or response_m <= 0:
            msg = f"`--response-m` must be a distance in metres above 0, got {response_m!r}."
            raise ValidationError(msg)
        rings = tuple(float(b) for b in buffer_m)
        if not rings:
            raise ValidationError("`--buffer-m` needs at least one ring radius, e.g. 400.")
        if any(not _finite(b) for b in rings):
            msg = f"`--buffer-m` radii must be numbers of metres, got {buffer_m!r}."
            raise ValidationError(msg)
        if rings[0] <= response_m:
            msg = (
                f"the response radius ({_m(response_m)}) must be smaller than the buffer "
                f"({_m(rings[0])}): give a larger `--buffer-m` or a smaller `--response-m`."
            )
            raise ValidationError(msg)
        if any(b <= a for a, b in itertools.pairwise(rings)):
            msg = f"`--buffer-m` radii must increase, e.g. 200,400; got {buffer_m!r}."
            raise ValidationError(msg)
        if rings[-1] > MAX_BUFFER_M:
            msg = f"`--buffer-m` is at most {_m(MAX_BUFFER_M)}, got {_m(rings[-1])}."
            raise ValidationError(msg)
        for name, value in (("--before-weeks", before_weeks), ("--after-weeks", after_weeks)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 520:
                msg = f"`{name}` must be a whole number of weeks from 1 to 520, got {value!r}."
                raise ValidationError(msg)
        if not _finite(alpha) or not 0 < alpha < 1:
            msg = f"`alpha` must be between 0 and 1, got {alpha!r}."
            raise ValidationError(msg)
        return cls(
            response_m=float(response_m),
            buffer_m=rings,
            before_weeks=before_weeks,
            after_weeks=after_weeks,
            alpha=float(alpha),
        )

    @property
    def outer_m(self) -> float:
        return self.buffer_m[-1]

    def ring_names(self) -> tuple[str, ...]:
        """Names of the buffer rings: ``buffer`` for one ring, ``buffer_200`` ... for several."""
        if len(self.buffer_m) == 1:
            return ("buffer",)
        return tuple(f"buffer_{round(b)}" for b in self.buffer_m)


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _m(v: float) -> str:
    return f"{v:g} m"


@dataclass(frozen=True)
class Windows:
    """The before and after windows of one disruption (UTC, half-open)."""

    week_start: pd.Timestamp
    week_end: pd.Timestamp
    before_start: pd.Timestamp
    after_end: pd.Timestamp
    before_weeks: int
    after_weeks: int
    note: str = ""

    @property
    def time_weights(self) -> tuple[float, float]:
        """ptools' time weights: the before count scaled to the after window's length."""
        return (self.before_weeks / self.after_weeks, 1.0)


def _local_week(ts: pd.Timestamp) -> pd.Timestamp:
    local = ts.tz_convert(LOCAL_TZ).tz_localize(None).normalize()
    return local - pd.Timedelta(days=local.day_of_week)


def _utc(local: pd.Timestamp) -> pd.Timestamp:
    return local.tz_localize(LOCAL_TZ).tz_convert("UTC")


def _weeks_between(start_local: pd.Timestamp, end_local: pd.Timestamp) -> int:
    return max(0, (end_local - start_local).days // 7)


def windows_for(
    disrupted_at: pd.Timestamp,
    spec: ReviewSpec,
    *,
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
) -> Windows | str:
    """The windows of a disruption, or the reason there are none.

    ``data_start`` and ``data_end`` are the first and last event times of
    the data the review reads. Only whole weeks inside them are used: the
    before window starts no earlier than the first Monday at or after
    ``data_start``, and the after window ends no later than the last Monday
    at or before ``data_end``.
    """
    week = _local_week(disrupted_at)
    first = _local_week(data_start)
    if _utc(first) < data_start:
        first += WEEK
    last = _local_week(data_end)  # a week is whole only if it ends by data_end
    week_end = week + WEEK
    have_before = _weeks_between(first, week)
    have_after = _weeks_between(week_end, last)
    when = week.strftime("%d %b %Y")
    if have_before < 1:
        return (
            f"no whole week of data before the disruption's week (w/c {when}); "
            f"the data start {_day(data_start)}"
        )
    if have_after < 1:
        return (
            f"no whole week of data after the disruption's week (w/c {when}); "
            f"the data end {_day(data_end)}"
        )
    before = min(spec.before_weeks, have_before)
    after = min(spec.after_weeks, have_after)
    if spec.before_weeks == spec.after_weeks:
        before = after = min(before, after)
    notes = []
    if before < spec.before_weeks:
        notes.append(f"before window shortened to {before} of {spec.before_weeks} weeks")
    if after < spec.after_weeks:
        notes.append(f"after window shortened to {after} of {spec.after_weeks} weeks")
    note = ""
    if notes:
        note = "; ".join(notes) + f" (data {_day(data_start)} to {_day(data_end)})"
    return Windows(
        week_start=_utc(week),
        week_end=_utc(week_end),
        before_start=_utc(week - before * WEEK),
        after_end=_utc(week_end + after * WEEK),
        before_weeks=before,
        after_weeks=after,
        note=note,
    )


def _day(ts: pd.Timestamp) -> str:
    return ts.tz_convert(LOCAL_TZ).strftime("%d %b %Y")


def week_index(at: pd.Series, windows: Windows) -> npt.NDArray[np.int64]:
    """Each time's week relative to the disruption's (0): -1 the last before, 1 the first after.

    Weeks are counted in UK local days, so a clock change never moves an
    event into the next week.
    """
    local = at.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    start = windows.week_start.tz_convert(LOCAL_TZ).tz_localize(None)
    days = (local - start).dt.days.to_numpy()
    return np.floor_divide(days, 7).astype(np.int64)


@dataclass(frozen=True)
class Blocks:
    """Candidate control blocks with their weekly counts (blocks x global weeks)."""

    h3: IntArray
    x: FloatArray
    y: FloatArray
    radius_m: float
    week0: pd.Timestamp  # UK local Monday of global week 0
    cumulative: npt.NDArray[np.int64]  # blocks x (weeks + 1), cumulative counts

    def window(self, start_week: int, end_week: int) -> IntArray:
        """Each block's count over global weeks ``[start_week, end_week)``."""
        n = self.cumulative.shape[1] - 1
        a = min(max(start_week, 0), n)
        b = min(max(end_week, 0), n)
        return (self.cumulative[:, b] - self.cumulative[:, a]).astype(np.int64)

    def weekly(self, rows: IntArray, start_week: int, end_week: int) -> IntArray:
        """Weekly counts of blocks ``rows`` (rows x weeks) over ``[start_week, end_week)``."""
        n = self.cumulative.shape[1] - 1
        weeks = np.arange(start_week, end_week)
        ok = (weeks >= 0) & (weeks < n)
        out = np.zeros((len(rows), len(weeks)), dtype=np.int64)
        if ok.any():
            c = self.cumulative[np.asarray(rows)[:, None], weeks[ok][None, :] + 1]
            p = self.cumulative[np.asarray(rows)[:, None], weeks[ok][None, :]]
            out[:, ok] = c - p
        return out

    def global_week(self, ts: pd.Timestamp) -> int:
        local = ts.tz_convert(LOCAL_TZ).tz_localize(None)
        return int((local - self.week0).days // 7)


def build_blocks(
    cells: pd.DataFrame, event_blocks: IntArray, event_at: pd.Series, radius_m: float
) -> Blocks:
    """Candidate blocks (``cells``: ``h3``, ``x``, ``y`` at the block resolution) and their counts.

    ``event_blocks`` is each event's cell at the block resolution; events in
    no block of ``cells`` are left out. Counts are kept as cumulative sums
    over global weeks, so any window's count per block is one subtraction.
    """
    h3 = cells["h3"].to_numpy(np.int64)
    order = np.argsort(h3)
    h3s = h3[order]
    if len(event_at):
        local = event_at.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
        week0 = _local_week(event_at.min())
        gw = ((local - week0).dt.days.to_numpy() // 7).astype(np.int64)
        n_weeks = int(gw.max()) + 1
    else:
        week0 = pd.Timestamp("2000-01-03")
        gw = np.zeros(0, dtype=np.int64)
        n_weeks = 1
    pos = np.searchsorted(h3s, event_blocks)
    pos = np.clip(pos, 0, max(len(h3s) - 1, 0))
    hit = (h3s[pos] == event_blocks) if len(h3s) else np.zeros(len(event_blocks), bool)
    rows = order[pos[hit]]
    counts = np.zeros((len(h3), n_weeks), dtype=np.int64)
    np.add.at(counts, (rows, gw[hit]), 1)
    cumulative = np.zeros((len(h3), n_weeks + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=cumulative[:, 1:])
    return Blocks(
        h3=h3,
        x=cells["x"].to_numpy(float),
        y=cells["y"].to_numpy(float),
        radius_m=radius_m,
        week0=week0,
        cumulative=cumulative,
    )


@dataclass(frozen=True)
class Control:
    """A matched control: its blocks (rows of :class:`Blocks`) and why, or why none passed."""

    rows: IntArray
    before: int
    rule: str
    passed: bool
    public: str = ""
    """The rule without counts, block numbers or distances (for partner outputs)."""


def _second_half_share(first: float, second: float) -> tuple[float, float]:
    n = first + second
    return (second / n if n else 0.5), n


def trend_z(target: tuple[int, int], union: tuple[int, int]) -> float:
    """Two-proportion z of the second-half shares of two before windows (0 when undefined)."""
    p1, n1 = _second_half_share(*target)
    p2, n2 = _second_half_share(*union)
    if n1 == 0 or n2 == 0:
        return 0.0
    pooled = (target[1] + union[1]) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 0.0
    return float((p1 - p2) / math.sqrt(var))


_NO_MATCH = (
    "no control: the nearby blocks outside the buffer could not match the {what}'s events "
    "before the disruption under the rules (level, trend, no block above a fifth)"
)


def match_control(
    target: tuple[int, int],
    halves: tuple[IntArray, IntArray],
    distance_m: FloatArray,
    eligible: npt.NDArray[np.bool_],
    *,
    max_share: float = MAX_BLOCK_SHARE,
    what: str = "response area",
    look_ahead: int = 8,
    cap_total: int | None = None,
) -> Control:
    """The nearest union of eligible blocks matching ``target``'s before level and trend.

    ``target`` is the area's before count split into the first and second
    half of the before window; ``halves`` the same two counts per block.
    Blocks are taken nearest first; at each step, among the next
    ``look_ahead`` eligible blocks, the one whose addition brings the union's
    second-half share closest to the target's is added, until the union's
    before count reaches the target's. Then the level and trend checks run.
    ``cap_total`` (default the target's before count) is the count whose
    ``max_share`` no block may exceed.
    """
    total = target[0] + target[1]
    first, second = halves
    counts = first + second
    # Where a fifth of the count is under one event, a block may hold one event:
    # blocks cannot be finer than a single event.
    cap = max(1.0, max_share * (total if cap_total is None else max(cap_total, total)))
    ok = eligible & (counts > 0) & (counts <= cap)
    if total == 0:
        # Nothing before to match but nothing itself: the nearest block that was also empty.
        empty = np.flatnonzero(eligible & (counts == 0))
        if not len(empty):
            return Control(
                np.zeros(0, np.int64),
                0,
                f"no control: the {what} had no events before and every eligible block had some",
                False,
                f"no control: no nearby block was as quiet as the {what} before the disruption",
            )
        pick = empty[np.argsort(distance_m[empty], kind="stable")][:1]
        return Control(
            pick.astype(np.int64),
            0,
            f"matched control: the {what} had no events before, so the nearest block outside "
            f"the buffer with none either ({distance_m[pick[0]] / 1000:.1f} km away)",
            True,
            f"matched control: a nearby block outside the buffer, as quiet as the {what} "
            "before the disruption",
        )
    if not ok.any():
        return Control(
            np.zeros(0, np.int64),
            0,
            f"no control: no candidate block outside the buffer holds events and at most "
            f"{max_share:.0%} of the {what}'s {total} before events (at most {cap:g})",
            False,
            _NO_MATCH.format(what=what),
        )
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(distance_m[idx], kind="stable")]
    want_share = target[1] / total
    chosen: list[int] = []
    u1 = u2 = 0
    pool: list[int] = [int(i) for i in idx]
    while pool and u1 + u2 < total:
        head = np.array(pool[:look_ahead])
        n = (u1 + first[head]) + (u2 + second[head])
        share = (u2 + second[head]) / n
        best = int(np.argmin(np.abs(share - want_share)))
        block = int(head[best])
        chosen.append(block)
        pool.remove(block)
        u1 += int(first[block])
        u2 += int(second[block])
    rows = np.array(chosen, dtype=np.int64)
    union = u1 + u2
    far = float(distance_m[rows].max()) if len(rows) else 0.0
    if union < total:
        return Control(
            rows,
            union,
            f"no control: the eligible blocks hold only {union} before events, fewer than the "
            f"{what}'s {total}",
            False,
            _NO_MATCH.format(what=what),
        )
    z = trend_z(target, (u1, u2))
    crit = float(stats.norm.ppf(1 - TREND_ALPHA / 2))
    described = (
        f"matched control: {len(rows)} block{'s' if len(rows) != 1 else ''} of about 0.1 km2 "
        f"within {far / 1000:.1f} km, nearest first, none holding more than {max_share:.0%} of "
        f"the {what}'s before count; before count {union} against {total}"
    )
    if abs(z) > crit:
        return Control(
            rows,
            union,
            f"no control: the nearest blocks matching the {what}'s before count ({union} against "
            f"{total}) do not match its trend (second-half share {u2 / union:.2f} against "
            f"{want_share:.2f}, z {z:.2f})",
            False,
            f"no control: the nearby blocks that match the {what}'s level before the "
            "disruption do not match its trend",
        )
    public = (
        f"matched control: nearby blocks of about 0.1 km2 outside the buffer, nearest first, "
        f"none holding more than {max_share:.0%} of the {what}'s events before; level and trend "
        "matched"
    )
    return Control(rows, union, described + f", trend z {z:.2f}", True, public)


def eligible_blocks(
    blocks: Blocks,
    x: float,
    y: float,
    outer_m: float,
    others_xy: FloatArray,
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Blocks wholly outside this buffer and the buffers of ``others_xy`` (n x 2); distances."""
    d = np.hypot(blocks.x - x, blocks.y - y)
    ok = d > outer_m + blocks.radius_m
    if len(others_xy):
        near = np.zeros(len(blocks.h3), dtype=bool)
        for ox, oy in others_xy:  # a loop over disruptions, never over events
            near |= np.hypot(blocks.x - ox, blocks.y - oy) <= outer_m + blocks.radius_m
        ok &= ~near
    return ok, d


def overlaps(
    ids: npt.NDArray[np.object_],
    x: FloatArray,
    y: FloatArray,
    at: pd.Series,
    spec: ReviewSpec,
) -> list[list[str]]:
    """For each disruption, the others whose areas meet its own within its windows.

    Two disruptions overlap when their places are closer than twice the
    outer buffer radius (their buffers meet) and one's date lies within the
    other's before-to-after span (the nominal windows, before any
    shortening). Each entry reads ``D-0007 (120 m, 3 weeks after)``.
    """
    n = len(ids)
    out: list[list[str]] = [[] for _ in range(n)]
    if n < 2:
        return out
    times = at.to_numpy(dtype="datetime64[ns]")
    for i in range(n):  # a loop over disruptions, never over events
        d = np.hypot(x - x[i], y - y[i])
        dt_weeks = (times - times[i]) / np.timedelta64(7, "D")
        inside = (dt_weeks >= -(spec.before_weeks + 1)) & (dt_weeks <= spec.after_weeks + 1)
        hit = np.flatnonzero((d < 2 * spec.outer_m) & inside)
        for j in hit:
            if j == i:
                continue
            w = float(dt_weeks[j])
            when = (
                "same week"
                if abs(w) < 1
                else f"{abs(w):.0f} weeks {'after' if w > 0 else 'before'}"
            )
            out[i].append(f"{ids[j]} ({d[j]:.0f} m, {when})")
    return out
