"""The analysts' views of stored tables: counts by week and ward, and exports.

Both are for analysts only: they show exact counts and stored rows, so the
command line says so and they take no audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from api.settings import Settings
from api.usecases.store import opened_store
from geo import schemas
from geo.areas import active_areas, context_areas
from geo.calendar import LOCAL_TZ
from geo.errors import ValidationError
from geo.export import Layer, export
from geo.store import Window
from models.counts import counts_by_period_and_area, whole_periods


@dataclass(frozen=True)
class Stats:
    """Counts by period (week or month) and ward of one table.

    ``whole`` says, per period start, whether the period lies wholly inside
    the span counted (the window asked for, else the stored data's first and
    last times): a part period is not comparable with whole ones.
    """

    table: str
    total: int
    period: str
    by_period_ward: pd.DataFrame
    whole: dict[Any, bool]
    ward_names: dict[str, str]


def stats(
    location: str,
    *,
    table_name: str = "episodes",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Stats:
    """Counts of rows by period and ward, distinct children for episodes.

    Weeks (Monday, UK time) for episodes and disruptions; months for
    incidents dated to the month (data.police.uk), whose weeks would be
    made up.
    """
    table = schemas.table(table_name)
    if not table.time_column or not table.points:
        msg = (
            f"`{table_name}` has no time and place to count by; "
            "use episodes, incidents or disruptions."
        )
        raise ValidationError(msg)
    prefix = table.points[0]
    with opened_store(location) as store:
        # Counted by the areas in use: wards where loaded, else the first kind held.
        kind = active_areas().page_kind()
        columns = [table.time_column, f"{prefix}{kind}"]
        if table.name == "episodes":
            columns.append("child_ref")
        if table.name == "incidents":
            columns.append("time_precision")
        frame = store.read(table, window=Window(start, end), columns=columns)
    period = "week"
    if "time_precision" in frame.columns and len(frame):
        monthly = (frame["time_precision"].astype(str) == "month").mean()
        period = "month" if monthly >= 0.5 else "week"
    counts = counts_by_period_and_area(
        frame,
        time_column=table.time_column,
        area_column=f"{prefix}{kind}",
        distinct_column="child_ref" if table.name == "episodes" else None,
        period=period,
    )
    whole: dict[Any, bool] = {}
    if len(counts):
        times = frame[table.time_column]
        first = pd.Timestamp(start) if start is not None else times.min()
        last = pd.Timestamp(end) if end is not None else times.max() + pd.Timedelta(seconds=1)
        local = [t.tz_convert(LOCAL_TZ).tz_localize(None) for t in (first, last)]
        starts = pd.Series(sorted(counts["period"].unique()))
        flags = whole_periods(starts, period, local[0], local[1])
        whole = dict(zip(starts, flags, strict=True))
    context = context_areas()
    names = dict(zip(context["code"], context["name"], strict=True))
    return Stats(table.name, len(frame), period, counts, whole, names)


def export_tables(
    location: str,
    fmt: str,
    out: Path,
    *,
    tables: list[str] | None,
    point: str = "last_seen",
    settings: Settings | None = None,
) -> dict[str, int]:
    """Export stored tables for QGIS or a spreadsheet.

    A GeoPackage of every table (no ``tables``) also holds the analysis an
    analyst would want beside the data: ``hotspots``, the study area's cells
    for the next patrol week with the parameters a weekly pack would use
    (polygons; exact counts, scores and classes), and ``accepted_parameters``,
    every setting accepted with ``engage tune --accept`` and what it was tuned
    on.
    """
    extra: list[Layer] = []
    if fmt == "gpkg" and not tables:
        extra = _analysis_layers(location, settings or Settings(store=location))
    with opened_store(location) as store:
        return export(store, fmt, out, tables=tables, point=point, extra=extra)


def _analysis_layers(location: str, settings: Settings) -> list[Layer]:
    from api.usecases.params import ACCEPTED_PARAMS, base_params
    from api.usecases.week import analyse
    from geo.h3index import cells_to_str_array
    from maps.cells import cells_to_polygons
    from models.params import DEFAULT_SOURCE

    layers: list[Layer] = []
    with opened_store(location) as store:
        runs = store.runs()
        _, latest = store.time_bounds(schemas.EPISODES)
    accepted = runs.loc[runs["kind"] == ACCEPTED_PARAMS] if len(runs) else runs
    rows = [
        {
            "accepted_at": at,
            **{k: v for k, v in params.items() if k != "suppress_below"},
            **{f"tuned_on_{k}": v for k, v in dict(outputs.get("tuned_on") or {}).items()},
        }
        for at, params, outputs in zip(
            accepted.get("created_at", []),
            accepted.get("params", []),
            accepted.get("outputs", []),
            strict=True,
        )
    ]
    table = pd.DataFrame(rows)
    if len(table):
        layers.append(
            Layer(
                "accepted_parameters",
                "Parameters accepted with engage tune --accept, oldest first, and the data "
                "they were tuned on",
                False,
                lambda: iter([table]),
            )
        )
    if latest is None:
        return layers
    try:
        source = base_params(None, location)
        note = ""
    except ValidationError:  # accepted parameters tuned on other data: as a weekly pack would
        source = DEFAULT_SOURCE  # refuse them, the layer shows the defaults and says so
        note = "; the accepted parameters were tuned on other data, so the defaults are used"
    week = analyse(location, week=None, settings=settings, params=source.params)
    frame = week.analysis.hotspots.drop(columns=["x", "y"], errors="ignore").copy()
    cells = frame["h3"].to_numpy(dtype=np.int64)
    frame["h3_hex"] = cells_to_str_array(cells)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].astype(str)
    cells_frame = gpd.GeoDataFrame(frame, geometry=cells_to_polygons(cells), crs="EPSG:4326")
    layers.append(
        Layer(
            "hotspots",
            f"Hotspot cells for patrol week {week.week} ({source.describe()}{note}); analyst view",
            True,
            lambda: iter([cells_frame]),
            geometry_type="Polygon",
        )
    )
    return layers
