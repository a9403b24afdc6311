"""Backtest throughput of ``engage tune``: the local path against a Dask cluster, one machine.

``api.usecases.backtest.tune`` runs ``models.backtest.backtest`` once per grid combination
and once for each of the naive and persistence baselines, then ranks them.
It runs the backtests one after another in this process (``scheduler=None``,
the **baseline** here), or as one task each on a Dask distributed cluster
(``scheduler="tcp://..."``). The cluster is
``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
processes=True)``, started by this benchmark on the same machine (2 cores:
one worker process per core); its address is passed as ``scheduler=``, so
the timed call is the product path: ``tune`` connects a ``Client``, submits
the backtests, gathers them and ranks them. **Ratio = local seconds / Dask
seconds** (the same work), i.e. Dask throughput / local throughput.

Data (untimed setup, timed and reported): the real data.police.uk street
crime of Blackburn with Darwen, the monthly CSV files ``202[012]-*.csv`` of
``../shared/data/police_uk/lancashire/blackburn_with_darwen`` ingested with
``api.usecases.ingest.ingest_files(store, "police-uk", files)`` into a new
GeoPackage. (The pseudonym key is a random one made in this process and
never written; police.uk rows carry no person ids, so it is not used.)

Timed: ``tune(store, start=2020-10-01, end=2022-11-01, horizon="month",
category="Violence and sexual offences", grid=parse_grid(GRID))`` for each
grid of :data:`GRIDS`, coverage 2%, seed 0, the default analysis parameters
otherwise (res 9, 12-week lookback, so each origin trains on 3 months).
Throughput is **backtest folds per minute**: (grid combinations + the 2
baselines) x folds per backtest / minutes.

Each path runs once as a warm-up (its time is recorded as the first, cold
run: imports and caches in a fresh worker), then ``--repeat`` times,
alternating which path goes first. **Every run's ranked table must equal
the local warm-up's exactly** (``pandas.testing.assert_frame_equal`` with
``check_exact=True``); a mismatch stops the benchmark.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import psutil
from harness import Timing, compare, cpu_usage, log

SHARED_DATA = Path(
    os.environ.get("ENGAGE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
DATA_DIR = SHARED_DATA / "police_uk" / "lancashire"  # as tests/conftest.py finds it
FILES_GLOB = "blackburn_with_darwen/202[012]-*.csv"
# Midnight UK time, as `engage tune --from 2020-10-01 --to 2022-11-01` reads them.
START = datetime(2020, 10, 1, tzinfo=ZoneInfo("Europe/London"))
END = datetime(2022, 11, 1, tzinfo=ZoneInfo("Europe/London"))
HORIZON = "month"
CATEGORY = "Violence and sexual offences"
COVERAGE = 0.02
GRIDS = (
    "method=kde,count; bandwidth_m=150,300; half_life_days=28,91",
    "method=kde; bandwidth_m=150,200,250,300,400,600; half_life_days=14,28,56,91",
)
N_WORKERS = 2

LOCAL = "baseline, local path: tune(scheduler=None)"
DASK = f"Dask path: tune(scheduler=LocalCluster {N_WORKERS} workers x 1 thread)"
LOCAL_COLD = "baseline, local path: first run (warm-up)"
DASK_COLD = "Dask path: first run after the cluster started (warm-up)"


def build_store(tmp: Path) -> tuple[str, Any, dict[str, Any]]:
    """A GeoPackage of the Blackburn with Darwen police.uk months; location, settings, facts."""
    from api.settings import Settings
    from api.usecases.ingest import ingest_files
    from geo.pseudonym import KEY_ENV

    files = sorted(DATA_DIR.glob(FILES_GLOB))
    if not files:
        msg = f"no police.uk files match {DATA_DIR / FILES_GLOB}"
        raise SystemExit(msg)
    settings = Settings(quarantine_dir=tmp / "quarantine")  # default study area: the borough
    location = str(tmp / "bwd.gpkg")
    key = os.environ.get(KEY_ENV) or secrets.token_hex(32)  # held here only, never written
    t0 = time.perf_counter()
    reports = ingest_files(location, "police-uk", files, settings=settings, key=key)
    facts = {
        "files": [f.name for f in files],
        "rows_read": sum(r.rows_read for r in reports),
        "rows_stored": sum(r.rows_stored for r in reports),
        "rows_quarantined": sum(r.rows_quarantined for r in reports),
        "ingest_s": round(time.perf_counter() - t0, 1),
        "store_mb": round(Path(location).stat().st_size / 2**20, 1),
    }
    return location, settings, facts


def run_grid(
    grid_text: str,
    location: str,
    settings: Any,
    scheduler: str,
    repeat: int,
    setup: dict[str, Any],
) -> dict[str, Any]:
    """The throughput benchmark of one grid; one result dict."""
    from api.usecases.backtest import tune
    from models.tuning import parse_grid

    grid = parse_grid(grid_text)
    backtests = len(grid) + 2  # the naive and persistence baselines

    busy: dict[str, list[list[float]]] = {}
    cpu: dict[str, list[float]] = {}

    def one(sched: str | None) -> tuple[float, pd.DataFrame]:
        gc.collect()
        before = psutil.cpu_times(percpu=True)
        cpu0 = _our_cpu_s()
        t0 = time.perf_counter()
        result = tune(
            location,
            start=START,
            end=END,
            settings=settings,
            grid=grid,
            horizon=HORIZON,
            coverage=COVERAGE,
            category=CATEGORY,
            scheduler=sched,
        )
        seconds = time.perf_counter() - t0
        cpu.setdefault(DASK if sched else LOCAL, []).append(_our_cpu_s() - cpu0)
        busy.setdefault(DASK if sched else LOCAL, []).append(
            _busy_per_core(before, psutil.cpu_times(percpu=True))
        )
        return seconds, result.table

    log(f"tune: grid {grid_text!r}: {len(grid)} combinations + 2 baselines")
    cold_local, reference = one(None)
    cold_dask, table = one(scheduler)
    _same(reference, table, "Dask warm-up")
    folds = reference["folds"].astype(int)
    if (folds != folds.iloc[0]).any():
        msg = f"backtests judged different numbers of folds: {sorted(folds.unique())}"
        raise SystemExit(msg)
    n_folds = int(folds.iloc[0])
    work = backtests * n_folds
    log(f"  warm-ups: local {cold_local:.2f} s, Dask {cold_dask:.2f} s; {n_folds} folds each")
    cases = {name: Timing() for name in (LOCAL, DASK)}
    runs = {LOCAL: None, DASK: scheduler}
    meta: dict[str, Any] = {"load_average_before": [round(v, 2) for v in os.getloadavg()]}
    with cpu_usage(meta):
        for r in range(repeat):
            order = list(runs) if r % 2 == 0 else list(reversed(runs))
            for name in order:
                seconds, table = one(runs[name])
                _same(reference, table, f"{name}, run {r + 1}")
                cases[name].samples.append(seconds)
                cores = " / ".join(f"{c:.0f}" for c in busy[name][-1])
                log(
                    f"  run {r + 1}/{repeat} {name}: {seconds:.2f} s, CPU {cpu[name][-1]:.2f} s "
                    f"(cores busy {cores} %)"
                )
    meta["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    cold = {LOCAL_COLD: Timing([cold_local]), DASK_COLD: Timing([cold_dask])}
    all_cases = {**cases, **cold}
    title = f"tune, {len(grid)} combinations + 2 baselines x {n_folds} folds"
    per_min = {name: work / t.median * 60 for name, t in all_cases.items()}
    extra = [
        f"| {title} | path | backtests | folds each | backtests x folds | median wall s "
        "| backtests x folds / min | CPU s, our processes (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in all_cases.items():
        key = name if name in cases else (LOCAL if name == LOCAL_COLD else DASK)
        samples = cpu[key][1:] if name in cases else cpu[key][:1]
        extra.append(
            f"| | {name} | {backtests} | {n_folds} | {work} | {t.median:.2f} "
            f"| {per_min[name]:,.0f} | {statistics.median(samples):.1f} |"
        )
    ratio = compare(cases, DASK, LOCAL)
    extra.append(f"| | **Dask / local (median)** | | | | | **{ratio['ratio_median']:.2f}x** | |")
    return {
        "title": title,
        "rows": work,
        "rows_unit": "backtest folds",
        "grid": grid_text,
        "combinations": grid,
        "backtests": backtests,
        "folds_per_backtest": n_folds,
        "cases": {name: t.as_dict(work) for name, t in all_cases.items()},
        "folds_per_minute_median": {name: round(v, 1) for name, v in per_min.items()},
        "ratios": [ratio],
        "cpu_busy_per_core_per_run": busy,  # whole machine; the first entry is the warm-up
        "cpu_s_our_processes_per_run": {k: [round(v, 3) for v in vs] for k, vs in cpu.items()},
        "tables_identical": True,
        "ranked": _plain(reference[["rank", "config", "method", "pai_mean", "pei_star_mean"]]),
        "setup": setup,
        "notes": (
            "ours = the Dask path, peer = the local sequential path (the baseline): the "
            "ratio is local s / Dask s. The first-run rows are the warm-ups (one sample)."
        ),
        "extra_markdown": "\n".join(extra),
        **meta,
    }


def _our_cpu_s() -> float:
    """CPU seconds (user + system) of this process and all its children (the Dask workers)."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _busy_per_core(before: list[Any], after: list[Any]) -> list[float]:
    """Each core's busy share (%) between two ``psutil.cpu_times(percpu=True)``."""
    out = []
    for b, a in zip(before, after, strict=True):
        total = sum(a) - sum(b)
        idle = (a.idle + getattr(a, "iowait", 0.0)) - (b.idle + getattr(b, "iowait", 0.0))
        out.append(round(100.0 * (1.0 - idle / total), 1) if total > 0 else 0.0)
    return out


