"""Base layers for the maps: roads, buildings and landmarks read from the user's files.

A base layer is public reference data (OS Open Roads, OS OpenMap Local,
OpenStreetMap extracts, a council's own files) drawn under the hotspot cells
so a reader can find a target on the street. :func:`read_base_layer` reads a
GeoPackage or GeoJSON file in any CRS pyproj knows, checks that its
geometries suit the kind (roads are lines, buildings polygons, landmarks
points or polygons), makes invalid polygons valid, clips it to the study
area with a margin and simplifies it at a metre-level tolerance in the study
area's metric CRS (:func:`geo.crs.metric_crs`: British National Grid in Great
Britain), so the store holds what the maps can use and little more.
Every step works on whole geometry arrays (shapely, GeoPandas); nothing
loops over features in Python.

The result is a frame of ``code``, ``name``, ``type`` and WGS84 geometry,
ready for the store's ``put_features("layer", kind, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geo.crs import WGS84, metric_crs
from geo.errors import InputFileError, ValidationError
from geo.readers import choose_layer

FAMILY = "layer"
"""The store's feature family of base layers."""

KINDS = ("roads", "buildings", "landmarks")
"""The base layers a user may import."""

SUFFIXES = (".geojson", ".json", ".gpkg")

CLIP_MARGIN_M = 1000.0
"""Features are kept within this distance of the study area."""

IMPORT_TOLERANCE_M = 1.0
"""Simplification tolerance at import (metres, in the study area's metric CRS)."""

_DIMENSIONS: dict[str, tuple[int, ...]] = {"roads": (1,), "buildings": (2,), "landmarks": (0, 2)}
_WANTED = {"roads": "lines", "buildings": "polygons", "landmarks": "points or polygons"}

NAME_FIELDS = (
    "name",
    "name1",
    "name_1",
    "distname",
    "distinctivename",
    "distinctive_name",
    "roadname",
    "road_name",
    "streetname",
    "street_name",
    "street",
    "name2",
    "name_2",
    "label",
)
"""Name fields tried in order, case and underscores forgiven: OpenStreetMap and OS Zoomstack
(``name``), OS Open Roads (``name1``; ``name_1`` in some GeoPackages), OS OpenMap Local
(``DISTNAME`` in shapefiles, ``distinctiveName`` in GML), OS Open Names (``NAME1``), and
common council layouts (``road_name``, ``street``)."""

TYPE_FIELDS = (
    "type",
    "class",
    "fclass",
    "highway",
    "roadclassification",
    "road_classification",
    "classifica",
    "function",
    "roadfunction",
    "road_function",
    "building",
    "amenity",
    "local_type",
    "featuredescription",
    "feature_description",
)
"""Fields read as a feature's type: OS Open Roads ``class``/``roadClassification``, OS
OpenMap Local ``CLASSIFICA``, OpenStreetMap ``highway``/``building``/``amenity`` (Geofabrik's
``fclass``), OS Open Names ``LOCAL_TYPE``."""

ID_FIELDS = ("id", "identifier", "toid", "osm_id", "gml_id", "fid")
"""Fields read as a feature's code when their values are present and unique."""


@dataclass(frozen=True)
class BaseLayer:
    """A base layer read, checked, clipped and simplified, ready to store.

    ``frame`` has ``code`` (unique text), ``name`` and ``type`` (text or
    None) and a WGS84 geometry. ``in_file`` counts the file's features,
    ``read`` those near the study area's bounding box, ``kept`` the stored
    ones; ``notes`` say what was repaired or left out.
    """

    kind: str
    path: str
    frame: gpd.GeoDataFrame
    in_file: int
    read: int
    crs: str
    name_field: str | None
    type_field: str | None
    notes: tuple[str, ...] = ()

    @property
    def kept(self) -> int:
        return len(self.frame)


def _norm(field: str) -> str:
    return field.lower().replace("_", "").replace(" ", "")


def pick_field(fields: list[str], wanted: tuple[str, ...]) -> str | None:
    """The first of ``wanted`` among ``fields``, case and underscores forgiven."""
    by_norm: dict[str, str] = {}
    for f in fields:
        by_norm.setdefault(_norm(f), f)
    for w in wanted:
        if _norm(w) in by_norm:
            return by_norm[_norm(w)]
    return None


