"""The weekly pack with imported roads: drawn for every audience, on the map and the PDF."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.image import imread
from pypdf import PdfReader

from api.settings import Settings
from api.usecases.layers import import_layer
from api.usecases.week import weekly
from geo.simstreets import street_grid

from ..api.conftest import synthetic_store
from .conftest import open_map


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("weekly_layers")
    location = synthetic_store(root, seed=11, weeks=20)
    plain = str(root / "plain.gpkg")
    shutil.copyfile(location, plain)
    roads = root / "roads.geojson"
    street_grid(spacing_m=250.0, seed=9).to_file(roads, driver="GeoJSON")
    settings = Settings(store=location, quarantine_dir=root / "q")
    imported = import_layer(location, roads, "roads", settings=settings)
    return {
        "root": root,
        "location": location,
        "plain": plain,
        "settings": settings,
        "imported": imported,
    }


@pytest.mark.parametrize("audience", ["analyst", "neighbourhood", "partner"])
def test_every_audience_gets_the_roads(world: dict[str, Any], audience: str, browser: Any) -> None:
    out = Path(world["root"]) / f"pack_{audience}"
    result = weekly(
        world["location"],
        week=None,
        out_dir=out,
        settings=world["settings"],
        audience=audience,
        areas=["Blackburn Central"],
    )
    names = set(world["imported"].layer.frame["name"].dropna())
    # The map: a roads layer in the layer control, drawn from the file itself.
    open_map(browser, result.files["map"])
    n_roads = browser.execute_script(
        "var n = 0; ENGAGE.layers.roads.eachLayer(function (g) { n += g.getLayers().length; });"
        "return n;"
    )
    assert n_roads > 10
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith('data:'))"
    )
    assert fetched == []
    # The PDF: road names as text under the ward's map; the map has road pixels.
    reader = PdfReader(result.files["pack"])
    page = next(p for p in reader.pages if "Roads named on the map" in p.extract_text())
    text = " ".join(page.extract_text().split())
    assert sum(name in text for name in names) >= 3


def _map_image(path: Path) -> np.ndarray:
    page = next(p for p in PdfReader(path).pages if p.images)
    return imread(io.BytesIO(page.images[0].data))[..., :3]


def test_the_roads_show_under_the_cells(world: dict[str, Any]) -> None:
    packs = {
        name: weekly(
            world[name],
            week=None,
            out_dir=Path(world["root"]) / f"compare_{name}",
            settings=world["settings"],
            audience="analyst",
            areas=["Blackburn Central"],
        )
        for name in ("location", "plain")
    }
    with_roads = _map_image(packs["location"].files["pack"])
    plain = _map_image(packs["plain"].files["pack"])
    assert with_roads.shape == plain.shape
    h, w = plain.shape[:2]
    centre = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))  # no map furniture here
    changed = np.abs(with_roads[centre] - plain[centre]).sum(axis=-1) > 0.1
    assert changed.mean() > 0.05
    # Road lines are lighter than what lies under them (white, through the cells).
    assert with_roads[centre].mean() > plain[centre].mean()
