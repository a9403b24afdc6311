"""Use cases that the command line (and later the HTTP API) call.

Each takes plain arguments and returns plain results; printing and exit codes
belong to the callers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.settings import Settings
from geo import schemas
from geo.boundaries import StudyArea, wards
from geo.export import export
from geo.ingest import IngestReport, ingest_file
from geo.pseudonym import check_key
from geo.store import Store, Window, open_store
from models.counts import counts_by_week_and_area


@contextmanager
def opened_store(location: str, *, init: bool = True) -> Iterator[Store]:
    """Open a store (creating its tables when ``init``) and close it afterwards."""
    store = open_store(location)
    try:
        if init:
            store.init()
        yield store
    finally:
        store.close()


def init_store(location: str) -> str:
    """Create or migrate the store's tables; returns its location."""
    with opened_store(location):
        return location


def ingest_files(
    location: str,
    kind: str,
    paths: list[Path],
    *,
    settings: Settings,
    strict: bool = False,
    study_area: StudyArea | None = None,
    key: str | None = None,
    layer: str | None = None,
    progress: bool = False,
) -> list[IngestReport]:
    """Ingest each file in its own transaction, recording each as a run."""
    key_bytes = check_key(key) if key is not None else None
    reports = []
    with opened_store(location) as store:
        for path in paths:
            report = ingest_file(
                store,
                kind,
                path,
                strict=strict,
                study_area=study_area or settings.area(),
                key=key_bytes,
                quarantine_dir=settings.quarantine_dir,
                layer=layer,
                progress=progress,
            )
            store.record_run(
                "ingest",
                {"kind": kind, "file": str(path), "strict": strict},
                report.as_dict(),
            )
            reports.append(report)
    return reports


def simulate_scenario(out: Path, *, seed: int, weeks: int, start: date | None = None) -> Any:
    """Write the synthetic Blackburn with Darwen scenario into ``out``."""
    from geo.simulate import simulate

    if start is None:
        return simulate(out, seed=seed, weeks=weeks)
    return simulate(out, seed=seed, weeks=weeks, start=start)


@dataclass(frozen=True)
class Stats:
    """Counts by week and ward of one table."""

    table: str
    total: int
    by_week_ward: pd.DataFrame
    ward_names: dict[str, str]


