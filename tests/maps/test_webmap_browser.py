"""The interactive map in a real browser (headless Debian Chromium), offline.

One analyst map with 10 targets, 200 cells, DBSCAN hulls, a venue named
``<script>alert(1)</script>`` and a ward named with ``&`` and quotes. The
browser proves Leaflet loaded from the file itself, the numbered markers sit
where the target frame says, hostile text stays text, nothing was fetched, and
the page draws something.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from selenium.common.exceptions import NoAlertPresentException

from maps.webmap import LAYER_VENUES, write_map

from .conftest import (
    HOSTILE,
    HOSTILE_IMG,
    MARKING,
    ODD_WARD,
    TEMPLATE_JS,
    make_area,
    make_hotspots,
    make_hulls,
    make_meta,
    make_targets,
    make_venues,
    open_map,
)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=200)
    targets = make_targets(hotspots, area, n=10)
    venues = make_venues(hotspots)
    path = tmp_path_factory.mktemp("webmap") / "map.html"
    write_map(
        path,
        hotspots,
        targets,
        area=area,
        meta=make_meta("analyst"),
        hulls=make_hulls(hotspots),
        venues=venues,
    )
    return {"path": path, "targets": targets, "hotspots": hotspots, "venues": venues}


@pytest.fixture(scope="module")
def loaded(browser: Any, case: dict[str, Any]) -> dict[str, Any]:
    """The analyst map, loaded once, with its console log of the load."""
    logs = open_map(browser, case["path"])
    return {**case, "logs": logs, "driver": browser}


class _Refs(HTMLParser):
    """Every src/href attribute of every tag (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))


def test_html_has_no_external_references(case: dict[str, Any]) -> None:
    html = case["path"].read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(html)
    external = [r for r in parser.refs if re.match(r"\s*(https?:)?//", r[2], re.I)]
    assert external == []
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", html, re.I)
    assert "inlined from the Python package folium-offline" in html
    assert "Leaflet 1.9.3" in html


def test_leaflet_loads_offline(loaded: dict[str, Any]) -> None:
    d = loaded["driver"]
    assert d.execute_script('return typeof L !== "undefined"') is True
    assert d.execute_script("return L.version") == "1.9.3"
    # Nothing was fetched: no resource entries other than data: URIs.
    fetched = d.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith('data:'))"
    )
    assert fetched == []
    assert d.execute_script("return document.querySelectorAll('.leaflet-tile').length") == 0
    assert d.execute_script("return ENGAGE.tiles") is False


def test_target_markers_match_the_target_frame(loaded: dict[str, Any]) -> None:
    d = loaded["driver"]
    targets: pd.DataFrame = loaded["targets"]
    markers = d.execute_script(
        "return ENGAGE.layers.targets.getLayers().map(m => ({"
        "rank: m.options.engageRank, lat: m.getLatLng().lat, lng: m.getLatLng().lng}))"
    )
    got = pd.DataFrame(markers).sort_values("rank").reset_index(drop=True)
    want = targets.sort_values("rank").reset_index(drop=True)
    assert got["rank"].tolist() == want["rank"].tolist()
    np.testing.assert_allclose(got["lat"], want["lat"], atol=1e-6)
    np.testing.assert_allclose(got["lng"], want["lng"], atol=1e-6)
    # The icons in the DOM carry the same ranks and show them.
    icons = d.execute_script(
        "return Array.from(document.querySelectorAll('.engage-target [data-rank]'))"
        ".map(e => [Number(e.dataset.rank), e.textContent])"
    )
    assert sorted(r for r, _ in icons) == want["rank"].tolist()
    assert all(str(r) == text for r, text in icons)
    # window.ENGAGE.targets lists the same.
    listed = d.execute_script("return ENGAGE.targets")
    assert [t["rank"] for t in listed] == want["rank"].tolist()
    np.testing.assert_allclose([t["lat"] for t in listed], want["lat"], atol=1e-6)


