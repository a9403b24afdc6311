"""The analysis of a patrol week (and of any window) on frames: hotspots, targets, layers.

Pure functions: events and cells in, frames and small dicts out. The use
cases in ``api.usecases`` read the store and call these; ``maps`` draws what
they return after ``maps.disclosure`` has decided what each audience sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.calendar import week_start
from geo.crs import grid_reference, latlng_to_metric
from geo.errors import ValidationError
from geo.h3index import cells_to_parent
from models.disruptions import DisruptionAnalysis, DisruptionParams, analyse_disruptions
from models.emerging import emerging_hotspots
from models.gistar import MIN_EVENTS, gistar
from models.hotspots import hotspots
from models.params import AnalysisParams
from models.targets import TargetParams, drop_private, rank_targets
from models.weights import WeightParams, event_weights


def weight_params(params: AnalysisParams) -> WeightParams:

    return WeightParams(
        half_life_days=params.half_life_days,
        layer_weights={
            "last_seen": 1.0,
            "found": params.found_weight,
            "venue_report": 1.0,
            "incident": 1.0,
        },
    )


def run_hotspots(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    params: AnalysisParams,
    as_of: pd.Timestamp,
    *,
    quiet: bool = True,
    labeller: Any = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The hotspot frame for the chosen method (home and care-home events dropped).

    ``labeller`` (DBSCAN only): another engine's clustering, see
    :func:`models.dbscan.dbscan_hotspots`.
    """

    kwargs: dict[str, Any] = {}
    if params.method == "kde":
        kwargs = {"bandwidth_m": params.bandwidth_m, "bin_res": params.bin_res}
    elif params.method == "dbscan":
        kwargs = {"eps_m": params.eps_m, "min_samples": params.min_samples}
        if labeller is not None:
            kwargs["labeller"] = labeller
    return hotspots(
        drop_private(events),
        cells,
        method=params.method,
        weights_as_of=as_of,
        weight_params=weight_params(params),
        quiet=quiet,
        **kwargs,
    )


def run_targets(
    hotspots_frame: pd.DataFrame,
    events: pd.DataFrame,
    venues: pd.DataFrame,
    params: AnalysisParams,
    as_of: pd.Timestamp,
) -> pd.DataFrame:
    """Ranked, explained targets; events carry the same weights as the hotspots."""

    kept = drop_private(events)
    kept = kept.assign(weight=event_weights(kept, as_of, weight_params(params)))
    venues_xy = None
    if len(venues):
        x, y = latlng_to_metric(venues["lat"].to_numpy(), venues["lng"].to_numpy())
        venues_xy = venues.assign(x=x, y=y)
    targets = rank_targets(
        hotspots_frame, kept, as_of=as_of, venues=venues_xy, params=TargetParams(top_n=params.top_n)
    )
    targets["grid_ref"] = grid_reference(targets["x"], targets["y"], digits=8)
    return targets


def weekly_counts(
    events: pd.DataFrame,
    cells: np.ndarray,
    *,
    res: int,
    first_week: pd.Timestamp | None = None,
    n_weeks: int | None = None,
) -> pd.DataFrame:
    """Weeks x cells event counts (weeks start on Monday, UK time), every week present.

    Without ``first_week`` the weeks run from the first week with an event in
    ``cells`` to the last. With ``first_week`` (a naive local Monday) they are
    exactly ``n_weeks`` weeks from it; an event of the window that falls just
    outside (the hour a clock change moves across a Monday midnight) is counted
    in the nearest of those weeks.
    """

    cell = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), res)
    inside = np.isin(cell, cells)
    weeks = week_start(events.loc[inside, "at"])
    if first_week is None:
        first, last = weeks.min(), weeks.max()
    else:
        first = pd.Timestamp(first_week)
        last = first + pd.Timedelta(weeks=(n_weeks or 1) - 1)
        weeks = weeks.where(weeks >= first, first).where(weeks <= last, last)
    counts = pd.crosstab(weeks.dt.date.to_numpy(), cell[inside])
    all_weeks = pd.date_range(first, last, freq="7D").date
    counts = counts.reindex(index=all_weeks, fill_value=0)
    counts.columns = counts.columns.astype(np.int64)
    return counts


