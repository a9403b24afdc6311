"""H3 cells as polygons, in the (lng, lat) order that GeoJSON and shapely use.

h3 speaks (lat, lng); GeoJSON, shapely and Leaflet's GeoJSON layer speak
(x=lng, y=lat). The swap happens here and nowhere else.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from geo.errors import ValidationError
from geo.h3index import cells_resolution, str_to_cell
from maps.disclosure import PARTNER_RES as PARTNER_MAX_RES

HOTSPOT_COLUMNS = ("h3", "lat", "lng")
"""Columns every hotspots frame of the map and the pack needs (one row per cell), with
``score`` or, in a view of :mod:`maps.disclosure`, ``score_class``."""


def cells_as_int(values: pd.Series) -> np.ndarray:
    """H3 cells as int64, from int64 or hex-string values.

    Raises
    ------
    ValidationError
        When a value is neither a valid integer cell nor a hex index.
    """
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        return np.array([str_to_cell(str(v)) for v in values], dtype=np.int64)
    cells = values.to_numpy(dtype=np.int64)
    bad = [int(c) for c in cells[:1000] if not h3.is_valid_cell(h3.int_to_str(int(c)))]
    if bad:
        msg = f"`h3` holds invalid cells such as {bad[0]}; pass H3 cells as int64."
        raise ValidationError(msg)
    return cells


def cell_polygon(cell: int) -> Polygon:
    """One cell's hexagon (or pentagon) in WGS84, counter-clockwise (RFC 7946)."""
    ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(cell)))]
    return orient(Polygon(ring), sign=1.0)


def cells_to_polygons(cells: np.ndarray) -> list[Polygon]:
    """Hexagons of many cells in WGS84 (lng, lat), counter-clockwise."""
    return [cell_polygon(int(c)) for c in cells]


def polygon_lnglat(poly: Polygon) -> list[list[float]]:
    """A polygon's exterior ring as ``[[lng, lat], ...]`` rounded to 7 decimals (~1 cm)."""
    coords = shapely.get_coordinates(poly.exterior)
    return [[round(float(x), 7), round(float(y), 7)] for x, y in coords]


def check_partner_resolution(cells: np.ndarray, audience: str) -> None:
    """Refuse cells finer than resolution 8 in a partner output.

    Raises
    ------
    ValidationError
        When ``audience`` is ``partner`` and any cell is finer than res 8.
    """
    if audience != "partner" or cells.size == 0:
        return
    finest = int(cells_resolution(cells).max())
    if finest > PARTNER_MAX_RES:
        msg = (
            f"partner outputs use H3 cells of resolution {PARTNER_MAX_RES} or coarser, got "
            f"resolution {finest}. Rerun the analysis with `res={PARTNER_MAX_RES}`."
        )
        raise ValidationError(msg)


def check_unique_cells(cells: np.ndarray, name: str = "hotspots") -> None:
    """Refuse a frame that lists the same cell twice (it would be drawn twice).

    Raises
    ------
    ValidationError
        Naming one repeated cell.
    """
    uniq, counts = np.unique(cells, return_counts=True)
    if (counts > 1).any():
        dup = h3.int_to_str(int(uniq[counts > 1][0]))
        msg = (
            f"`{name}` lists cell {dup} {int(counts.max())} times; pass one row per H3 cell "
            "(aggregate first)."
        )
        raise ValidationError(msg)


def checked_cells(values: pd.Series, audience: str, name: str = "hotspots") -> np.ndarray:
    """A frame's cells as int64 (:func:`cells_as_int`), each listed once, partners' res <= 8.

    Raises
    ------
    ValidationError
        From :func:`cells_as_int`, :func:`check_unique_cells` (naming ``name``)
        and :func:`check_partner_resolution`.
    """
    cells = cells_as_int(values)
    check_unique_cells(cells, name)
    check_partner_resolution(cells, audience)
    return cells


def first_resolution(cells: np.ndarray) -> int | None:
    """The resolution the outputs name for ``cells`` (the first cell's); None when empty."""
    return int(h3.get_resolution(h3.int_to_str(int(cells[0])))) if cells.size else None
