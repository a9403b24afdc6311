"""Getis-Ord Gi* on 100,000 H3 cells: ``models.gistar.gistar`` against esda ``G_Local``.

The cells are a contiguous block of **res-10** H3 cells around a centre in
Blackburn with Darwen: every cell of ``grid_disk(centre, k - 1)`` plus as
many cells of ``grid_ring(centre, k)`` as make exactly ``--gistar-cells``
(default 100,000; k = 183 then, about 1,500 km², half of Lancashire). The
values are counts from a seeded Poisson: a background of mean
:data:`BACKGROUND_MEAN` everywhere, plus one hot cluster per :data:`HOT_PER_CELLS` cells (each
``grid_disk(c, r)`` of a random cell ``c``, ``r`` from 2 to 6) with
:data:`HOT_MEAN` more on average. Neighbours: ``grid_disk(cell, k)`` within
the block, binary weights with the cell itself (the product's Gi*), for
each ``k`` of :data:`KS`.

* **ours**: ``gistar(cells, values, k=k)`` (int64 cells in, z, two-sided
  p, Benjamini-Hochberg ``p_adj`` and classes out). Its weights step,
  ``neighbour_matrix`` (h3ronpy's compiled ``grid_disk`` over every cell,
  then a scipy CSR matrix), is timed inside the same call by a timer wrapped
  around it; *statistic* is the rest of the call (input checks, z, p, BH,
  classes, the frame).
* **peer (W)**: esda's usual route, as ``tests/models/test_gistar.py``
  builds its reference: *weights* = a neighbour dict from h3-py
  (``h3.api.numpy_int.grid_disk`` per cell, kept when inside the block) and
  ``libpysal.weights.W(neighbours)`` (self included, so binary with self);
  *statistic* = ``G_Local(values, w, transform="B", star=True,
  permutations=0)`` on that fresh ``W`` plus what it takes to get the same
  outputs as ours: the two-sided p (``2 * p_norm``; esda's ``p_norm`` is
  one-sided) and ``scipy.stats.false_discovery_control`` (BH).
  ``permutations=0``: esda skips its conditional permutation inference
  (999 permutations by default), which ours does not do either; both give
  analytical (normal) p-values only.
* **peer (Graph)**: libpysal's newer H3 builder, ``Graph.build_h3(hex_ids,
  order=k, weight="binary")`` (a ring-by-ring h3-py loop; it takes hex
  strings, built before timing), then the same ``G_Local`` + p + BH; esda
  gives a ``Graph`` its self-weight of 1 for ``star=True``.
* **reference**: ``G_Local`` called again on a ``W`` it has already used:
  what the statistic costs when one ``W`` serves many runs. (libpysal
  builds a ``W``'s sparse matrix lazily and rebuilds it when esda sets the
  binary transform, so the first ``G_Local`` on a fresh ``W`` pays for
  that; the peer's *statistic* row includes it, as a user's first call does.)

Checks on the warm-up outputs, before any timing counts (the run stops if
one fails): the peers' z equal to ours (max relative difference below
:data:`MAX_REL_DIFF`), ours' p equal to ``2 * p_norm`` and ours' ``p_adj``
equal to scipy's BH of it, the same number of neighbours per cell on all
sides, and the planted clusters' centres hot.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import h3
import h3ronpy
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from h3.api import numpy_int as h3n
from harness import Timing, compare, log, time_interleaved
from scipy import sparse, stats

import models.gistar
from models.gistar import gistar

CENTRE = (53.75, -2.48)  # Blackburn
RES = 10
KS = (1, 2)
SEED = 1
BACKGROUND_MEAN = 0.2
HOT_PER_CELLS = 2_500
"""One hot cluster per this many cells (40 at 100,000 cells)."""
HOT_RADII = (2, 6)
HOT_MEAN = 2.0
MAX_REL_DIFF = 1e-9
DEFAULT_CELLS = 100_000

OURS = "ours: gistar() (weights + z, p, BH p_adj, classes)"
OURS_W = "ours: of which weights (neighbour_matrix, h3ronpy grid_disk + CSR)"
OURS_S = "ours: of which statistic (checks, z, p, BH, classes)"
PEER = "peer (W): h3-py dict + libpysal W + G_Local + p + BH"
PEER_W = "peer (W): of which weights (h3-py grid_disk dict + W(dict))"
PEER_S = "peer (W): of which statistic (G_Local(B, star, permutations=0) + p + BH)"
PEER_G_LOCAL = "peer (W): of which G_Local alone"
GRAPH = "peer (Graph): Graph.build_h3 + G_Local + p + BH"
GRAPH_W = "peer (Graph): of which weights (Graph.build_h3(order=k, binary))"
GRAPH_S = "peer (Graph): of which statistic (G_Local + p + BH)"
REF_AGAIN = "reference: G_Local again on a W already used once"


def study_cells(n: int) -> npt.NDArray[np.int64]:
    """``n`` contiguous res-10 cells: a full disk around :data:`CENTRE` plus part of a ring."""
    centre = h3n.latlng_to_cell(*CENTRE, RES)
    k = 0
    while 3 * (k + 1) * (k + 2) + 1 <= n:  # the largest full disk of at most n cells
        k += 1
    inner = np.asarray(h3n.grid_disk(centre, k), dtype=np.int64)
    ring = np.asarray(h3n.grid_ring(centre, k + 1), dtype=np.int64)
    cells = np.concatenate([inner, ring[: n - inner.size]])
    if cells.size != n or np.unique(cells).size != n:
        msg = f"could not build {n:,} distinct cells around the centre (got {cells.size:,})"
        raise SystemExit(msg)
    return cells


def planted_counts(
    cells: npt.NDArray[np.int64], seed: int = SEED
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Seeded Poisson counts with planted hot clusters; counts and cluster centres."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(BACKGROUND_MEAN, cells.size).astype(np.float64)
    n_hot = max(5, cells.size // HOT_PER_CELLS)
    centres = rng.choice(cells, n_hot, replace=False)
    for r in range(HOT_RADII[0], HOT_RADII[1] + 1):  # a few radii, not a loop over cells
        these = centres[r - HOT_RADII[0] :: HOT_RADII[1] - HOT_RADII[0] + 1]
        disks = pa.array(h3ronpy.grid_disk(these.view(np.uint64), r, flatten=True))
        hot = np.isin(cells, np.asarray(disks, dtype=np.uint64).view(np.int64))
        values[hot] += rng.poisson(HOT_MEAN, int(hot.sum()))
    return values, np.sort(centres)


def neighbour_dict(cells: npt.NDArray[np.int64], k: int) -> dict[int, list[int]]:
    """The peer's neighbour sets: h3-py ``grid_disk`` per cell, kept inside the block."""
    index = {int(c): i for i, c in enumerate(cells)}
    return {
        i: [index[int(d)] for d in h3n.grid_disk(int(c), k) if int(d) in index]
        for i, c in enumerate(cells)
    }


