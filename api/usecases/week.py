"""The patrol week: its analysis, its target list and its pack.

:func:`analyse` reads the store for the lookback before the patrol week (and
the disruptions from the lookback's first day to the end of the patrol week)
and calls :func:`models.weekly.analyse_week`; :func:`weekly` writes the pack
(map.html, pack.pdf, targets.csv, hotspots.geojson, run.json) for one
audience; :func:`targets_table` gives the ranked targets alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.settings import Settings
from api.usecases.gazetteer import places_near
from api.usecases.layers import around, stored_layers
from api.usecases.store import AnalysisArea, area_for, grid_for, load_events, opened_store
from geo import __version__, schemas
from geo.calendar import LOCAL_TZ, patrol_week, uk_date, uk_day, week_after
from geo.crs import metric_crs
from geo.errors import ValidationError
from geo.h3index import cells_to_parent
from geo.store import Window
from geo.studyarea import active_study_area
from maps import disclosure
from maps.audience import DEFAULT_MARKING
from maps.disclosure import Audience
from maps.disruptions import DisruptionLayer
from maps.exports import write_hotspots_geojson, write_targets_csv
from maps.files import atomic_write_text, staged
from maps.pack import build_pack
from maps.webmap import write_map
from models.disruptions import DisruptionAnalysis
from models.near import DEFAULT_NEAR_M, add_near
from models.params import DEFAULTS, AnalysisParams
from models.targets import drop_private
from models.weekly import WeekAnalysis, analyse_week


def latest_week(location: str) -> str:
    """The ISO week after the latest stored episode (the week to patrol next)."""
    with opened_store(location) as store:
        _, latest = store.time_bounds(schemas.EPISODES)
    if latest is None:
        msg = "the store holds no episodes; ingest some before building a pack."
        raise ValidationError(msg)
    return week_after(latest)


@dataclass(frozen=True)
class Week:
    """A patrol week's analysis with its window and area."""

    week: str
    start: pd.Timestamp
    end: pd.Timestamp
    data_start: pd.Timestamp
    area: AnalysisArea
    venues: pd.DataFrame
    analysis: WeekAnalysis
    near_m: float = DEFAULT_NEAR_M
    """How far from a target's centre a named place may be to say where it is."""
    places: str = "none"
    """Where the targets' place names came from (the stored gazetteer, the shipped one, none)."""

    @property
    def area_name(self) -> str:
        return self.area.name

    @property
    def ward_list(self) -> list[tuple[str, str]]:
        """(code, name) of the areas (of the page kind) the pack covers."""
        return self.area.listed


def analyse(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    audience: Audience | None = None,
    near_m: float = DEFAULT_NEAR_M,
    page_by: str | None = None,
) -> Week:
    """The patrol week's analysis: data from the ``lookback_weeks`` before its Monday.

    Each target gets ``near`` and ``near_m``: the nearest named place within
    ``near_m`` metres of its centre (:func:`api.usecases.gazetteer.places_near`,
    :func:`models.near.add_near`).

    ``audience``: the events its outputs may rest on (:meth:`Audience.events`;
    for partners, no intelligence with handling code C) are the only ones
    analysed. Disruptions are read from the lookback's first day to the end
    of the patrol week: a map printed during the week shows what was done
    since the data ended, and a disruption is an action, never an event of
    the analysis.
    """
    params = params or DEFAULTS
    week = week or latest_week(location)
    start, end = patrol_week(week)
    data_start = start - pd.Timedelta(weeks=params.lookback_weeks)
    area = area_for(location, settings, areas, page_by=page_by)
    cells = grid_for(area.polygon, params.res, kind=area.kind)
    with opened_store(location, settings=settings) as store:
        venues = store.read(schemas.VENUES)
        window = Window(data_start.to_pydatetime(), start.to_pydatetime())
        events = load_events(store, window, venues=venues)
        disruptions = store.read(
            schemas.DISRUPTIONS, window=Window(data_start.to_pydatetime(), end.to_pydatetime())
        )
    if audience is not None:
        events = audience.events(events)
    if len(events) == 0:
        msg = (
            f"no episodes or intelligence between {uk_date(data_start)} and {uk_date(start)}; "
            "ingest data for the weeks before the patrol week, or choose another --week."
        )
        raise ValidationError(msg)
    analysis = analyse_week(events, venues, cells, params, start, disruptions=disruptions, end=end)
    with opened_store(location, settings=settings) as store:
        places, source = places_near(store, analysis.targets, max_m=near_m)
    analysis = replace(analysis, targets=add_near(analysis.targets, places, max_m=near_m))
    return Week(week, start, end, data_start, area, venues, analysis, near_m, source)


def targets_table(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    audience: Audience | None = None,
    near_m: float = DEFAULT_NEAR_M,
    page_by: str | None = None,
) -> pd.DataFrame:
    """The ranked, explained target list for a patrol week, as ``audience`` may see it."""
    return shown_week(
        location,
        week=week,
        settings=settings,
        areas=areas,
        params=params,
        audience=audience,
        near_m=near_m,
        page_by=page_by,
    ).targets


