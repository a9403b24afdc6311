"""Files for spreadsheets and GIS: the target list (CSV) and hotspot cells (GeoJSON).

- CSV: every text cell that a spreadsheet would run as a formula (starting
  with ``= + - @``, tab or carriage return) is prefixed with ``'``, through
  :func:`geo.export.neutralise_formulas`; H3 cells are hex strings.
- GeoJSON: RFC 7946, a FeatureCollection of cell hexagons in WGS84 (lng, lat),
  exterior rings counter-clockwise, no ``crs`` member, coordinates to 7
  decimals; properties carry the frame's columns and ``h3`` as a hex string.

Both are written to a temporary file and renamed, so a reader never sees half
a file. They print what they are given: what an audience may see was decided
by :mod:`maps.disclosure`, and a partner or neighbourhood frame that is not
its view is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.export import neutralise_formulas
from geo.h3index import cells_to_str_array
from maps.audience import OutputMeta, require_columns, require_view
from maps.cells import cells_as_int, cells_to_polygons, polygon_lnglat
from maps.files import atomic_write_text

TARGET_CSV_FIRST = (
    "rank",
    "h3",
    "ward_name",
    "grid_ref",
    "near",
    "near_m",
    "lat",
    "lng",
    "score",
    "episodes",
    "children",
    "found",
    "venue_reports",
    "patrol_window",
    "nearest_venue",
    "why",
    "disruption",
    "displacement",
)
"""Leading columns of the target CSV, in this order; other columns follow."""


def _checked(frame: pd.DataFrame, name: str, meta: Mapping[str, Any] | None) -> pd.DataFrame:
    """The frame as given, after checking that a partner or neighbourhood frame is its view."""
    if meta is not None:
        require_view(frame, name, OutputMeta.from_mapping(meta))
    return frame


def write_targets_csv(
    path: str | Path, targets: pd.DataFrame, *, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write the ranked target list as CSV (UTF-8); returns the path.

    Parameters
    ----------
    path
        Output file.
    targets
        Ranked targets (``rank``, ``h3`` and any other columns). ``h3`` is
        written as a hex string; text cells that would run as spreadsheet
        formulas are prefixed with ``'``.
    meta
        Optional ``audience``: a partner or neighbourhood frame must be that
        audience's view from :mod:`maps.disclosure` (which has already made
        its counts text such as ``<5``).
    """
    require_columns(targets, "targets", ("rank", "h3"))
    frame = _checked(targets, "targets", meta).sort_values("rank", kind="stable")
    first = [c for c in TARGET_CSV_FIRST if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]].copy()
    frame["h3"] = cells_to_str_array(cells_as_int(frame["h3"]))
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = neutralise_formulas(frame[col])
    return atomic_write_text(Path(path), frame.to_csv(index=False, lineterminator="\n"))


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, str | int):
        return value
    return str(value)


def write_hotspots_geojson(
    path: str | Path, hotspots: pd.DataFrame, *, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write hotspot cells as an RFC 7946 GeoJSON FeatureCollection; returns the path.

    Parameters
    ----------
    path
        Output file (``.geojson``).
    hotspots
        One row per cell with ``h3`` (int64 or hex) and any other columns
        (``score``, ``n``, ``n_children``...), which become properties.
        Point geometries or BNG columns (``geometry``, ``x``, ``y``) are not
        copied; the geometry is the cell's hexagon.
    meta
        Optional ``audience``: a partner or neighbourhood frame must be that
        audience's view from :mod:`maps.disclosure`.
    """
    require_columns(hotspots, "hotspots", ("h3",))
    frame = _checked(hotspots, "hotspots", meta)
    cells = cells_as_int(frame["h3"])
    polygons = cells_to_polygons(cells)
    hexes = cells_to_str_array(cells)
    props = [c for c in frame.columns if c not in ("h3", "geometry", "x", "y")]
    columns = {c: frame[c].tolist() for c in props}
    features = []
    for i, poly in enumerate(polygons):
        properties: dict[str, Any] = {"h3": hexes[i]}
        properties.update({c: _json_value(columns[c][i]) for c in props})
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [polygon_lnglat(poly)]},
                "properties": properties,
            }
        )
    doc = {"type": "FeatureCollection", "features": features}
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return atomic_write_text(Path(path), text + "\n")


def write_cells(
    path: str | Path, cells: pd.DataFrame, *, meta: Mapping[str, Any] | None = None
) -> Path:
    """A per-cell table (``engage hotspots``, ``engage trends``) as CSV or GeoJSON by suffix.

    ``.geojson``: :func:`write_hotspots_geojson`. ``.csv``: one row per cell,
    ``h3`` as hex text, text cells that a spreadsheet would run as formulas
    neutralised; written whole or not at all. A partner or neighbourhood
    table must be that audience's view (``meta``'s audience).
    """
    out = Path(path)
    if out.suffix.lower() == ".geojson":
        return write_hotspots_geojson(out, cells, meta=meta)
    require_columns(cells, "cells", ("h3",))
    table = _checked(cells, "cells", meta).copy()
    table["h3"] = cells_to_str_array(cells_as_int(table["h3"]))
    for col in table.columns:
        if table[col].dtype == object or pd.api.types.is_string_dtype(table[col]):
            table[col] = neutralise_formulas(table[col])
    return atomic_write_text(out, table.to_csv(index=False, lineterminator="\n"))
