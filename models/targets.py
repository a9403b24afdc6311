"""Targets: hotspot cells chosen for patrol, ranked and explained.

The score is the hotspot method's own (for the default KDE: weighted events
per km2, weights combining recency, layer and intelligence grading). Cells
are taken in score order; a cell within ``separation_k`` rings of a cell
already chosen is passed over, so the list names distinct places rather
than the slopes of one peak. A cell needs evidence of its own (at least
``min_events`` events inside it) to become a target.

Home and care-home locations never become targets: events at such places
are dropped before anything is counted here, and callers drop them before
scoring hotspots too.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd

from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_to_parent
from geo.schemas import PRIVATE_PLACE_TYPES
from models.patrol import patrol_windows, visiting_order

MIN_WINDOW_EVENTS = 3
"""Fewest timed events in a target's cell to name its busiest patrol window."""
MIN_WINDOW_IN = 2
"""Fewest of them inside the window itself."""
THIN_WINDOW = "too few to say"
"""What a target's patrol window reads when the evidence is too thin for one."""
THIN_WINDOW_WHY = "too few episodes to name a busiest time"
"""The same in the target's one-line reason."""


@dataclass(frozen=True)
class TargetParams:
    """How targets are chosen.

    Parameters
    ----------
    top_n
        How many targets (default 15).
    separation_k
        Cells within this many H3 rings of a chosen target are not chosen
        again (default 1: neighbours of a target are not separate targets).
    min_events
        Events a cell must hold itself to be a target (default 1).
    trend_weeks
        Length in weeks of the two periods compared for the trend (default 4).
    patrol_hours
        Length of the recommended patrol window in hours (default 4).
    nearest_venue_max_m
        A known venue further than this, in metres, is not named (default 400).
    snap_k
        A target sits on the best-evidenced cell within this many rings of its
        score peak (default 1; 0 keeps the peak cell itself).
    """

    top_n: int = 15
    separation_k: int = 1
    min_events: int = 1
    trend_weeks: int = 4
    patrol_hours: int = 4
    nearest_venue_max_m: float = 400.0
    snap_k: int = 1

    def __post_init__(self) -> None:
        if self.top_n < 1:
            msg = f"`top_n` must be at least 1, got {self.top_n}."
            raise ValidationError(msg)
        if self.separation_k < 0:
            msg = f"`separation_k` must be 0 or more rings, got {self.separation_k}."
            raise ValidationError(msg)
        if self.trend_weeks < 1:
            msg = f"`trend_weeks` must be at least 1, got {self.trend_weeks}."
            raise ValidationError(msg)


def drop_private(events: pd.DataFrame) -> pd.DataFrame:
    """Events not at a home or care home (those are never targets)."""
    if "place_type" not in events.columns:
        return events
    return events.loc[~events["place_type"].isin(PRIVATE_PLACE_TYPES)]


def _choose(
    hotspots: pd.DataFrame, evidence: pd.Series, weighted: pd.Series, params: TargetParams
) -> pd.DataFrame:
    """Peaks of the score in order, each placed on the best-evidenced cell beside it.

    A peak of a smooth surface (KDE) can sit between the cells that hold the
    events; with ``snap_k`` > 0 the target moves to the cell within ``snap_k``
    rings of the peak that holds the most weighted evidence (ties: the higher
    score, then the lower cell id), so the marker sits on the evidence.
    """
    own = hotspots["h3"].map(evidence).fillna(0).to_numpy()
    ranked = hotspots.loc[own >= params.min_events].sort_values(
        ["score", "h3"], ascending=[False, True], kind="stable"
    )
    eligible = set(int(c) for c in ranked["h3"])
    score = dict(zip(ranked["h3"].astype(int), ranked["score"], strict=True))
    chosen: list[int] = []
    blocked: set[int] = set()
    for cell in ranked["h3"].to_numpy():
        if len(chosen) == params.top_n:
            break
        peak = int(cell)
        if peak in blocked:
            continue
        pick = peak
        if params.snap_k > 0:
            near = [
                int(v)
                for v in h3i.grid_disk(peak, params.snap_k)
                if int(v) in eligible and int(v) not in blocked
            ]
            pick = max(near, key=lambda c: (weighted.get(c, 0.0), score[c], -c))
        chosen.append(pick)
        blocked.update(int(v) for v in h3i.grid_disk(pick, params.separation_k))
        blocked.update(int(v) for v in h3i.grid_disk(peak, params.separation_k))
    return ranked.set_index("h3").loc[chosen].reset_index()


