"""Ingest into PostGIS: ``geo.ingest.ingest_file`` against ogr2ogr and GeoPandas ``to_postgis``.

Both sides start from the same synthetic incident CSV (the rows of
tests/geo/test_ingest_large.py, all inside Blackburn with Darwen) and end
with the rows committed in PostGIS.

* **ours**: ``ingest_file(store, "incidents", csv)`` into a freshly created
  and initialised schema of a :class:`geo.store.postgis.PostgisStore`: read
  the CSV in chunks, check every row (ids, duplicates, dates, coordinates,
  study area), H3 res-12 cells, ward/LSOA/district assignment, content
  hashes, then (the table being empty) the first-load path: one binary COPY,
  open across chunks, straight into the table with its key and indexes
  dropped, then the key, a GIST and three B-tree indexes built. Then the same file again
  (**re-ingest**, binary COPY into a staging table and one upsert), which
  must change nothing. The write half is timed too: the time inside
  ``PostgisWriter.stage`` plus the last phase (indexes, commit). On a first
  load the encoding and COPY run on their own thread, overlapped with the
  checks, so ``stage`` counts only their hand-over and the last phase starts
  by waiting for the COPY to end.
* **peer ogr2ogr** (GDAL, Debian ``gdal-bin``): ``ogr2ogr -f PostgreSQL PG:...
  file.csv -oo X_POSSIBLE_NAMES=lng -oo Y_POSSIBLE_NAMES=lat -a_srs
  EPSG:4326 -lco GEOMETRY_NAME=geom -nln incidents`` with ``PG_USE_COPY=YES``;
  it builds a GIST index on the geometry (GDAL's default). Text columns
  stay text, no key of the file's own, no checks.
* **limit**: bare psycopg, no checks: the rows ours stored (fetched once by
  ``COPY ... TO STDOUT (FORMAT binary)``, untimed) sent back by one binary
  COPY into an empty copy of the table without its key or indexes, then the
  key and the four indexes built, then commit. The server's share of a
  first load.
* **peer**: ``pd.read_csv`` + ``gpd.points_from_xy`` + ``GeoDataFrame.to_postgis(
  if_exists="replace", chunksize=...)`` through SQLAlchemy and psycopg 3
  (``postgresql+psycopg://``). GeoPandas writes with COPY too; GeoAlchemy2
  creates a GIST index on the geometry. No key, no checks, no H3, no areas.
  Its write step (``to_postgis`` alone) is timed inside the same runs.

Each side has its own schema; all are dropped at the end.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import geopandas as gpd
import harness
import pandas as pd
import psycopg
import sqlalchemy
from harness import (
    StageTimer,
    Timing,
    check_loaded,
    check_unchanged,
    compare,
    cpu_usage,
    find_ogr2ogr,
    log,
    timed,
    write_incidents,
)
from psycopg import sql

from geo import schemas
from geo.ingest import IngestReport, ingest_file
from geo.store.postgis import PostgisStore, PostgisWriter

TABLE = "incidents"
WARMUP_ROWS = 20_000
SETTLE_TIMEOUT_S = 60.0

OURS = "ours: ingest_file (read + check + H3 + areas + COPY + upsert)"
OURS_UPSERT = "ours: of which upsert + index build + commit"
OURS_WRITE = "ours: of which write half (binary COPY + upsert/index build + commit)"
OURS_AGAIN = "ours: re-ingest same file (nothing changes)"
OURS_AGAIN_UPSERT = "ours: of which upsert (all unchanged) + commit"
PEER = "peer: read_csv + points_from_xy + to_postgis"
PEER_WRITE = "peer: to_postgis write step alone"
PEER_READ = "peer: read_csv + points_from_xy alone"
OGR = "peer: ogr2ogr -f PostgreSQL (COPY, GIST index)"
LIMIT = "limit: binary COPY into the empty table + its key and index builds (bare psycopg)"


def sqlalchemy_url(pg_url: str) -> str:
    """The same server for SQLAlchemy with the psycopg 3 driver."""
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def _drop_schema(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _create_schema(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def settle(pg_url: str, vacuum: str | None = None) -> None:
    """Quiet the server before a timed run (never timed itself).

    ``VACUUM (ANALYZE)`` the table just loaded into schema ``vacuum``, so that
    autovacuum does not pick it up in the middle of the next timed run (of
    either side), then ``CHECKPOINT`` so that neither side pays for the other's
    dirty pages, then wait for any autovacuum worker in this database to end.
    """
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if vacuum is not None:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(vacuum, TABLE)))
        with suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'autovacuum worker' AND datname = current_database()"
            ).fetchone()
            if not row or row[0] == 0:
                break
            time.sleep(0.5)


def _table_facts(pg_url: str, schema: str) -> dict[str, Any]:
    """Rows, indexes and size of the loaded table (outside any timing)."""
    table = sql.Identifier(schema, TABLE)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s"
            " ORDER BY indexname",
            [schema, TABLE],
        ).fetchall()
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, TABLE],
        ).fetchall()
        size = conn.execute(
            "SELECT pg_total_relation_size(%s::regclass)", [f'"{schema}"."{TABLE}"']
        ).fetchone()
    return {
        "rows": int(count[0]) if count else 0,
        "indexes": [r[0].replace(f"{schema}.", "<schema>.") for r in indexes],
        "columns": [f"{name} {kind}" for name, kind in columns],
        "total_size_mb": round(int(size[0]) / 2**20, 1) if size else None,
    }


class Ours:
    """One fresh schema per run: create, init (untimed), ingest, re-ingest (timed)."""

    def __init__(self, pg_url: str, schema: str, quarantine: Path) -> None:
        self.pg_url = pg_url
        self.schema = schema
        self.quarantine = quarantine
        self.stage = StageTimer(PostgisWriter)

    def fresh_store(self) -> PostgisStore:
        _drop_schema(self.pg_url, self.schema)
        store = PostgisStore(f"{self.pg_url}?schema={self.schema}")
        store.init()  # creates schema, tables, indexes and opens the pool: not timed
        return store

    def _ingest(self, store: PostgisStore, csv: Path) -> tuple[float, float, IngestReport]:
        """Seconds for the whole ingest, and for its last phase (upsert, indexes, commit).

        The last phase is timed from the last chunk staged (``after_chunk``) to
        the return; everything before it is read + check + H3 + areas + COPY.
        """
        marks: list[float] = []

        def go() -> IngestReport:
            report = ingest_file(
                store,
                "incidents",
                csv,
                quarantine_dir=self.quarantine,
                after_chunk=lambda _staged: marks.append(time.perf_counter()),
            )
            marks.append(time.perf_counter())
            return report

        with self.stage.active():
            seconds, report = timed(go)
        return seconds, marks[-1] - marks[-2], report

    def run(self, csv: Path, rows: int) -> dict[str, float]:
        """One fresh load and one re-ingest; seconds of each and of their last phase."""
        store = self.fresh_store()
        try:
            settle(self.pg_url)
            first_s, first_upsert_s, report = self._ingest(store, csv)
            first_write_s = self.stage.seconds + first_upsert_s
            check_loaded(report, rows)
            settle(self.pg_url, vacuum=self.schema)
            again_s, again_upsert_s, again = self._ingest(store, csv)
            check_unchanged(again, store.count(schemas.INCIDENTS), rows)
        finally:
            store.close()
        settle(self.pg_url, vacuum=self.schema)
        return {
            OURS: first_s,
            OURS_UPSERT: first_upsert_s,
            OURS_WRITE: first_write_s,
            OURS_AGAIN: again_s,
            OURS_AGAIN_UPSERT: again_upsert_s,
        }


class Peer:
    """GeoPandas: read the CSV, build points, ``to_postgis(if_exists="replace")``."""

    def __init__(self, pg_url: str, engine: sqlalchemy.Engine, schema: str, chunksize: int) -> None:
        self.pg_url = pg_url
        self.engine = engine
        self.schema = schema
        self.chunksize = chunksize

    def run(self, csv: Path) -> tuple[float, float, int]:
        """End-to-end seconds, write-step seconds, rows read."""
        state: dict[str, Any] = {}

        def read() -> None:
            frame = pd.read_csv(csv, parse_dates=["occurred_at"])
            state["gdf"] = gpd.GeoDataFrame(
                frame,
                geometry=gpd.points_from_xy(frame["lng"], frame["lat"]),
                crs="EPSG:4326",
            )

        def write() -> None:
            state["gdf"].to_postgis(
                TABLE,
                self.engine,
                schema=self.schema,
                if_exists="replace",
                index=False,
                chunksize=self.chunksize,
            )

        settle(self.pg_url)
        read_s, _ = timed(read)
        write_s, _ = timed(write)
        settle(self.pg_url, vacuum=self.schema)
        return read_s + write_s, write_s, len(state.pop("gdf"))


def libpq_conninfo(pg_url: str, schema: str) -> str:
    """GDAL's ``PG:`` connection string for the server of ``pg_url``, in ``schema``."""
    parts = urlsplit(pg_url)
    pieces = [f"dbname={parts.path.lstrip('/') or 'postgres'}", f"active_schema={schema}"]
    if parts.hostname:
        pieces.append(f"host={parts.hostname}")
    if parts.port:
        pieces.append(f"port={parts.port}")
    if parts.username:
        pieces.append(f"user={parts.username}")
    if parts.password:
        pieces.append(f"password={parts.password}")
    return "PG:" + " ".join(pieces)