def _plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (numpy scalars made Python ones)."""
    return [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _same(reference: pd.DataFrame, table: pd.DataFrame, what: str) -> None:
    try:
        pd.testing.assert_frame_equal(reference, table, check_exact=True)
    except AssertionError as exc:
        msg = f"tune's ranked table differs from the local run's ({what}): {exc}"
        raise SystemExit(msg) from None


def run(repeat: int) -> list[dict[str, Any]]:
    """Throughput of each grid of :data:`GRIDS`, local path and Dask path."""
    from distributed import LocalCluster

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="engage-bench-tune-") as tmp:
        location, settings, facts = build_store(Path(tmp))
        log(
            f"tune: store of {facts['rows_stored']:,} police.uk crimes "
            f"({len(facts['files'])} files, {facts['ingest_s']} s)"
        )
        t0 = time.perf_counter()
        cluster = LocalCluster(
            n_workers=N_WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        try:
            setup = {
                **facts,
                "cluster": f"LocalCluster(n_workers={N_WORKERS}, threads_per_worker=1, "
                "processes=True)",
                "cluster_start_s": round(time.perf_counter() - t0, 1),
            }
            log(f"  cluster at {cluster.scheduler_address} ({setup['cluster_start_s']} s)")
            address = cluster.scheduler_address
            for grid_text in GRIDS:
                out.append(run_grid(grid_text, location, settings, address, repeat, setup))
        finally:
            cluster.close()
    return out
