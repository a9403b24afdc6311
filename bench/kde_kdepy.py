"""Quartic KDE at H3 cell centres: ``models.kde.kde_on_cells`` against KDEpy ``FFTKDE``.

Both sides get the same clustered points (:func:`harness.clustered_points_bng`,
British National Grid metres) and must give the density at the same places:
the centres of the res-9 H3 cells whose centres lie in the Blackburn with
Darwen outline (``geo.grid.area_cells(StudyArea().outline(), 9)``, 1,455
cells), with the quartic kernel of radius ``h`` = :data:`BANDWIDTH_M`.

* **ours**, two ways: from H3-indexed events (``kde_on_cells(x, y, h3, cx,
  cy, bandwidth_m=h)``, the events' res-12 cells given, as the stores hold
  them) and from BNG points alone (``h3_cells=None``). Both use the default
  binning, square bins of ``h / 8`` (37.5 m) addressed directly from x, y,
  so the H3 cells are not needed for the kernel and both ways do the same
  work; the H3 case is timed to show it costs nothing extra.
* **limit**: the same binning and window kernel sums called directly
  (``square_bins`` + ``grid_kernel_sum``: no input checks, no metadata), the
  floor the product can approach; and, for scale, a single ``np.bincount`` of
  the points' bin numbers (one counting pass, no moments, no kernel).
* **peer**: ``FFTKDE(kernel="biweight", bw=h / sqrt(7), norm=2).fit(xy)
  .evaluate((nx, ny))``, then bilinear interpolation of the grid at the
  centres (``scipy.interpolate.RegularGridInterpolator``), times the number
  of points (KDEpy returns a probability density). KDEpy scales a kernel to
  standard deviation ``bw``; its biweight has variance 1/7 on support 1, so
  its support radius is ``bw * sqrt(7)``: ``bw = h / sqrt(7)`` is our quartic
  of radius ``h``, with the same 2-D normalisation ``3 / (pi h^2)`` under the
  Euclidean norm. This is checked on a few points against KDEpy's
  ``NaiveKDE`` (no grid, no binning) before anything is timed. The grid
  spacing is the coarsest of :data:`PEER_SPACINGS_M` whose result is within
  :data:`MAX_REL_L1` of the exact KDE (found in the warm-up, per size), so
  the peer is timed at the accuracy asked of ours. For context, the peer
  is also timed at a :data:`COARSE_SPACING_M` grid (about 7e-3 error, seven
  times the bound): not the goal, but what a quick KDEpy call costs.

Accuracy (warm-up outputs, before timing): relative L1
``sum|ours - exact| / sum|exact|`` over all cells for each side, the exact
reference being our exact point KDE (``bin_res=None``, every point), itself
checked against an independent brute-force numpy sum over every point at
:data:`CHECK_CELLS` random cells.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import Timing, clustered_points_bng, compare, limit, log, time_interleaved
from kde_sklearn import brute_kernel_sum, eval_centres
from KDEpy import FFTKDE, NaiveKDE
from scipy.interpolate import RegularGridInterpolator

import models.kde as kde
from geo.crs import bng_to_latlng
from geo.h3index import latlng_to_cells

BANDWIDTH_M = 300.0
EVAL_RES = 9
MAX_REL_L1 = 1e-3
CHECK_CELLS = 200
PEER_SPACINGS_M = (40.0, 30.0, 20.0, 15.0, 12.5, 10.0, 7.5)
"""Peer grid spacings tried, coarsest (fastest) first."""
SEED = 1

OURS_H3 = "ours: kde_on_cells from H3-indexed events (square bins)"
OURS_BNG = "ours: kde_on_cells from BNG points (h3_cells=None)"
LIMIT = "limit: square_bins + grid_kernel_sum, no checks"
COUNT_PASS = "for scale: one np.bincount of the bin numbers"
PEER = "peer: KDEpy FFTKDE(biweight, norm=2) + grid interpolation"
PEER_FFT = "peer: of which FFTKDE fit + evaluate"
COARSE_SPACING_M = 40.0
PEER_COARSE = f"peer at a {COARSE_SPACING_M:g} m grid (about 7e-3 error: context, not the goal)"


def _rel_l1(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).sum() / np.abs(ref).sum())


def peer_bw(h: float) -> float:
    """KDEpy's ``bw`` (the kernel's standard deviation) of a biweight of radius ``h``."""
    return h / math.sqrt(7.0)


def check_kernel(h: float = BANDWIDTH_M) -> float:
    """KDEpy's biweight at ``bw = h / sqrt(7)`` against our quartic of radius ``h``.

    A few points and query places at distances from 0 to beyond ``h``;
    returns the largest relative difference (stops the run above 1e-9).
    """
    rng = np.random.default_rng(11)
    px = rng.uniform(-200, 200, 7)
    py = rng.uniform(-200, 200, 7)
    w = rng.uniform(0.5, 2.0, 7)
    qx = rng.uniform(-450, 450, 40)
    qy = rng.uniform(-450, 450, 40)
    theirs = NaiveKDE(kernel="biweight", bw=peer_bw(h), norm=2).fit(
        np.column_stack([px, py]), weights=w
    )
    got = theirs.evaluate(np.column_stack([qx, qy])) * w.sum()
    ours, _ = kde.kde_on_cells(px, py, None, qx, qy, weights=w, bandwidth_m=h, bin_res=None)
    positive = ours > 0
    if not (positive.any() and (~positive).any()):
        raise SystemExit("kernel check: the query places must lie inside and outside the support")
    worst = float(np.max(np.abs(got - ours)) / np.max(ours))
    outside = float(np.max(np.abs(got[~positive]))) / float(np.max(ours))
    if not (worst < 1e-9 and outside < 1e-9):
        msg = f"KDEpy biweight at bw = h/sqrt(7) is not our quartic (max rel diff {worst:.2e})"
        raise SystemExit(msg)
    return worst


class Sides:
    """The timed callables of one size; each returns ({case: seconds}, density per m²)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> None:
        self.x, self.y, self.cx, self.cy = x, y, cx, cy
        self.xy = np.column_stack([x, y])
        self.centres = np.column_stack([cx, cy])
        lat, lng = bng_to_latlng(x, y)
        self.h3 = latlng_to_cells(lat, lng, 12)  # as stored at ingest: untimed input
        self.side = BANDWIDTH_M / kde.SQUARE_BINS_PER_BANDWIDTH
        self.spacing = PEER_SPACINGS_M[-1]

    def _ours(self, cells: np.ndarray | None, name: str) -> tuple[dict[str, float], np.ndarray]:
        gc.collect()
        t0 = time.perf_counter()
        d, _ = kde.kde_on_cells(
            self.x, self.y, cells, self.cx, self.cy, bandwidth_m=BANDWIDTH_M, quiet=True
        )
        return {name: time.perf_counter() - t0}, d

    def ours_h3(self) -> tuple[dict[str, float], np.ndarray]:
        return self._ours(self.h3, OURS_H3)

    def ours_bng(self) -> tuple[dict[str, float], np.ndarray]:
        return self._ours(None, OURS_BNG)

    def limit(self) -> tuple[dict[str, float], np.ndarray]:
        gc.collect()
        t0 = time.perf_counter()
        reach = kde.window_reach(BANDWIDTH_M, self.side)
        grid = kde.square_bins(self.x, self.y, None, self.side, pad=reach)
        assert isinstance(grid, kde.SquareGrid)
        d = kde.grid_kernel_sum(grid, self.cx, self.cy, BANDWIDTH_M)
        t1 = time.perf_counter()
        s = self.side
        x0, y0 = grid.x0, grid.y0
        gc.collect()
        t2 = time.perf_counter()
        lin = ((self.y - y0) * (1.0 / s)).astype(np.int64) * grid.nx
        lin += ((self.x - x0) * (1.0 / s)).astype(np.int64)
        np.bincount(lin, minlength=grid.nx * grid.ny)
        t3 = time.perf_counter()
        return {LIMIT: t1 - t0, COUNT_PASS: t3 - t2}, d

    def peer_at(self, spacing: float) -> tuple[float, float, np.ndarray]:
        """Seconds of FFTKDE, seconds in all, and the density at the centres (per m²)."""
        gc.collect()
        t0 = time.perf_counter()
        # KDEpy's automatic grid spans the data range plus max(5% of it, h) each side.
        span_x = float(np.ptp(self.x)) * 1.1 + 2 * BANDWIDTH_M
        span_y = float(np.ptp(self.y)) * 1.1 + 2 * BANDWIDTH_M
        nx = math.ceil(span_x / spacing) + 1
        ny = math.ceil(span_y / spacing) + 1
        fft = FFTKDE(kernel="biweight", bw=peer_bw(BANDWIDTH_M), norm=2).fit(self.xy)
        grid, values = fft.evaluate((nx, ny))
        t1 = time.perf_counter()
        gx = np.unique(grid[:, 0])
        gy = np.unique(grid[:, 1])
        interp = RegularGridInterpolator((gx, gy), values.reshape(gx.size, gy.size))
        d = interp(self.centres) * self.x.size
        t2 = time.perf_counter()
        return t1 - t0, t2 - t0, d

    def peer(self) -> tuple[dict[str, float], np.ndarray]:
        fft, total, d = self.peer_at(self.spacing)
        return {PEER: total, PEER_FFT: fft}, d

    def peer_coarse(self) -> tuple[dict[str, float], np.ndarray]:
        _, total, d = self.peer_at(COARSE_SPACING_M)
        return {PEER_COARSE: total}, d