def _trend(recent: np.ndarray, before: np.ndarray) -> np.ndarray:
    """``rising`` / ``falling`` / ``steady`` by a rule that ignores tiny changes.

    Rising: recent >= before + 2 and recent >= 1.5 x before; falling: the mirror.
    """
    rising = (recent >= before + 2) & (recent >= 1.5 * before)
    falling = (before >= recent + 2) & (before >= 1.5 * recent)
    return np.where(rising, "rising", np.where(falling, "falling", "steady"))


def _grading_text(reports: pd.DataFrame) -> pd.Series:
    if reports.empty:
        return pd.Series(dtype=object)
    grade = reports["source_evaluation"].astype(str) + reports["intelligence_assessment"].astype(
        str
    )
    counts = pd.crosstab(reports["cell"], grade)
    parts = [
        np.where(counts[g].to_numpy() > 0, g + ":" + counts[g].astype(str).to_numpy(), "")
        for g in sorted(counts.columns)
    ]
    joined = pd.Series([" ".join(p for p in row if p) for row in zip(*parts, strict=True)])
    joined.index = counts.index
    return joined


def rank_targets(
    hotspots: pd.DataFrame,
    events: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    venues: pd.DataFrame | None = None,
    params: TargetParams | None = None,
) -> pd.DataFrame:
    """Choose, rank and explain targets from a hotspot frame.

    Parameters
    ----------
    hotspots
        One row per cell (``h3`` at the analysis resolution, ``x``, ``y`` in
        BNG metres, ``lat``, ``lng``, ``score``), as from
        :func:`models.hotspots.hotspots`; extra columns (``ward``...) pass through.
    events
        The events behind the hotspots (``h3`` at res 12, ``at``, ``layer``,
        ``child_ref``, ``episode_id``, optional ``weight`` and grading columns).
    as_of
        The patrol week's start (UTC); trends compare the ``trend_weeks``
        before it with the ``trend_weeks`` before those.
    venues
        Known venues with ``venue_id``, ``name``, ``venue_type``, ``x``, ``y``.

    Returns
    -------
    DataFrame, one row per target in rank order: ``rank``, ``h3``, ``lat``,
    ``lng``, ``x``, ``y``, ``score``, ``episodes``, ``children``,
    ``last_seen``, ``found``, ``venue_reports``, ``reports_by_grading``,
    ``trend``, ``recent``, ``before``, ``patrol_window``, ``window_share``,
    ``nearest_venue``, ``nearest_venue_m``, ``nearest_venue_public`` (whether that venue
    is marked public), ``visit_order``, ``why``, and the
    hotspot frame's other columns.
    """
    params = params or TargetParams()
    needed = {"h3", "x", "y", "score"}
    if missing := needed - set(hotspots.columns):
        msg = f"`hotspots` lacks columns {sorted(missing)}; build it with models.hotspots."
        raise ValidationError(msg)
    if hotspots.empty:
        msg = "`hotspots` is empty: the study area has no cells."
        raise ValidationError(msg)
    events = drop_private(events)
    res = int(cells_resolution(hotspots["h3"].to_numpy()[:1])[0])
    ev = events.assign(cell=cells_to_parent(events["h3"].to_numpy(), res))
    # Evidence is counted afresh from the non-private events, whatever the
    # hotspot frame says, so a cell lit only by homes can never be chosen.
    weights = ev["weight"] if "weight" in ev.columns else pd.Series(1.0, index=ev.index)
    chosen = _choose(hotspots, ev.groupby("cell").size(), weights.groupby(ev["cell"]).sum(), params)
    ev = ev.loc[ev["cell"].isin(chosen["h3"])]
    layer = ev["layer"] if "layer" in ev.columns else pd.Series("", index=ev.index)
    episodes = ev.loc[layer.isin(["last_seen", "found"])]
    by_cell = pd.DataFrame(index=pd.Index(chosen["h3"], name="cell"))
    by_cell["episodes"] = episodes.groupby("cell")["episode_id"].nunique()
    by_cell["children"] = episodes.groupby("cell")["child_ref"].nunique()
    by_cell["last_seen"] = (layer == "last_seen").groupby(ev["cell"]).sum()
    by_cell["found"] = (layer == "found").groupby(ev["cell"]).sum()
    reports = ev.loc[layer == "venue_report"]
    by_cell["venue_reports"] = reports.groupby("cell").size()
    by_cell = by_cell.fillna(0).astype(np.int64)
    by_cell["reports_by_grading"] = _grading_text(reports).reindex(by_cell.index).fillna("")
    start = as_of - pd.Timedelta(weeks=params.trend_weeks)
    early = start - pd.Timedelta(weeks=params.trend_weeks)
    by_cell["recent"] = ((ev["at"] >= start) & (ev["at"] < as_of)).groupby(ev["cell"]).sum()
    by_cell["before"] = ((ev["at"] >= early) & (ev["at"] < start)).groupby(ev["cell"]).sum()
    by_cell[["recent", "before"]] = by_cell[["recent", "before"]].fillna(0).astype(np.int64)
    by_cell["trend"] = _trend(by_cell["recent"].to_numpy(), by_cell["before"].to_numpy())
    timed = ev.loc[layer.isin(["last_seen", "found"]) & ev["at"].notna()]
    if timed.empty:
        timed = ev.loc[ev["at"].notna()]
    window_weights = timed["weight"].to_numpy() if "weight" in timed.columns else None
    windows = patrol_windows(timed["cell"], timed["at"], window_weights, hours=params.patrol_hours)
    timed_n = timed.groupby("cell").size()
    by_cell = by_cell.join(windows[["patrol_window", "window_share", "window_events"]])
    by_cell["timed_events"] = timed_n.reindex(by_cell.index).fillna(0).astype(np.int64)
    # A window is the busiest time of several events; from one or two it is only
    # those events' times, so the row says the evidence is too thin instead.
    thin = (by_cell["timed_events"] < MIN_WINDOW_EVENTS) | (
        by_cell["window_events"].fillna(0) < MIN_WINDOW_IN
    )
    by_cell["patrol_window"] = by_cell["patrol_window"].where(~thin, THIN_WINDOW).fillna("")
    by_cell["window_share"] = by_cell["window_share"].where(~thin, np.nan)
    by_cell = by_cell.drop(columns=["window_events", "timed_events"])
    out = chosen.merge(by_cell, left_on="h3", right_index=True, how="left")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out = _nearest_venue(out, venues, params.nearest_venue_max_m)
    order = visiting_order(out["x"].to_numpy(), out["y"].to_numpy(), start=0)
    visit = np.empty(len(out), dtype=np.int64)
    visit[order] = np.arange(1, len(out) + 1)
    out["visit_order"] = visit
    out["why"] = _explain(out)
    return out.reset_index(drop=True)


