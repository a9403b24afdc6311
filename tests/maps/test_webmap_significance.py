"""The Gi* and emerging-trend layers of the interactive map, in a real browser.

The layers come from :func:`models.gistar.gistar` and
:func:`models.emerging.emerging_hotspots` run on made-up counts (hot and cold
spots both present). In headless Chromium: both layers are listed in the
layer control and start switched off with no legend; switching one on draws
exactly the significant cells, each in its class colour, with a tooltip
giving its statistics, and brings a legend naming every class with its count;
switching it off removes both. Partner maps draw only disclosable cells and
refuse a frame without ``disclosable``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pytest

from geo.errors import ValidationError
from maps.assets import external_references
from maps.disclosure import Audience, layers_view
from maps.style import EMERGING_CLASSES, GISTAR_CLASSES
from maps.webmap import LAYER_EMERGING, LAYER_GISTAR, build_map, write_map

from .conftest import (
    drawn_cells,
    make_area,
    make_hotspots,
    make_meta,
    make_significance,
    make_targets,
    open_map,
    overlay_names,
    toggle_overlay,
    views,
)

GI_COLOUR = {c.key: c.colour for c in GISTAR_CLASSES}
EM_COLOUR = {c.key: c.colour for c in EMERGING_CLASSES}
GI_LABEL = {c.key: c.label for c in GISTAR_CLASSES}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=200)
    targets = make_targets(hotspots, area, n=8)
    frame, meta = make_significance(hotspots)
    path = tmp_path_factory.mktemp("sigmap") / "map.html"
    write_map(
        path,
        hotspots,
        targets,
        area=area,
        meta=make_meta("analyst"),
        significance=frame,
        significance_meta=meta,
    )
    return {"path": path, "frame": frame, "hotspots": hotspots, "area": area, "targets": targets}


def _cells(frame: pd.DataFrame, column: str, prefixes: tuple[str, ...]) -> dict[str, str]:
    """hex h3 -> class of the rows whose class starts with one of ``prefixes``."""
    keep = frame[column].astype(str).str.startswith(prefixes)
    rows = frame.loc[keep]
    return {h3.int_to_str(int(c)): k for c, k in zip(rows["h3"], rows[column], strict=True)}


def test_fixture_has_hot_cold_and_trend_cells(case: dict[str, Any]) -> None:
    classes = set(case["frame"]["gi_class"])
    assert any(c.startswith("hot_") for c in classes)
    assert any(c.startswith("cold_") for c in classes)
    assert (case["frame"]["pattern"] != "no_pattern").sum() > 0


def _n_legends(d: Any, key: str) -> int:
    return int(d.execute_script(f"return document.querySelectorAll('.engage-legend-{key}').length"))


def test_both_layers_listed_and_off_with_no_legend(browser: Any, case: dict[str, Any]) -> None:
    open_map(browser, case["path"])
    names = overlay_names(browser)
    assert LAYER_GISTAR in names and LAYER_EMERGING in names
    for key in ("gistar", "emerging"):
        assert browser.execute_script(f"return ENGAGE.map.hasLayer(ENGAGE.layers.{key})") is False
        assert drawn_cells(browser, key) == []
        assert _n_legends(browser, key) == 0


def test_gistar_layer_draws_the_significant_cells_with_legend(
    browser: Any, case: dict[str, Any]
) -> None:
    frame: pd.DataFrame = case["frame"]
    want = _cells(frame, "gi_class", ("hot_", "cold_"))
    open_map(browser, case["path"])
    toggle_overlay(browser, LAYER_GISTAR)
    drawn = drawn_cells(browser, "gistar")
    assert len(drawn) == len(want)
    assert {p["h3"] for p in drawn} == set(want)
    for p in drawn:
        assert p["fill"] == GI_COLOUR[want[p["h3"]]], p
    legend = browser.execute_script(
        "const e = document.querySelector('.engage-legend-gistar');"
        "return e ? Array.from(e.querySelectorAll('.engage-legend-row'))"
        ".map(r => [r.dataset.class, r.textContent.trim()]) : null"
    )
    assert legend is not None
    counts = frame["gi_class"].value_counts()
    assert [k for k, _ in legend] == [c.key for c in GISTAR_CLASSES]
    for key, text in legend:
        assert text == f"{GI_LABEL[key]} ({int(counts.get(key, 0))})"
    # A tooltip gives the cell's z, raw p and adjusted p.
    row = frame.loc[frame["gi_class"] == "hot_99"].iloc[0]
    tip = browser.execute_script(
        "let t = null; ENGAGE.layers.gistar.eachLayer(g => g.eachLayer(p => {"
        " if (p.feature.properties.h3 === arguments[0]) {"
        "  p.openTooltip(); t = p.getTooltip().getElement().textContent; p.closeTooltip(); }"
        "})); return t",
        h3.int_to_str(int(row["h3"])),
    )
    assert tip.startswith("Hot spot, 99% confidence")
    assert f"Gi* z {row['gi_z']:.2f}" in tip
    assert "p adjusted (FDR)" in tip
    # Switched off again: nothing drawn, legend gone.
    toggle_overlay(browser, LAYER_GISTAR)
    assert drawn_cells(browser, "gistar") == []
    assert _n_legends(browser, "gistar") == 0


def test_emerging_layer_draws_the_patterned_cells_with_legend(
    browser: Any, case: dict[str, Any]
) -> None:
    frame: pd.DataFrame = case["frame"]
    want = _cells(frame, "pattern", tuple(EM_COLOUR))
    assert len(want) == int((frame["pattern"] != "no_pattern").sum())
    open_map(browser, case["path"])
    toggle_overlay(browser, LAYER_EMERGING)
    drawn = drawn_cells(browser, "emerging")
    assert len(drawn) == len(want)
    assert {p["h3"] for p in drawn} == set(want)
    for p in drawn:
        assert p["fill"] == EM_COLOUR[want[p["h3"]]], p
        assert (p["dash"] is not None) == want[p["h3"]].endswith("_cold")
    rows = browser.execute_script(
        "const e = document.querySelector('.engage-legend-emerging');"
        "return e ? Array.from(e.querySelectorAll('[data-pattern]'))"
        ".map(r => [r.dataset.pattern, r.textContent.trim()]) : null"
    )
    assert rows is not None
    counts = frame["pattern"].value_counts()
    assert [p for p, _ in rows] == [c.key.removesuffix("_hot") for c in EMERGING_CLASSES[:8]]
    for pattern, text in rows:
        n_hot, n_cold = counts.get(f"{pattern}_hot", 0), counts.get(f"{pattern}_cold", 0)
        assert text == f"{pattern.capitalize()} ({n_hot} / {n_cold})"
    title = browser.execute_script(
        "return document.querySelector('.engage-legend-emerging .engage-legend-title').textContent"
    )
    assert title == "Emerging trends (12 weeks)"
    row = frame.loc[frame["pattern"] != "no_pattern"].iloc[0]
    tip = browser.execute_script(
        "let t = null; ENGAGE.layers.emerging.eachLayer(g => g.eachLayer(p => {"
        " if (p.feature.properties.h3 === arguments[0]) {"
        "  p.openTooltip(); t = p.getTooltip().getElement().textContent; p.closeTooltip(); }"
        "})); return t",
        h3.int_to_str(int(row["h3"])),
    )
    assert f"Mann-Kendall z {row['mk_z']:.2f}" in tip
    assert f"({row['mk_trend']})" in tip
    # The Gi* legend stays away while only the trend layer is on.
    assert _n_legends(browser, "gistar") == 0


class _Refs(HTMLParser):
    """src/href attributes of the page's tags (script bodies are not parsed as tags)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v is not None]


