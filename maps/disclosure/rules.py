"""The audiences, the partner count rule and secondary suppression: the base of every view."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ValidationError

AUDIENCES = ("analyst", "neighbourhood", "partner")
DEFAULT_AUDIENCE = "analyst"
DEFAULT_K = 5
MIN_K = 3
PARTNER_RES = 8
"""Partner outputs use cells of this resolution (about 0.74 km2)."""
WITHHELD = "[c]"
"""A value withheld so that a small count elsewhere cannot be worked out (secondary)."""
NEIGHBOURHOOD_K = 1
"""Gi* neighbourhood (rings) whose children a partner class must rest on."""

CELL_COUNTS = ("n", "n_last_seen", "n_found", "n_reports", "n_incidents")
"""A cell's events and their parts by layer: ``n`` is the sum of the others."""
CELL_DISTINCT = ("n_episodes", "n_children")
TARGET_COUNTS = {
    "episodes": "n_episodes",
    "children": "n_children",
    "last_seen": "n_last_seen",
    "found": "n_found",
    "venue_reports": "n_reports",
}
"""Target table counts and the cell counts they are (partners see the cells' values)."""

IDENTIFIERS = ("child_ref", "episode_id", "record", "report_id", "venue_id")
"""Columns that point at one child, episode or report: never in a neighbourhood or partner view."""
PLACE_COLUMNS = ("near", "near_m")
"""Where a target is on the street: the nearest named public place (a police.uk map point
or a gazetteer entry, never an address) and its distance from the target's centre in
metres. Public, so every audience that sees target rows sees them."""
PARTNER_TARGET_COLUMNS = (
    "rank",
    "visit_order",
    "h3",
    "ward_name",
    "grid_ref",
    *PLACE_COLUMNS,
    "lat",
    "lng",
    "score_class",
    *TARGET_COUNTS,
    "trend",
    "patrol_window",
    "nearest_venue",
    "why",
)
PARTNER_CELL_COLUMNS = (
    "h3",
    "lat",
    "lng",
    "ward",
    "ward_name",
    "score_class",
    "cluster",
    *CELL_COUNTS,
    *CELL_DISTINCT,
)


