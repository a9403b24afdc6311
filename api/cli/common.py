"""What every command of the ``engage`` command line shares.

The typer ``app``, the options several commands take, and :func:`command`,
which registers a command and maps the domain errors it may raise to exit
codes through the one table :data:`EXIT_CODES`:

- 0: done (for ingest: every row of every file stored);
- 1: ingest stored some rows or files and quarantined or refused others;
- 2: nothing done or stored (unusable file, usage error, refusal), with a
  one-line reason on stderr and never a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from api.settings import Settings
from api.usecases.area import NOTICES
from geo.calendar import parse_day
from geo.errors import InputFileError, PseudonymKeyError, StoreError, ValidationError
from geo.ingest import StrictRefusal

app = typer.Typer(
    name="engage",
    help="Engage Hotspots: hotspots and patrol targets for missing and exploited children.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (StrictRefusal, 2),
    (PseudonymKeyError, 2),
    (InputFileError, 2),
    (ValidationError, 2),
    (StoreError, 2),
)
"""Domain error -> exit code, first match wins. Anything else is a defect and is raised."""

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``engage: message`` on stderr and exit with ``code``."""
    typer.echo(f"engage: {message}", err=True)
    raise typer.Exit(code)


def group(name: str, help_text: str) -> typer.Typer:
    """A command group (``engage areas import``): a sub-app of :data:`app`."""
    sub = typer.Typer(name=name, help=help_text, no_args_is_help=True, add_completion=False)
    app.add_typer(sub, name=name)
    return sub


def command(
    name: str | None = None, *, failure: str = "", on: typer.Typer | None = None
) -> Callable[[F], F]:
    """Register a command (on ``app``, or the group ``on``); its domain errors exit
    through :data:`EXIT_CODES`.

    ``failure`` prefixes the reason (``"nothing stored"`` for ingest);
    ``group`` is the command group it belongs to (default the top level).
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except tuple(kind for kind, _ in EXIT_CODES) as exc:
                code = next(c for kind, c in EXIT_CODES if isinstance(exc, kind))
                fail(f"{failure}: {exc}" if failure else str(exc), code)
            finally:
                while NOTICES:
                    typer.echo(f"engage: note: {NOTICES.pop(0)}", err=True)

        (on or app).command(name)(run)
        return fn

    return wrap


def settings() -> Settings:
    """The environment's settings, applied (boundary folder); a bad one is a usage error."""
    return Settings.from_env().apply()


def day(text: str | None, name: str) -> Any:
    """A command-line day (UK midnight, in UTC), or None."""
    return parse_day(text, name)


StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="A .gpkg path or a postgresql:// URL (default $ENGAGE_STORE or ./engage.gpkg).",
    ),
]
MarkingOpt = Annotated[str, typer.Option(help="Security marking on every printed page.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UK time).")]
ToOpt = Annotated[
    str | None, typer.Option("--to", help="Day after the last, YYYY-MM-DD (UK time).")
]
MethodOpt = Annotated[
    str | None,
    typer.Option(help="count (the default), kde, dbscan or gistar (Getis-Ord Gi*)."),
]
ResOpt = Annotated[
    int | None, typer.Option(help="H3 resolution of the analysis (7-11; default 9).")
]
AreaOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--area",
        help="Name or code of an area: a ward, neighbourhood, beat or LSOA loaded with "
        "`engage areas import` (or shipped), or a district (repeat for several).",
    ),
]
PageByOpt = Annotated[
    str | None,
    typer.Option(
        "--page-by",
        help="One map page per area of this kind: ward, neighbourhood, beat, lsoa or "
        "district (default: one page for the area, or one per --area).",
    ),
]
ParamsOpt = Annotated[
    Path | None,
    typer.Option(
        "--params",
        help="Parameter file from `engage tune` (default: the store's accepted ones, "
        "else the defaults).",
    ),
]
AudienceOpt = Annotated[
    str,
    typer.Option(
        help="Who the output is for: analyst (everything), neighbourhood or partner "
        "(docs/disclosure.md)."
    ),
]
KOpt = Annotated[
    int,
    typer.Option(
        "--k",
        help="Partner outputs show counts from 1 to k-1 as <k and round the rest to 5 "
        "(default 5, never below 3).",
    ),
]
NearOpt = Annotated[
    float,
    typer.Option(
        "--near-m",
        min=1,
        max=5000,
        help="Name each target by the nearest street or place within this many metres "
        "of its centre (default 150).",
    ),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing output (never the store, nor a file of another kind).",
    ),
]


def out_kind(out: Path) -> str:
    """The kind of a per-cell table output, by its suffix."""
    return "geojson" if out.suffix.lower() == ".geojson" else "csv"
