"""The same commands that serve Blackburn with Darwen serve another force's area.

A study area outside Lancashire (Manchester, then Belfast) named by its ONS
code and stored with the data; police.uk-format rows inside and outside it;
the user's own neighbourhoods imported from a GeoPackage in another CRS,
assigning every stored point and paging a weekly pack; ``--area`` resolving
their names; and the bad input the import refuses, storing nothing.

The scenario is the simulated Blackburn with Darwen one moved bodily to the
other place (a shift of its coordinates), so it keeps its hotspots. Expected
values come from GeoPandas on the shipped ONS file and the generated
boundaries, never from the product.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.boundaries import boundaries_dir
from geo.schemas import EPISODES, INCIDENTS
from geo.simulate import simulate
from geo.store import open_store

KEY = "other-areas-test-key-0123456789abcdefghij"
MANCHESTER = "E08000003"
LIVERPOOL = "E08000012"
BELFAST = "N09000003"
BWD_CENTRE = (53.70, -2.46)
runner = CliRunner()


def _uk() -> gpd.GeoDataFrame:
    return gpd.read_file(boundaries_dir() / "uk_ltla_2016_bsc.geojson").set_index("areacd")


def _run(*args: str, env: dict[str, str]) -> Any:
    return runner.invoke(app, list(args), env=env)


def _deep_inside(geom: shapely.Geometry, n: int, seed: int, margin_m: float = 1500.0):
    """``n`` random points at least ``margin_m`` inside ``geom`` (WGS84), as (lat, lng)."""
    g = gpd.GeoSeries([geom], crs=4326).to_crs(27700)
    inner = g.buffer(-margin_m).iloc[0]
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = inner.bounds
    pts: list[shapely.Point] = []
    while len(pts) < n:
        cand = shapely.points(rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n))
        pts += list(cand[shapely.contains(inner, cand)])
    back = gpd.GeoSeries(pts[:n], crs=27700).to_crs(4326)
    return back.y.to_numpy(), back.x.to_numpy()


def _police_csv(path: Path, lat: np.ndarray, lng: np.ndarray, month: str) -> Path:
    header = [
        "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
        "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
    ]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for i, (la, ln) in enumerate(zip(lat, lng, strict=True)):
            w.writerow(
                [f"{month}-{i:05d}", month, "Test Police", "Test Police", f"{ln:.6f}",
                 f"{la:.6f}", f"On or near Street {i % 17}", "", "", "Public order", "", ""]
            )  # fmt: skip
    return path


def _shifted_scenario(root: Path, to: tuple[float, float], seed: int = 3) -> dict[str, Path]:
    """The simulated scenario with every coordinate moved from Blackburn to ``to``."""
    files = simulate(root / "raw", seed=seed, weeks=40, start=date(2025, 1, 6))
    dlat, dlng = to[0] - BWD_CENTRE[0], to[1] - BWD_CENTRE[1]
    out = {}
    root.mkdir(exist_ok=True)
    for kind, path in (
        ("episodes", files.episodes),
        ("venues", files.venues),
        ("venue-reports", files.venue_reports),
    ):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in frame.columns:
            if col.endswith("lat") or col.endswith("lng"):
                values = pd.to_numeric(frame[col], errors="coerce")
                moved = values + (dlat if col.endswith("lat") else dlng)
                frame[col] = moved.map(lambda v: "" if pd.isna(v) else f"{v:.6f}")
        out[kind] = root / Path(path).name
        frame.to_csv(out[kind], index=False)
    return out


def _neighbourhoods(path: Path, outline: shapely.Geometry) -> gpd.GeoDataFrame:
    """A 3 x 3 grid of neighbourhoods over the outline's box, in BNG, with odd names."""
    box = gpd.GeoSeries([outline], crs=4326).to_crs(27700).iloc[0].bounds
    xs = np.linspace(box[0], box[2], 4)
    ys = np.linspace(box[1], box[3], 4)
    cells, codes, names = [], [], []
    for i in range(3):
        for j in range(3):
            cells.append(shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
            codes.append(f"NB{i}{j}")
            names.append(f"Quarter {i}-{j} & Park")
    frame = gpd.GeoDataFrame(
        {"NBHD_CODE": codes, "NBHD_NAME": names, "other": range(9)}, geometry=cells, crs=27700
    )
    frame.to_file(path, layer="neighbourhoods", driver="GPKG")
    return frame


@pytest.fixture(params=["gpkg", "postgis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "gpkg":
        return str(tmp_path / "other.gpkg")
    return str(request.getfixturevalue("pg_store_url"))


def test_another_force_ingests_imports_areas_and_resolves_names(
    location: str, tmp_path: Path
) -> None:
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q"), "ENGAGE_PSEUDONYM_KEY": KEY}
    uk = _uk()
    man, liv = uk.loc[MANCHESTER, "geometry"], uk.loc[LIVERPOOL, "geometry"]
    r = _run("init", "--store", location, "--study-area", MANCHESTER, env=env)
    assert r.exit_code == 0, r.output
    assert "study area stored with the data: Manchester" in r.output

    lat_in, lng_in = _deep_inside(man, 60, seed=1)
    lat_out, lng_out = _deep_inside(liv, 25, seed=2)
    police = _police_csv(
        tmp_path / "2024-01-test-street.csv",
        np.r_[lat_in, lat_out],
        np.r_[lng_in, lng_out],
        "2024-01",
    )
    # No --study-area: the store's is used.
    r = _run("ingest", "police-uk", str(police), "--store", location, env=env)
    assert r.exit_code == 1, r.output  # some rows quarantined
    assert "85 rows read, 60 stored" in r.output
    assert "outside the study area (Manchester)" in r.output
    store = open_store(location)
    try:
        got = store.read(INCIDENTS)
        assert len(got) == 60 and (got["district"] == MANCHESTER).all()
        assert store.meta("study_area") == MANCHESTER
    finally:
        store.close()

    # A command asking for another area says so.
    r = _run("areas", "list", "--store", location, "--help", env=env)
    env_liv = {**env, "ENGAGE_STUDY_AREA": LIVERPOOL}
    r = _run("areas", "list", "--store", location, env=env_liv)
    assert r.exit_code == 0, r.output
    assert "holds data for Manchester" in r.output

    # Neighbourhoods from a GeoPackage layer in BNG; points are assigned in the store.
    nb_path = tmp_path / "neighbourhoods.gpkg"
    nb = _neighbourhoods(nb_path, man)
    r = _run(
        "areas", "import", str(nb_path), "--kind", "neighbourhood", "--layer", "neighbourhoods",
        "--code-field", "NBHD_CODE", "--name-field", "NBHD_NAME", "--store", location, env=env,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    store = open_store(location)
    try:
        got = store.read(INCIDENTS).sort_values("incident_id").reset_index(drop=True)
        stored_nb = store.features("area", "neighbourhood")
    finally:
        store.close()
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(got["lng"], got["lat"]), crs=4326)
    joined = gpd.sjoin(pts.to_crs(27700), nb, predicate="intersects", how="left")
    want = joined.groupby(level=0)["NBHD_CODE"].min()
    assert got["neighbourhood"].tolist() == want.reindex(range(len(got))).tolist()
    assert set(stored_nb["code"]) <= set(nb["NBHD_CODE"])
    r = _run("areas", "list", "--store", location, env=env)
    assert "neighbourhood" in r.output and "imported" in r.output

    # --area resolves an imported name with the usual forgiveness (case, '&' for 'and').
    busiest = got["neighbourhood"].value_counts().index[0]
    name = nb.set_index("NBHD_CODE").loc[busiest, "NBHD_NAME"]
    loose = name.lower().replace("&", "and").replace("-", " ")
    out = tmp_path / "cells.csv"
    r = _run(
        "hotspots", "--out", str(out), "--layer", "incidents", "--area", loose,
        "--store", location, env=env,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    cells = pd.read_csv(out)
    poly = nb.set_index("NBHD_CODE").to_crs(4326).loc[busiest, "geometry"]
    centres = shapely.points(cells["lng"], cells["lat"])
    # Every cell centre lies in the neighbourhood, or within a cell's reach of it.
    near = gpd.GeoSeries([poly], crs=4326).to_crs(27700).buffer(250).to_crs(4326).iloc[0]
    assert shapely.contains(near, centres).all()
    assert cells["n"].sum() == (got["neighbourhood"] == busiest).sum()


def test_bad_area_files_store_nothing(tmp_path: Path) -> None:
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q")}
    location = str(tmp_path / "bad.gpkg")
    uk = _uk()
    assert _run("init", "--store", location, "--study-area", MANCHESTER, env=env).exit_code == 0
    good = tmp_path / "good.gpkg"
    nb = _neighbourhoods(good, uk.loc[MANCHESTER, "geometry"])
    ok = _run(
        "areas", "import", str(good), "--kind", "beat", "--code-field", "NBHD_CODE",
        "--name-field", "NBHD_NAME", "--store", location, env=env,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    store = open_store(location)
    try:
        before = sorted(store.features("area", "beat")["code"])
    finally:
        store.close()
    # The box grid reaches past Manchester: corner cells are left out, and said.
    assert 0 < len(before) <= len(nb)
    assert len(before) == len(nb) or "outside the study area were left out" in ok.output

    def refused(path: Path, *extra: str, says: str) -> None:
        r = _run("areas", "import", str(path), "--kind", "beat", *extra, "--store", location,
                 env=env)  # fmt: skip
        assert r.exit_code == 2, r.output
        assert says in r.output, r.output
        assert str(path) in r.output
        store = open_store(location)
        try:
            kept = store.features("area", "beat")
        finally:
            store.close()
        assert sorted(kept["code"]) == before  # the earlier import is intact

    refused(good, "--code-field", "NOPE", "--name-field", "NBHD_NAME", says="no field `NOPE`")
    refused(good, says="no code field")  # nothing to guess from
    dup = nb.assign(NBHD_NAME="Same Name")
    dup.to_file(tmp_path / "dup.gpkg", driver="GPKG")
    refused(tmp_path / "dup.gpkg", "--code-field", "NBHD_CODE", "--name-field", "NBHD_NAME",
            says="names are not unique")  # fmt: skip
    blank = nb.astype({"NBHD_NAME": object})
    blank.loc[2, "NBHD_NAME"] = None
    blank.to_file(tmp_path / "blank.gpkg", driver="GPKG")
    refused(tmp_path / "blank.gpkg", "--code-field", "NBHD_CODE", "--name-field", "NBHD_NAME",
            says="feature(s) [3] have an empty name (column `NBHD_NAME`)")  # fmt: skip
    far = _neighbourhoods(tmp_path / "far.gpkg", uk.loc[LIVERPOOL, "geometry"])
    assert len(far) == 9
    refused(tmp_path / "far.gpkg", "--code-field", "NBHD_CODE", "--name-field", "NBHD_NAME",
            says="overlaps the study area")  # fmt: skip
    pts = gpd.GeoDataFrame({"code": ["a"], "name": ["b"]}, geometry=[shapely.Point(0, 0)], crs=4326)
    pts.to_file(tmp_path / "pts.geojson", driver="GeoJSON")
    refused(tmp_path / "pts.geojson", says="holds no polygon")


def test_a_pack_pages_by_imported_neighbourhoods_in_belfast(tmp_path: Path) -> None:
    """Northern Ireland: UTM metres, Irish Grid references, pages by neighbourhood."""
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q"), "ENGAGE_PSEUDONYM_KEY": KEY}
    uk = _uk()
    belfast = uk.loc[BELFAST, "geometry"]
    c = belfast.representative_point()
    files = _shifted_scenario(tmp_path / "scenario", (c.y, c.x))
    location = str(tmp_path / "belfast.gpkg")
    r = _run("init", "--store", location, "--study-area", BELFAST, env=env)
    assert r.exit_code == 0, r.output
    assert "UTM zone" in r.output and "Irish Grid" in r.output
    for kind in ("venues", "episodes", "venue-reports"):
        r = _run("ingest", kind, str(files[kind]), "--store", location, env=env)
        assert r.exit_code in (0, 1), r.output
    nb = _neighbourhoods(tmp_path / "nb.gpkg", belfast)
    r = _run("areas", "import", str(tmp_path / "nb.gpkg"), "--kind", "neighbourhood",
             "--code-field", "NBHD_CODE", "--name-field", "NBHD_NAME", "--store", location,
             env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    store = open_store(location)
    try:
        episodes = store.read(EPISODES)
    finally:
        store.close()
    assert len(episodes) > 100
    out = tmp_path / "pack"
    r = _run("weekly", "--out", str(out), "--store", location, "--page-by", "neighbourhood",
             "--audience", "analyst", env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    run = json.loads((out / "run.json").read_text())
    assert run["page_by"] == "neighbourhood"
    assert "UTM zone" in run["metric_crs"] and run["study_area"] == BELFAST
    targets = pd.read_csv(out / "targets.csv", dtype=str, comment="#")
    assert len(targets) > 0
    # Irish Grid references: one letter, then the figures.
    assert targets["grid_ref"].str.fullmatch(r"[A-HJ-Z] \d{4} \d{4}").all()
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(out / "pack.pdf").pages)
    held = set(episodes["last_seen_neighbourhood"].dropna())
    pages = [n for code, n in zip(nb["NBHD_CODE"], nb["NBHD_NAME"], strict=True) if code in held]
    assert pages, "the scenario should fall in some neighbourhoods"
    for name in pages:
        assert name in text


def test_a_polygon_file_study_area_is_stored_with_the_data(tmp_path: Path) -> None:
    """A force area given as a GeoPackage layer in Web Mercator; the file may then move."""
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q")}
    uk = _uk()
    leeds = uk.loc["E08000035", "geometry"]
    square = gpd.GeoSeries([leeds.representative_point()], crs=4326).to_crs(27700).buffer(3000)
    area_file = tmp_path / "force.gpkg"
    gpd.GeoDataFrame({"name": ["patch"]}, geometry=square.to_crs(3857)).to_file(
        area_file, layer="force", driver="GPKG"
    )
    location = str(tmp_path / "leeds.gpkg")
    r = _run("init", "--store", location, "--study-area", f"{area_file}:force", env=env)
    assert r.exit_code == 0, r.output
    inner = square.to_crs(4326).iloc[0]
    lat_in, lng_in = _deep_inside(inner, 20, seed=4, margin_m=300)
    lat_out, lng_out = _deep_inside(uk.loc["E08000034", "geometry"], 5, seed=5)  # Kirklees
    police = _police_csv(
        tmp_path / "2024-02-test-street.csv", np.r_[lat_in, lat_out], np.r_[lng_in, lng_out],
        "2024-02",
    )  # fmt: skip
    area_file.rename(tmp_path / "moved.gpkg")  # the store keeps the polygon itself
    r = _run("ingest", "police-uk", str(police), "--store", location, env=env)
    assert "25 rows read, 20 stored" in r.output, r.output
    assert "outside the study area (force (force))" in r.output
    store = open_store(location)
    try:
        assert store.meta("study_area") == f"file:{area_file.resolve()}#force"
        kept = shapely.from_wkt(store.meta("study_area_wkt"))
        # The same vertices, through Web Mercator and back: equal to a few parts in a million.
        assert abs(kept.area - inner.area) / inner.area < 1e-5
        assert (store.read(INCIDENTS)["district"] == "E08000035").all()
    finally:
        store.close()


def test_the_study_area_is_recorded_once_on_purpose_and_changed_only_when_asked(
    tmp_path: Path,
) -> None:
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q")}
    location = str(tmp_path / "s.gpkg")

    def recorded() -> str | None:
        store = open_store(location)
        try:
            return store.meta("study_area")
        finally:
            store.close()

    # A bare init records nothing: the first area given, or the first stored rows, will.
    assert _run("init", "--store", location, env=env).exit_code == 0
    assert recorded() is None
    # A refused ingest (--strict, a wrong area) records nothing either.
    uk = _uk()
    lat, lng = _deep_inside(uk.loc[MANCHESTER, "geometry"], 3, seed=8)
    police = _police_csv(tmp_path / "2024-03-test-street.csv", lat, lng, "2024-03")
    r = _run("ingest", "police-uk", str(police), "--store", location, "--strict",
             "--study-area", LIVERPOOL, env=env)  # fmt: skip
    assert r.exit_code == 2, r.output
    assert recorded() is None
    # The first ingest that stores rows records the area they were checked against.
    r = _run("ingest", "police-uk", str(police), "--store", location, env={
        **env, "ENGAGE_STUDY_AREA": MANCHESTER})  # fmt: skip
    assert r.exit_code == 0, r.output
    assert recorded() == MANCHESTER
    # Another area on init is refused unless the change is asked for.
    r = _run("init", "--store", location, "--study-area", "lancashire", env=env)
    assert r.exit_code == 2 and "--change-study-area" in r.output, r.output
    assert recorded() == MANCHESTER
    r = _run("init", "--store", location, "--study-area", "lancashire", "--change-study-area",
             env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert recorded() == "lancashire"


def test_a_store_from_before_areas_were_recorded_keeps_its_own_area(tmp_path: Path) -> None:
    """No recorded area but stored rows: the area is the districts those rows lie in."""
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q")}
    location = str(tmp_path / "old.gpkg")
    uk = _uk()
    lat, lng = _deep_inside(uk.loc[MANCHESTER, "geometry"], 4, seed=9)
    police = _police_csv(tmp_path / "2024-04-test-street.csv", lat, lng, "2024-04")
    r = _run("ingest", "police-uk", str(police), "--store", location, "--study-area", MANCHESTER,
             env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    import sqlite3

    with sqlite3.connect(location) as conn:  # as a store of the earlier version would be
        conn.execute("DELETE FROM engage_meta WHERE key LIKE 'study_area%' OR key = 'metric_crs'")
    r = _run("init", "--store", location, env=env)
    assert r.exit_code == 0, r.output
    assert "study area stored with the data: Manchester" in r.output


def test_paging_by_neighbourhood_beside_shipped_wards_names_the_neighbourhoods(
    tmp_path: Path,
) -> None:
    """Blackburn with Darwen keeps its shipped wards; --page-by neighbourhood wins for the run."""
    env = {"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q"), "ENGAGE_PSEUDONYM_KEY": KEY}
    files = _shifted_scenario(tmp_path / "scenario", BWD_CENTRE)
    location = str(tmp_path / "bwd.gpkg")
    for kind in ("venues", "episodes", "venue-reports"):
        r = _run("ingest", kind, str(files[kind]), "--store", location, env=env)
        assert r.exit_code in (0, 1), r.output
    nb = _neighbourhoods(tmp_path / "nb.gpkg", _uk().loc["E06000008", "geometry"])
    r = _run("areas", "import", str(tmp_path / "nb.gpkg"), "--kind", "neighbourhood",
             "--code-field", "NBHD_CODE", "--name-field", "NBHD_NAME", "--store", location,
             env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    out = tmp_path / "pack"
    r = _run("weekly", "--out", str(out), "--store", location, "--page-by", "neighbourhood",
             "--audience", "analyst", env=env)  # fmt: skip
    assert r.exit_code == 0, r.output
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(out / "pack.pdf").pages)
    assert "Neighbourhood" in text
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Neighbourhood: " in page and "Ward: " not in page
    targets = pd.read_csv(out / "targets.csv", dtype=str, comment="#")
    assert set(targets["ward_name"].dropna()) <= set(nb["NBHD_NAME"])