@dataclass(frozen=True)
class ShownWeek:
    """A patrol week's analysis and its cells and targets as one audience may see them."""

    week: Week
    params: AnalysisParams
    rules: Audience
    cells: pd.DataFrame
    targets: pd.DataFrame
    disruptions: pd.DataFrame | None = None
    """The window's disruptions to draw, as the audience may see them."""


def shown_week(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    audience: Audience | None = None,
    near_m: float = DEFAULT_NEAR_M,
    page_by: str | None = None,
) -> ShownWeek:
    """:func:`analyse` with the parameters and events of ``audience``, and its views: cells,
    targets with their disruption notes, and the disruptions to draw."""
    rules = audience or Audience.make()
    params = disclosure.params_for(params or DEFAULTS, rules)
    w = analyse(
        location,
        week=week,
        settings=settings,
        areas=areas,
        params=params,
        audience=rules,
        near_m=near_m,
        page_by=page_by,
    )
    cells = disclosure.cells_view(w.analysis.hotspots, rules)
    targets = disclosure.targets_view(w.analysis.targets, rules, cells=cells)
    found = w.analysis.disruptions
    targets = disclosure.target_disruptions_view(targets, found, rules)
    drawn = disclosure.disruptions_view(found.drawn, rules) if found is not None else None
    return ShownWeek(w, params, rules, cells, targets, drawn)


@dataclass(frozen=True)
class WeeklyResult:
    """What ``engage weekly`` wrote: the files, the targets as shown, the run record."""

    out_dir: Path
    files: dict[str, Path]
    targets: pd.DataFrame
    run: dict[str, Any]


OUTPUTS = {
    "map": "map.html",
    "pack": "pack.pdf",
    "targets": "targets.csv",
    "hotspots": "hotspots.geojson",
    "run": "run.json",
}


def area_summary(
    events: pd.DataFrame, cells: np.ndarray, *, res: int, targets: int
) -> dict[str, int]:
    """Exact counts of the pack's area: events at public places in its cells.

    The same events the cells count (homes and care homes left out), so the
    cover's totals and the cell table are totals and parts of one another.
    """
    kept = drop_private(events)
    inside = np.isin(cells_to_parent(kept["h3"].to_numpy(dtype=np.int64), res), cells)
    kept = kept.loc[inside]
    mfh = kept.loc[kept["layer"].isin(["last_seen", "found"])]
    return {
        "episodes": int(mfh["episode_id"].nunique()),
        "children": int(mfh["child_ref"].nunique()),
        "found_locations": int((kept["layer"] == "found").sum()),
        "intelligence_reports": int((kept["layer"] == "venue_report").sum()),
        "targets": targets,
    }


