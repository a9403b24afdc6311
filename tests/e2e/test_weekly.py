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

from api.settings import Settings
from api.usecases.demo import DEMO_ORDER
from api.usecases.ingest import ingest_files, simulate_scenario
from api.usecases.store import load_events
from api.usecases.week import WeeklyResult, weekly
from geo import schemas
from geo.store import open_store
from models.params import DEFAULTS, AnalysisParams

KEY = "weekly-e2e-key-0123456789-abcdefghijk"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The default synthetic year, ingested into a GeoPackage."""
    root = tmp_path_factory.mktemp("weekly")
    scenario = root / "scenario"
    simulate_scenario(scenario, seed=7, weeks=52)
    location = str(root / "engage.gpkg")
    settings = Settings(store=location, quarantine_dir=root / "q")
    for kind, name in DEMO_ORDER:
        ingest_files(location, kind, [scenario / name], settings=settings, key=KEY)
    truth = json.loads((scenario / "truth.json").read_text())
    return {
        "root": root,
        "scenario": scenario,
        "location": location,
        "settings": settings,
        "truth": truth,
    }


@pytest.fixture(scope="module")
def pack(world: dict[str, object]) -> WeeklyResult:
    return weekly(
        str(world["location"]),
        week=None,
        out_dir=Path(str(world["root"])) / "pack",
        settings=world["settings"],  # type: ignore[arg-type]
        audience="analyst",
    )


def test_the_pack_holds_every_output(pack: WeeklyResult) -> None:
    for name in ("map.html", "pack.pdf", "targets.csv", "hotspots.geojson", "run.json"):
        assert (pack.out_dir / name).stat().st_size > 0, name
    run = json.loads((pack.out_dir / "run.json").read_text())
    assert run["data_window"]["end"] == run["patrol_week"]["start"]
    assert run["parameters"]["lookback_weeks"] == DEFAULTS.lookback_weeks == 52
    assert run["counts"]["targets"] == len(pd.read_csv(pack.out_dir / "targets.csv"))


def test_planted_venues_are_recovered(world: dict[str, object], pack: WeeklyResult) -> None:
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
    world: dict[str, object], pack: WeeklyResult
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
    ingest_files(location, "venues", [path], settings=settings)  # type: ignore[arg-type]
    result = weekly(
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
    result = weekly(
        str(world["location"]),
        week=None,
        out_dir=tmp_path / "partner",
        settings=world["settings"],
        audience="partner",  # type: ignore[arg-type]
    )
    assert result.run["parameters"]["res"] == 8
    targets = pd.read_csv(tmp_path / "partner" / "targets.csv", dtype=str)
    # Venues are named only where marked public in the scenario's venue file.
    venues = pd.read_csv(Path(str(world["scenario"])) / "venues.csv", dtype=str)
    public = venues["public"].str.lower() == "true"
    named = targets["nearest_venue"].dropna()
    assert all(any(n.startswith(f"{v} (") for v in venues.loc[public, "name"]) for n in named)
    small = targets["children"].isin(["<5", "[c]"])
    numeric = pd.to_numeric(targets.loc[~small, "children"])
    assert ((numeric >= 5) & (numeric % 5 == 0)).all()
    html = (tmp_path / "partner" / "map.html").read_text()
    for name in venues.loc[~public, "name"]:
        assert f"{name} (" not in html, name
    assert len(targets) > 0
    assert {h3i.get_resolution(h3i.str_to_int(c)) for c in targets["h3"]} == {8}


def test_map_in_chromium_matches_targets_csv(pack: WeeklyResult, browser: Any) -> None:
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
    r"^\s*(?P<rank>\d+)\s+(?P<visit>\d+)\s+\S.*?\s{2,}(?P<grid>[HNOST][A-Z] \d{4} \d{4})\s+"
    r"(?P<episodes>\d+)\s+(?P<children>\d+)\s+(?P<found>\d+)\s+(?P<reports>\d+)"
)


def test_pdf_marking_on_every_page_and_table_equals_targets_csv(
    pack: WeeklyResult,
) -> None:
    from pypdf import PdfReader

    reader = PdfReader(pack.out_dir / "pack.pdf")
    rows = []
    in_table = False
    for i, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert text.count("OFFICIAL-SENSITIVE") >= 2, f"page {i}"
        in_table = in_table or "Target list" in text  # the table may run over several pages
        if in_table:
            for line in page.extract_text(extraction_mode="layout").splitlines():
                if m := ROW.match(line):
                    rows.append(m.groupdict())
    got = pd.DataFrame(rows)
    targets = pd.read_csv(pack.out_dir / "targets.csv")
    assert got["rank"].astype(int).tolist() == targets["rank"].tolist()
    # The visiting order of targets.csv is printed too.
    assert got["visit"].astype(int).tolist() == targets["visit_order"].tolist()
    assert sorted(targets["visit_order"]) == list(range(1, len(targets) + 1))
    assert got["grid"].tolist() == targets["grid_ref"].tolist()
    for col, want in (
        ("episodes", "episodes"),
        ("children", "children"),
        ("found", "found"),
        ("reports", "venue_reports"),
    ):
        assert got[col].astype(int).tolist() == targets[want].tolist(), col


# --- the Gi* and emerging-trend layers -------------------------------------------


def _cells(path: Path) -> pd.DataFrame:
    """hotspots.geojson's properties, ``h3`` as int64."""
    doc = json.loads(path.read_text())
    props = pd.DataFrame([f["properties"] for f in doc["features"]])
    props["h3"] = np.array([h3i.str_to_int(c) for c in props["h3"]], dtype=np.int64)
    return props


