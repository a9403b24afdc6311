"""Base layers on the web map (headless Chromium, offline) and on the PDF pack.

The layers are generated: a synthetic street grid (BNG) read as the import
reads it, a few buildings (one named with hostile text) and a landmark. The
expected numbers come from GeoPandas on the same frames.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.image import imread
from pypdf import PdfReader
from selenium.common.exceptions import NoAlertPresentException

from geo.baselayers import read_base_layer
from geo.crs import BNG, WGS84
from geo.errors import ValidationError
from geo.simstreets import street_grid
from geo.studyarea import StudyArea
from maps.baselayer import WEB_SCALE, web_layers
from maps.disclosure import AUDIENCES, Audience, base_layers_view
from maps.leaflet import esc
from maps.pack import build_pack
from maps.webmap import build_map, write_map

from .conftest import (
    HOSTILE,
    make_area,
    make_hotspots,
    make_meta,
    make_targets,
    open_map,
    views,
)


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> gpd.GeoDataFrame:
    """Roads as imported (every 200 m), two buildings and a landmark; WGS84."""
    path = tmp_path_factory.mktemp("base") / "roads.geojson"
    street_grid(spacing_m=200.0, seed=4).to_file(path, driver="GeoJSON")
    roads = read_base_layer(path, "roads", study_area=StudyArea().outline()).frame
    centre = make_area().geometry.iloc[0].representative_point()
    x, y = centre.x, centre.y
    others = gpd.GeoDataFrame(
        {
            "kind": ["buildings", "buildings", "landmarks"],
            "code": ["b1", "b2", "m1"],
            "name": ["Town Hall", HOSTILE, "Clock Tower"],
            "type": [None, None, "monument"],
        },
        geometry=[
            shapely.box(x, y, x + 0.0008, y + 0.0005),
            shapely.box(x + 0.001, y, x + 0.0015, y + 0.0004),
            shapely.Point(x - 0.001, y),
        ],
        crs=WGS84,
    )
    return gpd.GeoDataFrame(
        pd.concat([roads.assign(kind="roads"), others], ignore_index=True), crs=WGS84
    )


@pytest.fixture(scope="module")
def case(features: gpd.GeoDataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=120)
    targets = make_targets(hotspots, area, n=8)
    root = tmp_path_factory.mktemp("basemap")
    view = base_layers_view(features, Audience.make("analyst"))
    with_base = write_map(
        root / "map.html", hotspots, targets, area=area, meta=make_meta("analyst"), base=view
    )
    without = write_map(root / "plain.html", hotspots, targets, area=area, meta=make_meta())
    return {
        "area": area,
        "hotspots": hotspots,
        "targets": targets,
        "view": view,
        "map": with_base,
        "plain": without,
        "root": root,
    }


def _map_bounds(area: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    w, s, e, n = (float(v) for v in area.total_bounds)
    return (w - 0.02, s - 0.02, e + 0.02, n + 0.02)


def test_view_is_the_same_for_every_audience(features: gpd.GeoDataFrame) -> None:
    views = [base_layers_view(features, Audience.make(a)) for a in AUDIENCES]
    for name, view in zip(AUDIENCES, views, strict=True):
        assert view is not None and view.attrs["audience"] == name
        assert list(view.columns) == ["kind", "name", "type", "geometry"]  # no source code
        assert len(view) == len(features)
    assert views[0]["name"].equals(views[2]["name"])


def test_partner_map_takes_only_the_partner_view(features: gpd.GeoDataFrame) -> None:
    area = make_area()
    rules = Audience.make("partner")
    cells = make_hotspots(area, n_cells=40, res=8)
    hotspots, targets = views(cells, make_targets(cells, area, n=3), "partner")
    meta = make_meta("partner")
    with pytest.raises(ValidationError, match="`base` for a partner output"):
        build_map(hotspots, targets, area=area, meta=meta, base=features)
    page = build_map(
        hotspots, targets, area=area, meta=meta, base=base_layers_view(features, rules)
    )
    assert "engage-roads" in page and "Clock Tower" in page


def test_roads_in_chromium_one_path_per_name_with_name_tooltips(
    browser: Any, case: dict[str, Any], features: gpd.GeoDataFrame
) -> None:
    logs = open_map(browser, case["map"])
    assert not [e for e in logs if e.get("level") == "SEVERE"]
    d = browser
    # Expected, by GeoPandas: roads meeting the map's extent, one path per distinct name.
    w, s, e, n = _map_bounds(case["area"])
    roads = features[features["kind"] == "roads"]
    shown = roads[roads.intersects(shapely.box(w, s, e, n))]
    names = set(shown["name"].dropna())
    assert len(names) > 20
    in_layer = d.execute_script(
        "var n = 0; ENGAGE.layers.roads.eachLayer(function (g) { n += g.getLayers().length; });"
        "return n;"
    )
    assert in_layer == len(names) + int(shown["name"].isna().any())
    paths = d.execute_script(
        "return document.querySelectorAll('.leaflet-engage-roads-pane path').length"
    )
    assert paths == len(names)
    tips = d.execute_script(
        "var t = []; ENGAGE.layers.roads.eachLayer(function (g) { g.eachLayer(function (l) {"
        " t.push(l.getTooltip().getContent()); }); }); return t;"
    )
    assert set(tips) == {esc(v) for v in names}
    # Drawn where GeoPandas puts them: the layer's bounds are the clipped roads' bounds.
    drawn = d.execute_script(
        "var b = ENGAGE.layers.roads.getBounds();"
        "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];"
    )
    expected = shown.clip(shapely.box(w, s, e, n)).total_bounds
    assert drawn == pytest.approx(list(expected), abs=2e-5)
    # The roads' pane lies under the cells' (Leaflet's overlay pane).
    z = d.execute_script(
        "return [+ENGAGE.map.getPane('engage-roads').style.zIndex,"
        " +getComputedStyle(ENGAGE.map.getPane('overlayPane')).zIndex]"
    )
    assert z[0] < z[1]
    # The layer control lists each base layer; nothing was fetched.
    labels = d.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(l => l.textContent.trim())"
    )
    assert {"Roads", "Buildings", "Landmarks"} <= set(labels)
    fetched = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith('data:'))"
    )
    assert fetched == []


def test_hostile_building_name_stays_text(browser: Any, case: dict[str, Any]) -> None:
    open_map(browser, case["map"])
    tips = browser.execute_script(
        "var t = []; ENGAGE.layers.buildings.eachLayer(function (g) { g.eachLayer(function (l) {"
        " t.push(l.getTooltip().getContent()); }); }); return t;"
    )
    assert sorted(tips) == sorted(["Town Hall", esc(HOSTILE)])
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.accept()
    assert HOSTILE not in case["map"].read_text()
    count = "var n = 0; ENGAGE.layers.landmarks.eachLayer(function (g) {"
    count += " n += g.getLayers().length; }); return n;"
    assert browser.execute_script(count) == 1


def test_web_layers_are_simplified_and_rounded(case: dict[str, Any]) -> None:
    bounds = _map_bounds(case["area"])
    layers = {w.kind: w for w in web_layers(case["view"], bounds, esc)}
    text = layers["roads"].geojson
    # Coordinates are whole numbers of 0.00001 degree (5 decimals): no decimal point at all.
    geometry_text = "".join(re.findall(r'"coordinates":(\[[^"]*\])', text))
    assert geometry_text and "." not in geometry_text
    doc = gpd.read_file(io.StringIO(text))
    parts = shapely.get_parts(doc.geometry.to_numpy())
    degrees = shapely.transform(parts, lambda c: c / WEB_SCALE)
    w, s, e, n = bounds
    x, y = shapely.get_coordinates(degrees).T
    assert (x >= w - 1e-5).all() and (x <= e + 1e-5).all()
    assert (y >= s - 1e-5).all() and (y <= n + 1e-5).all()
    # The 3 m wiggles of the synthetic streets are simplified away on the web map
    # (tolerance 0.00005 degree, about 5 m), so each block is a straight 2-point line.
    assert np.median(shapely.get_num_coordinates(parts)) == 2
    # Within a few metres of the stored roads: the total length agrees to 1%.
    roads = case["view"][case["view"]["kind"] == "roads"].clip(shapely.box(*bounds))
    web_m = gpd.GeoSeries(degrees, crs=WGS84).to_crs(BNG).length.sum()
    assert web_m == pytest.approx(roads.to_crs(BNG).length.sum(), rel=0.01)
    size = case["map"].stat().st_size - case["plain"].stat().st_size
    assert 0 < size < 2_000_000


def test_pack_prints_road_names_and_draws_the_roads_under_the_cells(
    case: dict[str, Any], features: gpd.GeoDataFrame
) -> None:
    root: Path = case["root"]
    kwargs = {"area": case["area"], "meta": make_meta("analyst")}
    with_base = build_pack(
        root / "pack.pdf", case["hotspots"], case["targets"], base=case["view"], **kwargs
    )
    plain = build_pack(root / "plain.pdf", case["hotspots"], case["targets"], **kwargs)
    page = PdfReader(with_base).pages[1]
    text = " ".join(page.extract_text().split())
    assert "Roads named on the map:" in text
    names = set(features.loc[features["kind"] == "roads", "name"].dropna())
    printed = {v for v in names if v in text}
    assert len(printed) >= 3
    plain_text = " ".join(PdfReader(plain).pages[1].extract_text().split())
    assert not {v for v in names if v in plain_text}
    assert "Roads named" not in plain_text
    # The map image: roads show through the cells (white lines under 66% opaque fills).
    img = imread(io.BytesIO(page.images[0].data))[..., :3]
    ref = imread(io.BytesIO(PdfReader(plain).pages[1].images[0].data))[..., :3]
    assert img.shape == ref.shape
    changed = np.abs(img.astype(float) - ref.astype(float)).sum(axis=-1) > 0.1
    assert changed.mean() > 0.05
    # Lighter road pixels appear where the cells are (not a blank area under them).
    light = (img.mean(axis=-1) > ref.mean(axis=-1) + 0.05) & (ref[..., 2] < 0.6)
    assert light.sum() > 500
