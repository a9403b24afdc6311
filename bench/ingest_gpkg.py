"""Ingest into a new GeoPackage: ``geo.ingest.ingest_file`` against ogr2ogr and GeoPandas.

All sides start from the same synthetic incident CSV as the PostGIS ingest
benchmark (bench/ingest_postgis.py) and end with a new GeoPackage file holding
the rows and an R-tree spatial index.

* **ours**: ``GpkgStore(path).init()`` then ``ingest_file(store, "incidents",
  csv)``: read the CSV in chunks, check every row, H3 res-12 cells,
  ward/LSOA/district assignment, content hashes, then (the table being empty)
  the first-load path: rows inserted straight into the table under the
  write lock, on a thread of their own while the next chunk is checked, with
  its indexes (the key's too) and R-tree triggers dropped, then the key and
  four B-tree indexes built and the R-tree packed, one transaction. Then the
  same file again (**re-ingest**, staged upsert), which must change nothing.
  The write half (time inside ``_Writer.stage`` plus the last phase) is timed
  too; with the inserts on their own thread, ``stage`` only hands them over,
  and the last phase starts by waiting for the inserts still queued.
* **peer ogr2ogr** (GDAL, Debian ``gdal-bin``): ``ogr2ogr -f GPKG out.gpkg
  file.csv -oo X_POSSIBLE_NAMES=lng -oo Y_POSSIBLE_NAMES=lat -a_srs EPSG:4326
  -nln incidents``; GDAL builds the R-tree (its default). Text columns stay
  text, no key, no checks.
* **peer GeoPandas**: ``pd.read_csv`` + ``gpd.points_from_xy`` +
  ``GeoDataFrame.to_file(path, driver="GPKG")`` (pyogrio), with its R-tree.

Every run writes a new file in a temporary folder, removed at the end.

Run alone: ``python bench/ingest_gpkg.py --rows 1000000 --repeat 3``.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from harness import (
    StageTimer,
    Timing,
    check_loaded,
    check_unchanged,
    compare,
    cpu_usage,
    find_ogr2ogr,
    log,
    timed,
    write_incidents,
)

from geo import schemas
from geo.ingest import IngestReport, ingest_file
from geo.store.gpkg import GpkgStore, _Writer

WARMUP_ROWS = 20_000

OURS = "ours: init + ingest_file (read + check + H3 + areas + first load + indexes)"
OURS_LAST = "ours: of which indexes + R-tree + commit"
OURS_WRITE = "ours: of which write half (inserts + indexes + R-tree + commit)"
OURS_AGAIN = "ours: re-ingest same file (nothing changes)"
OGR = "peer: ogr2ogr -f GPKG (R-tree)"
PEER = "peer: read_csv + points_from_xy + to_file(driver='GPKG')"
PEER_WRITE = "peer: to_file write step alone"


class Ours:
    """A new GeoPackage per run: init and ingest (timed), then a re-ingest (timed)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.stage = StageTimer(_Writer)

    def _ingest(self, store: GpkgStore, csv: Path) -> tuple[float, IngestReport]:
        marks: list[float] = []
        report = ingest_file(
            store,
            "incidents",
            csv,
            quarantine_dir=self.work / "quarantine",
            after_chunk=lambda _staged: marks.append(time.perf_counter()),
        )
        return time.perf_counter() - marks[-1], report

    def run(self, csv: Path, rows: int) -> dict[str, float]:
        path = self.work / "ours.gpkg"
        path.unlink(missing_ok=True)
        state: dict[str, Any] = {}

        def first() -> None:
            store = GpkgStore(path)
            store.init()
            state["store"] = store
            state["last_s"], state["report"] = self._ingest(store, csv)

        with self.stage.active():
            first_s, _ = timed(first)
        store: GpkgStore = state["store"]
        try:
            check_loaded(state["report"], rows)
            again_s, (_, again) = timed(lambda: self._ingest(store, csv))
            check_unchanged(again, store.count(schemas.INCIDENTS), rows)
        finally:
            store.close()
        return {
            OURS: first_s,
            OURS_LAST: state["last_s"],
            OURS_WRITE: self.stage.seconds + state["last_s"],
            OURS_AGAIN: again_s,
        }


class Ogr:
    """``ogr2ogr -f GPKG`` into a new file."""

    def __init__(self, work: Path) -> None:
        self.exe, self.version = find_ogr2ogr()
        self.out = work / "ogr.gpkg"

    def command(self, csv: Path) -> list[str]:
        return [
            self.exe,
            "-f",
            "GPKG",
            str(self.out),
            str(csv),
            "-oo",
            "X_POSSIBLE_NAMES=lng",
            "-oo",
            "Y_POSSIBLE_NAMES=lat",
            "-a_srs",
            "EPSG:4326",
            "-nln",
            "incidents",
        ]

    def run(self, csv: Path) -> float:
        self.out.unlink(missing_ok=True)
        seconds, _ = timed(
            lambda: subprocess.run(self.command(csv), check=True, capture_output=True)
        )
        return seconds


