"""Commands that put data in and take it out: init, ingest, simulate, stats, export, demo."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from api.cli.common import (
    ForceOpt,
    FromOpt,
    StoreOpt,
    ToOpt,
    command,
    day,
    fail,
    settings,
)
from api.usecases import tables
from api.usecases.demo import DEMO_OUTPUTS
from api.usecases.demo import demo as run_demo
from api.usecases.ingest import SCENARIO_FILES, ingest_files, simulate_scenario
from api.usecases.store import init_store
from geo.ingest import KINDS, ingest_exit_code
from maps.files import check_output_file, check_output_folder

ANALYST_ONLY = (
    "analyst view: exact counts and stored rows, not for partner or neighbourhood "
    "audiences (their outputs come from engage weekly, hotspots or trends with --audience)"
)


@command()
def init(
    store: StoreOpt = None,
    study_area: Annotated[
        str | None,
        typer.Option(
            help="Study area to store with the data: `lancashire`, UK local authority codes "
            "(comma separated) or a polygon file (.geojson, .gpkg or file.gpkg:layer); "
            "default $ENGAGE_STUDY_AREA or E06000008."
        ),
    ] = None,
    change_study_area: Annotated[
        bool,
        typer.Option(
            help="Record --study-area in place of the one the store records (rows already "
            "stored stay as they are)."
        ),
    ] = False,
) -> None:
    """Create or migrate the store's tables and record its study area."""
    s = settings()
    location = store or s.store
    init_store(location, settings=s, study_area=study_area, change_area=change_study_area)
    typer.echo(f"store ready: {location}")


@command(failure="nothing stored")
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
            help="`lancashire`, UK local authority codes or a polygon file (default: the "
            "store's, else $ENGAGE_STUDY_AREA, else E06000008)."
        ),
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage input.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Check and store input files; bad rows go to a quarantine file."""
    if kind not in KINDS:
        fail(f"unknown kind `{kind}`; expected one of {', '.join(KINDS)}.")
    s = settings()
    reports = ingest_files(
        store or s.store,
        kind,
        files,
        settings=s,
        strict=strict,
        study_area=s.requested_area(study_area),
        layer=layer,
        progress=progress and sys.stderr.isatty(),
    )
    for r in reports:
        if r.refused is not None:
            typer.echo(f"engage: refused, nothing stored from it: {r.refused}", err=True)
            if r.quarantine_path:
                typer.echo(f"  bad rows -> {r.quarantine_path}", err=True)
            continue
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
        if r.places:
            typer.echo(
                f"  gazetteer: {r.places} named police.uk map points kept (street names "
                "for the targets)"
            )
        for reason_line in r.reason_lines():
            typer.echo(reason_line)
    code = ingest_exit_code(reports)
    refused = sum(r.refused is not None for r in reports)
    if code == 2 and not refused:
        typer.echo("engage: nothing stored: no row of the file(s) passed the checks.", err=True)
    elif code == 2:
        typer.echo(
            f"engage: nothing stored: {refused} of {len(reports)} file(s) refused.", err=True
        )
    elif refused:
        typer.echo(
            f"engage: {refused} of {len(reports)} file(s) refused; the others were stored.",
            err=True,
        )
    raise typer.Exit(code)


@command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the scenario files.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 7,
    weeks: Annotated[int, typer.Option(help="Length of the scenario in weeks.")] = 52,
    start: Annotated[
        str | None,
        typer.Option(
            help="First Monday, YYYY-MM-DD (default: the Monday from which the scenario ends on "
            "the last Monday before today, UK time, so no date is in the future)."
        ),
    ] = None,
    disruptions: Annotated[
        int | None,
        typer.Option(
            help="Disruptions with an effect to plant (default 10); with --placebos, 1-24 in all."
        ),
    ] = None,
    placebos: Annotated[
        int | None, typer.Option(help="Placebo disruptions, with no effect (default 10).")
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Write a synthetic Blackburn with Darwen scenario (episodes, venues, reports, disruptions)."""
    check_output_folder(out, SCENARIO_FILES, store=settings().store, force=force)
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        fail(f"`--start` must be a date like 2025-01-06, got {start!r}.")
    files = simulate_scenario(
        out, seed=seed, weeks=weeks, start=first, disruptions=disruptions, placebos=placebos
    )
    typer.echo(f"scenario written to {out}")
    for name, value in vars(files).items():
        typer.echo(f"  {name}: {value}")


