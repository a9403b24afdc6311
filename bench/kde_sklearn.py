"""KDE at H3 cell centres: ``models.kde.kde_on_cells`` against scikit-learn ``KernelDensity``.

Both sides get the same clustered points (:func:`harness.clustered_points_bng`,
British National Grid metres) and are evaluated at the same places: the
centres of the res-9 H3 cells whose centres lie in the Blackburn with Darwen
outline (``geo.grid.area_cells(StudyArea().outline(), 9)``, 1,455 cells, BNG
x, y), with the same support radius ``h`` (:data:`BANDWIDTH_M`).

* **ours**: ``kde_on_cells(x, y, h3, cells_x, cells_y, bandwidth_m=h)``:
  the planar quartic kernel from points in square bins of ``h / 8`` (the
  default binning, from x, y). The points' res-12 H3 cells are passed as the
  stores hold them from ingest (computed before timing; square bins do not
  use them); a second case times the indexing too (``bng_to_latlng`` +
  ``latlng_to_cells(..., 12)`` + ``kde_on_cells``), which the kernel no
  longer needs.
  ``bin_res=None`` (the exact point KDE, no binning) is timed as well.
* **peer**: ``KernelDensity(kernel="epanechnikov", bandwidth=h,
  algorithm="kd_tree", rtol=0).fit(xy).score_samples(centres)``: exact
  (``atol=0``, ``rtol=0``, the defaults). scikit-learn has no quartic
  kernel; the Epanechnikov kernel ``2/(pi h^2) (1 - d^2/h^2)`` is the closest
  compact one, with the same support ``d < h``, so the values differ from
  ours (by kernel shape, not error). ``rtol=1e-2`` (its approximate mode) is
  timed too. The fit (KD-tree build) and ``score_samples`` are timed apart
  inside the same runs.

Checks before any timing counts (on the warm-up outputs): ours within 1e-3
relative L1 of the exact quartic KDE (our ``bin_res=None`` on every point, at
every cell, and an independent brute-force sum over every point at
:data:`CHECK_CELLS` random cells); the peer's exact output equal to a
brute-force Epanechnikov sum at those cells (relative L1 < 1e-9) and its
approximate output within its tolerance; the peer's output finite where ours
is positive and ``-inf`` exactly where ours (exact) is 0 (same support); and
Spearman rank correlation ours / peer > :data:`MIN_SPEARMAN` over all cells.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import (
    Timing,
    clustered_points_bng,
    compare,
    log,
    sizes_for,
    time_interleaved,
)
from scipy.stats import spearmanr
from sklearn.neighbors import KernelDensity

from geo.crs import bng_to_latlng
from geo.grid import area_cells
from geo.h3index import latlng_to_cells
from geo.studyarea import StudyArea
from models.kde import kde_on_cells

BANDWIDTH_M = 300.0
EVAL_RES = 9
BIN_RES = "square"
APPROX_RTOL = 1e-2
CHECK_CELLS = 200
MAX_REL_L1 = 1e-3
MIN_SPEARMAN = 0.99
SEED = 1

OURS = "ours: kde_on_cells (quartic, square bins of h/8)"
OURS_INDEXED = "ours incl. indexing: bng_to_latlng + latlng_to_cells(12) + kde_on_cells"
OURS_EXACT = "ours, exact: kde_on_cells(bin_res=None)"
PEER = "peer: KernelDensity(epanechnikov, kd_tree, rtol=0) fit + score_samples"
PEER_FIT = "peer: of which fit (KD-tree build)"
PEER_SCORE = "peer: of which score_samples"
PEER_APPROX = f"peer: KernelDensity(epanechnikov, kd_tree, rtol={APPROX_RTOL:g}) fit + score"


def eval_centres() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H3 cells (int64) and BNG centres of the res-9 cells covering Blackburn with Darwen."""
    cells = area_cells(StudyArea().outline(), EVAL_RES)
    return cells["h3"].to_numpy(), cells["x"].to_numpy(), cells["y"].to_numpy()


def brute_kernel_sum(
    x: np.ndarray, y: np.ndarray, qx: np.ndarray, qy: np.ndarray, h: float, kernel: str
) -> np.ndarray:
    """Exact kernel sum at each query point over every point, by plain numpy (no trees)."""
    out = np.empty(qx.size)
    h2 = h * h
    for i in range(qx.size):
        u = ((x - qx[i]) ** 2 + (y - qy[i]) ** 2) / h2
        inside = u < 1.0
        if kernel == "quartic":
            v = (1.0 - u[inside]) ** 2 * (3.0 / (np.pi * h2))
        else:
            v = (1.0 - u[inside]) * (2.0 / (np.pi * h2))
        out[i] = v.sum()
    return out


def _rel_l1(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(a - ref).sum() / np.abs(ref).sum())


