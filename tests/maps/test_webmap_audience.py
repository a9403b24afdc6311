"""Audience rules on the interactive map.

- Venues appear for analysts only: a neighbourhood or partner map carries no
  venue name, coordinate or layer, even when venues are passed in.
- Partner maps take resolution-8 cells and show every child or episode count
  below ``suppress_below`` as ``<5`` (read back from the rendered popups and
  tooltips in the browser).
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geo.errors import ValidationError
from maps.webmap import LAYER_VENUES, build_map, write_map

from .conftest import make_area, make_hotspots, make_meta, make_targets, make_venues, open_map


def _forms(text: str) -> list[str]:
    """How a name could appear in HTML: raw, HTML-escaped, or JSON-escaped."""
    escaped = htmllib.escape(text, quote=True)
    return [
        text,
        escaped,
        json.dumps(text)[1:-1],
        json.dumps(escaped)[1:-1].replace("&", "\\u0026"),
    ]


def _coord_forms(value: float) -> list[str]:
    return [repr(value), f"{value:.7f}", f"{value:.6f}", f"{value:.5f}"]


@pytest.mark.parametrize("audience", ["neighbourhood", "partner"])
def test_venues_absent_for_non_analysts(audience: str) -> None:
    area = make_area()
    res = 8 if audience == "partner" else 9
    hotspots = make_hotspots(area, n_cells=60, res=res)
    targets = make_targets(hotspots, area, n=6)
    venues = make_venues(make_hotspots(area, n_cells=60))
    # Names used nowhere else in the inputs, so any trace would be the venues layer.
    venues["name"] = ["Hidden <b>Venue</b> & Co", "Moonlight Hotel", "Speedy Cabs Ltd"]
    page = build_map(hotspots, targets, area=area, meta=make_meta(audience), venues=venues)
    for name in venues["name"]:
        for form in _forms(name):
            assert form not in page, form
    for value in [*venues["lat"], *venues["lng"]]:
        for form in _coord_forms(float(value)):
            assert form not in page, form
    assert LAYER_VENUES not in page
    assert '"venues":' not in page
    assert "Venue (restricted)" not in page


def test_venues_present_for_analysts() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=60)
    venues = make_venues(hotspots)
    page = build_map(
        hotspots,
        make_targets(hotspots, area, n=6),
        area=area,
        meta=make_meta("analyst"),
        venues=venues,
    )
    assert LAYER_VENUES in page
    assert repr(float(venues["lat"].iloc[1])) in page
    assert "Moonlight Hotel" in page


def test_partner_map_refuses_fine_cells() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=60, res=9)
    with pytest.raises(ValidationError, match="resolution 8"):
        build_map(hotspots, make_targets(hotspots, area, n=5), area=area, meta=make_meta("partner"))


def test_unknown_audience_is_refused() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=30)
    with pytest.raises(ValidationError, match="`audience` must be one of"):
        build_map(hotspots, make_targets(hotspots, area, n=3), area=area, meta=make_meta("public"))


def _expected(value: int, k: int) -> str:
    return f"<{k}" if value < k else str(value)


def test_partner_counts_below_five_are_suppressed(browser: Any, tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40, res=8)
    targets = make_targets(hotspots, area, n=8)
    # Make sure both sides of the threshold are present.
    targets.loc[0, ["episodes", "children"]] = [3, 2]
    targets.loc[1, ["episodes", "children"]] = [12, 7]
    hotspots.loc[0, ["n", "n_children"]] = [4, 1]
    hotspots.loc[1, ["n", "n_children"]] = [20, 9]
    path = write_map(
        tmp_path / "partner.html", hotspots, targets, area=area, meta=make_meta("partner")
    )
    open_map(browser, path)
    popups = browser.execute_script(
        """
        const out = {};
        ENGAGE.layers.targets.eachLayer(m => {
            m.openPopup();
            const rows = Array.from(m.getPopup().getElement().querySelectorAll('tr'));
            out[m.options.engageRank] = Object.fromEntries(
                rows.map(tr => [tr.cells[0].textContent, tr.cells[1].textContent]));
            m.closePopup();
        });
        return out;
        """
    )
    assert len(popups) == len(targets)
    for rank, ep, ch, found in targets[["rank", "episodes", "children", "found"]].to_numpy():
        shown = popups[str(rank)]
        assert shown["Episodes"] == _expected(int(ep), 5)
        assert shown["Children"] == _expected(int(ch), 5)
        assert shown["Found here"] == _expected(int(found), 5)
    tips = browser.execute_script(
        """
        const out = {};
        const parser = new DOMParser();
        ENGAGE.layers.cells.eachLayer(g => g.eachLayer(l => {
            const html = l.getTooltip().getContent();
            const doc = parser.parseFromString(html, 'text/html');
            out[l.feature.properties.h3] = doc.body.textContent;
        }));
        return out;
        """
    )
    shown_cells = hotspots[hotspots["score"] > 0]
    assert len(tips) == len(shown_cells)
    hexes = [format(int(c), "x") for c in shown_cells["h3"]]
    for cell, n, nc in zip(hexes, shown_cells["n"], shown_cells["n_children"], strict=True):
        tip = tips[cell]
        assert f"{_expected(int(n), 5)} events" in tip
        assert f"{_expected(int(nc), 5)} children" in tip
    # Nowhere does a suppressed count leak as a number next to its label.
    assert not any(re.search(r"\b[0-4] (events|children)\b", t) for t in tips.values())
    assert isinstance(pd.Series(tips).iloc[0], str)