def test_map_with_layers_links_nothing_external(case: dict[str, Any]) -> None:
    page = case["path"].read_text(encoding="utf-8")
    assert external_references(page) == []
    parser = _Refs()
    parser.feed(page)
    assert [r for r in parser.refs if re.match(r"\s*(https?:)?//", r, re.I)] == []
    assert "arcgis.com" not in page  # the trend definitions' citation stays in run.json


def test_absent_groups_are_absent_layers(case: dict[str, Any]) -> None:
    hotspots, targets, area = case["hotspots"], case["targets"], case["area"]
    frame: pd.DataFrame = case["frame"]
    none = build_map(hotspots, targets, area=area, meta=make_meta("analyst"))
    assert LAYER_GISTAR not in none and LAYER_EMERGING not in none
    gi_only = build_map(
        hotspots,
        targets,
        area=area,
        meta=make_meta("analyst"),
        significance=frame[["h3", "gi_z", "gi_p", "gi_p_adj", "gi_class"]],
    )
    assert LAYER_GISTAR in gi_only and LAYER_EMERGING not in gi_only


def test_bad_significance_frames_are_refused(case: dict[str, Any]) -> None:
    hotspots, targets, area = case["hotspots"], case["targets"], case["area"]
    frame: pd.DataFrame = case["frame"]
    odd = frame.assign(gi_class=np.where(frame.index == 0, "very_hot", frame["gi_class"]))
    with pytest.raises(ValidationError, match="very_hot"):
        build_map(hotspots, targets, area=area, meta=make_meta("analyst"), significance=odd)
    stray = frame.copy()
    stray.loc[0, "h3"] = h3.str_to_int(h3.latlng_to_cell(51.5, -0.12, 9))
    with pytest.raises(ValidationError, match="not in `hotspots`"):
        build_map(hotspots, targets, area=area, meta=make_meta("analyst"), significance=stray)