def _non_private_events(location: str, run: dict[str, Any]) -> pd.DataFrame:
    """The lookback's events as the store holds them, homes and care homes left out."""
    from geo.store import Window
    from models.targets import drop_private

    store = open_store(location)
    try:
        events = load_events(
            store,
            Window(
                pd.Timestamp(run["data_window"]["start"]).to_pydatetime(),
                pd.Timestamp(run["data_window"]["end"]).to_pydatetime(),
            ),
        )
    finally:
        store.close()
    return drop_private(events)


def test_gistar_layer_agrees_with_models_gistar(pack: WeeklyResult) -> None:
    from models.gistar import gistar

    run = json.loads((pack.out_dir / "run.json").read_text())
    meta = run["layers"]["gistar"]
    assert meta["status"] == "computed"
    assert meta["values"].startswith("weighted")
    assert meta["k"] == 1 and meta["fdr"] is True and meta["correction"] == "benjamini-hochberg"
    cells = _cells(pack.out_dir / "hotspots.geojson")
    # Gi* run directly on the written cells and their weighted values (zeros included).
    want, _ = gistar(cells["h3"].to_numpy(), cells["weighted"].to_numpy(dtype=float), k=1)
    np.testing.assert_allclose(cells["gi_z"], want["gi_z"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cells["gi_p"], want["p"], rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(cells["gi_p_adj"], want["p_adj"], rtol=1e-9, atol=1e-300)
    assert cells["gi_class"].tolist() == want["gi_class"].tolist()
    counts = cells["gi_class"].value_counts()
    assert meta["class_counts"] == {k: int(counts.get(k, 0)) for k in meta["class_counts"]}
    assert counts.index.str.startswith("hot_").any()
    # The layer's events are the hotspots' events: more than Gi*'s minimum of 30.
    assert meta["n_events"] == int(cells["n"].sum()) >= 30


def test_trend_layer_agrees_with_models_emerging(
    world: dict[str, object], pack: WeeklyResult
) -> None:
    from geo.h3index import cells_to_parent
    from models.emerging import emerging_hotspots

    run = json.loads((pack.out_dir / "run.json").read_text())
    meta = run["layers"]["emerging"]
    assert meta["status"] == "computed" and meta["n_weeks"] == DEFAULTS.lookback_weeks
    cells = _cells(pack.out_dir / "hotspots.geojson")
    events = _non_private_events(str(world["location"]), run)
    # Weekly bins built here: UK-time Mondays, the whole weeks of the lookback before the
    # patrol week.
    local = events["at"].dt.tz_convert("Europe/London").dt.tz_localize(None).dt.normalize()
    monday = local - pd.to_timedelta(local.dt.day_of_week, unit="D")
    patrol = pd.Timestamp(run["patrol_week"]["start"]).tz_convert("Europe/London")
    last = patrol.tz_localize(None) - pd.Timedelta(weeks=1)
    weeks = pd.date_range(end=last, periods=DEFAULTS.lookback_weeks, freq="7D")
    assert str(weeks[0].date()) == meta["first_week"] and str(weeks[-1].date()) == meta["last_week"]
    assert monday.min() >= weeks[0] and monday.max() <= weeks[-1]
    cell = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), 9)
    inside = np.isin(cell, cells["h3"].to_numpy())
    counts = pd.crosstab(monday[inside].to_numpy(), cell[inside]).reindex(index=weeks, fill_value=0)
    want, _ = emerging_hotspots(cells["h3"].to_numpy(), counts, k=1)
    assert cells["pattern"].tolist() == want["pattern"].tolist()
    np.testing.assert_allclose(cells["mk_z"], want["mk_z"], rtol=1e-9, atol=1e-12)
    assert cells["mk_trend"].tolist() == want["trend"].tolist()
    assert (cells["pattern"] != "no_pattern").any()
    assert (
        meta["pattern_counts"]
        == cells["pattern"]
        .value_counts()
        .reindex(list(meta["pattern_counts"]), fill_value=0)
        .astype(int)
        .to_dict()
    )


