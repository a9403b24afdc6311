"""The ``engage`` command line. Thin: parse, call :mod:`api.services`, print.

Exit codes: 0 success (every row stored); 1 some rows quarantined and the
rest stored; 2 nothing stored (unusable file, usage error, refused), with a
one-line reason on stderr.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pandas as pd
import typer

from api import services
from api.settings import Settings
from geo.errors import InputFileError, StoreError, ValidationError
from geo.ingest import KINDS, StrictRefusal
from maps.audience import DEFAULT_MARKING
from models.counts import LOCAL_TZ

app = typer.Typer(
    name="engage",
    help="Engage Hotspots: hotspots and patrol targets for missing and exploited children.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="A .gpkg path or a postgresql:// URL (default $ENGAGE_STORE or ./engage.gpkg).",
    ),
]


MarkingOpt = Annotated[str, typer.Option(help="Security marking on every printed page.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"engage: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValidationError as exc:
        _fail(str(exc))


def _store(store: str | None, settings: Settings) -> str:
    return store or settings.store


def _parse_day(text: str | None, name: str) -> datetime | None:
    """A day (``YYYY-MM-DD``) as its midnight in UK time, in UTC; a time with an offset as given.

    Weeks and months start at midnight UK time everywhere in the product
    (police.uk months, patrol weeks, backtest periods), so ``--from
    2022-10-01`` takes October's events in summer time too.
    """
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"`{name}` must be a date like 2025-03-14, got {text!r}.")
    if value.tzinfo is None:
        local = pd.Timestamp(value).tz_localize(
            LOCAL_TZ, ambiguous=False, nonexistent="shift_forward"
        )
        return local.tz_convert("UTC").to_pydatetime()
    return value.astimezone(UTC)


@app.command()
def init(store: StoreOpt = None) -> None:
    """Create or migrate the store's tables."""
    settings = _settings()
    location = _store(store, settings)
    try:
        services.init_store(location)
    except (StoreError, ValidationError) as exc:
        _fail(str(exc))
    typer.echo(f"store ready: {location}")