def _nearest_venue(out: pd.DataFrame, venues: pd.DataFrame | None, max_m: float) -> pd.DataFrame:
    out = out.copy()
    out["nearest_venue"] = None
    out["nearest_venue_m"] = np.nan
    out["nearest_venue_public"] = False
    if venues is None or venues.empty or out.empty:
        return out
    from scipy.spatial import cKDTree

    tree = cKDTree(np.c_[venues["x"].to_numpy(), venues["y"].to_numpy()])
    dist, idx = tree.query(np.c_[out["x"].to_numpy(), out["y"].to_numpy()], k=1)
    near = dist <= max_m
    names = venues["name"].fillna(venues["venue_type"]).astype(str).to_numpy()
    kinds = venues["venue_type"].astype(str).str.replace("_", " ").to_numpy()
    label = np.char.add(np.char.add(names[idx].astype(str), " ("), kinds[idx].astype(str))
    label = np.char.add(label, ")")
    out.loc[near, "nearest_venue"] = label[near]
    out.loc[near, "nearest_venue_m"] = np.round(dist[near])
    public = (
        venues["public"] if "public" in venues.columns else pd.Series(False, index=venues.index)
    )
    is_public = public.astype("boolean").fillna(False).to_numpy(dtype=bool)
    out.loc[near, "nearest_venue_public"] = is_public[idx][near]
    return out


def _plural(n: pd.Series, one: str, many: str) -> pd.Series:
    return n.astype(str) + np.where(n == 1, f" {one}", f" {many}")


def _explain(out: pd.DataFrame) -> pd.Series:
    """One line per target saying why it is there."""
    parts = (
        _plural(out["episodes"], "episode", "episodes")
        + " ("
        + _plural(out["children"], "child", "children")
        + "), "
        + out["found"].astype(str)
        + " found here"
    )
    reports = np.where(
        out["venue_reports"] > 0,
        ", "
        + _plural(out["venue_reports"], "intelligence report", "intelligence reports")
        + " ("
        + out["reports_by_grading"]
        + ")",
        "",
    )
    trend = (
        ", "
        + out["trend"]
        + " ("
        + out["recent"].astype(str)
        + " vs "
        + out["before"].astype(str)
        + ")"
    )
    named = (out["patrol_window"] != "") & (out["patrol_window"] != THIN_WINDOW)
    window = np.where(
        named,
        ", busiest " + out["patrol_window"],
        np.where(out["patrol_window"] == THIN_WINDOW, ", " + THIN_WINDOW_WHY, ""),
    )
    metres = out["nearest_venue_m"].fillna(0).astype(int).astype(str)
    venue = np.where(
        out["nearest_venue"].notna(),
        ", near " + out["nearest_venue"].astype(str) + " " + metres + " m",
        "",
    )
    return parts + reports + trend + window + venue