@dataclass(frozen=True)
class Audience:
    """An audience and its threshold ``k``: the rules of the module docstring.

    Build it with :meth:`make`, which checks both.
    """

    name: str = DEFAULT_AUDIENCE
    k: int = DEFAULT_K

    @classmethod
    def make(cls, name: str | None = None, k: int | None = None) -> Audience:
        """Checked: ``name`` one of :data:`AUDIENCES`, ``k`` a whole number of at least 3."""
        name = name or DEFAULT_AUDIENCE
        if name not in AUDIENCES:
            msg = f"`audience` must be one of {', '.join(AUDIENCES)}, got {name!r}."
            raise ValidationError(msg)
        k = DEFAULT_K if k is None else k
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < MIN_K:
            msg = (
                f"`k` must be a whole number of at least {MIN_K}, got {k!r}: partner outputs "
                f"never show counts below {MIN_K} apart."
            )
            raise ValidationError(msg)
        return cls(name, int(k))

    @property
    def partner(self) -> bool:
        return self.name == "partner"

    @property
    def analyst(self) -> bool:
        return self.name == "analyst"

    @property
    def shows_venues_layer(self) -> bool:
        """Whether the venues layer may be drawn (analysts only)."""
        return self.analyst

    @property
    def shows_significance_pages(self) -> bool:
        """Whether the printed pack carries the Gi* and trend pages (analysts only).

        The neighbourhood pack is a patrol briefing: its map already ranks the
        same cells, and each target row says whether it is rising or falling.
        A second colouring of the same hexagons by statistical confidence
        invites "which red do we patrol?". The web map keeps both layers,
        switched off, for anyone who wants to look.
        """
        return self.analyst

    @property
    def shows_gradings(self) -> bool:
        return not self.partner

    @property
    def res(self) -> int | None:
        """The only resolution this audience's cells may have (None: any)."""
        return PARTNER_RES if self.partner else None

    @property
    def small(self) -> str:
        """How a suppressed small count reads: ``<5``."""
        return f"<{self.k}"

    def legend_note(self) -> str:
        """One sentence for legends and covers on how counts are shown."""
        if not self.partner:
            return "Counts are exact."
        return (
            f"Counts from 1 to {self.k - 1} are shown as {self.small}, others rounded to the "
            f"nearest 5; {WITHHELD} is withheld so that a small count cannot be worked out."
        )

    # --- counts ---------------------------------------------------------------------------

    def count(self, value: Any) -> str:
        """One count as this audience reads it (``-`` when missing)."""
        return str(self.counts(np.array([value], dtype=object))[0])

    def counts(self, values: Any) -> np.ndarray:
        """Counts as text: exact for analysts and neighbourhood teams; for partners ``0``,
        ``<k`` or rounded to the nearest 5. Missing values read ``-``."""
        raw = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
        out = np.full(len(raw), "-", dtype=object)
        ok = raw.notna().to_numpy()
        v = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        if not self.partner:
            out[ok] = [_number(x) for x in v[ok]]
            return out
        whole = np.where(ok, np.round(v), 0).astype(np.int64)
        rounded = (np.floor(whole / 5 + 0.5) * 5).astype(np.int64)
        text = np.where(
            whole <= 0, "0", np.where(whole < self.k, self.small, rounded.astype(str))
        ).astype(object)
        out[ok] = text[ok]
        return out

    def suppressed(self, values: Any) -> np.ndarray:
        """Whether each count is a primary suppression (from 1 to ``k - 1``) for this audience."""
        numbers = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
        v = numbers.fillna(0).to_numpy(dtype=np.float64)
        if not self.partner:
            return np.zeros(v.size, dtype=bool)
        return np.asarray((v >= 1) & (v < self.k))

    def total(self, values: Any) -> str:
        """The total of exact ``values``, as this audience reads it (summed first, then shown)."""
        exact = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
        return self.count(int(exact.fillna(0).sum()))

    # --- events ---------------------------------------------------------------------------

    def events(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events this audience's outputs may rest on.

        Partners: intelligence with handling code ``C`` (sharing with
        conditions) is left out before anything is analysed, so nothing of it
        reaches a partner output, not even through a score.
        """
        if not self.partner or "handling_code" not in events.columns:
            return events
        conditional = events["handling_code"].astype(str).str.upper().eq("C")
        return events.loc[~conditional.to_numpy()].reset_index(drop=True)


def _number(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.1f}"


def protect(exact: np.ndarray, hidden: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Secondary suppression: values to withhold so no hidden value can be had by subtraction.

    ``exact`` and ``hidden`` (True where a value is suppressed as small) are
    flat arrays of a table's values. Each group is an array of positions
    whose values add up to a published total (the total one of them, or
    shown elsewhere). A group with exactly one hidden non-zero value and a
    shown non-zero value would give the hidden one away (total minus the
    rest), so its smallest shown non-zero value is withheld too (ties: the
    first); repeated over all groups until none gives anything away.
    Returns the mask of withheld values.
    """
    exact = np.asarray(exact, dtype=np.float64)
    hid = np.asarray(hidden, dtype=bool).copy()
    extra = np.zeros(hid.size, dtype=bool)
    nonzero = exact > 0
    changed = True
    while changed:
        changed = False
        for group in groups:
            g = np.asarray(group, dtype=np.int64)
            if ((hid[g] & nonzero[g]).sum() != 1) or not (~hid[g] & nonzero[g]).any():
                continue
            shown = g[~hid[g] & nonzero[g]]
            pick = shown[np.argmin(exact[shown])]
            hid[pick] = extra[pick] = True
            changed = True
    return extra


def _shown(audience: Audience, exact: np.ndarray, withheld: np.ndarray) -> np.ndarray:
    text = audience.counts(exact)
    text[np.asarray(withheld, dtype=bool)] = WITHHELD
    return text


def disclose_table(
    frame: pd.DataFrame,
    audience: Audience,
    columns: Sequence[str],
    *,
    row_sums: Mapping[str, Sequence[str]] | None = None,
    column_totals: Sequence[str] = (),
) -> pd.DataFrame:
    """Counts of ``columns`` as ``audience`` may see them, with secondary suppression.

    ``row_sums`` maps a total column to its part columns (``n`` to the
    layers' counts); ``column_totals`` names the columns whose sum over the
    rows is shown elsewhere (an area total on the cover). Returns a copy
    with those columns as text.
    """
    out = frame.copy()
    present = [c for c in columns if c in out.columns]
    if not present or not audience.partner:
        for c in present:
            out[c] = audience.counts(out[c].to_numpy())
        return out
    n_rows = len(out)
    exact = np.column_stack(
        [pd.to_numeric(out[c], errors="coerce").fillna(0).to_numpy(np.float64) for c in present]
    ).ravel(order="F")
    hidden = audience.suppressed(exact)
    pos = {c: np.arange(n_rows) + i * n_rows for i, c in enumerate(present)}
    groups: list[np.ndarray] = []
    for total, parts in (row_sums or {}).items():
        members = [c for c in (total, *parts) if c in pos]
        if total in pos and len(members) > 1:
            groups += [np.array([pos[c][r] for c in members]) for r in range(n_rows)]
    groups += [pos[c] for c in column_totals if c in pos]
    withheld = protect(exact, hidden, groups)
    for c in present:
        out[c] = _shown(audience, exact[pos[c]], withheld[pos[c]])
    return out
