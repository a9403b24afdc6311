"""PostGIS store specifics, against a real server (never skipped).

The shared behaviour of every store is in ``test_contract.py``; this file
covers what only the server store has: versioned migrations, the DDL against
``geo.schemas`` (drift), indexes, concurrency, dropped connections, bad URLs,
the bulk first-load path, and the index-range cell filter checked against
PostGIS ``ST_Intersects`` on the H3 cell's own polygon.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely

import geo.store.firstload as firstload
import geo.store.pgcopy as pgcopy
import geo.store.postgis as postgis
from geo.errors import StoreError, ValidationError
from geo.h3index import cells_to_child_range, latlng_to_cells
from geo.schemas import EPISODES, INCIDENTS, TABLES, Column, Table
from geo.store.frames import INGESTED_AT, conform
from geo.store.postgis import PostgisStore, merge_ranges, migrations, redact_url, split_url

BLACKBURN = (53.745, -2.48)
"""A point in Blackburn town centre (lat, lng) the synthetic points gather around."""

KIND_TO_PG = {
    "text": "text",
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "timestamp": "timestamp with time zone",
    "h3": "bigint",
}
"""How each ``geo.schemas`` column kind must be stored (information_schema spelling)."""


# ---------------------------------------------------------------------- helpers


def make_incidents(
    n: int,
    *,
    seed: int = 0,
    prefix: str = "I",
    lat: np.ndarray | None = None,
    lng: np.ndarray | None = None,
) -> pd.DataFrame:
    """``n`` incidents near Blackburn (or at the given points), conformed."""
    rng = np.random.default_rng(seed)
    if lat is None or lng is None:
        lat = BLACKBURN[0] + rng.uniform(-0.03, 0.03, n)
        lng = BLACKBURN[1] + rng.uniform(-0.05, 0.05, n)
    ms = rng.integers(0, 365 * 86_400_000, n)
    frame = pd.DataFrame(
        {
            "incident_id": np.array([f"{prefix}-{i:07d}" for i in range(n)], dtype=object),
            "category": rng.choice(np.array(["drugs", "violent-crime", ""], dtype=object), n),
            "occurred_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(ms, unit="ms"),
            "time_precision": "exact",
            "lat": lat,
            "lng": lng,
            "h3": latlng_to_cells(lat, lng),
            "district": "E06000008",
            "ward": rng.choice(np.array(["E05011509", "E05011510", None], dtype=object), n),
            "lsoa": None,
            "neighbourhood": None,
            "beat": None,
            "source": "test-postgis",
            "content_hash": rng.integers(-(2**62), 2**62, n),
        }
    )
    return conform(INCIDENTS, frame)


def query(url: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of one statement on a fresh autocommit connection (independent of the store)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql.encode(), params)
        return cur.fetchall() if cur.description else []


def run_threads(targets: list[Callable[[], Any]], timeout_s: float = 120) -> list[Any]:
    """Run callables in threads at once; return their results, re-raise the first error."""
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def runner(i: int, target: Callable[[], Any]) -> None:
        try:
            results[i] = target()
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout_s)
    assert not any(t.is_alive() for t in threads), "threads did not finish (deadlock?)"
    if errors:
        raise errors[0]
    return results


def write(store: PostgisStore, table: Table, frame: pd.DataFrame) -> dict[str, Any]:
    with store.writer() as w:
        w.stage(table, frame)
        return w.finish()


def index_defs(url: str, schema: str) -> dict[str, str]:
    rows = query(
        url,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY indexname",
        [schema],
    )
    return {name: definition for name, definition in rows}


# ------------------------------------------------------------------------- URLs


def test_split_url_strips_schema_and_keeps_other_parameters() -> None:
    conninfo, schema = split_url(
        "postgresql://u:pw@db.example:6543/engage?sslmode=disable&schema=area_51"
    )
    assert schema == "area_51"
    assert conninfo == "postgresql://u:pw@db.example:6543/engage?sslmode=disable"
    assert split_url("postgres://u@h/d") == ("postgres://u@h/d", postgis.DEFAULT_SCHEMA)
    for bad in ("Engage", "1abc", "a-b", 'x";drop', "a" * 64):
        with pytest.raises(ValidationError, match="schema"):
            PostgisStore(f"postgresql://u@h/d?schema={bad}")
    assert redact_url("postgresql://u:s3cret@h:1/d?schema=x") == "postgresql://u:***@h:1/d?schema=x"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_construction_does_not_connect() -> None:
    store = PostgisStore("postgresql://postgres@127.0.0.1:1/test?schema=never_made")
    assert store.url.endswith("schema=never_made")
    assert store.schema == "never_made"
    store.close()  # nothing opened, nothing to close: still fine


def test_bad_url_fails_fast_and_clearly() -> None:
    store = PostgisStore("postgresql://postgres:s3cret@127.0.0.1:1/test?schema=nowhere")
    for call in (store.init, lambda: store.count(INCIDENTS), store.runs):
        t0 = time.monotonic()
        with pytest.raises(StoreError) as info:
            call()
        elapsed = time.monotonic() - t0
        message = str(info.value)
        assert elapsed < postgis.CONNECT_TIMEOUT_S + 2, f"took {elapsed:.1f} s"
        assert "127.0.0.1:1" in message and "make test" in message
        assert "s3cret" not in message and "***" in message
    store.close()


# ------------------------------------------------------------------- migrations


def test_migrations_applied_once_and_recorded(pg_url: str, pg_schema: str) -> None:
    store = PostgisStore(f"{pg_url}?schema={pg_schema}")
    try:
        store.init()
        table = f'"{pg_schema}".schema_migrations'
        first = query(pg_url, f"SELECT version, name, applied_at FROM {table} ORDER BY version")
        assert [(v, n) for v, n, _ in first] == [(m.version, m.name) for m in migrations()]
        assert all(isinstance(at, datetime) for _, _, at in first)

        frame = make_incidents(50)
        write(store, INCIDENTS, frame)
        store.init()
        store.init()
        again = query(pg_url, f"SELECT version, name, applied_at FROM {table} ORDER BY version")
        assert again == first  # not re-applied, not re-recorded
        assert store.count(INCIDENTS) == len(frame)
    finally:
        store.close()


def test_concurrent_init_is_safe(pg_url: str, pg_schema: str) -> None:
    stores = [PostgisStore(f"{pg_url}?schema={pg_schema}") for _ in range(3)]
    barrier = threading.Barrier(len(stores))

    def init(store: PostgisStore) -> Callable[[], None]:
        def go() -> None:
            barrier.wait()
            store.init()

        return go

    try:
        run_threads([init(s) for s in stores])
        rows = query(
            pg_url, f'SELECT version FROM "{pg_schema}".schema_migrations ORDER BY version'
        )
        assert [r[0] for r in rows] == [m.version for m in migrations()]
        assert all(s.count(t) == 0 for s in stores for t in TABLES.values())
    finally:
        for s in stores:
            s.close()


def test_migration_files_use_only_the_schema_placeholder() -> None:
    for m in migrations():
        rendered = m.render("some_schema").decode()
        assert "@schema@" not in rendered
        assert '"some_schema".' in rendered
        # Every table the migration creates is schema-qualified.
        for line in rendered.splitlines():
            if line.startswith(("CREATE TABLE", "CREATE INDEX")):
                assert '"some_schema".' in line, line


def test_init_creates_the_extension_where_missing(pg_url: str) -> None:
    db = f"engage_nopostgis_{uuid.uuid4().hex[:8]}"
    query(pg_url, f'CREATE DATABASE "{db}" TEMPLATE template0')
    url = pg_url.rsplit("/", 1)[0] + f"/{db}"
    store = PostgisStore(f"{url}?schema=engage")
    try:
        assert query(url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(0,)]
        with pytest.raises(StoreError, match="engage init"):
            store.count(INCIDENTS)
        store.init()
        assert query(url, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") == [(1,)]
        assert store.count(INCIDENTS) == 0
    finally:
        store.close()
        query(pg_url, f'DROP DATABASE "{db}" WITH (FORCE)')


def test_reading_an_uninitialised_schema_says_run_init(pg_store_url: str) -> None:
    store = PostgisStore(pg_store_url)
    try:
        with pytest.raises(StoreError, match="engage init"):
            store.count(EPISODES)
    finally:
        store.close()


# ------------------------------------------------------------------ DDL (drift)


def test_migrated_columns_match_geo_schemas(pg_store: PostgisStore, pg_url: str) -> None:
    schema = pg_store.schema
    tables = query(
        pg_url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        [schema],
    )
    assert {r[0] for r in tables} == {
        *TABLES,
        "runs",
        "schema_migrations",
        "engage_features",
        "engage_meta",
    }
    for spec in TABLES.values():
        got = query(
            pg_url,
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, spec.name],
        )
        expected = [
            (c.name, KIND_TO_PG[c.kind], "YES" if c.nullable else "NO") for c in spec.columns
        ]
        expected.append((INGESTED_AT, "timestamp with time zone", "NO"))
        expected += [(f"{p}geom", "USER-DEFINED", "YES") for p in spec.points]
        # Later migrations append columns, so the order may differ; the set may not.
        assert sorted(got) == sorted(expected), (
            f"{spec.name}: a migration is needed for geo.schemas changes"
        )
        geoms = query(
            pg_url,
            "SELECT f_geometry_column, type, srid FROM geometry_columns"
            " WHERE f_table_schema = %s AND f_table_name = %s",
            [schema, spec.name],
        )
        assert sorted(geoms) == sorted((f"{p}geom", "POINT", 4326) for p in spec.points)
        pkey = query(
            pg_url,
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary",
            [f'"{schema}"."{spec.name}"'],
        )
        assert pkey == [(spec.key,)]


def test_indexes_exist(pg_store: PostgisStore, pg_url: str) -> None:
    defs = list(index_defs(pg_url, pg_store.schema).values())

    def has(table: str, method: str, column: str) -> bool:
        return any(f".{table} USING {method} ({column})" in d for d in defs)

    for spec in TABLES.values():
        assert has(spec.name, "btree", spec.key)
        for p in spec.points:
            assert has(spec.name, "gist", f"{p}geom"), (spec.name, p)
            assert has(spec.name, "btree", f"{p}h3"), (spec.name, p)
            assert has(spec.name, "btree", f"{p}ward"), (spec.name, p)
        if spec.time_column:
            assert has(spec.name, "btree", spec.time_column), spec.name


def test_geometry_is_built_from_lat_lng(pg_store: PostgisStore, pg_url: str) -> None:
    frame = make_incidents(40)
    write(pg_store, INCIDENTS, frame)
    rows = query(
        pg_url,
        f'SELECT incident_id, ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM "{pg_store.schema}".'
        "incidents ORDER BY incident_id",
    )
    got = pd.DataFrame(rows, columns=["incident_id", "x", "y", "srid"])
    expected = frame.sort_values("incident_id").reset_index(drop=True)
    assert got["incident_id"].tolist() == expected["incident_id"].tolist()
    np.testing.assert_array_equal(got["x"].to_numpy(), expected["lng"].to_numpy())
    np.testing.assert_array_equal(got["y"].to_numpy(), expected["lat"].to_numpy())
    assert set(got["srid"]) == {4326}


# ------------------------------------------------------------------------ writes


def test_text_values_survive_copy(pg_store: PostgisStore) -> None:
    frame = make_incidents(6)
    odd = ["", 'comma, and "quotes"', "new\nline\r\n", "\\N", "tab\there", "NULL"]
    frame["category"] = np.array(odd, dtype=object)
    frame.loc[2, "ward"] = ""
    write(pg_store, INCIDENTS, frame)
    got = pg_store.read(INCIDENTS).set_index("incident_id")
    assert got.loc[frame["incident_id"], "category"].tolist() == odd
    assert got.loc[frame.loc[2, "incident_id"], "ward"] == ""
    assert got["lsoa"].isna().all()


def test_connection_dropped_mid_write_leaves_nothing(pg_store: PostgisStore, pg_url: str) -> None:
    frame = make_incidents(40_000, seed=3)
    first, second = frame.iloc[:20_000], frame.iloc[20_000:]
    with pytest.raises((StoreError, psycopg.OperationalError)) as info, pg_store.writer() as w:
        w.stage(INCIDENTS, first)
        killed = query(pg_url, "SELECT pg_terminate_backend(%s)", [w.backend_pid])
        assert killed == [(True,)]
        w.stage(INCIDENTS, second)
        w.finish()
    assert "connection" in str(info.value)
    assert pg_store.count(INCIDENTS) == 0

    result = write(pg_store, INCIDENTS, frame)
    assert result["incidents"].inserted == len(frame)
    assert pg_store.count(INCIDENTS) == len(frame)
    got = pg_store.read(INCIDENTS).drop(columns=INGESTED_AT)
    pd.testing.assert_frame_equal(got, frame.sort_values("incident_id").reset_index(drop=True))


@pytest.mark.parametrize("bulk", [False, True], ids=["upsert", "bulk-first-load"])
def test_two_writers_same_rows_at_once(
    pg_store: PostgisStore, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    if bulk:
        monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 1)
    frame = make_incidents(5_000, seed=7)
    staged = threading.Barrier(2)

    def writer(rows: pd.DataFrame) -> Callable[[], dict[str, Any]]:
        def go() -> dict[str, Any]:
            with pg_store.writer() as w:
                w.stage(INCIDENTS, rows)
                staged.wait()
                return w.finish()

        return go

    # One writer stages the rows in reverse order: lock order must not depend on it.
    results = run_threads([writer(frame), writer(frame.iloc[::-1])])
    inserted = sum(r["incidents"].inserted for r in results)
    updated = sum(r["incidents"].updated for r in results)
    unchanged = sum(r["incidents"].unchanged for r in results)
    assert (inserted, updated, unchanged) == (len(frame), 0, len(frame))
    assert pg_store.count(INCIDENTS) == len(frame)
    got = pg_store.read(INCIDENTS).drop(columns=INGESTED_AT)
    pd.testing.assert_frame_equal(got, frame.sort_values("incident_id").reset_index(drop=True))


def test_bulk_first_load_keeps_indexes_and_data(
    pg_store: PostgisStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    before = index_defs(pg_url, pg_store.schema)
    frame = make_incidents(3_000, seed=11)
    frame = pd.concat([frame, frame.iloc[:10]], ignore_index=True)  # a key staged twice
    assert write(pg_store, INCIDENTS, frame)["incidents"].inserted == 3_000
    assert index_defs(pg_url, pg_store.schema) == before
    unique = frame.iloc[:3_000].sort_values("incident_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(pg_store.read(INCIDENTS).drop(columns=INGESTED_AT), unique)

    # The table is no longer empty: the next write is an ordinary upsert.
    changed = unique.copy()
    changed.loc[:99, "content_hash"] += 1
    result = write(pg_store, INCIDENTS, changed)["incidents"]
    assert (result.inserted, result.updated, result.unchanged) == (0, 100, 2_900)


def test_bulk_first_load_rolls_back_with_its_indexes(
    pg_store: PostgisStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 1)
    before = index_defs(pg_url, pg_store.schema)

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), pg_store.writer() as w:
        w.stage(INCIDENTS, make_incidents(500))
        assert w.finish()["incidents"].inserted == 500
        raise Boom
    assert pg_store.count(INCIDENTS) == 0
    assert index_defs(pg_url, pg_store.schema) == before


def test_writer_upserts_unfinished_stage_on_clean_exit(pg_store: PostgisStore) -> None:
    frame = make_incidents(30)
    with pg_store.writer() as w:
        w.stage(INCIDENTS, frame)
        assert w.pending
    assert pg_store.count(INCIDENTS) == len(frame)


# ------------------------------------------------------------------------- reads


def test_cells_agree_with_st_intersects_on_the_cell_polygon(
    pg_store: PostgisStore, pg_url: str
) -> None:
    """The index-range filter against PostGIS on each cell's own hexagon.

    A res-r cell's res-12 descendants do not tile its hexagon exactly; they
    stray from its edges by at most the distance measured here from the
    children's own polygons. Points nearer the edge than that are dropped, so
    both tests must agree on every remaining point.
    """
    rng = np.random.default_rng(5)
    # Nested cells around the centre of Blackburn's res-7 cell, so the finer
    # cells sit well inside the coarse one.
    centre = h3.cell_to_latlng(h3.latlng_to_cell(*BLACKBURN, 7))
    cases = []
    for res in (7, 9, 12):
        cell = h3.latlng_to_cell(*centre, res)
        hexagon = shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
        children = shapely.union_all(
            [
                shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)])
                for c in h3.cell_to_children(cell, 12)
            ]
        )
        stray = shapely.get_coordinates(shapely.symmetric_difference(hexagon, children))
        margin = (
            shapely.distance(hexagon.boundary, shapely.points(stray)).max() if len(stray) else 0
        )
        margin += 1e-6  # about 0.1 m: floating point at the edges themselves
        cases.append((res, h3.str_to_int(cell), hexagon, margin))
    lat_parts, lng_parts = [], []
    for _, _, hexagon, _ in cases:
        x0, y0, x1, y1 = hexagon.bounds
        pad = 0.5 * (x1 - x0)
        lng_parts.append(rng.uniform(x0 - pad, x1 + pad, 3_000))
        lat_parts.append(rng.uniform(y0 - pad, y1 + pad, 3_000))
    lat, lng = np.concatenate(lat_parts), np.concatenate(lng_parts)
    points = shapely.points(lng, lat)
    keep = np.ones(lat.size, dtype=bool)
    for _, _, hexagon, margin in cases:
        keep &= shapely.distance(hexagon.boundary, points) > margin
    assert keep.sum() > 5_000
    write(pg_store, INCIDENTS, make_incidents(int(keep.sum()), lat=lat[keep], lng=lng[keep]))
    total = pg_store.count(INCIDENTS)
    table = f'"{pg_store.schema}".incidents'
    for res, cell, hexagon, _ in cases:
        by_cells = pg_store.read(INCIDENTS, cells=[cell])["incident_id"].tolist()
        by_polygon = [
            r[0]
            for r in query(
                pg_url,
                f"SELECT incident_id FROM {table}"
                " WHERE ST_Intersects(geom, ST_GeomFromWKB(%s, 4326)) ORDER BY incident_id",
                [shapely.to_wkb(hexagon)],
            )
        ]
        assert by_cells == by_polygon, res
        assert 0 < len(by_cells) < total, res
        counts = pg_store.counts_by_cell(INCIDENTS, res)
        assert counts.loc[counts["h3"] == cell, "n"].tolist() == [len(by_polygon)], res


def test_cell_query_uses_the_h3_index(pg_store: PostgisStore, pg_url: str) -> None:
    write(pg_store, INCIDENTS, make_incidents(20_000, seed=2))
    query(pg_url, f'ANALYZE "{pg_store.schema}".incidents')
    cell = h3.str_to_int(h3.latlng_to_cell(*BLACKBURN, 10))
    lo, hi = cells_to_child_range(np.array([cell], dtype=np.int64))
    plan = query(
        pg_url,
        f'EXPLAIN SELECT t.* FROM "{pg_store.schema}".incidents AS t'
        " JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON t.h3 BETWEEN r.lo AND r.hi",
        [lo.tolist(), hi.tolist()],
    )
    assert "incidents_h3_idx" in "\n".join(r[0] for r in plan)


def test_mixed_resolution_cells_do_not_double_count(pg_store: PostgisStore) -> None:
    frame = make_incidents(2_000, seed=4)
    write(pg_store, INCIDENTS, frame)
    child = int(frame["h3"].iloc[0])
    parent = h3.str_to_int(h3.cell_to_parent(h3.int_to_str(child), 8))
    alone = pg_store.read(INCIDENTS, cells=[parent])
    both = pg_store.read(INCIDENTS, cells=[parent, child, child])
    pd.testing.assert_frame_equal(both, alone)
    assert len(alone) > 1


def test_merge_ranges() -> None:
    lo = np.array([10, 1, 3, 20, 21], dtype=np.int64)
    hi = np.array([12, 5, 4, 30, 22], dtype=np.int64)
    mlo, mhi = merge_ranges(lo, hi)
    assert mlo.tolist() == [1, 10, 20] and mhi.tolist() == [5, 12, 30]
    covered = {x for a, b in zip(lo, hi, strict=True) for x in range(a, b + 1)}
    merged = {x for a, b in zip(mlo, mhi, strict=True) for x in range(a, b + 1)}
    assert covered == merged


def test_read_large_table_round_trips(pg_store: PostgisStore) -> None:
    frame = make_incidents(30_000, seed=9)
    write(pg_store, INCIDENTS, frame)
    got = pg_store.read(INCIDENTS)
    assert got[INGESTED_AT].notna().all()
    pd.testing.assert_frame_equal(
        got.drop(columns=INGESTED_AT), frame.sort_values("incident_id").reset_index(drop=True)
    )
    chunks = list(pg_store.iter_rows(INCIDENTS, chunk_size=7_000))
    assert [len(c) for c in chunks] == [7_000] * 4 + [2_000]
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), got)


def test_run_records_convert_values_and_refuse_nan(pg_store: PostgisStore) -> None:
    params = {
        "res": np.int64(9),
        "bandwidth_m": np.float64(250.0),
        "start": datetime(2024, 1, 1, tzinfo=UTC),
        "day": date(2024, 2, 3),
        "out": Path("/tmp/pack"),
        "cells": np.array([1, 2]),
    }
    run_id = pg_store.record_run("weekly", params, {"targets": 3})
    runs = pg_store.runs()
    assert runs["id"].tolist() == [run_id]
    assert runs["params"].iloc[0] == {
        "res": 9,
        "bandwidth_m": 250.0,
        "start": "2024-01-01T00:00:00+00:00",
        "day": "2024-02-03",
        "out": "/tmp/pack",
        "cells": [1, 2],
    }
    with pytest.raises(ValidationError, match="NaN"):
        pg_store.record_run("weekly", {"x": float("nan")}, {})
    assert len(pg_store.runs()) == 1


@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("category", "drugs\x00", "0x00"),
        # Random hex does not compress, so the key's index entry is far over its limit.
        ("incident_id", np.random.default_rng(1).bytes(10_000).hex(), "index row"),
    ],
)
def test_a_value_the_server_cannot_hold_is_a_store_error_and_nothing_is_stored(
    pg_store: PostgisStore, column: str, value: str, said: str
) -> None:
    # Ingest quarantines such rows first; a direct write is refused as a whole, plainly.
    frame = make_incidents(3)
    frame.loc[1, column] = value
    with pytest.raises(StoreError, match="a value cannot be stored") as err:
        write(pg_store, INCIDENTS, frame)
    assert said in str(err.value)
    assert "Check the server" not in str(err.value)
    assert pg_store.count(INCIDENTS) == 0


# -------------------------------------------------------------- binary COPY, first load


def test_binary_copy_round_trips_every_kind_and_null(pg_url: str) -> None:
    # Reference: the server's own parsing of the same values from SQL literals.
    cols = [
        Column("t", "text"),
        Column("i", "int", False),
        Column("f", "float"),
        Column("b", "bool"),
        Column("ts", "timestamp"),
        Column("h", "h3"),
    ]
    texts = ["", 'comma, "quote"', "new\nline", None, "héllo ✓", "\\N"]
    stamps = [
        "2024-01-01T00:00:00.0000005Z",  # half a microsecond: to even (0)
        "2024-01-01T00:00:00.0000015Z",  # to even (2)
        None,
        "1999-12-31T23:59:59.999999Z",  # before PostgreSQL's epoch
        "2038-01-19T03:14:08Z",
        "2024-06-30T12:00:00.123456789Z",
    ]
    frame = pd.DataFrame(
        {
            "t": np.array(texts, dtype=object),
            "i": np.array([0, -1, 2**62, -(2**63), 7, 8], dtype=np.int64),
            "f": [0.1, np.nan, -1e300, 53.7451234567891, 5e-324, -0.0],
            "b": pd.array([True, False, None, True, None, False], dtype="boolean"),
            "ts": pd.to_datetime(stamps, utc=True, format="ISO8601"),
            "h": pd.array([1, None, 2**60, 3, None, 4], dtype="Int64"),
        }
    )
    lat = np.array([53.7, np.nan, 1.5, -90.0, 0.0, 53.745])
    lng = np.array([-2.48, 1.0, np.nan, 180.0, -0.0, -2.4812345678])
    fields = [pgcopy.column_field(c, frame[c.name]) for c in cols]
    fields.append(pgcopy.point_field(lat, lng))
    data = pgcopy.SIGNATURE + pgcopy.encode(fields, len(frame)).tobytes() + pgcopy.TRAILER
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "CREATE TEMP TABLE got (t text, i bigint, f double precision, b boolean,"
            " ts timestamptz, h bigint, g geometry(Point, 4326))"
        )
        with conn.cursor().copy("COPY got FROM STDIN (FORMAT binary)") as copy:
            copy.write(data)
        got = conn.execute("SELECT t, i, f, b, ts, h, ST_AsEWKT(g) FROM got ORDER BY i").fetchall()
        ref = conn.execute(
            "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::float8[], %s::boolean[],"
            " %s::timestamptz[], %s::bigint[], %s::text[]) ORDER BY 2",
            [
                texts,
                frame["i"].tolist(),
                [None if np.isnan(v) else float(v) for v in frame["f"]],
                [None if v is pd.NA else bool(v) for v in frame["b"]],
                stamps,  # parsed and rounded by the server
                [None if v is pd.NA else int(v) for v in frame["h"]],
                [
                    None
                    if np.isnan(a) or np.isnan(o)
                    else f"SRID=4326;POINT({float(o)!r} {float(a)!r})"
                    for a, o in zip(lat, lng, strict=True)
                ],
            ],
        ).fetchall()
        ref = [
            (
                *r[:6],
                None
                if r[6] is None
                else conn.execute("SELECT ST_AsEWKT(%s::geometry)", [r[6]]).fetchone()[0],
            )  # type: ignore[index]
            for r in ref
        ]
    assert got == ref
    assert got[0][4] == datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_seen_keys_marks_repeats_across_and_within_chunks() -> None:
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 3_000, 10_000).astype(str).astype(object)
    seen = firstload.SeenKeys()
    got = np.concatenate([seen.add(keys[i : i + 700]) for i in range(0, len(keys), 700)])
    expected = pd.Series(keys).duplicated(keep="first").to_numpy()
    np.testing.assert_array_equal(got, expected)


def stored_rows(url: str, schema: str) -> list[tuple[Any, ...]]:
    """Every stored incident with its geometry as EWKB (ingested_at left out)."""
    names = ", ".join(INCIDENTS.column_names)
    return query(
        url,
        f'SELECT {names}, ST_AsEWKB(geom) FROM "{schema}".incidents ORDER BY incident_id',
    )


def with_repeats(seed: int) -> list[pd.DataFrame]:
    """Chunks of incidents whose keys repeat within and across chunks, with new content.

    Some repeats share a time with an earlier version (ties for keep="earliest").
    """
    rng = np.random.default_rng(seed)
    base = make_incidents(6_000, seed=seed)
    again = base.iloc[rng.choice(6_000, 2_500)].copy()
    again["content_hash"] = rng.integers(-(2**62), 2**62, len(again))
    shift = rng.choice([-1, 0, 1], len(again)) * pd.Timedelta(hours=5)
    again["occurred_at"] = again["occurred_at"] + shift
    again["lat"] = again["lat"] + 0.001
    again["h3"] = latlng_to_cells(again["lat"].to_numpy(), again["lng"].to_numpy())
    rows = pd.concat([base, again], ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    return [rows.iloc[i : i + 1_700] for i in range(0, len(rows), 1_700)]


@pytest.mark.parametrize("keep", ["last", "earliest"])
def test_first_load_and_staged_upsert_store_the_same_rows(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, keep: str
) -> None:
    chunks = with_repeats(21)
    got: dict[str, list[tuple[Any, ...]]] = {}
    for path, threshold in (("staged", 10**9), ("first-load", 1_000)):
        monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", threshold)
        schema = f"engage_test_{uuid.uuid4().hex[:12]}"
        store = PostgisStore(f"{pg_url}?schema={schema}")
        try:
            store.init()
            with store.writer() as w:
                for chunk in chunks:
                    w.stage(INCIDENTS, chunk, keep=keep)  # type: ignore[arg-type]
                assert w.first_load == ({"incidents"} if path == "first-load" else set())
                result = w.finish()["incidents"]
            distinct = pd.concat(chunks)["incident_id"].nunique()
            assert (result.inserted, result.updated, result.unchanged) == (distinct, 0, 0)
            got[path] = stored_rows(pg_url, schema)
        finally:
            store.close()
            query(pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert got["first-load"] == got["staged"]
    # And both are the keep rule, computed here with pandas.
    rows = pd.concat(chunks, ignore_index=True)
    if keep == "last":
        expected = rows.drop_duplicates("incident_id", keep="last")
    else:
        # The earliest time; of versions at that time, the last staged.
        rows["neg_pos"] = -np.arange(len(rows))
        expected = rows.sort_values(["incident_id", "occurred_at", "neg_pos"])
        expected = expected.drop_duplicates("incident_id", keep="first")
    expected = expected.sort_values("incident_id")
    assert [r[0] for r in got["staged"]] == expected["incident_id"].tolist()
    assert [r[13] for r in got["staged"]] == expected["content_hash"].tolist()


def test_first_load_on_a_table_with_rows_is_an_upsert_and_reingest_changes_nothing(
    pg_store: PostgisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    frame = make_incidents(2_000, seed=4)
    with pg_store.writer() as w:
        w.stage(INCIDENTS, frame.iloc[:1_000])
        assert w.first_load == {"incidents"}
        w.stage(INCIDENTS, frame.iloc[1_000:])
        first = w.finish()["incidents"]
    assert (first.inserted, first.updated, first.unchanged) == (2_000, 0, 0)
    with pg_store.writer() as w:
        w.stage(INCIDENTS, frame.iloc[:1_000])
        assert w.first_load == set()  # rows exist: the staged upsert
        w.stage(INCIDENTS, frame.iloc[1_000:])
        again = w.finish()["incidents"]
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2_000)
    got = pg_store.read(INCIDENTS).drop(columns=INGESTED_AT)
    pd.testing.assert_frame_equal(got, frame.sort_values("incident_id").reset_index(drop=True))


def test_first_load_and_another_writer_cannot_both_take_the_first_load_path(
    pg_store: PostgisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    frame = make_incidents(3_000, seed=9)
    other = make_incidents(500, seed=10, prefix="J")
    b_staged = threading.Event()
    seen: dict[str, Any] = {}

    def writer_b() -> None:
        with pg_store.writer() as w:
            w.stage(INCIDENTS, pd.concat([frame.iloc[:500], other]))
            seen["b_first_load"] = w.first_load
            b_staged.set()
            seen["b"] = w.finish()["incidents"]  # waits for the first load to commit

    with pg_store.writer() as w:
        w.stage(INCIDENTS, frame)
        assert w.first_load == {"incidents"}
        thread = threading.Thread(target=writer_b)
        thread.start()
        assert b_staged.wait(60), "the second writer was blocked while staging"
        time.sleep(0.5)
        assert "b" not in seen  # its upsert waits for this transaction
        a = w.finish()["incidents"]
    thread.join(60)
    assert not thread.is_alive()
    assert seen["b_first_load"] == set()
    assert (a.inserted, a.updated, a.unchanged) == (3_000, 0, 0)
    b = seen["b"]
    assert (b.inserted, b.updated, b.unchanged) == (500, 0, 500)
    assert pg_store.count(INCIDENTS) == 3_500


def test_interrupted_first_load_leaves_the_table_empty_and_the_store_usable(
    pg_store: PostgisStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    before = index_defs(pg_url, pg_store.schema)

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), pg_store.writer() as w:
        w.stage(INCIDENTS, make_incidents(1_000, seed=1))
        assert w.first_load == {"incidents"}
        raise Boom  # as an ingest's after_chunk hook raising after its first chunk
    assert pg_store.count(INCIDENTS) == 0
    assert index_defs(pg_url, pg_store.schema) == before
    result = write(pg_store, INCIDENTS, make_incidents(1_000, seed=1))
    assert result["incidents"].inserted == 1_000
    assert index_defs(pg_url, pg_store.schema) == before
