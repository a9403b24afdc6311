"""Who a map or pack is for, and what that audience may see.

One place for the rules every output follows (the web map, the PDF pack and
the exports):

- ``analyst``: everything we draw (cells, clusters, targets, venues).
- ``neighbourhood``: no venues layer; never child-level points (no output here
  draws event points for any audience).
- ``partner``: cells at resolution 8 or coarser, and every count of children or
  episodes below ``suppress_below`` (default 5) shown as ``<5``; Gi* classes and
  emerging patterns only where the cell's neighbourhood holds at least
  ``suppress_below`` children (:mod:`maps.significance`).
- The printed Gi* and trend pages are for ``analyst`` packs only
  (:attr:`OutputMeta.shows_significance_pages`); the web map offers both layers
  to every audience, switched off.

Home and care-home locations are never given to this package and never drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ValidationError

AUDIENCES = ("analyst", "neighbourhood", "partner")
DEFAULT_MARKING = "OFFICIAL-SENSITIVE"
DEFAULT_SUPPRESS_BELOW = 5
PARTNER_MAX_RES = 8
"""Partner outputs use cells of this resolution or coarser (about 0.74 km2)."""

CHILD_COUNT_COLUMNS = frozenset(
    {
        "episodes",
        "children",
        "found",
        "last_seen",
        "n",
        "n_children",
        "n_episodes",
        "n_found",
        "n_last_seen",
        "found_locations",
    }
)
"""Counts of children or their episodes: suppressed for partners when small."""


@dataclass(frozen=True)
class OutputMeta:
    """The ``meta`` dict of a map or pack, checked, with defaults filled in.

    Parameters
    ----------
    title, period, data_window, area_name
        Text shown on the map and the pack (``period`` is the patrol week).
    audience
        ``analyst``, ``neighbourhood`` or ``partner``.
    marking
        Security marking on every banner, header and footer; default
        ``OFFICIAL-SENSITIVE``.
    parameters, summary
        Method parameters and summary counts, shown on the pack's cover.
    generated_at, version
        Provenance printed in the footer.
    suppress_below
        Partner audience: counts below this are shown as ``<k``; default 5.
    """

    title: str
    period: str
    data_window: str
    area_name: str
    audience: str
    marking: str
    parameters: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    generated_at: str = ""
    version: str = ""
    suppress_below: int = DEFAULT_SUPPRESS_BELOW

    @classmethod
    def from_mapping(cls, meta: Mapping[str, Any]) -> OutputMeta:
        """Check ``meta`` and fill in defaults.

        Raises
        ------
        ValidationError
            For an unknown audience or a ``suppress_below`` below 1.
        """
        audience = str(meta.get("audience") or "neighbourhood")
        if audience not in AUDIENCES:
            msg = f"`audience` must be one of {', '.join(AUDIENCES)}, got {audience!r}."
            raise ValidationError(msg)
        k = meta.get("suppress_below", DEFAULT_SUPPRESS_BELOW)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            msg = f"`suppress_below` must be a whole number >= 1, got {k!r}."
            raise ValidationError(msg)
        marking = str(meta.get("marking") or DEFAULT_MARKING).strip() or DEFAULT_MARKING
        return cls(
            title=str(meta.get("title") or "Hotspot map"),
            period=str(meta.get("period") or ""),
            data_window=str(meta.get("data_window") or ""),
            area_name=str(meta.get("area_name") or ""),
            audience=audience,
            marking=marking,
            parameters=dict(meta.get("parameters") or {}),
            summary=dict(meta.get("summary") or {}),
            generated_at=str(meta.get("generated_at") or ""),
            version=str(meta.get("version") or ""),
            suppress_below=int(k),
        )

    @property
    def suppressing(self) -> bool:
        """Whether small counts are hidden (the partner audience)."""
        return self.audience == "partner"

    @property
    def shows_venues(self) -> bool:
        """Whether the venues layer may be drawn (the analyst audience only)."""
        return self.audience == "analyst"

    @property
    def shows_significance_pages(self) -> bool:
        """Whether the printed pack carries the Gi* and trend pages (analysts only).

        The neighbourhood pack is a patrol briefing: its map already ranks the
        same cells, and each target row says whether it is rising or falling.
        A second colouring of the same hexagons by statistical confidence
        invites "which red do we patrol?", and the caveats (false discovery
        rate, 90% vs 99%) do not survive a shift briefing. The web map keeps
        both layers, switched off, for anyone who wants to look.
        """
        return self.audience == "analyst"

    def count_text(self, value: Any, column: str) -> str:
        """One count as text, suppressed for partners when it is a small child count."""
        below = self.suppress_below if self.suppressing and column in CHILD_COUNT_COLUMNS else None
        return format_count(value, suppress_below=below)

    def count_texts(self, values: Iterable[Any], column: str) -> list[str]:
        """:meth:`count_text` of each value."""
        return [self.count_text(v, column) for v in values]


def format_count(value: Any, *, suppress_below: int | None = None) -> str:
    """A count as text: ``12``, ``<5`` when suppressed, ``-`` when missing.

    Text that is already a count or a suppression mark (``"<5"``, as the
    weekly-pack service sends for partners) is kept as it is.

    Parameters
    ----------
    value
        A number, text or missing value.
    suppress_below
        When given, numbers below it become ``<k``; ``None`` shows every number.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    number = float(value)
    if suppress_below is not None and number < suppress_below:
        return f"<{suppress_below}"
    return f"{int(number)}" if number.is_integer() else f"{number:.1f}"


def text_or_dash(value: Any) -> str:
    """Text from data for display: ``-`` for missing values."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = str(value).strip()
    return text or "-"


def require_columns(frame: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    """Raise a clear error when ``frame`` lacks any of ``columns``.

    Raises
    ------
    ValidationError
        Naming the argument, the missing columns and the columns it has.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = (
            f"`{name}` lacks columns {missing}; it has {list(frame.columns)}. "
            "Build it with the models package or add the columns."
        )
        raise ValidationError(msg)
