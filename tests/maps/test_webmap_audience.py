"""Audience rules on the interactive map.

- Venues appear for analysts only: a neighbourhood or partner map carries no
  venue name, coordinate or layer, even when venues are passed in.
- Partner maps take resolution-8 cells and show every child or episode count
  from 1 to 4 as ``<5`` and the rest rounded to the nearest 5, or withheld as
  ``[c]`` (read back from the rendered popups and tooltips in the browser).
- A neighbourhood or partner map refuses frames that did not come from
  ``maps.disclosure``.
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

from .conftest import (
    make_area,
    make_hotspots,
    make_meta,
    make_targets,
    make_venues,
    open_map,
    views,
)


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
    cells, shown = views(hotspots, targets, audience)
    page = build_map(cells, shown, area=area, meta=make_meta(audience), venues=venues)
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
    cells, shown = views(hotspots, make_targets(hotspots, area, n=5), "partner")
    with pytest.raises(ValidationError, match="resolution 8"):
        build_map(cells, shown, area=area, meta=make_meta("partner"))


@pytest.mark.parametrize("audience", ["neighbourhood", "partner"])
def test_frames_not_from_the_disclosure_module_are_refused(audience: str) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40, res=8)
    targets = make_targets(hotspots, area, n=4)
    cells, shown = views(hotspots, targets, audience)
    with pytest.raises(ValidationError, match="must come from maps"):
        build_map(hotspots, shown, area=area, meta=make_meta(audience))
    with pytest.raises(ValidationError, match="must come from maps"):
        build_map(cells, targets, area=area, meta=make_meta(audience))
    # Another audience's view is refused too.
    other = "neighbourhood" if audience == "partner" else "partner"
    cells_other, shown_other = views(hotspots, targets, other)
    with pytest.raises(ValidationError, match="must come from maps"):
        build_map(cells_other, shown_other, area=area, meta=make_meta(audience))


def test_unknown_audience_is_refused() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=30)
    with pytest.raises(ValidationError, match="`audience` must be one of"):
        build_map(hotspots, make_targets(hotspots, area, n=3), area=area, meta=make_meta("public"))


def _expected(value: int, k: int) -> str:
    """The published rule, written out independently: 0; <k from 1 to k-1; else nearest 5."""
    if value == 0:
        return "0"
    if value < k:
        return f"<{k}"
    return str(5 * int(value / 5 + 0.5))


def _agrees(shown: str, value: int, k: int = 5) -> bool:
    """``shown`` is the rule's text, or ``[c]`` in place of a count that would be shown."""
    want = _expected(value, k)
    return shown == want or (shown == "[c]" and want.isdigit() and want != "0")


def test_partner_counts_below_five_are_suppressed(browser: Any, tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40, res=8)
    targets = make_targets(hotspots, area, n=8)
    # Make sure both sides of the threshold are present.
    targets.loc[0, ["episodes", "children", "found"]] = [3, 2, 1]
    targets.loc[1, ["episodes", "children", "found"]] = [12, 7, 0]
    hotspots.loc[hotspots.index[-1], ["n", "n_children"]] = [4, 1]
    cells, shown = views(hotspots, targets, "partner")
    path = write_map(tmp_path / "partner.html", cells, shown, area=area, meta=make_meta("partner"))
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
        row = popups[str(rank)]
        assert _agrees(row["Episodes"], int(ep)), (rank, row)
        assert _agrees(row["Children"], int(ch)), (rank, row)
        assert _agrees(row["Found here"], int(found)), (rank, row)
        assert "Score" not in row
    assert popups["1"]["Episodes"] == "<5" and popups["2"]["Children"] in ("5", "[c]")
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
    drawn = hotspots[hotspots["score"] > 0]
    assert len(tips) == len(drawn)
    exact = cells.assign(h3=[format(int(c), "x") for c in cells["h3"]]).set_index("h3")
    # Each cell's events, worked out here: a target cell holds its episodes (one last-seen
    # event each), found events and reports; any other cell keeps the frame's n.
    per = targets.set_index("h3")
    for h, n in zip(hotspots["h3"], hotspots["n"], strict=True):
        if h in per.index:
            t = per.loc[h]
            n = int(t["episodes"] + t["found"] + t["venue_reports"])
        assert _agrees(exact.loc[format(int(h), "x"), "n"], int(n))
    for cell, tip in tips.items():
        n = re.search(r"(\S+) events", tip)
        nc = re.search(r"(\S+) children", tip)
        assert n and nc, tip
        assert n.group(1) == exact.loc[cell, "n"] and nc.group(1) == exact.loc[cell, "n_children"]
        assert "Score" not in tip
    # Nowhere does a suppressed count leak as a number next to its label.
    assert not any(re.search(r"\b[1-4] (events|children)\b", t) for t in tips.values())
    assert isinstance(pd.Series(tips).iloc[0], str)
