"""Shared pieces of the benchmarks: timing, machine facts, synthetic data, tables.

Every benchmark times each side with :func:`time.perf_counter` after one
warm-up call, ``repeat`` times, interleaving the sides so that a burst of
load on the machine hits both. The headline figure is the **median** of the
runs (the best run is recorded too); rows/s and ratios are computed from it.
A ratio is ``ours rows/s / peer rows/s``: above 1 means ours is faster.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psutil
import psycopg
from psycopg import sql

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "engage_bench"
"""The benchmarks' own database on the test server: the test suite terminates
every other connection to its database (a dropped-connection test), which
would kill a benchmark running beside `make test`."""

# A box wholly inside Blackburn with Darwen (as tests/geo/test_ingest_large.py):
# every generated row passes the ingest checks.
LAT_RANGE = (53.72, 53.75)
LNG_RANGE = (-2.50, -2.46)
CATEGORIES = ("Violence and sexual offences", "Anti-social behaviour")


def log(message: str) -> None:
    """Progress to stderr, so stdout holds only the results table."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------- database


def with_database(url: str, database: str) -> str:
    """``url`` naming another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def ensure_database(url: str) -> None:
    """Create ``url``'s database (via the server's ``postgres`` database) and PostGIS."""
    try:
        psycopg.connect(url, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        log(f"created database {name}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


# ----------------------------------------------------------------------- data


def synthetic_points(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` lat/lng points (6 decimals) inside Blackburn with Darwen."""
    rng = np.random.default_rng(seed)
    lat = np.round(rng.uniform(*LAT_RANGE, n), 6)
    lng = np.round(rng.uniform(*LNG_RANGE, n), 6)
    return lat, lng


def write_incidents(path: Path, n: int, seed: int = 1) -> Path:
    """The incident CSV of tests/geo/test_ingest_large.py: ``n`` good rows."""
    rng = np.random.default_rng(seed)
    categories = rng.choice(list(CATEGORIES), n)
    lat, lng = synthetic_points(n, seed + 1)
    frame = pd.DataFrame(
        {
            "incident_id": np.char.add("INC-", np.arange(n).astype(str)),
            "category": categories,
            "occurred_at": "2024-05-01T21:00",
            "lat": lat,
            "lng": lng,
        }
    )
    frame.to_csv(path, index=False)
    return path


# Clustered points in British National Grid metres (the KDE and DBSCAN benchmarks).
# The box is the bounding box of the res-9 cell centres of the Blackburn with
# Darwen outline, rounded out: 13.0 x 18.2 km (237 km2; the borough is 137 km2).
BNG_BOX = (363_000.0, 376_000.0, 413_500.0, 431_700.0)
N_CLUSTERS = 500
CLUSTER_SHARE = 0.8
CLUSTER_SD_M = (150.0, 0.5, 30.0, 600.0)
"""Cluster spread: lognormal median (m), log-sd, and the clip range (m)."""
CLUSTER_WEIGHT_SIGMA = 0.7
"""Log-sd of the lognormal share of each cluster (a few clusters dominate)."""


