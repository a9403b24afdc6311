"""Where a target is: the map popup (in headless Chromium) and the pack's table say it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pypdf import PdfReader

from maps.audience import OutputMeta
from maps.pack import build_pack
from maps.targetrows import near_text, target_rows
from maps.webmap import write_map

from .conftest import make_area, make_hotspots, make_meta, make_targets, open_map

NAMES = ["Whalley Range", "Queen's Park <Road>", None]


def _targets(hotspots: pd.DataFrame, area: Any) -> pd.DataFrame:
    targets = make_targets(hotspots, area, n=3)
    targets["near"] = pd.Series(NAMES, dtype=object)
    targets["near_m"] = pd.array([12, 149, None], dtype="Int64")
    return targets


def test_near_text() -> None:
    assert near_text("Whalley Range", 40) == "on or near Whalley Range, 40 m"
    assert near_text("  Mill Lane ", 39.6) == "on or near Mill Lane, 40 m"
    assert near_text(None, 40) == "-" and near_text("", None) == "-"
    assert near_text("Supermarket", pd.NA) == "on or near Supermarket"
    rows = target_rows(
        pd.DataFrame({"rank": [1, 2], "near": ["A Street", None], "near_m": [5, None]}),
        OutputMeta.from_mapping(make_meta("analyst")),
    )
    assert [r.near for r in rows] == ["on or near A Street, 5 m", "-"]


def test_popup_says_where_the_target_is(browser: Any, tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=60)
    targets = _targets(hotspots, area)
    path = tmp_path / "map.html"
    write_map(path, hotspots, targets, area=area, meta=make_meta("analyst"))
    open_map(browser, path)
    popups = browser.execute_script(
        """
        const out = {};
        ENGAGE.layers.targets.eachLayer(m => {
            m.openPopup();
            const el = m.getPopup().getElement();
            out[el.querySelector('[data-rank]').dataset.rank] = el.innerText;
            m.closePopup();
        });
        return out;
        """
    )
    assert set(popups) == {"1", "2", "3"}
    assert "Where\ton or near Whalley Range, 12 m" in popups["1"]
    assert "Where\ton or near Queen's Park <Road>, 149 m" in popups["2"]  # text, not markup
    assert "Where" not in popups["3"] and "on or near" not in popups["3"]


def test_pack_table_prints_where(tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=60)
    targets = _targets(hotspots, area)
    path = build_pack(
        tmp_path / "pack.pdf", hotspots, targets, area=area, meta=make_meta("analyst")
    )
    text = "\n".join(p.extract_text() for p in PdfReader(path).pages)
    assert "Where: on or near Whalley Range, 12 m" in text
    assert "Where: on or near Queen's Park <Road>, 149 m" in text
    assert text.count("Where: on or near") == 2
