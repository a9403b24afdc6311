"""Backtests and parameter searches on the store's data (``engage backtest``, ``engage tune``).

The store is read once per run; the backtests themselves are the pure
functions of :mod:`models.backtest` and :mod:`models.tuning`. A search runs
on the local cores, or as tasks on a Dask distributed cluster: the client
loads the events once and ships them (scatter) with each job, so a task
needs neither the store nor the client's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from api.settings import Settings
from api.usecases.params import params_json
from api.usecases.store import analysis_area, grid_for, load_events, opened_store
from geo.calendar import period_boundaries, utc
from geo.errors import ValidationError
from geo.store import Window
from geo.studyarea import active_study_area
from maps.audience import DEFAULT_MARKING
from maps.reportfiles import write_tune_report
from models import backtest as bt
from models.params import DEFAULTS, AnalysisParams, TunedOn, lookback_periods
from models.tuning import TuneResult, first_origin_for, jobs_for, rank, run_job


def _read_events(
    location: str, start: pd.Timestamp, end: pd.Timestamp, layer: str, category: str | None
) -> pd.DataFrame:
    with opened_store(location) as store:
        return load_events(
            store,
            Window(start.to_pydatetime(), end.to_pydatetime()),
            layer=layer,
            category=category,
        )


def backtest(
    location: str,
    *,
    start: datetime,
    end: datetime,
    settings: Settings,
    horizon: str = "week",
    coverages: Sequence[float] = (0.01, 0.02, 0.05),
    methods: Sequence[str] = ("kde", "count"),
    layer: str = "incidents",
    category: str | None = None,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    train_periods: int = 12,
    first_origin: int | None = None,
    seed: int = 0,
    keep_scores: bool = False,
) -> bt.BacktestResult:
    """Rolling-origin backtest of the store's events (see :mod:`models.backtest`).

    ``train_periods`` whole periods (weeks or months) of data before each
    origin train every method and the persistence baseline.
    """
    spec = bt.BacktestSpec.make(
        start=start,
        end=end,
        horizon=horizon,
        coverages=coverages,
        methods=methods,
        train_periods=train_periods,
        first_origin=first_origin,
        seed=seed,
    )
    params = params or DEFAULTS
    polygon, area_name, _ = analysis_area(settings, areas, location)
    cells = grid_for(polygon, params.res)
    events = _read_events(location, *spec.window, layer, category)
    facts = {"area": area_name, "wards": list(areas or []), "layer": layer, "category": category}
    return bt.backtest(events, cells, spec, params=params, keep_scores=keep_scores, describe=facts)


def tune(
    location: str,
    *,
    start: datetime,
    end: datetime,
    settings: Settings,
    grid: list[dict[str, Any]],
    horizon: str = "week",
    coverage: float = 0.02,
    layer: str = "incidents",
    category: str | None = None,
    areas: list[str] | None = None,
    seed: int = 0,
    scheduler: str | None = None,
    connect_timeout_s: float = 10.0,
    holdout: int = 0,
) -> TuneResult:
    """Backtest every combination of ``grid`` and the baselines; rank by mean PAI at ``coverage``.

    Every combination, and the baselines, are judged on the same folds: the
    first origin is the first with the grid's longest lookback behind it.
    ``holdout`` keeps the last folds out of the choice to judge it.
    """
    if not isinstance(coverage, int | float) or not 0 < coverage <= 1:
        msg = f"`coverage` must be in (0, 1], got {coverage}."
        raise ValidationError(msg)
    if isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 0:
        msg = f"`holdout` must be a whole number of periods >= 0, got {holdout!r}."
        raise ValidationError(msg)
    jobs = jobs_for(grid)
    first_origin = first_origin_for(grid, horizon)
    s, e = utc(start, "start"), utc(end, "end")
    bounds = period_boundaries(s, e, horizon)
    periods = len(bounds) - 1
    longest = max(AnalysisParams(**combo).lookback_weeks for combo in grid)
    if periods < first_origin + 1:
        msg = (
            f"the window holds {max(periods, 0)} whole {horizon}(s); the grid's longest "
            f"lookback_weeks={longest} ({first_origin} {horizon}(s)) leaves no fold to judge. "
            "Drop the longer lookbacks or widen --from/--to."
        )
        raise ValidationError(msg)
    if holdout and periods - first_origin - holdout < 1:
        msg = (
            f"--holdout {holdout} leaves no fold to choose on: the window gives "
            f"{max(periods - first_origin, 0)} fold(s) after the grid's longest lookback. "
            "Hold out fewer periods or widen --from/--to."
        )
        raise ValidationError(msg)
    polygon, area_name, _ = analysis_area(settings, areas, location)
    cells = {res: grid_for(polygon, res) for res in dict.fromkeys(j.params.res for j in jobs)}
    events = _read_events(location, bounds[0], bounds[-1], layer, category)
    common: dict[str, Any] = {
        "start": s.to_pydatetime(),
        "end": e.to_pydatetime(),
        "horizon": horizon,
        "coverage": float(coverage),
        "first_origin": first_origin,
        "seed": seed,
    }
    if scheduler is None:
        rows = [run_job(events, cells[j.params.res], j, **common) for j in jobs]
    else:
        rows = _on_cluster(scheduler, connect_timeout_s, events, cells, jobs, common)
    facts = {
        "start": s.isoformat(),
        "end": e.isoformat(),
        "horizon": horizon,
        "layer": layer,
        "category": category,
        "area": area_name,
        "study_area": active_study_area().spec if not areas else None,
        "wards": list(areas or []),
        "first_origin_period": first_origin,
        "lookback_unit": "weeks; a monthly horizon trains on the nearest whole number of months "
        f"(52 weeks = {lookback_periods(52, 'month')} months)",
        "ran_on": scheduler or "local",
    }
    return rank(rows, grid, coverage=float(coverage), holdout=holdout, seed=seed, facts=facts)


def tuned_on(result: TuneResult) -> TunedOn:
    """What a search's parameters were tuned on, from its facts."""
    meta = result.meta
    area = meta.get("study_area") or ",".join(meta.get("wards") or []) or None
    return TunedOn(meta.get("layer"), meta.get("category"), area)


