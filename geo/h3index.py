"""Vectorised H3 indexing on int64 arrays.

Cells are held as signed 64-bit integers (the H3 index's top bit is always
zero, so every valid cell is a positive int64 and fits a BIGINT column).
Indexing runs in h3ronpy's compiled loop; parents, child ranges and
resolutions are bit operations on the whole array, after the H3 index layout:

``| 1 reserved | 4 mode | 3 mode-dependent | 4 resolution | 7 base cell | 15 x 3 digits |``

Digits below a cell's resolution are all 7.
"""

from __future__ import annotations

import h3
import h3ronpy
import h3ronpy.vector
import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.errors import ValidationError
from geo.schemas import STORE_RES

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_RES_SHIFT = 52
_RES_MASK = np.int64(0xF) << np.int64(_RES_SHIFT)


def _digit_mask(first: int, last: int) -> np.int64:
    """Bits of digits ``first..last`` (1-based resolutions) set to 1."""
    mask = 0
    for r in range(first, last + 1):
        mask |= 0b111 << ((15 - r) * 3)
    return np.int64(mask)


def check_res(res: int, *, name: str = "res", low: int = 0, high: int = 15) -> int:
    """Validate an H3 resolution; the shared check for every call site."""
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not low <= res <= high:
        msg = f"`{name}` must be a whole number from {low} to {high}, got {res!r}."
        raise ValidationError(msg)
    return int(res)


def latlng_to_cells(lat: npt.ArrayLike, lng: npt.ArrayLike, res: int = STORE_RES) -> Int64Array:
    """H3 cells of WGS84 points, as int64.

    Parameters
    ----------
    lat, lng
        Degrees, same length, finite (check coordinates before indexing).
    res
        H3 resolution 0-15; default :data:`geo.schemas.STORE_RES` (12).
    """
    res = check_res(res)
    lat_a = np.ascontiguousarray(lat, dtype=np.float64)
    lng_a = np.ascontiguousarray(lng, dtype=np.float64)
    if lat_a.shape != lng_a.shape:
        msg = f"`lat` and `lng` must have the same length, got {lat_a.size} and {lng_a.size}."
        raise ValidationError(msg)
    if lat_a.size == 0:
        return np.empty(0, dtype=np.int64)
    if not (np.isfinite(lat_a).all() and np.isfinite(lng_a).all()):
        msg = "`lat` and `lng` must be finite; drop or quarantine missing coordinates first."
        raise ValidationError(msg)
    cells = h3ronpy.vector.coordinates_to_cells(lat_a, lng_a, res)
    return np.asarray(cells).view(np.int64).copy()


def cells_resolution(cells: npt.ArrayLike) -> Int64Array:
    """Resolution of each cell."""
    c = np.asarray(cells, dtype=np.int64)
    return (c & _RES_MASK) >> np.int64(_RES_SHIFT)


def cells_to_parent(cells: npt.ArrayLike, res: int) -> Int64Array:
    """Parent of each cell at ``res`` (coarser or equal), as in ``h3.cell_to_parent``."""
    res = check_res(res)
    c = np.asarray(cells, dtype=np.int64)
    if c.size and int(cells_resolution(c).min()) < res:
        msg = f"`res` {res} is finer than some cells' own resolution; a parent must be coarser."
        raise ValidationError(msg)
    out = (c & ~_RES_MASK) | (np.int64(res) << np.int64(_RES_SHIFT))
    if res < 15:
        out |= _digit_mask(res + 1, 15)
    return out


def cells_to_child_range(
    cells: npt.ArrayLike, res: int = STORE_RES
) -> tuple[Int64Array, Int64Array]:
    """Inclusive int64 range ``[lo, hi]`` holding every descendant at ``res``.

    Every valid descendant of a cell at resolution ``res`` lies in the range
    and no cell at ``res`` that is not a descendant does, so a B-tree index on
    stored res-12 cells answers "inside these cells" with range scans.
    """
    res = check_res(res)
    c = np.asarray(cells, dtype=np.int64)
    own = cells_resolution(c)
    if c.size and int(own.max()) > res:
        msg = f"`res` {res} is coarser than some cells' own resolution; children must be finer."
        raise ValidationError(msg)
    base = (c & ~_RES_MASK) | (np.int64(res) << np.int64(_RES_SHIFT))
    lo = base.copy()
    hi = base.copy()
    # digits own+1..res become 0 (lo) or 6 (hi); digits res+1..15 stay 7.
    for r in range(1, res + 1):
        bits = np.int64(0b111) << np.int64((15 - r) * 3)
        below = own < r
        lo = np.where(below, lo & ~bits, lo)
        hi = np.where(below, (hi & ~bits) | (np.int64(0b110) << np.int64((15 - r) * 3)), hi)
    return lo, hi


def cells_to_latlng(cells: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Centre (lat, lng) of each cell, in degrees."""
    c = np.ascontiguousarray(cells, dtype=np.int64)
    if c.size == 0:
        return np.empty(0), np.empty(0)
    batch = h3ronpy.vector.cells_to_coordinates(c.view(np.uint64))
    lat = np.asarray(batch.column("lat"), dtype=np.float64)
    lng = np.asarray(batch.column("lng"), dtype=np.float64)
    return lat, lng


def cells_area_m2(cells: npt.ArrayLike) -> FloatArray:
    """True area of each cell in square metres (cells differ in area)."""
    c = np.ascontiguousarray(cells, dtype=np.int64)
    if c.size == 0:
        return np.empty(0)
    return np.asarray(h3ronpy.cells_area_m2(c.view(np.uint64)), dtype=np.float64)


def cells_valid(cells: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Whether each int64 is a valid H3 cell."""
    c = np.ascontiguousarray(cells, dtype=np.int64)
    if c.size == 0:
        return np.empty(0, dtype=bool)
    return np.asarray(h3ronpy.cells_valid(c.view(np.uint64), booleanarray=True), dtype=bool)


def cell_to_str(cell: int) -> str:
    """Hex string form of one cell (as QGIS and h3-py show it)."""
    return h3.int_to_str(int(cell))


def str_to_cell(text: str) -> int:
    """One cell from its hex string, checked."""
    try:
        value = h3.str_to_int(text)
    except (ValueError, TypeError):
        value = -1
    if value < 0 or not h3.is_valid_cell(h3.int_to_str(value)):
        msg = f"`{text}` is not a valid H3 cell; expected a hex index such as 89195da49b7ffff."
        raise ValidationError(msg)
    return int(value)


def cells_to_str_array(cells: pd.Series | npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Hex strings of cells; null cells give None."""
    s = (
        pd.Series(cells, dtype="Int64")
        if not isinstance(cells, pd.Series)
        else cells.astype("Int64")
    )
    out = np.full(len(s), None, dtype=object)
    ok = s.notna().to_numpy()
    if ok.any():
        values = s[ok].to_numpy(dtype=np.int64).view(np.uint64)
        out[ok] = np.char.mod("%x", values)
    return out
