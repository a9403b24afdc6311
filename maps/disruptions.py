"""Disruptions on the map and in the pack: the layer, its popups, its legend and its symbol.

Disruptions are drawn as magenta diamonds, apart from the score colours,
the navy numbered targets and the green venues. The frame drawn is
:func:`maps.disclosure.disruptions_view`'s for the output's audience: this
module prints what the view holds and decides nothing. A partner's view
places each disruption at its res-8 cell, so partner outputs draw that
cell's outline, dashed, with the diamond at its centre.

A target's circle is drawn over any diamond beneath it, so its number stays
readable; a target whose row notes a disruption (in its cell or near it)
carries a small diamond badge on its circle instead, on the map and on paper.

The popup of a place lists each of its disruptions as "tactic, date", the
venue's name where the view has one, and, in an analyst's view, its id and
note. All text from data is escaped (:func:`maps.leaflet.esc`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from geo.calendar import uk_day
from geo.crs import latlng_to_metric
from geo.errors import ValidationError
from maps.audience import OutputMeta, require_columns, require_view
from maps.cells import check_partner_resolution
from maps.leaflet import esc
from maps.style import DISRUPTION_COLOUR
from models.disruptions import (
    DISPLACEMENT_M,
    DISPLACEMENT_WEEKS,
    NEAR_M,
    DisruptionAnalysis,
    tactic_text,
)

POPUP_LINES = 12
"""Disruptions a place's popup lists before it says how many earlier ones there were."""
LAYER_DISRUPTIONS = "Disruptions (magenta diamonds)"
"""The layer's name in the map's layer control."""
DISRUPTION_COLUMNS = ("disrupted_at", "lat", "lng", "h3", "tactic")
"""Columns every disruptions frame needs (``venue_name``, ``disruption_id``, ``note``
are printed where the view has them)."""


@dataclass(frozen=True)
class DisruptionLayer:
    """The disruptions an output draws, with what its text says about them.

    Parameters
    ----------
    frame
        :func:`maps.disclosure.disruptions_view` of the run's drawn disruptions.
    left_off
        Disruptions of the window with no place, so not drawn.
    window
        The window's dates as printed, ``3 Mar 2025 - 8 Mar 2026``.
    near_m, displacement_m, displacement_weeks
        The distances and weeks the target notes were made with.
    """

    frame: pd.DataFrame
    left_off: int = 0
    window: str = ""
    near_m: float = NEAR_M
    displacement_m: float = DISPLACEMENT_M
    displacement_weeks: int = DISPLACEMENT_WEEKS

    @classmethod
    def of(cls, view: pd.DataFrame, found: DisruptionAnalysis, window: str) -> DisruptionLayer:
        """The layer of a view and the analysis it came from."""
        p = found.params
        return cls(view, found.left_off, window, p.near_m, p.displacement_m, p.displacement_weeks)

    def checked(self, info: OutputMeta) -> DisruptionLayer:
        """The layer, after checking it is this audience's view with the columns drawn.

        Raises
        ------
        ValidationError
            For a partner or neighbourhood frame that is not its view, missing
            columns, or partner cells finer than resolution 8.
        """
        require_view(self.frame, "disruptions", info)
        require_columns(self.frame, "disruptions", DISRUPTION_COLUMNS)
        if self.left_off < 0:
            msg = f"`left_off` must be 0 or more, got {self.left_off}."
            raise ValidationError(msg)
        if info.suppressing and len(self.frame):
            check_partner_resolution(self.frame["h3"].to_numpy(dtype=np.int64), info.audience)
        return self


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def left_off_text(layer: DisruptionLayer) -> str:
    """The sentence saying how many disruptions had no place ("" when none)."""
    if not layer.left_off:
        return ""
    verb = "is" if layer.left_off == 1 else "are"
    return (
        f"{_plural(layer.left_off, 'disruption')} of the window had no place recorded "
        f"(no point, and no venue with one) and {verb} not drawn."
    )


def legend_note(layer: DisruptionLayer) -> str:
    """The map legend's note on the layer: the badge, and any disruptions left off."""
    text = "A small diamond on a target: a disruption at or near it (see its popup)."
    rest = left_off_text(layer)
    return f"{text} {rest}" if rest else text


def about_text(layer: DisruptionLayer, info: OutputMeta) -> str:
    """What the layer shows, for the pack's cover: window, count, placing, notes, flag."""
    window = f" dated {layer.window}" if layer.window else ""
    where = (
        "each at its area cell (H3 resolution 8, outlined), not at its exact place"
        if info.suppressing
        else "each at its place"
    )
    text = (
        f"Magenta diamonds are disruptions{window} (the data window and the patrol week): "
        f"{len(layer.frame)} drawn, {where}. A target's disruption line names those in its "
        f"cell or within {layer.near_m:g} m of it, most recent first, and its circle carries "
        "a small diamond."
    )
    if info.rules.analyst:
        text += (
            " Possible displacement: a target whose last 4 weeks were busier than the 4 before, "
            f"with a disruption outside its cell but within {layer.displacement_m:g} m of it in "
            f"the {layer.displacement_weeks} weeks before the patrol week."
        )
    rest = left_off_text(layer)
    return f"{text} {rest}" if rest else text


def _headline(row: pd.Series) -> str:
    """``Closure order, 17 Mar 2026``, escaped."""
    tactic = tactic_text(row["tactic"])
    return f"{esc(tactic[:1].upper() + tactic[1:])}, {esc(uk_day(row['disrupted_at']))}"


