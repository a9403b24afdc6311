r"""Build data/gazetteer/bwd_policeuk.csv from the public data.police.uk months.

Run by hand when the months change:

    .venv/bin/python scripts/build_gazetteer.py \
        ../shared/data/police_uk/lancashire/blackburn_with_darwen

Every street-crime row of every month gives its published, anonymised map point
("snap point") and its ``Location`` text ("On or near Whalley Range"). The file
keeps each distinct point once (``code`` = its ``"lat,lng"`` to 6 decimals), with
the name published most often there (ties: alphabetical), the "On or near "
prefix removed. Rows without a point or a name are left out. Sorted by code, so
the same months always give the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from geo.gazetteer import choose_snap_names, snap_points

OUT = Path(__file__).resolve().parents[1] / "data" / "gazetteer" / "bwd_policeuk.csv"


def build(folder: Path, out: Path = OUT) -> pd.DataFrame:
    """Write the gazetteer of the police.uk CSVs in ``folder``; returns its rows."""
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise SystemExit(f"no .csv files in {folder}")
    counts = []
    for path in files:
        frame = pd.read_csv(
            path, usecols=["Latitude", "Longitude", "Location"], dtype=str, keep_default_na=False
        )
        lat = pd.to_numeric(frame["Latitude"], errors="coerce").to_numpy()
        lng = pd.to_numeric(frame["Longitude"], errors="coerce").to_numpy()
        counts.append(snap_points(lat, lng, frame["Location"]))
    places = choose_snap_names(counts)[["code", "name", "lat", "lng"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    places.to_csv(out, index=False, lineterminator="\n", float_format="%.6f")
    return places


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    places = build(Path(argv[0]))
    print(f"{len(places)} places -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1:])