@app.command()
def ingest(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    files: Annotated[
        list[Path], typer.Argument(help="Input files (.csv, .csv.gz, .geojson, .gpkg).")
    ],
    store: StoreOpt = None,
    strict: Annotated[bool, typer.Option(help="Store nothing if any row is bad.")] = False,
    study_area: Annotated[
        str | None,
        typer.Option(
            help="`lancashire` or authority codes (default $ENGAGE_STUDY_AREA or E06000008)."
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage input.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Check and store input files; bad rows go to a quarantine file."""
    if kind not in KINDS:
        _fail(f"unknown kind `{kind}`; expected one of {', '.join(KINDS)}.")
    settings = _settings()
    location = _store(store, settings)
    try:
        area = settings.area(study_area)
        reports = services.ingest_files(
            location,
            kind,
            files,
            settings=settings,
            strict=strict,
            study_area=area,
            layer=layer,
            progress=progress and sys.stderr.isatty(),
        )
    except StrictRefusal as exc:
        _fail(str(exc))
    except (InputFileError, ValidationError, StoreError) as exc:
        _fail(f"nothing stored: {exc}")
    code = 0
    for r in reports:
        line = (
            f"{r.path}: {r.rows_read} rows read, {r.rows_stored} stored "
            f"({r.result.inserted} new, {r.result.updated} updated, "
            f"{r.result.unchanged} unchanged), "
            f"{r.rows_quarantined} quarantined"
        )
        if r.quarantine_path:
            line += f" -> {r.quarantine_path}"
        typer.echo(line)
        if r.dropped_columns:
            typer.echo(f"  dropped columns that identify a person: {', '.join(r.dropped_columns)}")
        if r.ignored_columns:
            typer.echo(f"  ignored columns: {', '.join(r.ignored_columns)}")
        for note in r.notes:
            typer.echo(f"  note: {note}")
        for reason, n in list(r.reasons.items())[:8]:
            typer.echo(f"  {n:>7} x {reason}")
        code = max(code, r.exit_code)
    if code == 2:
        typer.echo("engage: nothing stored: no row of the file(s) passed the checks.", err=True)
    raise typer.Exit(code)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the scenario files.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    weeks: Annotated[int, typer.Option(help="Length of the scenario in weeks.")] = 52,
    start: Annotated[
        str | None, typer.Option(help="First Monday, YYYY-MM-DD (default 2025-01-06).")
    ] = None,
) -> None:
    """Write a synthetic Blackburn with Darwen scenario (episodes, venues, reports, disruptions)."""
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        _fail(f"`--start` must be a date like 2025-01-06, got {start!r}.")
    try:
        files = services.simulate_scenario(out, seed=seed, weeks=weeks, start=first)
    except ValidationError as exc:
        _fail(str(exc))
    typer.echo(f"scenario written to {out}")
    for name, value in vars(files).items():
        typer.echo(f"  {name}: {value}")


@app.command()
def stats(
    store: StoreOpt = None,
    table: Annotated[str, typer.Option(help="episodes, incidents or disruptions.")] = "episodes",
    since: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")
    ] = None,
    weeks: Annotated[int, typer.Option(help="Show the latest N weeks.")] = 8,
) -> None:
    """Counts by week and ward."""
    settings = _settings()
    location = _store(store, settings)
    try:
        result = services.stats(
            location,
            table_name=table,
            start=_parse_day(since, "--from"),
            end=_parse_day(until, "--to"),
        )
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    typer.echo(render_stats(result, weeks=weeks))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's files.")] = Path("demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic scenario.")] = 7,
    weeks: Annotated[int, typer.Option(help="Weeks of synthetic data.")] = 52,
) -> None:
    """Simulate Blackburn with Darwen, ingest it into the embedded store and print counts."""
    settings = _settings()
    try:
        result = services.demo(out, seed=seed, weeks=weeks, settings=settings)
    except (ValidationError, StoreError, InputFileError) as exc:
        _fail(str(exc))
    if result.generated_key:
        typer.echo(
            "note: ENGAGE_PSEUDONYM_KEY is unset, so this synthetic demo uses a one-off random "
            "key. Real data is refused without a key."
        )
    typer.echo(f"synthetic scenario: {result.scenario_dir}")
    for r in result.reports:
        typer.echo(
            f"  {r.kind:<14} {r.rows_stored:>6} rows stored, {r.rows_quarantined} quarantined"
        )
    typer.echo(f"store: {result.store} (open it in QGIS: each table is a layer)")
    typer.echo(render_stats(result.stats, weeks=4))
    run = result.pack.run
    typer.echo(
        f"weekly pack for patrol week {run['week']} ({run['area']}, {run['audience']} audience), "
        f"{len(result.pack.targets)} targets:"
    )
    for name, path in result.pack.files.items():
        typer.echo(f"  {name:<9} {path}")


def _params(
    method: str | None,
    res: int | None,
    bandwidth_m: float | None = None,
    half_life_days: float | None = None,
    lookback_weeks: int | None = None,
    eps_m: float | None = None,
    min_samples: int | None = None,
    top: int | None = None,
    *,
    base: services.AnalysisParams | None = None,
) -> services.AnalysisParams:
    """``base`` (default the defaults) with the options given on the command line."""
    import dataclasses

    given: dict[str, Any] = {
        "method": method,
        "res": res,
        "bandwidth_m": bandwidth_m,
        "half_life_days": half_life_days,
        "lookback_weeks": lookback_weeks,
        "eps_m": eps_m,
        "min_samples": min_samples,
        "top_n": top,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    try:
        return dataclasses.replace(base or services.AnalysisParams(), **chosen)
    except ValidationError as exc:
        _fail(str(exc))


def _base_params(params_file: Path | None, location: str | None) -> services.AnalysisParams:
    """The parameters a run starts from: ``--params FILE``, else the store's accepted
    ones (when ``location`` is given), else the defaults."""
    from api.tune import read_params

    try:
        if params_file is not None:
            return read_params(params_file)
        accepted = services.accepted_params(location) if location is not None else None
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    return accepted or services.AnalysisParams()


ParamsOpt = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="Parameter file from `engage tune` (default: the store's accepted one).",
    ),
]


def _check_cells_out(out: Path) -> None:
    if out.suffix.lower() not in (".geojson", ".csv"):
        _fail(f"`--out` must end in .geojson or .csv, got {out.name!r}.")


def _write_cells(out: Path, frame: pd.DataFrame) -> None:
    """A per-cell table as CSV (h3 as hex, formulas neutralised) or GeoJSON hexagons."""
    from geo.export import neutralise_formulas
    from geo.h3index import cells_to_str_array
    from maps.exports import write_hotspots_geojson

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".geojson":
        write_hotspots_geojson(out, frame)
        return
    table = frame.copy()
    table["h3"] = cells_to_str_array(table["h3"])
    for c in table.columns:
        if table[c].dtype == object:
            table[c] = neutralise_formulas(table[c])
    table.to_csv(out, index=False)


MethodOpt = Annotated[
    str | None, typer.Option(help="kde (default), dbscan, count or gistar (Getis-Ord Gi*).")
]
ResOpt = Annotated[
    int | None, typer.Option(help="H3 resolution of the analysis (7-11; default 9).")
]
AreaOpt = Annotated[
    list[str] | None, typer.Option("--area", help="Ward name or code (repeat for several).")
]


@app.command()
def hotspots(
    out: Annotated[Path, typer.Option("--out", help="FILE.geojson or FILE.csv.")],
    since: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")
    ] = None,
    layer: Annotated[
        str, typer.Option(help="last_seen, found, venues, incidents or all (MFH and intelligence).")
    ] = "all",
    category: Annotated[
        str | None, typer.Option(help="Incident category (with --layer incidents).")
    ] = None,
    method: MethodOpt = None,
    res: ResOpt = None,
    area: AreaOpt = None,
    bandwidth_m: Annotated[float | None, typer.Option(help="KDE bandwidth in metres.")] = None,
    eps_m: Annotated[float | None, typer.Option(help="DBSCAN eps in metres.")] = None,
    min_samples: Annotated[int | None, typer.Option(help="DBSCAN min_samples.")] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="Where DBSCAN runs: python, or db (PostGIS ST_ClusterDBSCAN; PostGIS store only)."
        ),
    ] = "python",
    store: StoreOpt = None,
) -> None:
    """One row per cell of the study area: counts, score (higher is hotter), method columns."""
    settings = _settings()
    params = _params(method, res, bandwidth_m=bandwidth_m, eps_m=eps_m, min_samples=min_samples)
    _check_cells_out(out)
    try:
        frame, meta = services.hotspots_table(
            _store(store, settings),
            start=_parse_day(since, "--from"),
            end=_parse_day(until, "--to"),
            settings=settings,
            layer=layer,
            category=category,
            areas=area,
            params=params,
            engine=engine,
        )
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    frame = frame.drop(columns=[c for c in ("x", "y") if c in frame.columns])
    _write_cells(out, frame)
    hot = int((frame["score"] > 0).sum())
    typer.echo(f"{len(frame)} cells ({hot} with a score above 0) -> {out}")
    for key in ("bandwidth_m", "bandwidth_rule", "eps_m", "eps_rule", "engine", "core_rule"):
        if key in meta:
            typer.echo(f"  {key}: {meta[key]}")


@app.command()
def trends(
    out: Annotated[Path, typer.Option("--out", help="FILE.csv or FILE.geojson.")],
    since: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")
    ] = None,
    layer: Annotated[str, typer.Option(help="last_seen, found, venues, incidents or all.")] = "all",
    category: Annotated[str | None, typer.Option(help="Incident category.")] = None,
    res: ResOpt = None,
    area: AreaOpt = None,
    k: Annotated[int, typer.Option(help="Gi* neighbourhood in H3 rings.")] = 1,
    store: StoreOpt = None,
) -> None:
    """Emerging hotspot classes per cell over weekly bins (Gi* + Mann-Kendall)."""
    settings = _settings()
    _check_cells_out(out)
    try:
        frame, meta = services.trends_table(
            _store(store, settings),
            start=_parse_day(since, "--from"),
            end=_parse_day(until, "--to"),
            settings=settings,
            layer=layer,
            category=category,
            areas=area,
            res=res or 9,
            k=k,
        )
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    _write_cells(out, frame.assign(score=frame["mk_z"].fillna(0.0)))
    counts = frame["pattern"].value_counts()
    typer.echo(f"{len(frame)} cells over {meta['n_weeks']} weeks -> {out}")
    for pattern, n in counts.items():
        typer.echo(f"  {pattern}: {n}")


@app.command()
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
            "(default kde,count,naive,persistence; with --params its method and the baselines)."
        ),
    ] = None,
    layer: Annotated[
        str, typer.Option(help="incidents (default), last_seen, found, venues or all.")
    ] = "incidents",
    category: Annotated[str | None, typer.Option(help="Incident category.")] = None,
    train_periods: Annotated[
        int | None,
        typer.Option(
            help="Periods of data each forecast sees (default 12, or the --params lookback)."
        ),
    ] = None,
    res: ResOpt = None,
    area: AreaOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    marking: MarkingOpt = DEFAULT_MARKING,
    params_file: Annotated[
        Path | None,
        typer.Option(
            "--params",
            help="Parameter file from `engage tune`: its bandwidth, half-life, res and lookback.",
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Rolling-origin backtest: hit rate, PAI and PEI* per method and coverage, with baselines."""
    from api.backtest import backtest as run_backtest
    from api.backtest import write_report
    from api.tune import train_periods_for

    settings = _settings()
    start, end = _parse_day(since, "--from"), _parse_day(until, "--to")
    assert start is not None and end is not None
    # A backtest judges settings: the defaults or a file's, never silently the accepted ones.
    params = _params(None, res, base=_base_params(params_file, None))
    if params_file is not None and train_periods is None:
        train_periods = train_periods_for(params.lookback_weeks, horizon)
    if methods is None:
        methods = (
            "kde,count,naive,persistence"
            if params_file is None
            else f"{params.method},naive,persistence"
        )
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if params_file is not None and params.method not in chosen:
        _fail(
            f"{params_file} tunes method {params.method!r}, which --methods {methods!r} leaves "
            f"out; add {params.method} to --methods or drop --methods."
        )
    try:
        coverages = tuple(float(c) for c in coverage.split(",") if c.strip())
    except ValueError:
        _fail(f"`--coverage` must be numbers like 0.01,0.05, got {coverage!r}.")
    try:
        result = run_backtest(
            _store(store, settings),
            start=start,
            end=end,
            settings=settings,
            horizon=horizon,
            coverages=coverages,
            methods=chosen,
            layer=layer,
            category=category,
            areas=area,
            params=params,
            train_periods=12 if train_periods is None else train_periods,
            seed=seed,
        )
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    files = write_report(result, out, marking=marking)
    typer.echo(result.summary.to_string(index=False))
    for name, path in files.items():
        typer.echo(f"  {name:<8} {path}")


@app.command()
def tune(
    since: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")],
    until: Annotated[str, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")],
    grid: Annotated[
        str, typer.Option(help='e.g. "res=8,9; bandwidth_m=150,250,400; half_life_days=14,28".')
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
        bool, typer.Option(help="Make the best parameters the store's current ones.")
    ] = False,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler tcp://HOST:PORT (default: local cores).")
    ] = None,
    marking: MarkingOpt = DEFAULT_MARKING,
    store: StoreOpt = None,
) -> None:
    """Backtest every combination of a parameter grid; rank them against the baselines."""
    from api import tune as tuning

    settings = _settings()
    start, end = _parse_day(since, "--from"), _parse_day(until, "--to")
    assert start is not None and end is not None
    location = _store(store, settings)
    try:
        combos = tuning.parse_grid(grid)
        result = tuning.tune(
            location,
            start=start,
            end=end,
            settings=settings,
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
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    files = tuning.write_report(result, out, marking=marking)
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
    beats = result.meta["best_beats_baseline"]
    typer.echo(
        "best configuration beats naive: "
        f"{'yes' if beats['naive'] else 'NO'}; persistence: "
        f"{'yes' if beats['persistence'] else 'NO'} (in-sample: chosen on these folds)"
    )
    held = result.meta.get("best_on_holdout")
    if held:
        typer.echo(
            f"on the {holdout} held-out folds: mean PAI {held['pai_mean']:.3g}; "
            + "; ".join(
                f"{b} {held[b]['pai_difference_mean']:+.3g} "
                f"[{held[b]['low']:+.3g}, {held[b]['high']:+.3g}]"
                for b in ("naive", "persistence")
            )
        )
    if accept:
        services.accept_params(location, result.best, result.meta)
        typer.echo("accepted: `engage weekly` now uses these parameters")
    for name, path in files.items():
        typer.echo(f"  {name:<7} {path}")


@app.command()
def targets(
    out: Annotated[Path, typer.Option("--out", help="FILE.csv.")],
    week: Annotated[
        str | None, typer.Option(help="Patrol week YYYY-Www (default: the next).")
    ] = None,
    method: MethodOpt = None,
    res: ResOpt = None,
    area: AreaOpt = None,
    top: Annotated[int | None, typer.Option(help="How many targets (default 15).")] = None,
    lookback_weeks: Annotated[
        int | None, typer.Option(help="Weeks of data before the patrol week.")
    ] = None,
    params_file: ParamsOpt = None,
    store: StoreOpt = None,
) -> None:
    """The ranked, explained target list for a patrol week (the weekly pack's targets)."""
    from maps.exports import write_targets_csv

    settings = _settings()
    location = _store(store, settings)
    base = _base_params(params_file, location)
    params = _params(method, res, lookback_weeks=lookback_weeks, top=top, base=base)
    try:
        table = services.targets_table(
            location, week=week, settings=settings, areas=area, params=params
        )
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    write_targets_csv(out, table)
    typer.echo(f"{len(table)} targets -> {out}")


@app.command()
def weekly(
    out: Annotated[Path, typer.Option("--out", help="Folder for the pack.")],
    week: Annotated[
        str | None, typer.Option(help="Patrol week YYYY-Www (default: the next).")
    ] = None,
    area: AreaOpt = None,
    audience: Annotated[
        str, typer.Option(help="analyst, neighbourhood (default) or partner.")
    ] = "neighbourhood",
    method: MethodOpt = None,
    res: ResOpt = None,
    lookback_weeks: Annotated[
        int | None, typer.Option(help="Weeks of data before the patrol week (default 12).")
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option(help="Recency half-life in days (default 28).")
    ] = None,
    bandwidth_m: Annotated[
        float | None, typer.Option(help="KDE bandwidth in metres (default: rule).")
    ] = None,
    top: Annotated[int | None, typer.Option(help="How many targets (default 15).")] = None,
    marking: MarkingOpt = DEFAULT_MARKING,
    params_file: ParamsOpt = None,
    store: StoreOpt = None,
) -> None:
    """The weekly pack: map.html, pack.pdf, targets.csv, hotspots.geojson, run.json."""
    import os

    settings = _settings()
    location = _store(store, settings)
    params = _params(
        method,
        res,
        bandwidth_m=bandwidth_m,
        half_life_days=half_life_days,
        lookback_weeks=lookback_weeks,
        top=top,
        base=_base_params(params_file, location),
    )
    try:
        result = services.weekly(
            location,
            week=week,
            out_dir=out,
            settings=settings,
            areas=area,
            audience=audience,
            params=params,
            tiles=os.environ.get("ENGAGE_TILES") or None,
            marking=marking,
        )
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    typer.echo(f"weekly pack for {result.run['week']} ({result.run['area']}, {audience}):")
    for name, path in result.files.items():
        typer.echo(f"  {name:<9} {path}")


def render_stats(result: services.Stats, *, weeks: int = 8) -> str:
    """A plain-text week x ward table, latest weeks last."""
    counts = result.by_week_ward
    lines = [f"{result.table}: {result.total} rows"]
    if counts.empty:
        lines.append("(no rows)")
        return "\n".join(lines)
    table = counts.pivot_table(
        index="area", columns="week", values="n", aggfunc="sum", fill_value=0
    )
    table = table.iloc[:, -weeks:]
    table.index = [result.ward_names.get(code, code) for code in table.index]
    table = table.sort_index()
    table.loc["Total"] = table.sum(axis=0)
    table.columns = [pd.Timestamp(w).strftime("%d %b %y") for w in table.columns]
    lines.append(f"by ward and week (week starting Monday; latest {table.shape[1]} weeks)")
    lines.append(table.to_string())
    if "distinct" in counts.columns:
        per_week = counts.groupby("week")["n"].sum().iloc[-weeks:]
        lines.append(
            f"episodes in these weeks: {int(per_week.sum())}; weekly mean {per_week.mean():.1f}"
        )
    return "\n".join(lines)


@app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", help="gpkg, geojson or csv.")],
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Table(s) to export (default all for gpkg).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Export tables for QGIS (gpkg, geojson) or a spreadsheet (csv)."""
    settings = _settings()
    location = _store(store, settings)
    try:
        written = services.export_tables(location, fmt, out, tables=table)
    except (ValidationError, StoreError) as exc:
        _fail(str(exc))
    for name, n in written.items():
        typer.echo(f"{name}: {n} rows -> {out}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