def test_map_layers_in_chromium_match_hotspots_geojson(pack: WeeklyResult, browser: Any) -> None:
    from maps.style import EMERGING_CLASSES, GISTAR_CLASSES
    from maps.webmap import LAYER_EMERGING, LAYER_GISTAR

    from .conftest import drawn_cells, open_map, overlay_names, toggle_overlay

    cells = _cells(pack.out_dir / "hotspots.geojson")
    open_map(browser, pack.out_dir / "map.html")
    names = overlay_names(browser)
    assert LAYER_GISTAR in names and LAYER_EMERGING in names
    for key, name, column, classes in (
        ("gistar", LAYER_GISTAR, "gi_class", GISTAR_CLASSES),
        ("emerging", LAYER_EMERGING, "pattern", EMERGING_CLASSES),
    ):
        significant = cells.loc[cells[column].isin([c.key for c in classes])]
        assert len(significant) > 0, key
        assert drawn_cells(browser, key) == []  # off until switched on
        toggle_overlay(browser, name)
        drawn = drawn_cells(browser, key)
        assert len(drawn) == len(significant), key
        assert {h3i.str_to_int(p["h3"]) for p in drawn} == set(significant["h3"]), key
        legend = browser.execute_script(
            f"const e = document.querySelector('.engage-legend-{key}');"
            "return e ? e.textContent : ''"
        )
        shown = [c for c in classes if c.key in set(significant[column])]
        for c in shown:
            label = c.label if key == "gistar" else c.label.removesuffix(" hot spot")
            assert label.removesuffix(" cold spot") in legend, (key, c.label)
        toggle_overlay(browser, name)


def test_analyst_pdf_has_the_gistar_page_with_marking(pack: WeeklyResult) -> None:
    from pypdf import PdfReader

    from maps.pack import GISTAR_PAGE_TITLE

    cells = _cells(pack.out_dir / "hotspots.geojson")
    reader = PdfReader(pack.out_dir / "pack.pdf")
    pages = [p for p in reader.pages if f"{GISTAR_PAGE_TITLE}: " in p.extract_text()]
    assert len(pages) == 1
    text = pages[0].extract_text(extraction_mode="layout")
    assert text.count("OFFICIAL-SENSITIVE") >= 2
    m = re.search(r"Hot spot, 99% confidence\s+(\d+)", text)
    assert m is not None
    assert int(m.group(1)) == int((cells["gi_class"] == "hot_99").sum())


