"""DBSCAN: ``models.dbscan.dbscan`` against the ``dbscan`` package, time and peak memory.

The peer is the ``dbscan`` package (pip ``dbscan``; Wang, Gu and Shun 2020,
"Theoretically-efficient and practical parallel DBSCAN", SIGMOD 2020): an
exact grid DBSCAN in C++ on the parlay scheduler, called as
``labels, core = DBSCAN(xy, eps=50.0, min_samples=5)``. Both sides cluster
the same points of :func:`harness.clustered_points_bng` with ``eps`` 50 m and
``min_samples`` 5, at ``rows`` and ``5 * rows`` points.

Four sides, each run in a **fresh Python process** with the worker, warm-up
and peak-memory machinery of bench/dbscan_sklearn.py (peak = VmHWM - VmRSS
just before the call, after a warm-up call on the first 2,000 points):

* ``ours``: ``dbscan(x, y, eps_m=50, min_samples=5)`` as shipped
  (``models.dbscan.THREADS = 2``: independent halves of the work on two threads).
* ``peer``: the package with its default threads (parlay uses every core).
* ``ours_1t``: ours with ``THREADS = 1``.
* ``peer_1t``: the package with ``PARLAY_NUM_THREADS=1``.

The comparison that counts is ``ours`` against ``peer`` (both on their
defaults on this machine); the one-thread pair is recorded beside it. Every
run records its CPU seconds (all threads) and the process's threads after the
call, which shows how many threads each side used.

Before any timing counts, one run of each side saves its labels and the
parent checks that ``ours``, ``ours_1t`` and ``peer_1t`` find the same core
points, the same partition of them into clusters and the same noise points as
``peer``; border points may join another cluster (the package gives a border
point to one of its clusters, ours to its nearest core point), and how many
do is recorded.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: the sibling modules import by name
    sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from dbscan_sklearn import (  # noqa: E402
    EPS_M,
    MIN_SAMPLES,
    WARMUP_POINTS,
    load_points,
    measure,
    ours_call,
    side_by_side,
    worker_main,
)

SIDES = {
    "ours": "ours: models.dbscan.dbscan (THREADS = 2)",
    "peer": "peer: dbscan.DBSCAN (package default threads)",
    "ours_1t": "ours: models.dbscan.dbscan (THREADS = 1)",
    "peer_1t": "peer: dbscan.DBSCAN (PARLAY_NUM_THREADS=1)",
}
ENVS = {"peer_1t": {"PARLAY_NUM_THREADS": "1"}}
PAIRS = [("ours", "peer"), ("ours_1t", "peer_1t"), ("peer_1t", "peer")]
"""``(ours, peer)`` pairs compared; the last checks the one-thread peer against its default."""

SIZE_FACTOR = 5
"""The benchmark runs at ``rows`` and ``SIZE_FACTOR * rows`` points."""


def worker(side: str, points: Path, labels: Path | None) -> dict[str, Any]:
    """One timed call of ``side`` in this (fresh) process; facts as a dict."""
    xy, x, y = load_points(points)
    if side.startswith("ours"):
        call = ours_call(x, y, threads=1 if side == "ours_1t" else 2)
    else:
        from dbscan import DBSCAN

        def call(n: int) -> tuple[np.ndarray, np.ndarray]:
            label, core = DBSCAN(np.ascontiguousarray(xy[:n]), eps=EPS_M, min_samples=MIN_SAMPLES)
            return np.asarray(label, dtype=np.int64), np.asarray(core, dtype=bool)

    return measure(side, int(x.size), call, labels)


def run_size(n: int, repeat: int, work: Path) -> dict[str, Any]:
    """The benchmark at ``n`` points; one result dict."""
    facts = side_by_side(
        n,
        repeat,
        work,
        script=Path(__file__).resolve(),
        sides=SIDES,
        envs=ENVS,
        pairs=PAIRS,
        goals={("ours", "peer"): 1.0},
    )
    ours_mib = facts["cases"][SIDES["ours"]]["peak_mib_median"]
    peer_mib = facts["cases"][SIDES["peer"]]["peak_mib_median"]
    met = "yes" if ours_mib <= peer_mib else "**no**"
    return {
        "title": (
            f"DBSCAN against the dbscan package, eps {EPS_M:g} m, min_samples {MIN_SAMPLES}, "
            f"{n:,} points"
        ),
        **facts,
        "memory_goal_met": ours_mib <= peer_mib,
        "extra_markdown": (
            f"DBSCAN, {n:,} points: peak memory (median) ours {ours_mib:,.1f} MiB, "
            f"the dbscan package {peer_mib:,.1f} MiB; goal ours at most the package's: {met}"
        ),
        "notes": (
            "Each run a fresh process; peak = VmHWM - VmRSS just before the call (VmHWM reset "
            "with /proc/self/clear_refs after a warm-up call on the first "
            f"{WARMUP_POINTS:,} points). OMP/OpenBLAS/MKL threads 1 for all sides; the "
            "package's parlay scheduler uses every core unless PARLAY_NUM_THREADS is set. "
            "cpu_seconds / seconds in each run shows the threads at work."
        ),
    }


def run(rows: int = 1_000_000, repeat: int = 3) -> list[dict[str, Any]]:
    """The benchmark at ``rows`` and ``SIZE_FACTOR * rows`` points."""
    with tempfile.TemporaryDirectory(prefix="engage-bench-dbscan-peer-") as tmp:
        return [run_size(n, repeat, Path(tmp)) for n in (rows, SIZE_FACTOR * rows)]


def main(argv: list[str] | None = None) -> int:
    """``worker SIDE POINTS [--labels FILE]`` (used by :func:`run`)."""
    return worker_main(argv, SIDES, worker)


if __name__ == "__main__":
    sys.exit(main())
