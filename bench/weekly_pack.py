"""Weekly pack wall time on stores of 1,000,000 and 10,000,000 episodes: GeoPackage and PostGIS.

There is no named peer for the whole use case, so the two stores of the
product are timed against each other on the same data (**GeoPackage seconds
/ PostGIS seconds**, above 1: the PostGIS store is faster), and each store
against itself ten times larger (**10M seconds / 1M seconds**, the goal: at
most 1.5, since indexes and not scans find the pack's window).

Setup (untimed, but timed and reported):

* **Scenario.** ``geo.simulate.simulate`` for 520 weeks (2016-10-03 to
  2026-09-20, Blackburn with Darwen) with seeds 1000, 1001, ... until the
  episodes reach ``--rows``; every id is prefixed with its seed (``S007-EP-...``,
  ``S007-SYN-C0001``, ``S007-V-003``...), so each seed is another set of
  children, venues and intelligence on the same borough. Then exactly
  ``--rows`` episodes are kept (uniform random drop of the excess, seeded)
  and written as the four CSV files of ``engage demo``, in last-seen order.
  At 1,000,000 episodes that is 118 simulated boroughs: about 1,900
  episodes a week, where the real borough has about 16.
* **Stores of ``--rows``.** ``api.usecases.ingest.ingest_files`` of the four
  files in ``DEMO_ORDER`` into a new GeoPackage and into a new PostGIS schema,
  with the pseudonym key of ``ENGAGE_PSEUDONYM_KEY`` or, when unset, a random
  key held in this process only (never written). Then ``VACUUM (ANALYZE)``
  of the PostGIS tables.
* **Stores of ``--scale`` x ``--rows``** (default 10x): the smaller store grown
  with older history (:func:`grow_postgis`, :func:`grow_gpkg`): copies of its
  episodes, venue reports and disruptions dated before
  :data:`HISTORY_END` with their ids and child pseudonyms prefixed, the
  last copy cut to the episodes wanted; indexes rebuilt after the copy,
  then ``VACUUM (ANALYZE)``. The data window, and the venues, are the
  smaller store's, so the two packs must be equal (checked), and the time
  follows the store's size alone. (Ten times the boroughs over the same
  weeks would put ten times the episodes in the window, and measure the
  model rather than the store.)
* **Kept stores** (``--keep-stores``): built once in ``--cache-dir``
  (default ``$ENGAGE_BENCH_WEEKLY_CACHE`` or ``~/.cache/engage-bench``) and
  schemas ``bench_weekly_<episodes>``, marked with their parameters
  (``gpkg.json``, table ``bench_weekly_marker``), and reused while the marks
  match (after ``init_store``, which upgrades an older store as ``engage
  init`` does). Without it, everything is built in a temporary folder and
  schemas dropped at the end.
* **Plans.** The plans of the pack's store reads (latest episode, window's
  episodes and venue reports) at each size, from ``read_plan`` and
  ``time_bounds_plan``; ``plans_use_indexes`` says whether any is a scan.

Timed: ``api.usecases.week.weekly(location, week=None, out_dir=..., settings=...)``
with the default parameters (KDE, res 9, bin res 11, bandwidth by the
spatial Silverman rule, 12-week lookback, neighbourhood audience): it finds
the patrol week (the week after the last episode), reads the window's events,
runs the model and writes map.html, pack.pdf, targets.csv,
hotspots.geojson and run.json, and records the run in the store. One
warm-up run per store and size first, whose targets, counts and parameters
must all be equal; then ``--repeat`` runs each, interleaved in alternating
order, each after a ``CHECKPOINT`` (:func:`ingest_postgis.settle`).

Breakdown, measured inside the same runs by wrapping (timer only) the store
classes' ``read`` and the functions ``weekly`` calls:

* **patrol week**: ``latest_week`` (opens the store and reads the latest
  ``last_seen_at`` from one end of its index);
* **store reads**: the other ``Store.read`` calls (the window's episodes and
  venue reports, the venues);
* **model**: ``grid_for`` (cells and wards), ``run_hotspots`` (weights and
  KDE) and ``rank_targets``;
* **outputs**: ``write_map``, ``build_pack``, ``write_targets_csv`` and
  ``write_hotspots_geojson``;
* **other**: the rest (opening and initialising the store for the reads
  and again for the run record, selecting and projecting the window's
  events, the summary, run.json, the run record).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from harness import Timing, compare, cpu_usage, log
from ingest_postgis import settle
from psycopg import sql

WEEKS = 520
START = date(2016, 10, 3)  # a Monday; 520 weeks end on Sunday 2026-09-20
FIRST_SEED = 1000
DROP_SEED = 1
ID_COLUMNS = ("episode_id", "child_id", "venue_id", "report_id", "disruption_id")
FILES = ("venues", "venue_reports", "disruptions", "episodes")

GPKG = "GeoPackage store: weekly()"
PG = "PostGIS store: weekly()"
PHASES = ("patrol week", "store reads", "model", "outputs", "other")


def write_scenario(out: Path, episodes: int) -> dict[str, Any]:
    """The four CSV files with exactly ``episodes`` episodes; counts and seconds."""
    from geo.simulate import simulate

    started = time.perf_counter()
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in FILES}
    total, seed = 0, FIRST_SEED
    while total < episodes:
        one = out / f"seed_{seed}"
        files = simulate(one, seed=seed, weeks=WEEKS, start=START)
        prefix = f"S{seed - FIRST_SEED:03d}-"
        for name in FILES:
            frame = pd.read_csv(one / f"{name}.csv", dtype=str, keep_default_na=False)
            for col in ID_COLUMNS:
                if col in frame.columns:
                    frame[col] = prefix + frame[col]
            parts[name].append(frame)
        shutil.rmtree(one)
        total += files.n_episodes
        seed += 1
    counts = {}
    for name in FILES:
        frame = pd.concat(parts.pop(name), ignore_index=True)
        if name == "episodes":
            keep = np.random.default_rng(DROP_SEED).choice(len(frame), episodes, replace=False)
            frame = frame.iloc[np.sort(keep)].sort_values(
                ["last_seen_at", "episode_id"], kind="stable"
            )
        frame.to_csv(out / f"{name}.csv", index=False)
        counts[name] = len(frame)
    return {
        "seeds": seed - FIRST_SEED,
        "weeks": WEEKS,
        "start": START.isoformat(),
        "rows": counts,
        "episodes_mb": round((out / "episodes.csv").stat().st_size / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


HISTORY_END = pd.Timestamp("2025-01-06", tz="UTC")
"""Rows of the history end before this Monday: more than five months before the data
window of the recent scenario's patrol week (52 weeks before 2026-09-21, and the 90 days
its episode read is widened by)."""


HISTORY_TABLES = {
    "episodes": ("last_seen_at", ("episode_id", "child_ref")),
    "venue_reports": ("reported_at", ("report_id",)),
    "disruptions": ("disrupted_at", ("disruption_id",)),
}
"""Tables the history copies: time column, and the ids each copy prefixes."""


def _history_plan(older: int, wanted: int) -> list[int | None]:
    """Rows of each episode copy: whole copies, the last one cut to what is still wanted."""
    if wanted <= 0:
        return []
    if older == 0:
        msg = f"no episodes before {HISTORY_END.date()} to grow the store with"
        raise SystemExit(msg)
    copies = -(-wanted // older)
    return [None] * (copies - 1) + [wanted - (copies - 1) * older]


def _copy_select(
    columns: list[str], ids: tuple[str, ...], prefix: str, quote: Callable[[str], str]
) -> str:
    return ", ".join(f"'{prefix}' || {quote(c)}" if c in ids else quote(c) for c in columns)


def grow_postgis(pg_url: str, source: str, target: str, episodes: int) -> dict[str, Any]:
    """Schema ``target``: a copy of store ``source`` plus older history, ``episodes`` in all.

    The history is copies of the source's rows dated before
    :data:`HISTORY_END` (episodes, venue reports, disruptions), copy ``k`` with
    its ids and child pseudonyms prefixed ``Hkk-`` (other children, reports and
    actions at the same venues), the last copy cut to the episodes still
    wanted (by a hash of the id). No history row falls in or near the pack's
    data window, and the venues table (a reference table the targets'
    nearest-venue look-up reads whole) is the source's, so the larger store's
    pack must equal the smaller's. Copied in SQL with the large tables'
    indexes dropped and rebuilt once, as a bulk load would.
    """
    from api.usecases.store import init_store

    started = time.perf_counter()
    _drop_schema(pg_url, target)
    init_store(f"{pg_url}?schema={target}")
    src = sql.Identifier(source)
    dst = sql.Identifier(target)
    end = HISTORY_END.to_pydatetime()
    facts: dict[str, Any] = {}
    plan: list[int | None] = []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for table in ("venues", "incidents", "engage_features", "engage_meta", *HISTORY_TABLES):
            t = sql.Identifier(table)
            conn.execute(sql.SQL("DELETE FROM {}.{}").format(dst, t))
            indexes = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
                "AND tablename = %s ORDER BY indexname",
                [target, table],
            ).fetchall()
            pkey = f"{table}_pkey"
            for name, _ in indexes:
                if name == pkey:
                    conn.execute(
                        sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
                            dst, t, sql.Identifier(name)
                        )
                    )
                else:
                    conn.execute(sql.SQL("DROP INDEX {}.{}").format(dst, sql.Identifier(name)))
            conn.execute(sql.SQL("INSERT INTO {}.{} SELECT * FROM {}.{}").format(dst, t, src, t))
            if table in HISTORY_TABLES:
                time_col, ids = HISTORY_TABLES[table]
                columns = [
                    r[0]
                    for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns WHERE "
                        "table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                        [source, table],
                    )
                ]
                where = sql.SQL("{} < %s").format(sql.Identifier(time_col))
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.{} WHERE {}").format(src, t, where), [end]
                ).fetchone()
                older = int(row[0]) if row else 0
                if table == "episodes":
                    plan = _history_plan(older, episodes - _pg_count(conn, src, t))
                    facts["history_copies"] = len(plan)
                for k, limit in enumerate(plan):
                    select = _copy_select(columns, ids, f"H{k:02d}-", lambda c: f'"{c}"')
                    query = sql.SQL("INSERT INTO {}.{} SELECT {} FROM {}.{} WHERE {}").format(
                        dst,
                        t,
                        sql.SQL(select),
                        src,
                        t,
                        where,  # type: ignore[arg-type]
                    )
                    if limit is not None and table == "episodes":
                        query = query + sql.SQL(" ORDER BY md5({}) LIMIT {}").format(
                            sql.Identifier(ids[0]), sql.Literal(limit)
                        )
                    conn.execute(query, [end])
            for name, definition in indexes:
                if name == pkey:
                    key = definition[definition.rindex("(") + 1 : definition.rindex(")")]
                    conn.execute(
                        sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                            dst,
                            t,
                            sql.Identifier(name),
                            sql.SQL(key),  # type: ignore[arg-type]
                        )
                    )
                else:
                    conn.execute(definition)  # type: ignore[arg-type]
            facts[table] = _pg_count(conn, dst, t)
    _vacuum_schema(pg_url, target)
    facts["seconds"] = round(time.perf_counter() - started, 1)
    return facts


def _pg_count(conn: psycopg.Connection[Any], schema: sql.Identifier, table: sql.Identifier) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(schema, table)).fetchone()
    return int(row[0]) if row else 0


def grow_gpkg(source: Path, target: Path, episodes: int) -> dict[str, Any]:
    """GeoPackage ``target``: a copy of ``source`` plus the history of :func:`grow_postgis`.

    The large tables' indexes, R-tree and its triggers are dropped for the
    copy and made again (and the R-tree filled) by ``GpkgStore.init``.
    """
    import sqlite3

    import geo.schemas as geo_schemas
    import geo.store.gpkg as gpkg_module
    from geo.store.gpkg import GpkgStore

    started = time.perf_counter()
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    end = HISTORY_END.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    facts: dict[str, Any] = {}
    plan: list[int | None] = []
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute("PRAGMA cache_size = -1048576")
        conn.execute("BEGIN")
        conn.execute("DELETE FROM runs")
        for table, (time_col, ids) in HISTORY_TABLES.items():
            objects = conn.execute(
                "SELECT type, name FROM sqlite_master WHERE tbl_name = ? AND type IN "
                "('index', 'trigger') AND sql IS NOT NULL",
                [table],
            ).fetchall()
            for kind, name in objects:
                conn.execute(f'DROP {kind.upper()} "{name}"')
            conn.execute(f'DROP TABLE IF EXISTS "rtree_{table}_geom"')
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')][1:]  # no fid
            older = conn.execute(
                f'SELECT count(*) FROM "{table}" WHERE "{time_col}" < ?', [end]
            ).fetchone()[0]
            if table == "episodes":
                have = conn.execute('SELECT count(*) FROM "episodes"').fetchone()[0]
                plan = _history_plan(int(older), episodes - int(have))
                facts["history_copies"] = len(plan)
            last_fid = conn.execute(f'SELECT max(fid) FROM "{table}"').fetchone()[0] or 0
            names = ", ".join(f'"{c}"' for c in columns)
            for k, limit in enumerate(plan):
                select = _copy_select(columns, ids, f"H{k:02d}-", lambda c: f'"{c}"')
                query = (
                    f'INSERT INTO "{table}" ({names}) SELECT {select} FROM "{table}" '
                    f'WHERE fid <= ? AND "{time_col}" < ?'
                )
                if limit is not None and table == "episodes":
                    query += f" ORDER BY (fid * 2654435761) % 4294967311 LIMIT {int(limit)}"
                conn.execute(query, [last_fid, end])
            facts[table] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        conn.execute("COMMIT")
        # The indexes of the layout, built once on a large cache, and the R-tree filled from
        # the point columns (the geometry is made from the same lat/lng), before init adds
        # the triggers and finds nothing else to do.
        conn.execute("BEGIN")
        for table in HISTORY_TABLES:
            for ddl in gpkg_module._table_ddl(geo_schemas.TABLES[table]):
                conn.execute(ddl)
            prefix = geo_schemas.TABLES[table].points[:1]
            if prefix:
                p = prefix[0]
                conn.execute(
                    f'CREATE VIRTUAL TABLE "rtree_{table}_geom" '
                    "USING rtree(id, minx, maxx, miny, maxy)"
                )
                conn.execute(
                    f'INSERT INTO "rtree_{table}_geom" SELECT fid, "{p}lng", "{p}lng", "{p}lat", '
                    f'"{p}lat" FROM "{table}" WHERE geom IS NOT NULL'
                )
        conn.execute("COMMIT")
    finally:
        conn.close()
    store = GpkgStore(target)
    try:
        store.init()
    finally:
        store.close()
    facts["file_mb"] = round(target.stat().st_size / 2**20, 1)
    facts["seconds"] = round(time.perf_counter() - started, 1)
    return facts


def build_store(location: str, scenario: Path, settings: Any, key: str) -> dict[str, Any]:
    """Ingest the four files with ``ingest_files``; seconds per kind."""
    from api.usecases.demo import DEMO_ORDER
    from api.usecases.ingest import ingest_files

    out: dict[str, Any] = {}
    started = time.perf_counter()
    for kind, name in DEMO_ORDER:
        t0 = time.perf_counter()
        (report,) = ingest_files(location, kind, [scenario / name], settings=settings, key=key)
        if report.rows_quarantined:
            msg = f"{kind}: {report.rows_quarantined} rows quarantined; expected none"
            raise SystemExit(msg)
        out[kind] = {"rows": report.rows_stored, "seconds": round(time.perf_counter() - t0, 1)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


class Phases:
    """Wrap (timer only) what ``weekly`` calls, and sum seconds per phase."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(PHASES[:-1], 0.0)
        self.calls: dict[str, int] = {}
        self.detail_s: dict[str, float] = {}
        self._depth = 0

    def _wrap(self, phase: str, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if self._depth:  # nested inside another timed call: counted there
                return fn(*args, **kwargs)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - t0
                self.seconds[phase] += seconds
                detail = label
                if phase == "store reads" and len(args) > 1:  # (self, table, ...)
                    cols = kwargs.get("columns")
                    window = kwargs.get("window")
                    detail = (
                        f"read {args[1].name}"
                        f"{' ' + ','.join(cols) if cols else ' (all columns)'}"
                        f"{' in window' if window is not None else ''}"
                    )
                self.calls[detail] = self.calls.get(detail, 0) + 1
                self.detail_s[detail] = self.detail_s.get(detail, 0.0) + seconds
                self._depth -= 1

        return timed_call

    def reset(self) -> None:
        self.seconds = dict.fromkeys(PHASES[:-1], 0.0)
        self.calls = {}
        self.detail_s = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import api.usecases.week
        import models.weekly
        from geo.store.gpkg import GpkgStore
        from geo.store.postgis import PostgisStore

        targets = [
            (api.usecases.week, "latest_week", "patrol week"),
            (GpkgStore, "read", "store reads"),
            (PostgisStore, "read", "store reads"),
            (api.usecases.week, "grid_for", "model"),
            (models.weekly, "run_hotspots", "model"),
            (models.weekly, "rank_targets", "model"),
            (api.usecases.week, "write_map", "outputs"),
            (api.usecases.week, "build_pack", "outputs"),
            (api.usecases.week, "write_targets_csv", "outputs"),
            (api.usecases.week, "write_hotspots_geojson", "outputs"),
        ]
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets]
        try:
            for owner, name, phase in targets:
                label = f"{getattr(owner, '__name__', owner)}.{name}"
                setattr(owner, name, self._wrap(phase, getattr(owner, name), label))
            yield
        finally:
            for owner, name, fn in saved:
                setattr(owner, name, fn)


