"""H3 indexing: ``geo.h3index`` against per-row h3-py loops.

* ``latlng_to_cells(lat, lng, 12)`` (h3ronpy's compiled loop on one slice per
  available core, in threads, plus our checks) against itself on one thread
  (``threads=1``: the speed-up from the second core) and against
  ``[h3.latlng_to_cell(a, b, 12) for a, b in zip(lat, lng)]`` with the
  default string API and with ``h3.api.numpy_int`` (ints, so no hex strings
  are built). h3ronpy called directly (one thread) is timed as the reference
  and the limit: its per-point cost is the library's own, and divided by the
  cores it is the most any caller of the library can reach here.
* ``cells_to_parent(cells, 9)`` (bit operations on the whole int64 array)
  against per-row ``h3.cell_to_parent(c, 9)`` loops (string and numpy_int APIs).

Every side gets the same points (the same numpy arrays the ingest benchmark
writes to its CSV). The outputs of the warm-up calls are compared cell for
cell before any timing counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h3
import h3.api.numpy_int as h3_int
import h3ronpy.vector
import numpy as np
from harness import Timing, compare, cpu_usage, limit, log, synthetic_points, timed

from geo.h3index import available_cores, cells_to_parent, index_threads, latlng_to_cells

STORE_RES = 12
PARENT_RES = 9
OURS_INDEX = "ours: geo.h3index.latlng_to_cells (all cores)"
OURS_ONE = "ours: geo.h3index.latlng_to_cells(threads=1)"


def _check_equal(name: str, ours: np.ndarray, theirs: np.ndarray) -> None:
    if ours.shape != theirs.shape or not np.array_equal(ours, theirs):
        bad = int(np.count_nonzero(ours != theirs)) if ours.shape == theirs.shape else -1
        msg = f"{name}: outputs differ from ours ({bad} cells); the timing would be meaningless."
        raise SystemExit(msg)


def _as_int64_from_str(cells: list[str]) -> np.ndarray:
    return np.array([h3.str_to_int(c) for c in cells], dtype=np.uint64).view(np.int64)


def _as_int64(cells: list[Any]) -> np.ndarray:
    return np.array(cells, dtype=np.uint64).view(np.int64)


def _run_cases(
    cases: dict[str, Callable[[], Any]],
    verify: dict[str, Callable[[Any], np.ndarray]],
    reference: str,
    repeat: int,
) -> dict[str, Timing]:
    """Warm each case up once, check its output against ``reference``, then time them."""
    outputs = {}
    for name, fn in cases.items():
        outputs[name] = verify[name](fn())
    for name, out in outputs.items():
        _check_equal(name, outputs[reference], out)
    log(f"  outputs equal across {len(cases)} cases ({outputs[reference].size:,} cells)")
    timings = {name: Timing() for name in cases}
    for r in range(repeat):
        # Interleaved, in alternating order, so drifting load hits every case alike.
        order = list(cases) if r % 2 == 0 else list(reversed(cases))
        for name in order:
            seconds, _ = timed(cases[name])
            timings[name].samples.append(seconds)
            log(f"  run {r + 1}/{repeat} {name}: {seconds:.3f} s")
    return timings


def run(rows: int, repeat: int) -> list[dict[str, Any]]:
    """Both H3 benchmarks; one result dict each."""
    lat, lng = synthetic_points(rows, 2)
    results = []

    # ------------------------------------------------------------ latlng -> cell
    threads = index_threads(rows)
    log(f"H3 indexing: {rows:,} points at res {STORE_RES}, {threads} thread(s)")
    index_cases: dict[str, Callable[[], Any]] = {
        OURS_INDEX: lambda: latlng_to_cells(lat, lng, STORE_RES),
        OURS_ONE: lambda: latlng_to_cells(lat, lng, STORE_RES, threads=1),
        "reference: h3ronpy.vector.coordinates_to_cells": lambda: (
            h3ronpy.vector.coordinates_to_cells(lat, lng, STORE_RES)
        ),
        "peer: h3.latlng_to_cell loop (str)": lambda: [
            h3.latlng_to_cell(a, b, STORE_RES) for a, b in zip(lat, lng, strict=True)
        ],
        "peer: h3.api.numpy_int.latlng_to_cell loop": lambda: [
            h3_int.latlng_to_cell(a, b, STORE_RES) for a, b in zip(lat, lng, strict=True)
        ],
    }
    index_verify: dict[str, Callable[[Any], np.ndarray]] = {
        OURS_INDEX: lambda out: out,
        OURS_ONE: lambda out: out,
        "reference: h3ronpy.vector.coordinates_to_cells": lambda out: np.asarray(out).view(
            np.int64
        ),
        "peer: h3.latlng_to_cell loop (str)": _as_int64_from_str,
        "peer: h3.api.numpy_int.latlng_to_cell loop": _as_int64,
    }
    meta: dict[str, Any] = {}
    with cpu_usage(meta):
        timings = _run_cases(index_cases, index_verify, OURS_INDEX, repeat)
    ours = OURS_INDEX
    ref = "reference: h3ronpy.vector.coordinates_to_cells"
    per_point_us = 1e6 * timings[ref].median / rows
    limit_s = timings[ref].median / threads
    results.append(
        {
            "title": f"H3 latlng -> cell (res {STORE_RES})",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in timings.items()},
            "ratios": [
                compare(timings, ours, "peer: h3.latlng_to_cell loop (str)"),
                compare(timings, ours, "peer: h3.api.numpy_int.latlng_to_cell loop"),
                compare(timings, ours, OURS_ONE, goal=1.8 if threads >= 2 else None),
                compare(timings, ours, ref),
            ],
            "threads": threads,
            "limits": [
                limit(
                    f"h3ronpy's own cost per point on one thread ({per_point_us:.3f} us) "
                    f"over {threads} core(s)",
                    limit_s,
                    timings[ours].median,
                )
            ],
            "notes": (
                "Same float64 numpy arrays for every side; the loops iterate them with zip. "
                "Outputs compared cell for cell (as int64) before timing. "
                f"Ours ran on {threads} thread(s) ({available_cores()} cores available)."
            ),
            **meta,
        }
    )

    # ------------------------------------------------------------ cell -> parent
    cells = latlng_to_cells(lat, lng, STORE_RES)
    as_str = [h3.int_to_str(c) for c in cells.tolist()]
    as_int = cells.tolist()
    log(f"H3 parents: {rows:,} res-{STORE_RES} cells to res {PARENT_RES}")
    parent_cases: dict[str, Callable[[], Any]] = {
        "ours: geo.h3index.cells_to_parent": lambda: cells_to_parent(cells, PARENT_RES),
        "peer: h3.cell_to_parent loop (str)": lambda: [
            h3.cell_to_parent(c, PARENT_RES) for c in as_str
        ],
        "peer: h3.api.numpy_int.cell_to_parent loop": lambda: [
            h3_int.cell_to_parent(c, PARENT_RES) for c in as_int
        ],
    }
    parent_verify: dict[str, Callable[[Any], np.ndarray]] = {
        "ours: geo.h3index.cells_to_parent": lambda out: out,
        "peer: h3.cell_to_parent loop (str)": _as_int64_from_str,
        "peer: h3.api.numpy_int.cell_to_parent loop": _as_int64,
    }
    meta = {}
    with cpu_usage(meta):
        timings = _run_cases(
            parent_cases, parent_verify, "ours: geo.h3index.cells_to_parent", repeat
        )
    ours = "ours: geo.h3index.cells_to_parent"
    results.append(
        {
            "title": f"H3 cell -> parent (res {STORE_RES} -> {PARENT_RES})",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in timings.items()},
            "ratios": [
                compare(timings, ours, "peer: h3.cell_to_parent loop (str)"),
                compare(timings, ours, "peer: h3.api.numpy_int.cell_to_parent loop"),
            ],
            "notes": (
                "Inputs in each API's own form, built before timing: an int64 array for ours, "
                "hex strings for the str API, Python ints for numpy_int. Outputs compared "
                "cell for cell before timing."
            ),
            **meta,
        }
    )
    return results