def test_hostile_text_is_inert(loaded: dict[str, Any]) -> None:
    d = loaded["driver"]
    # Render every popup and tooltip, so hostile text reaches the DOM.
    contents = d.execute_script(
        """
        const out = [];
        ENGAGE.layers.targets.eachLayer(m => {
            m.openPopup(); out.push(m.getPopup().getElement().textContent); m.closePopup();
            m.openTooltip(); out.push(m.getTooltip().getElement().textContent); m.closeTooltip();
        });
        ENGAGE.layers.venues.eachLayer(v => {
            v.openTooltip(); out.push(v.getTooltip().getElement().textContent);
        });
        return out;
        """
    )
    text = "\n".join(contents)
    assert HOSTILE in text  # shown literally, as text
    assert HOSTILE_IMG in text
    assert TEMPLATE_JS in text
    with pytest.raises(NoAlertPresentException):
        alert = d.switch_to.alert
        pytest.fail(f"an alert fired: {alert.text}")
    # No element was injected: the page has exactly the script tags of the file.
    parser = _Refs()
    parser.feed(loaded["path"].read_text(encoding="utf-8"))
    assert d.execute_script("return document.scripts.length") == parser.tags.count("script")
    assert (
        d.execute_script("return document.querySelectorAll('.leaflet-container img').length") == 0
    )
    severe = [e for e in d.get_log("browser") + loaded["logs"] if e["level"] == "SEVERE"]
    assert severe == []
    html = loaded["path"].read_text(encoding="utf-8")
    for raw in (HOSTILE, HOSTILE_IMG, ODD_WARD, "${alert"):
        assert raw not in html


def test_no_severe_console_messages_on_load(loaded: dict[str, Any]) -> None:
    assert [e for e in loaded["logs"] if e["level"] == "SEVERE"] == []


def test_ward_name_with_ampersand_and_quotes_reads_back(loaded: dict[str, Any]) -> None:
    d = loaded["driver"]
    labels = d.execute_script(
        "return Array.from(document.querySelectorAll('.engage-label')).map(e => e.textContent)"
    )
    assert ODD_WARD in labels


def test_page_furniture(loaded: dict[str, Any]) -> None:
    d = loaded["driver"]
    top = d.execute_script(
        "const e = document.querySelector('.engage-marking-top');"
        "return [e.textContent, e.getBoundingClientRect().top, getComputedStyle(e).position]"
    )
    bottom = d.execute_script(
        "const e = document.querySelector('.engage-marking-bottom');"
        "return [e.textContent, e.getBoundingClientRect().bottom, window.innerHeight,"
        " getComputedStyle(e).position]"
    )
    assert top[0] == MARKING and top[1] == 0 and top[2] == "fixed"
    assert bottom[0].startswith(MARKING) and abs(bottom[1] - bottom[2]) < 1
    assert bottom[3] == "fixed"
    for selector in (
        ".leaflet-control-scale",
        ".leaflet-control-layers",
        ".engage-legend",
        ".engage-titlebar",
    ):
        assert d.execute_script(f"return document.querySelectorAll('{selector}').length") == 1
    names = d.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays span'))"
        ".map(e => e.textContent.trim())"
    )
    assert LAYER_VENUES in names
    n_cells = d.execute_script(
        "let n = 0; ENGAGE.layers.cells.eachLayer(g => g.eachLayer(() => n++)); return n"
    )
    assert n_cells == int((loaded["hotspots"]["score"] > 0).sum())
    n_venues = d.execute_script("return ENGAGE.layers.venues.getLayers().length")
    assert n_venues == len(loaded["venues"])


def test_screenshot_is_not_blank(loaded: dict[str, Any]) -> None:
    png = loaded["driver"].get_screenshot_as_png()
    img = imread(io.BytesIO(png), format="png")[..., :3]
    pixels = (img.reshape(-1, 3) * 255).round().astype(np.uint8)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) > 200
    assert counts.max() / counts.sum() < 0.6  # no single colour fills the page
    # The hottest class's red shows through somewhere (blended over the background).
    reds = (pixels[:, 0] > 150) & (pixels[:, 1] < 120) & (pixels[:, 2] < 120)
    assert reds.sum() > 500


def test_write_map_leaves_no_partial_file(case: dict[str, Any]) -> None:
    path: Path = case["path"]
    assert not path.with_name(path.name + ".part").exists()
    assert path.read_text(encoding="utf-8").lstrip().startswith("<!DOCTYPE html>")


def test_tooltips_wrap_at_a_readable_width(loaded: dict[str, Any]) -> None:
    """A target's tooltip (its reason, several words) wraps at its max width of 300 px,
    not one word per line, even for a marker near the map's right edge."""
    d = loaded["driver"]
    sizes = d.execute_script(
        """
        const out = [];
        ENGAGE.layers.targets.eachLayer(m => {
            m.openTooltip();
            const el = m.getTooltip().getElement();
            const style = getComputedStyle(el);
            const line = parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize);
            out.push({rank: m.options.engageRank, width: el.getBoundingClientRect().width,
                      lines: el.getBoundingClientRect().height / line,
                      words: el.textContent.split(/\\s+/).filter(Boolean).length});
            m.closeTooltip();
        });
        return out;
        """
    )
    assert sizes
    for s in sizes:
        # Each line holds several words: far fewer lines than words.
        assert s["lines"] < max(3.0, s["words"] / 3), s
        assert s["width"] > 120 or s["words"] < 4, s
