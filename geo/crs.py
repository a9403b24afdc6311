"""Coordinate reference systems: WGS84 at rest, British National Grid for metres.

Project once, at the edge. Everything that measures distance converts here to
EPSG:27700 (metres) and everything stored is WGS84 (EPSG:4326) lat/lng.
This module also recognises the common ways coordinates arrive wrong: lat and
lng swapped, BNG easting/northing typed into lat/lng columns, (0, 0), and
points outside Great Britain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

WGS84 = "EPSG:4326"
BNG = "EPSG:27700"

FloatArray = npt.NDArray[np.float64]

# Great Britain with its islands, generously: a point outside this box is not
# in Great Britain. (The finer test is the study area.)
GB_LAT = (49.8, 61.0)
GB_LNG = (-8.7, 2.1)
# British National Grid's false-origin grid covers GB within these metres.
BNG_EASTING = (0.0, 700_000.0)
BNG_NORTHING = (0.0, 1_300_000.0)

# Coordinate problems, in the order they are tested; the first that applies
# is reported.
COORD_OK = "ok"
COORD_MISSING = "missing"
COORD_ZERO = "zero"
COORD_BNG_AS_LATLNG = "bng_as_latlng"
COORD_SWAPPED = "swapped"
COORD_OUTSIDE_GB = "outside_gb"


@lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def latlng_to_bng(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 degrees to British National Grid (easting, northing) in metres."""
    e, n = _transformer(WGS84, BNG).transform(
        np.asarray(lng, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return np.asarray(e, dtype=np.float64), np.asarray(n, dtype=np.float64)


def bng_to_latlng(easting: npt.ArrayLike, northing: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """British National Grid metres to WGS84 (lat, lng) in degrees."""
    lng, lat = _transformer(BNG, WGS84).transform(
        np.asarray(easting, dtype=np.float64), np.asarray(northing, dtype=np.float64)
    )
    return np.asarray(lat, dtype=np.float64), np.asarray(lng, dtype=np.float64)


Box = tuple[tuple[float, float], tuple[float, float]]
"""((min_lat, max_lat), (min_lng, max_lng)) in degrees."""


def _in_gb_box(
    lat: FloatArray, lng: FloatArray, box: Box = (GB_LAT, GB_LNG)
) -> npt.NDArray[np.bool_]:
    (la0, la1), (ln0, ln1) = box
    return (lat >= la0) & (lat <= la1) & (lng >= ln0) & (lng <= ln1)


def _in_bng_box(e: FloatArray, n: FloatArray) -> npt.NDArray[np.bool_]:
    return (
        (e >= BNG_EASTING[0])
        & (e <= BNG_EASTING[1])
        & (n >= BNG_NORTHING[0])
        & (n <= BNG_NORTHING[1])
    )


def classify_latlng(
    lat: npt.ArrayLike, lng: npt.ArrayLike, box: Box = (GB_LAT, GB_LNG)
) -> npt.NDArray[np.str_]:
    """Name the problem, if any, with each (lat, lng) pair given as WGS84 degrees.

    ``box`` is where plausible points lie (default: Great Britain and Northern
    Ireland); ``COORD_OUTSIDE_GB`` means outside it. Returns an array of
    ``COORD_*`` codes. Vectorised; NaN means missing.
    """
    la = np.asarray(lat, dtype=np.float64)
    ln = np.asarray(lng, dtype=np.float64)
    out = np.full(la.shape, COORD_OK, dtype=object)
    missing = ~(np.isfinite(la) & np.isfinite(ln))
    zero = ~missing & (la == 0) & (ln == 0)
    # BNG typed into lat/lng: both beyond any degree value and a plausible grid
    # pair, in either order (easting in lng and northing in lat, or the reverse).
    big = ~missing & ~zero & ((np.abs(la) > 180) | (np.abs(ln) > 180))
    bng = big & (_in_bng_box(ln, la) | _in_bng_box(la, ln))
    rest = ~missing & ~zero & ~bng
    ok = rest & _in_gb_box(la, ln, box)
    swapped = rest & ~ok & _in_gb_box(ln, la, box)
    out[missing] = COORD_MISSING
    out[zero] = COORD_ZERO
    out[bng] = COORD_BNG_AS_LATLNG
    out[swapped] = COORD_SWAPPED
    out[rest & ~ok & ~swapped] = COORD_OUTSIDE_GB
    out[big & ~bng] = COORD_OUTSIDE_GB
    return out.astype(str)


def classify_bng(easting: npt.ArrayLike, northing: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Name the problem, if any, with each BNG (easting, northing) pair in metres."""
    e = np.asarray(easting, dtype=np.float64)
    n = np.asarray(northing, dtype=np.float64)
    out = np.full(e.shape, COORD_OK, dtype=object)
    missing = ~(np.isfinite(e) & np.isfinite(n))
    zero = ~missing & (e == 0) & (n == 0)
    # Degrees typed into easting/northing columns look like lat/lng.
    degrees = ~missing & ~zero & (_in_gb_box(e, n) | _in_gb_box(n, e))
    ok = ~missing & ~zero & ~degrees & _in_bng_box(e, n)
    swapped = ~missing & ~zero & ~degrees & ~ok & _in_bng_box(n, e)
    out[missing] = COORD_MISSING
    out[zero] = COORD_ZERO
    out[degrees] = COORD_BNG_AS_LATLNG
    out[swapped] = COORD_SWAPPED
    out[~missing & ~zero & ~degrees & ~ok & ~swapped] = COORD_OUTSIDE_GB
    return out.astype(str)


_GRID_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # no I


def _grid_metres(
    easting: npt.ArrayLike, northing: npt.ArrayLike, digits: int, extent: tuple[int, int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Whole metres of a grid (zero where outside ``extent``) and which lie inside it."""
    if digits not in (6, 8, 10):
        msg = f"`digits` must be 6, 8 or 10, got {digits!r}."
        raise ValueError(msg)
    e = np.floor(np.asarray(easting, dtype=np.float64))
    n = np.floor(np.asarray(northing, dtype=np.float64))
    valid = np.isfinite(e) & np.isfinite(n) & (e >= 0) & (e < extent[0]) & (n >= 0)
    valid &= n < extent[1]
    return np.where(valid, e, 0).astype(np.int64), np.where(valid, n, 0).astype(np.int64), valid


def _grid_refs(
    square: npt.NDArray[np.object_],
    e: npt.NDArray[np.int64],
    n: npt.NDArray[np.int64],
    digits: int,
    valid: npt.NDArray[np.bool_],
) -> npt.NDArray[np.str_]:
    """``<square letters> <east> <north>`` with ``digits`` figures in all; empty where invalid."""
    half = digits // 2
    scale = 10 ** (5 - half)
    refs = (
        square
        + " "
        + np.char.zfill(((e % 100_000) // scale).astype(str), half).astype(object)
        + " "
        + np.char.zfill(((n % 100_000) // scale).astype(str), half).astype(object)
    )
    return np.where(valid, refs, "").astype(str)


def bng_to_grid_reference(
    easting: npt.ArrayLike, northing: npt.ArrayLike, *, digits: int = 10
) -> npt.NDArray[np.str_]:
    """OS National Grid references (``SD 68432 28154``) for BNG metres.

    ``digits`` is the total number of numeric digits: 6 (100 m), 8 (10 m) or
    10 (1 m). Points outside the grid give an empty string.
    """
    e, n, valid = _grid_metres(easting, northing, digits, (700_000, 1_300_000))
    e100k = e // 100_000
    n100k = n // 100_000
    l1 = (19 - n100k) - (19 - n100k) % 5 + (e100k + 10) // 5
    l2 = (19 - n100k) * 5 % 25 + e100k % 5
    letters = np.array(list(_GRID_LETTERS))
    square = letters[l1].astype(object) + letters[l2].astype(object)
    return _grid_refs(square, e, n, digits, valid)


# ------------------------------------------------------------- the metric CRS

IRISH_GRID = "EPSG:29903"
"""Irish Grid (TM75), for grid references in Northern Ireland."""

# The island of Ireland, generously (see in_ireland).
IRELAND_LAT = (51.3, 55.5)
IRELAND_LNG = (-10.7, -5.3)


@dataclass(frozen=True)
class MetricCrs:
    """The projected CRS the product measures in, and the grid its references use.

    ``grid`` is ``"os"`` (Ordnance Survey National Grid, Great Britain),
    ``"irish"`` (Irish Grid, Northern Ireland) or ``""`` (no grid reference).
    """

    code: str
    name: str
    grid: str = ""

    @property
    def announcement(self) -> str:
        refs = {
            "os": "grid references on the OS National Grid",
            "irish": "grid references on the Irish Grid",
            "": "no grid references (neither British grid applies)",
        }[self.grid]
        return f"distances in metres on {self.name} ({self.code}); {refs}"


BRITISH_NATIONAL_GRID = MetricCrs(BNG, "British National Grid", "os")


def utm_for(lat: float, lng: float) -> str:
    """EPSG code of the WGS84 UTM zone holding (lat, lng)."""
    zone = int(np.clip(np.floor((lng + 180.0) / 6.0) + 1, 1, 60))
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def choose_metric_crs(lat: float, lng: float, *, ireland: bool | None = None) -> MetricCrs:
    """The one rule for the metric CRS of a study area centred at (lat, lng).

    British National Grid in Great Britain; the local UTM zone elsewhere
    (on the island of Ireland, with Irish Grid references; anywhere else,
    with none). ``ireland``: whether the area is on the island of Ireland,
    when the caller knows from boundaries (else a box test, which cannot
    tell the Mull of Kintyre from County Antrim).
    """
    on_ireland = in_ireland(lat, lng) if ireland is None else ireland
    in_gb = bool(_in_gb_box(np.array([lat]), np.array([lng]))[0]) and not on_ireland
    if in_gb:
        return BRITISH_NATIONAL_GRID
    code = utm_for(lat, lng)
    zone = int(code.split(":")[1]) % 100
    hemi = "N" if lat >= 0 else "S"
    # The Irish Grid covers the whole island; the UK part of it is Northern Ireland.
    return MetricCrs(code, f"UTM zone {zone}{hemi}", "irish" if on_ireland else "")


def in_ireland(lat: float, lng: float) -> bool:
    """Whether (lat, lng) lies on the island of Ireland (a box west of the Irish Sea)."""
    if not (IRELAND_LAT[0] <= lat <= IRELAND_LAT[1] and IRELAND_LNG[0] <= lng <= IRELAND_LNG[1]):
        return False
    # East of 6.2 W only Northern Ireland's coast (north of 54 N) is Irish land.
    return lng <= -6.2 or lat >= 54.0


_active: list[MetricCrs] = [BRITISH_NATIONAL_GRID]


def use_metric_crs(crs: MetricCrs) -> None:
    """Make ``crs`` the CRS of all metric work in this process (set with the study area)."""
    _active[0] = crs


def metric_crs() -> MetricCrs:
    """The CRS metric work uses now (British National Grid unless a study area says otherwise)."""
    return _active[0]


_LAST_METRIC: list[tuple[str, FloatArray, FloatArray, FloatArray, FloatArray]] = []
"""The last :func:`latlng_to_metric` call's CRS, points and result."""


def latlng_to_metric(lat: npt.ArrayLike, lng: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """WGS84 degrees to (x, y) metres in :func:`metric_crs`.

    The same points asked twice in a row are transformed once (an ingest asks
    for a chunk's points in the study-area test and again to assign areas);
    the caller gets its own copies.
    """
    la = np.array(lat, dtype=np.float64)
    ln = np.array(lng, dtype=np.float64)
    code = metric_crs().code
    if _LAST_METRIC:
        last_code, last_la, last_ln, x, y = _LAST_METRIC[0]
        if (
            last_code == code
            and last_la.shape == la.shape
            and np.array_equal(last_la, la)
            and np.array_equal(last_ln, ln)
        ):
            return x.copy(), y.copy()
    tx, ty = _transformer(WGS84, code).transform(ln, la)
    x = np.asarray(tx, dtype=np.float64)
    y = np.asarray(ty, dtype=np.float64)
    if la.size >= 1000:
        _LAST_METRIC[:] = [(code, la, ln, x.copy(), y.copy())]
    return x, y


def metric_to_latlng(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(x, y) metres in :func:`metric_crs` to WGS84 (lat, lng) degrees."""
    lng, lat = _transformer(metric_crs().code, WGS84).transform(
        np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    )
    return np.asarray(lat, dtype=np.float64), np.asarray(lng, dtype=np.float64)


def irish_grid_reference(
    easting: npt.ArrayLike, northing: npt.ArrayLike, *, digits: int = 10
) -> npt.NDArray[np.str_]:
    """Irish Grid references (``J 33912 74139``) for Irish Grid metres (EPSG:29903)."""
    e, n, valid = _grid_metres(easting, northing, digits, (500_000, 500_000))
    # One letter per 100 km square: rows from the north, A to Z without I.
    letters = np.array(list(_GRID_LETTERS))
    idx = (4 - n // 100_000) * 5 + e // 100_000
    return _grid_refs(letters[idx].astype(object), e, n, digits, valid)


def grid_reference(x: npt.ArrayLike, y: npt.ArrayLike, *, digits: int = 10) -> npt.NDArray[np.str_]:
    """Grid references of metric (x, y) in :func:`metric_crs`: OS, Irish or empty."""
    crs = metric_crs()
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if crs.grid == "os" and crs.code == BNG:
        return bng_to_grid_reference(xa, ya, digits=digits)
    if crs.grid == "irish":
        e, n = _transformer(crs.code, IRISH_GRID).transform(xa, ya)
        return irish_grid_reference(e, n, digits=digits)
    return np.full(xa.shape, "", dtype=str)
