"""Colours and classes shared by the web map and the printed pack.

Cells are coloured by *score class*: the cell's score as a share of the
area's top score, in halvings. The Gi* layer colours its significant cells by confidence
(:data:`GISTAR_CLASSES`) and the trend layer by emerging pattern
(:data:`EMERGING_CLASSES`). The classes are the same on screen and on paper,
so the legends read the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ScoreClass:
    """One colour class of hotspot cells.

    Parameters
    ----------
    label
        Legend text.
    colour
        Fill colour (hex).
    lower
        A cell is in this class when its score is at least this share (0-1)
        of the area's top score.
    """

    label: str
    colour: str
    lower: float


# ColorBrewer YlOrRd (5 classes): sequential in lightness, so it still reads
# when printed in greyscale. Each class is half the score of the one above, so
# a cell's colour says how it compares with the hottest cell of the area: the
# same on a whole district and on one ward with a few scored cells, and two
# cells whose scores differ several times never share a colour.
SCORE_CLASSES: tuple[ScoreClass, ...] = (
    ScoreClass("Half the top score or more", "#bd0026", 0.5),
    ScoreClass("A quarter to a half", "#f03b20", 0.25),
    ScoreClass("An eighth to a quarter", "#fd8d3c", 0.125),
    ScoreClass("A sixteenth to an eighth", "#fecc5c", 0.0625),
    ScoreClass("Under a sixteenth", "#ffffb2", 0.0),
)

TARGET_FILL = "#08306b"
TARGET_TEXT = "#ffffff"
OTHER_TARGET_FILL = "#6b7a8f"
HULL_COLOUR = "#54278f"
AREA_COLOUR = "#111111"
CONTEXT_COLOUR = "#8c8c8c"
VENUE_COLOUR = "#006d2c"
DISRUPTION_COLOUR = "#c51b7d"
"""Disruption diamonds (magenta: apart from the score colours, the navy targets and the
green venues)."""
MAP_BACKGROUND = "#f4f3ee"
MARKING_BACKGROUND = "#1d1d1b"
MARKING_TEXT = "#ffffff"


def score_class_index(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Index into :data:`SCORE_CLASSES` of each (positive) score (0 is hottest).

    A cell's class is set by its score's share of the top score among the
    given scores: at least a half, a quarter, an eighth, a sixteenth, or less.
    Tied scores share a class and a hotter cell is never in a cooler class.
    Vectorised.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return np.empty(0, dtype=np.int64)
    top = float(np.max(s))
    share = s / top if top > 0 else np.zeros_like(s)
    lowers = np.array([c.lower for c in SCORE_CLASSES])
    # First class (hottest first) whose lower bound the share reaches.
    reached = share[:, None] >= lowers[None, :]
    return np.argmax(reached, axis=1).astype(np.int64)


def drawn_classes(frame: pd.DataFrame) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Which cells of a hotspot frame are drawn, and the index into :data:`SCORE_CLASSES` of each.

    A frame from :func:`maps.disclosure.cells_view` carries ``score_class``
    (1 hottest, 0 not drawn), so a partner frame needs no score; otherwise the
    classes come from ``score`` (cells scoring 0 or less are not drawn).
    """
    import pandas as pd

    if "score_class" in frame.columns:
        cls = pd.to_numeric(frame["score_class"], errors="coerce").fillna(0).to_numpy(np.int64)
        drawn = cls > 0
        return drawn, np.maximum(cls[drawn] - 1, 0)
    score = pd.to_numeric(frame["score"], errors="coerce").fillna(0).to_numpy(np.float64)
    drawn = score > 0
    return drawn, score_class_index(score[drawn])


# --- significance layers: Gi* classes and emerging hot/cold spot patterns ----


@dataclass(frozen=True)
class CellClass:
    """One class of a categorical cell layer (Gi* confidence, emerging pattern).

    Parameters
    ----------
    key
        The model's label (``hot_99``, ``new_hot``...).
    label
        Legend and tooltip text.
    colour
        Fill colour (hex).
    edge
        Outline colour (hex).
    dashed
        Whether the outline is dashed (cold patterns on the trend layer).
    """

    key: str
    label: str
    colour: str
    edge: str
    dashed: bool = False


HOT_EDGE = "#67001f"
COLD_EDGE = "#053061"

# ColorBrewer RdBu, 6 classes (the neutral middle dropped: "not significant"
# is never drawn). Diverging red/blue is readable with every common form of
# colour blindness, and the darkest colours are the most confident on both
# sides, so it also reads in greyscale as "stronger / weaker".
GISTAR_CLASSES: tuple[CellClass, ...] = (
    CellClass("hot_99", "Hot spot, 99% confidence", "#b2182b", HOT_EDGE),
    CellClass("hot_95", "Hot spot, 95% confidence", "#ef8a62", HOT_EDGE),
    CellClass("hot_90", "Hot spot, 90% confidence", "#fddbc7", HOT_EDGE),
    CellClass("cold_90", "Cold spot, 90% confidence", "#d1e5f0", COLD_EDGE),
    CellClass("cold_95", "Cold spot, 95% confidence", "#67a9cf", COLD_EDGE),
    CellClass("cold_99", "Cold spot, 99% confidence", "#2166ac", COLD_EDGE),
)

EMERGING_PATTERN_LABELS: tuple[tuple[str, str], ...] = (
    ("new", "New"),
    ("consecutive", "Consecutive"),
    ("intensifying", "Intensifying"),
    ("persistent", "Persistent"),
    ("diminishing", "Diminishing"),
    ("sporadic", "Sporadic"),
    ("oscillating", "Oscillating"),
    ("historical", "Historical"),
)
"""The eight patterns of ArcGIS Pro's Emerging Hot Spot Analysis, in its order."""

# Sixteen classes cannot each get a hue that every reader tells apart, so the
# colour carries two things a reader can: the side (warm brown-orange for hot,
# blue for cold; these stay apart under protanopia, deuteranopia and
# tritanopia) and how current the pattern is (dark = new and growing, light =
# fading or past), as lightness, which survives colour blindness and greyscale
# printing. Cold cells also get a dashed outline. Hot: Paul Tol's YlOrBr
# (8 darkest); cold: ColorBrewer Blues (8 darkest). Neither is the hotspot
# score's YlOrRd nor the Gi* layer's RdBu, so the three layers never read as
# one scale. The exact pattern is in every cell's tooltip.
_HOT_SHADES = (
    "#662506",
    "#993404",
    "#cc4c02",
    "#ec7014",
    "#fb9a29",
    "#fec44f",
    "#fee391",
    "#fff7bc",
)
_COLD_SHADES = (
    "#08306b",
    "#08519c",
    "#2171b5",
    "#4292c6",
    "#6baed6",
    "#9ecae1",
    "#c6dbef",
    "#deebf7",
)

EMERGING_CLASSES: tuple[CellClass, ...] = tuple(
    CellClass(f"{key}_hot", f"{label} hot spot", shade, HOT_EDGE)
    for (key, label), shade in zip(EMERGING_PATTERN_LABELS, _HOT_SHADES, strict=True)
) + tuple(
    CellClass(f"{key}_cold", f"{label} cold spot", shade, COLD_EDGE, dashed=True)
    for (key, label), shade in zip(EMERGING_PATTERN_LABELS, _COLD_SHADES, strict=True)
)
"""Every drawn emerging pattern (``no_pattern`` is never drawn), hot first."""


def cell_class_lookup(classes: tuple[CellClass, ...]) -> dict[str, CellClass]:
    """``{key: CellClass}`` of a class tuple."""
    return {c.key: c for c in classes}