def one_weekly(
    location: str, out_dir: Path, settings: Any, phases: Phases, pg_url: str
) -> tuple[float, dict[str, float], Any]:
    """One timed ``weekly`` run; seconds, seconds per phase, its result."""
    from api.usecases.week import weekly

    settle(pg_url)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    phases.reset()
    gc.collect()
    t0 = time.perf_counter()
    result = weekly(location, week=None, out_dir=out_dir, settings=settings)
    seconds = time.perf_counter() - t0
    split = dict(phases.seconds)
    split["other"] = seconds - sum(split.values())
    return seconds, split, result


def same_outputs(a: Any, b: Any) -> dict[str, Any]:
    """The two stores' packs agree: week, counts, parameters and the target list."""
    problems = []
    for key in ("week", "counts", "parameters", "data_window"):
        if a.run[key] != b.run[key]:
            problems.append(f"{key}: {a.run[key]!r} != {b.run[key]!r}")
    try:
        pd.testing.assert_frame_equal(
            a.targets.reset_index(drop=True),
            b.targets.reset_index(drop=True),
            check_exact=False,
            rtol=1e-9,
        )
    except AssertionError as exc:
        problems.append(f"targets differ: {exc}")
    a_csv = a.files["targets"].read_text(encoding="utf-8")
    b_csv = b.files["targets"].read_text(encoding="utf-8")
    if problems:
        msg = "weekly packs differ between the stores: " + "; ".join(problems)
        raise SystemExit(msg)
    return {
        "week": a.run["week"],
        "data_window": a.run["data_window"],
        "counts": a.run["counts"],
        "bandwidth_m": a.run["parameters"].get("bandwidth_m"),
        "bandwidth_rule": a.run["parameters"].get("bandwidth_rule"),
        "targets_csv_identical": a_csv == b_csv,
        "outputs": sorted(p.name for p in a.files.values()),
    }


