"""The partnership review: did events fall at a disrupted place, move next door, or fall around it?

:func:`review` takes the events of the review's outcome (MFH last-seen and
found points, or incidents), the disruptions to review, the other
disruptions (for overlaps and to keep controls clean) and the study area's
candidate blocks, and returns one row per disruption, one pooled row per
tactic (and one over every tactic) and the weekly series behind them. Areas and windows are built by
:mod:`models.review_areas`; the measures are :mod:`models.displacement`'s.

Per disruption:

* counts in the response area, each buffer ring (and the whole buffer), the
  matched control and the buffer's own matched control, before and after;
* the WDD (Wheeler and Ratcliffe 2018) with the control and buffer control,
  its variance scaled by the overdispersion factor ``phi`` estimated from
  the weekly before counts of the nearest candidate blocks;
* the WDQ family (Bowers and Johnson 2003) against the response area's control;
* the E-test p of the response area's before count against its after count
  (exposures the window lengths), reported beside the normal p, which small
  counts make unreliable;
* the minimum detectable effect for the response area's before count, and
  whether the review could detect anything at all;
* a plain reading: the response area fell, rose or showed no clear change
  relative to its control; the buffer showed displacement, diffusion of
  benefit, or no clear change.

A disruption that cannot be reviewed (no location, windows outside the
data, no control passing the rules) gets a row with ``reviewed`` false and
the reason; the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from scipy import stats
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from geo.calendar import LOCAL_TZ
from geo.errors import ValidationError
from geo.h3index import cells_to_parent
from models import displacement as dm
from models.review_areas import (
    Blocks,
    Control,
    ReviewSpec,
    Windows,
    build_blocks,
    eligible_blocks,
    match_control,
    overlaps,
    windows_for,
)

PHI_BLOCKS = 100
"""How many of the nearest eligible blocks with before events estimate the overdispersion."""

RHO_BLOCKS = 300
"""How many of the nearest eligible blocks with events in either window estimate the
between-window dispersion (more than for ``phi``: the splits of small blocks are noisy)."""

PLACEBO_AREAS = 200
"""How many placebo response areas (and buffers) estimate their between-window dispersion."""

SMALL_COUNT = 5
"""Below this many events in a response-area window the E-test p is the one to read."""

COUNT_AREAS = ("response", "buffer", "control", "buffer_control")
"""Areas whose before and after counts every review row carries."""

DISRUPTION_COLUMNS = ("disruption_id", "disrupted_at", "tactic", "x", "y")


@dataclass(frozen=True)
class GivenControl:
    """A control area the analyst chose: its name and its polygon in BNG metres."""

    name: str
    polygon: BaseGeometry


@dataclass(frozen=True)
class ReviewResult:
    """Rows (one per disruption, then one per tactic), weekly series and the areas' parts."""

    rows: pd.DataFrame
    series: pd.DataFrame
    areas: pd.DataFrame
    spec: ReviewSpec
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def reviewed(self) -> int:
        per = self.rows.loc[self.rows["disruption_id"] != ""]
        return int(per["reviewed"].sum())

    @property
    def not_reviewed(self) -> int:
        per = self.rows.loc[self.rows["disruption_id"] != ""]
        return int((~per["reviewed"].astype(bool)).sum())


def _check_frames(events: pd.DataFrame, disruptions: pd.DataFrame) -> None:
    missing = [c for c in ("x", "y", "h3", "at") if c not in events.columns]
    if missing:
        msg = f"`events` lacks column(s) {', '.join(missing)}."
        raise ValidationError(msg)
    missing = [c for c in DISRUPTION_COLUMNS if c not in disruptions.columns]
    if missing:
        msg = f"`disruptions` lacks column(s) {', '.join(missing)}."
        raise ValidationError(msg)


def _split(week: np.ndarray, before_weeks: int, after_weeks: int) -> dict[str, int]:
    half = before_weeks // 2
    return {
        "before": int(((week >= -before_weeks) & (week <= -1)).sum()),
        "after": int(((week >= 1) & (week <= after_weeks)).sum()),
        "first": int(((week >= -before_weeks) & (week < -half)).sum()),
        "second": int(((week >= -half) & (week <= -1)).sum()),
    }