def test_too_few_events_gives_a_pack_without_the_layers(
    world: dict[str, object], tmp_path: Path
) -> None:
    from pypdf import PdfReader

    from maps.pack import EMERGING_PAGE_TITLE, GISTAR_PAGE_TITLE
    from maps.webmap import LAYER_EMERGING, LAYER_GISTAR

    episodes = pd.read_csv(Path(str(world["scenario"])) / "episodes.csv")
    public = episodes.loc[
        ~episodes["last_seen_place_type"].isin(["home", "care_home"])
        & ~episodes["found_place_type"].isin(["home", "care_home"])
    ]
    few = public.sort_values("last_seen_at").tail(8)
    path = tmp_path / "few.csv"
    few.to_csv(path, index=False)
    location = str(tmp_path / "few.gpkg")
    settings = Settings(store=location, quarantine_dir=tmp_path / "q")
    ingest_files(location, "episodes", [path], settings=settings, key=KEY)
    result = weekly(
        location, week=None, out_dir=tmp_path / "pack", settings=settings, audience="analyst"
    )
    run = json.loads(result.files["run"].read_text())
    for name in ("gistar", "emerging"):
        layer = run["layers"][name]
        assert layer["status"] == "absent", name
        assert "at least 30" in layer["reason"], name
        assert layer["n_events"] < 30
    reader = PdfReader(result.files["pack"])
    assert len(reader.pages) >= 3
    text = "\n".join(p.extract_text() for p in reader.pages)
    area = run["area"]
    assert f"{GISTAR_PAGE_TITLE}: {area}" not in text
    assert f"{EMERGING_PAGE_TITLE}: {area}" not in text
    cover = " ".join(reader.pages[0].extract_text().split())
    assert f"{GISTAR_PAGE_TITLE}: no page this week" in cover
    html = result.files["map"].read_text()
    assert LAYER_GISTAR not in html and LAYER_EMERGING not in html
    props = json.loads(result.files["hotspots"].read_text())["features"][0]["properties"]
    assert "gi_class" not in props and "pattern" not in props


def test_short_lookback_keeps_gistar_and_drops_the_trend_layer(
    world: dict[str, object], tmp_path: Path
) -> None:
    from maps.webmap import LAYER_EMERGING, LAYER_GISTAR

    result = weekly(
        str(world["location"]),
        week=None,
        out_dir=tmp_path / "short",
        settings=world["settings"],  # type: ignore[arg-type]
        audience="analyst",
        params=AnalysisParams(lookback_weeks=6),
    )
    run = json.loads(result.files["run"].read_text())
    assert run["layers"]["gistar"]["status"] == "computed"
    trend = run["layers"]["emerging"]
    assert trend["status"] == "absent"
    assert "6 weeks" in trend["reason"] and "at least 10" in trend["reason"]
    html = result.files["map"].read_text()
    assert LAYER_GISTAR in html and LAYER_EMERGING not in html
    props = json.loads(result.files["hotspots"].read_text())["features"][0]["properties"]
    assert "gi_class" in props and "pattern" not in props


