"""``engage gazetteer``: the named streets and places that tell a patrol where a target is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import StoreOpt, command, fail, group, settings
from api.usecases.gazetteer import import_gazetteer

gazetteer_app = group(
    "gazetteer",
    "Named streets and places for the targets (police.uk points, OS Open Names, any point file).",
)


@command("import", failure="nothing stored", on=gazetteer_app)
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="OS Open Names CSV (as published, no header; or with it), a police.uk "
            "street-crime CSV, or a point file (.geojson, .gpkg, .csv with lat/lng or "
            "easting/northing) with a name column."
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            help="Stored kind (default by format: os_open_names, police.uk or file); an import "
            "replaces the stored places of its kind."
        ),
    ] = None,
    name_field: Annotated[
        str | None, typer.Option(help="The column of a point file that holds the names.")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage input.")] = None,
    study_area: Annotated[
        str | None,
        typer.Option(
            help="`lancashire` or authority codes (default $ENGAGE_STUDY_AREA or E06000008)."
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Import a gazetteer: places outside the study area are left out, bad rows reported."""
    s = settings()
    result = import_gazetteer(
        store or s.store,
        files,
        settings=s,
        kind=kind,
        name_field=name_field,
        layer=layer,
        study_area=study_area,
    )
    read = result.read
    typer.echo(
        f"{', '.join(result.files)}: {read.rows_read} rows read, {result.stored} places stored "
        f"as gazetteer `{read.kind}` (replacing the stored ones), "
        f"{read.outside} outside {result.area}, {read.bad} bad"
        + (f", {read.duplicates} repeated codes" if read.duplicates else "")
    )
    for reason, n in read.reasons.most_common():
        typer.echo(f"  {n:>7} x {reason}")
    for line in read.bad_rows:
        typer.echo(f"  {line}")
    if read.bad > len(read.bad_rows):
        typer.echo(f"  and {read.bad - len(read.bad_rows)} more bad rows")
    if result.exit_code == 2:
        fail(
            f"nothing stored: no place with a name and a point inside {result.area}; "
            f"the stored `{read.kind}` gazetteer is unchanged.",
            2,
        )
    raise typer.Exit(result.exit_code)
