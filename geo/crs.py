"""Coordinate reference systems: WGS84 at rest, British National Grid for metres.

Project once, at the edge. Everything that measures distance converts here to
EPSG:27700 (metres) and everything stored is WGS84 (EPSG:4326) lat/lng.
This module also recognises the common ways coordinates arrive wrong: lat and
lng swapped, BNG easting/northing typed into lat/lng columns, (0, 0), and
points outside Great Britain.
"""

from __future__ import annotations

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


@lru_cache(maxsize=4)
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


def _in_gb_box(lat: FloatArray, lng: FloatArray) -> npt.NDArray[np.bool_]:
    return (lat >= GB_LAT[0]) & (lat <= GB_LAT[1]) & (lng >= GB_LNG[0]) & (lng <= GB_LNG[1])


def _in_bng_box(e: FloatArray, n: FloatArray) -> npt.NDArray[np.bool_]:
    return (
        (e >= BNG_EASTING[0])
        & (e <= BNG_EASTING[1])
        & (n >= BNG_NORTHING[0])
        & (n <= BNG_NORTHING[1])
    )


def classify_latlng(lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Name the problem, if any, with each (lat, lng) pair given as WGS84 degrees.

    Returns an array of ``COORD_*`` codes. Vectorised; NaN means missing.
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
    ok = rest & _in_gb_box(la, ln)
    swapped = rest & ~ok & _in_gb_box(ln, la)
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


def bng_to_grid_reference(
    easting: npt.ArrayLike, northing: npt.ArrayLike, *, digits: int = 10
) -> npt.NDArray[np.str_]:
    """OS National Grid references (``SD 68432 28154``) for BNG metres.

    ``digits`` is the total number of numeric digits: 6 (100 m), 8 (10 m) or
    10 (1 m). Points outside the grid give an empty string.
    """
    if digits not in (6, 8, 10):
        msg = f"`digits` must be 6, 8 or 10, got {digits!r}."
        raise ValueError(msg)
    e = np.floor(np.asarray(easting, dtype=np.float64))
    n = np.floor(np.asarray(northing, dtype=np.float64))
    valid = np.isfinite(e) & np.isfinite(n) & (e >= 0) & (e < 700_000) & (n >= 0) & (n < 1_300_000)
    e = np.where(valid, e, 0).astype(np.int64)
    n = np.where(valid, n, 0).astype(np.int64)
    e100k = e // 100_000
    n100k = n // 100_000
    l1 = (19 - n100k) - (19 - n100k) % 5 + (e100k + 10) // 5
    l2 = (19 - n100k) * 5 % 25 + e100k % 5
    letters = np.array(list(_GRID_LETTERS))
    half = digits // 2
    scale = 10 ** (5 - half)
    ee = (e % 100_000) // scale
    nn = (n % 100_000) // scale
    refs = (
        letters[l1].astype(object)
        + letters[l2].astype(object)
        + " "
        + np.char.zfill(ee.astype(str), half).astype(object)
        + " "
        + np.char.zfill(nn.astype(str), half).astype(object)
    )
    return np.where(valid, refs, "").astype(str)