def _line(row: pd.Series, analyst: bool) -> str:
    text = f"<b>{_headline(row)}</b>"
    name = row.get("venue_name")
    if isinstance(name, str) and name.strip():
        text += f" &middot; {esc(name)}"
    if analyst:
        note = row.get("note")
        extra = esc(row.get("disruption_id"))
        if isinstance(note, str) and note.strip():
            extra += f": {esc(note)}"
        text += f'<br><span class="engage-disruption-note">{extra}</span>'
    return text


def disruption_items(frame: pd.DataFrame, info: OutputMeta) -> list[dict[str, Any]]:
    """One map marker per place (one per cell for partners), its popup listing every
    disruption there, most recent first; escaped text, partner cells' outlines."""
    if frame.empty:
        return []
    partner = info.suppressing
    rows = frame.sort_values("disrupted_at", ascending=False, kind="stable")
    rows = rows.assign(_lat=rows["lat"].round(7), _lng=rows["lng"].round(7))
    items: list[dict[str, Any]] = []
    for _, here in rows.groupby(["_lat", "_lng"], sort=False):
        first = here.iloc[0]
        listed = here.head(POPUP_LINES)
        lines = [_line(r, info.rules.analyst) for _, r in listed.iterrows()]
        if len(here) > len(listed):
            lines.append(f"and {len(here) - len(listed)} earlier")
        head = "Disruption" if len(here) == 1 else f"Disruptions here ({len(here)})"
        note = (
            '<p class="engage-disruption-area">Shown at its area cell (H3 resolution 8), '
            "not at its exact place.</p>"
            if partner
            else ""
        )
        popup = (
            f'<div class="engage-popup-body engage-disruption-popup"><h4>{head}</h4>'
            + "<br>".join(lines)
            + note
            + "</div>"
        )
        tip = _headline(first)
        if len(here) > 1:
            tip += f" and {len(here) - 1} more"
        cell = int(first["h3"])
        item: dict[str, Any] = {
            "lat": float(first["_lat"]),
            "lng": float(first["_lng"]),
            "n": len(here),
            "title": head,
            "popup": popup,
            "tip": tip,
        }
        if partner:
            ring = np.asarray(h3i.cell_to_boundary(cell), dtype=np.float64)
            item["outline"] = [[round(float(a), 7), round(float(b), 7)] for a, b in ring]
        items.append(item)
    return items


def legend_row(info: OutputMeta) -> str:
    """The map legend's row for the layer."""
    label = "Disruption (its area cell)" if info.suppressing else "Disruption"
    return (
        '<div class="engage-legend-row"><i class="engage-legend-diamond" '
        f'style="background:{DISRUPTION_COLOUR}"></i>{label}</div>'
    )


def draw_disruptions(
    ax: Axes, frame: pd.DataFrame | None, extent: tuple[float, float, float, float]
) -> list[Line2D]:
    """Draw the disruptions in view on a static map (BNG axes); their legend handle, if any.

    A partner's frame (res-8 cells) is drawn as each cell's dashed outline
    with the diamond at its centre. The targets are drawn over the diamonds;
    :func:`draw_target_badges` marks the targets that have a disruption line.
    """
    if frame is None or frame.empty:
        return []
    cells = frame["h3"].to_numpy(dtype=np.int64)
    partner = bool(frame.attrs.get("audience") == "partner")
    e, n = latlng_to_metric(frame["lat"].to_numpy(np.float64), frame["lng"].to_numpy(np.float64))
    x0, y0, x1, y1 = extent
    inside = (e >= x0) & (e <= x1) & (n >= y0) & (n <= y1)
    if not inside.any():
        return []
    if partner:
        for cell in np.unique(cells[inside]):
            ring = np.asarray(h3i.cell_to_boundary(int(cell)), dtype=np.float64)
            ring = np.vstack([ring, ring[:1]])
            re_, rn = latlng_to_metric(ring[:, 0], ring[:, 1])
            ax.plot(
                re_, rn, color=DISRUPTION_COLOUR, linewidth=1.0, linestyle=(0, (3, 2)), zorder=8
            )
    ax.scatter(
        e[inside],
        n[inside],
        marker="D",
        s=42,
        c=DISRUPTION_COLOUR,
        edgecolors="white",
        linewidths=0.9,
        zorder=8.5,
    )
    label = "Disruption (its area cell)" if partner else "Disruption"
    return [
        Line2D(
            [],
            [],
            marker="D",
            linestyle="none",
            markersize=6,
            markerfacecolor=DISRUPTION_COLOUR,
            markeredgecolor="white",
            label=label,
        )
    ]


BADGE_PT = 7.5
"""How far (points) a badge sits from its target's centre: on the rim of the circle."""


def draw_target_badges(ax: Axes, e: np.ndarray, n: np.ndarray, metres_per_pt: float) -> None:
    """A small magenta diamond on the upper right of each target circle at (``e``, ``n``)."""
    if not len(e):
        return
    offset = BADGE_PT * metres_per_pt * np.sqrt(0.5)
    ax.scatter(
        np.asarray(e) + offset,
        np.asarray(n) + offset,
        marker="D",
        s=22,
        c=DISRUPTION_COLOUR,
        edgecolors="white",
        linewidths=0.8,
        zorder=12,
    )


def noted(targets: pd.DataFrame) -> np.ndarray:
    """Whether each target's row notes a disruption (its ``disruption`` text)."""
    if "disruption" not in targets.columns:
        return np.zeros(len(targets), dtype=bool)
    text = targets["disruption"].astype(object)
    return np.asarray([isinstance(v, str) and v.strip() not in ("", "-") for v in text], dtype=bool)
