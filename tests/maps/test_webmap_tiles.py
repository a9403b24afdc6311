"""The tile layer: used only when a tile URL template is configured.

A tiny tile server on 127.0.0.1 (random port) answers every /{z}/{x}/{y}.png
and counts requests. With ``tiles`` the browser fetches tiles from it and
Leaflet marks them loaded; without, nothing is requested and no tile layer
exists.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from geo.errors import ValidationError
from maps.webmap import LAYER_TILES, build_map, write_map

from .conftest import (
    TileServer,
    make_area,
    make_hotspots,
    make_meta,
    make_targets,
    open_map,
    views,
)


@pytest.fixture(scope="module")
def frames() -> dict[str, Any]:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=60)
    return {"area": area, "hotspots": hotspots, "targets": make_targets(hotspots, area, n=5)}


def _settle(server: TileServer, *, quiet_s: float = 0.4, limit_s: float = 5.0) -> None:
    """Wait until the server has had no request for ``quiet_s`` seconds."""
    deadline = time.monotonic() + limit_s
    last = server.count()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = server.count()
        if now == last:
            return
        last = now


def _write(path: Path, frames: dict[str, Any], tiles: str | None) -> Path:
    cells, shown = views(frames["hotspots"], frames["targets"], "neighbourhood")
    return write_map(
        path,
        cells,
        shown,
        area=frames["area"],
        meta=make_meta("neighbourhood"),
        tiles=tiles,
    )


def test_tiles_are_requested_and_loaded(
    browser: Any, tile_server: TileServer, frames: dict[str, Any], tmp_path: Path
) -> None:
    path = _write(tmp_path / "tiles.html", frames, tile_server.template)
    html = path.read_text(encoding="utf-8")
    assert f"127.0.0.1:{tile_server.port}" in html
    tile_server.reset()
    logs = open_map(browser, path)
    WebDriverWait(browser, 10).until(
        lambda d: (
            d.execute_script("return document.querySelectorAll('.leaflet-tile-loaded').length") > 0
        )
    )
    assert tile_server.count() > 0
    assert all(re.fullmatch(r"/\d+/\d+/\d+\.png", p) for p in tile_server.requests)
    zooms = {int(p.split("/")[1]) for p in tile_server.requests}
    assert zooms <= set(range(8, 20))
    assert browser.execute_script("return ENGAGE.tiles") is True
    assert browser.execute_script("return ENGAGE.layers.tiles instanceof L.TileLayer") is True
    base = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-base span'))"
        ".map(e => e.textContent.trim())"
    )
    assert LAYER_TILES in base
    assert [e for e in logs if e["level"] == "SEVERE"] == []


def test_no_tiles_no_request_and_no_tile_layer(
    browser: Any, tile_server: TileServer, frames: dict[str, Any], tmp_path: Path
) -> None:
    path = _write(tmp_path / "plain.html", frames, None)
    html = path.read_text(encoding="utf-8")
    assert "127.0.0.1" not in html
    assert "L.tileLayer(" not in html
    # Let any page loaded before this one finish its tile requests, then count.
    browser.get("about:blank")
    _settle(tile_server)
    tile_server.reset()
    open_map(browser, path)
    browser.execute_script("ENGAGE.map.setZoom(ENGAGE.map.getZoom() + 1)")
    assert browser.execute_script("return document.querySelectorAll('.leaflet-tile').length") == 0
    assert (
        browser.execute_script(
            "let n = 0; ENGAGE.map.eachLayer(l => { if (l instanceof L.TileLayer) n++; }); return n"
        )
        == 0
    )
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith('data:'))"
    )
    assert fetched == []
    assert tile_server.count() == 0


def test_tile_template_must_have_z_x_y(frames: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"`tiles` must be a URL template"):
        build_map(
            frames["hotspots"],
            frames["targets"],
            area=frames["area"],
            meta=make_meta(),
            tiles="http://127.0.0.1:9/tiles.png",
        )
