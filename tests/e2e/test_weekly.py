"""The weekly pack end to end on the synthetic scenario: truth recovered, privacy kept."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import pytest

from api import services
from api.settings import Settings
from geo import schemas
from geo.store import open_store

KEY = "weekly-e2e-key-0123456789-abcdefghijk"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The default synthetic year, ingested into a GeoPackage."""
    root = tmp_path_factory.mktemp("weekly")
    scenario = root / "scenario"
    services.simulate_scenario(scenario, seed=7, weeks=52)
    location = str(root / "engage.gpkg")
    settings = Settings(store=location, quarantine_dir=root / "q")
    for kind, name in services.DEMO_ORDER:
        services.ingest_files(location, kind, [scenario / name], settings=settings, key=KEY)
    truth = json.loads((scenario / "truth.json").read_text())
    return {
        "root": root,
        "scenario": scenario,
        "location": location,
        "settings": settings,
        "truth": truth,
    }


@pytest.fixture(scope="module")
def pack(world: dict[str, object]) -> services.WeeklyResult:
    return services.weekly(
        str(world["location"]),
        week=None,
        out_dir=Path(str(world["root"])) / "pack",
        settings=world["settings"],  # type: ignore[arg-type]
        audience="analyst",
    )


def test_the_pack_holds_every_output(pack: services.WeeklyResult) -> None:
    for name in ("map.html", "pack.pdf", "targets.csv", "hotspots.geojson", "run.json"):
        assert (pack.out_dir / name).stat().st_size > 0, name
    run = json.loads((pack.out_dir / "run.json").read_text())
    assert run["data_window"]["end"] == run["patrol_week"]["start"]
    assert run["parameters"]["lookback_weeks"] == 12
    assert run["counts"]["targets"] == len(pd.read_csv(pack.out_dir / "targets.csv"))


def test_planted_venues_are_recovered(
    world: dict[str, object], pack: services.WeeklyResult
) -> None:
    truth = world["truth"]
    planted = sorted(truth["planted_venues"], key=lambda v: -v["intensity"])[:10]  # type: ignore[index]
    targets = pd.read_csv(pack.out_dir / "targets.csv", dtype={"h3": str})
    top = targets.loc[targets["rank"] <= 15]
    target_cells = {h3i.str_to_int(c) for c in top["h3"]}
    near = set()
    for cell in target_cells:
        near.update(int(c) for c in h3i.grid_disk(cell, 1))
    hits = [h3i.latlng_to_cell(v["lat"], v["lng"], 9) in near for v in planted]
    assert sum(hits) >= 8, (sum(hits), planted, top[["rank", "h3", "why"]])


def test_no_home_or_care_home_in_targets_or_outputs(
    world: dict[str, object], pack: services.WeeklyResult
) -> None:
    store = open_store(str(world["location"]))
    try:
        episodes = store.read(schemas.EPISODES)
    finally:
        store.close()
    private = pd.concat(
        [
            episodes.loc[
                episodes["last_seen_place_type"].isin(["home", "care_home"]),
                ["last_seen_lat", "last_seen_lng"],
            ].set_axis(["lat", "lng"], axis=1),
            episodes.loc[
                episodes["found_place_type"].isin(["home", "care_home"]), ["found_lat", "found_lng"]
            ].set_axis(["lat", "lng"], axis=1),
        ]
    ).drop_duplicates()
    assert len(private) > 50
    texts = {
        name: (pack.out_dir / name).read_text()
        for name in ("map.html", "targets.csv", "hotspots.geojson")
    }
    for lat, lng in private.head(200).itertuples(index=False):
        for name, text in texts.items():
            assert f"{lat:.6f}" not in text or f"{lng:.6f}" not in text, name
    targets = pd.read_csv(pack.out_dir / "targets.csv", dtype={"h3": str})
    # No target sits on a private location: the res-12 cells of homes and care
    # homes are never a target's own point.
    private_cells = set(h3i.latlng_to_cell(a, b, 12) for a, b in private.itertuples(index=False))
    target_points = {
        h3i.latlng_to_cell(a, b, 12) for a, b in targets[["lat", "lng"]].itertuples(index=False)
    }
    assert not private_cells & target_points


