"""Colours and classes shared by the web map and the printed pack.

Cells are coloured by *score class*: the share of scored cells that a cell
beats. The classes are the same on screen and on paper, so the legend reads
the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


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
        A cell is in this class when at least this share (0-1) of the scored
        cells have a lower score.
    """

    label: str
    colour: str
    lower: float


# ColorBrewer YlOrRd (5 classes): sequential in lightness, so it still reads
# when printed in greyscale.
SCORE_CLASSES: tuple[ScoreClass, ...] = (
    ScoreClass("Hottest 5% of cells", "#bd0026", 0.95),
    ScoreClass("Next 10%", "#f03b20", 0.85),
    ScoreClass("Next 15%", "#fd8d3c", 0.70),
    ScoreClass("Next 30%", "#fecc5c", 0.40),
    ScoreClass("Remaining 40%", "#ffffb2", 0.0),
)

TARGET_FILL = "#08306b"
TARGET_TEXT = "#ffffff"
OTHER_TARGET_FILL = "#6b7a8f"
HULL_COLOUR = "#54278f"
AREA_COLOUR = "#111111"
CONTEXT_COLOUR = "#8c8c8c"
VENUE_COLOUR = "#006d2c"
MAP_BACKGROUND = "#f4f3ee"
MARKING_BACKGROUND = "#1d1d1b"
MARKING_TEXT = "#ffffff"


def score_class_index(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Index into :data:`SCORE_CLASSES` of each score (0 is hottest).

    A cell's share is the fraction of the given scores strictly below it, so
    tied scores always share a class. Vectorised.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        return np.empty(0, dtype=np.int64)
    ordered = np.sort(s)
    share = np.searchsorted(ordered, s, side="left") / s.size
    lowers = np.array([c.lower for c in SCORE_CLASSES])
    # First class (hottest first) whose lower bound the share reaches.
    reached = share[:, None] >= lowers[None, :]
    return np.argmax(reached, axis=1).astype(np.int64)