def check(sides: Sides, out: dict[str, np.ndarray]) -> dict[str, Any]:
    """Exact reference, each side's error, the peer's grid; stops the run when one fails."""
    t0 = time.perf_counter()
    exact, _ = kde.kde_on_cells(
        sides.x, sides.y, None, sides.cx, sides.cy, bandwidth_m=BANDWIDTH_M, bin_res=None
    )
    rng = np.random.default_rng(3)
    pick = np.sort(rng.choice(sides.cx.size, min(CHECK_CELLS, sides.cx.size), replace=False))
    brute = brute_kernel_sum(
        sides.x, sides.y, sides.cx[pick], sides.cy[pick], BANDWIDTH_M, "quartic"
    )
    log(f"  exact references in {time.perf_counter() - t0:.1f} s")
    problems = []
    if not _rel_l1(exact[pick], brute) < 1e-9:
        problems.append("the exact point KDE (bin_res=None) differs from the brute-force sum")
    peer_errors = {}
    for spacing in PEER_SPACINGS_M:
        _, _, d = sides.peer_at(spacing)
        peer_errors[spacing] = _rel_l1(d, exact)
        log(f"  peer grid {spacing:g} m: rel L1 {peer_errors[spacing]:.2e}")
        if peer_errors[spacing] <= MAX_REL_L1:
            sides.spacing = spacing
            break
    else:
        problems.append(f"the peer misses {MAX_REL_L1:g} even at {PEER_SPACINGS_M[-1]:g} m")
    _, _, peer = sides.peer_at(sides.spacing)
    facts: dict[str, Any] = {
        "cells": int(sides.cx.size),
        "cells_checked_brute_force": int(pick.size),
        "rel_l1_exact_vs_brute_sampled_cells": _rel_l1(exact[pick], brute),
        "rel_l1_ours_h3_vs_exact": _rel_l1(out["ours_h3"], exact),
        "rel_l1_ours_bng_vs_exact": _rel_l1(out["ours_bng"], exact),
        "rel_l1_limit_vs_exact": _rel_l1(out["limit"], exact),
        "rel_l1_peer_vs_exact": _rel_l1(peer, exact),
        "rel_l1_peer_coarse_vs_exact": _rel_l1(out["peer_coarse"], exact),
        "peer_grid_spacing_m": sides.spacing,
        "peer_rel_l1_by_spacing_m": {f"{k:g}": v for k, v in peer_errors.items()},
        "ours_bin_side_m": sides.side,
        "kernel_check_max_rel_diff": check_kernel(),
    }
    for name in ("rel_l1_ours_h3_vs_exact", "rel_l1_ours_bng_vs_exact"):
        if not facts[name] <= MAX_REL_L1:
            problems.append(f"{name} = {facts[name]:.2e} (must be <= {MAX_REL_L1:g})")
    if not np.array_equal(out["ours_h3"], out["ours_bng"]):
        problems.append("ours from H3-indexed events and from BNG points differ")
    if problems:
        msg = "KDE outputs disagree, the timing would be meaningless: " + "; ".join(problems)
        raise SystemExit(msg)
    return facts


