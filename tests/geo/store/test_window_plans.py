"""The weekly pack's reads find their window by index, in both stores (never timed).

The pack reads the latest episode (:meth:`time_bounds`, for the patrol week)
and the window's episodes, venue reports and disruptions (:meth:`read` with
a ``Window``). Each must be an index look-up or an index range, so its cost
follows the window and not the store: the plans are checked here with
``EXPLAIN QUERY PLAN`` (GeoPackage) and ``EXPLAIN`` (PostGIS, after
``ANALYZE``, as autovacuum leaves a store), and the rows against a
brute-force filter of every stored row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from api.settings import Settings
from api.usecases.demo import DEMO_ORDER
from api.usecases.ingest import ingest_files, simulate_scenario
from geo import schemas
from geo.store import Window, open_store
from geo.store.gpkg import GpkgStore
from geo.store.postgis import PostgisStore

KEY = "window-plans-key-0123456789-abcdefghijk"
WINDOWED = (schemas.EPISODES, schemas.VENUE_REPORTS, schemas.DISRUPTIONS, schemas.INCIDENTS)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plans") / "scenario"
    simulate_scenario(out, seed=11, weeks=104)
    return out


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def filled(
    request: pytest.FixtureRequest,
    scenario: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pg_url: str,
) -> Iterator[GpkgStore | PostgisStore]:
    """Two years of the synthetic scenario ingested into each store kind."""
    root = tmp_path_factory.mktemp(request.param)
    schema = f"engage_test_{uuid.uuid4().hex[:12]}"
    location = str(root / "engage.gpkg") if request.param == "gpkg" else f"{pg_url}?schema={schema}"
    settings = Settings(store=location, quarantine_dir=root / "q")
    for kind, name in DEMO_ORDER:
        ingest_files(location, kind, [scenario / name], settings=settings, key=KEY)
    if request.param == "postgis":
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for table in schemas.TABLES:
                conn.execute(f'ANALYZE "{schema}"."{table}"')
    store = open_store(location)
    assert isinstance(store, GpkgStore | PostgisStore)
    try:
        yield store
    finally:
        store.close()
        if request.param == "postgis":
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _index(table: schemas.Table) -> str:
    return f"{table.name}_{table.time_column}_idx"


def _scans_table(plan: list[str], table: schemas.Table) -> bool:
    """Whether a plan reads the whole table (not through an index)."""
    text = "\n".join(plan)
    if "Seq Scan" in text:
        return True
    # SQLite: "SCAN m" / "SCAN episodes" without an index, or a full index walk.
    return any(
        line.strip().startswith("SCAN ") and "CONSTANT ROW" not in line
        for line in plan
        if table.name in line or " m" in line
    )


def _window_of(store: GpkgStore | PostgisStore, weeks: int) -> Window:
    _, latest = store.time_bounds(schemas.EPISODES)
    assert latest is not None
    end = (latest + pd.Timedelta(days=1)).to_pydatetime()
    return Window(end - pd.Timedelta(weeks=weeks).to_pytimedelta(), end)


def _sized(store: GpkgStore | PostgisStore) -> tuple[schemas.Table, ...]:
    """Tables whose plans are checked: PostgreSQL rightly scans a table of one page (the
    scenario's 20 disruptions, no incidents); SQLite has no statistics and takes the index."""
    if isinstance(store, GpkgStore):
        return WINDOWED
    return (schemas.EPISODES, schemas.VENUE_REPORTS)


def test_latest_time_is_two_index_lookups(filled: GpkgStore | PostgisStore) -> None:
    for table in _sized(filled):
        plan = filled.time_bounds_plan(table)
        assert _index(table) in "\n".join(plan), plan
        assert not _scans_table(plan, table), plan
    if isinstance(filled, GpkgStore):
        # One SEARCH per end of the index (a lone min()/max() is answered from it).
        searches = [p for p in filled.time_bounds_plan(schemas.EPISODES) if "SEARCH" in p]
        assert len(searches) == 2
    else:
        text = "\n".join(filled.time_bounds_plan(schemas.EPISODES))
        assert "Index Only Scan Backward" in text and "Limit" in text


def test_time_bounds_equal_brute_force(filled: GpkgStore | PostgisStore) -> None:
    for table in (schemas.EPISODES, schemas.VENUE_REPORTS, schemas.DISRUPTIONS):
        times = filled.read(table, columns=[table.time_column])[table.time_column]
        assert len(times) > 0
        assert filled.time_bounds(table) == (times.min(), times.max())
    assert filled.time_bounds(schemas.INCIDENTS) == (None, None)


@pytest.mark.parametrize("weeks", [1, 4])
def test_window_read_plans_use_the_time_index(filled: GpkgStore | PostgisStore, weeks: int) -> None:
    """The pack's reads of a few weeks are ranges of the time index, on both stores."""
    _assert_window_plans(filled, weeks)


@pytest.mark.parametrize("filled", ["gpkg"], indirect=True)
def test_the_packs_longest_window_uses_the_time_index_in_a_geopackage(filled: GpkgStore) -> None:
    """12 weeks and 90 days of episodes (25 weeks), the pack's longest read.

    In this two-year store 25 weeks is a quarter of the rows, where PostgreSQL
    may rightly read a small table whole, so only SQLite's plan is held to the
    index here; the bench's stores (ten years, a million episodes and more)
    check PostgreSQL's plan at the pack's own window.
    """
    assert isinstance(filled, GpkgStore)
    _assert_window_plans(filled, 25)


def _assert_window_plans(filled: GpkgStore | PostgisStore, weeks: int) -> None:
    window = _window_of(filled, weeks)
    for table in _sized(filled):
        plan = filled.read_plan(table, window=window)
        assert _index(table) in "\n".join(plan), plan
        assert not _scans_table(plan, table), plan


def test_open_ended_windows_use_the_index_too(filled: GpkgStore | PostgisStore) -> None:
    window = _window_of(filled, 2)
    for half in (Window(window.start, None), Window(None, datetime(2020, 1, 1, tzinfo=UTC))):
        for table in _sized(filled):
            plan = filled.read_plan(table, window=half)
            assert _index(table) in "\n".join(plan), plan
            assert not _scans_table(plan, table), plan


def test_a_read_without_a_window_scans(filled: GpkgStore | PostgisStore) -> None:
    """The check can fail: a read of every row is a scan, and is reported as one."""
    plan = filled.read_plan(schemas.EPISODES, columns=["episode_id", "last_seen_at"])
    assert _scans_table(plan, schemas.EPISODES) or _index(schemas.EPISODES) not in "\n".join(plan)


@pytest.mark.parametrize("weeks", [1, 25])
def test_window_rows_equal_brute_force(filled: GpkgStore | PostgisStore, weeks: int) -> None:
    window = _window_of(filled, weeks)
    for table in (schemas.EPISODES, schemas.VENUE_REPORTS, schemas.DISRUPTIONS):
        every = filled.read(table)
        t = every[table.time_column]
        assert window.start is not None and window.end is not None
        want = every.loc[(t >= window.start) & (t < window.end)].reset_index(drop=True)
        got = filled.read(table, window=window)
        assert len(got) > 0 or table is schemas.DISRUPTIONS
        pd.testing.assert_frame_equal(got, want)
