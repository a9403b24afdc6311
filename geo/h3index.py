"""Vectorised H3 indexing on int64 arrays.

Cells are held as signed 64-bit integers (the H3 index's top bit is always
zero, so every valid cell is a positive int64 and fits a BIGINT column).
Indexing runs in h3ronpy's compiled loop; parents, child ranges and
resolutions are bit operations on the whole array, after the H3 index layout:

``| 1 reserved | 4 mode | 3 mode-dependent | 4 resolution | 7 base cell | 15 x 3 digits |``

Digits below a cell's resolution are all 7.

Indexing a large array runs on every core the process may use: h3ronpy's
loop releases the GIL, so the array is cut into one contiguous slice per
thread, each slice written into its place in one output array. The cells do
not depend on the cut.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

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

MIN_POINTS_PER_THREAD = 50_000
"""Below this many points per thread, indexing stays on one thread (the hand-off
costs more than it saves)."""

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


def latlng_to_cells(
    lat: npt.ArrayLike, lng: npt.ArrayLike, res: int = STORE_RES, *, threads: int | None = None
) -> Int64Array:
    """H3 cells of WGS84 points, as int64.

    Parameters
    ----------
    lat, lng
        Degrees, same length, finite (check coordinates before indexing).
    res
        H3 resolution 0-15; default :data:`geo.schemas.STORE_RES` (12).
    threads
        Most threads to index with; default every available core (see
        :func:`index_threads`). The cells are the same for any number.
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
    out = np.empty(lat_a.size, dtype=np.int64)
    n_threads = index_threads(lat_a.size, threads)
    if n_threads == 1:
        _index_slice(lat_a, lng_a, res, out, 0, lat_a.size)
        return out
    cuts = np.linspace(0, lat_a.size, n_threads + 1).astype(np.int64)
    pool = _pool(n_threads)
    jobs = [
        pool.submit(_index_slice, lat_a, lng_a, res, out, int(a), int(b))
        for a, b in itertools.pairwise(cuts)
    ]
    for job in jobs:
        job.result()
    return out


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


def index_threads(n_points: int, threads: int | None = None) -> int:
    """Threads :func:`latlng_to_cells` uses for ``n_points``.

    ``threads`` caps it (``None``: every available core); no thread gets fewer
    than :data:`MIN_POINTS_PER_THREAD` points.
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int | np.integer) or threads < 1
    ):
        msg = f"`threads` must be a whole number >= 1 or None, got {threads!r}."
        raise ValidationError(msg)
    cap = available_cores() if threads is None else int(threads)
    return int(max(1, min(cap, n_points // MIN_POINTS_PER_THREAD)))


def _index_slice(
    lat: FloatArray, lng: FloatArray, res: int, out: Int64Array, start: int, stop: int
) -> None:
    cells = h3ronpy.vector.coordinates_to_cells(lat[start:stop], lng[start:stop], res)
    out[start:stop] = np.asarray(cells).view(np.int64)


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """One long-lived pool per thread count (threads are started once, not per call)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(n_threads)
        if pool is None:
            pool = ThreadPoolExecutor(n_threads, thread_name_prefix="h3index")
            _POOLS[n_threads] = pool
        return pool


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
