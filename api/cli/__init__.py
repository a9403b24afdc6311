"""The ``engage`` command line. Thin: parse, call one use case, print.

Commands live by group in :mod:`api.cli.data` (init, ingest, simulate, stats,
export, demo), :mod:`api.cli.areas` (areas import, areas list),
:mod:`api.cli.gazetteer` (gazetteer import), :mod:`api.cli.layers`
(layers import: base layers for the maps),
:mod:`api.cli.analysis` (hotspots, trends, targets, weekly),
:mod:`api.cli.evaluation` (backtest, tune) and :mod:`api.cli.review` (the
partnership review);
:mod:`api.cli.common` holds the app, the shared options and the one table
from domain errors to exit codes.
"""

from __future__ import annotations

# isort: off
# The order of `engage --help`:
from api.cli import data, areas, gazetteer, layers, analysis, evaluation, review

# isort: on
from api.cli.common import app

__all__ = [
    "analysis",
    "app",
    "areas",
    "data",
    "evaluation",
    "gazetteer",
    "layers",
    "main",
    "review",
]


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