def _two_sided_bh(p_norm: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    p = np.minimum(2.0 * p_norm, 1.0)
    return p, stats.false_discovery_control(p, method="bh")


@contextmanager
def timed_weights(into: dict[str, float]) -> Iterator[None]:
    """Time ``models.gistar.neighbour_matrix`` when ``gistar`` calls it (timer only)."""
    original = models.gistar.neighbour_matrix

    def timed(cells: npt.NDArray[np.int64], *, k: int) -> sparse.csr_matrix:
        t0 = time.perf_counter()
        try:
            return original(cells, k=k)
        finally:
            into["weights"] = into.get("weights", 0.0) + time.perf_counter() - t0

    models.gistar.neighbour_matrix = timed
    try:
        yield
    finally:
        models.gistar.neighbour_matrix = original


class Sides:
    """The timed callables of one ``k``; each returns ({case: seconds}, outputs)."""

    def __init__(self, cells: npt.NDArray[np.int64], values: npt.NDArray[np.float64], k: int):
        self.cells, self.values, self.k = cells, values, k
        self.hexes = [h3.int_to_str(int(c)) for c in cells]  # the Graph peer's input form
        self.used_w: Any = None

    def ours(self) -> tuple[dict[str, float], dict[str, Any]]:
        parts: dict[str, float] = {}
        gc.collect()
        with timed_weights(parts):
            t0 = time.perf_counter()
            frame, meta = gistar(self.cells, self.values, k=self.k)
            total = time.perf_counter() - t0
        times = {OURS: total, OURS_W: parts["weights"], OURS_S: total - parts["weights"]}
        return times, {"frame": frame, "meta": meta}

    def peer(self) -> tuple[dict[str, float], dict[str, Any]]:
        from esda.getisord import G_Local
        from libpysal.weights import W

        gc.collect()
        t0 = time.perf_counter()
        w = W(neighbour_dict(self.cells, self.k), silence_warnings=True)
        t1 = time.perf_counter()
        g = G_Local(self.values, w, transform="B", star=True, permutations=0)
        t2 = time.perf_counter()
        p, p_adj = _two_sided_bh(np.asarray(g.p_norm, dtype=np.float64))
        t3 = time.perf_counter()
        self.used_w = w
        times = {PEER: t3 - t0, PEER_W: t1 - t0, PEER_S: t3 - t1, PEER_G_LOCAL: t2 - t1}
        return times, {"z": np.asarray(g.Zs, dtype=np.float64), "p": p, "p_adj": p_adj, "w": w}

    def graph(self) -> tuple[dict[str, float], dict[str, Any]]:
        from esda.getisord import G_Local
        from libpysal.graph import Graph

        gc.collect()
        t0 = time.perf_counter()
        gr = Graph.build_h3(self.hexes, order=self.k, weight="binary")
        t1 = time.perf_counter()
        g = G_Local(self.values, gr, transform="B", star=True, permutations=0)
        p, p_adj = _two_sided_bh(np.asarray(g.p_norm, dtype=np.float64))
        t2 = time.perf_counter()
        times = {GRAPH: t2 - t0, GRAPH_W: t1 - t0, GRAPH_S: t2 - t1}
        z = np.asarray(g.Zs, dtype=np.float64)
        return times, {"z": z, "p": p, "p_adj": p_adj, "graph": gr}

    def again(self) -> tuple[dict[str, float], dict[str, Any]]:
        from esda.getisord import G_Local

        if self.used_w is None:
            self.peer()
        gc.collect()
        t0 = time.perf_counter()
        g = G_Local(self.values, self.used_w, transform="B", star=True, permutations=0)
        seconds = time.perf_counter() - t0
        return {REF_AGAIN: seconds}, {"z": np.asarray(g.Zs, dtype=np.float64)}


def _max_rel(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(a - ref) / np.maximum(np.abs(ref), 1e-12)))


