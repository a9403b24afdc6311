"""How many of the strongest planted venues the weekly targets recover, over seeds.

    .venv/bin/python scripts/recovery.py --seeds 1-8 [--lookback-weeks 52] [--method count]
        [--half-life-days 182] [--bandwidth-m 300]

For each seed: simulate a year of Blackburn with Darwen (ending, as by
default, before today), ingest it into a scratch GeoPackage, build the target
list for the week after the data (the product's defaults, models.params.DEFAULTS,
unless options say otherwise) and count the 10 strongest planted venues that
lie within one res-9 ring of a top-15 target. Prints one line per seed, the
mean and on how many seeds at least 8 were recovered. Synthetic data only;
run by hand.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import h3.api.numpy_int as h3i

from api.settings import Settings
from api.usecases.demo import DEMO_ORDER
from api.usecases.ingest import ingest_files, simulate_scenario
from api.usecases.week import targets_table
from models.params import DEFAULTS, AnalysisParams

DEMO_KEY = "recovery-script-synthetic-only-0123456789"


def recovered(seed: int, params: AnalysisParams) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate_scenario(root / "s", seed=seed, weeks=52)
        location = str(root / "e.gpkg")
        settings = Settings(store=location, quarantine_dir=root / "q")
        for kind, name in DEMO_ORDER:
            ingest_files(location, kind, [root / "s" / name], settings=settings, key=DEMO_KEY)
        truth = json.loads((root / "s" / "truth.json").read_text())
        targets = targets_table(location, week=None, settings=settings, params=params)
    near: set[int] = set()
    for cell in targets["h3"]:
        near.update(int(c) for c in h3i.grid_disk(int(cell), 1))
    strongest = sorted(truth["planted_venues"], key=lambda v: -v["intensity"])[:10]
    return sum(h3i.latlng_to_cell(v["lat"], v["lng"], 9) in near for v in strongest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-8", help="a range like 1-8 or a list like 1,4,7")
    parser.add_argument("--lookback-weeks", type=int, default=None)
    parser.add_argument("--method", default=None)
    parser.add_argument("--half-life-days", type=float, default=None)
    parser.add_argument("--bandwidth-m", type=float, default=None)
    args = parser.parse_args()
    if "-" in args.seeds:
        lo, hi = (int(p) for p in args.seeds.split("-"))
        seeds = list(range(lo, hi + 1))
    else:
        seeds = [int(p) for p in args.seeds.split(",")]
    params = DEFAULTS.replace(
        method=args.method,
        lookback_weeks=args.lookback_weeks,
        half_life_days=args.half_life_days,
        bandwidth_m=args.bandwidth_m,
    )
    print(f"parameters: {params.as_dict()}")
    counts = []
    for seed in seeds:
        n = recovered(seed, params)
        counts.append(n)
        print(f"seed {seed}: {n} of the 10 strongest planted venues within one ring of a target")
    hits = sum(c >= 8 for c in counts)
    print(f"mean {sum(counts) / len(counts):.1f}; at least 8 in {hits} of {len(counts)}")


if __name__ == "__main__":
    main()
