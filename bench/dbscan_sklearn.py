"""DBSCAN: ``models.dbscan.dbscan`` against scikit-learn ``DBSCAN``, time and peak memory.

Both sides cluster the same clustered points (:func:`harness.clustered_points_bng`,
British National Grid metres, saved once to a ``.npy`` file) with
``eps`` = :data:`EPS_M` metres and ``min_samples`` = :data:`MIN_SAMPLES`:

* **ours**: ``dbscan(x, y, eps_m=50, min_samples=5)`` (numpy and scipy) with
  ``models.dbscan.THREADS = 1``, single-threaded like the peer (bench/dbscan_peer.py
  measures it on both cores against the ``dbscan`` package).
* **peer**: ``DBSCAN(eps=50, min_samples=5, algorithm="kd_tree",
  n_jobs=1).fit(xy)``.

Every run of either side is a **fresh Python process** (this file with
``worker``), started with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
``MKL_NUM_THREADS`` set to 1. The worker loads the points, warms up with one
call on the first :data:`WARMUP_POINTS` points, resets the kernel's peak-RSS
mark (``5`` written to ``/proc/self/clear_refs``), reads ``VmRSS``, makes the
timed call, and reads ``VmHWM``: **peak memory = VmHWM - VmRSS before the
call**, i.e. the most extra resident memory the call held at any moment,
its result included. Only the call is timed (not the process start, the
imports or the loading); the parent runs the sides interleaved, in
alternating order.

Before any timing counts, one run of each side saves its labels and the
parent checks that both find **the same core points, the same partition of
the core points into clusters and the same noise points**. Border points
(non-core points within ``eps`` of a core point) may legitimately join a
different cluster: scikit-learn gives a border point to whichever cluster
reaches it first, ours to its nearest core point (models/dbscan.py); how
many differ is recorded.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

EPS_M = 50.0
MIN_SAMPLES = 5
WARMUP_POINTS = 2_000
SEED = 1
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

OURS = "ours: models.dbscan.dbscan (1 thread)"
PEER = "peer: sklearn DBSCAN(algorithm='kd_tree', n_jobs=1)"
SIDES = {"ours": OURS, "peer": PEER}


# ------------------------------------------------------------------- worker


def _status_kib() -> dict[str, int]:
    """``Vm*`` lines of /proc/self/status, in KiB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Vm"):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _threads() -> int:
    """Threads of this process now (entries of /proc/self/task)."""
    return len(os.listdir("/proc/self/task"))


Call = Callable[[int], tuple[np.ndarray, np.ndarray]]
"""``call(n)`` clusters the first ``n`` points; ``(label, core)`` per point."""


def measure(side: str, n_points: int, call: Call, labels: Path | None) -> dict[str, Any]:
    """One timed ``call(n_points)`` after a warm-up, with its peak memory; facts as a dict.

    Also records the call's CPU seconds (all threads) and this process's threads
    after it (a thread pool that stays alive shows here).
    """
    threads_start = _threads()
    call(min(WARMUP_POINTS, n_points))  # warm-up: code paths, caches, thread pools
    gc.collect()
    reset = _reset_peak()
    before = _status_kib()
    cpu = time.process_time()
    start = time.perf_counter()
    label, core = call(n_points)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    after = _status_kib()
    if labels is not None:
        np.savez(labels, label=label, core=core)
    return {
        "side": side,
        "n": n_points,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "threads_at_start": threads_start,
        "threads_after_call": _threads(),
        "rss_before_kib": before["VmRSS"],
        "hwm_kib": after["VmHWM"],
        "peak_kib": after["VmHWM"] - before["VmRSS"],
        "peak_reset": reset,
        "clusters": int(label.max()) + 1,
        "core": int(core.sum()),
        "noise": int((label < 0).sum()),
    }


