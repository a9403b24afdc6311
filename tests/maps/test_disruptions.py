"""Disruptions on the map, in the pack and in the target list, for each audience.

One hand-made case per audience: six targets, four disruptions in the
window and one outside it. In target 1's cell, a closure order at a venue
marked public and a patrol, with a free-text note, at a venue that is not;
420 m east of target 1's centre (outside its res-9 cell, within 400 m of its
edge) a CAWN dated four weeks before the patrol week, while target 1 rises;
and one disruption with no place at all. The outputs are built from the
views of ``maps.disclosure`` as the weekly pack builds them, then read back:
the CSV, the PDF's text through pypdf, and the map in headless Chromium.
"""

from __future__ import annotations

import html as htmllib
import io
import re
from typing import Any

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from pypdf import PdfReader

from geo.crs import bng_to_latlng, latlng_to_bng
from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_to_latlng
from maps.audience import OutputMeta
from maps.disclosure import (
    DISRUPTION_VIEW_COLUMNS,
    Audience,
    disruption_named,
    disruptions_view,
    target_disruptions_view,
)
from maps.disruptions import (
    LAYER_DISRUPTIONS,
    POPUP_LINES,
    DisruptionLayer,
    disruption_items,
    draw_disruptions,
)
from maps.exports import write_targets_csv
from maps.pack import build_pack
from maps.staticmap import StaticMapSpec, render_static_map
from maps.style import DISRUPTION_COLOUR
from maps.webmap import write_map
from models.disruptions import analyse_disruptions

from .conftest import (
    make_area,
    make_hotspots,
    make_meta,
    make_targets,
    open_map,
    overlay_names,
    toggle_overlay,
    views,
)

AS_OF = pd.Timestamp("2026-04-05 23:00", tz="UTC")  # Monday 6 April 2026, UK time
SECRET_VENUE = "Mill Lane Snooker"
OPEN_VENUE = "Open Market Cafe"
NOTES = ("Staff briefed at the counter", "Door staff spoken to")
IDS = ("DIS-OPEN", "DIS-SECRET", "DIS-CAWN", "DIS-NOWHERE", "DIS-OLD")
FULL_NOTE = (
    f"patrol at {SECRET_VENUE} on 24 Mar 2026; closure order at {OPEN_VENUE} since 17 Mar 2026"
)
FLAG = "possible displacement from CAWN DIS-CAWN on 10 Mar 2026 ("
WINDOW = "6 Apr 2025 - 12 Apr 2026"


def _east(lat: float, lng: float, metres: float) -> tuple[float, float]:
    e, n = latlng_to_bng([lat], [lng])
    la, ln = bng_to_latlng(e + metres, n)
    return float(la[0]), float(ln[0])


