"""Kernel density at H3 cell centres, with a planar quartic kernel.

The kernel is the quartic (biweight) kernel of ArcGIS and CrimeStat,

    K(d) = 3 / (pi h^2) * (1 - d^2 / h^2)^2   for d < h, else 0,

with ``h`` the bandwidth (search radius) in metres. It integrates to 1 over
the plane, so the density ``sum_i w_i K(d_i)`` is in weighted events per
square metre, and density times cell area, summed over cells that tile the
area, gives back the total weight.

Speed comes from binning: each bin of events is replaced by its weighted
centroid, total weight and within-bin covariance, and the kernel sum is
evaluated from bins to cell centres. A centroid keeps a bin's weight and
first moment exactly; the covariance feeds a second-order (Taylor)
correction, ``1/2 tr(S H)`` with ``H`` the kernel's Hessian, which
integrates to zero, so total mass is unchanged. The error grows quickly
once ``h`` nears the bin size.

Two binnings:

* **square** (the default): squares of side ``h / 8``
  (:data:`SQUARE_BINS_PER_BANDWIDTH`) on a grid anchored at multiples of the
  side, each event's bin addressed directly from its BNG ``x, y``
  (``floor((x - x0) / side)``) and the sums added per bin with
  ``np.add.at``; no H3 cells are needed. The kernel sum takes, for each
  cell centre, the fixed window of grid bins that can hold a point within
  ``h`` (the same offsets for every centre). Points spread thinly over a
  large area (more than :data:`MAX_DENSE_BINS_PER_POINT` grid bins per
  point) keep only their occupied bins, found by sorting, and the sum runs
  over k-d trees.
* **H3**: the events' H3 parents at ``bin_res`` 11 or 12, found by
  ``np.unique``; the kernel sum over k-d trees.

Measured relative L1 error ``sum|binned - exact| / sum|exact|`` at 631 res-9
cell centres, 3,600 clustered points (eight Gaussian clusters of SD 40-250 m
plus background), worst of six seeds (the test suite checks one):

===============  ===========  =========  =========  =========  =========  =========
bins             side / edge  h = 75 m   100 m      150 m      250 m      400 m
===============  ===========  =========  =========  =========  =========  =========
square, h / 4    h / 4        1.2e-3     9.7e-4     1.6e-3     1.7e-3     1.6e-3
square, h / 5    h / 5        3.3e-4     5.0e-4     8.9e-4     6.6e-4     1.05e-3
square, h / 6    h / 6        1.7e-4     4.8e-4     3.8e-4     4.9e-4     4.9e-4
square, h / 8    h / 8        5.2e-5     7.4e-5     1.1e-4     1.4e-4     1.9e-4
square, h / 10   h / 10       1.8e-5     3.8e-5     4.4e-5     6.3e-5     9.9e-5
H3 res 11        28.7 m       2.0e-2     1.0e-2     1.5e-3     6.2e-4     9.9e-5
H3 res 12        10.8 m       7.6e-4     2.3e-4     1.1e-4     1.2e-5     2.9e-6
===============  ===========  =========  =========  =========  =========  =========

At the validity floors (same points and seeds): square bins of ``h / 6``
4.4e-4 at 200 m and 4.8e-4 at 300 m; H3 res 11 at 200 m (7 edges) 8.4e-4;
H3 res 12 at 76 m (7 edges) 8.3e-4. On the benchmark's 1,000,000 clustered
points (bench/kde_kdepy.py, h = 300 m, 1,455 res-9 centres): square bins of
``h / 4`` 1.3e-3, ``h / 5`` 5.7e-4, ``h / 6`` 3.4e-4, ``h / 8`` 1.2e-4,
``h / 10`` 5.9e-5.

:data:`MIN_BANDWIDTH_SIDES` and :data:`MIN_BANDWIDTH_EDGES` set the lower
limits of validity, where the error stays within 1e-3: a bandwidth of less
than 6 square sides (only possible with a ``bin_side_m`` given) or 7 mean H3
edges (201 m at res 11, 76 m at res 12) is refused, with the fix. Square
bins of the default side follow the bandwidth, so they have no floor.
"""

from __future__ import annotations

import logging
import math
from typing import Any, NamedTuple, cast

import h3
import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from geo.errors import ValidationError
from geo.h3index import cells_to_parent, check_res

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Int64Array = npt.NDArray[np.int64]

KERNEL = "quartic"

MIN_BANDWIDTH_EDGES = 7.0
"""Refuse ``bandwidth_m`` below this many mean hexagon edges of an H3 ``bin_res``.

Measured on clustered points (see the module docstring): the binned KDE is
within 8.4e-4 relative L1 of the exact point KDE at 7 bin edges (201 m at
res 11, 76 m at res 12), and misses 1e-3 at 5.2 edges (1.5e-3 at 150 m, res 11).
"""