class Ogr:
    """``ogr2ogr -f PostgreSQL`` with COPY, into its own schema (table replaced each run)."""

    def __init__(self, pg_url: str, schema: str) -> None:
        self.pg_url = pg_url
        self.schema = schema
        self.exe, self.version = find_ogr2ogr()

    def command(self, csv: Path) -> list[str]:
        return [
            self.exe,
            "-f",
            "PostgreSQL",
            libpq_conninfo(self.pg_url, self.schema),
            str(csv),
            "-oo",
            "X_POSSIBLE_NAMES=lng",
            "-oo",
            "Y_POSSIBLE_NAMES=lat",
            "-a_srs",
            "EPSG:4326",
            "-lco",
            "GEOMETRY_NAME=geom",
            "-lco",
            f"SCHEMA={self.schema}",
            "-nln",
            TABLE,
            "-overwrite",
        ]

    def run(self, csv: Path) -> float:
        env = {**os.environ, "PG_USE_COPY": "YES"}
        settle(self.pg_url)
        seconds, _ = timed(
            lambda: subprocess.run(self.command(csv), env=env, check=True, capture_output=True)
        )
        settle(self.pg_url, vacuum=self.schema)
        return seconds


class Limit:
    """Bare psycopg: the stored rows back by one binary COPY into the empty table, then its key."""

    def __init__(self, pg_url: str, schema: str, data: Path) -> None:
        self.pg_url = pg_url
        self.schema = schema
        self.data = data
        self.columns: list[str] = []

    def capture(self, source_schema: str) -> None:
        """The rows ours stored, as binary COPY data in a file (untimed, once)."""
        self.columns = [c.name for c in schemas.INCIDENTS.columns] + ["geom"]
        cols = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        with psycopg.connect(self.pg_url) as conn, self.data.open("wb") as out:
            statement = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
                cols, sql.Identifier(source_schema, TABLE)
            )
            with conn.cursor().copy(statement) as copy:
                for block in copy:
                    out.write(block)

    def run(self) -> float:
        _drop_schema(self.pg_url, self.schema)
        PostgisStore(f"{self.pg_url}?schema={self.schema}").init()
        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            defs = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s"
                " AND tablename = %s AND indexname <> %s",
                [self.schema, TABLE, f"{TABLE}_pkey"],
            ).fetchall()
            for name, _ in defs:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(self.schema, name)))
            table = sql.Identifier(self.schema, TABLE)
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT incidents_pkey").format(table))
            add_key = sql.SQL(
                "ALTER TABLE {} ADD CONSTRAINT incidents_pkey PRIMARY KEY (incident_id)"
            ).format(table)
        settle(self.pg_url)
        cols = sql.SQL(", ").join(map(sql.Identifier, self.columns))
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(self.schema, TABLE), cols
        )

        def load() -> None:
            with psycopg.connect(self.pg_url) as conn:
                with conn.cursor().copy(statement) as copy, self.data.open("rb") as f:
                    while block := f.read(1 << 23):
                        copy.write(block)
                conn.execute("SET maintenance_work_mem = '128MB'")
                conn.execute(add_key)
                for _, definition in defs:
                    conn.execute(definition.encode())
                conn.commit()

        seconds, _ = timed(load)
        settle(self.pg_url, vacuum=self.schema)
        return seconds