def make_case(audience: str) -> dict[str, Any]:
    """Cells, targets and the disruption layer of one audience, as the weekly pack makes them."""
    area = make_area()
    res = 8 if audience == "partner" else 9
    hotspots = make_hotspots(area, n_cells=120 if res == 9 else 60, res=res)
    targets = make_targets(hotspots, area, n=6)
    targets["recent"] = [9, 1, 2, 3, 4, 5]
    targets["before"] = [2, 1, 2, 3, 4, 5]
    # The venues and disruptions sit around target 1 (the centre of its cell).
    lat, lng = float(targets["lat"].iloc[0]), float(targets["lng"].iloc[0])
    venues = pd.DataFrame(
        {
            "venue_id": ["V-1", "V-2"],
            "name": [OPEN_VENUE, SECRET_VENUE],
            "venue_type": ["takeaway", "other"],
            "lat": [_east(lat, lng, 30)[0], _east(lat, lng, -40)[0]],
            "lng": [_east(lat, lng, 30)[1], _east(lat, lng, -40)[1]],
            "public": pd.array([True, False], dtype="boolean"),
        }
    )
    cawn = _east(lat, lng, 420)
    raw = pd.DataFrame(
        {
            "disruption_id": list(IDS),
            "venue_id": ["V-1", "V-2", None, None, "V-1"],
            "disrupted_at": pd.to_datetime(
                [
                    "2026-03-17 10:00",
                    "2026-03-24 21:00",
                    "2026-03-10 12:00",
                    "2026-03-01 09:00",
                    "2024-05-01 09:00",
                ],
                utc=True,
            ),
            "lat": [np.nan, np.nan, cawn[0], np.nan, np.nan],
            "lng": [np.nan, np.nan, cawn[1], np.nan, np.nan],
            "tactic": ["closure_order", "patrol", "cawn", "patrol", "closure_order"],
            "note": [NOTES[0], NOTES[1], None, "no place given", None],
            "public": pd.array([True, False, None, None, True], dtype="boolean"),
        }
    )
    found = analyse_disruptions(
        raw,
        venues,
        targets,
        area_cells=hotspots["h3"].to_numpy(dtype=np.int64),
        window_start=AS_OF - pd.Timedelta(weeks=52),
        window_end=AS_OF + pd.Timedelta(weeks=1),
        as_of=AS_OF,
    )
    rules = Audience.make(audience)
    cells, shown = views(hotspots, targets, audience)
    shown = target_disruptions_view(shown, found, rules)
    layer = DisruptionLayer.of(disruptions_view(found.drawn, rules), found, WINDOW)
    return {
        "area": area,
        "cells": cells,
        "targets": shown,
        "layer": layer,
        "found": found,
        "meta": make_meta(audience),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for audience in ("analyst", "neighbourhood", "partner"):
        case = make_case(audience)
        folder = tmp_path_factory.mktemp(f"disruptions-{audience}")
        write_map(
            folder / "map.html",
            case["cells"],
            case["targets"],
            area=case["area"],
            meta=case["meta"],
            disruptions=case["layer"],
        )
        build_pack(
            folder / "pack.pdf",
            case["cells"],
            case["targets"],
            area=case["area"],
            meta=case["meta"],
            disruptions=case["layer"],
        )
        write_targets_csv(folder / "targets.csv", case["targets"], meta=case["meta"])
        pdf = "\n".join(p.extract_text() for p in PdfReader(folder / "pack.pdf").pages)
        out[audience] = {
            **case,
            "folder": folder,
            "csv": pd.read_csv(folder / "targets.csv", dtype=str, keep_default_na=False),
            "pdf": " ".join(pdf.split()),
            "html": (folder / "map.html").read_text(encoding="utf-8"),
        }
    return out


def _unescaped(page: str) -> str:
    """The map's text with JSON and HTML escapes undone, so any trace of a name shows."""
    unjson = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    return htmllib.unescape(unjson.replace("\\/", "/").replace('\\"', '"'))


# --- the views ---------------------------------------------------------------------------------


def test_each_audience_sees_its_columns(built: dict[str, dict[str, Any]]) -> None:
    analyst = built["analyst"]["layer"].frame
    assert {"disruption_id", "note", "venue_id", "public"} <= set(analyst.columns)
    assert set(analyst["disruption_id"]) == {"DIS-OPEN", "DIS-SECRET", "DIS-CAWN"}
    for audience in ("neighbourhood", "partner"):
        frame = built[audience]["layer"].frame
        assert tuple(frame.columns) == DISRUPTION_VIEW_COLUMNS
        assert frame.attrs["audience"] == audience
        assert len(frame) == 3
    hood = built["neighbourhood"]["layer"].frame
    assert set(hood["venue_name"].dropna()) == {OPEN_VENUE, SECRET_VENUE}
    np.testing.assert_allclose(
        np.sort(hood["lat"].to_numpy()), np.sort(analyst["lat"].to_numpy()), atol=1e-9
    )


def test_partners_see_the_area_cell_and_public_names_only(
    built: dict[str, dict[str, Any]],
) -> None:
    frame = built["partner"]["layer"].frame
    cells = frame["h3"].to_numpy(dtype=np.int64)
    assert set(cells_resolution(cells).tolist()) == {8}
    lat, lng = cells_to_latlng(cells)
    np.testing.assert_allclose(frame["lat"], lat)
    np.testing.assert_allclose(frame["lng"], lng)
    names = [None if pd.isna(v) else v for v in frame["venue_name"]]
    by_tactic = dict(zip(frame["tactic"], names, strict=True))
    assert by_tactic == {"closure_order": OPEN_VENUE, "patrol": None, "cawn": None}


def test_a_venue_is_named_to_partners_where_the_disruption_or_unmarked_its_venue_is_public() -> (
    None
):
    frame = pd.DataFrame(
        {
            "public": pd.array([True, False, None, None, True], dtype="boolean"),
            "venue_public": pd.array([False, True, True, False, None], dtype="boolean"),
        }
    )
    assert disruption_named(frame).tolist() == [True, False, True, False, True]


# --- target rows -------------------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["analyst", "neighbourhood"])
def test_the_note_reads_in_the_csv_the_pdf_and_the_map(
    built: dict[str, dict[str, Any]], audience: str
) -> None:
    b = built[audience]
    first = b["csv"].loc[b["csv"]["rank"] == "1"].iloc[0]
    assert first["disruption"] == FULL_NOTE
    assert f"Disruptions near: {FULL_NOTE}" in b["pdf"]
    assert FULL_NOTE in _unescaped(b["html"])


def test_partners_read_the_note_without_names_that_are_not_public(
    built: dict[str, dict[str, Any]],
) -> None:
    b = built["partner"]
    note = b["csv"].loc[b["csv"]["rank"] == "1", "disruption"].item()
    assert note == (
        f"patrol on 24 Mar 2026; closure order at {OPEN_VENUE} since 17 Mar 2026; "
        "CAWN since 10 Mar 2026"
    )
    assert f"Disruptions near: {note}" in b["pdf"]


def test_displacement_is_flagged_for_analysts_only(built: dict[str, dict[str, Any]]) -> None:
    csv = built["analyst"]["csv"]
    flags = dict(zip(csv["rank"], csv["displacement"], strict=True))
    assert flags["1"].startswith(FLAG) and flags["1"].endswith(" m away)")
    assert all(flags[r] == "" for r in flags if r != "1")  # the others did not rise
    assert "Displacement: possible displacement from CAWN DIS-CAWN" in built["analyst"]["pdf"]
    assert FLAG in _unescaped(built["analyst"]["html"])
    for audience in ("neighbourhood", "partner"):
        b = built[audience]
        assert "displacement" not in b["csv"].columns
        for text in (b["pdf"], _unescaped(b["html"]), (b["folder"] / "targets.csv").read_text()):
            assert "possible displacement" not in text.lower()


def test_partner_and_neighbourhood_outputs_hold_no_note_and_no_id(
    built: dict[str, dict[str, Any]],
) -> None:
    analyst = built["analyst"]
    assert all(n in _unescaped(analyst["html"]) for n in NOTES)  # the contrast
    for audience in ("neighbourhood", "partner"):
        b = built[audience]
        texts = (b["pdf"], _unescaped(b["html"]), (b["folder"] / "targets.csv").read_text())
        for text in texts:
            for note in (*NOTES, "no place given"):
                assert note not in text, (audience, note)
            for ident in IDS:
                assert ident not in text, (audience, ident)
            if audience == "partner":
                assert SECRET_VENUE not in text


def test_the_pack_says_what_is_drawn_and_how_many_had_no_place(
    built: dict[str, dict[str, Any]],
) -> None:
    for audience, b in built.items():
        assert b["layer"].left_off == 1
        assert f"Magenta diamonds are disruptions dated {WINDOW}" in b["pdf"], audience
        assert "3 drawn" in b["pdf"]
        assert "1 disruption of the window had no place recorded" in b["pdf"]
        assert "1 disruption of the window had no place recorded" in _unescaped(b["html"])
    assert "not at its exact place" in built["partner"]["pdf"]


def test_the_static_map_draws_a_distinct_diamond_with_its_legend_entry(
    built: dict[str, dict[str, Any]],
) -> None:
    b = built["analyst"]
    spec = StaticMapSpec(width_mm=120, height_mm=120, dpi=100)

    def magenta(png: bytes) -> int:
        img = (imread(io.BytesIO(png), format="png")[..., :3] * 255).round()
        want = np.array([int(DISRUPTION_COLOUR[i : i + 2], 16) for i in (1, 3, 5)])
        return int((np.abs(img - want).max(axis=2) < 12).sum())

    args = (b["cells"], b["targets"])
    kwargs: dict[str, Any] = {"focus": b["area"], "area": b["area"], "spec": spec}
    without = render_static_map(*args, **kwargs)
    with_layer = render_static_map(*args, **kwargs, disruptions=b["layer"].frame)
    assert magenta(without) == 0 and magenta(with_layer) > 20
    fig = Figure()
    ax = fig.add_subplot()
    e, n = latlng_to_bng(b["layer"].frame["lat"], b["layer"].frame["lng"])
    extent = (
        float(e.min()) - 500,
        float(n.min()) - 500,
        float(e.max()) + 500,
        float(n.max()) + 500,
    )
    (handle,) = draw_disruptions(ax, b["layer"].frame, extent)
    assert handle.get_label() == "Disruption" and handle.get_marker() == "D"
    partner = built["partner"]["layer"].frame
    (handle,) = draw_disruptions(ax, partner, extent)
    assert handle.get_label() == "Disruption (its area cell)"


# --- the map in a browser ----------------------------------------------------------------------


def _popups(d: Any) -> list[str]:
    return list(
        d.execute_script(
            """
            const out = [];
            ENGAGE.layers.disruptions.eachLayer(m => {
                m.openPopup(); out.push(m.getPopup().getElement().textContent); m.closePopup();
            });
            return out;
            """
        )
    )


def test_the_layer_opens_in_a_browser_with_its_control_entry(
    browser: Any, built: dict[str, dict[str, Any]]
) -> None:
    b = built["analyst"]
    logs = open_map(browser, b["folder"] / "map.html")
    assert [e for e in logs if e["level"] == "SEVERE"] == []
    assert LAYER_DISRUPTIONS in overlay_names(browser)
    frame = b["layer"].frame
    places = len(
        {(round(a, 7), round(o, 7)) for a, o in zip(frame["lat"], frame["lng"], strict=True)}
    )
    count = "return ENGAGE.layers.disruptions.getLayers().length"
    on_map = "return ENGAGE.map.hasLayer(ENGAGE.layers.disruptions)"
    assert browser.execute_script(count) == places == 3
    assert browser.execute_script(on_map) is True
    n_marks = "return document.querySelectorAll('.engage-disruption-mark').length"
    assert browser.execute_script(n_marks) == 3
    text = "\n".join(_popups(browser))
    assert f"Closure order, 17 Mar 2026 · {OPEN_VENUE}" in text
    assert f"Patrol, 24 Mar 2026 · {SECRET_VENUE}" in text
    assert "CAWN, 10 Mar 2026" in text
    assert all(n in text for n in NOTES)
    # Target 1 carries the badge, and its popup the note.
    badges = browser.execute_script(
        "return Array.from(document.querySelectorAll('.engage-target-badge'))"
        ".map(e => Number(e.parentElement.querySelector('[data-rank]').dataset.rank))"
    )
    assert 1 in badges
    popup = browser.execute_script(
        "let t = ''; ENGAGE.layers.targets.eachLayer(m => { if (m.options.engageRank === 1) {"
        " m.openPopup(); t = m.getPopup().getElement().textContent; m.closePopup(); } });"
        "return t"
    )
    assert f"Disruptions near{FULL_NOTE}" in popup
    assert FLAG in popup
    toggle_overlay(browser, LAYER_DISRUPTIONS)
    assert browser.execute_script(on_map) is False
    assert browser.execute_script(n_marks) == 0


def test_the_partner_layer_in_a_browser(browser: Any, built: dict[str, dict[str, Any]]) -> None:
    b = built["partner"]
    logs = open_map(browser, b["folder"] / "map.html")
    assert [e for e in logs if e["level"] == "SEVERE"] == []
    assert LAYER_DISRUPTIONS in overlay_names(browser)
    cells = set(b["layer"].frame["h3"].astype(np.int64))
    layers = browser.execute_script(
        "return ENGAGE.layers.disruptions.getLayers().map(l => l.getLatLngs ? "
        "{outline: l.getLatLngs()[0].length} : {lat: l.getLatLng().lat, lng: l.getLatLng().lng})"
    )
    outlines = [x for x in layers if "outline" in x]
    markers = [x for x in layers if "lat" in x]
    assert len(outlines) == len(markers) == len(cells)
    assert all(x["outline"] == 6 for x in outlines)
    for m in markers:
        cell = int(h3i.latlng_to_cell(m["lat"], m["lng"], 8))
        assert cell in cells
        assert (m["lat"], m["lng"]) == pytest.approx(h3i.cell_to_latlng(cell), abs=1e-6)
    text = "\n".join(_popups(browser))
    assert "Patrol, 24 Mar 2026" in text and f"Closure order, 17 Mar 2026 · {OPEN_VENUE}" in text
    assert "not at its exact place" in text
    assert SECRET_VENUE not in text and not any(n in text for n in NOTES)


def test_a_map_without_disruptions_has_no_layer(built: dict[str, dict[str, Any]]) -> None:
    b = built["neighbourhood"]
    empty = DisruptionLayer(b["layer"].frame.iloc[0:0], 0, WINDOW)
    path = b["folder"] / "empty.html"
    write_map(path, b["cells"], b["targets"], area=b["area"], meta=b["meta"], disruptions=empty)
    page = path.read_text(encoding="utf-8")
    assert LAYER_DISRUPTIONS in page and "had no place recorded" not in page
    plain = b["folder"] / "plain.html"
    write_map(plain, b["cells"], b["targets"], area=b["area"], meta=b["meta"])
    assert LAYER_DISRUPTIONS not in plain.read_text(encoding="utf-8")


def test_a_neighbourhood_layer_must_be_its_view(built: dict[str, dict[str, Any]]) -> None:
    b = built["neighbourhood"]
    raw = DisruptionLayer(built["analyst"]["found"].drawn, 0, WINDOW)
    with pytest.raises(ValidationError, match=r"maps\.disclosure"):
        write_map(
            b["folder"] / "refused.html",
            b["cells"],
            b["targets"],
            area=b["area"],
            meta=b["meta"],
            disruptions=raw,
        )


def test_a_busy_place_is_one_marker_whose_popup_lists_the_latest() -> None:
    n = POPUP_LINES + 3
    frame = pd.DataFrame(
        {
            "disruption_id": [f"P-{i}" for i in range(n)],
            "disrupted_at": pd.date_range("2026-01-05 10:00", periods=n, freq="7D", tz="UTC"),
            "lat": 53.748,
            "lng": -2.484,
            "h3": int(h3i.latlng_to_cell(53.748, -2.484, 12)),
            "tactic": "patrol",
            "venue_name": None,
            "note": None,
        }
    )
    (item,) = disruption_items(frame, OutputMeta.from_mapping(make_meta("analyst")))
    assert item["n"] == n and item["title"] == f"Disruptions here ({n})"
    assert item["popup"].count("Patrol, ") == POPUP_LINES
    assert "and 3 earlier" in item["popup"]
    assert item["tip"] == f"Patrol, 13 Apr 2026 and {n - 1} more"
