"""Assigning points to imported areas: ``geo.areas.assign_points`` against a GeoPandas ``sjoin``.

The product's issue: "Assigning 1M points to 10,000 imported neighbourhood
polygons, against a GeoPandas ``sjoin`` of the same". ``engage areas import``
stores the polygons and assigns every stored point to them with
``assign_points`` (api/usecases/areas.py); this benchmark times that call.

**Data** (deterministic, seed :data:`SEED`, British National Grid metres):

* **Areas**: ``--areas`` (default 10,000) polygons tiling a 60 x 50 km box
  (:data:`BOX`, the size of a county): the Voronoi cells of as many random
  seeds, clipped to the box. Their edges are cut every :data:`SEGMENT_M`
  metres and moved by a smooth displacement of the plane (:func:`wiggle`),
  then polygonised again, so neighbours share every vertex of their common
  edge (no gaps, no overlaps) and each polygon has about 90 vertices, like a
  generalised boundary rather than a 6-vertex cell. Codes are
  ``N00000``... given at random (code order says nothing of place).
* **Points**: ``--rows`` (default 1,000,000): :data:`HOTSPOT_SHARE` around
  :data:`N_HOTSPOTS` hot spots (Gaussian, spread lognormal), the rest uniform
  over the box widened by :data:`MARGIN_M` (so some points are in no area,
  which exercises the nearest-area rule). Then :data:`SNAP_SHARE` of the
  rows are replaced by exact copies of :data:`SNAP_POINTS` of them, as
  police.uk's anonymised snap points repeat; rows in random order.

**Cases**, each run a fresh Python process (this file with ``worker``) that
loads the data (polygons from WKB: new geometry objects, nothing indexed or
prepared), warms up on :data:`WARMUP_POINTS` points against another copy of
the layer, then makes the one timed call, as an import does with a frame it
has just read:

* **ours**: ``assign_points(layer, x, y, tolerance_m=0)`` and ``=250`` (the
  default: points in no area take the nearest within 250 m).
* **peer**: ``gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y))``,
  ``gpd.sjoin(points, polys, predicate="intersects", how="left")`` and the
  lowest code per point (the layer sorted by code first, so the lowest code
  is the smallest ``index_right``: a groupby on integers, several times
  faster than one on the code strings). For 250 m, the points left without
  an area then go through ``gpd.sjoin_nearest(..., max_distance=250)``.

Before any timing counts one run of each case saves its codes and the
parent checks **ours equal to the peer's, point for point**, at 0 and at
250 m. Peak memory as bench/dbscan_sklearn.py: ``VmHWM`` reset before the
call, **peak = VmHWM - VmRSS before the call**. The load average is read
before and after every run.
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

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a worker: the sibling modules import by name
    sys.path.insert(0, str(HERE))

SEED = 1
BOX = (330_000.0, 400_000.0, 390_000.0, 450_000.0)
"""60 x 50 km of British National Grid (min x, min y, max x, max y)."""
SEGMENT_M = 25.0
N_HOTSPOTS = 2_000
HOTSPOT_SHARE = 0.7
HOTSPOT_SD_M = (250.0, 0.5, 30.0, 1_000.0)
"""Hot spot spread: lognormal median (m), log-sd, and the clip range (m)."""
MARGIN_M = 500.0
SNAP_SHARE = 0.2
SNAP_POINTS = 20_000
TOLERANCE_M = 250.0
WARMUP_POINTS = 5_000
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

CASES = {
    "ours0": "ours: assign_points(tolerance_m=0)",
    "peer0": "peer: points_from_xy + sjoin(intersects) + lowest code",
    "ours250": f"ours: assign_points(tolerance_m={TOLERANCE_M:g})",
    "peer250": f"peer: the same + sjoin_nearest(max_distance={TOLERANCE_M:g}) for the rest",
}
TOLERANCE = {"ours0": 0.0, "peer0": 0.0, "ours250": TOLERANCE_M, "peer250": TOLERANCE_M}


# --------------------------------------------------------------------- data


def wiggle(coords: np.ndarray) -> np.ndarray:
    """A smooth displacement of the plane (at most 18 m, slope under 1): one-to-one,
    so edges moved by it still meet only where they met."""
    x, y = coords[:, 0], coords[:, 1]
    dx = 12.0 * np.sin(y / 37.0) + 6.0 * np.sin((x + y) / 23.0)
    dy = 12.0 * np.sin(x / 41.0) + 6.0 * np.sin((x - y) / 29.0)
    return np.column_stack([x + dx, y + dy])


def make_areas(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n`` polygons tiling :data:`BOX` and their codes (random order)."""
    import shapely

    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = BOX
    seeds = shapely.multipoints(np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)]))
    box = shapely.box(*BOX)
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box
    )
    edges = shapely.segmentize(shapely.union_all(shapely.boundary(cells)), SEGMENT_M)
    edges = shapely.transform(edges, wiggle)
    polys = shapely.get_parts(shapely.polygonize(shapely.get_parts(edges)))
    if polys.size != n or not shapely.is_valid(polys).all():
        msg = f"the tiling came out as {polys.size} polygons, not {n} valid ones"
        raise SystemExit(msg)
    codes = np.array([f"N{k:05d}" for k in rng.permutation(n)], dtype=object)
    return polys, codes