def weekly(
    location: str,
    *,
    week: str | None,
    out_dir: Path,
    settings: Settings,
    areas: list[str] | None = None,
    audience: str = "neighbourhood",
    params: AnalysisParams | None = None,
    tiles: str | None = None,
    marking: str = DEFAULT_MARKING,
    k: int | None = None,
    params_source: dict[str, Any] | None = None,
    near_m: float = DEFAULT_NEAR_M,
    page_by: str | None = None,
) -> WeeklyResult:
    """Build the weekly pack: map.html, pack.pdf, targets.csv, hotspots.geojson, run.json.

    The patrol week is ``week``; the data window is the ``lookback_weeks``
    before its Monday, so nothing from the patrol week itself is used. Every
    output is made from the views of :mod:`maps.disclosure` for
    ``audience`` (threshold ``k``), built in a temporary folder and moved
    into ``out_dir`` together.
    """
    shown = shown_week(
        location,
        week=week,
        settings=settings,
        areas=areas,
        params=params,
        audience=Audience.make(audience, k),
        near_m=near_m,
        page_by=page_by,
    )
    w, rules, params = shown.week, shown.rules, shown.params
    cells_shown, targets_shown = shown.cells, shown.targets
    a = w.analysis
    cells = a.hotspots["h3"].to_numpy(dtype=np.int64)
    summary = area_summary(a.events, cells, res=params.res, targets=len(a.targets))
    layers, layers_meta = disclosure.layers_view(
        a.layers, a.layers_meta, rules, events=a.events, res=params.res
    )
    hulls = _hulls(a.meta, rules)
    parameters = disclosure.parameters_view(
        {**params.as_dict(), **{key: v for key, v in a.meta.items() if _plain(v)}}, rules
    )
    area_frame = w.area.frame
    with opened_store(location, settings=settings) as store:
        base = disclosure.base_layers_view(
            stored_layers(store, bbox=around(area_frame.total_bounds)), rules
        )
    found = a.disruptions
    layer = None
    if found is not None and shown.disruptions is not None:
        window_text = f"{uk_day(found.window_start)} - {uk_day(found.window_end - _SECOND)}"
        layer = DisruptionLayer.of(shown.disruptions, found, window_text)
    local_start = w.start.tz_convert(LOCAL_TZ)
    local_end = (w.end - pd.Timedelta(seconds=1)).tz_convert(LOCAL_TZ)
    meta_out = {
        "title": f"Weekly hotspot pack: {w.area_name}",
        "period": f"{local_start:%a %d %b %Y} - {local_end:%a %d %b %Y}",
        "week": w.week,
        "data_window": f"{w.data_start.tz_convert(LOCAL_TZ):%d %b %Y} - "
        f"{(w.start - pd.Timedelta(seconds=1)).tz_convert(LOCAL_TZ):%d %b %Y}",
        "area_name": w.area_name,
        "audience": rules.name,
        "marking": marking,
        "parameters": parameters,
        "summary": disclosure.summary_view(summary, rules),
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": __version__,
        "suppress_below": rules.k,
    }
    run = {
        "kind": "weekly",
        "week": w.week,
        "patrol_week": {"start": w.start.isoformat(), "end": w.end.isoformat()},
        "data_window": {"start": w.data_start.isoformat(), "end": w.start.isoformat()},
        "area": w.area_name,
        "wards": [c for c, _ in w.ward_list],
        "page_by": w.area.kind if w.area.pages is not None else None,
        "study_area": active_study_area().spec,
        "metric_crs": metric_crs().announcement,
        "audience": rules.name,
        "disclosure": {"k": rules.k, "rules": "docs/disclosure.md"},
        "parameters": parameters,
        "parameters_from": dict(params_source or {"origin": "given"}),
        "counts": meta_out["summary"],
        "store": _safe_location(location),
        "version": __version__,
        "generated_at": meta_out["generated_at"],
        "outputs": dict(OUTPUTS),
        "layers": layers_meta,
        "disruptions": _disruptions_record(layer, found),
        "places": {
            "near_m": w.near_m,
            "gazetteer": w.places,
            "targets_named": int(targets_shown["near"].notna().sum())
            if "near" in targets_shown.columns
            else 0,
        },
    }
    out = Path(out_dir)
    with staged(out, OUTPUTS.values()) as tmp:
        write_map(
            tmp / OUTPUTS["map"],
            cells_shown,
            targets_shown,
            area=area_frame,
            meta=meta_out,
            hulls=hulls,
            venues=w.venues if rules.shows_venues_layer and len(w.venues) else None,
            tiles=tiles,
            significance=layers,
            significance_meta=layers_meta,
            disruptions=layer,
            base=base,
        )
        build_pack(
            tmp / OUTPUTS["pack"],
            cells_shown,
            targets_shown,
            area=area_frame,
            meta=meta_out,
            hulls=hulls,
            wards=w.area.pages,
            significance=layers,
            significance_meta=layers_meta,
            disruptions=layer,
            base=base,
        )
        write_targets_csv(tmp / OUTPUTS["targets"], targets_shown, meta=meta_out)
        write_hotspots_geojson(
            tmp / OUTPUTS["hotspots"],
            disclosure.with_layers(cells_shown, layers),
            meta=meta_out,
        )
        atomic_write_text(
            tmp / OUTPUTS["run"], json.dumps(run, indent=2, sort_keys=True, default=str) + "\n"
        )
    with opened_store(location) as store:
        store.record_run(
            "weekly", {"week": w.week, "audience": rules.name, **params.as_dict()}, run
        )
    files = {key: out / name for key, name in OUTPUTS.items()}
    return WeeklyResult(out, files, targets_shown, run)


_SECOND = pd.Timedelta(seconds=1)


def _disruptions_record(
    layer: DisruptionLayer | None, found: DisruptionAnalysis | None
) -> dict[str, Any]:
    """The run record's disruptions: how many drawn and left off, the window, the rules."""
    if layer is None or found is None:
        return {"drawn": 0, "not_drawn_no_place": 0}
    return {
        "drawn": len(layer.frame),
        "not_drawn_no_place": int(layer.left_off),
        "window": {"start": found.window_start.isoformat(), "end": found.window_end.isoformat()},
        "near_m": layer.near_m,
        "displacement_m": layer.displacement_m,
        "displacement_weeks": layer.displacement_weeks,
    }


def _hulls(meta: dict[str, Any], rules: Audience) -> gpd.GeoDataFrame | None:
    """DBSCAN cluster outlines (WGS84) as the audience may see them, or None."""
    h = meta.get("hulls")
    if h is None or not len(h):
        return None
    frame = gpd.GeoDataFrame(
        h.drop(columns="geometry"), geometry=h["geometry"], crs=metric_crs().code
    ).to_crs("EPSG:4326")
    return disclosure.hulls_view(frame, rules)


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _safe_location(location: str) -> str:
    """A store location without any password."""
    return re.sub(r"(postgres(?:ql)?://[^:/@]+):[^@]*@", r"\1:***@", location)
