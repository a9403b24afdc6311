"""The patrol week: its analysis, its target list and its pack.

:func:`analyse` reads the store for the lookback before the patrol week and
calls :func:`models.weekly.analyse_week`; :func:`weekly` writes the pack
(map.html, pack.pdf, targets.csv, hotspots.geojson, run.json) for one
audience; :func:`targets_table` gives the ranked targets alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.settings import Settings
from api.usecases.store import analysis_area, grid_for, load_events, opened_store
from geo import schemas
from geo.boundaries import wards
from geo.calendar import patrol_week, week_after
from geo.errors import ValidationError
from geo.store import Window
from maps.files import atomic_write_text
from models.params import DEFAULTS, AnalysisParams
from models.weekly import GISTAR_K, WeekAnalysis, analyse_week

AUDIENCES = ("analyst", "neighbourhood", "partner")


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
    area_name: str
    ward_list: list[tuple[str, str]]
    venues: pd.DataFrame
    analysis: WeekAnalysis


def analyse(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
) -> Week:
    """The patrol week's analysis: data from the ``lookback_weeks`` before its Monday."""
    params = params or DEFAULTS
    week = week or latest_week(location)
    start, end = patrol_week(week)
    data_start = start - pd.Timedelta(weeks=params.lookback_weeks)
    polygon, area_name, ward_list = analysis_area(settings, areas)
    cells = grid_for(polygon, params.res)
    with opened_store(location) as store:
        venues = store.read(schemas.VENUES)
        window = Window(data_start.to_pydatetime(), start.to_pydatetime())
        events = load_events(store, window, venues=venues)
    if len(events) == 0:
        msg = (
            f"no episodes or intelligence between {data_start.date()} and {start.date()}; "
            "ingest data for the weeks before the patrol week, or choose another --week."
        )
        raise ValidationError(msg)
    analysis = analyse_week(events, venues, cells, params, start)
    return Week(week, start, end, data_start, area_name, ward_list, venues, analysis)


def targets_table(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
) -> pd.DataFrame:
    """The ranked, explained target list for a patrol week (analyst view)."""
    return analyse(
        location, week=week, settings=settings, areas=areas, params=params
    ).analysis.targets


def disclosable(
    cells: np.ndarray, events: pd.DataFrame, *, res: int, k: int, threshold: int
) -> np.ndarray:
    """Whether each cell's ``grid_disk(k)`` neighbourhood holds ``threshold`` or more children.

    Distinct ``child_ref`` of the non-private events in the cell and its
    neighbours among ``cells``: a sparse cells x children presence matrix
    multiplied by the Gi* neighbour matrix, so a child seen in two cells of
    one neighbourhood counts once.
    """
    from scipy import sparse

    from geo.h3index import cells_to_parent
    from models.gistar import neighbour_matrix
    from models.targets import drop_private

    kept = drop_private(events)
    kept = kept.loc[kept["child_ref"].notna()]
    cell = cells_to_parent(kept["h3"].to_numpy(dtype=np.int64), res)
    order = np.argsort(cells, kind="stable")
    pos = np.minimum(np.searchsorted(cells[order], cell), cells.size - 1)
    inside = cells[order][pos] == cell
    rows = order[pos[inside]]
    child, _ = pd.factorize(kept["child_ref"].to_numpy()[inside])
    presence = sparse.csr_matrix(
        (np.ones(rows.size), (rows, child)), shape=(cells.size, int(child.max(initial=-1)) + 1)
    )
    reach = neighbour_matrix(cells, k=k) @ presence
    distinct = np.asarray((reach > 0).sum(axis=1)).ravel()
    return np.asarray(distinct >= threshold)