def run(rows: int, pg_url: str, repeat: int, chunksize: int) -> list[dict[str, Any]]:
    """The ingest benchmark; one result dict."""
    tag = f"{os.getpid()}"
    ours_schema, peer_schema = f"bench_ours_{tag}", f"bench_peer_{tag}"
    ogr_schema, limit_schema = f"bench_ogr_{tag}", f"bench_limit_{tag}"
    engine = sqlalchemy.create_engine(sqlalchemy_url(pg_url))
    names = (
        OURS,
        OURS_UPSERT,
        OURS_WRITE,
        OURS_AGAIN,
        OURS_AGAIN_UPSERT,
        OGR,
        PEER,
        PEER_WRITE,
        PEER_READ,
        LIMIT,
    )
    cases = {name: Timing() for name in names}
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp:
        work = Path(tmp)
        log(f"Ingest: writing {rows:,} synthetic incidents to CSV")
        csv = write_incidents(work / "incidents.csv", rows)
        warm = write_incidents(work / "warmup.csv", min(rows, WARMUP_ROWS))
        meta["csv_mb"] = round(csv.stat().st_size / 2**20, 1)
        ours = Ours(pg_url, ours_schema, work / "quarantine")
        peer = Peer(pg_url, engine, peer_schema, chunksize)
        ogr = Ogr(pg_url, ogr_schema)
        limit = Limit(pg_url, limit_schema, work / "limit.bin")
        meta["ogr2ogr"] = ogr.version
        meta["ogr2ogr_command"] = " ".join(
            ["PG_USE_COPY=YES", "ogr2ogr", *ogr.command(Path("incidents.csv"))[1:]]
        ).replace(libpq_conninfo(pg_url, ogr_schema), "PG:...")
        try:
            for schema in (peer_schema, ogr_schema):
                _drop_schema(pg_url, schema)
                _create_schema(pg_url, schema)
            log("Ingest: warm-up (one small run each side)")
            ours.run(warm, min(rows, WARMUP_ROWS))
            peer.run(warm)
            ogr.run(warm)
            with cpu_usage(meta):
                for r in range(repeat):
                    order = ["ours", "ogr", "peer", "limit"]
                    sides = order[r % len(order) :] + order[: r % len(order)]
                    if r == 0:
                        sides = order  # ours first: the limit replays what ours stored
                    for side in sides:
                        if side == "limit":
                            if not limit.columns:
                                limit.capture(ours_schema)
                            seconds = limit.run()
                            cases[LIMIT].samples.append(seconds)
                            log(f"  run {r + 1}/{repeat} limit: {seconds:.2f} s")
                        elif side == "ogr":
                            seconds = ogr.run(csv)
                            cases[OGR].samples.append(seconds)
                            log(f"  run {r + 1}/{repeat} ogr2ogr: {seconds:.2f} s")
                        elif side == "ours":
                            got = ours.run(csv, rows)
                            for name, seconds in got.items():
                                cases[name].samples.append(seconds)
                            log(
                                f"  run {r + 1}/{repeat} ours: {got[OURS]:.2f} s "
                                f"(write {got[OURS_WRITE]:.2f} s, "
                                f"of which indexes + commit {got[OURS_UPSERT]:.2f} s), "
                                f"again {got[OURS_AGAIN]:.2f} s"
                            )
                        else:
                            total, write, n = peer.run(csv)
                            if n != rows:
                                msg = f"peer read {n} rows instead of {rows}"
                                raise SystemExit(msg)
                            cases[PEER].samples.append(total)
                            cases[PEER_WRITE].samples.append(write)
                            cases[PEER_READ].samples.append(total - write)
                            log(f"  run {r + 1}/{repeat} peer: {total:.2f} s (write {write:.2f} s)")
            meta["tables"] = {
                "ours": _table_facts(pg_url, ours_schema),
                "peer": _table_facts(pg_url, peer_schema),
                "ogr2ogr": _table_facts(pg_url, ogr_schema),
                "limit": _table_facts(pg_url, limit_schema),
            }
            for side, facts in meta["tables"].items():
                if facts["rows"] != rows:
                    msg = f"{side}: table holds {facts['rows']} rows, expected {rows}"
                    raise SystemExit(msg)
        finally:
            engine.dispose()
            for schema in (ours_schema, peer_schema, ogr_schema, limit_schema):
                _drop_schema(pg_url, schema)
            log("Ingest: benchmark schemas dropped")
    return [
        {
            "title": "Ingest into PostGIS",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in cases.items()},
            "ratios": [
                compare(cases, OURS, PEER, goal=2.0),
                compare(cases, OURS, OGR, goal=1.5),
                compare(cases, OURS, PEER_WRITE),
                compare(cases, OURS_WRITE, OGR),
                compare(cases, OURS_WRITE, LIMIT),
            ],
            "limits": [
                harness.limit(
                    "binary COPY of the same table shape into the empty table + its key and "
                    "index builds (bare psycopg, no checks)",
                    cases[LIMIT].median,
                    cases[OURS].median,
                )
            ],
            "notes": (
                "Ours checks every row, indexes H3, assigns ward/LSOA/district and loads a keyed "
                "table with 5 indexes (first load: one binary COPY straight in, key and "
                "indexes built after; re-ingest: staged upsert); to_postgis and ogr2ogr only "
                "insert into an unkeyed table with one GIST index. Each ours run starts from a "
                "freshly initialised schema (init not timed); the peers replace their tables. "
                "The limit replays the rows ours stored by one binary COPY and builds the same "
                "key and indexes."
            ),
            "peer_chunksize": chunksize,
            **meta,
        }
    ]
