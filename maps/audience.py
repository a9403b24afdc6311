"""The text every map and pack prints about itself, checked: :class:`OutputMeta`.

Who may see what is not decided here but in :mod:`maps.disclosure`, the one
rule set; :attr:`OutputMeta.rules` is that audience's :class:`Audience`, and
:func:`require_view` refuses a frame for a partner or neighbourhood output
that did not come from the disclosure module's views. Counts arrive as
that module made them (text such as ``<5`` or ``[c]`` for partners) and are
printed as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ValidationError
from maps.disclosure import (
    AUDIENCES,
    DEFAULT_K,
    SUMMARY_COUNTS,
    Audience,
    is_shown_count,
)

DEFAULT_MARKING = "OFFICIAL-SENSITIVE"
DEFAULT_SUPPRESS_BELOW = DEFAULT_K


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
        summary = dict(meta.get("summary") or {})
        rules = Audience(audience, int(k))
        bad = {
            key: v
            for key, v in summary.items()
            if key in SUMMARY_COUNTS and not is_shown_count(v, rules)
        }
        if bad:
            msg = (
                f"the {audience} summary holds counts {bad} that maps.disclosure did not "
                "disclose; pass it through maps.disclosure.summary_view."
            )
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
    def rules(self) -> Audience:
        """The audience's disclosure rules (:mod:`maps.disclosure`)."""
        return Audience(self.audience, max(int(self.suppress_below), 1))

    @property
    def suppressing(self) -> bool:
        """Whether counts were disclosed as small or rounded (the partner audience)."""
        return self.rules.partner

    @property
    def shows_venues(self) -> bool:
        """Whether the venues layer may be drawn."""
        return self.rules.shows_venues_layer

    @property
    def shows_significance_pages(self) -> bool:
        """Whether the printed pack carries the Gi* and trend pages."""
        return self.rules.shows_significance_pages

    def count_text(self, value: Any) -> str:
        """One count as printed: as the disclosure module gave it (``-`` when missing)."""
        return format_count(value)

    def count_texts(self, values: Iterable[Any]) -> list[str]:
        """:meth:`count_text` of each value."""
        return [self.count_text(v) for v in values]


def require_view(frame: pd.DataFrame | None, name: str, info: OutputMeta) -> None:
    """Refuse a frame for a partner or neighbourhood output that is not that audience's view.

    The views of :mod:`maps.disclosure` are stamped with their audience
    (``frame.attrs["audience"]``); anything else would print what that
    module did not decide.
    """
    if frame is None or info.audience == "analyst":
        return
    seen = frame.attrs.get("audience")
    if seen != info.audience:
        msg = (
            f"`{name}` for a {info.audience} output must come from maps.disclosure "
            f"(its {info.audience} view); got a frame marked {seen!r}."
        )
        raise ValidationError(msg)


def format_count(value: Any, *, suppress_below: int | None = None) -> str:
    """A count as text: ``12``, ``<5`` when suppressed, ``-`` when missing.

    Text that is already a count or a suppression mark (``"<5"``, ``"[c]"``,
    as :mod:`maps.disclosure` gives partners) is kept as it is.

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
