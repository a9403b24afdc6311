"""Quiet weeks and awkward inputs still give a usable map and pack."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from geo.errors import ValidationError
from maps.pack import build_pack
from maps.webmap import build_map

from .conftest import MARKING, make_area, make_hotspots, make_meta, make_targets, views


def test_no_targets_and_no_scored_cells(tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=30)
    hotspots["score"] = 0.0
    targets = make_targets(hotspots, area, n=3).iloc[0:0]
    cells, shown = views(hotspots, targets, "neighbourhood")
    page = build_map(cells, shown, area=area, meta=make_meta("neighbourhood"))
    assert "targets: []," in page
    out = build_pack(tmp_path / "quiet.pdf", hotspots, targets, area=area, meta=make_meta())
    reader = PdfReader(out)
    assert all(p.extract_text().count(MARKING) >= 2 for p in reader.pages)
    assert "Targets on this map: none" in "".join(p.extract_text() for p in reader.pages)


def test_missing_columns_name_the_argument() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=30)
    targets = make_targets(hotspots, area, n=3)
    with pytest.raises(ValidationError, match=r"`hotspots` lacks columns \['lat'\]"):
        build_map(hotspots.drop(columns="lat"), targets, area=area, meta=make_meta("analyst"))
    with pytest.raises(ValidationError, match=r"`targets` lacks columns \['rank'\]"):
        build_map(hotspots, targets.drop(columns="rank"), area=area, meta=make_meta("analyst"))


def test_duplicate_cells_are_refused() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=30)
    doubled = pd.concat([hotspots, hotspots.iloc[:1]], ignore_index=True)
    with pytest.raises(ValidationError, match="one row per H3 cell"):
        build_map(doubled, make_targets(hotspots, area, n=3), area=area, meta=make_meta())


def test_area_without_crs_is_refused() -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=30)
    bare = area.set_crs(None, allow_override=True)
    with pytest.raises(ValidationError, match="`area` has no CRS"):
        build_map(hotspots, make_targets(hotspots, area, n=3), area=bare, meta=make_meta())
