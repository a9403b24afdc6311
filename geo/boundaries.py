"""Boundaries shipped in ``data/boundaries`` and point-in-area assignment.

Wards and LSOAs cover Blackburn with Darwen; district outlines cover the 14
authorities of the Lancashire police force area. Every point gets the codes of
the district, ward and LSOA it falls in. Generalised boundaries leave slivers
at their edges, so a point in no polygon takes the nearest one within
``tolerance_m`` (default 250 m), and the study-area test allows the same
tolerance.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geo.crs import WGS84
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
        for fn in (wards, lsoas, districts, uk_districts, all_districts):
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


@cache
def uk_districts() -> gpd.GeoDataFrame:
    """Every UK local authority district of 2016 (391, super-generalised), WGS84."""
    return _read("uk_ltla_2016_bsc.geojson", "areacd", "areanm")


@cache
def all_districts() -> gpd.GeoDataFrame:
    """Every UK district, with the finer Lancashire outlines in place of their UK ones."""
    lancs = districts()
    uk = uk_districts()
    merged = pd.concat([uk[~uk["code"].isin(lancs["code"])], lancs], ignore_index=True)
    frame = gpd.GeoDataFrame(merged, geometry="geometry", crs=WGS84)
    return frame.sort_values("code").reset_index(drop=True)


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
