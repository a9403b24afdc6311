"""The significance layers every output shares: Gi* classes and emerging patterns.

The weekly-pack service passes one frame, one row per H3 cell (the same cells
as the hotspots), with either or both groups of columns:

- Gi* (:func:`models.gistar.gistar`): ``gi_z``, ``gi_p`` (raw two-sided p),
  ``gi_p_adj`` (Benjamini-Hochberg adjusted, or the raw p without FDR) and
  ``gi_class`` (``hot_99`` ... ``cold_99`` or ``not_significant``);
- emerging patterns (:func:`models.emerging.emerging_hotspots`): ``pattern``
  (``new_hot`` ... ``historical_cold`` or ``no_pattern``), ``mk_z``, ``mk_p``
  (Mann-Kendall of the weekly Gi* z) and ``mk_trend``.

A group whose columns are missing is a layer that was not computed (too few
events or weeks); the outputs then leave that layer out. Only significant
cells (a class or pattern of :data:`maps.style.GISTAR_CLASSES` or
:data:`maps.style.EMERGING_CLASSES`) are drawn.

Partner audience: the layers are drawn at resolution 8 like every partner
cell, and carry no counts. A class drawn from the events of fewer than ``k``
children would still point at those few children, so
:func:`maps.disclosure.layers_view` marks each cell ``disclosable`` (True
when the cell's Gi* neighbourhood, the cell and its ring of neighbours,
holds at least ``k`` distinct children in the window) and gives the others
the class ``suppressed`` and no statistics; :func:`for_audience` refuses a
partner frame that has not been through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np
import pandas as pd

from geo.errors import ValidationError
from maps.audience import OutputMeta
from maps.cells import checked_cells
from maps.style import EMERGING_CLASSES, GISTAR_CLASSES, CellClass

GISTAR_COLUMNS = ("gi_z", "gi_p", "gi_p_adj", "gi_class")
EMERGING_COLUMNS = ("pattern", "mk_z", "mk_p", "mk_trend")
SUPPRESSED = "suppressed"
NOT_DRAWN = frozenset({"not_significant", "no_pattern", SUPPRESSED})
"""Labels that are valid but never drawn."""


@dataclass(frozen=True)
class Group:
    """One significance layer: its class column, statistics and classes."""

    name: str
    columns: tuple[str, ...]
    class_column: str
    classes: tuple[CellClass, ...]


GISTAR = Group("gistar", GISTAR_COLUMNS, "gi_class", GISTAR_CLASSES)
EMERGING = Group("emerging", EMERGING_COLUMNS, "pattern", EMERGING_CLASSES)
GROUPS = (GISTAR, EMERGING)


def has_group(frame: pd.DataFrame | None, group: Group) -> bool:
    """Whether ``frame`` carries every column of ``group`` (the layer was computed)."""
    return frame is not None and all(c in frame.columns for c in group.columns)


def for_audience(frame: pd.DataFrame | None, info: OutputMeta) -> pd.DataFrame | None:
    """The significance frame, checked for ``info``'s audience (it is printed as given).

    A partner frame must be :func:`maps.disclosure.layers_view`'s: it carries
    ``disclosable``, and every cell that is not disclosable already reads
    ``suppressed`` with no statistics.

    Raises
    ------
    ValidationError
        When ``h3`` is missing or repeated, a class label is unknown, or a
        partner frame lacks ``disclosable`` or shows a class it should not.
    """
    if frame is None:
        return None
    if "h3" not in frame.columns:
        msg = f"`significance` lacks column `h3`; it has {list(frame.columns)}."
        raise ValidationError(msg)
    present = [g for g in GROUPS if has_group(frame, g)]
    for group in present:
        known = {c.key for c in group.classes} | NOT_DRAWN
        labels = frame[group.class_column].astype(str)
        bad = sorted(set(labels) - known)
        if bad:
            msg = (
                f"`significance.{group.class_column}` holds unknown classes {bad[:5]}; "
                f"expected one of {sorted(known)}."
            )
            raise ValidationError(msg)
    if not info.suppressing or not present:
        return frame
    if "disclosable" not in frame.columns:
        msg = (
            "partner outputs need `significance.disclosable` (True where the cell's "
            f"neighbourhood holds at least {info.suppress_below} children); "
            "maps.disclosure.layers_view adds it."
        )
        raise ValidationError(msg)
    hidden = ~frame["disclosable"].fillna(False).to_numpy(dtype=bool)
    for group in present:
        if (hidden & (frame[group.class_column].astype(str) != SUPPRESSED).to_numpy()).any():
            msg = (
                f"a partner `significance` frame shows `{group.class_column}` of cells that are "
                "not disclosable; pass it through maps.disclosure.layers_view."
            )
            raise ValidationError(msg)
    return frame


def check_cells(frame: pd.DataFrame, hotspot_cells: np.ndarray, audience: str) -> None:
    """Refuse significance cells that repeat, are too fine for partners or are not hotspot cells.

    Raises
    ------
    ValidationError
        From :func:`maps.cells.checked_cells`, or naming a cell of ``frame``
        that is not among ``hotspot_cells``.
    """
    cells = checked_cells(frame["h3"], audience, "significance")
    stray = ~np.isin(cells, hotspot_cells)
    if stray.any():
        msg = (
            f"`significance` has {int(stray.sum())} cells that are not in `hotspots`, e.g. "
            f"{h3.int_to_str(int(cells[stray][0]))}; pass the layers of the same cells."
        )
        raise ValidationError(msg)


def drawn(frame: pd.DataFrame | None, group: Group) -> pd.DataFrame | None:
    """Rows of ``frame`` with a drawn class of ``group``, or None when not computed."""
    if frame is None or not has_group(frame, group):
        return None
    keys = [c.key for c in group.classes]
    return frame.loc[frame[group.class_column].isin(keys).to_numpy()].reset_index(drop=True)


def class_counts(frame: pd.DataFrame, group: Group) -> dict[str, int]:
    """Cells per drawn class of ``group`` (every class listed, zeros included)."""
    counts = frame[group.class_column].value_counts()
    return {c.key: int(counts.get(c.key, 0)) for c in group.classes}