@command()
def stats(
    store: StoreOpt = None,
    table: Annotated[str, typer.Option(help="episodes, incidents or disruptions.")] = "episodes",
    since: FromOpt = None,
    until: ToOpt = None,
    weeks: Annotated[int, typer.Option(help="Show the latest N weeks.")] = 8,
) -> None:
    """Counts by week and ward (analyst view: exact counts, for analysts only)."""
    result = tables.stats(
        store or settings().store,
        table_name=table,
        start=day(since, "--from"),
        end=day(until, "--to"),
    )
    typer.echo(f"({ANALYST_ONLY})")
    typer.echo(render_stats(result, weeks=weeks))


@command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's files.")] = Path("demo"),
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic scenario.")] = 7,
    weeks: Annotated[int, typer.Option(help="Weeks of synthetic data (default two years).")] = 104,
    force: ForceOpt = False,
) -> None:
    """Simulate Blackburn with Darwen, store it, and write a weekly pack and a review."""
    s = settings()
    # The demo's folder: its own earlier run is replaced; anything else needs --force.
    check_output_folder(out, DEMO_OUTPUTS, store=s.store, force=force)
    result = run_demo(out, seed=seed, weeks=weeks, settings=s)
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
    review = result.review
    if review.out is None:
        typer.echo("partnership review: no planted disruption could be reviewed.")
        return
    done = review.run["disruptions"]
    typer.echo(
        f"partnership review of {done['reviewed']} of {done['asked']} planted disruptions "
        f"(partner audience):"
    )
    for name, path in review.files.items():
        typer.echo(f"  {name:<9} {path}")


def render_stats(result: tables.Stats, *, weeks: int = 8) -> str:
    """A plain-text period x ward table, latest periods last; part periods marked ``*``."""
    counts = result.by_period_ward
    unit = result.period
    lines = [f"{result.table}: {result.total} rows"]
    if counts.empty:
        lines.append("(no rows)")
        return "\n".join(lines)
    table = counts.pivot_table(
        index="area", columns="period", values="n", aggfunc="sum", fill_value=0
    )
    table = table.iloc[:, -weeks:]
    shown = list(table.columns)
    table.index = [result.ward_names.get(code, code) for code in table.index]
    table = table.sort_index()
    table.loc["Total"] = table.sum(axis=0)
    fmt = "%d %b %y" if unit == "week" else "%b %Y"
    table.columns = [
        pd.Timestamp(p).strftime(fmt) + ("" if result.whole.get(p, True) else "*") for p in shown
    ]
    first_day = "week starting Monday" if unit == "week" else "calendar month"
    lines.append(f"by ward and {unit} ({first_day}, UK time; latest {table.shape[1]} {unit}s)")
    lines.append(table.to_string())
    if any(not result.whole.get(p, True) for p in shown):
        lines.append(f"* part {unit}: the data or the window cover only part of it")
    whole = [p for p in shown if result.whole.get(p, True)]
    per = counts.groupby("period")["n"].sum()
    noun = "episodes" if result.table == "episodes" else "rows"
    mean = f"{per.loc[whole].mean():.1f}" if whole else "-"
    lines.append(
        f"{noun} in these {unit}s: {int(per.loc[shown].sum())}; mean per whole {unit} {mean} "
        f"({len(whole)} whole {unit}{'s' if len(whole) != 1 else ''})"
    )
    return "\n".join(lines)


@command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", help="gpkg, geojson or csv.")],
    out: Annotated[Path, typer.Option("--out", help="Output file.")],
    table: Annotated[
        list[str] | None, typer.Option("--table", help="Table(s) to export (default all for gpkg).")
    ] = None,
    point: Annotated[
        str,
        typer.Option(
            help="GeoJSON of episodes: the point each feature takes, last_seen or found "
            "(then only episodes with a found point)."
        ),
    ] = "last_seen",
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """Export stored tables for QGIS or a spreadsheet (analyst view: stored rows, analysts only)."""
    s = settings()
    check_output_file(out, kind=fmt, store=store or s.store, force=force)
    written = tables.export_tables(
        store or s.store, fmt, out, tables=table, point=point, settings=s
    )
    typer.echo(f"({ANALYST_ONLY})")
    for name, n in written.items():
        typer.echo(f"{name}: {n} rows -> {out}")
