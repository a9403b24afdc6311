"""Boundaries shipped in ``data/boundaries`` and point-in-area assignment.

Wards and LSOAs cover Blackburn with Darwen; district outlines cover the 14
authorities of the Lancashire police force area. Every point gets the codes of
the district, ward and LSOA it falls in. Generalised boundaries leave slivers
at their edges, so a point in no polygon takes the nearest one within
``tolerance_m`` (default 250 m), and the study-area test allows the same
tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import BNG, WGS84, latlng_to_bng
from geo.errors import ValidationError

BWD = "E06000008"
"""Blackburn with Darwen's local authority code: the default study area."""

DEFAULT_TOLERANCE_M = 250.0

LANCASHIRE = (
    "E06000008",
    "E06000009",
    "E07000117",
    "E07000118",
    "E07000119",
    "E07000120",
    "E07000121",
    "E07000122",
    "E07000123",
    "E07000124",
    "E07000125",
    "E07000126",
    "E07000127",
    "E07000128",
)


SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "boundaries"
_folder: list[Path | None] = [None]


def use_boundaries_dir(folder: Path | None) -> None:
    """Read boundary files from ``folder`` (None: the shipped ``data/boundaries``).

    The settings (``ENGAGE_BOUNDARIES_DIR``) call this; layers already read
    are forgotten when the folder changes.
    """
    if folder != _folder[0]:
        _folder[0] = folder
        for fn in (wards, lsoas, districts, _outline, _buffered_bng, _bng_layer):
            fn.cache_clear()


def boundaries_dir() -> Path:
    """Folder of boundary files: the one set by :func:`use_boundaries_dir`, or the shipped one."""
    path = _folder[0] or SHIPPED_DIR
    if not path.is_dir():
        msg = (
            f"boundary folder {path} does not exist. Set `ENGAGE_BOUNDARIES_DIR` to the "
            "folder holding bwd_wards_2018.geojson, or reinstall the project."
        )
        raise FileNotFoundError(msg)
    return path


def _read(name: str, code: str, label: str) -> gpd.GeoDataFrame:
    path = boundaries_dir() / name
    frame = gpd.read_file(path)
    frame = frame.rename(columns={code: "code", label: "name"})[["code", "name", "geometry"]]
    frame = frame.set_crs(WGS84, allow_override=True)
    frame["geometry"] = shapely.make_valid(frame.geometry.values)
    return frame.sort_values("code").reset_index(drop=True)


@cache
def wards() -> gpd.GeoDataFrame:
    """Blackburn with Darwen's 17 wards (``code``, ``name``, ``geometry``), WGS84."""
    return _read("bwd_wards_2018.geojson", "ons_code", "name")


@cache
def lsoas() -> gpd.GeoDataFrame:
    """Blackburn with Darwen's 91 LSOAs (2011), WGS84."""
    return _read("bwd_lsoa_2011.geojson", "LSOA11CD", "LSOA11NM")


@cache
def districts() -> gpd.GeoDataFrame:
    """The 14 local authorities of the Lancashire police force area, WGS84."""
    return _read("lancashire_districts_2011.geojson", "LAD11CD", "LAD11NM")


def layer(kind: str) -> gpd.GeoDataFrame:
    """One boundary layer by name: ``ward``, ``lsoa`` or ``district``."""
    layers = {"ward": wards, "lsoa": lsoas, "district": districts}
    if kind not in layers:
        msg = f"unknown boundary layer `{kind}`; expected one of ward, lsoa, district."
        raise ValidationError(msg)
    return layers[kind]()


def find_ward(text: str) -> tuple[str, str]:
    """A ward's (code, name) from its code or name, case and punctuation forgiven."""

    def norm(s: str) -> str:
        return "".join(ch for ch in s.lower().replace("&", "and") if ch.isalnum())

    w = wards()
    key = norm(text)
    hit = w[(w["code"].str.lower() == text.strip().lower()) | (w["name"].map(norm) == key)]
    if len(hit) != 1:
        names = ", ".join(w["name"])
        msg = f"no ward called `{text}`. Blackburn with Darwen's wards are: {names}."
        raise ValidationError(msg)
    return str(hit["code"].iloc[0]), str(hit["name"].iloc[0])


def _assign(
    layer_bng: gpd.GeoDataFrame,
    e: npt.NDArray[np.float64],
    n: npt.NDArray[np.float64],
    tolerance_m: float,
) -> npt.NDArray[np.object_]:
    """Code of the polygon each point is in, else the nearest within tolerance, else None.

    One vectorised, prepared point-in-polygon test per polygon after a bounding
    box filter; polygons are few (tens) and points many. A point on a shared
    edge takes the lowest code.
    """
    out = np.full(e.size, None, dtype=object)
    if e.size == 0:
        return out
    codes = layer_bng["code"].to_numpy()
    geoms = layer_bng.geometry.to_numpy()
    for code, geom in zip(codes[::-1], geoms[::-1], strict=True):
        x0, y0, x1, y1 = geom.bounds
        cand = np.flatnonzero((e >= x0) & (e <= x1) & (n >= y0) & (n <= y1))
        if cand.size == 0:
            continue
        shapely.prepare(geom)
        inside = shapely.intersects_xy(geom, e[cand], n[cand])
        out[cand[inside]] = code
    missing = np.flatnonzero(pd.isna(out))
    if missing.size and tolerance_m > 0:
        near = _buffered_union(layer_bng, tolerance_m)
        missing = missing[shapely.intersects_xy(near, e[missing], n[missing])]
    if missing.size and tolerance_m > 0:
        tree = shapely.STRtree(geoms)
        near_pt, near_poly = tree.query_nearest(
            shapely.points(e[missing], n[missing]), max_distance=tolerance_m, all_matches=False
        )
        out[missing[near_pt]] = codes[near_poly]
    return out


