"""DBSCAN in metres with a deterministic border rule, its eps suggestion and its hulls.

Semantics
---------
:func:`dbscan` gives exactly what ``sklearn.cluster.DBSCAN(eps, min_samples,
metric="euclidean")`` gives on the same coordinates and ``sample_weight``,
except for two things that scikit-learn leaves to the order of the input:

* **Border rule.** A non-core point within ``eps_m`` of at least one core point
  joins the cluster of its *nearest* core point; among core points at exactly
  the same distance, the lowest cluster id wins. (scikit-learn gives a border
  point to whichever cluster reaches it first.) PostGIS can apply the same
  rule, so both back ends agree point for point.
* **Cluster ids.** Clusters are numbered 0, 1, 2, ... in the lexicographic
  order of their smallest core point (smallest ``x``, then smallest ``y``).
  The ids do not depend on the order of the input rows.

Everything else is scikit-learn's definition. Two points are neighbours when
``(x1 - x2)**2 + (y1 - y2)**2 <= eps_m**2`` in float64 (the test scikit-learn's
KD-tree applies, so points exactly ``eps_m`` apart are neighbours). A point is
*core* when the summed weight of its neighbours, itself included, is at least
``min_samples`` (weights default to 1). Core points within ``eps_m`` of each
other share a cluster; a non-core point with no core point within ``eps_m`` is
noise (-1). Which points are core, how core points are partitioned and which
points are noise do not depend on the border rule.

Algorithm (bounded memory, no loop over points in Python)
--------------------------------------------------------
1. The plane is cut into square cells of side just under ``eps_m / sqrt(2)``,
   so any two points in one cell are neighbours and any neighbour lies in the
   5 x 5 block of cells around a point (the exact grid DBSCAN of Gunawan 2013
   and Gan and Tao 2015). Points are sorted by one integer key, their cell
   then a hash of their coordinates, so points at exactly the same coordinates
   (police data snaps many events to one point) end up side by side and
   collapse into one point carrying their summed weight; they have the same
   neighbourhood, so they share core status and cluster. Neighbouring cells
   are found in a directly addressed table of the grid, or by binary search
   when the grid is too sparse for one.
2. A cell whose total weight reaches ``min_samples`` makes all its points
   core without looking further. A point in a lighter cell adds its
   neighbours' weights ring by ring: the 2 cells left and right, the 2 above
   and below, the 4 corner cells, then the 16 cells beyond, stopping once its
   sum reaches ``min_samples`` or the rings left cannot reach it. A cell whose
   points' bounding box lies wholly within ``eps_m`` of the point adds its
   whole weight, one wholly beyond is skipped, and the rest are compared pair
   by pair in chunks of about :data:`PAIR_BUDGET` pairs.
3. Core points of one cell share a cluster. Two nearby cells are joined when
   some pair of their core points are neighbours: first the two cells'
   extreme core points facing each other along the axis of their offset are
   tried (this joins almost every pair inside a dense cluster), touching
   cells before cells two apart, which are tried only where not already
   joined; the pairs still in different components are then checked
   exhaustively, cheapest first, skipping pairs joined meanwhile. Components
   come from :func:`scipy.sparse.csgraph.connected_components`.
4. Non-core points query a KD-tree of the core points in the 5 x 5 blocks
   around them for the nearest one within ``eps_m``; candidates at the same
   distance are compared exactly and the lowest cluster id wins.

Independent pieces of steps 2 and 3 (halves of the light cells, the extremes,
the cell offsets) run on :data:`THREADS` threads; numpy releases the GIL in
its loops. The result does not depend on the number of threads (except for the
rounding of fractional weight sums noted below).

Float sums of fractional weights can differ from scikit-learn's in the last
bit, so a weight sum that lands within rounding of ``min_samples`` may make a
different core decision; integer and dyadic weights are exact.

References
----------
Ester, Kriegel, Sander and Xu (1996), "A density-based algorithm for
discovering clusters in large spatial databases with noise", KDD-96.
Gan and Tao (2015), "DBSCAN revisited", SIGMOD 2015.
Satopää, Albrecht, Irwin and Raghavan (2011), "Finding a 'kneedle' in a
haystack: detecting knee points in system behavior", ICDCS workshops.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_to_parent

logger = logging.getLogger("models.dbscan")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Labeller = Callable[[pd.DataFrame, float, int], pd.DataFrame]
"""``labeller(events, eps_m, min_samples)`` -> ``cluster``, ``core`` per event (another engine)."""
BoolArray = npt.NDArray[np.bool_]
T = TypeVar("T")
R = TypeVar("R")

PAIR_BUDGET = 1_000_000
"""Most point pairs compared at once; bounds the working memory (about 100 MB)."""

THREADS = 2
"""Most threads :func:`dbscan` runs independent pieces of work in (capped at the CPU
count); numpy and scipy release the GIL in their loops. 1 runs everything in the
calling thread. The result does not depend on it (integer and dyadic weights)."""

PARALLEL_MIN_POINTS = 50_000
"""Below this many points the work is not split between threads."""

DENSE_GRID_CELLS = 1 << 22
"""Largest grid (cells, margin included) always looked up in a directly addressed table
(4 bytes a cell); a larger one gets a table only within :data:`DENSE_GRID_PER_CELL`."""

DENSE_GRID_PER_CELL = 16
"""A grid of at most this many cells per occupied cell gets a directly addressed table;
a sparser one is searched in its sorted occupied cells."""

HULL_BUFFER_M = 10.0
"""Buffer (metres) that turns the hull of a 1-2 point or collinear cluster into a polygon."""

CONCAVE_RATIO = 0.3
"""``ratio`` passed to :func:`shapely.concave_hull` for ``kind="concave"`` (0 = most concave,
1 = convex hull)."""

KNEE_CLIP_QUANTILE = 0.99
"""The k-distance curve is clipped at this quantile before the knee search, so a few
isolated points far from everything do not flatten the normalised curve."""

_OFFSETS_ALL = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3) if (dx, dy) != (0, 0)]
"""The 24 cells around a cell that can hold a neighbour (cell side < eps / sqrt(2))."""

_OFFSETS_HALF = [(dx, dy) for dx, dy in _OFFSETS_ALL if dx > 0 or (dx == 0 and dy > 0)]
"""One offset of each opposite pair: every unordered pair of nearby cells once."""

_TIE_REL = 1e-8
"""Relative distance within which KD-tree candidates are re-compared exactly."""


# --------------------------------------------------------------------------- checks


def _check_eps(eps_m: Any) -> float:
    if isinstance(eps_m, bool) or not isinstance(eps_m, int | float | np.integer | np.floating):
        msg = f"`eps_m` must be a number of metres > 0, got {eps_m!r}. Pass a distance in metres."
        raise ValidationError(msg)
    if not math.isfinite(float(eps_m)):
        msg = f"`eps_m` must be finite, got {eps_m!r}. Pass a distance in metres."
        raise ValidationError(msg)
    if eps_m <= 0:
        msg = f"`eps_m` must be > 0, got {eps_m!r}. Pass a distance in metres."
        raise ValidationError(msg)
    return float(eps_m)


def _check_count(value: Any, name: str, low: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        msg = f"`{name}` must be a whole number >= {low}, got {value!r}. Pass {what}."
        raise ValidationError(msg)
    return int(value)


def _check_xy(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    try:
        xa = np.asarray(x, dtype=np.float64).ravel()
        ya = np.asarray(y, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        msg = f"`x` and `y` must be numbers (metres, projected), could not convert: {exc}."
        raise ValidationError(msg) from exc
    if xa.size != ya.size:
        msg = f"`x` and `y` must have the same length, got {xa.size} and {ya.size}."
        raise ValidationError(msg)
    bad = ~(np.isfinite(xa) & np.isfinite(ya))
    if bad.any():
        msg = (
            f"`x` and `y` must be finite; {int(bad.sum())} points are NaN or infinite "
            f"(first at position {int(np.flatnonzero(bad)[0])}). Drop or quarantine them first."
        )
        raise ValidationError(msg)
    return xa, ya


def _check_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray | None:
    if weights is None:
        return None
    try:
        w = np.asarray(weights, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        msg = f"`weights` must be numbers >= 0, could not convert: {exc}."
        raise ValidationError(msg) from exc
    if w.size != n:
        msg = f"`weights` must have one value per point, got {w.size} for {n} points."
        raise ValidationError(msg)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        msg = (
            f"`weights` must be finite and >= 0, got {float(w[first])!r} at position {first}. "
            "Pass non-negative weights (or None for 1 per point)."
        )
        raise ValidationError(msg)
    return w


# --------------------------------------------------------------------------- dbscan


def dbscan(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    eps_m: float,
    min_samples: int,
    weights: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """DBSCAN clusters of projected points, with the nearest-core border rule.

    See the module docstring for the exact semantics (scikit-learn's DBSCAN
    with ``metric="euclidean"``, except that a border point joins its nearest
    core point's cluster, ties to the lowest id, and ids are ordered by each
    cluster's smallest ``(x, y)`` core point).

    Parameters
    ----------
    x, y
        Projected coordinates in metres (British National Grid in Great
        Britain), same length, finite.
    eps_m
        Neighbourhood radius in metres, > 0. Points exactly ``eps_m`` apart are
        neighbours.
    min_samples
        Whole number >= 1: the summed weight of a point's neighbours, itself
        included, that makes it a core point.
    weights
        Weight of each point, finite and >= 0. Default None: 1 per point.

    Returns
    -------
    DataFrame, one row per input point in input order (index taken from ``x``
    when it is a pandas Series, else 0..n-1), with columns ``cluster`` (int64,
    -1 for noise) and ``core`` (bool).
    """
    xa, ya = _check_xy(x, y)
    eps = _check_eps(eps_m)
    ms = _check_count(min_samples, "min_samples", 1, "the weight (events) that makes a core point")
    w = _check_weights(weights, xa.size)
    index = x.index if isinstance(x, pd.Series) else pd.RangeIndex(xa.size)
    n = xa.size
    if n == 0:
        return pd.DataFrame(
            {"cluster": np.empty(0, np.int64), "core": np.empty(0, bool)}, index=index
        )

    core, label = _dbscan_points(xa, ya, w, eps, ms)
    return pd.DataFrame({"cluster": label, "core": core}, index=index)


def _dbscan_points(
    xa: FloatArray, ya: FloatArray, w: FloatArray | None, eps: float, ms: int
) -> tuple[BoolArray, IntArray]:
    """Core flags and cluster ids of the points, in input order."""
    eps2 = eps * eps
    grid = _Grid(xa, ya, eps)
    px, py = grid.px, grid.py  # distinct points, in cell order
    n = px.size
    pw: FloatArray | None
    if grid.run_start is None:
        pw = None if w is None else w[grid.order]
    elif w is None:
        pw = np.diff(np.append(grid.run_start, xa.size)).astype(np.float64)
    else:
        pw = np.add.reduceat(w[grid.order], grid.run_start)
    cell_w = grid.count.astype(np.float64) if pw is None else np.add.reduceat(pw, grid.start)

    # 2. core points: every point of a cell as heavy as `ms`, the others counted
    core = np.repeat(cell_w >= ms, grid.count)
    light = np.flatnonzero(cell_w < ms)
    if light.size:
        box = grid.boxes(px, py, parallel=n >= PARALLEL_MIN_POINTS)
        parts = _split(light, grid.count[light], n >= PARALLEL_MIN_POINTS)
        _map(lambda part: _light_cores(grid, px, py, pw, cell_w, part, core, eps, ms, box), parts)
    core_pos = np.flatnonzero(core)
    if core_pos.size == 0:
        return np.zeros(xa.size, dtype=bool), np.full(xa.size, -1, dtype=np.int64)

    # 3. clusters of core points, numbered by their smallest (x, y) core point
    cx, cy = px[core_pos], py[core_pos]
    comp = _core_components(
        grid, cx, cy, grid.cell[core_pos], eps2, parallel=n >= PARALLEL_MIN_POINTS
    )
    n_comp = int(comp.max()) + 1
    min_x = np.full(n_comp, np.inf)
    np.minimum.at(min_x, comp, cx)
    at = np.flatnonzero(cx == min_x[comp])
    min_y = np.full(n_comp, np.inf)
    np.minimum.at(min_y, comp[at], cy[at])
    rank = np.empty(n_comp, dtype=np.int64)
    rank[np.lexsort((min_y, min_x))] = np.arange(n_comp)
    label_sorted = np.full(n, -1, dtype=np.int64)
    label_sorted[core_pos] = rank[comp]
    del comp, at

    # 4. border points: nearest core point, exact ties to the lowest cluster id
    free = np.flatnonzero(~core)
    if free.size:
        near = _near_cells(grid, grid.cell[free])
        cand = core_pos[near[grid.cell[core_pos]]]
        if cand.size:
            label_sorted[free] = _nearest_core_labels(
                px[free], py[free], px[cand], py[cand], label_sorted[cand], eps
            )

    if grid.uid is not None:  # back to every copy of each distinct point
        core, label_sorted = core[grid.uid], label_sorted[grid.uid]
    core_out = np.empty(xa.size, dtype=bool)
    label_out = np.empty(xa.size, dtype=np.int64)

    def put(job: tuple[npt.NDArray[Any], npt.NDArray[Any]]) -> None:
        job[0][grid.order] = job[1]

    _map(put, [(core_out, core), (label_out, label_sorted)], parallel=n >= PARALLEL_MIN_POINTS)
    return core_out, label_out


def _map(fn: Callable[[T], R], items: Sequence[T], *, parallel: bool = True) -> list[R]:
    """``[fn(item) for item in items]``, in up to :data:`THREADS` threads when ``parallel``."""
    threads = min(THREADS, os.cpu_count() or 1, len(items))
    if not parallel or threads <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, items))


def _split(cells: IntArray, count: IntArray, parallel: bool) -> list[IntArray]:
    """``cells`` cut into one piece per thread, holding about equal numbers of points."""
    pieces = min(THREADS, os.cpu_count() or 1) if parallel else 1
    if pieces <= 1 or cells.size < pieces:
        return [cells]
    ends = np.cumsum(count)
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, pieces) / pieces)
    return [piece for piece in np.split(cells, cuts) if piece.size]


def _near_cells(grid: _Grid, cells: IntArray) -> BoolArray:
    """Mask of the grid cells within the 5 x 5 block around any of ``cells``."""
    near = np.zeros(grid.keys.size, dtype=bool)
    near[cells] = True
    cells = np.flatnonzero(near)
    for dx, dy in _OFFSETS_ALL:
        nb = grid.neighbour(cells, dx, dy)
        near[nb[nb >= 0]] = True
    return near


def _coordinate_hash(x: FloatArray, y: FloatArray) -> npt.NDArray[np.uint64]:
    """A 64-bit mix of the bits of ``x`` and ``y`` (equal points, equal hashes)."""
    hx = np.ascontiguousarray(x).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    hy = np.ascontiguousarray(y).view(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    hx ^= hy >> np.uint64(29)
    hx ^= hy
    return hx


class _Grid:
    """Square cells of side just under ``eps / sqrt(2)``, points sorted by cell.

    Attributes: ``order`` (point positions in cell order), ``keys`` (sorted cell
    keys), ``start``/``count`` (each cell's run in cell order), ``gx``/``gy``
    (cell column and row), ``cell`` (each cell-ordered point's cell).
    Neighbouring cells are found in a directly addressed table of the whole
    grid (with a margin of two cells) when it has at most
    :data:`DENSE_GRID_CELLS` cells or :data:`DENSE_GRID_PER_CELL` per occupied
    cell, else by binary search in ``keys``.
    """

    def __init__(self, ux: FloatArray, uy: FloatArray, eps: float) -> None:
        x0, y0 = float(ux.min()), float(uy.min())
        magnitude = max(float(np.abs(ux).max()), float(np.abs(uy).max()), 1.0)
        side = eps / math.sqrt(2.0)
        # Shrink the side by more than the rounding of the cell arithmetic can move a
        # point, so two points sharing a computed cell always pass the exact test.
        margin = 1e-9 + 16.0 * float(np.finfo(np.float64).eps) * (magnitude / side + 1.0)
        if margin > 1e-3:
            msg = (
                f"`eps_m` = {eps!r} is too small for coordinates of magnitude {magnitude:.3g} m "
                "in float64. Pass a larger distance in metres (or coordinates in metres)."
            )
            raise ValidationError(msg)
        side *= 1.0 - margin
        gx = np.floor((ux - x0) / side).astype(np.int64)
        gy = np.floor((uy - y0) / side).astype(np.int64)
        self.nx = int(gx.max()) + 1
        self.ny = int(gy.max()) + 1
        if self.nx * self.ny >= 2**62:
            msg = (
                f"`eps_m` = {eps!r} is too small for an extent of "
                f"{float(ux.max() - x0):.3g} x {float(uy.max() - y0):.3g} m. "
                "Pass a larger distance in metres or split the area."
            )
            raise ValidationError(msg)
        key = gx
        key *= np.int64(self.ny)
        key += gy
        del gx, gy
        # Sort by cell, then by a hash of the coordinates, so points at the same spot
        # end up next to each other (a hash collision only leaves a duplicate apart,
        # which costs time, never correctness).
        hash_bits = 62 - (self.nx * self.ny - 1).bit_length()
        if hash_bits >= 8:
            key <<= hash_bits
            key |= (_coordinate_hash(ux, uy) >> np.uint64(64 - hash_bits)).astype(np.int64)
        self.order = np.argsort(key)
        ks = key[self.order]
        del key
        if hash_bits >= 8:
            ks >>= hash_bits
        self.px, self.py = ux[self.order], uy[self.order]
        same = (self.px[1:] == self.px[:-1]) & (self.py[1:] == self.py[:-1])
        self.uid: IntArray | None = None
        """Distinct point of each point in cell order (None: all points are distinct)."""
        self.run_start: IntArray | None = None
        """Where each distinct point's run of copies starts (None: all points are distinct)."""
        if same.any():
            first = np.empty(ks.size, dtype=bool)
            first[0] = True
            np.logical_not(same, out=first[1:])
            self.run_start = np.flatnonzero(first)
            self.uid = np.cumsum(first) - 1
            self.px, self.py = self.px[self.run_start], self.py[self.run_start]
            ks = ks[self.run_start]
            del first
        del same
        new = np.empty(ks.size, dtype=bool)
        new[0] = True
        np.not_equal(ks[1:], ks[:-1], out=new[1:])
        self.start = np.flatnonzero(new)
        self.keys = ks[self.start]
        del ks
        self.count = np.diff(np.append(self.start, new.size))
        self.cell = np.cumsum(new) - 1
        del new
        self.gx = self.keys // self.ny
        self.gy = self.keys % self.ny
        self.x0, self.y0, self.side = x0, y0, side
        self.slack = margin * side
        """Metres by which rounding may put a point outside its cell's nominal square."""
        self.width = self.ny + 4
        size = (self.nx + 4) * self.width
        self.table: npt.NDArray[np.int32] | None = None
        dense = size <= max(DENSE_GRID_CELLS, DENSE_GRID_PER_CELL * self.keys.size)
        if dense and self.keys.size < 2**31:
            self.base = (self.gx + 2) * self.width + (self.gy + 2)
            self.table = np.full(size, -1, dtype=np.int32)
            self.table[self.base] = np.arange(self.keys.size, dtype=np.int32)

    def boxes(
        self, px: FloatArray, py: FloatArray, *, parallel: bool = False
    ) -> tuple[FloatArray, ...]:
        """Bounding box of each cell's points (cell-ordered ``px``, ``py``): x0, x1, y0, y1."""
        jobs = [(np.minimum, px), (np.maximum, px), (np.minimum, py), (np.maximum, py)]
        return tuple(_map(lambda job: job[0].reduceat(job[1], self.start), jobs, parallel=parallel))

    def neighbour(self, cells: IntArray, dx: int, dy: int) -> IntArray:
        """Index of the cell ``(dx, dy)`` away from each of ``cells``, -1 if empty."""
        if self.table is not None:
            return self.table[self.base[cells] + (dx * self.width + dy)]
        tx = self.gx[cells] + dx
        ty = self.gy[cells] + dy
        ok = (tx >= 0) & (tx < self.nx) & (ty >= 0) & (ty < self.ny)
        k = tx * np.int64(self.ny) + ty
        pos = np.minimum(np.searchsorted(self.keys, k), self.keys.size - 1)
        return np.where(ok & (self.keys[pos] == k), pos, -1)


_RINGS = (
    [(-1, 0), (1, 0)],
    [(0, -1), (0, 1)],
    [(dx, dy) for dx, dy in _OFFSETS_ALL if abs(dx) == abs(dy) == 1],
    [(dx, dy) for dx, dy in _OFFSETS_ALL if max(abs(dx), abs(dy)) == 2],
)
"""The 4 cells sharing a side with a cell, the 4 sharing a corner, the 16 beyond."""


def _light_cores(
    grid: _Grid,
    px: FloatArray,
    py: FloatArray,
    pw: FloatArray | None,
    cell_w: FloatArray,
    light: IntArray,
    core: BoolArray,
    eps: float,
    ms: int,
    box: tuple[FloatArray, ...],
) -> None:
    """Mark the core points of the cells ``light`` (lighter than ``ms``), in ``core``.

    Each point starts with its own cell's weight (all neighbours) and visits the
    8 touching cells, then, if its sum is still short of ``ms`` and the 16 outer
    cells hold enough weight to reach it, those. A cell whose points' bounding
    box lies wholly within ``eps`` of the point adds its whole weight, one
    wholly beyond ``eps`` is skipped, and only the others are compared point by
    point (in chunks of about :data:`PAIR_BUDGET` pairs).
    """
    eps2 = eps * eps
    pts = _runs(grid.start[light], grid.count[light])  # points of light cells, cell order
    lcell = np.repeat(np.arange(light.size), grid.count[light])  # each point's light cell
    wsum = cell_w[light][lcell]
    # weight of each light cell's rings after the first
    later = np.zeros((len(_RINGS), light.size), dtype=np.float64)
    for r in range(len(_RINGS) - 1, 0, -1):
        later[r - 1] = later[r]
        for dx, dy in _RINGS[r]:
            nb = grid.neighbour(light, dx, dy)
            later[r - 1] += np.where(nb >= 0, cell_w[np.maximum(nb, 0)], 0.0)
    todo = np.arange(pts.size)
    for ring_no, ring in enumerate(_RINGS):
        if ring_no:
            left = later[ring_no - 1][lcell[todo]]
            # give up on a point only with a margin over the rounding of the sums
            todo = todo[(wsum[todo] < ms) & (wsum[todo] + left >= ms - 1e-9 * (ms + left))]
        if todo.size == 0:
            break
        tl = lcell[todo]
        t_parts, b_parts = [], []
        for dx, dy in ring:
            b = grid.neighbour(light, dx, dy)[tl]
            has = b >= 0
            t_parts.append(todo[has])
            b_parts.append(b[has])
        t = np.concatenate(t_parts)
        b = np.concatenate(b_parts)
        del t_parts, b_parts, tl
        qx, qy = px[pts[t]], py[pts[t]]
        bx0, bx1, by0, by1 = box[0][b], box[1][b], box[2][b], box[3][b]
        # nearest and farthest point of the box, in the pair test's own arithmetic
        fx = np.maximum(np.abs(qx - bx0), np.abs(qx - bx1))
        fy = np.maximum(np.abs(qy - by0), np.abs(qy - by1))
        inside = fx * fx + fy * fy <= eps2
        del fx, fy
        nx = np.maximum(np.maximum(bx0 - qx, qx - bx1), 0.0)
        ny = np.maximum(np.maximum(by0 - qy, qy - by1), 0.0)
        partial = ~inside & (nx * nx + ny * ny <= eps2)
        del nx, ny, qx, qy, bx0, bx1, by0, by1
        wsum += np.bincount(t[inside], weights=cell_w[b[inside]], minlength=wsum.size)
        t, b = t[partial], b[partial]
        del inside, partial
        for k, j in _point_run_hits(px, py, eps2, pts[t], grid.start[b], grid.count[b]):
            wsum += np.bincount(t[k], weights=None if pw is None else pw[j], minlength=wsum.size)
    core[pts] = wsum >= ms


def _point_run_hits(
    px: FloatArray, py: FloatArray, eps2: float, p: IntArray, b_lo: IntArray, b_n: IntArray
) -> Iterator[tuple[IntArray, IntArray]]:
    """Neighbour pairs between points ``p[k]`` and the runs ``[b_lo[k], b_lo[k] + b_n[k])``.

    Yields ``(k, j)``: point ``p[k]`` and point ``j`` are within ``sqrt(eps2)``.
    Chunks hold about :data:`PAIR_BUDGET` pairs (more only when one run alone
    is longer).
    """
    if p.size == 0:
        return
    b_n = b_n.astype(np.int64)
    for lo, hi in _chunks(b_n, PAIR_BUDGET):
        c = b_n[lo:hi]
        if not c.any():
            continue
        k = np.repeat(np.arange(lo, hi), c)
        j = _runs(b_lo[lo:hi], c)
        hit = _within(px, py, eps2, p[k], j)
        yield k[hit], j[hit]


def _chunks(cost: IntArray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` slices of ``cost`` summing to about ``budget`` each.

    A slice is longer only when one item alone costs more than ``budget``.
    """
    ends = np.cumsum(cost)
    chunk = (ends - cost) // budget
    bounds = np.flatnonzero(np.diff(chunk, prepend=-1, append=chunk[-1] + 1))
    yield from itertools.pairwise(bounds.tolist())


def _within(px: FloatArray, py: FloatArray, eps2: float, i: IntArray, j: IntArray) -> BoolArray:
    """Which pairs of points ``(i, j)`` are within ``sqrt(eps2)`` of each other."""
    d2 = px[i] - px[j]
    d2 *= d2
    dy = py[i] - py[j]
    dy *= dy
    d2 += dy
    del dy
    return d2 <= eps2


def _runs(start: IntArray, count: IntArray) -> IntArray:
    """Concatenated ``arange(start[i], start[i] + count[i])`` for all i."""
    total = int(count.sum())
    return np.repeat(start - (np.cumsum(count) - count), count) + np.arange(total)


def _pair_hits(
    px: FloatArray,
    py: FloatArray,
    eps2: float,
    a_lo: IntArray,
    a_n: IntArray,
    b_lo: IntArray,
    b_n: IntArray,
    budget: int | None = None,
) -> Iterator[tuple[IntArray, IntArray, IntArray]]:
    """All neighbour pairs between runs ``[a_lo, a_lo + a_n)`` and ``[b_lo, b_lo + b_n)``.

    Yields ``(k, i, j)``: run pair ``k`` has points ``i`` (from run a) and ``j``
    (from run b) within ``sqrt(eps2)``. Chunks hold at most about ``2 * budget``
    candidate pairs (default :data:`PAIR_BUDGET`); a run pair bigger than
    ``budget`` is split by rows of a.
    """
    if a_lo.size == 0:
        return
    budget = PAIR_BUDGET if budget is None else budget
    a_lo = a_lo.astype(np.int64)
    a_n = a_n.astype(np.int64)
    b_n = b_n.astype(np.int64)
    rows = np.maximum(1, budget // np.maximum(b_n, 1))
    pieces = -(-a_n // rows)
    pk = np.repeat(np.arange(a_lo.size), pieces)
    piece_no = np.arange(pk.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    pa_lo = a_lo[pk] + piece_no * rows[pk]
    pa_n = np.minimum(rows[pk], a_lo[pk] + a_n[pk] - pa_lo)
    pb_lo, pb_n = b_lo[pk].astype(np.int64), b_n[pk]
    cost = pa_n * pb_n
    for lo, hi in _chunks(cost, budget):
        c = cost[lo:hi]
        if not c.any():
            continue
        which = np.repeat(np.arange(lo, hi), c)
        local = _runs(np.zeros(c.size, dtype=np.int64), c)
        bn = pb_n[which]
        i = pa_lo[which] + local // bn
        j = pb_lo[which] + local % bn
        del local, bn
        hit = _within(px, py, eps2, i, j)
        yield pk[which[hit]], i[hit], j[hit]


def _core_components(
    grid: _Grid,
    cx: FloatArray,
    cy: FloatArray,
    pcell: IntArray,
    eps2: float,
    *,
    parallel: bool = False,
) -> IntArray:
    """Connected component (0..c-1) of each core point, given in cell order.

    ``cx``, ``cy`` are the core points and ``pcell`` their grid cells (sorted).
    """
    # core cells: runs of core points
    new = np.empty(pcell.size, dtype=bool)
    new[0] = True
    np.not_equal(pcell[1:], pcell[:-1], out=new[1:])
    cstart = np.flatnonzero(new)
    ccount = np.diff(np.append(cstart, pcell.size))
    ccell = np.cumsum(new) - 1  # core cell of each core point
    del new
    grid_cell = pcell[cstart]  # grid cell of each core cell
    n_cc = cstart.size
    cc_of_grid = np.full(grid.keys.size, -1, dtype=np.int64)
    cc_of_grid[grid_cell] = np.arange(n_cc)

    # Each core cell's core points of smallest and largest x and y; a pair of nearby
    # cells is first tried with the extremes that face each other along the axis of
    # their offset (this joins almost every pair inside a dense cluster).
    keys = [(axis, sign) for axis in (0, 1) for sign in (1, -1)]
    ends = _map(
        lambda key: _extremes(cy if key[0] else cx, ccell, cstart, key[1]), keys, parallel=parallel
    )
    extreme = dict(zip(keys, ends, strict=True))

    def try_offset(
        offset: tuple[int, int], comp: IntArray | None = None
    ) -> tuple[npt.NDArray[np.int32], ...]:
        """Nearby core-cell pairs at ``offset`` (not yet joined in ``comp``): joined, untried."""
        dx, dy = offset
        other = grid.neighbour(grid_cell, dx, dy)
        ob = np.where(other >= 0, cc_of_grid[np.maximum(other, 0)], -1)
        a = np.flatnonzero(ob >= 0)
        b = ob[a]
        if comp is not None:
            apart = comp[a] != comp[b]
            a, b = a[apart], b[apart]
        axis, sign = (0, 1 if dx > 0 else -1) if abs(dx) >= abs(dy) else (1, 1 if dy > 0 else -1)
        i = extreme[axis, sign][a]
        j = extreme[axis, -sign][b]
        ddx = cx[i] - cx[j]
        ddy = cy[i] - cy[j]
        hit = ddx * ddx + ddy * ddy <= eps2
        a32, b32 = a.astype(np.int32), b.astype(np.int32)
        return a32[hit], b32[hit], a32[~hit], b32[~hit]

    edges_a: list[npt.NDArray[np.int32]] = []
    edges_b: list[npt.NDArray[np.int32]] = []
    rest_a: list[npt.NDArray[np.int32]] = []
    rest_b: list[npt.NDArray[np.int32]] = []

    def add(tried: list[tuple[npt.NDArray[np.int32], ...]]) -> bool:
        for t in tried:
            edges_a.append(t[0])
            edges_b.append(t[1])
            rest_a.append(t[2])
            rest_b.append(t[3])
        return any(t[0].size for t in tried)

    def components() -> IntArray:
        ea = np.concatenate([np.empty(0, np.int32), *edges_a])
        eb = np.concatenate([np.empty(0, np.int32), *edges_b])
        graph = coo_matrix((np.ones(ea.size, dtype=np.int8), (ea, eb)), shape=(n_cc, n_cc))
        return connected_components(graph, directed=False)[1].astype(np.int64)

    # touching cells first; cells two apart only where not already joined through others
    touching = [o for o in _OFFSETS_HALF if max(abs(o[0]), abs(o[1])) == 1]
    apart = [o for o in _OFFSETS_HALF if max(abs(o[0]), abs(o[1])) == 2]
    add(_map(try_offset, touching, parallel=parallel))
    comp = components()
    if add(_map(lambda o: try_offset(o, comp), apart, parallel=parallel)):
        comp = components()
    # exhaustive check of the other pairs, cheapest first, skipping pairs joined meanwhile
    ra = np.concatenate([np.empty(0, np.int32), *rest_a])
    rb = np.concatenate([np.empty(0, np.int32), *rest_b])
    keep = comp[ra] != comp[rb]
    ra, rb = ra[keep], rb[keep]
    order = np.argsort(ccount[ra] * ccount[rb], kind="stable")
    ra, rb = ra[order], rb[order]
    while ra.size:
        cost = np.cumsum(ccount[ra] * ccount[rb])
        take = max(1, int(np.searchsorted(cost, PAIR_BUDGET, side="right")))
        ba, bb, ra, rb = ra[:take], rb[:take], ra[take:], rb[take:]
        found = np.zeros(take, dtype=bool)
        for k, _, _ in _pair_hits(cx, cy, eps2, cstart[ba], ccount[ba], cstart[bb], ccount[bb]):
            found[k] = True
        edges_a.append(ba[found])
        edges_b.append(bb[found])
        comp = components()
        keep = comp[ra] != comp[rb]
        ra, rb = ra[keep], rb[keep]
    return comp[ccell]


def _extremes(v: FloatArray, ccell: IntArray, cstart: IntArray, sign: int) -> IntArray:
    """For each run of ``v`` (cell), the position of its first largest (sign 1) or
    smallest (sign -1) value."""
    best = (np.maximum if sign > 0 else np.minimum).reduceat(v, cstart)
    idx = np.flatnonzero(v == best[ccell])
    first = np.empty(idx.size, dtype=bool)
    first[0] = True
    cells = ccell[idx]
    np.not_equal(cells[1:], cells[:-1], out=first[1:])
    return idx[first]


def canonical_labels(
    x: npt.ArrayLike, y: npt.ArrayLike, core: npt.ArrayLike, cluster: npt.ArrayLike, eps_m: float
) -> IntArray:
    """This module's cluster ids for a clustering another engine made.

    ``core`` flags the core points and ``cluster`` gives each core point its
    cluster under any numbering (other points' values are ignored). Clusters
    are renumbered by their smallest ``(x, y)`` core point and every other
    point joins its nearest core point's cluster within ``eps_m`` (exact ties
    to the lowest id), else -1: exactly what :func:`dbscan` returns for the
    same core points and core partition.
    """
    xa, ya = _check_xy(x, y)
    eps = _check_eps(eps_m)
    is_core = np.asarray(core, dtype=bool)
    raw = np.asarray(cluster, dtype=np.int64)
    if is_core.shape != xa.shape or raw.shape != xa.shape:
        msg = f"`core` and `cluster` must have one value per point ({xa.size})."
        raise ValidationError(msg)
    out = np.full(xa.size, -1, dtype=np.int64)
    core_pos = np.flatnonzero(is_core)
    if core_pos.size == 0:
        return out
    if (raw[core_pos] < 0).any():
        msg = "every core point needs a cluster id >= 0."
        raise ValidationError(msg)
    ids, comp = np.unique(raw[core_pos], return_inverse=True)
    # lexicographic (x, y) rank of each core point; a cluster's id is the rank order
    # of its smallest core point.
    rank_of = np.empty(core_pos.size, dtype=np.int64)
    rank_of[np.lexsort((ya[core_pos], xa[core_pos]))] = np.arange(core_pos.size)
    smallest = np.full(ids.size, core_pos.size, dtype=np.int64)
    np.minimum.at(smallest, comp, rank_of)
    new_id = np.empty(ids.size, dtype=np.int64)
    new_id[np.argsort(smallest)] = np.arange(ids.size)
    out[core_pos] = new_id[comp]
    free = np.flatnonzero(~is_core)
    if free.size:
        out[free] = _nearest_core_labels(
            xa[free], ya[free], xa[core_pos], ya[core_pos], out[core_pos], eps
        )
    return out


def _nearest_core_labels(
    qx: FloatArray, qy: FloatArray, cx: FloatArray, cy: FloatArray, clab: IntArray, eps: float
) -> IntArray:
    """Cluster of each query point's nearest core point within ``eps`` (-1 if none).

    Candidates whose KD-tree distance is within a relative 1e-8 of the nearest
    are re-compared with the exact squared distance; among exact ties the lowest
    cluster id wins.
    """
    tree = cKDTree(np.c_[cx, cy])
    out = np.full(qx.size, -1, dtype=np.int64)
    step = max(1, PAIR_BUDGET // 8)
    for lo in range(0, qx.size, step):
        _nearest_core_chunk(
            tree, qx, qy, cx, cy, clab, eps, np.arange(lo, min(lo + step, qx.size)), out
        )
    return out


def _nearest_core_chunk(
    tree: cKDTree,
    qx: FloatArray,
    qy: FloatArray,
    cx: FloatArray,
    cy: FloatArray,
    clab: IntArray,
    eps: float,
    todo: IntArray,
    out: IntArray,
) -> None:
    """:func:`_nearest_core_labels` for the query points ``todo``, into ``out``."""
    eps2 = eps * eps
    n_core = cx.size
    k = 2
    while todo.size:
        kk = min(k, n_core)
        d, j = tree.query(np.c_[qx[todo], qy[todo]], k=kk, distance_upper_bound=eps * (1 + 1e-6))
        d = np.asarray(d, dtype=np.float64).reshape(todo.size, kk)
        j = np.asarray(j, dtype=np.int64).reshape(todo.size, kk)
        valid = j < n_core
        jj = np.where(valid, j, 0)
        ddx = qx[todo, None] - cx[jj]
        ddy = qy[todo, None] - cy[jj]
        d2 = np.where(valid, ddx * ddx + ddy * ddy, np.inf)
        d2 = np.where(d2 <= eps2, d2, np.inf)
        best = d2.min(axis=1)
        tied = np.isfinite(d2) & (d2 == best[:, None])
        lab = np.where(tied, clab[jj], np.iinfo(np.int64).max).min(axis=1)
        lab = np.where(np.isfinite(best), lab, -1)
        done = ~valid[:, -1] | (d[:, -1] > d[:, 0] * (1 + _TIE_REL)) | (kk >= n_core)
        out[todo[done]] = lab[done]
        todo = todo[~done]
        k *= 4


# --------------------------------------------------------------------------- eps


def suggest_eps(
    x: npt.ArrayLike, y: npt.ArrayLike, *, k: int, quiet: bool = False
) -> tuple[float, dict[str, Any]]:
    """Suggest ``eps_m`` at the knee of the k-distance curve.

    The k-distance of a point is the distance to its k-th nearest point,
    counting the point itself (so with ``k = min_samples`` and unit weights a
    point is core exactly when ``eps_m`` reaches its k-distance). The curve is
    the k-distances of all points sorted ascending. Points whose k-distance is
    0 (k or more events at the same spot) are core at any ``eps_m`` and are
    left out. The curve is clipped at its :data:`KNEE_CLIP_QUANTILE` quantile,
    both axes are scaled to [0, 1], and the knee is the point farthest below
    the chord from the first to the last point (Kneedle, Satopää et al. 2011);
    the suggestion is the k-distance there.

    Parameters
    ----------
    x, y
        Projected coordinates in metres, same length, finite.
    k
        Whole number >= 2; pass the ``min_samples`` you will cluster with.
    quiet
        Default False: announce the choice on the ``models.dbscan`` logger
        (INFO). True says nothing.

    Returns
    -------
    ``(eps_m, meta)``: the suggestion in metres and a dict with ``eps_m``,
    ``rule`` (text), ``k``, ``units`` ("m"), ``n_points``, ``n_zero`` (points
    left out), ``knee_quantile`` (share of the curve below the knee) and
    ``curve_quantiles`` (k-distance at quantiles 0, 0.1, 0.25, 0.5, 0.75, 0.9,
    0.95, 0.99 and 1 of all points, metres).
    """
    xa, ya = _check_xy(x, y)
    k = _check_count(k, "k", 2, "the `min_samples` you will cluster with")
    if xa.size < k:
        msg = f"`x` and `y` hold {xa.size} points; the k-distance curve needs at least k = {k}."
        raise ValidationError(msg)
    pts = np.c_[xa, ya]
    tree = cKDTree(pts)
    kdist = np.empty(xa.size, dtype=np.float64)
    step = 200_000
    for lo in range(0, xa.size, step):
        d, _ = tree.query(pts[lo : lo + step], k=[k])
        kdist[lo : lo + step] = d[:, 0]
    del tree, pts
    kdist.sort()
    qs = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
    summary = {q: float(v) for q, v in zip(qs, np.quantile(kdist, qs), strict=True)}
    n_zero = int(np.searchsorted(kdist, 0.0, side="right"))
    curve = kdist[n_zero:]
    if curve.size == 0:
        msg = (
            f"every point has at least k = {k} events at its own coordinates, so every point "
            "is core at any distance and the k-distance curve has no knee. Pass `eps_m`."
        )
        raise ValidationError(msg)
    top = float(np.quantile(curve, KNEE_CLIP_QUANTILE))
    clipped = np.minimum(curve, top)
    if curve.size < 3 or top <= clipped[0]:
        knee = 0
    else:
        xn = np.arange(curve.size) / (curve.size - 1)
        yn = (clipped - clipped[0]) / (top - clipped[0])
        knee = int(np.argmax(xn - yn))
    eps = float(curve[knee])
    rule = (
        f"knee of the k-distance curve (k = {k}, distance to the k-th nearest point counting "
        f"itself; Kneedle, Satopää et al. 2011: farthest point below the chord of the "
        f"normalised curve, clipped at its {KNEE_CLIP_QUANTILE:.0%} quantile, "
        f"{n_zero} zero distances left out)"
    )
    meta: dict[str, Any] = {
        "eps_m": eps,
        "rule": rule,
        "k": k,
        "units": "m",
        "n_points": int(xa.size),
        "n_zero": n_zero,
        "knee_quantile": float((n_zero + knee) / xa.size),
        "curve_quantiles": summary,
    }
    if not quiet:
        logger.info(
            "eps_m = %.1f m suggested by the %s; k-distance median %.1f m, 90%% %.1f m.",
            eps,
            rule,
            summary[0.5],
            summary[0.9],
        )
    return eps, meta


# --------------------------------------------------------------------------- hulls


def cluster_hulls(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    cluster: npt.ArrayLike,
    *,
    kind: Literal["convex", "concave"] = "convex",
) -> pd.DataFrame:
    """One polygon per cluster, in the points' projected coordinates.

    Parameters
    ----------
    x, y
        Projected coordinates in metres, same length, finite.
    cluster
        Cluster id of each point (whole numbers); ids < 0 (noise) are ignored.
    kind
        ``"convex"`` (default): the convex hull. ``"concave"``: the concave
        hull of :func:`shapely.concave_hull` with ``ratio`` =
        :data:`CONCAVE_RATIO` and no holes.

    Returns
    -------
    DataFrame with one row per cluster id >= 0, ascending: ``cluster`` (int64),
    ``n_points`` (int64, points including duplicates), ``area_m2`` (float, m²)
    and ``geometry`` (shapely Polygon). A hull that is not a polygon (clusters
    of 1-2 distinct points or collinear points) is buffered by
    :data:`HULL_BUFFER_M` metres, so every hull is a polygon that covers its
    points.
    """
    xa, ya = _check_xy(x, y)
    ca = np.asarray(cluster).ravel()
    if ca.size != xa.size:
        msg = f"`cluster` must have one id per point, got {ca.size} for {xa.size} points."
        raise ValidationError(msg)
    if ca.size and not np.issubdtype(ca.dtype, np.integer):
        msg = (
            f"`cluster` must hold whole-number ids, got dtype {ca.dtype}. Pass `dbscan(...)`'s ids."
        )
        raise ValidationError(msg)
    if kind not in ("convex", "concave"):
        msg = f"`kind` must be 'convex' or 'concave', got {kind!r}."
        raise ValidationError(msg)
    keep = np.flatnonzero(ca >= 0)
    keep = keep[np.argsort(ca[keep], kind="stable")]  # shapely wants grouped, sorted indices
    ids, group, counts = np.unique(
        ca[keep].astype(np.int64), return_inverse=True, return_counts=True
    )
    if ids.size == 0:
        return pd.DataFrame(
            {
                "cluster": np.empty(0, np.int64),
                "n_points": np.empty(0, np.int64),
                "area_m2": np.empty(0, np.float64),
                "geometry": np.empty(0, dtype=object),
            }
        )
    points = shapely.multipoints(np.c_[xa[keep], ya[keep]], indices=group)
    if kind == "convex":
        hulls = shapely.convex_hull(points)
    else:
        hulls = shapely.concave_hull(points, ratio=CONCAVE_RATIO)
    flat = shapely.get_type_id(hulls) != shapely.GeometryType.POLYGON
    if flat.any():
        hulls[flat] = shapely.buffer(hulls[flat], HULL_BUFFER_M)
    return pd.DataFrame(
        {
            "cluster": ids,
            "n_points": counts.astype(np.int64),
            "area_m2": shapely.area(hulls),
            "geometry": hulls,
        }
    )


# --------------------------------------------------------------------------- hotspots


def dbscan_hotspots(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    eps_m: float | None = None,
    min_samples: int = 5,
    quiet: bool = False,
    labeller: Labeller | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """DBSCAN hotspots summarised on analysis cells (the hotspot-frame contract).

    Parameters
    ----------
    events
        One row per event: ``x``, ``y`` (British National Grid metres), ``h3``
        (int64, resolution 12); optional ``weight`` (>= 0, default 1 each).
        Other columns (``child_ref``, ``episode_id``, ``layer``...) are ignored.
    cells
        The study area's cells: ``h3`` (int64, all at the analysis resolution)
        and any other columns (``x``, ``y``, ``lat``, ``lng``, ``area_m2``...),
        passed through.
    eps_m
        Neighbourhood radius in metres. Default None: suggested by
        :func:`suggest_eps` with ``k = max(min_samples, 2)`` (event weights play
        no part in the suggestion) and announced. With no ``eps_m`` and fewer
        than ``max(min_samples, 2)`` events nothing is clustered and
        ``meta["eps_m"]`` is None.
    min_samples
        Weight of events within ``eps_m`` (the event itself included) that makes
        a core event; default 5.
    quiet
        Default False: announce automatic choices on the ``models.dbscan`` logger.
    labeller
        Default None: cluster here with :func:`dbscan`. Otherwise another
        engine: ``labeller(events, eps_m, min_samples)`` (``events`` with
        their ``weight``) returns ``core`` and ``cluster`` for every event in
        order, e.g. PostGIS through
        :func:`geo.store.db_dbscan.db_dbscan_records` (``engage hotspots
        --engine db``). Its core points and their partition are used; ids and
        border points are set by :func:`canonical_labels`, so an engine with
        the same core rule gives exactly this function's result.

    Returns
    -------
    ``(frame, meta)``. ``frame`` has one row per cell (zeros included), the
    cells' columns plus ``n`` (events in the cell), ``n_clustered`` (events in
    clusters), ``cluster`` (the cluster most of the cell's clustered events
    belong to, ties to the lowest id, -1 if none), ``cluster_size`` (events in
    that cluster, all cells) and ``score`` (summed weight of the cell's
    clustered events; higher is hotter), sorted by ``score`` descending then
    ``h3`` ascending. ``meta`` holds ``model``, ``eps_m``, ``eps_rule``,
    ``eps_suggestion`` (the :func:`suggest_eps` meta or None), ``min_samples``,
    ``res``, ``weighted``, ``n_events``, ``n_events_outside_cells``,
    ``n_clusters``, ``n_core``, ``n_noise``, ``score_rule``, ``units`` and
    ``hulls`` (the :func:`cluster_hulls` frame).
    """
    for name, frame, needed in (("events", events, ("x", "y", "h3")), ("cells", cells, ("h3",))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            msg = (
                f"`{name}` is missing column(s) {missing}; it has {list(frame.columns)}. "
                f"Pass a frame with {list(needed)}."
            )
            raise ValidationError(msg)
    ms = _check_count(min_samples, "min_samples", 1, "the weight (events) that makes a core point")
    cell_h3 = cells["h3"].to_numpy(dtype=np.int64)
    if cell_h3.size == 0:
        msg = "`cells` is empty. Pass the study area's cells at the analysis resolution."
        raise ValidationError(msg)
    cell_res = cells_resolution(cell_h3)
    res = int(cell_res[0])
    if (cell_res != res).any():
        msg = (
            f"`cells.h3` must all share one resolution, got {sorted(set(cell_res.tolist()))}. "
            "Pass cells at the analysis resolution only."
        )
        raise ValidationError(msg)
    if pd.Index(cell_h3).has_duplicates:
        msg = "`cells.h3` holds duplicate cells. Pass each cell once."
        raise ValidationError(msg)

    x = events["x"].to_numpy(dtype=np.float64)
    y = events["y"].to_numpy(dtype=np.float64)
    weighted = "weight" in events.columns
    given_w = _check_weights(events["weight"], x.size) if weighted else None
    w = np.ones(x.size) if given_w is None else given_w
    n_events = int(x.size)
    suggestion: dict[str, Any] | None = None
    if eps_m is None and n_events >= ms and n_events >= 2:
        eps, suggestion = suggest_eps(x, y, k=max(ms, 2), quiet=quiet)
        eps_rule = suggestion["rule"]
    elif eps_m is None:
        eps, eps_rule = float("nan"), f"not suggested: {n_events} events, fewer than needed"
    else:
        eps, eps_rule = _check_eps(eps_m), "given by the caller"

    if n_events and math.isfinite(eps) and labeller is not None:
        _check_xy(x, y)
        labels = labeller(events.assign(weight=w), eps, ms)
        if len(labels) != n_events or not {"cluster", "core"} <= set(labels.columns):
            msg = (
                f"the labeller returned {len(labels)} rows with columns {list(labels.columns)}; "
                f"it must return `cluster` and `core` for each of the {n_events} events."
            )
            raise ValidationError(msg)
        core = labels["core"].to_numpy(dtype=bool)
        # The other engine decides the core points and how they cluster; ids and
        # border points follow this module's rules, so both engines agree.
        cluster = canonical_labels(x, y, core, labels["cluster"].to_numpy(dtype=np.int64), eps)
    elif n_events and math.isfinite(eps):
        labels = dbscan(x, y, eps_m=eps, min_samples=ms, weights=given_w)
        cluster = labels["cluster"].to_numpy()
        core = labels["core"].to_numpy()
    else:
        _check_xy(x, y)
        cluster = np.full(n_events, -1, dtype=np.int64)
        core = np.zeros(n_events, dtype=bool)
    hulls = cluster_hulls(x, y, cluster)

    ev_cell = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), res)
    inside = np.isin(ev_cell, cell_h3)
    clustered = cluster >= 0
    per = pd.DataFrame({"h3": ev_cell, "cluster": cluster, "w": np.where(clustered, w, 0.0)})
    per["clustered"] = clustered
    per = per[inside]
    stats = per.groupby("h3", sort=False).agg(
        n=("cluster", "size"), n_clustered=("clustered", "sum"), score=("w", "sum")
    )
    sizes = np.bincount(cluster[clustered], minlength=int(cluster.max(initial=-1)) + 1)
    top = (
        per[per["clustered"]]
        .groupby(["h3", "cluster"], sort=False)
        .size()
        .rename("k")
        .reset_index()
        .sort_values(["h3", "k", "cluster"], ascending=[True, False, True], kind="stable")
        .drop_duplicates("h3")
        .set_index("h3")["cluster"]
    )
    out = cells.reset_index(drop=True).copy()
    key = pd.Index(cell_h3)
    out["n"] = stats["n"].reindex(key).fillna(0).to_numpy(dtype=np.int64)
    out["n_clustered"] = stats["n_clustered"].reindex(key).fillna(0).to_numpy(dtype=np.int64)
    top_cluster = top.reindex(key).fillna(-1).to_numpy(dtype=np.int64)
    out["cluster"] = top_cluster
    sizes_or_zero = np.append(sizes, 0)  # index -1 (no cluster) reads the appended 0
    out["cluster_size"] = sizes_or_zero[top_cluster].astype(np.int64)
    out["score"] = stats["score"].reindex(key).fillna(0.0).to_numpy(dtype=np.float64)
    out = out.sort_values(["score", "h3"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )
    meta: dict[str, Any] = {
        "model": "dbscan",
        "eps_m": eps if math.isfinite(eps) else None,
        "eps_rule": eps_rule,
        "eps_suggestion": suggestion,
        "min_samples": ms,
        "res": res,
        "weighted": weighted,
        "engine": "python" if labeller is None else getattr(labeller, "engine", "external"),
        "core_rule": "weight of events within eps_m (itself included) >= min_samples",
        "border_rule": "nearest core point within eps_m, ties to the lowest cluster id",
        "n_events": n_events,
        "n_events_outside_cells": int((~inside).sum()),
        "n_clusters": int(sizes.size),
        "n_core": int(core.sum()),
        "n_noise": int((~clustered).sum()),
        "score_rule": (
            "summed weight of the cell's events that belong to a DBSCAN cluster"
            if weighted
            else "number of the cell's events that belong to a DBSCAN cluster"
        ),
        "units": {"eps_m": "m", "area_m2": "m^2", "score": "weight" if weighted else "events"},
        "hulls": hulls,
    }
    return out, meta
