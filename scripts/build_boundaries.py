"""Build data/boundaries/ from the public copies in ../shared/data/boundaries.

Run once by hand when the sources change:

    .venv/bin/python scripts/build_boundaries.py ../shared/data/boundaries

Ward and LSOA files are copied byte for byte. District outlines are derived:
the 2011 LSOA polygons of each Lancashire local authority dissolved into one
outline per authority, coordinates rounded to 1e-6 degrees (about 0.1 m).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

OUT = Path(__file__).resolve().parents[1] / "data" / "boundaries"


def main(src: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        src / "lancashire_wards_bsc" / "blackburn_ward_boundaries.json",
        OUT / "bwd_wards_2018.geojson",
    )
    shutil.copyfile(src / "lsoa_2011_by_lad" / "E06000008.geojson", OUT / "bwd_lsoa_2011.geojson")
    names = gpd.read_file(src / "uk_ltla_2016_bsc.geojson").set_index("areacd")["areanm"]
    frames = []
    for path in sorted((src / "lsoa_2011_by_lad").glob("*.geojson")):
        lsoa = gpd.read_file(path)
        lsoa["LAD11CD"] = path.stem
        frames.append(lsoa)
    lsoas = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    districts = lsoas.dissolve("LAD11CD").reset_index()[["LAD11CD", "geometry"]]
    districts["LAD11NM"] = districts["LAD11CD"].map(names)
    districts["geometry"] = shapely.set_precision(districts.geometry.values, 1e-6)
    districts = districts[["LAD11CD", "LAD11NM", "geometry"]]
    target = OUT / "lancashire_districts_2011.geojson"
    target.unlink(missing_ok=True)
    districts.to_file(target, driver="GeoJSON", COORDINATE_PRECISION=6)
    print(f"wrote {len(districts)} district outlines to {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/boundaries"))