def test_partner_map_draws_only_disclosable_cells(
    browser: Any, tmp_path: Path, case: dict[str, Any]
) -> None:
    area = case["area"]
    hotspots = make_hotspots(area, n_cells=120, res=8)
    targets = make_targets(hotspots, area, n=5)
    frame, meta = make_significance(hotspots)
    cells, shown = views(hotspots, targets, "partner")
    with pytest.raises(ValidationError, match="disclosable"):
        build_map(cells, shown, area=area, meta=make_meta("partner"), significance=frame)
    significant = frame["gi_class"].str.startswith(("hot_", "cold_")).to_numpy()
    # Every other significant cell is disclosable.
    disclosable = np.zeros(len(frame), dtype=bool)
    disclosable[np.flatnonzero(significant)[::2]] = True
    partner = Audience.make("partner")
    with pytest.raises(ValidationError, match="not disclosable"):
        leaky = frame.assign(disclosable=disclosable)
        build_map(cells, shown, area=area, meta=make_meta("partner"), significance=leaky)
    layers, layers_meta = layers_view(frame, meta, partner, shown=disclosable)
    path = tmp_path / "partner.html"
    write_map(
        path,
        cells,
        shown,
        area=area,
        meta=make_meta("partner"),
        significance=layers,
        significance_meta=layers_meta,
    )
    open_map(browser, path)
    toggle_overlay(browser, LAYER_GISTAR)
    drawn = {p["h3"] for p in drawn_cells(browser, "gistar")}
    want = {h3.int_to_str(int(c)) for c in frame.loc[significant & disclosable, "h3"]}
    assert significant.sum() >= 2
    assert drawn == want
    legend = browser.execute_script(
        "return document.querySelector('.engage-legend-gistar').textContent"
    )
    assert "fewer than 5 children are not shown" in legend
    # The page's Gi* tooltips are exactly those of the drawn cells: none for hidden ones.
    page = path.read_text(encoding="utf-8")
    in_page = sorted(re.findall(r"Gi\* z (-?\d+\.\d\d)", page))
    shown_z = sorted(f"{z:.2f}" for z in frame.loc[significant & disclosable, "gi_z"])
    assert in_page == shown_z
