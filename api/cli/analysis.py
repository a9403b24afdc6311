"""Commands that analyse a window: hotspots, trends, targets and the weekly pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from api.cli.common import (
    AreaOpt,
    AudienceOpt,
    ForceOpt,
    FromOpt,
    KOpt,
    MarkingOpt,
    MethodOpt,
    NearOpt,
    PageByOpt,
    ParamsOpt,
    ResOpt,
    StoreOpt,
    ToOpt,
    command,
    day,
    fail,
    out_kind,
    settings,
)
from api.usecases import cells as cell_tables
from api.usecases import week as weeks
from api.usecases.params import base_params
from maps.audience import DEFAULT_MARKING
from maps.disclosure import DEFAULT_K, Audience
from maps.exports import write_cells
from maps.files import check_output_file, check_output_folder
from models.near import DEFAULT_NEAR_M
from models.params import ParamsSource


def _check_cells_out(out: Path) -> None:
    if out.suffix.lower() not in (".geojson", ".csv"):
        fail(f"`--out` must end in .geojson or .csv, got {out.name!r}.")


def _write_cells(out: Path, frame: pd.DataFrame, rules: Audience) -> None:
    """A per-cell table (the audience's view) as CSV or GeoJSON hexagons."""
    write_cells(out, frame, meta={"audience": rules.name, "suppress_below": rules.k})


def _announce(source: ParamsSource) -> None:
    typer.echo(source.describe())


@command()
def hotspots(
    out: Annotated[Path, typer.Option("--out", help="FILE.geojson or FILE.csv.")],
    since: FromOpt = None,
    until: ToOpt = None,
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
    params_file: ParamsOpt = None,
    audience: AudienceOpt = "analyst",
    k: KOpt = DEFAULT_K,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """One row per cell of the study area: counts, score (higher is hotter), method columns."""
    rules = Audience.make(audience, k)
    s = settings()
    location = store or s.store
    _check_cells_out(out)
    check_output_file(out, kind=out_kind(out), store=location, force=force)
    source = base_params(params_file, location, layer=layer, category=category).with_overrides(
        method=method, res=res, bandwidth_m=bandwidth_m, eps_m=eps_m, min_samples=min_samples
    )
    _announce(source)
    frame, meta = cell_tables.hotspots_table(
        location,
        start=day(since, "--from"),
        end=day(until, "--to"),
        settings=s,
        layer=layer,
        category=category,
        areas=area,
        params=source.params,
        engine=engine,
        audience=rules,
    )
    _write_cells(out, frame, rules)
    hot = int((frame["score_class"] > 0).sum())
    typer.echo(f"{len(frame)} cells ({hot} scored), {rules.name} view -> {out}")
    for key in ("bandwidth_m", "bandwidth_rule", "eps_m", "eps_rule", "engine", "core_rule"):
        if key in meta:
            typer.echo(f"  {key}: {meta[key]}")


@command()
def trends(
    out: Annotated[Path, typer.Option("--out", help="FILE.csv or FILE.geojson.")],
    since: FromOpt = None,
    until: ToOpt = None,
    layer: Annotated[str, typer.Option(help="last_seen, found, venues, incidents or all.")] = "all",
    category: Annotated[str | None, typer.Option(help="Incident category.")] = None,
    res: ResOpt = None,
    area: AreaOpt = None,
    rings: Annotated[int, typer.Option("--rings", help="Gi* neighbourhood in H3 rings.")] = 1,
    audience: AudienceOpt = "analyst",
    k: KOpt = DEFAULT_K,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """Emerging hotspot classes per cell over weekly bins (Gi* + Mann-Kendall)."""
    rules = Audience.make(audience, k)
    s = settings()
    _check_cells_out(out)
    check_output_file(out, kind=out_kind(out), store=store or s.store, force=force)
    frame, meta = cell_tables.trends_table(
        store or s.store,
        start=day(since, "--from"),
        end=day(until, "--to"),
        settings=s,
        layer=layer,
        category=category,
        areas=area,
        res=res,
        k=rings,
        audience=rules,
    )
    if "mk_z" in frame.columns:
        frame = frame.assign(score=frame["mk_z"].fillna(0.0))
    _write_cells(out, frame, rules)
    counts = frame["pattern"].value_counts()
    typer.echo(f"{len(frame)} cells over {meta['n_weeks']} weeks, {rules.name} view -> {out}")
    for pattern, n in counts.items():
        typer.echo(f"  {pattern}: {n}")


@command()
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
    audience: AudienceOpt = "analyst",
    k: KOpt = DEFAULT_K,
    near_m: NearOpt = DEFAULT_NEAR_M,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """The ranked, explained target list for a patrol week (the weekly pack's targets)."""
    from maps.exports import write_targets_csv

    rules = Audience.make(audience, k)
    s = settings()
    location = store or s.store
    check_output_file(out, kind="csv", store=location, force=force)
    source = base_params(params_file, location).with_overrides(
        method=method, res=res, lookback_weeks=lookback_weeks, top_n=top
    )
    _announce(source)
    table = weeks.targets_table(
        location,
        week=week,
        settings=s,
        areas=area,
        params=source.params,
        audience=rules,
        near_m=near_m,
    )
    write_targets_csv(out, table, meta={"audience": rules.name, "suppress_below": rules.k})
    typer.echo(f"{len(table)} targets, {rules.name} view -> {out}")


@command()
def weekly(
    out: Annotated[Path, typer.Option("--out", help="Folder for the pack.")],
    week: Annotated[
        str | None, typer.Option(help="Patrol week YYYY-Www (default: the next).")
    ] = None,
    area: AreaOpt = None,
    page_by: PageByOpt = None,
    audience: Annotated[
        str, typer.Option(help="analyst, neighbourhood (default) or partner.")
    ] = "neighbourhood",
    method: MethodOpt = None,
    res: ResOpt = None,
    lookback_weeks: Annotated[
        int | None, typer.Option(help="Weeks of data before the patrol week (default 52).")
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option(help="Recency half-life in days (default 182).")
    ] = None,
    bandwidth_m: Annotated[
        float | None, typer.Option(help="KDE bandwidth in metres (default: rule).")
    ] = None,
    top: Annotated[int | None, typer.Option(help="How many targets (default 15).")] = None,
    marking: MarkingOpt = DEFAULT_MARKING,
    params_file: ParamsOpt = None,
    k: KOpt = DEFAULT_K,
    near_m: NearOpt = DEFAULT_NEAR_M,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """The weekly pack: map.html, pack.pdf, targets.csv, hotspots.geojson, run.json."""
    s = settings()
    location = store or s.store
    check_output_folder(out, weeks.OUTPUTS.values(), store=location, force=force)
    source = base_params(params_file, location).with_overrides(
        method=method,
        res=res,
        bandwidth_m=bandwidth_m,
        half_life_days=half_life_days,
        lookback_weeks=lookback_weeks,
        top_n=top,
    )
    _announce(source)
    result = weeks.weekly(
        location,
        week=week,
        out_dir=out,
        settings=s,
        areas=area,
        audience=audience,
        params=source.params,
        tiles=s.tiles,
        marking=marking,
        k=k,
        params_source=source.as_dict(),
        near_m=near_m,
        page_by=page_by,
    )
    typer.echo(f"weekly pack for {result.run['week']} ({result.run['area']}, {audience}):")
    for name, path in result.files.items():
        typer.echo(f"  {name:<9} {path}")
