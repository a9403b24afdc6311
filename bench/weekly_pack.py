"""Weekly pack wall time on a store of 1,000,000 episodes: GeoPackage against PostGIS.

There is no named peer for the whole use case, so the two stores of the
product are timed against each other on the same data: the ratio is
**GeoPackage seconds / PostGIS seconds** (above 1: the PostGIS store is
faster).

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
* **Stores.** ``api.usecases.ingest.ingest_files`` of the four files in
  ``DEMO_ORDER`` into a new GeoPackage and into a new PostGIS schema
  (``bench_weekly_<pid>`` in the benchmark database, dropped at the end),
  with the pseudonym key of ``ENGAGE_PSEUDONYM_KEY`` or, when unset, a random
  key held in this process only (never written). Then ``VACUUM (ANALYZE)``
  of the PostGIS tables.

Timed: ``api.usecases.week.weekly(location, week=None, out_dir=..., settings=...)``
with the default parameters (KDE, res 9, bin res 11, bandwidth by the
spatial Silverman rule, 12-week lookback, neighbourhood audience): it finds
the patrol week (the week after the last episode), reads the window's events,
runs the model and writes map.html, pack.pdf, targets.csv,
hotspots.geojson and run.json, and records the run in the store. One
warm-up run per store first, whose targets, counts and parameters must be
equal between the stores; then ``--repeat`` runs each, interleaved in
alternating order, each after a ``CHECKPOINT`` (:func:`ingest_postgis.settle`).

Breakdown, measured inside the same runs by wrapping (timer only) the store
classes' ``read`` and the functions ``weekly`` calls:

* **patrol week**: ``latest_week`` (opens the store and reads every
  episode's ``last_seen_at`` to find the latest);
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


def run(rows: int, pg_url: str, repeat: int) -> list[dict[str, Any]]:
    """The weekly-pack benchmark on stores of ``rows`` episodes; one result dict."""
    from api.settings import Settings
    from geo.pseudonym import KEY_ENV, generate_key

    schema = f"bench_weekly_{os.getpid()}"
    pg_location = f"{pg_url}?schema={schema}"
    key = os.environ.get(KEY_ENV) or generate_key()  # held in memory only
    cases = {name: Timing() for name in (GPKG, PG)}
    split_names = {
        side: {phase: f"{side.split(':')[0]}: of which {phase}" for phase in PHASES}
        for side in (GPKG, PG)
    }
    for side in (GPKG, PG):
        for name in split_names[side].values():
            cases[name] = Timing()
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-weekly-") as tmp:
        work = Path(tmp)
        scenario = work / "scenario"
        scenario.mkdir()
        gpkg_location = str(work / "engage.gpkg")
        sides = {
            GPKG: (gpkg_location, Settings(store=gpkg_location, quarantine_dir=work / "q")),
            PG: (pg_location, Settings(store=pg_location, quarantine_dir=work / "q")),
        }
        try:
            log(f"Weekly: simulating {rows:,} episodes ({WEEKS} weeks per seed)")
            meta["scenario"] = write_scenario(scenario, rows)
            log(
                f"  {meta['scenario']['seeds']} seeds, {meta['scenario']['rows']}, "
                f"{meta['scenario']['seconds']} s"
            )
            meta["setup"] = {}
            for side, (location, settings) in sides.items():
                store_name = side.split(" store")[0]
                log(f"Weekly: ingesting into {store_name} (untimed setup)")
                if side == PG:
                    _drop_schema(pg_url, schema)
                built = build_store(location, scenario, settings, key)
                if side == PG:
                    t0 = time.perf_counter()
                    _vacuum_schema(pg_url, schema)
                    built["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
                else:
                    built["file_mb"] = round(Path(location).stat().st_size / 2**20, 1)
                meta["setup"][store_name] = built
                log(f"  {built}")
            phases = Phases()
            with phases.installed():
                log("Weekly: warm-up (one pack per store), outputs compared")
                warm = {
                    side: one_weekly(loc, work / f"warm_{i}", st, phases, pg_url)
                    for i, (side, (loc, st)) in enumerate(sides.items())
                }
                meta["warmup_s"] = {side: round(w[0], 2) for side, w in warm.items()}
                meta["checks"] = same_outputs(warm[GPKG][2], warm[PG][2])
                log(f"  packs agree: {meta['checks']['week']}, {meta['checks']['counts']}")
                with cpu_usage(meta):
                    for r in range(repeat):
                        order = [GPKG, PG] if r % 2 == 0 else [PG, GPKG]
                        for side in order:
                            location, settings = sides[side]
                            seconds, split, _ = one_weekly(
                                location, work / "pack", settings, phases, pg_url
                            )
                            cases[side].samples.append(seconds)
                            for phase, value in split.items():
                                cases[split_names[side][phase]].samples.append(value)
                            calls = meta.setdefault("wrapped_calls_per_run", {})
                            calls[side] = phases.calls
                            detail = meta.setdefault("wrapped_seconds", {}).setdefault(side, [])
                            detail.append({k: round(v, 3) for k, v in phases.detail_s.items()})
                            parts = ", ".join(f"{k} {v:.2f}" for k, v in split.items())
                            log(f"  run {r + 1}/{repeat} {side}: {seconds:.2f} s ({parts})")
        finally:
            _drop_schema(pg_url, schema)
            log("Weekly: benchmark schema dropped")
    return [
        {
            "title": f"Weekly pack, store of {rows:,} episodes",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in cases.items()},
            "ratios": [compare(cases, PG, GPKG)],
            "ratio_meaning": "GeoPackage s / PostGIS s (above 1: the PostGIS store is faster)",
            "notes": (
                "No named peer: the product's two stores against each other on the same data. "
                "rows/s is episodes in the store per second of the whole pack."
            ),
            **meta,
        }
    ]
