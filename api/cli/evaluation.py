"""Commands that judge settings: backtest and tune."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    AreaOpt,
    ForceOpt,
    MarkingOpt,
    ResOpt,
    StoreOpt,
    command,
    day,
    fail,
    settings,
)
from api.usecases import backtest as evaluation
from api.usecases.params import accept_params, base_params
from maps.audience import DEFAULT_MARKING
from maps.files import check_output_folder
from maps.reportfiles import BACKTEST_FILES, TUNE_FILES, write_backtest_report
from models.params import lookback_periods
from models.tuning import parse_grid

LookbackOpt = Annotated[
    int | None,
    typer.Option(
        "--lookback-weeks",
        help="Weeks of data each forecast sees (default 52, or the --params lookback); with "
        "--horizon month, the nearest whole number of months (52 weeks = 12 months).",
    ),
]


@command()
def backtest(
    since: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")],
    until: Annotated[str, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for backtest.csv, summary.csv, backtest.html, backtest.pdf."
        ),
    ],
    horizon: Annotated[str, typer.Option(help="week or month.")] = "week",
    coverage: Annotated[
        str, typer.Option(help="Shares of the area, comma separated.")
    ] = "0.01,0.02,0.05",
    methods: Annotated[
        str | None,
        typer.Option(
            help="Comma separated: kde, count, dbscan, gistar, naive, persistence "
            "(default: the parameters' method, naive and persistence)."
        ),
    ] = None,
    layer: Annotated[
        str, typer.Option(help="incidents (default), last_seen, found, venues or all.")
    ] = "incidents",
    category: Annotated[str | None, typer.Option(help="Incident category.")] = None,
    lookback_weeks: LookbackOpt = None,
    res: ResOpt = None,
    area: AreaOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    marking: MarkingOpt = DEFAULT_MARKING,
    params_file: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="Parameter file from `engage tune`: its method, settings and lookback.",
        ),
    ] = None,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """Rolling-origin backtest: hit rate, PAI and PEI* per method and coverage, with baselines."""
    s = settings()
    check_output_folder(out, BACKTEST_FILES, store=store or s.store, force=force)
    start, end = day(since, "--from"), day(until, "--to")
    # A backtest judges settings: the defaults or a file's, never silently the accepted ones.
    source = base_params(params_file, None).with_overrides(res=res, lookback_weeks=lookback_weeks)
    params = source.params
    typer.echo(source.describe())
    if methods is None:
        methods = f"{params.method},naive,persistence"
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if params_file is not None and params.method not in chosen:
        fail(
            f"{params_file} tunes method {params.method!r}, which --methods {methods!r} leaves "
            f"out; add {params.method} to --methods or drop --methods."
        )
    try:
        coverages = tuple(float(c) for c in coverage.split(",") if c.strip())
    except ValueError:
        fail(f"`--coverage` must be numbers like 0.01,0.05, got {coverage!r}.")
    result = evaluation.backtest(
        store or s.store,
        start=start,
        end=end,
        settings=s,
        horizon=horizon,
        coverages=coverages,
        methods=chosen,
        layer=layer,
        category=category,
        areas=area,
        params=params,
        train_periods=lookback_periods(params.lookback_weeks, horizon),
        seed=seed,
    )
    files = write_backtest_report(result, out, marking=marking)
    typer.echo(result.summary.to_string(index=False))
    for name, path in files.items():
        typer.echo(f"  {name:<8} {path}")


@command()
def tune(
    since: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")],
    until: Annotated[str, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")],
    grid: Annotated[
        str,
        typer.Option(
            help='e.g. "res=8,9; bandwidth_m=150,250,400; half_life_days=14,28; '
            'lookback_weeks=13,52" (lookback in weeks whatever the horizon).'
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder for tune.csv, params.json, tune.html, tune.pdf."),
    ],
    horizon: Annotated[str, typer.Option(help="week or month.")] = "week",
    coverage: Annotated[
        float, typer.Option(help="Share of the area the ranking is judged at.")
    ] = 0.02,
    layer: Annotated[
        str, typer.Option(help="incidents (default), last_seen, found, venues or all.")
    ] = "incidents",
    category: Annotated[str | None, typer.Option(help="Incident category.")] = None,
    area: AreaOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    holdout: Annotated[
        int,
        typer.Option(help="Keep the last N periods out of the choice and judge the best on them."),
    ] = 0,
    accept: Annotated[
        bool,
        typer.Option(
            help="Make the best parameters the store's current ones (only when clearly better "
            "than persistence)."
        ),
    ] = False,
    accept_anyway: Annotated[
        bool,
        typer.Option(
            help="With --accept: accept even when the best is not clearly better than persistence."
        ),
    ] = False,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler tcp://HOST:PORT (default: local cores).")
    ] = None,
    marking: MarkingOpt = DEFAULT_MARKING,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """Backtest every combination of a parameter grid; rank them against the baselines."""
    s = settings()
    check_output_folder(out, TUNE_FILES, store=store or s.store, force=force)
    start, end = day(since, "--from"), day(until, "--to")
    location = store or s.store
    combos = parse_grid(grid)
    result = evaluation.tune(
        location,
        start=start,
        end=end,
        settings=s,
        grid=combos,
        horizon=horizon,
        coverage=coverage,
        layer=layer,
        category=category,
        areas=area,
        seed=seed,
        scheduler=scheduler,
        holdout=holdout,
    )
    tuned = evaluation.tuned_on(result)
    files = evaluation.write_tune_files(result, out, marking=marking)
    cols = [
        "rank",
        "config",
        "method",
        "res",
        "bandwidth_m",
        "half_life_days",
        "lookback_weeks",
        "hit_rate_mean",
        "pai_mean",
        "pai_low",
        "pai_high",
        "pei_star_mean",
        "pai_holdout_mean",
    ]
    typer.echo(result.table[[c for c in cols if c in result.table.columns]].to_string(index=False))
    verdict = result.meta["verdict"]
    typer.echo(verdict["text"])
    for name, path in files.items():
        typer.echo(f"  {name:<7} {path}")
    if accept:
        if verdict["persistence"] != "clearly better" and not accept_anyway:
            fail(
                f"not accepted: against persistence the best configuration is "
                f"'{verdict['persistence']}' (judged on {verdict['judged_on']}), so patrolling "
                "where events happened over the lookback does as well. Pass --accept-anyway "
                "to accept it regardless."
            )
        accept_params(location, result.best, tuned, result.meta)
        typer.echo(
            f"accepted: engage weekly, targets and hotspots now use these parameters "
            f"(tuned on {tuned.text()})"
        )