def check(
    sides: Sides, out: dict[str, dict[str, Any]], hot_centres: npt.NDArray[np.int64]
) -> dict[str, Any]:
    """Every agreement promised in the module docstring; stops the run when one fails."""
    frame = out["ours"]["frame"]
    z = frame["gi_z"].to_numpy()
    peer, graph, again = out["peer"], out["graph"], out["again"]
    n_nb_peer = np.asarray(peer["w"].sparse.getnnz(axis=1), dtype=np.int64) - 1
    gr = graph["graph"]
    n_nb_graph = np.asarray(gr.cardinalities.reindex(sides.hexes).to_numpy(), dtype=np.int64)
    is_hot_centre = np.isin(sides.cells, hot_centres)
    facts: dict[str, Any] = {
        "cells": int(sides.cells.size),
        "k": sides.k,
        "neighbour_entries_incl_self": int((frame["n_neighbours"] + 1).sum()),
        "max_abs_diff_z_peer_w": float(np.max(np.abs(peer["z"] - z))),
        "max_rel_diff_z_peer_w": _max_rel(peer["z"], z),
        "max_rel_diff_z_peer_graph": _max_rel(graph["z"], z),
        "max_rel_diff_z_reference_again": _max_rel(again["z"], z),
        "max_abs_diff_p_ours_vs_2_p_norm": float(np.max(np.abs(peer["p"] - frame["p"]))),
        "max_abs_diff_p_adj_ours_vs_scipy_bh": float(
            np.max(np.abs(peer["p_adj"] - frame["p_adj"]))
        ),
        "max_abs_diff_p_adj_ours_vs_graph_peer": float(
            np.max(np.abs(graph["p_adj"] - frame["p_adj"]))
        ),
        "same_neighbour_counts_w": bool(np.array_equal(n_nb_peer, frame["n_neighbours"])),
        "same_neighbour_counts_graph": bool(np.array_equal(n_nb_graph, frame["n_neighbours"])),
        "graph_nodes": int(gr.n),
        "hot_cells_fdr_5pct": int((frame["p_adj"] <= 0.05).to_numpy()[z > 0].sum()),
        "cold_cells_fdr_5pct": int((frame["p_adj"] <= 0.05).to_numpy()[z < 0].sum()),
        "planted_centres_hot_99": int(
            (frame["gi_class"].to_numpy()[is_hot_centre] == "hot_99").sum()
        ),
        "planted_centres": int(is_hot_centre.sum()),
        "value_mean": float(sides.values.mean()),
        "value_max": float(sides.values.max()),
    }
    problems = []
    for name in (
        "max_rel_diff_z_peer_w",
        "max_rel_diff_z_peer_graph",
        "max_rel_diff_z_reference_again",
    ):
        if not facts[name] < MAX_REL_DIFF:
            problems.append(f"{name} = {facts[name]:.3g} (must be < {MAX_REL_DIFF:g})")
    for name in (
        "max_abs_diff_p_ours_vs_2_p_norm",
        "max_abs_diff_p_adj_ours_vs_scipy_bh",
        "max_abs_diff_p_adj_ours_vs_graph_peer",
    ):
        if not facts[name] < 1e-12:
            problems.append(f"{name} = {facts[name]:.3g} (must be < 1e-12)")
    if not (facts["same_neighbour_counts_w"] and facts["same_neighbour_counts_graph"]):
        problems.append("the sides' neighbour counts differ")
    if facts["graph_nodes"] != sides.cells.size:
        problems.append(f"Graph.build_h3 has {facts['graph_nodes']} nodes, not {sides.cells.size}")
    if facts["planted_centres_hot_99"] < facts["planted_centres"] // 2:
        problems.append(
            f"only {facts['planted_centres_hot_99']} of {facts['planted_centres']} planted "
            "hot clusters' centres come out hot_99"
        )
    if problems:
        msg = "Gi* outputs disagree, the timing would be meaningless: " + "; ".join(problems)
        raise SystemExit(msg)
    return facts