def load_points(points: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``xy`` (n x 2) and its contiguous columns ``x``, ``y``."""
    xy = np.load(points)
    return xy, np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])


def ours_call(x: np.ndarray, y: np.ndarray, threads: int) -> Call:
    """``models.dbscan.dbscan`` with ``threads`` threads, as a :data:`Call`."""
    import models.dbscan as mod

    mod.THREADS = threads

    def call(n: int) -> tuple[np.ndarray, np.ndarray]:
        frame = mod.dbscan(x[:n], y[:n], eps_m=EPS_M, min_samples=MIN_SAMPLES)
        return frame["cluster"].to_numpy(), frame["core"].to_numpy()

    return call


def worker(side: str, points: Path, labels: Path | None) -> dict[str, Any]:
    """One timed call of ``side`` in this (fresh) process; facts as a dict."""
    xy, x, y = load_points(points)
    if side == "ours":
        call = ours_call(x, y, threads=1)
    else:
        from sklearn.cluster import DBSCAN

        def call(n: int) -> tuple[np.ndarray, np.ndarray]:
            model = DBSCAN(eps=EPS_M, min_samples=MIN_SAMPLES, algorithm="kd_tree", n_jobs=1)
            fit = model.fit(xy[:n])
            core = np.zeros(n, dtype=bool)
            core[fit.core_sample_indices_] = True
            return fit.labels_.astype(np.int64), core

    return measure(side, int(x.size), call, labels)


# ------------------------------------------------------------------- parent


def spawn(
    script: Path,
    side: str,
    points: Path,
    labels: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``script worker side points`` in a fresh process; its facts as a dict.

    ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` are 1,
    then ``env`` is applied.
    """
    full_env = dict(os.environ)
    full_env.update({name: "1" for name in THREAD_ENV})
    full_env.update(env or {})
    cmd = [sys.executable, str(script), "worker", side, str(points)]
    if labels is not None:
        cmd += ["--labels", str(labels)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=full_env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"DBSCAN worker ({side}) failed:\n{done.stderr[-3000:]}"
        raise SystemExit(msg)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - started
    return out


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labelings split the points into the same groups (ids may differ)."""
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def verify(ours: Path, peer: Path) -> dict[str, Any]:
    """Same core points, same partition of them, same noise; border differences counted."""
    o, p = np.load(ours), np.load(peer)
    lab_o, core_o, lab_p, core_p = o["label"], o["core"], p["label"], p["core"]
    problems = []
    if not np.array_equal(core_o, core_p):
        problems.append(f"core sets differ ({int((core_o != core_p).sum())} points)")
    elif not same_partition(lab_o[core_o], lab_p[core_p]):
        problems.append("the core points are split into different clusters")
    if not np.array_equal(lab_o < 0, lab_p < 0):
        problems.append(f"noise sets differ ({int(((lab_o < 0) != (lab_p < 0)).sum())} points)")
    if problems:
        msg = "DBSCAN outputs disagree, the timing would be meaningless: " + "; ".join(problems)
        raise SystemExit(msg)
    # peer cluster id -> ours (a bijection on core points, checked above)
    mapping = np.full(int(lab_p.max()) + 2, -1, dtype=np.int64)
    mapping[lab_p[core_p]] = lab_o[core_o]
    border = ~core_o & (lab_o >= 0)
    moved = int((mapping[lab_p[border]] != lab_o[border]).sum())
    return {
        "same_core_set": True,
        "same_core_partition": True,
        "same_noise_set": True,
        "clusters": int(lab_o.max()) + 1,
        "largest_cluster_points": int(np.bincount(lab_o[lab_o >= 0]).max(initial=0)),
        "core_points": int(core_o.sum()),
        "border_points": int(border.sum()),
        "noise_points": int((lab_o < 0).sum()),
        "border_points_in_another_cluster": moved,
    }


def side_by_side(
    n: int,
    repeat: int,
    work: Path,
    *,
    script: Path,
    sides: dict[str, str],
    envs: dict[str, dict[str, str]],
    pairs: list[tuple[str, str]],
    goals: dict[tuple[str, str], float] | None = None,
) -> dict[str, Any]:
    """Verify, then time ``sides`` (interleaved, fresh processes) at ``n`` points.

    ``sides`` maps a worker side to its case name, ``envs`` gives a side extra
    environment, and ``pairs`` lists ``(ours, peer)`` sides to compare: each
    ``ours`` side's labels are checked against its peer's with :func:`verify`
    before any timing is taken. Returns the facts without the title and notes.
    """
    from harness import Timing, clustered_points_bng, compare, cpu_usage, log

    x, y = clustered_points_bng(n, SEED)
    points = work / f"points_{n}.npy"
    np.save(points, np.column_stack([x, y]))
    del x, y
    log(f"DBSCAN: {n:,} clustered points, eps {EPS_M:g} m, min_samples {MIN_SAMPLES}")
    first = {
        side: spawn(script, side, points, work / f"labels_{side}_{n}.npz", envs.get(side))
        for side in sides
    }
    checks = {}
    for ours, peer in pairs:
        got = verify(work / f"labels_{ours}_{n}.npz", work / f"labels_{peer}_{n}.npz")
        checks[f"{ours} vs {peer}"] = got
        log(
            f"  {ours} vs {peer}: same core set, core partition and noise set "
            f"({got['clusters']:,} clusters, {got['core_points']:,} core, "
            f"{got['noise_points']:,} noise; {got['border_points_in_another_cluster']:,} of "
            f"{got['border_points']:,} border points in another cluster)"
        )
    cases = {name: Timing() for name in sides.values()}
    peaks: dict[str, list[float]] = {name: [] for name in sides.values()}
    runs: list[dict[str, Any]] = []
    meta: dict[str, Any] = {}
    with cpu_usage(meta):
        for r in range(repeat):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for side in order:
                got = spawn(script, side, points, env=envs.get(side))
                name = sides[side]
                cases[name].samples.append(got["seconds"])
                peaks[name].append(got["peak_kib"] / 1024)
                runs.append(got)
                log(
                    f"  run {r + 1}/{repeat} {side}: {got['seconds']:.3f} s "
                    f"(CPU {got['cpu_seconds']:.3f} s), peak +{got['peak_kib'] / 1024:,.1f} MiB"
                )
    case_dicts = {}
    for name, timing in cases.items():
        case_dicts[name] = {
            **timing.as_dict(n),
            "peak_mib_samples": [round(v, 1) for v in peaks[name]],
            "peak_mib_median": round(float(np.median(peaks[name])), 1),
            "peak_mib_max": round(max(peaks[name]), 1),
        }
    peak_ratios = {
        f"{ours} vs {peer}": round(
            case_dicts[sides[peer]]["peak_mib_median"]
            / max(case_dicts[sides[ours]]["peak_mib_median"], 1e-9),
            2,
        )
        for ours, peer in pairs
    }
    return {
        "rows": n,
        "cases": case_dicts,
        "ratios": [
            compare(cases, sides[ours], sides[peer], goal=(goals or {}).get((ours, peer)))
            for ours, peer in pairs
        ],
        "peak_memory_peer_over_ours": peak_ratios,
        "checks": checks,
        "verification_runs": first,
        "runs": runs,
        **meta,
    }


def run_size(n: int, repeat: int, work: Path) -> dict[str, Any]:
    """The DBSCAN benchmark at ``n`` points; one result dict."""
    facts = side_by_side(
        n,
        repeat,
        work,
        script=Path(__file__).resolve(),
        sides=SIDES,
        envs={},
        pairs=[("ours", "peer")],
    )
    return {
        "title": f"DBSCAN eps {EPS_M:g} m, min_samples {MIN_SAMPLES}, {n:,} points",
        **facts,
        "peak_memory_peer_over_ours": facts["peak_memory_peer_over_ours"]["ours vs peer"],
        "notes": (
            "Each run a fresh process; peak = VmHWM - VmRSS just before the call (VmHWM reset "
            "with /proc/self/clear_refs after a warm-up call on the first "
            f"{WARMUP_POINTS:,} points). n_jobs=1 for the peer, ours with THREADS = 1; "
            "OMP/OpenBLAS/MKL threads 1 for both."
        ),
    }


def run(rows: int, repeat: int) -> list[dict[str, Any]]:
    """The DBSCAN benchmark at ``rows // 10`` and ``rows`` points."""
    from harness import sizes_for

    with tempfile.TemporaryDirectory(prefix="engage-bench-dbscan-") as tmp:
        return [run_size(n, repeat, Path(tmp)) for n in sizes_for(rows)]


def worker_main(
    argv: list[str] | None,
    sides: dict[str, str],
    work: Callable[[str, Path, Path | None], dict[str, Any]],
) -> int:
    """Command line of a worker process: ``worker SIDE POINTS [--labels FILE]``."""
    parser = argparse.ArgumentParser(description="one DBSCAN run (used by bench/run.py)")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("side", choices=tuple(sides))
    w.add_argument("points", type=Path)
    w.add_argument("--labels", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(work(args.side, args.points, args.labels)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return worker_main(argv, SIDES, worker)


if __name__ == "__main__":
    sys.exit(main())