class Peer:
    """GeoPandas: read the CSV, build points, ``to_file(driver="GPKG")``."""

    def __init__(self, work: Path) -> None:
        self.out = work / "peer.gpkg"

    def run(self, csv: Path) -> tuple[float, float, int]:
        self.out.unlink(missing_ok=True)
        state: dict[str, Any] = {}

        def read() -> None:
            frame = pd.read_csv(csv, parse_dates=["occurred_at"])
            state["gdf"] = gpd.GeoDataFrame(
                frame, geometry=gpd.points_from_xy(frame["lng"], frame["lat"]), crs="EPSG:4326"
            )

        def write() -> None:
            state["gdf"].to_file(self.out, driver="GPKG", layer="incidents")

        read_s, _ = timed(read)
        write_s, _ = timed(write)
        return read_s + write_s, write_s, len(state.pop("gdf"))


def _count(path: Path, table: str) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


def run(rows: int, repeat: int) -> list[dict[str, Any]]:
    """The GeoPackage ingest benchmark; one result dict."""
    names = (OURS, OURS_LAST, OURS_WRITE, OURS_AGAIN, OGR, PEER, PEER_WRITE)
    cases = {name: Timing() for name in names}
    meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-gpkg-") as tmp:
        work = Path(tmp)
        log(f"Ingest (GeoPackage): writing {rows:,} synthetic incidents to CSV")
        csv = write_incidents(work / "incidents.csv", rows)
        warm = write_incidents(work / "warmup.csv", min(rows, WARMUP_ROWS))
        meta["csv_mb"] = round(csv.stat().st_size / 2**20, 1)
        ours, ogr, peer = Ours(work), Ogr(work), Peer(work)
        meta["ogr2ogr"] = ogr.version
        meta["ogr2ogr_command"] = " ".join(
            ["ogr2ogr", *ogr.command(Path("incidents.csv"))[1:]]
        ).replace(str(ogr.out), "out.gpkg")
        log("Ingest (GeoPackage): warm-up (one small run each side)")
        ours.run(warm, min(rows, WARMUP_ROWS))
        ogr.run(warm)
        peer.run(warm)
        with cpu_usage(meta):
            for r in range(repeat):
                order = ["ours", "ogr", "peer"]
                for side in order[r % 3 :] + order[: r % 3]:
                    if side == "ours":
                        got = ours.run(csv, rows)
                        for name, seconds in got.items():
                            cases[name].samples.append(seconds)
                        log(
                            f"  run {r + 1}/{repeat} ours: {got[OURS]:.2f} s (write "
                            f"{got[OURS_WRITE]:.2f} s, of which indexes + R-tree + commit "
                            f"{got[OURS_LAST]:.2f} s), again {got[OURS_AGAIN]:.2f} s"
                        )
                    elif side == "ogr":
                        seconds = ogr.run(csv)
                        cases[OGR].samples.append(seconds)
                        log(f"  run {r + 1}/{repeat} ogr2ogr: {seconds:.2f} s")
                    else:
                        total, write, n = peer.run(csv)
                        if n != rows:
                            msg = f"peer read {n} rows instead of {rows}"
                            raise SystemExit(msg)
                        cases[PEER].samples.append(total)
                        cases[PEER_WRITE].samples.append(write)
                        log(
                            f"  run {r + 1}/{repeat} GeoPandas: {total:.2f} s (write {write:.2f} s)"
                        )
        meta["rows_stored"] = {
            "ours": _count(work / "ours.gpkg", "incidents"),
            "ogr2ogr": _count(ogr.out, "incidents"),
            "geopandas": _count(peer.out, "incidents"),
        }
        meta["file_mb"] = {
            "ours": round((work / "ours.gpkg").stat().st_size / 2**20, 1),
            "ogr2ogr": round(ogr.out.stat().st_size / 2**20, 1),
            "geopandas": round(peer.out.stat().st_size / 2**20, 1),
        }
        for side, stored in meta["rows_stored"].items():
            if stored != rows:
                msg = f"{side}: file holds {stored} rows, expected {rows}"
                raise SystemExit(msg)
    return [
        {
            "title": "Ingest into a new GeoPackage",
            "rows": rows,
            "cases": {name: t.as_dict(rows) for name, t in cases.items()},
            "ratios": [
                compare(cases, OURS, OGR, goal=1.5),
                compare(cases, OURS, PEER),
                compare(cases, OURS_WRITE, OGR),
                compare(cases, OURS_WRITE, PEER_WRITE),
            ],
            "notes": (
                "Ours checks every row, indexes H3, assigns ward/LSOA/district and loads a keyed "
                "table (a unique key index) with 4 more B-tree indexes and an R-tree (first "
                "load: straight inserts on a thread of their own, key and indexes built after, "
                "the R-tree packed; one transaction); ogr2ogr and to_file write an unkeyed "
                "table with an R-tree. Every run writes a new file; ours includes creating the "
                "store (init)."
            ),
            **meta,
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from harness import markdown_tables

    print(markdown_tables(run(args.rows, args.repeat)))


if __name__ == "__main__":
    main()