def stats(
    location: str,
    *,
    table_name: str = "episodes",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Stats:
    """Counts of rows by week (Monday, UK time) and ward, distinct children for episodes."""
    table = schemas.table(table_name)
    if not table.time_column or not table.points:
        msg = (
            f"`{table_name}` has no time and place to count by; "
            "use episodes, incidents or disruptions."
        )
        from geo.errors import ValidationError

        raise ValidationError(msg)
    prefix = table.points[0]
    columns = [table.time_column, f"{prefix}ward"]
    if table.name == "episodes":
        columns.append("child_ref")
    with opened_store(location) as store:
        frame = store.read(table, window=Window(start, end), columns=columns)
    counts = counts_by_week_and_area(
        frame,
        time_column=table.time_column,
        area_column=f"{prefix}ward",
        distinct_column="child_ref" if table.name == "episodes" else None,
    )
    names = dict(zip(wards()["code"], wards()["name"], strict=True))
    return Stats(table.name, len(frame), counts, names)


def export_tables(
    location: str, fmt: str, out: Path, *, tables: list[str] | None
) -> dict[str, int]:
    """Export stored tables for QGIS or a spreadsheet."""
    with opened_store(location) as store:
        return export(store, fmt, out, tables=tables)


@dataclass(frozen=True)
class DemoResult:
    """What ``engage demo`` made."""

    scenario_dir: Path
    store: str
    reports: list[IngestReport]
    stats: Stats
    generated_key: bool
    pack: WeeklyResult


DEMO_ORDER = (
    ("venues", "venues.csv"),
    ("venue-reports", "venue_reports.csv"),
    ("disruptions", "disruptions.csv"),
    ("episodes", "episodes.csv"),
)


def demo(out: Path, *, seed: int = 7, weeks: int = 52, settings: Settings) -> DemoResult:
    """Simulate the synthetic scenario, ingest it into ``out/engage.gpkg`` and count it.

    The scenario is synthetic, so when ``ENGAGE_PSEUDONYM_KEY`` is unset a
    random key is generated for this run only (and never written anywhere).
    """
    import os

    from geo.pseudonym import KEY_ENV, generate_key

    out = Path(out)
    scenario = out / "scenario"
    location = str(out / "engage.gpkg")
    if Path(location).exists():
        Path(location).unlink()
    simulate_scenario(scenario, seed=seed, weeks=weeks)
    key = os.environ.get(KEY_ENV)
    generated = not key
    if generated:
        key = generate_key()
    demo_settings = Settings(
        store=location,
        study_area="",
        area_tolerance_m=settings.area_tolerance_m,
        quarantine_dir=out / "quarantine",
    )
    reports: list[IngestReport] = []
    for kind, name in DEMO_ORDER:
        reports += ingest_files(location, kind, [scenario / name], settings=demo_settings, key=key)
    pack = weekly(location, week=None, out_dir=out / "pack", settings=demo_settings)
    return DemoResult(scenario, location, reports, stats(location), generated, pack)


# --- hotspots, targets and the weekly pack ---------------------------------

LAYERS = ("last_seen", "found", "venues", "incidents", "all")
METHODS = ("kde", "dbscan", "count", "gistar")
AUDIENCES = ("analyst", "neighbourhood", "partner")
DEFAULT_METHOD = "kde"


@dataclass(frozen=True)
class AnalysisParams:
    """Everything an analysis run depends on; written to run.json.

    Distances in metres, times in days or weeks.
    """

    method: str = DEFAULT_METHOD
    res: int = 9
    bandwidth_m: float | None = None
    bin_res: int = 11
    half_life_days: float = 28.0
    found_weight: float = 1.5
    lookback_weeks: int = 12
    eps_m: float | None = None
    min_samples: int = 5
    top_n: int = 15
    suppress_below: int = 5

    def __post_init__(self) -> None:
        from geo.errors import ValidationError
        from geo.h3index import check_res

        if self.method not in METHODS:
            msg = f"`method` must be one of {', '.join(METHODS)}, got {self.method!r}."
            raise ValidationError(msg)
        check_res(self.res, name="res", low=7, high=11)
        if self.bandwidth_m is not None and self.bandwidth_m <= 0:
            msg = f"`bandwidth_m` must be > 0, got {self.bandwidth_m}. Pass a distance in metres."
            raise ValidationError(msg)
        if self.half_life_days <= 0:
            msg = f"`half_life_days` must be > 0, got {self.half_life_days}."
            raise ValidationError(msg)
        if not 1 <= self.lookback_weeks <= 520:
            msg = f"`lookback_weeks` must be from 1 to 520, got {self.lookback_weeks}."
            raise ValidationError(msg)
        if self.eps_m is not None and self.eps_m <= 0:
            msg = f"`eps_m` must be > 0, got {self.eps_m}. Pass a distance in metres."
            raise ValidationError(msg)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def patrol_week(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC start and end of an ISO patrol week ``YYYY-Www`` (Monday 00:00 UK time)."""
    import re

    from geo.errors import ValidationError

    m = re.fullmatch(r"(\d{4})-?W(\d{2})", text.strip(), flags=re.IGNORECASE)
    if not m:
        msg = f"`--week` must look like 2026-W02 (ISO year and week), got {text!r}."
        raise ValidationError(msg)
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        msg = f"`--week` {text!r} is not a week of that ISO year."
        raise ValidationError(msg) from None
    start = pd.Timestamp(monday).tz_localize("Europe/London").tz_convert("UTC")
    end = (pd.Timestamp(monday) + pd.Timedelta(days=7)).tz_localize("Europe/London")
    return start, end.tz_convert("UTC")


def latest_week(location: str) -> str:
    """The ISO week after the latest stored episode (the week to patrol next)."""
    with opened_store(location) as store:
        _, latest = store.time_bounds(schemas.EPISODES)
    if latest is None:
        from geo.errors import ValidationError

        msg = "the store holds no episodes; ingest some before building a pack."
        raise ValidationError(msg)
    last = latest.tz_convert("Europe/London")
    nxt = (last + pd.Timedelta(days=7)).isocalendar()
    return f"{nxt.year}-W{nxt.week:02d}"


def _project(frame: pd.DataFrame, lat: str, lng: str) -> pd.DataFrame:
    from geo.crs import latlng_to_bng

    x, y = latlng_to_bng(frame[lat].to_numpy(), frame[lng].to_numpy())
    return frame.assign(x=x, y=y)


FOUND_WITHIN = pd.Timedelta(days=90)
"""Longest missing episode whose found location still counts in a later window."""

EVENT_COLUMNS = [
    "layer",
    "x",
    "y",
    "lat",
    "lng",
    "h3",
    "at",
    "child_ref",
    "episode_id",
    "place_type",
    "venue_id",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
    "category",
    "record",
]
"""Columns of :func:`load_events`; ``record`` is the key of the event's stored row."""


def load_events(
    store: Store,
    window: Window,
    *,
    layer: str = "all",
    category: str | None = None,
    area: Any = None,
    venues: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The located events of a window as one frame (see models/hotspots.py).

    ``all`` means the MFH and intelligence layers (last seen, found, venue
    reports); incidents are context and come only when asked for. ``venues``:
    the venues table when the caller has read it already (else read here).
    """
    from geo.errors import ValidationError

    if layer not in LAYERS:
        msg = f"`layer` must be one of {', '.join(LAYERS)}, got {layer!r}."
        raise ValidationError(msg)
    parts: list[pd.DataFrame] = []
    wanted = {"last_seen", "found", "venues"} if layer == "all" else {layer}
    if wanted & {"last_seen", "found"}:
        # Episodes are stored by last-seen time; a child found in the window
        # was last seen at most FOUND_WITHIN_DAYS before it.
        widened = Window(
            None if window.start is None else window.start - FOUND_WITHIN,
            window.end,
        )
        episodes = store.read(schemas.EPISODES, window=widened)
        for name, stamp in (("last_seen", "last_seen_at"), ("found", "found_at")):
            if name not in wanted:
                continue
            rows = episodes.loc[_in(episodes[stamp], window) & episodes[f"{name}_lat"].notna()]
            parts.append(
                _project(rows, f"{name}_lat", f"{name}_lng").assign(
                    layer=name,
                    lat=rows[f"{name}_lat"],
                    lng=rows[f"{name}_lng"],
                    h3=rows[f"{name}_h3"].astype(np.int64),
                    at=rows[stamp],
                    place_type=rows[f"{name}_place_type"],
                    record=rows["episode_id"],
                )
            )
    if "venues" in wanted:
        reports = store.read(schemas.VENUE_REPORTS, window=window)
        if venues is None:
            venues = store.read(schemas.VENUES)
        joined = reports.merge(venues[["venue_id", "lat", "lng", "h3"]], on="venue_id", how="inner")
        parts.append(
            _project(joined, "lat", "lng").assign(
                layer="venue_report",
                at=joined["reported_at"],
                place_type="venue",
                h3=joined["h3"].astype(np.int64),
                record=joined["report_id"],
            )
        )
    if "incidents" in wanted:
        incidents = store.read(schemas.INCIDENTS, window=window)
        if category:
            known = sorted(incidents["category"].unique())
            incidents = incidents.loc[incidents["category"].str.lower() == category.lower()]
            if incidents.empty and category.lower() not in [k.lower() for k in known]:
                msg = f"no incidents of category {category!r}; categories are: {', '.join(known)}."
                raise ValidationError(msg)
        parts.append(
            _project(incidents, "lat", "lng").assign(
                layer="incident",
                at=incidents["occurred_at"],
                place_type="public",
                h3=incidents["h3"].astype(np.int64),
                record=incidents["incident_id"],
            )
        )
    frames = [p.reindex(columns=EVENT_COLUMNS) for p in parts if len(p)]
    if not frames:
        empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in EVENT_COLUMNS})
        empty[["x", "y", "lat", "lng"]] = empty[["x", "y", "lat", "lng"]].astype(float)
        empty["h3"] = empty["h3"].astype(np.int64)
        empty["at"] = pd.to_datetime(empty["at"], utc=True)
        return empty
    events = pd.concat(frames, ignore_index=True)
    if area is not None:
        events = events.loc[area.contains(events["lng"].to_numpy(), events["lat"].to_numpy())]
    return events.reset_index(drop=True)


def _in(ts: pd.Series, window: Window) -> pd.Series:
    ok = ts.notna()
    if window.start is not None:
        ok &= ts >= pd.Timestamp(window.start)
    if window.end is not None:
        ok &= ts < pd.Timestamp(window.end)
    return ok


def analysis_area(
    settings: Settings, wards_wanted: list[str] | None
) -> tuple[Any, str, list[tuple[str, str]]]:
    """The polygon (WGS84) to analyse, its name, and the (code, name) of its wards."""
    import shapely

    from geo.boundaries import find_ward

    w = wards()
    if wards_wanted:
        picked = [find_ward(text) for text in wards_wanted]
        codes = [c for c, _ in picked]
        geom = shapely.union_all(w.loc[w["code"].isin(codes)].geometry.to_numpy())
        return geom, ", ".join(n for _, n in picked), picked
    area = settings.area()
    listed = list(zip(w["code"], w["name"], strict=True))
    return area.outline(), area.label, listed


def grid_for(polygon: Any, res: int) -> pd.DataFrame:
    """Cells of the area with their ward code and name."""
    from geo.boundaries import assign_areas
    from geo.grid import area_cells

    cells = area_cells(polygon, res)
    areas = assign_areas(cells["lat"].to_numpy(), cells["lng"].to_numpy())
    names = dict(zip(wards()["code"], wards()["name"], strict=True))
    cells["ward"] = areas["ward"].to_numpy()
    cells["ward_name"] = cells["ward"].map(names)
    return cells


def _weight_params(params: AnalysisParams) -> Any:
    from models.weights import WeightParams

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
    from models.hotspots import hotspots
    from models.targets import drop_private

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
        weight_params=_weight_params(params),
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
    from geo.crs import bng_to_grid_reference
    from models.targets import TargetParams, drop_private, rank_targets
    from models.weights import event_weights

    kept = drop_private(events)
    kept = kept.assign(weight=event_weights(kept, as_of, _weight_params(params)))
    venues_xy = _project(venues, "lat", "lng") if len(venues) else None
    targets = rank_targets(
        hotspots_frame, kept, as_of=as_of, venues=venues_xy, params=TargetParams(top_n=params.top_n)
    )
    targets["grid_ref"] = bng_to_grid_reference(targets["x"], targets["y"], digits=8)
    return targets


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
) -> WeeklyResult:
    """Build the weekly pack: map.html, pack.pdf, targets.csv, hotspots.geojson, run.json.

    The patrol week is ``week``; the data window is the ``lookback_weeks``
    before its Monday, so nothing from the patrol week itself is used.
    """
    import json
    from datetime import UTC

    import geopandas as gpd

    from geo import __version__
    from geo.errors import ValidationError
    from maps.exports import write_hotspots_geojson, write_targets_csv
    from maps.pack import build_pack
    from maps.webmap import write_map

    if audience not in AUDIENCES:
        msg = f"`audience` must be one of {', '.join(AUDIENCES)}, got {audience!r}."
        raise ValidationError(msg)
    params = params or AnalysisParams()
    if audience == "partner" and params.method == "gistar":
        from geo.errors import ValidationError

        msg = (
            "partner packs do not offer --method gistar: its per-cell z and p-values would "
            "show statistics of cells with fewer than 5 children. Use --method kde or count; "
            "the partner map still carries the Gi* layer, suppressed where children are few."
        )
        raise ValidationError(msg)
    if audience == "partner" and params.res != 8:
        params = AnalysisParams(**{**params.as_dict(), "res": 8})
    a = analyse_week(location, week=week, settings=settings, areas=areas, params=params)
    week, start, end, data_start = a.week, a.start, a.end, a.data_start
    area_name, ward_list, events, venues = a.area_name, a.ward_list, a.events, a.venues
    hs, meta, targets = a.hotspots, a.meta, a.targets
    layers, layers_meta = a.layers, a.layers_meta
    if layers is not None and audience == "partner":
        # Partners see a Gi* class or trend pattern only where it rests on at
        # least `suppress_below` children (maps.significance applies it).
        layers = layers.assign(
            disclosable=_disclosable(
                layers["h3"].to_numpy(dtype=np.int64),
                events,
                res=params.res,
                k=GISTAR_K,
                threshold=params.suppress_below,
            )
        )
        layers_meta = _partner_layer_counts(layers, layers_meta)
    targets["ward_name"] = targets["ward_name"].fillna("")
    shown = _audience_targets(targets, audience, params.suppress_below)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    w = wards()
    area_frame = w.loc[w["code"].isin([c for c, _ in ward_list])]
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
        "suppress_below": params.suppress_below,
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
    files["run"].write_text(json.dumps(run, indent=2, sort_keys=True, default=str) + "\n")
    with opened_store(location) as store:
        store.record_run("weekly", {"week": week, "audience": audience, **params.as_dict()}, run)
    return WeeklyResult(out_dir, files, shown, run)


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) or value is None


def _safe_location(location: str) -> str:
    """A store location without any password."""
    import re

    return re.sub(r"(postgres(?:ql)?://[^:/@]+):[^@]*@", r"\1:***@", location)


def hotspots_table(
    location: str,
    *,
    start: datetime | None,
    end: datetime | None,
    settings: Settings,
    layer: str = "all",
    category: str | None = None,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    quiet: bool = False,
    engine: str = "python",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per cell of the study area: counts, score and the method's columns.

    ``engine="db"`` (DBSCAN on a PostGIS store only) finds the same events'
    core points (weighted, as the Python engine) and their clusters inside
    PostGIS (:mod:`geo.store.db_dbscan`); ids and border points then follow
    :func:`models.dbscan.canonical_labels`, so both engines give the same
    frame on the same coordinates.
    """
    from geo.errors import ValidationError

    params = params or AnalysisParams()
    if engine not in ENGINES:
        msg = f"`engine` must be one of {', '.join(ENGINES)}, got {engine!r}."
        raise ValidationError(msg)
    if engine == "db" and params.method != "dbscan":
        msg = (
            f"--engine db runs DBSCAN in PostGIS; it does not apply to --method {params.method}. "
            "Use --method dbscan, or drop --engine."
        )
        raise ValidationError(msg)
    polygon, _, _ = analysis_area(settings, areas)
    cells = grid_for(polygon, params.res)
    with opened_store(location) as store:
        events = load_events(store, Window(start, end), layer=layer, category=category)
        # Recency weights count back from the end of the data window (or from the
        # latest event when the window is open-ended), never from today.
        if end is not None:
            as_of = pd.Timestamp(end)
        elif len(events):
            as_of = events["at"].max()
        else:
            as_of = pd.Timestamp.now(tz="UTC")
        labeller = _db_labeller(store) if engine == "db" else None
        return run_hotspots(events, cells, params, as_of, quiet=quiet, labeller=labeller)


ENGINES = ("python", "db")
"""Where DBSCAN runs: here (``python``) or inside PostGIS (``db``)."""


def _db_labeller(store: Store) -> Any:
    """``ST_ClusterDBSCAN`` of the events' stored points (a PostGIS store only)."""
    from geo.errors import ValidationError
    from geo.store.postgis import PostgisStore

    if not isinstance(store, PostgisStore):
        msg = (
            "--engine db needs the PostGIS store (--store postgresql://...); "
            "a GeoPackage store clusters in Python: drop --engine."
        )
        raise ValidationError(msg)

    def label(events: pd.DataFrame, eps_m: float, min_samples: int) -> pd.DataFrame:
        from geo.store.db_dbscan import db_dbscan_records

        records = events[["layer", "record", "weight"]]
        return db_dbscan_records(store, records, eps_m=eps_m, min_samples=min_samples)

    label.engine = "postgis ST_ClusterDBSCAN"  # type: ignore[attr-defined]
    return label


@dataclass(frozen=True)
class WeekAnalysis:
    """Hotspots and targets of one patrol week, before any output is written."""

    week: str
    start: pd.Timestamp
    end: pd.Timestamp
    data_start: pd.Timestamp
    area_name: str
    ward_list: list[tuple[str, str]]
    events: pd.DataFrame
    venues: pd.DataFrame
    hotspots: pd.DataFrame
    meta: dict[str, Any]
    targets: pd.DataFrame
    layers: pd.DataFrame | None
    """Gi* and emerging-pattern columns per hotspot cell, or None (see :func:`_week_layers`)."""
    layers_meta: dict[str, Any]
    """``{"gistar": {...}, "emerging": {...}}``: what each layer used, or why it is absent."""


def analyse_week(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
) -> WeekAnalysis:
    """The patrol week's analysis: data from the ``lookback_weeks`` before its Monday."""
    from geo.errors import ValidationError

    params = params or AnalysisParams()
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
    hs, meta = run_hotspots(events, cells, params, start)
    targets = run_targets(hs, events, venues, params, start)
    layers, layers_meta = _week_layers(hs, events, params, start)
    return WeekAnalysis(
        week,
        start,
        end,
        data_start,
        area_name,
        ward_list,
        events,
        venues,
        hs,
        meta,
        targets,
        layers,
        layers_meta,
    )


def targets_table(
    location: str,
    *,
    week: str | None,
    settings: Settings,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
) -> pd.DataFrame:
    """The ranked, explained target list for a patrol week (analyst view)."""
    return analyse_week(location, week=week, settings=settings, areas=areas, params=params).targets


def trends_table(
    location: str,
    *,
    start: datetime | None,
    end: datetime | None,
    settings: Settings,
    layer: str = "all",
    category: str | None = None,
    areas: list[str] | None = None,
    res: int = 9,
    k: int = 1,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Emerging hotspot class of every cell over weekly bins (Gi* per week + Mann-Kendall).

    Weeks start on Monday, UK time, and run from the first week with an
    event to the last; home and care-home events are left out.
    """
    from models.targets import drop_private

    polygon, _, _ = analysis_area(settings, areas)
    cells = grid_for(polygon, res)
    with opened_store(location) as store:
        events = drop_private(
            load_events(store, Window(start, end), layer=layer, category=category)
        )
    from geo.errors import ValidationError

    if events.empty:
        msg = "no events in the window; widen --from/--to or ingest data first."
        raise ValidationError(msg)
    frame, meta = _emerging(events, cells["h3"].to_numpy(dtype=np.int64), res=res, k=k)
    frame = cells[["h3", "lat", "lng", "ward", "ward_name"]].merge(frame, on="h3", how="left")
    return frame, meta


def _weekly_counts(
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
    from geo.h3index import cells_to_parent
    from models.counts import week_start

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


def _emerging(
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
    :func:`_weekly_counts` for the weeks.
    """
    from models.emerging import emerging_hotspots

    counts = _weekly_counts(events, cells, res=res, first_week=first_week, n_weeks=n_weeks)
    frame, meta = emerging_hotspots(cells, counts, k=k)
    return frame, {key: value for key, value in meta.items() if key != "z"}


GISTAR_K = 1
"""Gi* neighbourhood of the weekly pack's layers: the cell and its first ring."""
MIN_TREND_WEEKS = 10
"""Fewest weekly bins for the trend layer (Esri's recommendation for Emerging Hot Spot
Analysis: with fewer, the 90% rules need every week and Mann-Kendall rarely reaches
significance)."""


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


def _week_layers(
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
    from geo.errors import ValidationError
    from models.gistar import MIN_EVENTS, gistar
    from models.targets import drop_private

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
            em, found = _emerging(
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


def _disclosable(
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


ACCEPTED_PARAMS = "params_accepted"


def accept_params(location: str, params: AnalysisParams, evidence: dict[str, Any]) -> int:
    """Make ``params`` the store's current parameters (recorded as a run)."""
    with opened_store(location) as store:
        return store.record_run(ACCEPTED_PARAMS, params.as_dict(), evidence)


def accepted_params(location: str) -> AnalysisParams | None:
    """The store's current parameters: the latest accepted, or None."""
    with opened_store(location) as store:
        runs = store.runs()
    if runs.empty:
        return None
    accepted = runs.loc[runs["kind"] == ACCEPTED_PARAMS]
    if accepted.empty:
        return None
    return AnalysisParams(**accepted.iloc[-1]["params"])