def _buffered_union(layer_bng: gpd.GeoDataFrame, tolerance_m: float) -> BaseGeometry:
    key = (id(layer_bng), tolerance_m)
    if key not in _BUFFERED:
        geom = shapely.union_all(layer_bng.geometry.to_numpy()).buffer(tolerance_m)
        shapely.prepare(geom)
        _BUFFERED[key] = geom
    return _BUFFERED[key]


_BUFFERED: dict[tuple[int, float], BaseGeometry] = {}


@cache
def _bng_layer(kind: str) -> gpd.GeoDataFrame:
    return layer(kind).to_crs(BNG)


def assign_areas(
    lat: npt.ArrayLike,
    lng: npt.ArrayLike,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> pd.DataFrame:
    """District, ward and LSOA codes of each point (None where outside all).

    Vectorised: one spatial-index query per layer. Points with NaN
    coordinates get None everywhere.
    """
    la = np.asarray(lat, dtype=np.float64)
    ln = np.asarray(lng, dtype=np.float64)
    result = pd.DataFrame(
        {
            "district": np.full(la.size, None, dtype=object),
            "ward": np.full(la.size, None, dtype=object),
            "lsoa": np.full(la.size, None, dtype=object),
            "neighbourhood": np.full(la.size, None, dtype=object),
            "beat": np.full(la.size, None, dtype=object),
        }
    )
    ok = np.isfinite(la) & np.isfinite(ln)
    if not ok.any():
        return result
    idx = np.flatnonzero(ok)
    e, n = latlng_to_bng(la[idx], ln[idx])
    district = _assign(_bng_layer("district"), e, n, tolerance_m)
    result.loc[idx, "district"] = district
    # Wards and LSOAs are Blackburn with Darwen's only.
    bwd = district == BWD
    for kind in ("ward", "lsoa"):
        result.loc[idx[bwd], kind] = _assign(_bng_layer(kind), e[bwd], n[bwd], tolerance_m)
    return result


@dataclass(frozen=True)
class StudyArea:
    """The area whose points are kept: a union of Lancashire authorities.

    Parameters
    ----------
    codes
        Local authority codes; default Blackburn with Darwen.
    tolerance_m
        A point this close to the outline still counts as inside.
    """

    codes: tuple[str, ...] = (BWD,)
    tolerance_m: float = DEFAULT_TOLERANCE_M

    @classmethod
    def parse(cls, text: str, *, tolerance_m: float = DEFAULT_TOLERANCE_M) -> StudyArea:
        """From ``E06000008``, ``E06000008,E07000120`` or ``lancashire``."""
        if text.strip().lower() == "lancashire":
            return cls(LANCASHIRE, tolerance_m)
        codes = tuple(c.strip().upper() for c in text.split(",") if c.strip())
        known = set(districts()["code"])
        unknown = [c for c in codes if c not in known]
        if not codes or unknown:
            msg = (
                f"study area `{text}` names unknown authorities {unknown}. Use `lancashire` or "
                f"codes from: {', '.join(sorted(known))}."
            )
            raise ValidationError(msg)
        return cls(codes, tolerance_m)

    @property
    def label(self) -> str:
        if set(self.codes) == set(LANCASHIRE):
            return "Lancashire"
        names = districts().set_index("code")["name"]
        return ", ".join(str(names.get(c, c)) for c in self.codes)

    def outline(self) -> BaseGeometry:
        """The area's outline in WGS84."""
        return _outline(self.codes)

    def contains(self, lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Whether each point lies in the area or within ``tolerance_m`` of it."""
        la = np.asarray(lat, dtype=np.float64)
        ln = np.asarray(lng, dtype=np.float64)
        out = np.zeros(la.size, dtype=bool)
        ok = np.isfinite(la) & np.isfinite(ln)
        if ok.any():
            e, n = latlng_to_bng(la[ok], ln[ok])
            area = _buffered_bng(self.codes, self.tolerance_m)
            out[ok] = shapely.intersects_xy(area, e, n)
        return out


@cache
def _outline(codes: tuple[str, ...]) -> BaseGeometry:
    d = districts()
    return shapely.union_all(d[d["code"].isin(codes)].geometry.values)


@cache
def _buffered_bng(codes: tuple[str, ...], tolerance_m: float) -> BaseGeometry:
    d = districts().to_crs(BNG)
    geom = shapely.union_all(d[d["code"].isin(codes)].geometry.values)
    if tolerance_m > 0:
        geom = geom.buffer(tolerance_m)
    shapely.prepare(geom)
    return geom