def _vacuum_schema(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema]
        ).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(schema, table)))


def _drop_schema(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


SCALE = 10
"""The larger store holds this many times ``--rows`` episodes."""
MARKER_TABLE = "bench_weekly_marker"
"""Table in a kept PostGIS schema holding the parameters it was built with."""
KEEP_ENV = "ENGAGE_BENCH_WEEKLY_CACHE"
"""Folder of kept stores (``--keep-stores``): default ``~/.cache/engage-bench``."""


def store_params(size: int, recent: int) -> dict[str, Any]:
    """What a store of ``size`` episodes is built from; a kept store is reused when equal."""
    params: dict[str, Any] = {
        "episodes": size,
        "weeks": WEEKS,
        "start": START.isoformat(),
        "first_seed": FIRST_SEED,
        "drop_seed": DROP_SEED,
    }
    if size != recent:
        params |= {"recent": recent, "history_end": HISTORY_END.date().isoformat()}
    return params


def _read_marker(pg_url: str, schema: str) -> dict[str, Any] | None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s)", [f"{schema}.{MARKER_TABLE}"]).fetchone()
        if not found or found[0] is None:
            return None
        row = conn.execute(
            sql.SQL("SELECT params FROM {}").format(sql.Identifier(schema, MARKER_TABLE))
        ).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def _write_marker(pg_url: str, schema: str, params: dict[str, Any]) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        table = sql.Identifier(schema, MARKER_TABLE)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(sql.SQL("CREATE TABLE {} (params text NOT NULL)").format(table))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (%s)").format(table), [json.dumps(params)])