def _verdicts(w: dm.WDDResult, alpha: float, with_buffer: bool) -> tuple[str, str]:
    def read(est: float, se: float, down: str, up: str) -> str:
        if se <= 0:
            return "no events to compare"
        p = float(2 * stats.norm.sf(abs(est / se)))
        if p < alpha:
            return down if est < 0 else up
        return "no clear change"

    local = read(w.est_local, w.se_local, "fell", "rose")
    if not with_buffer:
        return local, "not tested"
    disp = read(w.est_displace, w.se_displace, "diffusion of benefit", "displacement")
    return local, disp


class _Reviewer:
    """State shared by the reviews of one run: sorted events, their tree, the blocks."""

    def __init__(
        self,
        events: pd.DataFrame,
        blocks_cells: pd.DataFrame,
        spec: ReviewSpec,
        context: pd.DataFrame,
    ) -> None:
        self.spec = spec
        ev = events.sort_values("at", kind="stable").reset_index(drop=True)
        self.events = ev
        self.xy = np.column_stack([ev["x"].to_numpy(float), ev["y"].to_numpy(float)])
        self.tree = cKDTree(self.xy) if len(ev) else None
        self.at = ev["at"]
        self.times = ev["at"].to_numpy(dtype="datetime64[ns]")
        block_of = (
            cells_to_parent(ev["h3"].to_numpy(np.int64), spec.block_res)
            if len(ev)
            else np.zeros(0, np.int64)
        )
        radius = _circumradius(blocks_cells)
        self.block_of = block_of
        self.blocks: Blocks = build_blocks(blocks_cells, block_of, ev["at"], radius)
        # Each event's week (UK local days) counted from the blocks' first Monday: one
        # subtraction gives its week relative to any disruption (:func:`week_index`).
        local = ev["at"].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
        self.gweek = ((local - self.blocks.week0).dt.days.to_numpy() // 7).astype(np.int64)
        self.context = context

    def weeks(self, idx: np.ndarray, w: Windows) -> np.ndarray:
        """The weeks of events ``idx`` relative to the disruption's week (as :func:`week_index`)."""
        return self.gweek[idx] - self.blocks.global_week(w.week_start)

    def near(self, x: float, y: float, windows: Windows) -> tuple[np.ndarray, np.ndarray]:
        """Indices of events within the outer buffer inside the windows, and their distances."""
        if self.tree is None:
            return np.zeros(0, np.int64), np.zeros(0)
        idx = np.asarray(self.tree.query_ball_point([x, y], r=self.spec.outer_m), dtype=np.int64)
        if not len(idx):
            return idx, np.zeros(0)
        at = self.at.iloc[idx]
        keep = ((at >= windows.before_start) & (at < windows.after_end)).to_numpy()
        idx = idx[keep]
        d = np.hypot(self.xy[idx, 0] - x, self.xy[idx, 1] - y)
        return idx, d

    def in_windows(self, windows: Windows) -> np.ndarray:
        times = self.times
        lo = np.searchsorted(times, windows.before_start.to_datetime64().astype("datetime64[ns]"))
        hi = np.searchsorted(times, windows.after_end.to_datetime64().astype("datetime64[ns]"))
        return np.arange(lo, hi)


def _circumradius(cells: pd.DataFrame) -> float:
    """Largest centre-to-vertex distance of the blocks, in metres (H3 cells are near-regular)."""
    if not len(cells):
        return 0.0
    area = float(np.max(cells["area_m2"])) if "area_m2" in cells else 105_332.5
    # a regular hexagon of area A has circumradius sqrt(2A / (3 sqrt 3)); 5% margin for distortion
    return float(np.sqrt(2 * area / (3 * np.sqrt(3))) * 1.05)


def _base_row(d: pd.Series) -> dict[str, Any]:
    return {
        "disruption_id": str(d["disruption_id"]),
        "tactic": str(d["tactic"]),
        "disrupted_at": d["disrupted_at"],
        "venue_id": d.get("venue_id"),
        "public": d.get("public"),
        "x": float(d["x"]) if pd.notna(d["x"]) else None,
        "y": float(d["y"]) if pd.notna(d["y"]) else None,
    }


def review(
    events: pd.DataFrame,
    disruptions: pd.DataFrame,
    blocks_cells: pd.DataFrame,
    spec: ReviewSpec,
    *,
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    context: pd.DataFrame | None = None,
    control: GivenControl | None = None,
    month_stamped: bool = False,
) -> ReviewResult:
    """Review each disruption of ``disruptions`` (see the module docstring).

    Parameters
    ----------
    events
        The outcome events (``x``, ``y`` BNG metres, ``h3`` res-12 int64,
        ``at`` UTC) of the whole study area over at least the review's span.
    disruptions
        The disruptions to review: ``disruption_id``, ``disrupted_at`` (UTC),
        ``tactic``, ``x``, ``y`` (NaN when the disruption has no location).
    blocks_cells
        The study area's cells at ``spec.block_res`` (``h3``, ``x``, ``y``,
        ``area_m2``): the control's candidate blocks.
    data_start, data_end
        First and last times the data cover; windows are kept inside them.
    context
        Every stored disruption with a location (same columns), for overlaps
        and to keep other disruptions' areas out of the controls; defaults to
        ``disruptions``.
    control
        A control given by the analyst instead of the matched one.
    month_stamped
        The events carry only their month (police.uk street crime, stamped on
        the month's first day): the overdispersion is then estimated from the
        weeks that hold a month's first day (one per month, each holding
        that month's events), and the E-test's exposures are the number of
        such weeks in each window rather than its length.
    """
    _check_frames(events, disruptions)
    context = disruptions if context is None else context
    context = context.loc[context["x"].notna() & context["y"].notna()]
    r = _Reviewer(events, blocks_cells, spec, context)
    ctx_ids = context["disruption_id"].to_numpy(object)
    ctx_xy = context[["x", "y"]].to_numpy(float)
    ctx_at = pd.to_datetime(context["disrupted_at"], utc=True)
    overlap_of = dict(
        zip(ctx_ids, overlaps(ctx_ids, ctx_xy[:, 0], ctx_xy[:, 1], ctx_at, spec), strict=True)
    )
    rows: list[dict[str, Any]] = []
    series: list[pd.DataFrame] = []
    areas: list[dict[str, Any]] = []
    for _, d in disruptions.iterrows():  # one review per disruption, never per event
        row = _base_row(d)
        row["overlaps"] = "; ".join(overlap_of.get(row["disruption_id"], []))
        if row["x"] is None:
            rows.append(
                _not_reviewed(row, "the disruption has no location (no venue and no coordinates)")
            )
            continue
        windows = windows_for(
            pd.Timestamp(d["disrupted_at"]), spec, data_start=data_start, data_end=data_end
        )
        if isinstance(windows, str):
            rows.append(_not_reviewed(row, windows))
            continue
        if not len(r.in_windows(windows)):
            rows.append(
                _not_reviewed(
                    row,
                    "no events anywhere in the study area in either window; choose another "
                    "`--layer` or windows that hold data",
                )
            )
            continue
        done = _review_one(r, row, windows, ctx_xy, ctx_at, control, month_stamped=month_stamped)
        rows.append(done[0])
        series.append(done[1])
        areas.extend(done[2])
    per = pd.DataFrame(rows)
    pooled = _pooled(per, spec)
    table = pd.concat([per, pooled], ignore_index=True) if len(pooled) else per
    return ReviewResult(
        rows=table,
        series=pd.concat(series, ignore_index=True) if series else _empty_series(),
        areas=_areas_frame(areas),
        spec=spec,
    )


AREA_COLUMNS = ("disruption_id", "area", "kind", "radius_m", "inner_m", "h3", "x", "y")


def _areas_frame(parts: list[dict[str, Any]]) -> pd.DataFrame:
    """The parts of every review's areas; ``h3`` exact (nullable int64), never through floats."""
    frame = pd.DataFrame(
        {c: pd.Series([p[c] for p in parts], dtype=object) for c in AREA_COLUMNS if c != "h3"}
    )
    frame.insert(5, "h3", pd.Series(pd.array([p["h3"] for p in parts], dtype="Int64")))
    for c in ("radius_m", "inner_m", "x", "y"):
        frame[c] = pd.to_numeric(frame[c])
    return frame


def _empty_series() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "disruption_id": pd.Series([], dtype=object),
            "area": pd.Series([], dtype=object),
            "week": pd.Series([], dtype=np.int64),
            "week_start": pd.Series([], dtype="datetime64[ns, UTC]"),
            "n": pd.Series([], dtype=np.int64),
        }
    )


