"""``engage layers``: base layers (roads, buildings, landmarks) drawn under the maps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import StoreOpt, command, fail, group, settings
from api.usecases.layers import import_layer
from geo.baselayers import KINDS

layers_app = group(
    "layers",
    "Base layers drawn offline under the web map and the PDF: roads, buildings, landmarks.",
)


@command("import", failure="nothing stored", on=layers_app)
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A GeoPackage (.gpkg) or GeoJSON file, any CRS.")],
    kind: Annotated[str, typer.Option("--kind", help="roads, buildings or landmarks.")],
    layer: Annotated[
        str | None, typer.Option("--layer", help="Layer of a GeoPackage holding several.")
    ] = None,
    name_field: Annotated[
        str | None,
        typer.Option(
            "--name-field",
            help="Field holding the names (default: the first of name, name1, DISTNAME, "
            "road_name, street, ... found).",
        ),
    ] = None,
    study_area: Annotated[
        str | None,
        typer.Option(
            help="`lancashire` or authority codes (default $ENGAGE_STUDY_AREA or E06000008)."
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Import a base layer, clipped to the study area (1 km margin) and simplified (1 m).

    The layer replaces the stored one of its kind in one transaction; a refused
    file leaves the stored layer as it was.
    """
    if kind not in KINDS:
        fail(f"nothing stored: unknown --kind `{kind}`; expected one of {', '.join(KINDS)}.")
    s = settings()
    result = import_layer(
        store or s.store,
        file,
        kind,
        settings=s,
        layer=layer,
        name_field=name_field,
        study_area=study_area,
    )
    for line in result.lines():
        typer.echo(line)