def test_hostile_names_are_inert(world: dict[str, object], tmp_path: Path) -> None:
    location = str(world["location"])
    settings = world["settings"]
    truth = world["truth"]
    strongest = max(truth["planted_venues"], key=lambda v: v["intensity"])  # type: ignore[index]
    hostile = pd.DataFrame(
        {
            "venue_id": ["HOSTILE-1", "HOSTILE-2"],
            "name": ["<script>alert(1)</script>", '=HYPERLINK("http://x")'],
            "venue_type": ["takeaway", "shop"],
            "lat": [strongest["lat"] + 0.0002, strongest["lat"] - 0.0001],
            "lng": [strongest["lng"], strongest["lng"] + 0.0002],
        }
    )
    path = tmp_path / "hostile.csv"
    hostile.to_csv(path, index=False)
    services.ingest_files(location, "venues", [path], settings=settings)  # type: ignore[arg-type]
    result = services.weekly(
        location,
        week=None,
        out_dir=tmp_path / "pack",
        settings=settings,
        audience="analyst",  # type: ignore[arg-type]
    )
    html = (tmp_path / "pack" / "map.html").read_text()
    assert "<script>alert(1)</script>" not in html
    cells = pd.read_csv(tmp_path / "pack" / "targets.csv", dtype=str, keep_default_na=False)
    values = cells.to_numpy().ravel().tolist()
    # No cell starts like a formula; the venue's name survives, neutralised.
    assert not [v for v in values if v[:1] in ("=", "+", "@") or v.startswith("-=")]
    assert any(v.startswith("'=HYPERLINK") for v in values)
    names = " ".join(result.targets["nearest_venue"].dropna())
    assert "alert(1)" in names or "HYPERLINK" in names  # the names did reach the outputs


def test_partner_pack_is_disclosure_controlled(world: dict[str, object], tmp_path: Path) -> None:
    result = services.weekly(
        str(world["location"]),
        week=None,
        out_dir=tmp_path / "partner",
        settings=world["settings"],
        audience="partner",  # type: ignore[arg-type]
    )
    assert result.run["parameters"]["res"] == 8
    targets = pd.read_csv(tmp_path / "partner" / "targets.csv", dtype=str)
    assert targets["nearest_venue"].isna().all()
    small = targets["children"].str.startswith("<")
    numeric = pd.to_numeric(targets.loc[~small, "children"])
    assert (numeric >= 5).all()
    html = (tmp_path / "partner" / "map.html").read_text()
    assert "Hotel" not in html and "Takeaway" not in html
    assert len(targets) > 0
    assert {h3i.get_resolution(h3i.str_to_int(c)) for c in targets["h3"]} == {8}


def test_map_in_chromium_matches_targets_csv(pack: services.WeeklyResult, browser: Any) -> None:
    from matplotlib.image import imread

    from .conftest import open_map

    logs = open_map(browser, pack.out_dir / "map.html")
    assert browser.execute_script('return typeof L !== "undefined"') is True
    markers = browser.execute_script(
        "return ENGAGE.layers.targets.getLayers().map(m => "
        "({rank: m.options.engageRank, lat: m.getLatLng().lat, lng: m.getLatLng().lng}))"
    )
    listed = pd.DataFrame(browser.execute_script("return ENGAGE.targets"))
    targets = pd.read_csv(pack.out_dir / "targets.csv")
    assert len(markers) == len(targets)
    got = listed.sort_values("rank").reset_index(drop=True)
    assert got["rank"].tolist() == targets["rank"].tolist()
    np.testing.assert_allclose(got["lat"], targets["lat"], atol=1e-6)
    np.testing.assert_allclose(got["lng"], targets["lng"], atol=1e-6)
    severe = [entry for entry in logs if entry.get("level") == "SEVERE"]
    assert severe == []
    png = imread(io.BytesIO(browser.get_screenshot_as_png()))
    colours = np.unique((png[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50


ROW = re.compile(
    r"^\s*(?P<rank>\d+)\s+\S.*?\s{2,}(?P<grid>[HNOST][A-Z] \d{4} \d{4})\s+"
    r"(?P<episodes>\d+)\s+(?P<children>\d+)\s+(?P<found>\d+)\s+(?P<reports>\d+)"
)


def test_pdf_marking_on_every_page_and_table_equals_targets_csv(
    pack: services.WeeklyResult,
) -> None:
    from pypdf import PdfReader

    reader = PdfReader(pack.out_dir / "pack.pdf")
    rows = []
    for i, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert text.count("OFFICIAL-SENSITIVE") >= 2, f"page {i}"
        if "Target list" in text:
            for line in page.extract_text(extraction_mode="layout").splitlines():
                if m := ROW.match(line):
                    rows.append(m.groupdict())
    got = pd.DataFrame(rows)
    targets = pd.read_csv(pack.out_dir / "targets.csv")
    assert got["rank"].astype(int).tolist() == targets["rank"].tolist()
    assert got["grid"].tolist() == targets["grid_ref"].tolist()
    for col, want in (
        ("episodes", "episodes"),
        ("children", "children"),
        ("found", "found"),
        ("reports", "venue_reports"),
    ):
        assert got[col].astype(int).tolist() == targets[want].tolist(), col
