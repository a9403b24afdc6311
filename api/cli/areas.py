"""``engage areas``: load the user's own boundaries (wards, neighbourhoods, beats, LSOAs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import StoreOpt, command, group, settings
from api.usecases.areas import import_areas, list_areas
from geo.areas import IMPORTED_KINDS

areas_app = group(
    "areas",
    "Boundaries packs page by and --area names: import your own, list what is loaded.",
)


@command("import", failure="nothing stored", on=areas_app)
def import_(
    file: Annotated[Path, typer.Argument(help="GeoJSON or GeoPackage of polygons, any CRS.")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(IMPORTED_KINDS)}.")],
    code_field: Annotated[
        str | None, typer.Option(help="Field holding each area's code (default: guessed).")
    ] = None,
    name_field: Annotated[
        str | None, typer.Option(help="Field holding each area's name (default: guessed).")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a GeoPackage.")] = None,
    store: StoreOpt = None,
) -> None:
    """Store boundary polygons as areas of a kind and assign every stored point to them."""
    s = settings()
    got = import_areas(
        store or s.store,
        file,
        kind=kind,
        settings=s,
        code_field=code_field,
        name_field=name_field,
        layer=layer,
    )
    typer.echo(
        f"{got.path}: {got.stored} {kind} area(s) stored (codes from `{got.code_field}`, "
        f"names from `{got.name_field}`)"
    )
    for note in got.notes:
        typer.echo(f"  note: {note}")
    for column, n in got.assigned.items():
        typer.echo(f"  {column}: {n} point(s) in an area")


@command("list", on=areas_app)
def list_(store: StoreOpt = None) -> None:
    """The kinds of area in use, where each came from, and how many there are."""
    s = settings()
    table = list_areas(store or s.store, settings=s)
    for row in table.itertuples(index=False):
        typer.echo(f"{row.kind:<14} {row.areas:>6}  {row.source:<24} {row.examples}")
