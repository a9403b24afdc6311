"""Target CSV and hotspot GeoJSON exports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import ValidationError
from geo.h3index import str_to_cell
from maps.disclosure import Audience, cells_view, layers_view, with_layers
from maps.exports import write_hotspots_geojson, write_targets_csv

from .conftest import (
    FORMULA,
    HOSTILE,
    make_area,
    make_hotspots,
    make_meta,
    make_significance,
    make_targets,
    views,
)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=50)
    return hotspots, make_targets(hotspots, area, n=8)


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    _, targets = _frames()
    targets.loc[4, "nearest_venue"] = "+44 1254 000000"
    targets.loc[5, "ward_name"] = "@SUM(A1:A9)"
    out = write_targets_csv(tmp_path / "targets.csv", targets)
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["rank"]) for r in rows] == targets["rank"].tolist()
    assert rows[0]["why"] == "'" + FORMULA
    assert rows[4]["nearest_venue"] == "'+44 1254 000000"
    assert rows[5]["ward_name"] == "'@SUM(A1:A9)"
    assert rows[2]["why"].endswith(HOSTILE)  # text stays text; CSV is not HTML
    risky = [v for r in rows for v in r.values() if v.startswith(("=", "+", "-", "@"))]
    assert all(_is_number(v) for v in risky)  # only negative numbers (longitudes) remain
    # Numbers stay numbers; cells are hex strings that round-trip.
    assert [int(r["episodes"]) for r in rows] == targets["episodes"].tolist()
    assert [str_to_cell(r["h3"]) for r in rows] == targets["h3"].tolist()
    assert list(rows[0])[:4] == ["rank", "h3", "ward_name", "grid_ref"]


def test_csv_partner_suppression(tmp_path: Path) -> None:
    hotspots, targets = _frames()
    targets.loc[0, ["episodes", "children", "found", "venue_reports"]] = [2, 1, 0, 0]
    targets.loc[1, ["episodes", "children"]] = [9, 6]
    with pytest.raises(ValidationError, match="must come from maps"):
        write_targets_csv(tmp_path / "raw.csv", targets, meta=make_meta("partner"))
    _, shown = views(hotspots, targets, "partner")
    out = write_targets_csv(tmp_path / "t.csv", shown, meta=make_meta("partner"))
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert (rows[0]["episodes"], rows[0]["children"], rows[0]["found"]) == ("<5", "<5", "0")
    # 9 is rounded to 10 and 6 to 5 (or withheld so that a small count elsewhere stays hidden).
    assert rows[1]["episodes"] in ("10", "[c]") and rows[1]["children"] in ("5", "[c]")
    # No score, grading or exact count column rides along beside the disclosed ones.
    for name in ("score", "reports_by_grading", "recent", "before", "n", "n_children"):
        assert name not in rows[0]
    for row in rows:
        for name in ("episodes", "children", "last_seen", "found", "venue_reports"):
            value = row[name]
            assert value in ("0", "<5", "[c]") or int(value) % 5 == 0, (name, value)


def test_geojson_hexagons_round_trip(tmp_path: Path) -> None:
    hotspots, _ = _frames()
    hotspots["label"] = [HOSTILE] + [None] * (len(hotspots) - 1)
    out = write_hotspots_geojson(tmp_path / "hotspots.geojson", hotspots)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc  # RFC 7946: WGS84 only, no crs member
    gdf = gpd.read_file(out)
    assert len(gdf) == len(hotspots)
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    assert (gdf.geom_type == "Polygon").all()
    # Hexagons: 6 distinct vertices, closed ring, counter-clockwise (RFC 7946 right-hand rule).
    for poly in gdf.geometry:
        ring = shapely.get_coordinates(poly.exterior)
        assert len(ring) == 7 and np.allclose(ring[0], ring[-1])
        assert len(np.unique(ring[:-1].round(9), axis=0)) == 6
        assert poly.exterior.is_ccw
    # h3 strings round-trip, and each polygon is its cell (centroid in the cell).
    cells = [str_to_cell(s) for s in gdf["h3"]]
    assert cells == hotspots["h3"].tolist()
    for s, poly in zip(gdf["h3"], gdf.geometry, strict=True):
        c = poly.centroid
        assert h3.latlng_to_cell(c.y, c.x, h3.get_resolution(s)) == s
    np.testing.assert_allclose(gdf["score"], hotspots["score"])
    assert gdf["n_children"].tolist() == hotspots["n_children"].tolist()
    assert gdf["label"].iloc[0] == HOSTILE
    # Area from the polygons equals h3's own cell area (two ways to one quantity).
    area_m2 = gdf.to_crs("EPSG:27700").area.to_numpy()
    want = np.array([h3.cell_area(s, unit="m^2") for s in gdf["h3"]])
    np.testing.assert_allclose(area_m2, want, rtol=0.01)


def test_geojson_accepts_hex_string_cells(tmp_path: Path) -> None:
    hotspots, _ = _frames()
    hotspots["h3"] = [h3.int_to_str(int(c)) for c in hotspots["h3"]]
    out = write_hotspots_geojson(tmp_path / "h.geojson", hotspots)
    gdf = gpd.read_file(out)
    assert gdf["h3"].tolist() == hotspots["h3"].tolist()


def test_geojson_partner_significance_suppressed_where_few_children(tmp_path: Path) -> None:
    hotspots = make_hotspots(make_area(), n_cells=120, res=8)
    frame, _ = make_significance(hotspots)
    significant = frame["gi_class"].str.startswith(("hot_", "cold_")).to_numpy()
    assert significant.sum() >= 2
    disclosable = np.zeros(len(frame), dtype=bool)
    disclosable[np.flatnonzero(significant)[::2]] = True
    partner = Audience.make("partner")
    layers, _ = layers_view(frame, {}, partner, shown=disclosable)
    cells = with_layers(cells_view(hotspots, partner), layers)
    with pytest.raises(ValidationError, match="must come from maps"):
        write_hotspots_geojson(
            tmp_path / "bad.geojson", hotspots.merge(frame, on="h3"), meta=make_meta("partner")
        )
    out = write_hotspots_geojson(tmp_path / "p.geojson", cells, meta=make_meta("partner"))
    props = pd.DataFrame([f["properties"] for f in json.loads(out.read_text())["features"]])
    props["h3"] = [str_to_cell(c) for c in props["h3"]]
    raw = hotspots.merge(frame, on="h3")
    got = props.set_index("h3").loc[raw["h3"]]
    hidden = ~pd.Series(disclosable, index=frame["h3"]).loc[raw["h3"]].to_numpy()
    assert (got.loc[hidden, "gi_class"] == "suppressed").all()
    assert (got.loc[hidden, "pattern"] == "suppressed").all()
    for col in ("gi_z", "gi_p", "gi_p_adj", "mk_z", "mk_p", "mk_trend"):
        assert got.loc[hidden, col].isna().all(), col
    assert got.loc[~hidden, "gi_class"].tolist() == raw.loc[~hidden, "gi_class"].tolist()
    np.testing.assert_allclose(got.loc[~hidden, "gi_z"], raw.loc[~hidden, "gi_z"])
    assert "score" not in props.columns and "disclosable" not in props.columns
    # Analysts get every cell's statistics, as computed.
    full = write_hotspots_geojson(tmp_path / "a.geojson", raw, meta=make_meta("analyst"))
    classes = [f["properties"]["gi_class"] for f in json.loads(full.read_text())["features"]]
    assert classes == raw["gi_class"].tolist()