def _check_path(path: Path) -> None:
    if not path.is_file():
        raise InputFileError(str(path), "file not found.", "Check the path.")
    if path.suffix.lower() not in SUFFIXES:
        raise InputFileError(
            str(path),
            "a base layer must be GeoJSON (.geojson, .json) or GeoPackage (.gpkg).",
            "Convert it to one of them (for example with ogr2ogr or QGIS).",
        )


def _file_crs(path: Path, text: Any) -> CRS:
    if not text:
        if path.suffix.lower() in (".geojson", ".json"):
            return CRS.from_user_input(WGS84)  # RFC 7946: GeoJSON without a crs is WGS84
        raise InputFileError(
            str(path),
            "has no coordinate reference system.",
            "Save it with its CRS (for example EPSG:27700 or EPSG:4326).",
        )
    try:
        return CRS.from_user_input(text)
    except Exception:
        raise InputFileError(
            str(path),
            f"has a coordinate reference system pyproj does not know ({text}).",
            "Save it in EPSG:27700 or EPSG:4326.",
        ) from None


def _read(
    path: Path, layer: str | None, mask: BaseGeometry | None, metric: str
) -> tuple[gpd.GeoDataFrame, CRS, list[str], int]:
    """The features, CRS, fields and feature count of a GeoJSON or GeoPackage file.

    A GeoJSON file is parsed once, whole (GDAL reads all of it to open it
    anyway). A GeoPackage, possibly a national layer, is read through its
    spatial index: only the features in the bounding box of ``mask`` (in
    ``metric``).
    """
    try:
        if path.suffix.lower() != ".gpkg":
            if layer is not None:
                raise InputFileError(
                    str(path),
                    "is GeoJSON, which has one layer; --layer is for GeoPackage files.",
                    "Leave out --layer.",
                )
            frame = gpd.read_file(path, fid_as_index=True, use_arrow=True, engine="pyogrio")
            crs = _file_crs(path, frame.crs)
            fields = [str(c) for c in frame.columns if c != frame.geometry.name]
            return frame.set_crs(crs, allow_override=True), crs, fields, len(frame)
        name = choose_layer(path, layer, verb="import")
        info = pyogrio.read_info(path, layer=name)
        crs = _file_crs(path, info.get("crs"))
        fields = [str(f) for f in info.get("fields", [])]
        bbox = None
        if mask is not None:
            to_file = Transformer.from_crs(metric, crs, always_xy=True)
            x0, y0, x1, y1 = (float(v) for v in mask.bounds)
            bbox = tuple(float(v) for v in to_file.transform_bounds(x0, y0, x1, y1))
        frame = gpd.read_file(
            path, layer=name, bbox=bbox, fid_as_index=True, use_arrow=True, engine="pyogrio"
        )
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(
            str(path),
            f"cannot be read as GeoJSON or GeoPackage ({type(exc).__name__}: {exc}).",
            "Check that the file is complete and opens in QGIS.",
        ) from None
    in_file = int(info.get("features") or -1)
    return (
        frame.set_crs(crs, allow_override=True),
        crs,
        fields,
        in_file if in_file >= 0 else len(frame),
    )


def _chosen_name_field(path: Path, fields: list[str], name_field: str | None) -> str | None:
    if name_field is None:
        return pick_field(fields, NAME_FIELDS)
    if name_field in fields:
        return name_field
    forgiven = pick_field(fields, (name_field,))
    if forgiven is None:
        raise InputFileError(
            str(path),
            f"has no field `{name_field}` (from --name-field); its fields are "
            f"{', '.join(fields) or '(none)'}.",
            "Pass one of them with --name-field.",
        )
    return forgiven


def _id_field(frame: pd.DataFrame, fields: list[str]) -> str | None:
    for f in ID_FIELDS:
        hit = pick_field(fields, (f,))
        if hit is not None and hit in frame.columns:
            values = frame[hit]
            if values.notna().all() and values.astype(str).is_unique:
                return hit
    return None