def _not_reviewed(row: dict[str, Any], reason: str, public: str | None = None) -> dict[str, Any]:
    """A row not reviewed: ``reason`` for analysts, ``public`` (no counts) for partners."""
    return {**row, "reviewed": False, "reason": reason, "reason_public": public or reason}


def _review_one(
    r: _Reviewer,
    row: dict[str, Any],
    w: Windows,
    ctx_xy: np.ndarray,
    ctx_at: pd.Series,
    given: GivenControl | None,
    *,
    month_stamped: bool = False,
) -> tuple[dict[str, Any], pd.DataFrame, list[dict[str, Any]]]:
    spec = r.spec
    x, y = row["x"], row["y"]
    idx, dist = r.near(x, y, w)
    wk = r.weeks(idx, w)
    split: dict[str, dict[str, int]] = {}
    weekly: dict[str, np.ndarray] = {}
    inner = spec.response_m
    in_resp = dist < spec.response_m
    split["response"] = _split(wk[in_resp], w.before_weeks, w.after_weeks)
    weekly["response"] = wk[in_resp]
    in_buffer = (dist >= spec.response_m) & (dist < spec.outer_m)
    split["buffer"] = _split(wk[in_buffer], w.before_weeks, w.after_weeks)
    weekly["buffer"] = wk[in_buffer]
    rings = spec.ring_names()
    if len(rings) > 1:
        for name, outer in zip(rings, spec.buffer_m, strict=True):
            sel = (dist >= inner) & (dist < outer)
            split[name] = _split(wk[sel], w.before_weeks, w.after_weeks)
            weekly[name] = wk[sel]
            inner = outer
    # controls
    blocks = r.blocks
    g0 = blocks.global_week(w.week_start)
    half = w.before_weeks // 2
    first = blocks.window(g0 - w.before_weeks, g0 - half)
    second = blocks.window(g0 - half, g0)
    after = blocks.window(g0 + 1, g0 + 1 + w.after_weeks)
    span_lo = w.before_start - pd.Timedelta(days=7)
    span_hi = w.after_end + pd.Timedelta(days=7)
    active = ((ctx_at >= span_lo) & (ctx_at < span_hi)).to_numpy()
    others = ctx_xy[active & ~((ctx_xy[:, 0] == x) & (ctx_xy[:, 1] == y))]
    ok, dist_b = eligible_blocks(blocks, x, y, spec.outer_m, others)
    resp = split["response"]
    buf = split["buffer"]
    if given is not None:
        control, c_split, c_weekly = _given_control(r, w, given, x, y)
    else:
        control = match_control(
            (resp["first"], resp["second"]),
            (first, second),
            dist_b,
            ok,
            max_share=spec.max_block_share,
        )
        c_split = {
            "before": int(first[control.rows].sum() + second[control.rows].sum()),
            "after": int(after[control.rows].sum()),
        }
        c_weekly = blocks.weekly(control.rows, g0 - w.before_weeks, g0 + 1 + w.after_weeks).sum(
            axis=0
        )
    if not control.passed:
        out = _not_reviewed(row, control.rule, control.public)
        out.update(_count_fields(split, rings, c_split if given is not None else None, None))
        out["control_rule"] = control.rule
        out["control_rule_public"] = control.public
        return out, _empty_series(), []
    ok_bc = ok.copy()
    ok_bc[control.rows] = False
    # The buffer usually holds few events of its own; its blocks are capped at
    # the same share of the larger of the two before counts, so a quiet buffer
    # can still be matched without any block dominating the control.
    buffer_control = match_control(
        (buf["first"], buf["second"]),
        (first, second),
        dist_b,
        ok_bc,
        max_share=spec.max_block_share,
        what="buffer",
        cap_total=max(buf["before"], resp["before"]),
    )
    bc_split = None
    bc_weekly = None
    if buffer_control.passed:
        bc_split = {
            "before": int(first[buffer_control.rows].sum() + second[buffer_control.rows].sum()),
            "after": int(after[buffer_control.rows].sum()),
        }
        bc_weekly = blocks.weekly(
            buffer_control.rows, g0 - w.before_weeks, g0 + 1 + w.after_weeks
        ).sum(axis=0)
    # overdispersion from the nearest eligible blocks with before events
    cand = np.flatnonzero(ok & ((first + second) > 0))
    cand = cand[np.argsort(dist_b[cand], kind="stable")][:PHI_BLOCKS]
    weekly_before = blocks.weekly(cand, g0 - w.before_weeks, g0)
    exposure = (float(w.before_weeks), float(w.after_weeks))
    if month_stamped:
        firsts = _holds_first_of_month(
            blocks.week0, np.arange(g0 - w.before_weeks, g0 + 1 + w.after_weeks)
        )
        weekly_before = weekly_before[:, firsts[: w.before_weeks]]
        exposure = (
            float(firsts[: w.before_weeks].sum()),
            float(firsts[w.before_weeks + 1 :].sum()),
        )
    disp = dm.overdispersion(weekly_before)
    phi = float(disp.phi)
    # Between-window dispersion: how much untreated blocks' before/after splits vary
    # beyond chance, from the nearest eligible blocks with events in either window.
    before_b = first + second
    near = np.flatnonzero(ok & ((before_b + after) > 0))
    near = near[np.argsort(dist_b[near], kind="stable")][:RHO_BLOCKS]
    change = dm.change_dispersion(before_b[near], after[near])
    if given is not None:
        inside = shapely.contains_xy(given.polygon, blocks.x, blocks.y)
        c_factor = change.union_factor((before_b + after)[inside])
    else:
        c_factor = change.union_factor((before_b + after)[control.rows])
    # The response area and the buffer: their own kind of place. Placebo areas of the
    # same shape, centred on events in the eligible blocks (busy places, as disrupted
    # places are), give the between-window dispersion of such an area.
    disc, ring = _placebo_dispersion(
        r, w, blocks, near, x, y, _share(c_split), _share(bc_split or c_split)
    )
    factors = {
        "control": max(phi, c_factor),
        "treated": max(phi, float(disc.factor(resp["before"] + resp["after"]))),
        "disp_control": phi,
        "disp_treated": max(phi, float(ring.factor(buf["before"] + buf["after"]))),
    }
    if bc_split is not None:
        factors["disp_control"] = max(
            phi, change.union_factor((before_b + after)[buffer_control.rows])
        )
    tw = w.time_weights
    if bc_split is not None:
        wdd = dm.wdd(
            (c_split["before"], c_split["after"]),
            (resp["before"], resp["after"]),
            (bc_split["before"], bc_split["after"]),
            (buf["before"], buf["after"]),
            time_weights=tw,
            alpha=spec.alpha,
            phi=tuple(factors.values()),
        )
    else:
        wdd = dm.wdd(
            (c_split["before"], c_split["after"]),
            (resp["before"], resp["after"]),
            time_weights=tw,
            alpha=spec.alpha,
            phi=(factors["control"], factors["treated"], 1.0, 1.0),
        )
    wdq = dm.wdq(
        (resp["before"], resp["after"]),
        (buf["before"], buf["after"]),
        (c_split["before"], c_split["after"]),
    )
    if resp["before"] + resp["after"] > 0 and min(exposure) > 0:
        etest_p: float | None = dm.e_test(
            resp["before"], resp["after"], n1=exposure[0], n2=exposure[1]
        )
    else:
        etest_p = None
    mu = resp["before"] * (w.after_weeks / w.before_weeks)
    mde = dm.mde(mu, alpha=spec.alpha, buffer=bc_split is not None)
    local, moved = _verdicts(wdd, spec.alpha, bc_split is not None)
    out = {**row, "reviewed": True, "reason": "", "reason_public": ""}
    out.update(_count_fields(split, rings, c_split, bc_split))
    out.update(
        {
            "week_start": w.week_start,
            "before_start": w.before_start,
            "after_end": w.after_end,
            "before_weeks": w.before_weeks,
            "after_weeks": w.after_weeks,
            "window_note": w.note,
            "wdd": wdd.est_total,
            "wdd_se": wdd.se_total,
            "wdd_z": wdd.z,
            "wdd_p": wdd.p,
            "wdd_low": wdd.low,
            "wdd_high": wdd.high,
            "wdd_local": wdd.est_local,
            "wdd_local_se": wdd.se_local,
            "wdd_displace": wdd.est_displace if bc_split is not None else None,
            "wdd_displace_se": wdd.se_displace if bc_split is not None else None,
            "wdd_note": wdd.note,
            "phi": phi,
            "phi_note": disp.reason or "",
            "rho": disc.rho,
            "rho_note": disc.reason or "",
            "rho_blocks": change.rho,
            "rho_buffer": ring.rho,
            "variance_factor": factors["treated"],
            "etest_p": etest_p,
            "small_counts": min(resp["before"], resp["after"]) < SMALL_COUNT,
            "mde": mde,
            "mde_note": _mde_note(mde, resp["before"], mu),
            "ge": wdq.ge,
            "ne": wdq.ne,
            "success_measure": wdq.s,
            "buffer_displacement_measure": wdq.b,
            "wdq": wdq.wdq,
            "wdq_reading": wdq.reading,
            "tne": wdq.tne,
            "control_rule": control.rule,
            "control_rule_public": control.public,
            "buffer_control_rule": buffer_control.rule
            if buffer_control.passed
            else buffer_control.rule + "; the buffer is not tested against a control",
            "buffer_control_rule_public": buffer_control.public
            if buffer_control.passed
            else buffer_control.public + "; the buffer is not tested against a control",
            "local_reading": local,
            "buffer_reading": moved,
        }
    )
    s = _series(row["disruption_id"], w, weekly, c_weekly, bc_weekly)
    parts = _area_parts(row["disruption_id"], spec, x, y, blocks, control, buffer_control, given)
    return out, s, parts