class Sides:
    """The timed callables of one size; each returns ({case: seconds}, density per m²)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> None:
        self.x, self.y, self.cx, self.cy = x, y, cx, cy
        self.xy = np.column_stack([x, y])
        self.centres = np.column_stack([cx, cy])
        lat, lng = bng_to_latlng(x, y)
        self.h3 = latlng_to_cells(lat, lng, 12)  # as stored at ingest: untimed input
        self.log_density = np.empty(0)  # the exact peer's last raw output

    def ours(self) -> tuple[dict[str, float], np.ndarray]:
        gc.collect()
        t0 = time.perf_counter()
        d, _ = kde_on_cells(
            self.x, self.y, self.h3, self.cx, self.cy, bandwidth_m=BANDWIDTH_M, bin_res=BIN_RES
        )
        return {OURS: time.perf_counter() - t0}, d

    def ours_indexed(self) -> tuple[dict[str, float], np.ndarray]:
        gc.collect()
        t0 = time.perf_counter()
        lat, lng = bng_to_latlng(self.x, self.y)
        cells = latlng_to_cells(lat, lng, 12)
        d, _ = kde_on_cells(
            self.x, self.y, cells, self.cx, self.cy, bandwidth_m=BANDWIDTH_M, bin_res=BIN_RES
        )
        return {OURS_INDEXED: time.perf_counter() - t0}, d

    def ours_exact(self) -> tuple[dict[str, float], np.ndarray]:
        gc.collect()
        t0 = time.perf_counter()
        d, _ = kde_on_cells(
            self.x, self.y, None, self.cx, self.cy, bandwidth_m=BANDWIDTH_M, bin_res=None
        )
        return {OURS_EXACT: time.perf_counter() - t0}, d

    def _peer(self, rtol: float) -> tuple[float, float, np.ndarray]:
        gc.collect()
        t0 = time.perf_counter()
        kde = KernelDensity(
            kernel="epanechnikov", bandwidth=BANDWIDTH_M, algorithm="kd_tree", rtol=rtol
        ).fit(self.xy)
        t1 = time.perf_counter()
        log_density = kde.score_samples(self.centres)
        t2 = time.perf_counter()
        if rtol == 0.0:
            self.log_density = log_density
        # score_samples is the log of a probability density (1/m², integrating to 1);
        # times n it is events per m², the unit of ours (outside the timing).
        return t1 - t0, t2 - t1, np.exp(log_density) * self.x.size

    def peer(self) -> tuple[dict[str, float], np.ndarray]:
        fit, score, d = self._peer(0.0)
        return {PEER: fit + score, PEER_FIT: fit, PEER_SCORE: score}, d

    def peer_approx(self) -> tuple[dict[str, float], np.ndarray]:
        fit, score, d = self._peer(APPROX_RTOL)
        return {PEER_APPROX: fit + score}, d


def check(sides: Sides, out: dict[str, np.ndarray], log_density_peer: np.ndarray) -> dict[str, Any]:
    """Every agreement promised in the module docstring; stops the run when one fails."""
    ours, exact, peer, approx = out["ours"], out["ours_exact"], out["peer"], out["peer_approx"]
    rng = np.random.default_rng(3)
    pick = np.sort(rng.choice(sides.cx.size, min(CHECK_CELLS, sides.cx.size), replace=False))
    qx, qy = sides.cx[pick], sides.cy[pick]
    brute_q = brute_kernel_sum(sides.x, sides.y, qx, qy, BANDWIDTH_M, "quartic")
    brute_e = brute_kernel_sum(sides.x, sides.y, qx, qy, BANDWIDTH_M, "epanechnikov")
    facts: dict[str, Any] = {
        "cells": int(sides.cx.size),
        "cells_checked_brute_force": int(pick.size),
        "rel_l1_ours_vs_exact_quartic_all_cells": _rel_l1(ours, exact),
        "rel_l1_ours_vs_brute_quartic_sampled_cells": _rel_l1(ours[pick], brute_q),
        "rel_l1_ours_exact_vs_brute_quartic_sampled_cells": _rel_l1(exact[pick], brute_q),
        "rel_l1_ours_indexed_vs_ours": _rel_l1(out["ours_indexed"], ours),
        "rel_l1_peer_vs_brute_epanechnikov_sampled_cells": _rel_l1(peer[pick], brute_e),
        "rel_l1_peer_approx_vs_peer_exact": _rel_l1(approx, peer),
        "max_rel_err_peer_approx_vs_peer_exact": float(
            np.max(np.abs(approx - peer) / np.where(peer > 0, peer, 1.0))
        ),
        "spearman_ours_vs_peer_all_cells": float(spearmanr(ours, peer).statistic),
        "spearman_ours_vs_peer_positive_cells": float(
            spearmanr(ours[peer > 0], peer[peer > 0]).statistic
        ),
        "pearson_ours_vs_peer_all_cells": float(np.corrcoef(ours, peer)[0, 1]),
        "cells_zero_ours_exact": int((exact == 0).sum()),
        "cells_minus_inf_peer": int(np.isneginf(log_density_peer).sum()),
    }
    problems = []
    for name in (
        "rel_l1_ours_vs_exact_quartic_all_cells",
        "rel_l1_ours_vs_brute_quartic_sampled_cells",
    ):
        if not facts[name] < MAX_REL_L1:
            problems.append(f"{name} = {facts[name]:.3%} (must be < {MAX_REL_L1:g})")
    if not facts["rel_l1_ours_exact_vs_brute_quartic_sampled_cells"] < 1e-9:
        problems.append("ours exact (bin_res=None) differs from the brute-force quartic sum")
    if facts["rel_l1_ours_indexed_vs_ours"] != 0.0:
        problems.append("ours with indexing inside the timing gave another answer")
    if not facts["rel_l1_peer_vs_brute_epanechnikov_sampled_cells"] < 1e-9:
        problems.append("the peer (rtol=0) differs from the brute-force Epanechnikov sum")
    if not facts["max_rel_err_peer_approx_vs_peer_exact"] <= APPROX_RTOL * (1 + 1e-6):
        problems.append(f"the peer (rtol={APPROX_RTOL:g}) is outside its tolerance")
    if np.isnan(log_density_peer).any() or np.isposinf(log_density_peer).any():
        problems.append("the peer returned NaN or +inf")
    if not np.array_equal(np.isneginf(log_density_peer), exact == 0):
        problems.append("the peer's zero-density cells differ from ours (the support is the same)")
    if not facts["spearman_ours_vs_peer_all_cells"] > MIN_SPEARMAN:
        problems.append(
            f"Spearman ours/peer {facts['spearman_ours_vs_peer_all_cells']:.4f} <= {MIN_SPEARMAN}"
        )
    if problems:
        msg = "KDE outputs disagree, the timing would be meaningless: " + "; ".join(problems)
        raise SystemExit(msg)
    return facts


def run_size(n: int, repeat: int, cx: np.ndarray, cy: np.ndarray) -> dict[str, Any]:
    """The KDE benchmark at ``n`` points; one result dict."""
    log(f"KDE: {n:,} clustered points, {cx.size:,} res-{EVAL_RES} centres, h = {BANDWIDTH_M} m")
    x, y = clustered_points_bng(n, SEED)
    sides = Sides(x, y, cx, cy)
    runs: dict[str, Callable[[], tuple[dict[str, float], np.ndarray]]] = {
        "ours": sides.ours,
        "ours_indexed": sides.ours_indexed,
        "ours_exact": sides.ours_exact,
        "peer": sides.peer,
        "peer_approx": sides.peer_approx,
    }
    names = (OURS, OURS_INDEXED, OURS_EXACT, PEER, PEER_FIT, PEER_SCORE, PEER_APPROX)
    cases = {name: Timing() for name in names}
    # Warm-up: one call of each side; its outputs are checked before any timing counts.
    outputs = {key: fn()[1] for key, fn in runs.items()}
    facts = check(sides, outputs, sides.log_density)
    log(
        f"  checks passed: ours vs exact quartic rel L1 "
        f"{facts['rel_l1_ours_vs_exact_quartic_all_cells']:.4%}, Spearman ours/peer "
        f"{facts['spearman_ours_vs_peer_all_cells']:.4f}"
    )
    meta: dict[str, Any] = {}
    time_interleaved(runs, cases, repeat, meta)
    _, ours_meta = kde_on_cells(
        x, y, sides.h3, cx, cy, bandwidth_m=BANDWIDTH_M, bin_res=BIN_RES, quiet=True
    )
    return {
        "title": f"KDE at res-{EVAL_RES} centres, {n:,} points",
        "rows": n,
        "cases": {name: t.as_dict(n) for name, t in cases.items()},
        "ratios": [
            compare(cases, OURS, PEER),
            compare(cases, OURS_INDEXED, PEER),
            compare(cases, OURS_EXACT, PEER),
            compare(cases, OURS, PEER_APPROX),
        ],
        "bandwidth_m": BANDWIDTH_M,
        "eval_res": EVAL_RES,
        "bin_res": BIN_RES,
        "n_bins": ours_meta["n_bins"],
        "checks": facts,
        "notes": (
            "Kernels differ: ours is quartic (biweight), the peer Epanechnikov, both with "
            f"support d < {BANDWIDTH_M:g} m; values are compared by rank, not equality. Ours "
            "gets the points' res-12 H3 cells as input (stored at ingest); the 'incl. "
            "indexing' case times computing them. Single-threaded on both sides."
        ),
        **meta,
    }


def run(rows: int, repeat: int) -> list[dict[str, Any]]:
    """The KDE benchmark at ``rows // 10`` and ``rows`` points."""
    _, cx, cy = eval_centres()
    return [run_size(n, repeat, cx, cy) for n in sizes_for(rows)]