def _on_cluster(
    scheduler: str,
    timeout_s: float,
    events: pd.DataFrame,
    cells: dict[int, pd.DataFrame],
    jobs: list[Any],
    common: dict[str, Any],
) -> list[dict[str, Any]]:
    """Run the jobs as tasks on a Dask distributed cluster, in job order.

    The events and cells are scattered to the workers once; each task is
    :func:`models.tuning.run_job` of that data and one job.
    """
    from distributed import Client

    if not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        msg = f"`--scheduler` must look like tcp://HOST:PORT, got {scheduler!r}."
        raise ValidationError(msg)
    try:
        client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        msg = (
            f"the Dask scheduler at {scheduler} did not answer within {timeout_s:g} s ({exc}). "
            "Start it (`dask scheduler`) or run without --scheduler on the local cores."
        )
        raise ValidationError(msg) from None
    try:
        shipped_events = client.scatter(events, broadcast=True)
        shipped_cells = {res: client.scatter(c, broadcast=True) for res, c in cells.items()}
        futures = [
            client.submit(
                run_job, shipped_events, shipped_cells[j.params.res], j, pure=False, **common
            )
            for j in jobs
        ]
        return list(client.gather(futures))
    finally:
        client.close()


def write_tune_files(
    result: TuneResult, out_dir: Path, *, marking: str = DEFAULT_MARKING
) -> dict[str, Path]:
    """The search's report folder with its ``params.json`` (what the best was tuned on)."""
    text = params_json(result.best, tuned_on(result), result.meta)
    return write_tune_report(result, out_dir, params_json=text, marking=marking)
