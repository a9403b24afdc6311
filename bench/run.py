"""Run every benchmark against its named peer, in one run on this machine.

Usage (from the repository root; ``make bench`` runs ``--only peers``,
``make bench-all`` every benchmark)::

    .venv/bin/python bench/run.py [--rows 1000000] [--pg-url URL] [--repeat 3]
                                  [--only NAME[,NAME...]]
                                  (h3 ingest ingest-read ingest-gpkg kde-kdepy kde
                                   dbscan-peer dbscan weekly backtest gistar review
                                   areas layers, or peers)
                                  [--gistar-cells 100000] [--disruptions 1000]
                                  [--review-e2e 10] [--areas 10000] [--layer-mb 50]
                                  [--out bench/out/results.json]

``--rows`` is the rows of the ingests, the points of the H3 benchmarks, the
larger of the two sizes of the scikit-learn KDE and DBSCAN benchmarks (the
smaller is a tenth of it), the smaller of the two sizes of the KDEpy and
``dbscan`` package benchmarks (the larger is five times it) and the episodes
of the smaller of the weekly pack's two stores (the larger holds ten times it). The backtest
throughput benchmark (``engage tune``, local against Dask) works on the real
police.uk data and ignores it; the Gi* benchmark takes its cells from
``--gistar-cells``. Neither uses the database: with ``--only backtest`` or
``--only gistar`` PostgreSQL is not needed. The review benchmark's stores
hold ``--rows`` episodes and ``--disruptions`` disruptions (all reviewed);
its end-to-end case (every file written) reviews the first ``--review-e2e``
of them. The areas benchmark assigns ``--rows`` points to ``--areas``
polygons and does not use the database either.
The base-layer benchmark (``layers``) imports a generated roads
GeoJSON of ``--layer-mb`` MB against plain GeoPandas and draws it into the
weekly pack; it needs no database.

Prints a markdown table to stdout (progress goes to stderr) and writes the
full results, with the machine's facts, to ``bench/out/results.json``.
See docs/benchmarks.md for what each benchmark measures and how to read it.
Run by hand, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # run as a script: the sibling modules import by name
    sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    BENCH_DATABASE,
    DEFAULT_SERVER_URL,
    ensure_database,
    log,
    machine_facts,
    markdown_tables,
    with_database,
)

BENCHMARKS = (
    "h3",
    "ingest",
    "ingest-read",
    "ingest-gpkg",
    "kde-kdepy",
    "kde",
    "dbscan-peer",
    "dbscan",
    "weekly",
    "backtest",
    "gistar",
    "review",
    "areas",
    "layers",
)
PEERS = ("h3", "ingest", "ingest-gpkg", "kde-kdepy", "dbscan-peer", "weekly")
"""The strongest peers' table (``--only peers``, what ``make bench`` runs): ingest
against ogr2ogr and GeoPandas on both stores, KDE against KDEpy, DBSCAN against the
``dbscan`` package, H3 on both cores, and the weekly pack at 1x and 10x ``--rows``."""
NO_DATABASE = ("backtest", "gistar", "areas", "layers", "ingest-gpkg", "kde-kdepy", "kde")
NO_DATABASE += ("dbscan-peer", "dbscan", "h3", "ingest-read")
"""Benchmarks that never talk to PostgreSQL (run alone, they do not need it)."""


def selection(only: str | None) -> list[str]:
    """The benchmarks ``--only`` names, in run order (``peers`` is :data:`PEERS`)."""
    if not only:
        return list(BENCHMARKS)
    wanted: set[str] = set()
    for name in (part.strip() for part in only.split(",")):
        if name == "peers":
            wanted.update(PEERS)
        elif name in BENCHMARKS:
            wanted.add(name)
        else:
            msg = (
                f"--only: unknown benchmark `{name}`; expected a comma-separated list of "
                f"{', '.join(BENCHMARKS)} or peers"
            )
            raise SystemExit(msg)
    return [name for name in BENCHMARKS if name in wanted]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows/points per benchmark")
    server = os.environ.get("ENGAGE_TEST_PG_URL") or DEFAULT_SERVER_URL
    parser.add_argument(
        "--pg-url",
        default=with_database(server, BENCH_DATABASE),
        help=(
            f"PostgreSQL database to use, created with PostGIS if missing (default: database "
            f"{BENCH_DATABASE} on the server of $ENGAGE_TEST_PG_URL, here %(default)s)"
        ),
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case (median kept)")
    parser.add_argument(
        "--chunksize", type=int, default=100_000, help="to_postgis chunksize (peer)"
    )
    parser.add_argument(
        "--only",
        help=(
            "comma-separated benchmarks to run (default: all, in this order): "
            f"{', '.join(BENCHMARKS)}; `peers` is {','.join(PEERS)}"
        ),
    )
    parser.add_argument(
        "--gistar-cells", type=int, default=100_000, help="H3 cells of the Gi* benchmark"
    )
    parser.add_argument(
        "--disruptions", type=int, default=1000, help="disruptions of the review benchmark"
    )
    parser.add_argument(
        "--review-e2e",
        type=int,
        default=10,
        help="disruptions of the review's end-to-end case (files written)",
    )
    parser.add_argument("--areas", type=int, default=10_000, help="polygons of the areas benchmark")
    parser.add_argument(
        "--layer-mb", type=float, default=50.0, help="size of the roads GeoJSON of `layers`"
    )
    parser.add_argument(
        "--keep-stores",
        action="store_true",
        help=(
            "weekly: keep the 1x and 10x stores (files in --cache-dir, PostGIS schemas) and "
            "reuse them while their parameters match"
        ),
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="weekly: where --keep-stores keeps files"
    )
    parser.add_argument("--out", type=Path, default=HERE / "out" / "results.json")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1 or args.chunksize < 1:
        parser.error("--rows, --repeat and --chunksize must be at least 1")
    if args.gistar_cells < 10:
        parser.error("--gistar-cells must be at least 10")
    if args.areas < 2:
        parser.error("--areas must be at least 2")
    if args.disruptions < 1 or args.review_e2e < 1:
        parser.error("--disruptions and --review-e2e must be at least 1")
    return args


def run_one(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One benchmark's result dicts (its module is imported only when it runs)."""
    if name == "h3":
        import h3_indexing

        return h3_indexing.run(args.rows, args.repeat)
    if name == "ingest":
        import ingest_postgis

        return ingest_postgis.run(args.rows, args.pg_url, args.repeat, args.chunksize)
    if name == "ingest-read":
        import ingest_read

        return ingest_read.run(args.rows, args.repeat)
    if name == "ingest-gpkg":
        import ingest_gpkg

        return ingest_gpkg.run(args.rows, args.repeat)
    if name == "kde-kdepy":
        import kde_kdepy

        return kde_kdepy.run(args.rows, args.repeat)
    if name == "kde":
        import kde_sklearn

        return kde_sklearn.run(args.rows, args.repeat)
    if name == "dbscan-peer":
        import dbscan_peer

        return dbscan_peer.run(args.rows, args.repeat)
    if name == "dbscan":
        import dbscan_sklearn

        return dbscan_sklearn.run(args.rows, args.repeat)
    if name == "weekly":
        import weekly_pack

        return weekly_pack.run(
            args.rows,
            args.pg_url,
            args.repeat,
            keep_stores=args.keep_stores,
            cache_dir=args.cache_dir,
        )
    if name == "backtest":
        import backtest_throughput

        return backtest_throughput.run(args.repeat)
    if name == "gistar":
        import gistar_esda

        return gistar_esda.run(args.gistar_cells, args.repeat)
    if name == "review":
        import review

        return review.run(args.rows, args.pg_url, args.repeat, args.disruptions, args.review_e2e)
    if name == "areas":
        import areas

        return areas.run(args.rows, args.repeat, args.areas)
    if name == "layers":
        import layers

        return layers.run(args.repeat, args.layer_mb)
    raise AssertionError(name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = selection(args.only)
    started = time.perf_counter()
    database = any(name not in NO_DATABASE for name in chosen)
    if database:
        ensure_database(args.pg_url)
    facts = machine_facts(args.pg_url if database else None)
    log(
        f"{facts['cpu_model']}, {facts['logical_cores']} cores, Python {facts['python']}, "
        f"PostgreSQL {facts['postgresql']}, PostGIS {facts['postgis']}; running "
        f"{', '.join(chosen)}"
    )
    benchmarks: list[dict[str, Any]] = []
    for name in chosen:
        benchmarks += run_one(name, args)
    results = {
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "rows": args.rows,
        "gistar_cells": args.gistar_cells,
        "disruptions": args.disruptions,
        "review_e2e": args.review_e2e,
        "areas": args.areas,
        "repeat": args.repeat,
        "statistic": "median of the timed runs (best also recorded); one warm-up run first",
        "ratio": "ours rows/s / peer rows/s (above 1: ours is faster)",
        "machine": facts,
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "total_s": round(time.perf_counter() - started, 1),
        "benchmarks": benchmarks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    size = {
        "backtest": "",
        "gistar": f"{args.gistar_cells:,} cells, ",
        "review": f"{args.rows:,} episodes, {args.disruptions:,} disruptions, ",
        "areas": f"{args.rows:,} points, {args.areas:,} areas, ",
        "layers": f"{args.layer_mb:g} MB roads, ",
    }.get(args.only or "", f"{args.rows:,} rows, ")
    if (args.only and "," in args.only) or args.only == "peers":
        size = f"{args.rows:,} rows, "
    print(
        f"Engage Hotspots benchmarks, {facts['date']}: {size}"
        f"median of {args.repeat} runs; {facts['cpu_model']}, {facts['logical_cores']} cores\n"
    )
    print(markdown_tables(benchmarks))
    print(f"\nFull results: {args.out} ({results['total_s']} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
