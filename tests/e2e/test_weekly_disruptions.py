"""Disruptions through the whole weekly pack: ingest, analysis, every output, each audience.

Three places in Blackburn with Darwen, each one res-9 cell of episodes:

- A rises (2 episodes in the 4 weeks before those before the patrol week, 8
  in the last 4); a patrol at a public venue in its cell two weeks before the
  patrol week, and a closure order at a venue that is not public 420 m east
  of its centre (outside its cell, within 400 m of its edge) six weeks before;
- B rises too, with a disruption 420 m east of it 20 weeks before (too long
  ago to explain the rise);
- C falls, with a disruption 420 m east of it three weeks before.

Plus a disruption stored with no place and one from before the lookback.
Only A is flagged as a possible displacement, for analysts only; A's row notes
the patrol in every audience; partners never read the venue that is not
public, and nobody but analysts reads a note or an id.
"""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from api.settings import Settings
from api.usecases.ingest import ingest_files
from api.usecases.week import weekly
from geo import schemas
from geo.boundaries import wards
from geo.calendar import patrol_week
from geo.crs import bng_to_latlng, latlng_to_bng
from geo.store import open_store
from geo.store.frames import conform
from maps.disruptions import LAYER_DISRUPTIONS

from .conftest import open_map, overlay_names

KEY = "disruption-e2e-key-0123456789-abcdefghij"
WEEK = "2026-W20"  # Monday 11 May 2026
START, _ = patrol_week(WEEK)
SECRET_VENUE = "Mill Lane Snooker"
OPEN_VENUE = "Open Market Cafe"
NOTE = "DISNOTE door staff spoken to"


def _centre(ward_index: int) -> tuple[int, float, float]:
    """A res-9 cell inside a ward and its centre."""
    w = wards().sort_values("code").reset_index(drop=True)
    pt = w.geometry.iloc[ward_index].representative_point()
    cell = int(h3i.latlng_to_cell(pt.y, pt.x, 9))
    lat, lng = h3i.cell_to_latlng(cell)
    return cell, float(lat), float(lng)


def _east(lat: float, lng: float, metres: float) -> tuple[float, float]:
    e, n = latlng_to_bng([lat], [lng])
    la, ln = bng_to_latlng(e + metres, n)
    return round(float(la[0]), 6), round(float(ln[0]), 6)


