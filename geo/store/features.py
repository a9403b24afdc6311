"""Reference features both stores hold beside the five tables, and the store's settings.

Three families of features, each of several kinds:

* ``area``: the user's boundary polygons (kinds ``ward``, ``neighbourhood``,
  ``beat``, ``lsoa``), each with its code and name; points are assigned to
  them at ingest and when they are imported.
* ``gazetteer``: named public places (kinds such as ``police.uk``,
  ``os_open_names``, ``file``) that give a target its street.
* ``layer``: base layers drawn under the cells (kinds ``roads``,
  ``buildings``, ``landmarks``).

A feature is ``family, kind, code, name, type, geometry`` (WGS84); ``code`` is
unique within its family and kind. Both stores keep each feature's bounding
box beside it so a page or a target reads only the features near it.

The store's settings (``meta``) are text values by key: the study area the
data were stored for, and what was announced about it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo.errors import ValidationError
from geo.schemas import AREA_KINDS, Table

FEATURE_FAMILIES: dict[str, tuple[str, ...] | None] = {
    "area": ("ward", "neighbourhood", "beat", "lsoa"),
    "gazetteer": None,
    "layer": ("roads", "buildings", "landmarks"),
}
"""Every family and its kinds (None: any kind name of letters, digits, ``.``, ``_``, ``-``)."""

FEATURES_TABLE = "engage_features"
FEATURE_COLUMNS = ("family", "kind", "code", "name", "type", "geometry")

META_KEYS = ("study_area", "study_area_wkt", "study_area_label", "metric_crs")
"""Settings a store keeps (besides its schema version)."""

BBox = tuple[float, float, float, float]
"""(min_lng, min_lat, max_lng, max_lat)."""


def check_family_kind(family: str, kind: str | None) -> None:
    """Refuse an unknown family, or a kind the family does not take."""
    if family not in FEATURE_FAMILIES:
        msg = f"unknown feature family `{family}`; expected one of {', '.join(FEATURE_FAMILIES)}."
        raise ValidationError(msg)
    if kind is None:
        return
    kinds = FEATURE_FAMILIES[family]
    if kinds is not None and kind not in kinds:
        msg = f"unknown {family} kind `{kind}`; expected one of {', '.join(kinds)}."
        raise ValidationError(msg)
    if not kind or not all(ch.isalnum() or ch in "._-" for ch in kind):
        msg = f"{family} kind `{kind}` must be letters, digits, `.`, `_` or `-`."
        raise ValidationError(msg)


def check_meta_key(key: str) -> None:
    if key not in META_KEYS:
        msg = f"unknown store setting `{key}`; expected one of {', '.join(META_KEYS)}."
        raise ValidationError(msg)


def check_bbox(bbox: Sequence[float] | None) -> BBox | None:
    if bbox is None:
        return None
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x0 <= x1 and y0 <= y1) or not np.all(np.isfinite([x0, y0, x1, y1])):
        msg = f"`bbox` must be (min_lng, min_lat, max_lng, max_lat) with min <= max, got {bbox}."
        raise ValidationError(msg)
    return (x0, y0, x1, y1)


def conform_features(frame: gpd.GeoDataFrame | pd.DataFrame) -> pd.DataFrame:
    """Checked columns ``code, name, type, geometry`` of features to store.

    ``code`` must be non-empty text, unique; ``name`` and ``type`` are text or
    None; ``geometry`` non-empty shapely geometries in WGS84 degrees (a
    GeoDataFrame in another CRS is reprojected).
    """
    missing = [c for c in ("code", "geometry") if c not in frame.columns]
    if missing:
        msg = f"features to store lack columns {missing}; they need code, name, type, geometry."
        raise ValidationError(msg)
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    geoms = np.asarray(frame["geometry"].to_numpy(), dtype=object)
    bad = np.flatnonzero(pd.isna(geoms) | shapely.is_empty(geoms))
    if bad.size:
        msg = f"features to store have empty geometries (rows {bad[:5].tolist()})."
        raise ValidationError(msg)
    code = frame["code"].astype(object)
    blank = code.isna() | (code.astype(str).str.strip() == "")
    if blank.any():
        msg = f"features to store have empty codes (rows {np.flatnonzero(blank)[:5].tolist()})."
        raise ValidationError(msg)
    code = code.astype(str)
    dup = code.duplicated(keep=False)
    if dup.any():
        msg = f"feature codes must be unique; repeated: {sorted(set(code[dup]))[:5]}."
        raise ValidationError(msg)

    def text(name: str) -> npt.NDArray[np.object_]:
        if name not in frame.columns:
            return np.full(len(frame), None, dtype=object)
        values = np.asarray(frame[name].to_numpy(dtype=object), dtype=object)
        out = values.astype(str).astype(object)
        out[pd.isna(values)] = None
        return out

    return pd.DataFrame(
        {
            "code": pd.Series(code.to_numpy(dtype=object), dtype=object),
            "name": pd.Series(text("name"), dtype=object),
            "type": pd.Series(text("type"), dtype=object),
            "geometry": pd.Series(geoms, dtype=object),
        }
    )


def bounds(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
    """(n, 4) array of min_lng, min_lat, max_lng, max_lat."""
    return np.asarray(shapely.bounds(geoms), dtype=np.float64).reshape(-1, 4)


def to_frame(
    family: npt.ArrayLike,
    kind: npt.ArrayLike,
    code: npt.ArrayLike,
    name: npt.ArrayLike,
    type_: npt.ArrayLike,
    geoms: npt.NDArray[np.object_],
) -> gpd.GeoDataFrame:
    """The frame :meth:`Store.features` returns."""
    return gpd.GeoDataFrame(
        {
            "family": pd.Series(np.asarray(family, dtype=object), dtype=object),
            "kind": pd.Series(np.asarray(kind, dtype=object), dtype=object),
            "code": pd.Series(np.asarray(code, dtype=object), dtype=object),
            "name": pd.Series(np.asarray(name, dtype=object), dtype=object),
            "type": pd.Series(np.asarray(type_, dtype=object), dtype=object),
        },
        geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"),
        crs="EPSG:4326",
    )


def check_area_update(
    table: Table, column: str, keys: Sequence[str], codes: Sequence[object]
) -> pd.DataFrame:
    """Checked (key, code) rows for :meth:`Writer.set_areas`."""
    parts = {f"{p}{kind}" for p in table.points for kind in AREA_KINDS}
    if column not in parts:
        msg = (
            f"`{column}` is not an area column of `{table.name}`; expected one of {sorted(parts)}."
        )
        raise ValidationError(msg)
    k = pd.Series(list(keys), dtype=object)
    c = pd.Series(list(codes), dtype=object)
    if len(k) != len(c):
        msg = f"`keys` ({len(k)}) and `codes` ({len(c)}) must have the same length."
        raise ValidationError(msg)
    if k.duplicated().any():
        msg = f"`keys` must be unique for one area update of `{table.name}`."
        raise ValidationError(msg)
    return pd.DataFrame({"key": k.astype(str), "code": c.where(c.notna(), None)})


# ------------------------------------------------------- GeoPackage geometry blobs

_GP_ENVELOPE_HEADER = struct.Struct("<2sBBi4d")
"""Magic ``GP``, version 0, flags (little endian, envelope [minx, maxx, miny, maxy]), srs_id."""
_FLAGS_XY_ENVELOPE = 0b0000_0011


def gpkg_blobs(geoms: npt.NDArray[np.object_], srs_id: int = 4326) -> list[bytes]:
    """GeoPackage binary geometries with their XY envelope (readers skip parsing WKB)."""
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    b = bounds(geoms)
    return [
        _GP_ENVELOPE_HEADER.pack(b"GP", 0, _FLAGS_XY_ENVELOPE, srs_id, x0, x1, y0, y1) + w
        for (x0, y0, x1, y1), w in zip(b.tolist(), wkb, strict=True)
    ]


def from_gpkg_blobs(blobs: Sequence[bytes]) -> npt.NDArray[np.object_]:
    """Shapely geometries of GeoPackage binary blobs (any envelope kind)."""
    wkb = []
    for blob in blobs:
        flags = blob[3]
        n = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}[(flags >> 1) & 0b111]
        wkb.append(bytes(blob[8 + 8 * n :]))
    return np.asarray(shapely.from_wkb(wkb), dtype=object)
