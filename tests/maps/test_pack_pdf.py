"""The A4 PDF pack, read back with pypdf.

Two wards and 20 targets: every page is A4 and carries the marking in its
header and footer with "Page n of m"; there is one map page per ward, each
listing the targets of that ward; the target table read back from the PDF
equals the target frame; hostile text prints literally. Partner packs
suppress small counts and refuse fine cells.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pypdf import PdfReader

from geo.errors import ValidationError
from maps.disclosure import Audience, hulls_view, summary_view
from maps.pack import build_pack

from .conftest import (
    FORMULA,
    HOSTILE,
    HOSTILE_IMG,
    MARKING,
    ODD_WARD,
    make_area,
    make_hotspots,
    make_hulls,
    make_meta,
    make_targets,
    views,
)

A4_PT = (595.276, 841.89)
# rank, visit, ward (first line), grid ref, episodes, children, found, venue reports, window
ROW = re.compile(
    r"^\s*(?P<rank>\d+)\s+(?P<visit>\d+|-)\s+(?P<ward>\S.*?)\s{2,}"
    r"(?P<grid>[HNOST][A-Z] \d{3,5} \d{3,5})\s+"
    r"(?P<episodes><?\d+|\[c\])\s+(?P<children><?\d+|\[c\])\s+(?P<found><?\d+|\[c\])\s+"
    r"(?P<venue_reports><?\d+|\[c\])\s+"
    r"(?P<window>\w{3} \d\d:\d\d-\d\d:\d\d)"
)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    area = make_area(("E05011509", "E05011511"))
    hotspots = make_hotspots(area, n_cells=300)
    targets = make_targets(hotspots, area, n=20)
    targets["visit_order"] = list(range(20, 0, -1))
    cells, shown = views(hotspots, targets, "neighbourhood")
    path = tmp_path_factory.mktemp("pack") / "pack.pdf"
    out = build_pack(
        path,
        cells,
        shown,
        area=area,
        meta=make_meta("neighbourhood"),
        hulls=hulls_view(make_hulls(hotspots), Audience.make("neighbourhood")),
        wards=list(zip(area["code"], area["name"], strict=True)),
    )
    reader = PdfReader(out)
    return {"path": out, "reader": reader, "targets": targets, "area": area}


def _text_positions(page: Any) -> list[tuple[str, float]]:
    """(text, y in points) of every text run on a page."""
    found: list[tuple[str, float]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text.strip():
            # Page y = text-matrix y mapped through the current transformation matrix.
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((text.strip(), float(y)))

    page.extract_text(visitor_text=visit)
    return found


def _table_rows(reader: PdfReader) -> pd.DataFrame:
    rows = []
    for page in reader.pages:
        text = page.extract_text(extraction_mode="layout")
        if "Target list" not in text and "Why:" not in text:
            continue
        for line in text.splitlines():
            m = ROW.match(line)
            if m:
                rows.append(m.groupdict())
    return pd.DataFrame(rows)


def test_every_page_is_a4(pack: dict[str, Any]) -> None:
    for page in pack["reader"].pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(w - A4_PT[0]) < 1 and abs(h - A4_PT[1]) < 1


def test_marking_in_header_and_footer_of_every_page(pack: dict[str, Any]) -> None:
    pages = pack["reader"].pages
    assert len(pages) >= 4  # cover, two maps, the table
    for i, page in enumerate(pages, start=1):
        text = page.extract_text()
        assert text.count(MARKING) >= 2
        assert f"Page {i} of {len(pages)}" in text
        ys = [y for t, y in _text_positions(page) if t == MARKING]
        assert any(y > A4_PT[1] - 50 for y in ys), f"no header marking on page {i}"
        assert any(y < 50 for y in ys), f"no footer marking on page {i}"


def test_cover_page(pack: dict[str, Any]) -> None:
    text = pack["reader"].pages[0].extract_text()
    meta = make_meta("neighbourhood")
    for expected in (
        meta["title"],
        meta["period"],
        meta["data_window"],
        ODD_WARD,
        "How to read this pack",
        "Bandwidth (m)",
        "Half life (days)",
        "Lookback (weeks)",
        "412",
    ):
        assert expected in text, expected


def test_one_map_page_per_ward_with_its_targets(pack: dict[str, Any]) -> None:
    reader, targets, area = pack["reader"], pack["targets"], pack["area"]
    map_pages = [p for p in reader.pages if "Targets on this map:" in p.extract_text()]
    assert len(map_pages) == len(area)
    for i, (page, (code, name)) in enumerate(
        zip(map_pages, zip(area["code"], area["name"], strict=True), strict=True), start=1
    ):
        text = page.extract_text()
        assert f"Map {i} of {len(area)}: {name} ({code})" in text
        listed = re.search(r"Targets on this map: ([\d, ]+)", text)
        assert listed is not None
        ranks = [int(r) for r in listed.group(1).split(",")]
        assert ranks == targets.loc[targets["ward_name"] == name, "rank"].tolist()
        assert len(page.images) == 1  # the static map
        # The page's key gives each of its targets' grid references.
        for grid in targets.loc[targets["ward_name"] == name, "grid_ref"]:
            assert grid in text


def test_target_table_reads_back_equal_to_the_frame(pack: dict[str, Any]) -> None:
    got = _table_rows(pack["reader"])
    want = pack["targets"]
    assert len(got) == len(want)
    assert got["rank"].astype(int).tolist() == want["rank"].tolist()
    assert got["visit"].astype(int).tolist() == want["visit_order"].tolist()
    assert got["grid"].tolist() == want["grid_ref"].tolist()
    for col in ("episodes", "children", "found", "venue_reports"):
        assert got[col].astype(int).tolist() == want[col].tolist(), col
    assert got["window"].tolist() == want["patrol_window"].tolist()
    for ward_start, ward in zip(got["ward"], want["ward_name"], strict=True):
        assert ward.startswith(ward_start.strip())


def test_hostile_text_prints_literally(pack: dict[str, Any]) -> None:
    text = "\n".join(p.extract_text() for p in pack["reader"].pages)
    assert HOSTILE in text
    assert FORMULA in text
    # The narrow "Nearest venue" column wraps this one; rejoin its lines.
    assert HOSTILE_IMG in text.replace("\n", "")
    assert ODD_WARD in text
    assert "&amp;" not in text and "&lt;" not in text


def test_single_area_pack_has_one_map(tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=80)
    targets = make_targets(hotspots, area, n=4)
    out = build_pack(tmp_path / "one.pdf", hotspots, targets, area=area, meta=make_meta())
    reader = PdfReader(out)
    maps = [p for p in reader.pages if "Targets on this map:" in p.extract_text()]
    assert len(maps) == 1
    assert not (tmp_path / "one.pdf.part").exists()


def _expected(value: int, k: int = 5) -> str:
    """The published rule, written out here: 0; <k from 1 to k-1; else the nearest 5."""
    return "0" if value == 0 else f"<{k}" if value < k else str(5 * int(value / 5 + 0.5))


def test_partner_pack_suppresses_small_counts(tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40, res=8)
    targets = make_targets(hotspots, area, n=6)
    targets.loc[0, ["episodes", "children", "found"]] = [3, 2, 1]
    targets.loc[1, ["episodes", "children", "found"]] = [12, 7, 6]
    meta = make_meta("partner")
    meta["summary"] = {"episodes": 40, "children": 3, "targets": 6}
    cells, shown = views(hotspots, targets, "partner")
    with pytest.raises(ValidationError, match="did not disclose"):
        build_pack(tmp_path / "raw.pdf", cells, shown, area=area, meta=meta)
    meta["summary"] = summary_view(meta["summary"], Audience.make("partner"))
    out = build_pack(tmp_path / "partner.pdf", cells, shown, area=area, meta=meta)
    reader = PdfReader(out)
    got = _table_rows(reader)
    assert got["rank"].astype(int).tolist() == targets["rank"].tolist()
    for col in ("episodes", "children", "found"):
        for text, value in zip(got[col], targets[col], strict=True):
            assert text == _expected(int(value)) or (text == "[c]" and int(value) >= 5), col
    assert got.loc[0, "episodes"] == "<5" and got.loc[1, "episodes"] in ("10", "[c]")
    cover = reader.pages[0].extract_text()
    assert "Counts from 1 to 4 are shown as <5" in cover
    assert re.search(r"Children\s+<5", cover) and re.search(r"Episodes\s+40", cover)


def test_partner_pack_refuses_fine_cells(tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40, res=9)
    cells, shown = views(hotspots, make_targets(hotspots, area, n=3), "partner")
    with pytest.raises(ValidationError, match="resolution 8"):
        build_pack(tmp_path / "p.pdf", cells, shown, area=area, meta=make_meta("partner"))
    assert not (tmp_path / "p.pdf").exists()


def test_unknown_ward_is_a_clear_error(tmp_path: Path) -> None:
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40)
    with pytest.raises(ValidationError, match="E05999999"):
        build_pack(
            tmp_path / "w.pdf",
            hotspots,
            make_targets(hotspots, area, n=3),
            area=area,
            meta=make_meta(),
            wards=[("E05999999", "Nowhere")],
        )


def test_long_text_is_cut_with_an_ellipsis_not_a_crash(tmp_path: Path) -> None:
    """A venue name of 1,200 characters, a reason of 4,000 and a ward of 500 used to stop the
    whole pack (a table row taller than the page); they print cut, ending in an ellipsis."""
    area = make_area()
    hotspots = make_hotspots(area, n_cells=40)
    targets = make_targets(hotspots, area, n=4)
    targets.loc[0, "nearest_venue"] = "Long " * 240
    targets.loc[1, "why"] = "word " * 800
    targets.loc[2, "ward_name"] = "W" * 500
    cells, shown = views(hotspots, targets, "analyst")
    out = build_pack(tmp_path / "long.pdf", cells, shown, area=area, meta=make_meta("analyst"))
    text = "\n".join(p.extract_text() for p in PdfReader(out).pages)
    flat = " ".join(text.split())
    assert "Long Long" in flat and "…" in flat
    assert flat.count("word") < 200  # cut to the printed limit, not all 800
    assert all(p.extract_text().count(MARKING) >= 2 for p in PdfReader(out).pages)