def _json_file(path: Path) -> dict[str, Any] | None:
    return dict(json.loads(path.read_text())) if path.exists() else None


def prepare(
    size: int,
    recent: int,
    folder: Path,
    pg_url: str,
    schemas_used: dict[int, str],
    settings_for: Callable[[str], Any],
    key: str,
    *,
    keep: bool,
) -> dict[str, Any]:
    """Both stores of ``size`` episodes: ``folder/engage.gpkg`` and ``schemas_used[size]``.

    The stores of ``recent`` episodes are ingested from :func:`write_scenario`'s
    files; larger ones are grown from them (:func:`grow_postgis`,
    :func:`grow_gpkg`), so their pack's window is the same. With ``keep``,
    a store whose marker shows the same parameters is reused (and upgraded by
    ``init_store``, as ``engage init`` would); anything else is (re)built and
    marked. Returns the setup facts.
    """
    from api.usecases.store import init_store

    params = store_params(size, recent)
    meta: dict[str, Any] = {"params": params}
    gpkg = folder / "engage.gpkg"
    schema = schemas_used[size]
    pg_location = f"{pg_url}?schema={schema}"
    built = _json_file(folder / "gpkg.json")
    marker = _read_marker(pg_url, schema)
    gpkg_kept = keep and built is not None and built.get("params") == params and gpkg.exists()
    pg_kept = keep and marker is not None and marker.get("params") == params
    if size == recent and not (gpkg_kept and pg_kept):
        scenario = folder / "scenario"
        if scenario.exists():
            shutil.rmtree(scenario)
        scenario.mkdir(parents=True)
        log(f"Weekly: writing the scenario of {size:,} episodes")
        meta["scenario"] = write_scenario(scenario, size)
        log(f"  {meta['scenario']}")
    if gpkg_kept:
        assert built is not None
        meta["GeoPackage"] = {**built["facts"], "reused": True}
        init_store(str(gpkg), settings=settings_for(str(gpkg)))
    else:
        (folder / "gpkg.json").unlink(missing_ok=True)
        if size == recent:
            log(f"Weekly: ingesting {size:,} episodes into a GeoPackage (untimed setup)")
            gpkg.unlink(missing_ok=True)
            facts = build_store(str(gpkg), folder / "scenario", settings_for(str(gpkg)), key)
            facts["file_mb"] = round(gpkg.stat().st_size / 2**20, 1)
        else:
            log(f"Weekly: growing the GeoPackage to {size:,} episodes (untimed setup)")
            facts = grow_gpkg(folder.parent / f"weekly-{recent}" / "engage.gpkg", gpkg, size)
        (folder / "gpkg.json").write_text(json.dumps({"params": params, "facts": facts}))
        meta["GeoPackage"] = facts
    if pg_kept:
        assert marker is not None
        meta["PostGIS"] = {**marker["facts"], "reused": True}
        init_store(pg_location, settings=settings_for(pg_location))
    else:
        if size == recent:
            _drop_schema(pg_url, schema)
            log(f"Weekly: ingesting {size:,} episodes into PostGIS (untimed setup)")
            facts = build_store(pg_location, folder / "scenario", settings_for(pg_location), key)
            t0 = time.perf_counter()
            _vacuum_schema(pg_url, schema)
            facts["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
        else:
            log(f"Weekly: growing the PostGIS store to {size:,} episodes (untimed setup)")
            facts = grow_postgis(pg_url, schemas_used[recent], schema, size)
        _write_marker(pg_url, schema, {"params": params, "facts": facts})
        meta["PostGIS"] = facts
    log(f"  GeoPackage {meta['GeoPackage']}; PostGIS {meta['PostGIS']}")
    return meta


def window_plans(location: str) -> dict[str, list[str]]:
    """The plans of the pack's store reads: the latest episode and the window's rows."""
    from api.usecases.week import latest_week
    from geo import schemas
    from geo.calendar import patrol_week
    from geo.store import Window, open_store
    from models.events import FOUND_WITHIN
    from models.params import DEFAULTS

    start, _ = patrol_week(latest_week(location))
    data_start = start - pd.Timedelta(weeks=DEFAULTS.lookback_weeks)
    window = Window(data_start.to_pydatetime(), start.to_pydatetime())
    widened = Window((data_start - FOUND_WITHIN).to_pydatetime(), start.to_pydatetime())
    store = open_store(location)
    try:
        return {
            "latest episode (time_bounds)": store.time_bounds_plan(schemas.EPISODES),
            "episodes in the widened window": store.read_plan(schemas.EPISODES, window=widened),
            "venue reports in the window": store.read_plan(schemas.VENUE_REPORTS, window=window),
        }
    finally:
        store.close()


def _uses_index(plan: list[str]) -> bool:
    text = "\n".join(plan)
    return "Seq Scan" not in text and not any(
        line.strip().startswith("SCAN ") and "CONSTANT ROW" not in line for line in plan
    )


def _case(side: str, size: int) -> str:
    return f"{side} ({size:,})"


def run(
    rows: int,
    pg_url: str,
    repeat: int,
    *,
    scale: int = SCALE,
    keep_stores: bool = False,
    cache_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """The weekly pack on stores of ``rows`` and ``scale * rows`` episodes; one result dict.

    ``keep_stores``: build the stores in ``cache_dir`` (default
    ``$ENGAGE_BENCH_WEEKLY_CACHE`` or ``~/.cache/engage-bench``) and PostGIS schemas
    ``bench_weekly_<episodes>``, marked with their parameters, and reuse them
    on later runs when the marks match; else build them in a temporary folder
    and schemas dropped at the end.
    """
    from api.settings import Settings
    from geo.pseudonym import KEY_ENV, generate_key

    sizes = [rows, rows * scale] if scale > 1 else [rows]
    key = os.environ.get(KEY_ENV) or generate_key()  # held in memory only
    cases: dict[str, Timing] = {}
    split_names: dict[tuple[str, int], dict[str, str]] = {}
    for size in sizes:
        for side in (GPKG, PG):
            cases[_case(side, size)] = Timing()
            split_names[side, size] = {
                phase: f"{side.split(':')[0]} ({size:,}): of which {phase}" for phase in PHASES
            }
            for name in split_names[side, size].values():
                cases[name] = Timing()
    meta: dict[str, Any] = {"sizes": sizes, "kept_stores": keep_stores}
    with contextlib.ExitStack() as stack:
        if keep_stores:
            base = cache_dir or Path(
                os.environ.get(KEEP_ENV) or Path.home() / ".cache" / "engage-bench"
            )
            schemas_used = {size: f"bench_weekly_{size}" for size in sizes}
        else:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="engage-weekly-")))
            schemas_used = {size: f"bench_weekly_{os.getpid()}_{size}" for size in sizes}
            for schema in schemas_used.values():
                stack.callback(_drop_schema, pg_url, schema)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="engage-packs-")))
        sides: dict[tuple[str, int], tuple[str, Any]] = {}
        meta["setup"] = {}
        for size in sizes:
            folder = base / f"weekly-{size}"
            folder.mkdir(parents=True, exist_ok=True)

            def settings_for(location: str, folder: Path = folder) -> Any:
                return Settings(store=location, quarantine_dir=folder / "q")

            schema = schemas_used[size]
            meta["setup"][size] = prepare(
                size, rows, folder, pg_url, schemas_used, settings_for, key, keep=keep_stores
            )
            gpkg = str(folder / "engage.gpkg")
            pg = f"{pg_url}?schema={schema}"
            sides[GPKG, size] = (gpkg, settings_for(gpkg))
            sides[PG, size] = (pg, settings_for(pg))
        meta["plans"] = {
            _case(side, size): window_plans(loc) for (side, size), (loc, _) in sides.items()
        }
        meta["plans_use_indexes"] = {
            case: all(_uses_index(p) for p in plans.values())
            for case, plans in meta["plans"].items()
        }
        log(f"Weekly: window reads by index: {meta['plans_use_indexes']}")
        phases = Phases()
        order = list(sides)
        with phases.installed():
            log("Weekly: warm-up (one pack per store and size), outputs compared")
            warm = {
                case: one_weekly(loc, work / f"warm_{i}", st, phases, pg_url)
                for i, (case, (loc, st)) in enumerate(sides.items())
            }
            meta["warmup_s"] = {_case(*case): round(w[0], 2) for case, w in warm.items()}
            first = warm[GPKG, rows][2]
            meta["checks"] = {
                _case(*case): same_outputs(first, w[2])
                for case, w in warm.items()
                if case != order[0]
            }
            counts = first.run["counts"]
            log(f"  every pack agrees with {_case(GPKG, rows)}: {counts}")
            with cpu_usage(meta):
                for r in range(repeat):
                    for case in order if r % 2 == 0 else order[::-1]:
                        location, settings = sides[case]
                        seconds, split, _ = one_weekly(
                            location, work / "pack", settings, phases, pg_url
                        )
                        cases[_case(*case)].samples.append(seconds)
                        for phase, value in split.items():
                            cases[split_names[case][phase]].samples.append(value)
                        detail = meta.setdefault("wrapped_seconds", {})
                        detail.setdefault(_case(*case), []).append(
                            {k: round(v, 3) for k, v in phases.detail_s.items()}
                        )
                        parts = ", ".join(f"{k} {v:.2f}" for k, v in split.items())
                        log(f"  run {r + 1}/{repeat} {_case(*case)}: {seconds:.2f} s ({parts})")
    ratios = [compare(cases, _case(PG, size), _case(GPKG, size)) for size in sizes]
    for size in sizes[1:]:
        for side in (PG, GPKG):
            ratios.append(compare(cases, _case(side, rows), _case(side, size)))
    sizes_text = " and ".join(f"{size:,}" for size in sizes)
    growth = []
    for size in sizes[1:]:
        for side, label in ((PG, "PostGIS"), (GPKG, "GeoPackage")):
            times = cases[_case(side, size)].median / cases[_case(side, rows)].median
            growth.append(f"{label}: {times:.2f}x ({'met' if times <= 1.5 else '**not met**'})")
    return [
        {
            "title": f"Weekly pack, stores of {sizes_text} episodes",
            "rows": rows,
            "cases": {
                name: t.as_dict(next(s for s in reversed(sizes) if f"({s:,})" in name))
                for name, t in cases.items()
            },
            "ratios": ratios,
            "extra_markdown": (
                f"Weekly pack, {scale}x the episodes against {rows:,} (median s / median s; "
                f"goal at most 1.5x): " + "; ".join(growth)
            ),
            "ratio_meaning": (
                "PostGIS against GeoPackage at one size: GeoPackage s / PostGIS s (above 1: "
                "PostGIS faster). One store at two sizes: larger-store s / smaller-store s "
                f"(the goal: at most 1.5 for {scale}x the episodes)."
            ),
            "notes": (
                "No named peer: the product's two stores against each other, and each "
                "against itself on a store ten times larger with the same data window. "
                "rows/s is episodes in the store per second of the whole pack."
            ),
            **meta,
        }
    ]


def main(argv: list[str] | None = None) -> None:
    """``python bench/weekly_pack.py --rows 1000000 [--keep-stores] [--cache-dir DIR]``."""
    import argparse

    from harness import (
        BENCH_DATABASE,
        DEFAULT_SERVER_URL,
        ensure_database,
        markdown_tables,
        with_database,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=SCALE)
    parser.add_argument("--repeat", type=int, default=3)
    server = os.environ.get("ENGAGE_TEST_PG_URL") or DEFAULT_SERVER_URL
    parser.add_argument("--pg-url", default=with_database(server, BENCH_DATABASE))
    parser.add_argument("--keep-stores", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    ensure_database(args.pg_url)
    results = run(
        args.rows,
        args.pg_url,
        args.repeat,
        scale=args.scale,
        keep_stores=args.keep_stores,
        cache_dir=args.cache_dir,
    )
    print(markdown_tables(results))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