MAX_PAIRS_PER_CHUNK = 2_000_000
"""Bin-to-cell pairs held in memory at once (about 50 MB of working arrays)."""

WINDOW_PAIRS_PER_CHUNK = 65_536
"""Bin-to-cell pairs per step of the square-bin window sums: the working
arrays stay in the CPU cache (measured twice as fast as 2,000,000)."""

_SQRT_INV_LN2 = math.sqrt(1.0 / math.log(2.0))


def quartic_kernel(d_m: npt.ArrayLike, bandwidth_m: float) -> FloatArray:
    """The planar quartic kernel ``3/(pi h^2) (1 - d^2/h^2)^2`` for ``d < h``, else 0.

    Parameters
    ----------
    d_m
        Distances in metres (>= 0).
    bandwidth_m
        ``h``, the search radius in metres (> 0).

    Returns
    -------
    Kernel values in 1/m^2; they integrate to 1 over the plane.
    """
    h = check_bandwidth_m(bandwidth_m)
    d = np.asarray(d_m, dtype=np.float64)
    u = 1.0 - (d / h) ** 2
    return np.where(u > 0.0, (3.0 / (math.pi * h * h)) * u * u, 0.0)


def check_bandwidth_m(bandwidth_m: float) -> float:
    """The shared check of a bandwidth: a finite number of metres > 0."""
    ok = isinstance(bandwidth_m, int | float | np.floating | np.integer) and not isinstance(
        bandwidth_m, bool
    )
    if not ok or not math.isfinite(float(bandwidth_m)) or float(bandwidth_m) <= 0:
        msg = f"`bandwidth_m` must be > 0, got {bandwidth_m!r}. Pass a distance in metres."
        raise ValidationError(msg)
    return float(bandwidth_m)


