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
    return DemoResult(scenario, location, reports, stats(location), generated)
