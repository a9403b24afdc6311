"""The analysts' views of stored tables: counts by week and ward, and exports.

Both are for analysts only: they show exact counts and stored rows, so the
command line says so and they take no audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from api.usecases.store import opened_store
from geo import schemas
from geo.boundaries import wards
from geo.calendar import LOCAL_TZ
from geo.errors import ValidationError
from geo.export import export
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
    columns = [table.time_column, f"{prefix}ward"]
    if table.name == "episodes":
        columns.append("child_ref")
    if table.name == "incidents":
        columns.append("time_precision")
    with opened_store(location) as store:
        frame = store.read(table, window=Window(start, end), columns=columns)
    period = "week"
    if "time_precision" in frame.columns and len(frame):
        monthly = (frame["time_precision"].astype(str) == "month").mean()
        period = "month" if monthly >= 0.5 else "week"
    counts = counts_by_period_and_area(
        frame,
        time_column=table.time_column,
        area_column=f"{prefix}ward",
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
    names = dict(zip(wards()["code"], wards()["name"], strict=True))
    return Stats(table.name, len(frame), period, counts, whole, names)


def export_tables(
    location: str,
    fmt: str,
    out: Path,
    *,
    tables: list[str] | None,
    point: str = "last_seen",
) -> dict[str, int]:
    """Export stored tables for QGIS or a spreadsheet."""
    with opened_store(location) as store:
        return export(store, fmt, out, tables=tables, point=point)