def _share(counts: dict[str, int] | None) -> float | None:
    """A control's share of its events in the after window (None when it has none, or all)."""
    if not counts:
        return None
    n = counts["before"] + counts["after"]
    return counts["after"] / n if n and 0 < counts["after"] < n else None


def _placebo_dispersion(
    r: _Reviewer,
    w: Windows,
    blocks: Blocks,
    near: np.ndarray,
    x: float,
    y: float,
    share: float | None = None,
    share_buffer: float | None = None,
) -> tuple[dm.ChangeDispersion, dm.ChangeDispersion]:
    """Between-window dispersion of placebo response areas and buffers.

    Centres: up to :data:`PLACEBO_AREAS` events of the before window lying in
    the eligible blocks ``near`` (rows of ``blocks``) and at least twice the
    outer radius from the place, taken evenly through them in a fixed order
    (deterministic), so busy places are chosen more often, as disrupted places
    are. Each centre's disc and ring are counted before and after like the
    response area and the buffer, and their splits measured against the
    control's share of events after (``share``; the buffer's control's for
    the rings), so the dispersion holds how far such places stray from the
    control they are tested against.
    """
    spec = r.spec
    empty = dm.change_dispersion([], [])
    if r.tree is None or not len(near):
        return empty, empty
    lo = np.searchsorted(r.times, w.before_start.to_datetime64().astype("datetime64[ns]"))
    hi = np.searchsorted(r.times, w.week_start.to_datetime64().astype("datetime64[ns]"))
    cand = np.arange(lo, hi)  # the before window's events only (events are sorted by time)
    cand = cand[np.isin(r.block_of[lo:hi], blocks.h3[near])]
    far = np.hypot(r.xy[cand, 0] - x, r.xy[cand, 1] - y) >= 2 * spec.outer_m
    cand = cand[far]
    if not len(cand):
        return empty, empty
    step = max(1, len(cand) // PLACEBO_AREAS)
    centres = r.xy[cand[::step][:PLACEBO_AREAS]]
    found = r.tree.query_ball_point(centres, r=spec.outer_m)
    sizes = np.fromiter((len(h) for h in found), dtype=np.int64, count=len(found))
    h = np.concatenate([np.asarray(f, dtype=np.int64) for f in found]) if sizes.sum() else sizes[:0]
    owner = np.repeat(np.arange(len(centres)), sizes)  # which placebo area each hit belongs to
    d = np.hypot(r.xy[h, 0] - centres[owner, 0], r.xy[h, 1] - centres[owner, 1])
    wk = r.gweek[h] - r.blocks.global_week(w.week_start)
    before = (wk >= -w.before_weeks) & (wk <= -1)
    after = (wk >= 1) & (wk <= w.after_weeks)
    inner = d < spec.response_m
    out = np.column_stack(
        [
            np.bincount(owner, weights=m, minlength=len(centres))
            for m in (before & inner, after & inner, before & ~inner, after & ~inner)
        ]
    )
    return (
        dm.change_dispersion(out[:, 0], out[:, 1], share=share),
        dm.change_dispersion(out[:, 2], out[:, 3], share=share_buffer),
    )


def _holds_first_of_month(week0: pd.Timestamp, weeks: np.ndarray) -> np.ndarray:
    """Whether each global week (Monday ``week0 + 7 k``, UK local) holds the 1st of a month."""
    sundays = pd.DatetimeIndex(week0 + pd.to_timedelta(7 * weeks + 6, unit="D"))
    return np.asarray(sundays.day <= 7)


def _count_fields(
    split: dict[str, dict[str, int]],
    rings: tuple[str, ...],
    c: dict[str, int] | None,
    bc: dict[str, int] | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("response", "buffer", *(rings if len(rings) > 1 else ())):
        out[f"{name}_before"] = split[name]["before"]
        out[f"{name}_after"] = split[name]["after"]
    for name, part in (("control", c), ("buffer_control", bc)):
        out[f"{name}_before"] = part["before"] if part else None
        out[f"{name}_after"] = part["after"] if part else None
    return out


def _mde_note(mde: float, before: int, mu: float) -> str:
    if before == 0:
        return "no events before: the review cannot detect a fall"
    share = mde / mu if mu else float("inf")
    if share >= 1:
        return (
            f"could not detect a fall even to zero: the smallest detectable change is "
            f"{mde:.1f} events against {mu:.1f} expected"
        )
    return f"could detect a fall of {share:.0%} or more of the expected count"


def _given_control(
    r: _Reviewer, w: Windows, given: GivenControl, x: float, y: float
) -> tuple[Control, dict[str, int], np.ndarray]:
    spec = r.spec
    disc = shapely.Point(x, y).buffer(spec.response_m, quad_segs=32)
    if given.polygon.intersects(disc):
        rule = (
            f"no control: the given control {given.name!r} overlaps the response area; "
            "give `--control` an area away from the disrupted place, or `--control auto`"
        )
        empty = {"before": 0, "after": 0}
        ctl = Control(np.zeros(0, np.int64), 0, rule, False, rule)
        return ctl, empty, np.zeros(0, np.int64)
    idx = r.in_windows(w)
    inside = shapely.contains_xy(given.polygon, r.xy[idx, 0], r.xy[idx, 1])
    wk = r.weeks(idx[inside], w)
    sp = _split(wk, w.before_weeks, w.after_weeks)
    weeks = np.arange(-w.before_weeks, w.after_weeks + 1)
    counts = np.array([(wk == k).sum() for k in weeks], dtype=np.int64)
    touches = given.polygon.intersects(shapely.Point(x, y).buffer(spec.outer_m, quad_segs=32))
    rule = f"control given by the analyst: {given.name}"
    if touches:
        rule += " (it touches the buffer, so displacement into it would hide a fall)"
    ctl = Control(np.zeros(0, np.int64), sp["before"], rule, True, rule)
    return ctl, {"before": sp["before"], "after": sp["after"]}, counts


def _series(
    disruption_id: str,
    w: Windows,
    weekly: dict[str, np.ndarray],
    control: np.ndarray,
    buffer_control: np.ndarray | None,
) -> pd.DataFrame:
    weeks = np.arange(-w.before_weeks, w.after_weeks + 1)
    frames = []
    for name, wk in weekly.items():
        counts = np.bincount(
            wk[(wk >= -w.before_weeks) & (wk <= w.after_weeks)] + w.before_weeks,
            minlength=len(weeks),
        )
        frames.append(pd.DataFrame({"area": name, "week": weeks, "n": counts}))
    frames.append(
        pd.DataFrame({"area": "control", "week": weeks, "n": np.asarray(control, np.int64)})
    )
    if buffer_control is not None:
        frames.append(
            pd.DataFrame(
                {"area": "buffer_control", "week": weeks, "n": np.asarray(buffer_control, np.int64)}
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out = out.loc[out["week"] != 0]
    monday = w.week_start.tz_convert(LOCAL_TZ).tz_localize(None)
    out.insert(0, "disruption_id", disruption_id)
    local = pd.DatetimeIndex(monday + pd.to_timedelta(7 * out["week"].to_numpy(), unit="D"))
    out["week_start"] = local.tz_localize(LOCAL_TZ).tz_convert("UTC")
    return out[["disruption_id", "area", "week", "week_start", "n"]].reset_index(drop=True)


def _area_parts(
    disruption_id: str,
    spec: ReviewSpec,
    x: float,
    y: float,
    blocks: Blocks,
    control: Control,
    buffer_control: Control,
    given: GivenControl | None,
) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {
            "disruption_id": disruption_id,
            "area": "response",
            "kind": "disc",
            "radius_m": spec.response_m,
            "inner_m": 0.0,
            "h3": None,
            "x": x,
            "y": y,
        }
    ]
    inner = spec.response_m
    for name, outer in zip(spec.ring_names(), spec.buffer_m, strict=True):
        parts.append(
            {
                "disruption_id": disruption_id,
                "area": name,
                "kind": "ring",
                "radius_m": outer,
                "inner_m": inner,
                "h3": None,
                "x": x,
                "y": y,
            }
        )
        inner = outer
    if given is None:
        for i in control.rows:
            parts.append(
                {
                    "disruption_id": disruption_id,
                    "area": "control",
                    "kind": "block",
                    "radius_m": None,
                    "inner_m": None,
                    "h3": int(blocks.h3[i]),
                    "x": float(blocks.x[i]),
                    "y": float(blocks.y[i]),
                }
            )
    else:
        parts.append(
            {
                "disruption_id": disruption_id,
                "area": "control",
                "kind": "given",
                "radius_m": None,
                "inner_m": None,
                "h3": None,
                "x": None,
                "y": None,
            }
        )
    if buffer_control.passed:
        for i in buffer_control.rows:
            parts.append(
                {
                    "disruption_id": disruption_id,
                    "area": "buffer_control",
                    "kind": "block",
                    "radius_m": None,
                    "inner_m": None,
                    "h3": int(blocks.h3[i]),
                    "x": float(blocks.x[i]),
                    "y": float(blocks.y[i]),
                }
            )
    return parts


ALL_TACTICS = "all"
"""The ``tactic`` of the pooled row over every reviewed disruption."""


def _pooled(per: pd.DataFrame, spec: ReviewSpec) -> pd.DataFrame:
    """One row per tactic, then one over every tactic when there are several: the
    harm-weighted sum (weights 1) of the reviewed disruptions' WDDs (ptools' wdd_harm)."""
    if per.empty or "wdd" not in per.columns:
        return pd.DataFrame()
    done = per.loc[per["reviewed"].astype(bool)]
    count_cols = [c for c in per.columns if c.endswith(("_before", "_after"))]
    groups = [(str(t), g) for t, g in done.groupby("tactic", sort=True)]
    if len(groups) > 1:
        groups.append((ALL_TACTICS, done))
    rows = []
    for tactic, g in groups:
        h = dm.wdd_harm(
            g["wdd"].to_numpy(float), g["wdd_se"].to_numpy(float), np.ones(len(g)), alpha=spec.alpha
        )
        local = dm.wdd_harm(
            g["wdd_local"].to_numpy(float),
            g["wdd_local_se"].to_numpy(float),
            np.ones(len(g)),
            alpha=spec.alpha,
        )
        tested = g.loc[g["wdd_displace"].notna()]
        moved = (
            dm.wdd_harm(
                tested["wdd_displace"].to_numpy(float),
                tested["wdd_displace_se"].to_numpy(float),
                np.ones(len(tested)),
                alpha=spec.alpha,
            )
            if len(tested)
            else None
        )
        rows.append(
            {
                "disruption_id": "",
                "tactic": tactic,
                "reviewed": True,
                "reason": "",
                "reason_public": "",
                "pooled": len(g),
                **{c: g[c].sum(min_count=1) for c in count_cols},
                "wdd": h.est,
                "wdd_se": h.se,
                "wdd_z": h.z,
                "wdd_p": h.p,
                "wdd_low": h.low,
                "wdd_high": h.high,
                "wdd_local": local.est,
                "wdd_local_se": local.se,
                "wdd_displace": None if moved is None else moved.est,
                "wdd_displace_se": None if moved is None else moved.se,
                "local_reading": _pooled_reading(local, spec.alpha, "fell", "rose"),
                "buffer_reading": "not tested"
                if moved is None
                else _pooled_reading(moved, spec.alpha, "diffusion of benefit", "displacement"),
            }
        )
    return pd.DataFrame(rows)


def _pooled_reading(h: dm.HarmResult, alpha: float, down: str, up: str) -> str:
    if h.p is None:
        return "no events to compare"
    if h.p < alpha:
        return down if h.est < 0 else up
    return "no clear change"
