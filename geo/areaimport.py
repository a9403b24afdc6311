"""Boundary files a user imports as areas: wards, neighbourhoods, beats, LSOAs.

A GeoJSON or GeoPackage file (any CRS pyproj knows; GeoJSON without a CRS is
WGS84 by its standard, any other file without one is refused) of polygons,
each with a code and a name. Codes and names must both be unique, so that
``--area`` resolves each to one area. Invalid polygons are made valid and the
notes say how many. Areas that do not overlap the study area are left out
and counted; a file none of whose areas does is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.areafile import read_frame
from geo.areas import normalise_name
from geo.crs import WGS84
from geo.errors import InputFileError

CODE_GUESSES = ("code", "area_code", "id", "ons_code", "gss_code", "areacd")
NAME_GUESSES = ("name", "area_name", "label", "areanm")


@dataclass(frozen=True)
class AreaFile:
    """Areas read from a file: ``frame`` (code, name, geometry WGS84) and what was done."""

    path: str
    frame: gpd.GeoDataFrame
    code_field: str
    name_field: str
    left_out: int = 0
    notes: list[str] = field(default_factory=list)


def _guess(
    columns: list[str], given: str | None, guesses: tuple[str, ...], suffix: str
) -> str | None:
    if given is not None:
        return given if given in columns else None
    lower = {c.lower(): c for c in columns}
    for g in guesses:
        if g in lower:
            return lower[g]
    # ONS style: WD23CD / WD23NM, LSOA11CD / LSOA11NM.
    hits = [c for c in columns if c.upper().endswith(suffix) and c[: -len(suffix)].isalnum()]
    return hits[0] if len(hits) == 1 else None


def read_areas(
    path: str | Path,
    *,
    kind: str,
    code_field: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
    study_area: BaseGeometry | None = None,
    tolerance_deg: float = 0.0,
) -> AreaFile:
    """Read, check and clip-test the areas of ``path`` (see the module).

    ``study_area`` (WGS84): areas not overlapping it (grown by
    ``tolerance_deg``) are left out; if none overlaps, the file is refused.
    """
    p = Path(path)
    fix_fields = "Name the fields with --code-field and --name-field."
    frame = read_frame(p, layer=layer, what="`engage areas import`", kind="a boundary file")
    notes: list[str] = []
    columns = [c for c in frame.columns if c != "geometry"]
    code = _guess(columns, code_field, CODE_GUESSES, "CD")
    name = _guess(columns, name_field, NAME_GUESSES, "NM")
    for what, got, given in (("code", code, code_field), ("name", name, name_field)):
        if got is None:
            asked = (
                f"has no field `{given}`" if given else f"has no {what} field this can recognise"
            )
            fields = ", ".join(columns) or "none"
            raise InputFileError(
                str(p),
                f"{asked} (column `{given or what}`; its fields are: {fields}).",
                fix_fields,
            )
    assert code is not None and name is not None
    geoms = frame.geometry
    is_poly = geoms.notna() & geoms.geom_type.isin(["Polygon", "MultiPolygon"])
    if not is_poly.any():
        kinds = ", ".join(sorted(set(geoms.dropna().geom_type))) or "no geometry"
        raise InputFileError(
            str(p), f"holds no polygon (found {kinds}).", f"Give the {kind} boundaries as polygons."
        )
    if (~is_poly).any():
        notes.append(f"{int((~is_poly).sum())} feature(s) without a polygon were left out")
    frame = frame.loc[is_poly.to_numpy()].copy()
    for what, col in (("code", code), ("name", name)):
        values = frame[col].astype(object)
        blank = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        if blank.any():
            rows = (np.flatnonzero(blank) + 1)[:5].tolist()
            raise InputFileError(
                str(p),
                f"feature(s) {rows} have an empty {what} (column `{col}`).",
                f"Give every area a {what}, or choose another --{what}-field.",
            )
    for what, col in (("code", code), ("name", name)):
        values = frame[col].astype(str).str.strip()
        if what == "name":
            values = values.map(normalise_name)
        dup = values.duplicated(keep=False)
        if dup.any():
            shown = sorted(set(frame.loc[dup.to_numpy(), col].astype(str)))[:5]
            raise InputFileError(
                str(p),
                f"{what}s are not unique (column `{col}`): {', '.join(shown)} repeat.",
                f"Each area needs its own {what}, so that --area finds one area; choose "
                f"another --{what}-field or fix the file.",
            )
    bad = ~frame.geometry.is_valid
    if bad.any():
        frame["geometry"] = frame.geometry.make_valid()
        notes.append(f"{int(bad.sum())} invalid polygon(s) were made valid")
    frame = frame.to_crs(WGS84)
    # make_valid may leave collections; keep their polygons.
    frame["geometry"] = [_polygonal(g) for g in frame.geometry.to_numpy()]
    out = gpd.GeoDataFrame(
        {
            "code": frame[code].astype(str).str.strip().to_numpy(dtype=object),
            "name": frame[name].astype(str).str.strip().to_numpy(dtype=object),
        },
        geometry=gpd.GeoSeries(frame.geometry.to_numpy(), crs=WGS84),
        crs=WGS84,
    )
    left_out = 0
    if study_area is not None:
        grown = study_area.buffer(tolerance_deg) if tolerance_deg > 0 else study_area
        shapely.prepare(grown)
        geoms = out.geometry.to_numpy()
        inter = shapely.area(shapely.intersection(geoms, grown))
        keep = inter > 0.001 * np.maximum(shapely.area(geoms), 1e-18)
        if not keep.any():
            raise InputFileError(
                str(p),
                f"none of its {len(out)} areas overlaps the study area.",
                "Check the file is for this force's area and its CRS is right, or set the study "
                "area with `engage init --study-area`.",
            )
        left_out = int((~keep).sum())
        if left_out:
            notes.append(f"{left_out} area(s) outside the study area were left out")
        out = out.loc[keep].reset_index(drop=True)
    out = out.sort_values("code").reset_index(drop=True)
    return AreaFile(str(p), out, code, name, left_out, notes)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else geom
