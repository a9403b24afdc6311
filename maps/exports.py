"""Files for spreadsheets and GIS: the target list (CSV) and hotspot cells (GeoJSON).

- CSV: every text cell that a spreadsheet would run as a formula (starting
  with ``= + - @``, tab or carriage return) is prefixed with ``'``, through
  :func:`geo.export.neutralise_formulas`; H3 cells are hex strings.
- GeoJSON: RFC 7946, a FeatureCollection of cell hexagons in WGS84 (lng, lat),
  exterior rings counter-clockwise, no ``crs`` member, coordinates to 7
  decimals; properties carry the frame's columns and ``h3`` as a hex string.

Both are written to a temporary file and renamed, so a reader never sees half
a file.
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
from maps import significance as sig
from maps.audience import CHILD_COUNT_COLUMNS, OutputMeta, require_columns
from maps.cells import cells_as_int, cells_to_polygons, polygon_lnglat

TARGET_CSV_FIRST = (
    "rank",
    "h3",
    "ward_name",
    "grid_ref",
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
)
"""Leading columns of the target CSV, in this order; other columns follow."""


def _suppressed(frame: pd.DataFrame, meta: Mapping[str, Any] | None) -> pd.DataFrame:
    """Partner audience: small child counts as ``<k`` text (no-op otherwise)."""
    if meta is None:
        return frame
    info = OutputMeta.from_mapping(meta)
    if not info.suppressing:
        return frame
    out = frame.copy()
    for col in out.columns:
        if col in CHILD_COUNT_COLUMNS:
            out[col] = info.count_texts(out[col], col)
    # Gi* classes and trend patterns: "suppressed" where few children (maps.significance).
    shown = sig.for_audience(out, info) if "h3" in out.columns else out
    return out if shown is None else shown


def _atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)
    return path


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
        Optional: with ``audience`` ``partner``, child counts below
        ``suppress_below`` (default 5) are written as ``<5``.
    """
    require_columns(targets, "targets", ("rank", "h3"))
    frame = _suppressed(targets.sort_values("rank", kind="stable"), meta)
    first = [c for c in TARGET_CSV_FIRST if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]].copy()
    frame["h3"] = cells_to_str_array(cells_as_int(frame["h3"]))
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = neutralise_formulas(frame[col])
    return _atomic_write_text(Path(path), frame.to_csv(index=False, lineterminator="\n"))


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
        Optional: with ``audience`` ``partner``, child counts below
        ``suppress_below`` become ``<5`` text, and Gi* classes and trend
        patterns of cells that are not ``disclosable`` become ``suppressed``
        with no statistics (:mod:`maps.significance`).
    """
    require_columns(hotspots, "hotspots", ("h3",))
    frame = _suppressed(hotspots, meta)
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
    return _atomic_write_text(Path(path), text + "\n")
