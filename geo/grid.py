"""The analysis grid: H3 cells covering an area, with centres in both CRSs.

Models take a ``cells`` frame (one row per cell of the study area, zero
cells included) with the centre in British National Grid metres, so they
never touch a CRS themselves.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo.crs import latlng_to_metric
from geo.errors import ValidationError
from geo.h3index import cells_area_m2, cells_to_latlng, check_res


def area_cells(area: BaseGeometry, res: int) -> pd.DataFrame:
    """Cells at ``res`` whose centres lie in ``area`` (WGS84 polygon).

    Returns ``h3`` (int64), ``lat``, ``lng``, ``x``, ``y`` (BNG metres) and
    ``area_m2`` (true cell area), sorted by ``h3``.
    """
    res = check_res(res, low=5, high=12)
    if area.is_empty or area.geom_type not in ("Polygon", "MultiPolygon"):
        msg = f"`area` must be a non-empty Polygon or MultiPolygon, got {area.geom_type}."
        raise ValidationError(msg)
    found = h3.geo_to_cells(area.__geo_interface__, res)
    cells = np.sort(np.array([h3.str_to_int(c) for c in found], dtype=np.int64))
    return cells_frame(cells)


def cells_frame(cells: np.ndarray) -> pd.DataFrame:
    """Centre (WGS84 and BNG) and area of each cell."""
    cells = np.asarray(cells, dtype=np.int64)
    lat, lng = cells_to_latlng(cells)
    x, y = latlng_to_metric(lat, lng)
    return pd.DataFrame(
        {"h3": cells, "lat": lat, "lng": lng, "x": x, "y": y, "area_m2": cells_area_m2(cells)}
    )