def keep_parts(geoms: npt.NDArray[np.object_], dims: tuple[int, ...]) -> npt.NDArray[np.object_]:
    """Each geometry with only its parts of the dimensions ``dims`` (0, 1, 2); None when none.

    Collections (from ``make_valid`` or a clip) are split into simple parts
    and the parts kept are gathered again per feature, all in array calls. A
    feature with parts of two kept dimensions (a landmark's point and
    polygon) keeps its highest.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    if len(geoms) == 0:
        return out
    types = shapely.get_type_id(geoms)
    collection = types == 7
    simple = ~collection & np.isin(shapely.get_dimensions(geoms), dims) & (types >= 0)
    out[simple] = geoms[simple]
    rest = np.flatnonzero(collection & ~shapely.is_empty(geoms))
    if rest.size == 0:
        return out
    parts, owner = shapely.get_parts(geoms[rest], return_index=True)
    # Collections may nest multi-geometries: split once more.
    parts, inner = shapely.get_parts(parts, return_index=True)
    owner = owner[inner]
    part_dims = shapely.get_dimensions(parts)
    ok = np.isin(part_dims, dims) & ~shapely.is_empty(parts)
    parts, owner, part_dims = parts[ok], owner[ok], part_dims[ok]
    if parts.size == 0:
        return out
    top = np.full(rest.size, -1)
    np.maximum.at(top, owner, part_dims)
    keep = part_dims == top[owner]
    parts, owner, part_dims = parts[keep], owner[keep], part_dims[keep]
    makers = {0: shapely.multipoints, 1: shapely.multilinestrings, 2: shapely.multipolygons}
    for dim in np.unique(part_dims):
        sel = part_dims == dim
        owners = np.unique(owner[sel])
        index = np.searchsorted(owners, owner[sel])
        gathered = makers[int(dim)](parts[sel], indices=index)
        single = np.bincount(index) == 1
        gathered[single] = shapely.get_geometry(gathered[single], 0)
        out[rest[owners]] = gathered
    return out


def clip_mask(
    outline_wgs84: BaseGeometry, margin_m: float = CLIP_MARGIN_M, *, metric: str | None = None
) -> BaseGeometry:
    """The study area's outline (WGS84) as a polygon of the metric CRS (``metric``, default
    :func:`geo.crs.metric_crs`) grown by ``margin_m``."""
    area = gpd.GeoSeries([outline_wgs84], crs=WGS84).to_crs(metric or metric_crs().code).iloc[0]
    return shapely.buffer(area, margin_m) if margin_m > 0 else area


def clip_to(frame: gpd.GeoDataFrame, mask: BaseGeometry) -> gpd.GeoDataFrame:
    """The features of ``frame`` that meet ``mask``, cut at its edge (same CRS).

    A feature wholly inside is kept as it is (a prepared ``within`` test);
    only the few crossing the edge are intersected.
    """
    geoms = frame.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    hits = np.sort(tree.query(mask, predicate="intersects"))
    shapely.prepare(mask)
    sub = frame.iloc[hits].copy()
    inside = shapely.within(geoms[hits], mask)
    cut = geoms[hits].copy()
    cut[~inside] = shapely.intersection(cut[~inside], mask)
    sub = sub.set_geometry(gpd.GeoSeries(cut, index=sub.index, crs=frame.crs))
    return sub


def _text(values: pd.Series) -> npt.NDArray[np.object_]:
    """Text cells with missing and blank values as None."""
    s = values.astype("string").str.strip()
    s = s.mask(s.isna() | (s == ""))
    return np.asarray(s.astype(object).where(s.notna(), None), dtype=object)


def read_base_layer(
    path: str | Path,
    kind: str,
    *,
    layer: str | None = None,
    name_field: str | None = None,
    study_area: BaseGeometry | None = None,
    margin_m: float = CLIP_MARGIN_M,
    tolerance_m: float = IMPORT_TOLERANCE_M,
    metric: str | None = None,
) -> BaseLayer:
    """Read, check, clip and simplify one base layer file.

    Parameters
    ----------
    path
        A GeoJSON or GeoPackage file, any CRS pyproj knows (GeoJSON without
        one is WGS84 by its standard; any other file without one is refused).
    kind
        ``roads`` (lines), ``buildings`` (polygons) or ``landmarks`` (points
        or polygons).
    layer
        The GeoPackage layer; needed when the file holds several.
    name_field
        The field holding names; default the first of :data:`NAME_FIELDS`.
    study_area
        The study area's outline (WGS84); features farther than ``margin_m``
        from it are left out and those crossing the margin's edge are cut.
        None keeps everything.
    tolerance_m
        Simplification tolerance in metres.
    metric
        The projected CRS metres are measured in (default
        :func:`geo.crs.metric_crs`, the study area's).

    Raises
    ------
    InputFileError
        For an unreadable file, an unknown layer or name field, a file
        without a CRS, geometries that do not suit ``kind`` (the message
        names the types found), or nothing near the study area.
    """
    if kind not in KINDS:
        msg = f"unknown base layer kind `{kind}`; expected one of {', '.join(KINDS)}."
        raise ValidationError(msg)
    p = Path(path)
    _check_path(p)
    metric = metric or metric_crs().code
    mask = clip_mask(study_area, margin_m, metric=metric) if study_area is not None else None
    frame, crs, fields, in_file = _read(p, layer, mask, metric)
    name_col = _chosen_name_field(p, fields, name_field)
    type_col = pick_field(fields, TYPE_FIELDS)
    if type_col == name_col:
        type_col = None
    id_candidates = [f for f in (pick_field(fields, (w,)) for w in ID_FIELDS) if f]
    frame = frame.set_crs(crs, allow_override=True)
    notes: list[str] = []
    geoms = frame.geometry.to_numpy()
    present = ~(pd.isna(geoms) | shapely.is_empty(geoms))
    if not present.all():
        notes.append(f"{int((~present).sum())} feature(s) without geometry left out")
    frame = frame[present]
    geoms = frame.geometry.to_numpy()
    dims = shapely.get_dimensions(geoms)
    suits = np.isin(dims, _DIMENSIONS[kind])
    found = sorted(set(shapely.get_type_id(geoms).tolist()))
    type_names = ", ".join(_TYPE_NAMES.get(t, str(t)) for t in found)
    if len(frame) and not suits.any():
        raise InputFileError(
            str(p),
            f"holds {type_names} geometries, but {kind} must be {_WANTED[kind]}.",
            f"Give a file of {_WANTED[kind]} for --kind {kind}, or choose the kind that fits.",
        )
    if not suits.all():
        notes.append(
            f"{int((~suits).sum())} feature(s) that are not {_WANTED[kind]} left out "
            f"(the file holds {type_names})"
        )
        frame = frame[suits]
    if frame.empty:
        where = " within the study area's reach" if mask is not None else ""
        raise InputFileError(
            str(p),
            f"holds no {_WANTED[kind]}{where} ({in_file} feature(s) in the file, CRS "
            f"{crs.to_string()}).",
            "Check the file covers the study area and that its CRS is right.",
        )
    projected = frame.to_crs(metric)
    geoms = projected.geometry.to_numpy()
    if 2 in _DIMENSIONS[kind]:
        invalid = ~shapely.is_valid(geoms)
        if invalid.any():
            geoms[invalid] = shapely.make_valid(geoms[invalid])
            notes.append(f"{int(invalid.sum())} invalid polygon(s) were made valid")
            projected = projected.set_geometry(
                gpd.GeoSeries(geoms, index=projected.index, crs=metric)
            )
    read = len(projected)
    if mask is not None:
        projected = clip_to(projected, mask)
        if len(projected) < read:
            notes.append(
                f"{read - len(projected)} feature(s) more than {margin_m:g} m outside the study "
                "area left out"
            )
    geoms = projected.geometry.to_numpy()
    if tolerance_m > 0:
        geoms = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    geoms = keep_parts(geoms, _DIMENSIONS[kind])
    ok = ~pd.isna(geoms)
    projected = projected[ok]
    if projected.empty:
        raise InputFileError(
            str(p),
            f"holds no {_WANTED[kind]} within {margin_m:g} m of the study area "
            f"({in_file} feature(s) in the file, CRS {crs.to_string()}).",
            "Check the file covers the study area and that its CRS is right.",
        )
    wgs = gpd.GeoSeries(geoms[ok], index=projected.index, crs=metric).to_crs(WGS84)
    id_col = _id_field(projected, id_candidates)
    codes = (
        projected[id_col].astype(str)
        if id_col
        else pd.Series(projected.index, index=projected.index)
    )
    out = gpd.GeoDataFrame(
        {
            "code": codes.astype(str).to_numpy(dtype=object),
            "name": _text(projected[name_col]) if name_col else None,
            "type": _text(projected[type_col]) if type_col else None,
        },
        geometry=wgs.to_numpy(),
        crs=WGS84,
    )
    if not out["code"].is_unique:  # an id field unique in the file but split by the clip
        out["code"] = projected.index.astype(str).to_numpy(dtype=object)
    if name_col is None:
        notes.append(
            f"no name field found (tried {', '.join(NAME_FIELDS[:6])}, ...); features are "
            "stored without names. Pass --name-field to name them"
        )
    return BaseLayer(
        kind=kind,
        path=str(p),
        frame=out.reset_index(drop=True),
        in_file=in_file,
        read=read,
        crs=crs.to_string(),
        name_field=name_col,
        type_field=type_col,
        notes=tuple(notes),
    )


_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}