def clustered_points_bng(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered points (x, y) in BNG metres over :data:`BNG_BOX`.

    :data:`CLUSTER_SHARE` of the points fall in :data:`N_CLUSTERS` round
    Gaussian clusters (centres uniform in the box, spread and share
    lognormal), the rest uniformly over the box; rows in random order. The
    cluster centres, spreads and shares depend only on ``seed``, so every
    ``n`` draws from the same map. At 1,000,000 points a point has on
    average about 150 others within 50 m (median 60, 99th percentile 1,400).
    """
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = BNG_BOX
    cx = rng.uniform(x0, x1, N_CLUSTERS)
    cy = rng.uniform(y0, y1, N_CLUSTERS)
    median, log_sd, low, high = CLUSTER_SD_M
    sd = np.clip(rng.lognormal(np.log(median), log_sd, N_CLUSTERS), low, high)
    share = rng.lognormal(0.0, CLUSTER_WEIGHT_SIGMA, N_CLUSTERS)
    share /= share.sum()
    k = int(n * CLUSTER_SHARE)
    which = rng.choice(N_CLUSTERS, k, p=share)
    x = np.concatenate([cx[which] + rng.normal(size=k) * sd[which], rng.uniform(x0, x1, n - k)])
    y = np.concatenate([cy[which] + rng.normal(size=k) * sd[which], rng.uniform(y0, y1, n - k)])
    order = rng.permutation(n)
    return x[order], y[order]


def sizes_for(rows: int) -> list[int]:
    """The two sizes of the KDE and DBSCAN benchmarks: ``rows // 10`` and ``rows``."""
    return sorted({max(rows // 10, 1), rows})


# --------------------------------------------------------------------- timing


@dataclass
class Timing:
    """Seconds of each timed run of one case."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def best(self) -> float:
        return min(self.samples)

    def as_dict(self, rows: int) -> dict[str, Any]:
        return {
            "samples_s": [round(s, 6) for s in self.samples],
            "median_s": round(self.median, 6),
            "best_s": round(self.best, 6),
            "rows_per_s_median": round(rows / self.median, 1),
            "rows_per_s_best": round(rows / self.best, 1),
        }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``fn`` once after a garbage collection; seconds and its result."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


class StageTimer:
    """Seconds spent inside a writer class's ``stage`` method, while :meth:`active`.

    The ingest benchmarks time their "write half" as the time inside
    ``stage`` plus the last phase; this wraps ``stage`` for one run only.
    """

    def __init__(self, writer_class: type) -> None:
        self.writer_class = writer_class
        self.seconds = 0.0

    @contextmanager
    def active(self) -> Iterator[StageTimer]:
        """Count from zero for the block; the class's own ``stage`` is back after it."""
        original = self.writer_class.stage  # type: ignore[attr-defined]
        timer = self

        def timed_stage(writer: Any, *args: Any, **kwargs: Any) -> None:
            start = time.perf_counter()
            try:
                original(writer, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        self.seconds = 0.0
        self.writer_class.stage = timed_stage  # type: ignore[attr-defined]
        try:
            yield self
        finally:
            self.writer_class.stage = original  # type: ignore[attr-defined]


def check_loaded(report: Any, rows: int) -> None:
    """Stop the benchmark unless an ingest stored ``rows`` new rows."""
    if report.rows_stored != rows or report.result.inserted != rows:
        msg = f"ours stored {report.as_dict()} instead of {rows} new rows"
        raise SystemExit(msg)


def check_unchanged(again: Any, stored: int, rows: int) -> None:
    """Stop the benchmark unless a re-ingest changed nothing and the table holds ``rows``."""
    r = again.result
    if (r.inserted, r.updated, r.unchanged) != (0, 0, rows):
        msg = f"re-ingest changed rows: {again.as_dict()}"
        raise SystemExit(msg)
    if stored != rows:
        msg = "ours: the table does not hold every row after re-ingest"
        raise SystemExit(msg)


def find_ogr2ogr() -> tuple[str, str]:
    """The ``ogr2ogr`` executable and its version line; stop if it is not installed."""
    found = shutil.which("ogr2ogr")
    if found is None:
        msg = "ogr2ogr not found; install Debian's gdal-bin (GDAL 3.6)"
        raise SystemExit(msg)
    version = subprocess.run(
        [found, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return found, version


def time_interleaved(
    runs: dict[str, Callable[[], tuple[dict[str, float], Any]]],
    cases: dict[str, Timing],
    repeat: int,
    meta: dict[str, Any],
) -> None:
    """Time each side ``repeat`` times, forwards then backwards in turn, under :func:`cpu_usage`.

    Each side returns ``({case name: seconds}, output)``; its seconds go to
    ``cases`` and its first case is logged.
    """
    with cpu_usage(meta):
        for r in range(repeat):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for key in order:
                got, _ = runs[key]()
                for name, seconds in got.items():
                    cases[name].samples.append(seconds)
                first = next(iter(got))
                log(f"  run {r + 1}/{repeat} {first}: {got[first]:.3f} s")


@contextmanager
def cpu_usage(into: dict[str, Any]) -> Iterator[None]:
    """Record each core's mean utilisation (%) over the block into ``into``.

    Includes every process on the machine (PostgreSQL's server process, and
    anything else that happens to be running), which shows whether the
    second core was free.
    """
    psutil.cpu_percent(percpu=True)
    start = time.perf_counter()
    yield
    into["cpu_percent_per_core"] = psutil.cpu_percent(percpu=True)
    into["wall_s"] = round(time.perf_counter() - start, 3)


# -------------------------------------------------------------- machine facts

PG_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "max_parallel_maintenance_workers",
    "autovacuum",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_facts(pg_url: str | None) -> dict[str, Any]:
    """What the numbers were measured on (no database facts when ``pg_url`` is None)."""
    server = postgis = full = None
    settings: dict[str, Any] = {}
    if pg_url is not None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            server = conn.execute("SHOW server_version").fetchone()
            postgis = conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'postgis'"
            ).fetchone()
            full = conn.execute("SELECT postgis_full_version()").fetchone()
            settings = dict(
                conn.execute(
                    "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)"
                    " ORDER BY name",
                    [list(PG_SETTINGS)],
                ).fetchall()
            )
    packages = (
        "numpy",
        "pandas",
        "pyarrow",
        "h3",
        "h3ronpy",
        "geopandas",
        "shapely",
        "psycopg",
        "sqlalchemy",
        "geoalchemy2",
        "scipy",
        "scikit-learn",
        "matplotlib",
        "reportlab",
        "dask",
        "distributed",
        "esda",
        "libpysal",
        "engage-hotspots",
    )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in packages},
        "postgresql": server[0] if server else None,
        "postgis": postgis[0] if postgis else None,
        "postgis_full": full[0] if full else None,
        "postgresql_settings": settings,
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and product files changed in the work tree (read-only git)."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never write git's index
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, env=env, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "api", "geo", "models", "maps"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    except OSError:
        return {}
    return {"commit": head, "product_files_changed_in_work_tree": changed}


# -------------------------------------------------------------------- output


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}"


def markdown_tables(benchmarks: list[dict[str, Any]]) -> str:
    """Markdown tables: each case's time and rate, each ours/peer ratio, CPU use."""
    lines = [
        "| benchmark | case | median s | best s | rows/s (median) |",
        "|---|---|---:|---:|---:|",
    ]
    for bench in benchmarks:
        for name, case in bench["cases"].items():
            lines.append(
                f"| {bench['title']} | {name} | {case['median_s']:.4g} | {case['best_s']:.4g} "
                f"| {_fmt_rate(case['rows_per_s_median'])} |"
            )
    lines += [
        "",
        "| benchmark | ours | peer | ours / peer (median) | ours / peer (best) |",
        "|---|---|---|---:|---:|",
    ]
    for bench in benchmarks:
        for r in bench["ratios"]:
            lines.append(
                f"| {bench['title']} | {r['ours']} | {r['peer']} "
                f"| **{r['ratio_median']:.2f}x** | {r['ratio_best']:.2f}x |"
            )
    goals = [(bench, r) for bench in benchmarks for r in bench["ratios"] if "goal" in r]
    if goals:
        lines += [
            "",
            "| benchmark | goal | ours / peer (median) | met |",
            "|---|---|---:|---|",
        ]
        for bench, r in goals:
            met = "yes" if r["goal_met"] else "**no**"
            lines.append(
                f"| {bench['title']} | ours at least {r['goal']:g}x {r['peer']} "
                f"| {r['ratio_median']:.2f}x | {met} |"
            )
    limits = [(bench, limit) for bench in benchmarks for limit in bench.get("limits", [])]
    if limits:
        lines += [
            "",
            "| benchmark | practical limit on this machine | limit s | ours s | ours / limit |",
            "|---|---|---:|---:|---:|",
        ]
        for bench, limit in limits:
            lines.append(
                f"| {bench['title']} | {limit['what']} | {limit['seconds']:.4g} "
                f"| {limit['ours_s']:.4g} | {limit['ours_s'] / limit['seconds']:.2f} |"
            )
    memory = [
        (bench, name, case)
        for bench in benchmarks
        for name, case in bench["cases"].items()
        if "peak_mib_median" in case
    ]
    if memory:
        lines += [
            "",
            "| benchmark | case | peak memory MiB (median) | max MiB |",
            "|---|---|---:|---:|",
        ]
        for bench, name, case in memory:
            lines.append(
                f"| {bench['title']} | {name} | {case['peak_mib_median']:,.1f} "
                f"| {case['peak_mib_max']:,.1f} |"
            )
    lines += [
        "",
        "| benchmark | wall s (all its runs) | CPU busy per core, whole machine (%) |",
        "|---|---:|---|",
    ]
    for bench in benchmarks:
        cores = " / ".join(f"{p:.0f}" for p in bench.get("cpu_percent_per_core", []))
        lines.append(f"| {bench['title']} | {bench.get('wall_s', 0):.1f} | {cores} |")
    for bench in benchmarks:
        if bench.get("extra_markdown"):  # a benchmark's own table (e.g. another unit)
            lines += ["", bench["extra_markdown"]]
    return "\n".join(lines)


def compare(
    cases: dict[str, Timing], ours: str, peer: str, *, goal: float | None = None
) -> dict[str, Any]:
    """``ours rows/s / peer rows/s`` (same rows, so peer seconds / ours seconds).

    ``goal``: the ratio ours must reach (medians); the result says whether it did.
    """
    out: dict[str, Any] = {
        "ours": ours,
        "peer": peer,
        "ratio_median": round(cases[peer].median / cases[ours].median, 3),
        "ratio_best": round(cases[peer].best / cases[ours].best, 3),
    }
    if goal is not None:
        out["goal"] = float(goal)
        out["goal_met"] = bool(cases[peer].median / cases[ours].median >= goal)
    return out


def limit(what: str, limit_s: float, ours_s: float) -> dict[str, Any]:
    """A practical limit of this machine beside ours: ``what`` it is, its seconds, ours."""
    return {"what": what, "seconds": float(limit_s), "ours_s": float(ours_s)}