def _points(
    x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xa, ya, wa = _checked_points(x, y, weights)
    return xa, ya, np.ones_like(xa) if wa is None else wa


def _checked_points(
    x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray | None]:
    """``x``, ``y`` and the weights checked; weights None stay None (all 1)."""
    xa = np.asarray(x, dtype=np.float64).ravel()
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        msg = f"`x` and `y` must have the same length, got {xa.size} and {ya.size}."
        raise ValidationError(msg)
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        msg = "`x` and `y` must be finite metres; drop events without coordinates first."
        raise ValidationError(msg)
    if weights is None:
        return xa, ya, None
    wa = np.asarray(weights, dtype=np.float64).ravel()
    if wa.shape != xa.shape:
        msg = f"`weights` must have one value per point ({xa.size}), got {wa.size}."
        raise ValidationError(msg)
    bad = ~np.isfinite(wa) | (wa < 0)
    if bad.any():
        msg = f"`weights` must be finite and >= 0; {int(bad.sum())} are not."
        raise ValidationError(msg)
    return xa, ya, wa


def _weighted_median(values: FloatArray, weights: FloatArray) -> float:
    """Smallest value at which the cumulative weight reaches half the total."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, 0.5 * cum[-1], side="left"))
    return float(values[order][i])


def default_bandwidth_m(
    x: npt.ArrayLike, y: npt.ArrayLike, weights: npt.ArrayLike | None = None
) -> tuple[float, str]:
    """Default search radius by the spatial variant of Silverman's rule of thumb.

    The rule ArcGIS Pro documents for the default search radius of its Kernel
    Density tool ("How Kernel Density works", ArcGIS Pro Spatial Analyst
    documentation), adapted from Silverman (1986), *Density Estimation for
    Statistics and Data Analysis*, Chapman and Hall, eq. 3.31:

        h = 0.9 * min(SD, sqrt(1 / ln 2) * Dm) * n ** -0.2

    where ``SD`` is the standard distance of the points, ``Dm`` the median
    distance of the points from their mean centre, and ``n`` the number of
    points. With weights (ArcGIS's population field), the mean centre,
    standard distance and median are weighted and ``n`` is the sum of the
    weights.

    Parameters
    ----------
    x, y
        Projected coordinates in metres (British National Grid).
    weights
        Optional non-negative weight per point; default all 1.

    Returns
    -------
    ``(bandwidth_m, rule_text)``: the radius in metres and a sentence stating
    the rule and its inputs, for logs and run metadata.

    Raises
    ------
    ValidationError
        With fewer than 2 points (or a total weight of 0), or when the points
        have no spread (all at one place): pass ``bandwidth_m`` yourself.
    """
    xa, ya, wa = _points(x, y, weights)
    n_pos = int((wa > 0).sum())
    if n_pos < 2:
        msg = (
            f"The default bandwidth needs at least 2 points with weight > 0, got {n_pos}. "
            "Pass `bandwidth_m` (metres) yourself."
        )
        raise ValidationError(msg)
    keep = wa > 0
    xa, ya, wa = xa[keep], ya[keep], wa[keep]
    total = float(wa.sum())
    mx = float(np.dot(wa, xa) / total)
    my = float(np.dot(wa, ya) / total)
    dx = xa - mx
    dy = ya - my
    sd = math.sqrt(float(np.dot(wa, dx * dx + dy * dy)) / total)
    dm = _weighted_median(np.hypot(dx, dy), wa)
    spread = min(sd, _SQRT_INV_LN2 * dm)
    if not spread > 0:
        msg = (
            f"The points have no spread (standard distance {sd:.3g} m, median distance "
            f"{dm:.3g} m from the mean centre), so the default bandwidth is 0. "
            "Pass `bandwidth_m` (metres) yourself."
        )
        raise ValidationError(msg)
    h = 0.9 * spread * total**-0.2
    n_text = f"n = {total:.6g} (sum of weights)" if weights is not None else f"n = {xa.size}"
    rule = (
        f"bandwidth {h:.1f} m by the spatial Silverman rule (ArcGIS Pro Kernel Density default): "
        f"0.9 * min(SD = {sd:.1f} m, sqrt(1/ln 2) * Dm = {_SQRT_INV_LN2 * dm:.1f} m) * n^-0.2, "
        f"{n_text}"
    )
    return h, rule


def bin_edge_m(bin_res: int) -> float:
    """Mean hexagon edge length in metres of H3 resolution ``bin_res``."""
    return float(h3.average_hexagon_edge_length(int(bin_res), unit="m"))


class Bins(NamedTuple):
    """Binned points: weighted centroid, total weight and within-bin covariance."""

    x: FloatArray
    y: FloatArray
    weight: FloatArray
    var_x: FloatArray
    var_y: FloatArray
    cov_xy: FloatArray


def bin_points(
    x: FloatArray, y: FloatArray, h3_cells: npt.ArrayLike, weights: FloatArray, bin_res: int
) -> Bins:
    """Weighted centroid, total weight and weighted covariance of the points in each bin.

    Bins are the points' H3 parents at ``bin_res``; bins of total weight 0
    are dropped (they add nothing to a density). Coordinates in metres,
    (co)variances in square metres.
    """
    parents = cells_to_parent(np.asarray(h3_cells, dtype=np.int64), bin_res)
    keep_pt = weights > 0
    x, y, weights, parents = x[keep_pt], y[keep_pt], weights[keep_pt], parents[keep_pt]
    _, inverse = np.unique(parents, return_inverse=True)
    inverse = inverse.ravel()
    n_bins = int(inverse.max()) + 1 if inverse.size else 0
    w = np.bincount(inverse, weights=weights, minlength=n_bins).astype(np.float64)
    mx = np.bincount(inverse, weights=weights * x, minlength=n_bins) / w
    my = np.bincount(inverse, weights=weights * y, minlength=n_bins) / w
    dx = x - mx[inverse]
    dy = y - my[inverse]
    vxx = np.bincount(inverse, weights=weights * dx * dx, minlength=n_bins) / w
    vyy = np.bincount(inverse, weights=weights * dy * dy, minlength=n_bins) / w
    vxy = np.bincount(inverse, weights=weights * dx * dy, minlength=n_bins) / w
    return Bins(mx, my, w, vxx, vyy, vxy)


def kernel_sum(
    bins: Bins,
    qx: FloatArray,
    qy: FloatArray,
    bandwidth_m: float,
    *,
    max_pairs: int = MAX_PAIRS_PER_CHUNK,
) -> FloatArray:
    """Quartic kernel sum from (binned) points at each query point, in weight per m².

    Each bin contributes ``w [K(d) + 1/2 tr(S H(d))]``, where ``d`` is the
    vector from its centroid, ``S`` its within-bin covariance and ``H`` the
    Hessian of the kernel: the second-order Taylor term of the sum over the
    bin's points, which removes most of the binning error (about sevenfold
    at res 11) and integrates to zero, so mass is unchanged. Points (zero
    covariance) give the exact point KDE.

    Pairs within ``bandwidth_m`` are found with k-d trees and processed in
    chunks of query points holding at most about ``max_pairs`` pairs (a
    query point with more pairs than that is a chunk of its own).
    """
    h = check_bandwidth_m(bandwidth_m)
    out = np.zeros(qx.size, dtype=np.float64)
    if bins.x.size == 0 or qx.size == 0:
        return out
    src = cKDTree(np.column_stack([bins.x, bins.y]))
    q = np.column_stack([qx, qy])
    # Pairs per query point (counted in C), to cut chunks of bounded size.
    counts = np.asarray(src.query_ball_point(q, r=h, return_length=True), dtype=np.int64)
    has = np.flatnonzero(counts > 0)
    if has.size == 0:
        return out
    cum = np.cumsum(counts[has])
    cuts = np.searchsorted(cum, np.arange(max_pairs, int(cum[-1]), max_pairs), side="right")
    coef = 3.0 / (math.pi * h * h)
    h2 = h * h
    corrected = bool(np.any(bins.var_x > 0) or np.any(bins.var_y > 0))
    for chunk in np.split(has, np.unique(cuts)):
        if chunk.size == 0:
            continue
        pairs = cKDTree(q[chunk]).sparse_distance_matrix(src, h, output_type="ndarray")
        i, j = pairs["i"], pairs["j"]
        one_minus = np.maximum(1.0 - pairs["v"] ** 2 / h2, 0.0)
        value = one_minus * one_minus
        if corrected:
            dx = qx[chunk][i] - bins.x[j]
            dy = qy[chunk][i] - bins.y[j]
            trace = bins.var_x[j] + bins.var_y[j]
            quad = dx * dx * bins.var_x[j] + dy * dy * bins.var_y[j]
            quad += 2.0 * dx * dy * bins.cov_xy[j]
            # Hessian of (1 - r²/h²)²: -4/h² (1 - r²/h²) I + 8/h⁴ d dᵀ.
            value += 0.5 * (-4.0 / h2 * one_minus * trace + 8.0 / (h2 * h2) * quad)
        contrib = bins.weight[j] * coef * value
        out[chunk] = np.bincount(i, weights=contrib, minlength=chunk.size)
    # The correction is second order; clip the rare rounding below zero.
    return np.maximum(out, 0.0)


SQUARE = "square"
"""``bin_res`` value for square bins of side ``bandwidth_m / SQUARE_BINS_PER_BANDWIDTH``."""

SQUARE_BINS_PER_BANDWIDTH = 8.0
"""Default square bins per bandwidth: the bin side is ``h / 8`` (37.5 m at 300 m)."""

MIN_BANDWIDTH_SIDES = 6.0
"""Refuse square bins wider than ``bandwidth_m / 6``: measured within 4.9e-4 of
the exact KDE there, and 1.05e-3 at ``h / 5`` (see the module docstring)."""

FEW_POINTS_BANDWIDTH_M = 201.0
"""Bandwidth when the rule cannot be computed (fewer than two places with
weight) and the binning has no floor of its own (square bins of the default
side): the floor of H3 res-11 bins (7 mean edges), which the default was
before square bins, so a quiet week still gets a map."""

MAX_DENSE_BINS_PER_POINT = 8
"""Square bins are counted on a dense grid (``np.bincount``) when the grid over
the points has at most this many bins per point (or :data:`MIN_DENSE_BINS`);
beyond that (points spread thinly over a large area) the occupied bins are
found by sorting, and the kernel sum runs over them with k-d trees."""

MIN_DENSE_BINS = 4_000_000


BIN_CHUNK = 65_536
"""Points binned per pass: the working arrays of a pass stay in the CPU cache."""


class SquareGrid(NamedTuple):
    """Square bins on a dense grid: ``bins`` row-major (``ny`` rows of ``nx``;
    empty bins have weight 0 and their centroid at the lower-left corner), the
    grid's lower-left corner ``x0, y0`` and the bin ``side``, in metres. The
    grid has a margin of ``pad`` empty bins on every side."""

    bins: Bins
    x0: float
    y0: float
    side: float
    nx: int
    ny: int


def _finish(sums: FloatArray, side: float, ox: FloatArray, oy: FloatArray) -> Bins:
    """Bins from per-bin sums of weight, ``w u``, ``w v``, ``w u²``, ``w v²``, ``w u v``.

    ``u, v`` are each point's offsets from its bin's lower-left corner
    ``(ox, oy)`` in bin sides (0 to 1), so ``E[u²] - E[u]²`` loses no precision
    to the size of the coordinates.
    """
    weight = sums[0]
    has = weight > 0

    def mean(k: int) -> FloatArray:
        return np.divide(sums[k], weight, out=np.zeros_like(weight), where=has)

    # Offsets lie in [0, 1], so means do too and variances are at most 1/4; the clips
    # only matter for bins of subnormal weight, where rounding is coarse.
    mx = np.clip(mean(1), 0.0, 1.0)
    my = np.clip(mean(2), 0.0, 1.0)
    s2 = side * side
    var_x = np.clip(mean(3) - mx * mx, 0.0, 0.25) * s2
    var_y = np.clip(mean(4) - my * my, 0.0, 0.25) * s2
    cov_xy = np.clip(mean(5) - mx * my, -0.25, 0.25) * s2
    return Bins(ox + mx * side, oy + my * side, weight, var_x, var_y, cov_xy)


def square_bins(
    x: FloatArray, y: FloatArray, weights: FloatArray | None, side: float, *, pad: int = 0
) -> SquareGrid | Bins:
    """Weighted centroid, total weight and covariance of the points in square bins.

    Bins are ``side``-metre squares of a grid anchored at multiples of
    ``side`` (the bins do not depend on which points are present), a point's
    bin addressed directly by ``floor((x - x0) / side)``, and the sums added
    per bin with ``np.add.at`` in passes of :data:`BIN_CHUNK` points. Returns
    a :class:`SquareGrid` (every bin of the grid over the points plus a
    margin of more than ``pad`` bins, empty ones of weight 0) when that grid has at
    most :data:`MAX_DENSE_BINS_PER_POINT` bins per point (or
    :data:`MIN_DENSE_BINS`), else only the occupied :class:`Bins` (found by
    sorting). ``weights`` None means all 1; points of weight 0 add nothing.
    """
    if weights is not None:
        keep = weights > 0
        if not keep.all():
            x, y, weights = x[keep], y[keep], weights[keep]
    if x.size == 0:
        empty = np.zeros(0)
        return Bins(empty, empty, empty, empty, empty, empty)
    inv_side = 1.0 / side
    # One bin more than ``pad`` below the lowest point: (x - x0) / side is then >= 1
    # whatever the rounding, so truncation to an integer is the floor.
    pad += 1
    x0 = (math.floor(float(x.min()) * inv_side) - pad) * side
    y0 = (math.floor(float(y.min()) * inv_side) - pad) * side
    # (x - x0) / side is monotonic in x, so no point's column exceeds the last point's.
    nx = int((float(x.max()) - x0) * inv_side) + 1 + pad
    ny = int((float(y.max()) - y0) * inv_side) + 1 + pad
    n_dense = nx * ny
    if n_dense > max(MAX_DENSE_BINS_PER_POINT * x.size, MIN_DENSE_BINS):
        return _sparse_square_bins(x, y, weights, side, x0, y0, nx)
    sums = np.zeros((6, n_dense))
    m = min(BIN_CHUNK, x.size)
    u, v, t = np.empty(m), np.empty(m), np.empty(m)
    ix, iy = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    for start in range(0, x.size, BIN_CHUNK):
        stop = min(start + BIN_CHUNK, x.size)
        k = stop - start
        uu, vv, tt, ii, jj = u[:k], v[:k], t[:k], ix[:k], iy[:k]
        np.subtract(x[start:stop], x0, out=uu)
        uu *= inv_side
        np.subtract(y[start:stop], y0, out=vv)
        vv *= inv_side
        ii[...] = uu  # truncation is the floor: the offsets are >= 1
        jj[...] = vv
        uu -= ii
        vv -= jj
        jj *= nx
        jj += ii
        if weights is None:
            np.add.at(sums[0], jj, 1.0)
            np.add.at(sums[1], jj, uu)
            np.add.at(sums[2], jj, vv)
            np.multiply(uu, uu, out=tt)
            np.add.at(sums[3], jj, tt)
            np.multiply(vv, vv, out=tt)
            np.add.at(sums[4], jj, tt)
            np.multiply(uu, vv, out=tt)
            np.add.at(sums[5], jj, tt)
        else:
            w = weights[start:stop]
            np.add.at(sums[0], jj, w)
            np.multiply(uu, w, out=tt)
            np.add.at(sums[1], jj, tt)
            tt *= uu
            np.add.at(sums[3], jj, tt)
            np.multiply(vv, w, out=tt)
            np.add.at(sums[2], jj, tt)
            tt *= vv
            np.add.at(sums[4], jj, tt)
            np.multiply(uu, vv, out=tt)
            tt *= w
            np.add.at(sums[5], jj, tt)
    ox = np.tile(x0 + np.arange(nx) * side, ny)
    oy = np.repeat(y0 + np.arange(ny) * side, nx)
    return SquareGrid(_finish(sums, side, ox, oy), x0, y0, side, nx, ny)


def _sparse_square_bins(
    x: FloatArray,
    y: FloatArray,
    weights: FloatArray | None,
    side: float,
    x0: float,
    y0: float,
    nx: int,
) -> Bins:
    """The occupied square bins only, for points spread thinly over a large area."""
    u = (x - x0) / side
    v = (y - y0) / side
    ix = u.astype(np.int64)
    iy = v.astype(np.int64)
    u -= ix
    v -= iy
    occupied, inverse = np.unique(iy * nx + ix, return_inverse=True)
    inverse = inverse.ravel()
    w = np.ones_like(u) if weights is None else weights
    sums = np.stack(
        [
            np.bincount(inverse, weights=w * a, minlength=occupied.size)
            for a in (np.ones_like(u), u, v, u * u, v * v, u * v)
        ]
    ).astype(np.float64)
    ox = x0 + (occupied % nx) * side
    oy = y0 + (occupied // nx) * side
    return _finish(sums, side, ox.astype(np.float64), oy.astype(np.float64))


def _bin_terms(
    w: FloatArray,
    var_x: FloatArray,
    var_y: FloatArray,
    cov_xy: FloatArray,
    dx: FloatArray,
    dy: FloatArray,
    h: float,
) -> FloatArray:
    """``w [(1 - r²/h²)² + 1/2 tr(S H(d))]`` for bins of weight ``w``, covariance
    ``S`` at offsets ``d = (dx, dy)`` (``H``: the Hessian; times ``3/(pi h²)``
    this is the kernel term)."""
    h2 = h * h
    one_minus = np.maximum(1.0 - (dx * dx + dy * dy) / h2, 0.0)
    quad = dx * dx * var_x + dy * dy * var_y + 2.0 * dx * dy * cov_xy
    # Hessian of (1 - r²/h²)²: -4/h² (1 - r²/h²) I + 8/h⁴ d dᵀ (0 outside the support).
    value = one_minus * (one_minus - 2.0 / h2 * (var_x + var_y))
    value += np.where(one_minus > 0.0, 4.0 / (h2 * h2) * quad, 0.0)
    return np.asarray(w * value)


def window_reach(bandwidth_m: float, side: float) -> int:
    """Bins either side of a query point's bin that can hold a point within ``bandwidth_m``."""
    return math.ceil(bandwidth_m / side)


def grid_kernel_sum(
    grid: SquareGrid,
    qx: FloatArray,
    qy: FloatArray,
    bandwidth_m: float,
    *,
    max_pairs: int = WINDOW_PAIRS_PER_CHUNK,
) -> FloatArray:
    """Quartic kernel sum from square bins at each query point, in weight per m².

    Each query point takes the fixed window of grid bins that can hold a
    point within ``bandwidth_m`` of it (the same offsets for every query
    point, so the sum is gathers and arithmetic on whole arrays), in chunks
    of query points holding at most about ``max_pairs`` pairs. Each bin adds
    ``w [K(d) + 1/2 tr(S H(d))]`` as in :func:`kernel_sum`.
    """
    h = check_bandwidth_m(bandwidth_m)
    out = np.zeros(qx.size, dtype=np.float64)
    b, nx, ny, s = grid.bins, grid.nx, grid.ny, grid.side
    if qx.size == 0 or b.x.size == 0:
        return out
    reach = window_reach(h, s)
    k = np.arange(-reach, reach + 1)
    di, dj = (a.ravel() for a in np.meshgrid(k, k, indexing="xy"))
    gap_x = np.maximum(np.abs(di) - 1, 0) * s
    gap_y = np.maximum(np.abs(dj) - 1, 0) * s
    near = gap_x * gap_x + gap_y * gap_y < h * h
    di, dj = di[near], dj[near]
    offsets = dj * nx + di
    ic = np.floor((qx - grid.x0) / s).astype(np.int64)
    jc = np.floor((qy - grid.y0) / s).astype(np.int64)
    inner = (ic >= reach) & (ic < nx - reach) & (jc >= reach) & (jc < ny - reach)
    edge = ~inner & (ic + reach >= 0) & (ic - reach < nx) & (jc + reach >= 0) & (jc - reach < ny)
    coef = 3.0 / (math.pi * h * h)
    step = max(1, max_pairs // offsets.size)
    for which, masked in ((np.flatnonzero(inner), False), (np.flatnonzero(edge), True)):
        for start in range(0, which.size, step):
            rows = which[start : start + step]
            lin = (jc[rows] * nx + ic[rows])[:, None] + offsets[None, :]
            if masked:  # a window over the grid's edge: bins outside it weigh 0
                ii = ic[rows, None] + di[None, :]
                jj = jc[rows, None] + dj[None, :]
                inside = (ii >= 0) & (ii < nx) & (jj >= 0) & (jj < ny)
                lin = np.where(inside, lin, 0)
                w = np.where(inside, b.weight[lin], 0.0)
            else:
                w = b.weight[lin]
            dx = qx[rows, None] - b.x[lin]
            dy = qy[rows, None] - b.y[lin]
            terms = _bin_terms(w, b.var_x[lin], b.var_y[lin], b.cov_xy[lin], dx, dy, h)
            out[rows] = coef * terms.sum(axis=1)
    # The correction is second order; clip the rare rounding below zero.
    return np.maximum(out, 0.0)


def _square_side(h: float, bin_side_m: float | None) -> float:
    """The square bin side for bandwidth ``h``: given, or ``h / SQUARE_BINS_PER_BANDWIDTH``."""
    if bin_side_m is None:
        return h / SQUARE_BINS_PER_BANDWIDTH
    ok = isinstance(bin_side_m, int | float | np.floating | np.integer) and not isinstance(
        bin_side_m, bool
    )
    if not ok or not math.isfinite(float(bin_side_m)) or float(bin_side_m) <= 0:
        msg = f"`bin_side_m` must be > 0, got {bin_side_m!r}. Pass a distance in metres or None."
        raise ValidationError(msg)
    return float(bin_side_m)


def kde_on_cells(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    h3_cells: npt.ArrayLike | None,
    cells_x: npt.ArrayLike,
    cells_y: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    bandwidth_m: float | None = None,
    bin_res: int | str | None = SQUARE,
    bin_side_m: float | None = None,
    quiet: bool = False,
) -> tuple[FloatArray, dict[str, Any]]:
    """Quartic kernel density of events at cell centres.

    Parameters
    ----------
    x, y
        Event coordinates in metres (British National Grid).
    h3_cells
        Each event's H3 cell at resolution 12 (int64), or None. Needed only
        for H3 bins (an integer ``bin_res``); square bins are found from
        ``x``, ``y`` alone.
    cells_x, cells_y
        Cell centres in metres, same CRS as ``x``, ``y``.
    weights
        Optional non-negative weight per event; default all 1.
    bandwidth_m
        Search radius ``h`` in metres (> 0). Default: the spatial Silverman
        rule of :func:`default_bandwidth_m`, announced through the
        ``models.kde`` logger unless ``quiet``.
    bin_res
        How events are binned. ``"square"`` (the default): square bins of
        side ``bin_side_m``, by default ``h / 10`` (within 1e-3 of the exact
        KDE, see the module docstring). An integer: the events' H3 parents at
        that resolution (11 or 12; needs ``h3_cells``). ``None``: no binning,
        the exact point KDE. A bandwidth below the validity floor of the
        binning (:data:`MIN_BANDWIDTH_SIDES` square sides,
        :data:`MIN_BANDWIDTH_EDGES` mean H3 edges) is refused; a rule
        bandwidth below it (or a rule that cannot be computed from fewer than
        two places) is raised to it, and the rule text says so.
    bin_side_m
        Side of the square bins in metres (only with ``bin_res="square"``);
        default ``h / SQUARE_BINS_PER_BANDWIDTH``.
    quiet
        Do not log automatic choices.

    Returns
    -------
    ``(density, meta)``: density per cell centre in weighted events per
    square metre (multiply by 1e6 for per km²), and metadata with
    ``bandwidth_m``, ``bandwidth_rule``, ``bin_res``, ``bin_side_m`` (square
    bins, else None), ``binning``, ``n_points``, ``n_bins`` (occupied bins),
    ``kernel``, ``density_unit`` and ``distance_unit``.
    """
    xa, ya, w_given = _checked_points(x, y, weights)
    cx = np.asarray(cells_x, dtype=np.float64).ravel()
    cy = np.asarray(cells_y, dtype=np.float64).ravel()
    if cx.shape != cy.shape:
        msg = f"`cells_x` and `cells_y` must have the same length, got {cx.size} and {cy.size}."
        raise ValidationError(msg)
    if not (np.isfinite(cx).all() and np.isfinite(cy).all()):
        msg = "`cells_x` and `cells_y` must be finite metres (cell centres in BNG)."
        raise ValidationError(msg)
    square = isinstance(bin_res, str)
    if square and bin_res != SQUARE:
        msg = f'`bin_res` must be "{SQUARE}", a whole number from 0 to 12 or None, got {bin_res!r}.'
        raise ValidationError(msg)
    if bin_side_m is not None and not square:
        msg = f'`bin_side_m` applies to square bins only; pass bin_res="{SQUARE}" with it.'
        raise ValidationError(msg)
    side_given = None if bin_side_m is None else _square_side(1.0, bin_side_m)
    h3_a = None
    if h3_cells is not None:
        h3_a = np.asarray(h3_cells, dtype=np.int64).ravel()
        if h3_a.shape != xa.shape:
            msg = f"`h3_cells` must have one cell per point ({xa.size}), got {h3_a.size}."
            raise ValidationError(msg)
    h3_res: int | None = None
    if bin_res is not None and not square:
        h3_res = check_res(cast(int, bin_res), name="bin_res", low=0, high=12)
        if h3_a is None:
            msg = (
                "`h3_cells` is needed to bin events in H3 cells; pass the events' res-12 "
                f'cells, or bin_res="{SQUARE}" to bin the BNG points in squares.'
            )
            raise ValidationError(msg)

    if h3_res is not None:
        floor: float | None = MIN_BANDWIDTH_EDGES * bin_edge_m(h3_res)
        floor_text = f"{MIN_BANDWIDTH_EDGES} mean bin edges at bin_res {h3_res}"
    elif side_given is not None:
        floor = MIN_BANDWIDTH_SIDES * side_given
        floor_text = f"{MIN_BANDWIDTH_SIDES} square bin sides of {side_given:g} m"
    else:
        floor, floor_text = None, ""
    if bandwidth_m is None:
        try:
            h, rule = default_bandwidth_m(xa, ya, w_given)
        except ValidationError as exc:
            if bin_res is None:
                raise
            # Too few or coincident points for the rule (a quiet week): the smallest
            # bandwidth the binning supports (or a fixed one), said so, rather than no map.
            if floor is None:
                h = FEW_POINTS_BANDWIDTH_M
                rule = f"bandwidth {h:.1f} m, the fixed choice when the rule cannot be used: {exc}"
            else:
                h = floor
                rule = f"bandwidth {h:.1f} m, the smallest this binning supports: {exc}"
        if floor is not None and h < floor:
            rule = (
                f"bandwidth {floor:.1f} m, the smallest this binning supports "
                f"({floor_text}), because the rule gave less: {rule}"
            )
            h = floor
        if not quiet:
            logger.info("KDE: %s", rule)
    else:
        h = check_bandwidth_m(bandwidth_m)
        rule = f"bandwidth {h:.1f} m given by the caller"

    if floor is not None and h < floor:
        if h3_res is not None:
            finer = f'bin_res="{SQUARE}" or bin_res=12' if h3_res < 12 else f'bin_res="{SQUARE}"'
        else:
            finer = f"a `bin_side_m` of at most {h / MIN_BANDWIDTH_SIDES:.1f} m (or None)"
        msg = (
            f"`bandwidth_m` {h:.1f} m is below {floor_text} ({floor:.1f} m), where binning "
            f"error exceeds 1e-3. Pass a larger `bandwidth_m` or {finer}."
        )
        raise ValidationError(msg)

    side: float | None = None
    if square:
        side = side_given if side_given is not None else _square_side(h, None)
        binned = square_bins(xa, ya, w_given, side, pad=window_reach(h, side))
        if isinstance(binned, SquareGrid):
            density = grid_kernel_sum(binned, cx, cy, h)
            n_bins = int(np.count_nonzero(binned.bins.weight))
        else:
            density = kernel_sum(binned, cx, cy, h)
            n_bins = int(binned.x.size)
        binning = f"square bins of {side:g} m: weighted centroid with second-moment correction"
    elif h3_res is not None:
        assert h3_a is not None
        wa = np.ones_like(xa) if w_given is None else w_given
        bins = bin_points(xa, ya, h3_a, wa, h3_res)
        density = kernel_sum(bins, cx, cy, h)
        n_bins = int(bins.x.size)
        binning = f"H3 res-{h3_res} bins: weighted centroid with second-moment correction"
    else:
        wa = np.ones_like(xa) if w_given is None else w_given
        keep = wa > 0
        zeros = np.zeros(int(keep.sum()))
        bins = Bins(xa[keep], ya[keep], wa[keep], zeros, zeros, zeros)
        density = kernel_sum(bins, cx, cy, h)
        n_bins = int(bins.x.size)
        binning = "none (exact point KDE)"

    meta: dict[str, Any] = {
        "kernel": KERNEL,
        "bandwidth_m": h,
        "bandwidth_rule": rule,
        "bin_res": bin_res,
        "bin_side_m": side,
        "n_points": int(xa.size),
        "n_bins": n_bins,
        "binning": binning,
        "density_unit": "weighted events per m^2",
        "distance_unit": "m",
    }
    return density, meta
