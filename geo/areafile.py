"""A polygon the user gives in a file (GeoJSON or GeoPackage, any CRS pyproj knows).

Read once, checked, and returned as one (multi)polygon in the metric CRS in
use (:func:`geo.crs.metric_crs`) with a note of anything that was repaired.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import metric_crs
from geo.errors import InputFileError

SUFFIXES = (".geojson", ".json", ".gpkg")


@dataclass(frozen=True)
class PolygonFile:
    """The polygon (metres of the metric CRS, unless asked otherwise), its name and any repair."""

    name: str
    polygon: BaseGeometry
    note: str = ""


def looks_like_file(text: str) -> bool:
    """Whether ``text`` names a polygon file rather than an area name."""
    return Path(text).suffix.lower() in SUFFIXES or Path(text).exists()


def read_frame(path: Path, *, layer: str | None, what: str, kind: str) -> gpd.GeoDataFrame:
    """A GeoJSON or GeoPackage file (``layer``) as a GeoDataFrame with its CRS.

    GeoJSON without a ``crs`` member is WGS84 by its standard; any other
    file without a CRS is refused. ``what`` names the argument and ``kind``
    what the file should be, in the messages.
    """
    if not path.exists():
        raise InputFileError(
            str(path),
            f"no such file for {what}.",
            "Give an existing GeoJSON or GeoPackage file.",
        )
    if path.suffix.lower() not in SUFFIXES:
        raise InputFileError(
            str(path),
            f"{what} reads GeoJSON (.geojson, .json) or GeoPackage (.gpkg) files.",
            "Convert it to one of them (for example with ogr2ogr).",
        )
    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:
        raise InputFileError(
            str(path),
            f"could not be read as {kind} ({type(exc).__name__}: {exc}).",
            "Check the file opens in QGIS, and --layer for a GeoPackage.",
        ) from None
    if frame.crs is None:
        if path.suffix.lower() in (".geojson", ".json"):
            frame = frame.set_crs("EPSG:4326")
        else:
            raise InputFileError(
                str(path),
                "has no coordinate reference system.",
                "Save it with its CRS (for example EPSG:27700 or EPSG:4326).",
            )
    return frame


def read_polygon(
    path: str | Path, *, layer: str | None = None, what: str = "--control", crs: str | None = None
) -> PolygonFile:
    """The union of the polygons of ``path`` in ``crs`` (default: the metric CRS in use).

    GeoJSON without a ``crs`` member is WGS84 by its standard; any other
    file without a CRS is refused. Invalid polygons are made valid and the
    note says so.
    """
    p = Path(path)
    frame = read_frame(p, layer=layer, what=f"`{what}`", kind="a polygon file")
    geoms = frame.geometry
    polys = geoms[geoms.notna() & geoms.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        kinds = ", ".join(sorted(set(geoms.dropna().geom_type))) or "no geometry"
        raise InputFileError(
            str(p),
            f"holds no polygon (found {kinds}).",
            "Give a file of polygons: the area to use.",
        )
    note = ""
    bad = ~polys.is_valid
    if bad.any():
        polys = polys.make_valid()
        note = f"{int(bad.sum())} invalid polygon(s) in {p.name} were made valid"
    bng = gpd.GeoSeries(polys, crs=frame.crs).to_crs(crs or metric_crs().code)
    union = shapely.union_all(bng.to_numpy())
    if union.is_empty or union.area <= 0:
        raise InputFileError(
            str(p), "its polygons have no area.", "Give a file whose polygons enclose the area."
        )
    return PolygonFile(p.stem, union, note)
