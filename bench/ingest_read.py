"""The read and check half of an ingest: ``ingest_file`` into a writer that keeps nothing.

Both sides start from the same synthetic incident CSV (bench/harness.py
``write_incidents``) and end with every row in memory, read and typed.

* **ours**: ``ingest_file(store, "incidents", csv)`` into a store whose
  writer drops each staged chunk: read the CSV in chunks (Arrow's CSV
  parser), check every row (ids, duplicates, dates, coordinates, study
  area), H3 res-12 cells, district/ward/LSOA assignment and content hashes:
  everything an ingest does before its rows reach a store.
* **peer**: the read step of the GeoPandas pipeline of the PostGIS ingest
  benchmark, ``pd.read_csv(parse_dates=...)`` + ``gpd.points_from_xy``: no
  checks, no H3, no areas.
* **limit**: ``pyarrow.csv.read_csv`` of the file with the columns typed
  (the parse alone, on both cores).

Run by hand (``python bench/ingest_read.py --rows 1000000``) or from
bench/run.py; never in the test suite.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from harness import Timing, compare, cpu_usage, log, timed, write_incidents

from geo.ingest import ingest_file
from geo.store import UpsertResult

OURS = "ours: ingest_file read + checks + H3 + areas + hashes (no store)"
PEER = "peer: read_csv + points_from_xy"
LIMIT = "limit: pyarrow.csv.read_csv, typed"
WARMUP_ROWS = 20_000


class _Dropping:
    """A writer that counts the rows staged and keeps none."""

    def __init__(self) -> None:
        self.rows = 0

    def stage(self, table: Any, frame: pd.DataFrame, **_: Any) -> None:
        self.rows += len(frame)

    def put_features(self, *_: Any, **__: Any) -> int:
        return 0

    def finish(self) -> dict[str, UpsertResult]:
        return {}


class _NoStore:
    def __init__(self) -> None:
        self.last = _Dropping()

    @contextmanager
    def writer(self) -> Iterator[_Dropping]:
        self.last = _Dropping()
        yield self.last


def _ours(csv: Path, quarantine: Path, rows: int) -> float:
    store = _NoStore()
    seconds, report = timed(
        lambda: ingest_file(store, "incidents", csv, quarantine_dir=quarantine)  # type: ignore[arg-type]
    )
    if report.rows_stored != rows or store.last.rows != rows:
        msg = f"ours checked {report.as_dict()} instead of {rows} good rows"
        raise SystemExit(msg)
    return seconds


def _peer(csv: Path, rows: int) -> float:
    def read() -> int:
        frame = pd.read_csv(csv, parse_dates=["occurred_at"])
        gdf = gpd.GeoDataFrame(
            frame, geometry=gpd.points_from_xy(frame["lng"], frame["lat"]), crs="EPSG:4326"
        )
        return len(gdf)

    seconds, n = timed(read)
    if n != rows:
        msg = f"peer read {n} rows instead of {rows}"
        raise SystemExit(msg)
    return seconds


def _limit(csv: Path, rows: int) -> float:
    types = {
        "incident_id": pa.string(),
        "category": pa.string(),
        "occurred_at": pa.timestamp("s"),
        "lat": pa.float64(),
        "lng": pa.float64(),
    }
    options = pacsv.ConvertOptions(column_types=types)
    seconds, table = timed(lambda: pacsv.read_csv(csv, convert_options=options))
    if table.num_rows != rows:
        msg = f"limit read {table.num_rows} rows instead of {rows}"
        raise SystemExit(msg)
    return seconds


def run(rows: int, repeat: int) -> list[dict[str, Any]]:
    """The read-and-check benchmark; one result dict."""
    cases = {name: Timing() for name in (OURS, PEER, LIMIT)}
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-") as tmp:
        work = Path(tmp)
        log(f"Ingest read: writing {rows:,} synthetic incidents to CSV")
        csv = write_incidents(work / "incidents.csv", rows)
        warm = write_incidents(work / "warmup.csv", min(rows, WARMUP_ROWS))
        meta["csv_mb"] = round(csv.stat().st_size / 2**20, 1)
        quarantine = work / "quarantine"
        log("Ingest read: warm-up (one small run each side)")
        _ours(warm, quarantine, min(rows, WARMUP_ROWS))
        _peer(warm, min(rows, WARMUP_ROWS))
        with cpu_usage(meta):
            for r in range(repeat):
                order = [OURS, PEER, LIMIT] if r % 2 == 0 else [PEER, OURS, LIMIT]
                for name in order:
                    if name == OURS:
                        seconds = _ours(csv, quarantine, rows)
                    elif name == PEER:
                        seconds = _peer(csv, rows)
                    else:
                        seconds = _limit(csv, rows)
                    cases[name].samples.append(seconds)
                    log(f"  run {r + 1}/{repeat} {name.split(':')[0]}: {seconds:.2f} s")
    return [
        {
            "title": "Ingest: read and check (no store)",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in cases.items()},
            "ratios": [compare(cases, OURS, PEER), compare(cases, OURS, LIMIT)],
            "notes": (
                "Ours checks every row, indexes H3, assigns district/ward/LSOA and hashes "
                "each row's content; the peer only parses the CSV and builds points. The "
                "limit is Arrow's typed CSV parse of the same file."
            ),
            **meta,
        }
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for result in run(args.rows, args.repeat):
        for name, case in result["cases"].items():
            print(f"{name}: median {case.get('median_s', case)}", file=sys.stdout)
        print(result["ratios"])