def run_size(n: int, repeat: int, cx: np.ndarray, cy: np.ndarray) -> dict[str, Any]:
    """The benchmark at ``n`` points; one result dict."""
    log(f"KDE vs KDEpy: {n:,} clustered points, {cx.size:,} res-{EVAL_RES} centres")
    x, y = clustered_points_bng(n, SEED)
    sides = Sides(x, y, cx, cy)
    runs: dict[str, Callable[[], tuple[dict[str, float], np.ndarray]]] = {
        "ours_h3": sides.ours_h3,
        "ours_bng": sides.ours_bng,
        "limit": sides.limit,
        "peer": sides.peer,
        "peer_coarse": sides.peer_coarse,
    }
    outputs = {key: fn()[1] for key, fn in runs.items()}
    facts = check(sides, outputs)
    log(
        f"  checks passed: rel L1 ours {facts['rel_l1_ours_bng_vs_exact']:.2e}, peer "
        f"{facts['rel_l1_peer_vs_exact']:.2e} at a {sides.spacing:g} m grid"
    )
    runs["peer"]()  # warm-up at the chosen grid
    names = (OURS_H3, OURS_BNG, LIMIT, COUNT_PASS, PEER, PEER_FFT, PEER_COARSE)
    cases = {name: Timing() for name in names}
    meta: dict[str, Any] = {}
    time_interleaved(runs, cases, repeat, meta)
    _, ours_meta = kde.kde_on_cells(x, y, None, cx, cy, bandwidth_m=BANDWIDTH_M, quiet=True)
    return {
        "title": f"KDE vs KDEpy at res-{EVAL_RES} centres, {n:,} points",
        "rows": n,
        "cases": {name: t.as_dict(n) for name, t in cases.items()},
        "ratios": [
            compare(cases, OURS_H3, PEER, goal=2.0),
            compare(cases, OURS_BNG, PEER, goal=2.0),
            compare(cases, LIMIT, PEER),
            compare(cases, OURS_BNG, LIMIT),
            compare(cases, OURS_BNG, PEER_COARSE),
        ],
        "limits": [
            limit(
                "one pass of square binning + the bin-to-centre kernel sums, no checks",
                cases[LIMIT].median,
                cases[OURS_BNG].median,
            )
        ],
        "bandwidth_m": BANDWIDTH_M,
        "eval_res": EVAL_RES,
        "binning": ours_meta["binning"],
        "n_bins": ours_meta["n_bins"],
        "checks": facts,
        "extra_markdown": (
            f"KDE, {n:,} points: relative L1 error against the exact quartic KDE at all "
            f"{facts['cells']:,} centres: ours {facts['rel_l1_ours_bng_vs_exact']:.2e} "
            f"(from H3 events {facts['rel_l1_ours_h3_vs_exact']:.2e}), KDEpy at its "
            f"{facts['peer_grid_spacing_m']:g} m grid {facts['rel_l1_peer_vs_exact']:.2e}; "
            f"goal at most {MAX_REL_L1:g}: met"
        ),
        "notes": (
            "Same kernel on both sides (quartic = KDEpy biweight at bw = h/sqrt(7), checked). "
            "The peer's grid spacing is the coarsest meeting the same 1e-3 error. "
            "'ours / limit' below 1 is how far the product is from its floor. "
            "Single-threaded on both sides."
        ),
        **meta,
    }


def run(rows: int, repeat: int) -> list[dict[str, Any]]:
    """The benchmark at ``rows`` and ``5 * rows`` points."""
    _, cx, cy = eval_centres()
    return [run_size(n, repeat, cx, cy) for n in (rows, 5 * rows)]


if __name__ == "__main__":
    import json
    import os
    import sys

    from harness import markdown_tables

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    load = os.getloadavg()
    results = run(rows, repeat)
    print(markdown_tables(results))
    print(f"\nload average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(json.dumps([r["checks"] for r in results], indent=1))