def test_partner_layers_only_where_five_children_are_nearby(
    world: dict[str, object], tmp_path: Path
) -> None:
    from geo.h3index import cells_to_parent

    result = weekly(
        str(world["location"]),
        week=None,
        out_dir=tmp_path / "partner",
        settings=world["settings"],  # type: ignore[arg-type]
        audience="partner",
    )
    run = json.loads(result.files["run"].read_text())
    cells = _cells(result.files["hotspots"])
    study = set(cells["h3"].tolist())
    events = _non_private_events(str(world["location"]), run)
    events = events.assign(cell=cells_to_parent(events["h3"].to_numpy(dtype=np.int64), 8))
    children = events.dropna(subset=["child_ref"]).groupby("cell")["child_ref"].agg(set)

    def nearby(cell: int) -> int:
        disk = {int(c) for c in h3i.grid_disk(cell, 1)} & study
        return len(set().union(*(children.get(c, set()) for c in disk)))

    drawn = cells.loc[cells["gi_class"].str.startswith(("hot_", "cold_"))]
    hidden = cells.loc[cells["gi_class"] == "suppressed"]
    assert len(drawn) > 0 and len(hidden) > 0
    assert all(nearby(int(c)) >= 5 for c in drawn["h3"])
    assert all(nearby(int(c)) < 5 for c in hidden["h3"])
    assert hidden[["gi_z", "gi_p", "gi_p_adj", "mk_z", "mk_p"]].isna().all().all()
    assert (cells.loc[cells["gi_class"] == "suppressed", "pattern"] == "suppressed").all()
    # run.json counts the classes as partners see them, hidden cells as suppressed.
    counts = run["layers"]["gistar"]["class_counts"]
    assert counts["suppressed"] == len(hidden)
    for label, n in counts.items():
        assert n == int((cells["gi_class"] == label).sum()), label
    patterns = run["layers"]["emerging"]["pattern_counts"]
    assert patterns["suppressed"] == int((cells["pattern"] == "suppressed").sum())


def test_partner_packs_refuse_the_gistar_method(world: dict[str, object], tmp_path: Path) -> None:
    from geo.errors import ValidationError

    with pytest.raises(ValidationError, match="partner packs do not offer --method gistar"):
        weekly(
            str(world["location"]),
            week=None,
            out_dir=tmp_path / "partner",
            settings=world["settings"],  # type: ignore[arg-type]
            audience="partner",
            params=AnalysisParams(method="gistar"),
        )
    assert not (tmp_path / "partner").exists()


def test_a_ward_pack_summarises_its_own_ward(world: dict[str, object], tmp_path: Path) -> None:
    """The cover's counts of a ward pack are the ward's, not the district's: episodes and
    children with a last-seen or found point (not at a home or care home) in the ward's
    cells during the data window, counted here from the stored rows with h3."""
    from api.usecases.store import opened_store
    from geo import schemas

    whole = weekly(
        str(world["location"]),
        week=None,
        out_dir=tmp_path / "all",
        settings=world["settings"],  # type: ignore[arg-type]
        audience="analyst",
    )
    ward = weekly(
        str(world["location"]),
        week=None,
        out_dir=tmp_path / "ward",
        settings=world["settings"],  # type: ignore[arg-type]
        areas=["Roe Lee"],
        audience="analyst",
    )
    cells = {
        h3i.str_to_int(f["properties"]["h3"])
        for f in json.loads((tmp_path / "ward" / "hotspots.geojson").read_text())["features"]
    }
    start = pd.Timestamp(ward.run["data_window"]["start"])
    end = pd.Timestamp(ward.run["data_window"]["end"])
    with opened_store(str(world["location"])) as store:
        episodes = store.read(schemas.EPISODES)
    seen: set[str] = set()
    children: set[str] = set()
    found = 0
    for point in ("last_seen", "found"):
        at = episodes[f"{point}_at"]
        ok = (at >= start) & (at < end) & episodes[f"{point}_h3"].notna()
        ok &= ~episodes[f"{point}_place_type"].isin(["home", "care_home"])
        rows = episodes.loc[ok]
        parents = [h3i.cell_to_parent(int(c), 9) for c in rows[f"{point}_h3"]]
        inside = rows.loc[[p in cells for p in parents]]
        seen |= set(inside["episode_id"])
        children |= set(inside["child_ref"])
        if point == "found":
            found = len(inside)
    counts = ward.run["counts"]
    assert (counts["episodes"], counts["children"], counts["found_locations"]) == (
        len(seen),
        len(children),
        found,
    )
    assert counts["episodes"] < whole.run["counts"]["episodes"]