def make_points(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points (x, y) as described in the module docstring."""
    rng = np.random.default_rng(seed + 1)
    x0, y0, x1, y1 = BOX
    cx, cy = rng.uniform(x0, x1, N_HOTSPOTS), rng.uniform(y0, y1, N_HOTSPOTS)
    median, log_sd, low, high = HOTSPOT_SD_M
    sd = np.clip(rng.lognormal(np.log(median), log_sd, N_HOTSPOTS), low, high)
    k = int(n * HOTSPOT_SHARE)
    which = rng.integers(0, N_HOTSPOTS, k)
    x = np.concatenate(
        [
            cx[which] + rng.normal(size=k) * sd[which],
            rng.uniform(x0 - MARGIN_M, x1 + MARGIN_M, n - k),
        ]
    )
    y = np.concatenate(
        [
            cy[which] + rng.normal(size=k) * sd[which],
            rng.uniform(y0 - MARGIN_M, y1 + MARGIN_M, n - k),
        ]
    )
    order = rng.permutation(n)
    x, y = x[order], y[order]
    snaps = min(SNAP_POINTS, n)
    copies = rng.choice(n, int(n * SNAP_SHARE), replace=False)
    copies = copies[copies >= snaps]
    source = rng.integers(0, snaps, copies.size)
    x[copies], y[copies] = x[source], y[source]
    return x, y


def save(work: Path, polys: np.ndarray, codes: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """The layer as concatenated WKB with offsets, the codes, and the points."""
    import shapely

    wkb = shapely.to_wkb(polys)
    sizes = np.array([len(b) for b in wkb], dtype=np.int64)
    blob = np.frombuffer(b"".join(wkb), dtype=np.uint8)
    np.savez(work / "areas.npz", blob=blob, sizes=sizes, codes=codes.astype(str))
    np.save(work / "points.npy", np.column_stack([x, y]))


def load_layer(work: Path) -> Any:
    """A new GeoDataFrame of the areas: new geometry objects, nothing indexed."""
    import geopandas as gpd
    import shapely

    data = np.load(work / "areas.npz")
    blob, ends = data["blob"].tobytes(), np.cumsum(data["sizes"])
    wkb = [blob[a:b] for a, b in zip(np.r_[0, ends[:-1]], ends, strict=True)]
    codes = data["codes"].astype(object)
    return gpd.GeoDataFrame({"code": codes}, geometry=shapely.from_wkb(wkb), crs=27700)


# -------------------------------------------------------------------- sides


def peer_assign(layer: Any, x: np.ndarray, y: np.ndarray, tolerance_m: float) -> np.ndarray:
    """The lowest code of the areas meeting each point with GeoPandas (None outside);
    with a tolerance, points in none take the nearest area within it."""
    import geopandas as gpd

    polys = layer[["code", "geometry"]].sort_values("code").reset_index(drop=True)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=layer.crs)
    joined = gpd.sjoin(points, polys, predicate="intersects", how="left")
    lowest = joined.groupby(level=0)["index_right"].min()  # every point; NaN in none
    if tolerance_m > 0:
        none = lowest.index[lowest.isna()]
        near = gpd.sjoin_nearest(points.loc[none], polys, how="inner", max_distance=tolerance_m)
        lowest.loc[near.index.unique()] = near.groupby(level=0)["index_right"].min()
    codes = np.full(x.size, None, dtype=object)
    found = lowest.notna().to_numpy()
    codes[lowest.index.to_numpy()[found]] = polys["code"].to_numpy()[
        lowest.to_numpy()[found].astype(np.int64)
    ]
    return codes


def _side(case: str) -> Callable[[Any, np.ndarray, np.ndarray], np.ndarray]:
    from geo.areas import assign_points

    tolerance = TOLERANCE[case]
    if case.startswith("ours"):
        return lambda layer, x, y: assign_points(layer, x, y, tolerance_m=tolerance)
    return lambda layer, x, y: peer_assign(layer, x, y, tolerance)


# ------------------------------------------------------------------- worker


def _status_kib() -> dict[str, int]:
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Vm"):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def worker(case: str, work: Path, codes_out: Path | None) -> dict[str, Any]:
    """One timed call of ``case`` in this (fresh) process; facts as a dict."""
    xy = np.load(work / "points.npy")
    x, y = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    call = _side(case)
    call(load_layer(work), x[:WARMUP_POINTS], y[:WARMUP_POINTS])  # imports, code paths
    layer = load_layer(work)
    gc.collect()
    reset = _reset_peak()
    before = _status_kib()
    start = time.perf_counter()
    codes = call(layer, x, y)
    seconds = time.perf_counter() - start
    after = _status_kib()
    if codes_out is not None:
        np.save(codes_out, np.array(["" if c is None else str(c) for c in codes.tolist()]))
    return {
        "case": case,
        "n": int(x.size),
        "seconds": seconds,
        "rss_before_kib": before["VmRSS"],
        "hwm_kib": after["VmHWM"],
        "peak_kib": after["VmHWM"] - before["VmRSS"],
        "peak_reset": reset,
        "assigned": int(sum(c is not None for c in codes.tolist())),
    }


# ------------------------------------------------------------------- parent


def _spawn(case: str, work: Path, codes_out: Path | None = None) -> dict[str, Any]:
    env = dict(os.environ)
    env.update({name: "1" for name in THREAD_ENV})
    # the worker times the product of this checkout, whatever is installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(Path(__file__).resolve()), "worker", case, str(work)]
    if codes_out is not None:
        cmd += ["--codes", str(codes_out)]
    load_before = os.getloadavg()[0]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"areas worker ({case}) failed:\n{done.stderr[-3000:]}"
        raise SystemExit(msg)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["load_1min_before"] = round(load_before, 2)
    out["load_1min_after"] = round(os.getloadavg()[0], 2)
    return out


def describe(polys: np.ndarray, x: np.ndarray, y: np.ndarray, work: Path) -> dict[str, Any]:
    """Facts of the data, and of the answer (from the saved codes of the check runs)."""
    import shapely

    vertices = shapely.get_num_coordinates(polys)
    xy = np.empty(x.size, dtype=np.complex128)
    xy.real, xy.imag = x, y
    at0 = np.load(work / "codes_ours0.npy")
    at250 = np.load(work / "codes_ours250.npy")
    return {
        "areas": int(polys.size),
        "area_km2": round(float(shapely.area(polys).sum()) / 1e6, 1),
        "vertices_median": int(np.median(vertices)),
        "vertices_mean": round(float(vertices.mean()), 1),
        "vertices_max": int(vertices.max()),
        "points": int(x.size),
        "distinct_points": int(np.unique(xy).size),
        "points_in_no_area": int((at0 == "").sum()),
        "points_within_tolerance_of_an_area": int(((at0 == "") & (at250 != "")).sum()),
        "points_left_out_at_tolerance": int((at250 == "").sum()),
        "areas_holding_a_point": int(np.unique(at0[at0 != ""]).size),
    }


def verify(
    work: Path, polys: np.ndarray, codes: np.ndarray, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """Ours equal to the peer's, point for point, at 0; at the tolerance too, but for
    points equally near two areas (the peer takes the lowest code of those, ours
    the one its nearest-neighbour query meets first): each such point is checked
    to be at the same distance, within the tolerance, from both answers."""
    import shapely

    facts: dict[str, Any] = {}
    problems = []
    for tol in ("0", "250"):
        ours = np.load(work / f"codes_ours{tol}.npy")
        peer = np.load(work / f"codes_peer{tol}.npy")
        differ = np.flatnonzero(ours != peer)
        facts[f"points_differing_at_{tol}"] = int(differ.size)
        if differ.size == 0:
            continue
        if tol == "0" or np.any(ours[differ] == "") or np.any(peer[differ] == ""):
            problems.append(f"{differ.size:,} points get another code at tolerance {tol}")
            continue
        where = {str(c): i for i, c in enumerate(codes.tolist())}
        point = shapely.points(x[differ], y[differ])
        d_ours = shapely.distance(point, polys[[where[c] for c in ours[differ]]])
        d_peer = shapely.distance(point, polys[[where[c] for c in peer[differ]]])
        tie = (np.abs(d_ours - d_peer) <= 1e-9 * np.maximum(d_peer, 1.0)) & (d_ours <= TOLERANCE_M)
        facts[f"ties_at_{tol}"] = {
            "points": int(differ.size),
            "distinct_points": int(np.unique(x[differ] + 1j * y[differ]).size),
            "all_equally_near_both_answers": bool(tie.all()),
            "distance_m_min_max": [float(d_ours.min()), float(d_ours.max())],
        }
        if not tie.all():
            problems.append(f"{int((~tie).sum()):,} points get another code at tolerance {tol}")
    if problems:
        msg = "area assignments disagree, the timing would be meaningless: " + "; ".join(problems)
        raise SystemExit(msg)
    return facts


def run(rows: int, repeat: int, n_areas: int = 10_000) -> list[dict[str, Any]]:
    """The areas benchmark; one result dict."""
    from harness import Timing, code_version, compare, cpu_usage, log

    log(f"Areas: {n_areas:,} polygons, {rows:,} points")
    started = time.perf_counter()
    polys, codes = make_areas(n_areas)
    x, y = make_points(rows)
    made_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="engage-bench-areas-") as tmp:
        work = Path(tmp)
        save(work, polys, codes, x, y)
        first = {case: _spawn(case, work, work / f"codes_{case}.npy") for case in CASES}
        checks = verify(work, polys, codes, x, y)
        facts = describe(polys, x, y, work)
        ties = checks.get("ties_at_250", {}).get("points", 0)
        log(
            f"  same codes as the peer for all {rows:,} points at 0 m, and at {TOLERANCE_M:g} m "
            f"but for {ties:,} points equally near two areas (checked) "
            f"({facts['distinct_points']:,} distinct, {facts['points_in_no_area']:,} in no "
            f"area, {facts['points_within_tolerance_of_an_area']:,} of them within "
            f"{TOLERANCE_M:g} m)"
        )
        cases = {name: Timing() for name in CASES.values()}
        peaks: dict[str, list[float]] = {name: [] for name in CASES.values()}
        runs: list[dict[str, Any]] = []
        meta: dict[str, Any] = {}
        with cpu_usage(meta):
            for r in range(repeat):
                order = list(CASES) if r % 2 == 0 else list(reversed(CASES))
                for case in order:
                    got = _spawn(case, work)
                    name = CASES[case]
                    cases[name].samples.append(got["seconds"])
                    peaks[name].append(got["peak_kib"] / 1024)
                    runs.append(got)
                    log(
                        f"  run {r + 1}/{repeat} {case}: {got['seconds']:.3f} s, peak "
                        f"+{got['peak_kib'] / 1024:,.1f} MiB, load {got['load_1min_after']:.2f}"
                    )
    case_dicts = {}
    for name, timing in cases.items():
        case_dicts[name] = {
            **timing.as_dict(rows),
            "peak_mib_samples": [round(v, 1) for v in peaks[name]],
            "peak_mib_median": round(float(np.median(peaks[name])), 1),
            "peak_mib_max": round(max(peaks[name]), 1),
        }
    loads = [v for got in runs for v in (got["load_1min_before"], got["load_1min_after"])]
    return [
        {
            "title": f"Areas: {rows:,} points to {n_areas:,} polygons",
            "rows": rows,
            "cases": case_dicts,
            "ratios": [
                compare(cases, CASES["ours0"], CASES["peer0"]),
                compare(cases, CASES["ours250"], CASES["peer250"]),
            ],
            "data": facts,
            "data_made_s": round(made_s, 1),
            "code": code_version(),
            "checks": checks,
            "verification_runs": first,
            "runs": runs,
            "load_1min_min_max": [min(loads), max(loads)],
            "notes": (
                "Each run a fresh process with the layer read from WKB (nothing indexed or "
                "prepared), after a warm-up on another copy; peak = VmHWM - VmRSS just before "
                "the call. Single-threaded on both sides."
            ),
            **meta,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one areas run (used by bench/run.py)")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("case", choices=tuple(CASES))
    w.add_argument("work", type=Path)
    w.add_argument("--codes", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(worker(args.case, args.work, args.codes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