def _partner_layer_counts(layers: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """The layers' class counts as partners see them: hidden cells counted as suppressed.

    The counts of every class before suppression would tell how many
    significant cells rest on fewer children than the threshold.
    """
    import copy

    out = copy.deepcopy(meta)
    shown = layers["disclosable"].fillna(False).to_numpy(dtype=bool)
    for key, column, counts in (
        ("gistar", "gi_class", "class_counts"),
        ("emerging", "pattern", "pattern_counts"),
    ):
        if column in layers.columns and counts in out.get(key, {}):
            seen = pd.Series(np.where(shown, layers[column].astype(str), "suppressed"))
            tally = seen.value_counts()
            out[key][counts] = {c: int(tally.get(c, 0)) for c in [*out[key][counts], "suppressed"]}
    return out


@dataclass(frozen=True)
class WeeklyResult:
    """What ``engage weekly`` wrote."""

    out_dir: Path
    files: dict[str, Path]
    targets: pd.DataFrame
    run: dict[str, Any]


def _audience_targets(targets: pd.DataFrame, audience: str, k: int) -> pd.DataFrame:
    """Apply the audience's disclosure rules to the target list."""
    out = targets.copy()
    if audience == "partner":
        small = out["children"] < k
        for col in ("episodes", "children", "last_seen", "found"):
            out[col] = out[col].astype(object)
            out.loc[small, col] = f"<{k}"
        out["nearest_venue"] = None
        out["nearest_venue_m"] = np.nan
        out["why"] = np.where(
            small,
            f"fewer than {k} children; " + out["trend"] + ", busiest " + out["patrol_window"],
            out["why"].str.replace(r", near .*$", "", regex=True),
        )
    return out


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
    marking: str = "OFFICIAL-SENSITIVE",
    k: int = 5,
) -> WeeklyResult:
    """Build the weekly pack: map.html, pack.pdf, targets.csv, hotspots.geojson, run.json.

    The patrol week is ``week``; the data window is the ``lookback_weeks``
    before its Monday, so nothing from the patrol week itself is used.
    """
    import geopandas as gpd

    from geo import __version__
    from maps.exports import write_hotspots_geojson, write_targets_csv
    from maps.pack import build_pack
    from maps.webmap import write_map

    if audience not in AUDIENCES:
        msg = f"`audience` must be one of {', '.join(AUDIENCES)}, got {audience!r}."
        raise ValidationError(msg)
    params = params or DEFAULTS
    if audience == "partner" and params.method == "gistar":
        msg = (
            "partner packs do not offer --method gistar: its per-cell z and p-values would "
            "show statistics of cells with fewer than 5 children. Use --method kde or count; "
            "the partner map still carries the Gi* layer, suppressed where children are few."
        )
        raise ValidationError(msg)
    if audience == "partner" and params.res != 8:
        params = params.replace(res=8)
    w = analyse(location, week=week, settings=settings, areas=areas, params=params)
    a = w.analysis
    week, start, end, data_start = w.week, w.start, w.end, w.data_start
    area_name, ward_list, events, venues = w.area_name, w.ward_list, a.events, w.venues
    hs, meta, targets = a.hotspots, a.meta, a.targets
    layers, layers_meta = a.layers, a.layers_meta
    if layers is not None and audience == "partner":
        # Partners see a Gi* class or trend pattern only where it rests on at
        # least `suppress_below` children (maps.significance applies it).
        layers = layers.assign(
            disclosable=disclosable(
                layers["h3"].to_numpy(dtype=np.int64),
                events,
                res=params.res,
                k=GISTAR_K,
                threshold=k,
            )
        )
        layers_meta = _partner_layer_counts(layers, layers_meta)
    targets["ward_name"] = targets["ward_name"].fillna("")
    shown = _audience_targets(targets, audience, k)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_wards = wards()
    area_frame = all_wards.loc[all_wards["code"].isin([c for c, _ in ward_list])]
    local_start = start.tz_convert("Europe/London")
    local_end = (end - pd.Timedelta(seconds=1)).tz_convert("Europe/London")
    summary = {
        "episodes": int(
            events.loc[events["layer"].isin(["last_seen", "found"]), "episode_id"].nunique()
        ),
        "children": int(events["child_ref"].nunique()),
        "found_locations": int((events["layer"] == "found").sum()),
        "intelligence_reports": int((events["layer"] == "venue_report").sum()),
        "targets": len(targets),
    }
    meta_out = {
        "title": f"Weekly hotspot pack: {area_name}",
        "period": f"{local_start:%a %d %b %Y} - {local_end:%a %d %b %Y}",
        "week": week,
        "data_window": f"{data_start.tz_convert('Europe/London'):%d %b %Y} - "
        f"{(start - pd.Timedelta(seconds=1)).tz_convert('Europe/London'):%d %b %Y}",
        "area_name": area_name,
        "audience": audience,
        "marking": marking,
        "parameters": {**params.as_dict(), **{k: v for k, v in meta.items() if _plain(v)}},
        "summary": summary,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": __version__,
        "suppress_below": k,
    }
    hulls = None
    if params.method == "dbscan" and "hulls" in meta and len(meta["hulls"]):
        h = meta["hulls"]
        hulls = gpd.GeoDataFrame(
            h.drop(columns="geometry"), geometry=h["geometry"], crs="EPSG:27700"
        ).to_crs("EPSG:4326")
    files = {
        "map": out_dir / "map.html",
        "pack": out_dir / "pack.pdf",
        "targets": out_dir / "targets.csv",
        "hotspots": out_dir / "hotspots.geojson",
        "run": out_dir / "run.json",
    }
    show_venues = venues if audience == "analyst" and len(venues) else None
    write_map(
        files["map"],
        hs,
        shown,
        area=area_frame,
        meta=meta_out,
        hulls=hulls,
        venues=show_venues,
        tiles=tiles,
        significance=layers,
        significance_meta=layers_meta,
    )
    build_pack(
        files["pack"],
        hs,
        shown,
        area=area_frame,
        meta=meta_out,
        hulls=hulls,
        wards=ward_list if areas else None,
        significance=layers,
        significance_meta=layers_meta,
    )
    write_targets_csv(files["targets"], shown)
    cells_out = hs
    if layers is not None:
        # The layers' columns replace any of the same name (method "gistar" has gi_z too).
        clash = [c for c in layers.columns if c != "h3" and c in hs.columns]
        cells_out = hs.drop(columns=clash).merge(layers, on="h3", how="left")
    write_hotspots_geojson(files["hotspots"], cells_out, meta=meta_out)
    run = {
        "kind": "weekly",
        "week": week,
        "patrol_week": {"start": start.isoformat(), "end": end.isoformat()},
        "data_window": {"start": data_start.isoformat(), "end": start.isoformat()},
        "area": area_name,
        "wards": [c for c, _ in ward_list],
        "audience": audience,
        "parameters": meta_out["parameters"],
        "counts": summary,
        "store": _safe_location(location),
        "version": __version__,
        "generated_at": meta_out["generated_at"],
        "outputs": {k: v.name for k, v in files.items()},
        "layers": layers_meta,
    }
    atomic_write_text(files["run"], json.dumps(run, indent=2, sort_keys=True, default=str) + "\n")
    with opened_store(location) as store:
        store.record_run("weekly", {"week": week, "audience": audience, **params.as_dict()}, run)
    return WeeklyResult(out_dir, files, shown, run)


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _safe_location(location: str) -> str:
    """A store location without any password."""
    import re

    return re.sub(r"(postgres(?:ql)?://[^:/@]+):[^@]*@", r"\1:***@", location)
