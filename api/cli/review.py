"""``engage review``: the partnership review of disruptions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    ForceOpt,
    FromOpt,
    KOpt,
    MarkingOpt,
    StoreOpt,
    ToOpt,
    command,
    day,
    settings,
)
from api.usecases import review as reviews
from geo.errors import ValidationError
from maps.audience import DEFAULT_MARKING
from maps.disclosure import DEFAULT_K
from maps.files import check_output_folder
from maps.reviewfiles import REVIEW_FILES
from models.review_areas import BUFFER_M, RESPONSE_M, WEEKS, ReviewSpec


def _radii(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        msg = f"`--buffer-m` must be metres, comma separated (e.g. 200,400), got {text!r}."
        raise ValidationError(msg) from None


@command()
def review(
    out: Annotated[Path, typer.Option("--out", help="Folder for the review files.")],
    disruption: Annotated[
        list[str] | None,
        typer.Option("--disruption", help="Disruption id to review (repeat; default all)."),
    ] = None,
    start: FromOpt = None,
    end: ToOpt = None,
    tactic: Annotated[
        str | None, typer.Option(help="Only disruptions of this tactic (e.g. closure_order).")
    ] = None,
    before_weeks: Annotated[
        int, typer.Option(help="Weeks before the disruption's week (default 26).")
    ] = WEEKS,
    after_weeks: Annotated[
        int, typer.Option(help="Weeks after the disruption's week (default 26).")
    ] = WEEKS,
    layer: Annotated[
        str,
        typer.Option(
            help="Outcome: both (MFH last-seen and found, the default), found, last_seen "
            "or incidents."
        ),
    ] = "both",
    category: Annotated[
        str | None, typer.Option(help="Incident category (with --layer incidents).")
    ] = None,
    response_m: Annotated[
        float, typer.Option(help="Response area radius in metres (default 150).")
    ] = RESPONSE_M,
    buffer_m: Annotated[
        str, typer.Option(help="Buffer ring radii in metres, comma separated (default 400).")
    ] = ",".join(f"{b:g}" for b in BUFFER_M),
    control: Annotated[
        str,
        typer.Option(
            help="auto (matched blocks, the default), a ward name or code, or a polygon "
            "file (GeoJSON or GeoPackage)."
        ),
    ] = "auto",
    audience: Annotated[
        str, typer.Option(help="analyst (default) or partner (docs/disclosure.md).")
    ] = "analyst",
    k: KOpt = DEFAULT_K,
    marking: MarkingOpt = DEFAULT_MARKING,
    force: ForceOpt = False,
    store: StoreOpt = None,
) -> None:
    """Did the disrupted places fall, did the problem move, or did the benefit spread?

    Writes review.csv, review.pdf, review.html, review.geojson and run.json.
    Exit 0 when every disruption was reviewed, 1 when some could not be (the
    reason in their row), 2 when none could.
    """
    if audience not in ("analyst", "partner"):
        msg = f"`--audience` must be analyst or partner for a review, got {audience!r}."
        raise ValidationError(msg)
    spec = ReviewSpec.make(
        response_m=response_m,
        buffer_m=_radii(buffer_m),
        before_weeks=before_weeks,
        after_weeks=after_weeks,
    )
    s = settings()
    location = store or s.store
    check_output_folder(out, REVIEW_FILES, store=location, force=force)
    run = reviews.review_disruptions(
        location,
        settings=s,
        out_dir=out,
        spec=spec,
        disruption_ids=disruption,
        start=day(start, "--from"),
        end=day(end, "--to"),
        tactic=tactic,
        layer=layer,
        category=category,
        control=control,
        audience=audience,
        k=k,
        marking=marking,
    )
    for did, reason in run.reasons:
        typer.echo(f"engage: {did} not reviewed: {reason}", err=True)
    if run.out is None:
        typer.echo("engage: no disruption could be reviewed; nothing written.", err=True)
        raise typer.Exit(run.exit_code)
    done = run.run["disruptions"]
    typer.echo(
        f"review of {done['reviewed']} of {done['asked']} disruptions ({audience} view) -> {out}"
    )
    for name, path in run.files.items():
        typer.echo(f"  {name:<8} {path}")
    raise typer.Exit(run.exit_code)