def emerging(
    events: pd.DataFrame,
    cells: np.ndarray,
    *,
    res: int,
    k: int,
    first_week: pd.Timestamp | None = None,
    n_weeks: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Emerging pattern of every cell from the (non-private) events' weekly counts.

    Shared by ``engage trends`` and the weekly pack's trend layer; see
    :func:`weekly_counts` for the weeks.
    """

    counts = weekly_counts(events, cells, res=res, first_week=first_week, n_weeks=n_weeks)
    frame, meta = emerging_hotspots(cells, counts, k=k)
    return frame, {key: value for key, value in meta.items() if key != "z"}


GISTAR_K = 1
"""Gi* neighbourhood of the weekly pack's layers: the cell and its first ring."""
MIN_TREND_WEEKS = 10
"""Fewest weekly bins for the trend layer (Esri's recommendation for Emerging Hot Spot
Analysis: with fewer, the 90% rules need every week and Mann-Kendall rarely reaches
significance)."""


def week_layers(
    hotspots_frame: pd.DataFrame,
    events: pd.DataFrame,
    params: AnalysisParams,
    start: pd.Timestamp,
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """Gi* classes and emerging patterns on the week's hotspot cells and lookback.

    Gi* takes each cell's ``weighted`` value from the hotspot frame: the same
    events, weights (recency from the patrol Monday, found and grading
    weights) and cells as the hotspot score, so the layer tests the surface
    the targets come from. The trend layer takes plain weekly counts (the
    recency weights would themselves make every cell look like it was
    rising), over the ``lookback_weeks`` whole weeks before the patrol week,
    as ``engage trends`` does. Either layer is left out, with the reason in
    its metadata, when the lookback holds fewer than
    :data:`models.gistar.MIN_EVENTS` events in the cells, when the values
    have no variance, or (trends) when the lookback is shorter than
    :data:`MIN_TREND_WEEKS` weeks.

    Returns
    -------
    ``(frame, meta)``: ``frame`` has ``h3`` and the columns of each computed
    layer (``gi_z``, ``gi_p``, ``gi_p_adj``, ``gi_class``; ``pattern``,
    ``mk_z``, ``mk_p``, ``mk_trend``), or is None when neither was
    computed; ``meta`` is ``{"gistar": {...}, "emerging": {...}}``, each
    with ``status`` (``computed`` or ``absent``) and, when absent, ``reason``.
    """

    cells = hotspots_frame["h3"].to_numpy(dtype=np.int64)
    n_events = int(hotspots_frame["n"].sum())
    frame = pd.DataFrame({"h3": cells})
    too_few = (
        f"{n_events} events in the area's cells in the lookback; Gi* needs at least "
        f"{MIN_EVENTS} (ArcGIS's Optimized Hot Spot Analysis refuses fewer too)"
    )
    gi_meta: dict[str, Any] = {
        "k": GISTAR_K,
        "fdr": True,
        "values": "weighted: the summed event weights per cell, as the hotspot score "
        "(recency from the patrol Monday, found and grading weights), zeros included",
        "n_events": n_events,
    }
    if n_events < MIN_EVENTS:
        gi_meta |= {"status": "absent", "reason": too_few}
    else:
        try:
            gi, found = gistar(
                cells, hotspots_frame["weighted"].to_numpy(dtype=np.float64), k=GISTAR_K
            )
        except ValidationError as exc:
            gi_meta |= {"status": "absent", "reason": str(exc)}
        else:
            frame["gi_z"] = gi["gi_z"].to_numpy()
            frame["gi_p"] = gi["p"].to_numpy()
            frame["gi_p_adj"] = gi["p_adj"].to_numpy()
            frame["gi_class"] = gi["gi_class"].to_numpy()
            labels = gi["gi_class"].value_counts()
            gi_meta |= {
                "status": "computed",
                "correction": found["correction"],
                "alpha_levels": list(found["alpha_levels"]),
                "weights": found["weights"],
                "class_counts": {c: int(labels.get(c, 0)) for c in found["classes"]},
            }

    n_weeks = params.lookback_weeks
    em_meta: dict[str, Any] = {
        "k": GISTAR_K,
        "fdr": True,
        "alpha": 0.05,
        "n_weeks": n_weeks,
        "values": "events per cell per week (counts, not weighted); weeks Monday to Sunday, "
        "UK time",
        "n_events": n_events,
    }
    if n_weeks < MIN_TREND_WEEKS:
        em_meta |= {
            "status": "absent",
            "reason": f"the lookback has {n_weeks} weeks; the trend layer needs at least "
            f"{MIN_TREND_WEEKS} (Esri's recommendation for Emerging Hot Spot Analysis)",
        }
    elif n_events < MIN_EVENTS:
        em_meta |= {"status": "absent", "reason": too_few}
    else:
        monday = start.tz_convert("Europe/London").tz_localize(None).normalize()
        try:
            em, found = emerging(
                drop_private(events),
                cells,
                res=params.res,
                k=GISTAR_K,
                first_week=monday - pd.Timedelta(weeks=n_weeks),
                n_weeks=n_weeks,
            )
        except ValidationError as exc:
            em_meta |= {"status": "absent", "reason": str(exc)}
        else:
            if found["n_skipped_weeks"] == found["n_weeks"]:
                em_meta |= {
                    "status": "absent",
                    "reason": "no week of the lookback has counts that vary between cells",
                }
            else:
                frame["pattern"] = em["pattern"].to_numpy()
                frame["mk_z"] = em["mk_z"].to_numpy()
                frame["mk_p"] = em["mk_p"].to_numpy()
                frame["mk_trend"] = em["trend"].to_numpy()
                em_meta |= {
                    "status": "computed",
                    "first_week": str(found["first_week"]),
                    "last_week": str(found["last_week"]),
                    "skipped_weeks": [str(w) for w in found["skipped_weeks"]],
                    "pattern_counts": found["pattern_counts"],
                    "definitions": found["definitions"],
                }
    meta = {"gistar": gi_meta, "emerging": em_meta}
    return (frame if frame.shape[1] > 1 else None), meta


@dataclass(frozen=True)
class WeekAnalysis:
    """Hotspots, targets and layers of one window, before any output is written."""

    events: pd.DataFrame
    hotspots: pd.DataFrame
    meta: dict[str, Any]
    targets: pd.DataFrame
    layers: pd.DataFrame | None
    """Gi* and emerging-pattern columns per hotspot cell, or None (see :func:`week_layers`)."""
    layers_meta: dict[str, Any]
    """``{"gistar": {...}, "emerging": {...}}``: what each layer used, or why it is absent."""
    disruptions: DisruptionAnalysis | None = None
    """The disruptions of the window and their relations to the targets, when given."""


def analyse_week(
    events: pd.DataFrame,
    venues: pd.DataFrame,
    cells: pd.DataFrame,
    params: AnalysisParams,
    start: pd.Timestamp,
    *,
    disruptions: pd.DataFrame | None = None,
    end: pd.Timestamp | None = None,
    disruption_params: DisruptionParams | None = None,
) -> WeekAnalysis:
    """Hotspots, ranked targets and the Gi*/trend layers of the events before ``start``.

    ``disruptions`` (the stored rows): those dated from the first day of the
    lookback to ``end`` (the end of the patrol week; default a week after
    ``start``) are located and related to the targets
    (:func:`models.disruptions.analyse_disruptions`). A disruption is an
    action, not an event: it never counts in a cell or a score.

    Raises
    ------
    ValidationError
        When ``events`` is empty.
    """
    if len(events) == 0:
        raise ValidationError("no events to analyse.")
    hs, meta = run_hotspots(events, cells, params, start)
    targets = run_targets(hs, events, venues, params, start)
    if "ward_name" in targets.columns:
        targets["ward_name"] = targets["ward_name"].fillna("")
    layers, layers_meta = week_layers(hs, events, params, start)
    found = None
    if disruptions is not None:
        found = analyse_disruptions(
            disruptions,
            venues,
            targets,
            area_cells=cells["h3"].to_numpy(dtype=np.int64),
            window_start=start - pd.Timedelta(weeks=params.lookback_weeks),
            window_end=end if end is not None else start + pd.Timedelta(weeks=1),
            as_of=start,
            params=disruption_params,
        )
    return WeekAnalysis(events, hs, meta, targets, layers, layers_meta, found)
