"""The analysts' views of stored tables: counts by week and ward, and exports.

Both are for analysts only: they show exact counts and stored rows, so the
command line says so and they take no audience.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from api.usecases.store import opened_store
from geo import schemas
from geo.boundaries import wards
from geo.errors import ValidationError
from geo.export import export
from geo.store import Window
from models.counts import counts_by_week_and_area


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