def run_k(
    cells: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    hot: npt.NDArray[np.int64],
    k: int,
    repeat: int,
) -> dict[str, Any]:
    """The Gi* benchmark at one ``k``; one result dict."""
    n = cells.size
    log(f"Gi*: {n:,} res-{RES} cells, grid_disk k = {k}")
    sides = Sides(cells, values, k)
    runs: dict[str, Callable[[], tuple[dict[str, float], dict[str, Any]]]] = {
        "ours": sides.ours,
        "peer": sides.peer,
        "graph": sides.graph,
        "again": sides.again,
    }
    names = (
        OURS, OURS_W, OURS_S, PEER, PEER_W, PEER_S, PEER_G_LOCAL, GRAPH, GRAPH_W, GRAPH_S,
        REF_AGAIN,
    )  # fmt: skip
    cases = {name: Timing() for name in names}
    # Warm-up: one call of each side; its outputs are checked before any timing counts.
    outputs = {key: fn()[1] for key, fn in runs.items()}
    facts = check(sides, outputs, hot)
    del outputs
    log(
        f"  checks passed: max relative difference of z, esda (W) vs ours "
        f"{facts['max_rel_diff_z_peer_w']:.2g}, esda (Graph) vs ours "
        f"{facts['max_rel_diff_z_peer_graph']:.2g}"
    )
    meta: dict[str, Any] = {}
    time_interleaved(runs, cases, repeat, meta)
    return {
        "title": f"Gi* on {n:,} res-{RES} H3 cells, k = {k}",
        "rows": n,
        "cases": {name: t.as_dict(n) for name, t in cases.items()},
        "ratios": [
            compare(cases, OURS, PEER),
            compare(cases, OURS_W, PEER_W),
            compare(cases, OURS_S, PEER_S),
            compare(cases, OURS, GRAPH),
            compare(cases, OURS_W, GRAPH_W),
            compare(cases, OURS_S, GRAPH_S),
            compare(cases, OURS_S, REF_AGAIN),
        ],
        "k": k,
        "res": RES,
        "checks": facts,
        "data": {
            "centre": "Blackburn (53.75, -2.48)",
            "background_mean": BACKGROUND_MEAN,
            "hot_clusters": int(hot.size),
            "hot_radii": list(HOT_RADII),
            "hot_mean": HOT_MEAN,
            "seed": SEED,
        },
        "notes": (
            "esda G_Local with permutations=0 (no permutation inference; analytical normal "
            "p-values only, as ours). The peer's statistic includes 2 * p_norm and scipy's BH "
            "so that both sides give z, two-sided p and BH p_adj; ours' also classes."
        ),
        "extra_markdown": (
            f"Gi* check (k = {k}): max relative difference of z, esda W / Graph vs ours: "
            f"{facts['max_rel_diff_z_peer_w']:.2g} / {facts['max_rel_diff_z_peer_graph']:.2g}; "
            f"max |p_adj - scipy BH|: {facts['max_abs_diff_p_adj_ours_vs_scipy_bh']:.2g}; "
            f"{facts['neighbour_entries_incl_self']:,} neighbour entries (self included)."
        ),
        **meta,
    }


def run(n_cells: int, repeat: int) -> list[dict[str, Any]]:
    """The Gi* benchmark on ``n_cells`` cells, for each ``k`` of :data:`KS`."""
    cells = study_cells(n_cells)
    values, hot = planted_counts(cells)
    return [run_k(cells, values, hot, k, repeat) for k in KS]