def _iso(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%MZ")


def _episodes(place: str, lat: float, lng: float, before: int, recent: int) -> list[dict[str, Any]]:
    rows = []
    for period, n, weeks_back in (("b", before, 8), ("r", recent, 4)):
        for i in range(n):
            at = START - pd.Timedelta(weeks=weeks_back) + pd.Timedelta(days=3 * i + 1, hours=20)
            rows.append(
                {
                    "episode_id": f"EP-{place}{period}{i}",
                    "child_id": f"CH-{place}{period}{i}",
                    "reported_at": _iso(at + pd.Timedelta(hours=1)),
                    "last_seen_at": _iso(at),
                    "last_seen_lat": lat,
                    "last_seen_lng": lng,
                    "last_seen_place_type": "public",
                    "found_at": _iso(at + pd.Timedelta(hours=6)),
                    "found_lat": lat,
                    "found_lng": lng,
                    "found_place_type": "public",
                    "in_care": "false",
                    "risk_level": "medium",
                }
            )
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("weekly-disruptions")
    location = str(root / "engage.gpkg")
    settings = Settings(store=location, quarantine_dir=root / "q", pseudonym_key=KEY)
    (a, a_lat, a_lng), (b, b_lat, b_lng), (c, c_lat, c_lng) = (_centre(i) for i in (2, 9, 16))
    venues = [
        {"venue_id": "V-1", "name": OPEN_VENUE, "venue_type": "takeaway", "public": "true"},
        {"venue_id": "V-2", "name": SECRET_VENUE, "venue_type": "other", "public": "false"},
    ]
    for v, metres in zip(venues, (30.0, 420.0), strict=True):
        v["lat"], v["lng"] = _east(a_lat, a_lng, metres)

    def when(weeks: float) -> str:
        return _iso(START - pd.Timedelta(weeks=weeks) + pd.Timedelta(hours=11))

    def disruption(ident: str, weeks: float, tactic: str, **where: Any) -> dict[str, Any]:
        row = {"disruption_id": ident, "venue_id": "", "lat": "", "lng": "", "public": ""}
        return {**row, "disrupted_at": when(weeks), "tactic": tactic, "note": NOTE, **where}

    b_east, c_east = _east(b_lat, b_lng, 420.0), _east(c_lat, c_lng, 420.0)
    disruptions = [
        disruption("DIS-A-IN", 2, "patrol", venue_id="V-1", public="true"),
        disruption("DIS-A-CLOSE", 6, "closure_order", venue_id="V-2", public="false"),
        disruption("DIS-B-OLD", 20, "cawn", lat=b_east[0], lng=b_east[1]),
        disruption("DIS-C", 3, "makesafe_visit", lat=c_east[0], lng=c_east[1]),
        disruption("DIS-BEFORE", 60, "patrol", venue_id="V-1"),
    ]
    episodes = [
        *_episodes("A", a_lat, a_lng, 2, 8),
        *_episodes("B", b_lat, b_lng, 2, 8),
        *_episodes("C", c_lat, c_lng, 8, 2),
    ]
    for kind, name, rows in (
        ("venues", "venues.csv", venues),
        ("disruptions", "disruptions.csv", disruptions),
        ("episodes", "episodes.csv", episodes),
    ):
        (report,) = ingest_files(location, kind, [_write(root / name, rows)], settings=settings)
        assert report.rows_quarantined == 0, (kind, report.reasons)
    # A disruption with no place (no point, no venue), as a store may hold one.
    nowhere = pd.DataFrame(
        {
            "disruption_id": ["DIS-NOWHERE"],
            "venue_id": [None],
            "disrupted_at": [START - pd.Timedelta(weeks=1)],
            "lat": [np.nan],
            "lng": [np.nan],
            "h3": [None],
            "district": [None],
            "ward": [None],
            "lsoa": [None],
            "neighbourhood": [None],
            "beat": [None],
            "tactic": ["patrol"],
            "note": [NOTE],
            "public": pd.array([None], dtype="boolean"),
            "source": ["test"],
            "content_hash": [1],
        }
    )
    store = open_store(location)
    try:
        with store.writer() as w:
            w.stage(schemas.DISRUPTIONS, conform(schemas.DISRUPTIONS, nowhere))
            w.finish()
    finally:
        store.close()
    packs = {}
    for audience in ("analyst", "neighbourhood", "partner"):
        out = root / f"pack-{audience}"
        weekly(location, week=WEEK, out_dir=out, settings=settings, audience=audience)
        packs[audience] = {
            "dir": out,
            "csv": pd.read_csv(out / "targets.csv", dtype=str, keep_default_na=False),
            "pdf": " ".join(
                "\n".join(p.extract_text() for p in PdfReader(out / "pack.pdf").pages).split()
            ),
            "html": (out / "map.html").read_text(encoding="utf-8"),
            "run": json.loads((out / "run.json").read_text()),
        }
    drawn = [(float(v["lat"]), float(v["lng"])) for v in venues] + [b_east, c_east]
    return {"cells": {"A": a, "B": b, "C": c}, "packs": packs, "drawn": drawn}


def _row(world: dict[str, Any], audience: str, place: str) -> pd.Series:
    """The target row of a place (its res-9 cell, or its res-8 parent for partners)."""
    cell = world["cells"][place]
    if audience == "partner":
        cell = int(h3i.cell_to_parent(cell, 8))
    frame = world["packs"][audience]["csv"]
    hit = frame.loc[frame["h3"] == h3i.int_to_str(cell)]
    assert len(hit) == 1, (audience, place, frame[["rank", "h3"]])
    return hit.iloc[0]


def test_the_rise_beside_the_closure_order_is_flagged_and_no_other(world: dict[str, Any]) -> None:
    a = _row(world, "analyst", "A")
    assert a["displacement"].startswith(
        f"possible displacement from closure order DIS-A-CLOSE at {SECRET_VENUE} on 30 Mar 2026 ("
    )
    assert _row(world, "analyst", "B")["displacement"] == ""  # its disruption is too old
    assert _row(world, "analyst", "C")["displacement"] == ""  # it fell
    pdf = world["packs"]["analyst"]["pdf"]
    assert "Displacement: possible displacement from closure order DIS-A-CLOSE" in pdf


def test_every_audience_reads_the_patrol_on_target_a(world: dict[str, Any]) -> None:
    for audience in ("analyst", "neighbourhood", "partner"):
        note = _row(world, audience, "A")["disruption"]
        assert note.startswith(f"patrol at {OPEN_VENUE} on 27 Apr 2026"), (audience, note)
        assert f"Disruptions near: {note}" in world["packs"][audience]["pdf"], audience
    assert _row(world, "analyst", "A")["disruption"] == f"patrol at {OPEN_VENUE} on 27 Apr 2026"
    assert _row(world, "analyst", "C")["disruption"] == ""  # 420 m away: not near


def test_run_json_counts_the_disruptions_drawn(world: dict[str, Any]) -> None:
    for audience, pack in world["packs"].items():
        record = pack["run"]["disruptions"]
        assert record["drawn"] == 4 and record["not_drawn_no_place"] == 1, audience
        assert record["window"]["start"] == pack["run"]["data_window"]["start"]
        assert record["window"]["end"] == pack["run"]["patrol_week"]["end"]
        assert "1 disruption of the window had no place recorded" in pack["pdf"]


def test_only_analysts_read_notes_ids_and_flags(world: dict[str, Any]) -> None:
    packs = world["packs"]
    assert NOTE in packs["analyst"]["html"]
    for audience in ("neighbourhood", "partner"):
        pack = packs[audience]
        assert "displacement" not in pack["csv"].columns
        texts = [pack["pdf"], pack["html"], (pack["dir"] / "targets.csv").read_text()]
        texts.append((pack["dir"] / "run.json").read_text())
        for text in texts:
            assert "DISNOTE" not in text and "DIS-" not in text, audience
            assert "possible displacement" not in text.lower(), audience
            if audience == "partner":
                assert SECRET_VENUE not in text
    assert SECRET_VENUE in packs["neighbourhood"]["html"]


def test_the_layer_opens_in_a_browser(browser: Any, world: dict[str, Any]) -> None:
    for audience in ("analyst", "partner"):
        logs = open_map(browser, world["packs"][audience]["dir"] / "map.html")
        assert [e for e in logs if e["level"] == "SEVERE"] == []
        assert LAYER_DISRUPTIONS in overlay_names(browser)
        markers = browser.execute_script(
            "return ENGAGE.layers.disruptions.getLayers().filter(l => l.getLatLng).length"
        )
        # Analysts: one marker per place; partners: one per res-8 cell.
        assert markers == (4 if audience == "analyst" else len(_partner_cells(world))), audience


def _partner_cells(world: dict[str, Any]) -> set[int]:
    """The res-8 cells of the four disruptions drawn."""
    return {int(h3i.latlng_to_cell(lat, lng, 8)) for lat, lng in world["drawn"]}


def test_the_window_is_the_lookback_and_the_patrol_week(world: dict[str, Any]) -> None:
    run = world["packs"]["analyst"]["run"]
    start = pd.Timestamp(run["disruptions"]["window"]["start"])
    end = pd.Timestamp(run["disruptions"]["window"]["end"])
    assert end - START == timedelta(weeks=1) and START - start == timedelta(weeks=52)
