"""The gazetteer end to end: import, police.uk ingest, and street names on the targets.

Expected places and names are worked out here: OS rows through pyproj, police.uk snap
points with plain pandas, and each target's nearest place by a full distance matrix in
British National Grid (pyproj + numpy) over the shipped file.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from pypdf import PdfReader
from pyproj import Transformer
from typer.testing import CliRunner

from api.cli import app
from api.usecases.store import opened_store
from geo.gazetteer import SHIPPED_BWD
from geo.ingest import ingest_file
from geo.store import open_store
from tests.api.conftest import synthetic_store
from tests.geo.test_gazetteer import KEPT, OS_ROWS, write_os

runner = CliRunner()
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
MONTH = "2022-07-lancashire-street-bwd.csv"


@pytest.fixture(params=["gpkg", "postgis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "gpkg":
        return str(tmp_path / "engage.gpkg")
    return str(request.getfixturevalue("pg_store_url"))


def _stored(location: str, kind: str | None = None) -> pd.DataFrame:
    with opened_store(location) as store:
        return store.features("gazetteer", kind)


def test_import_os_open_names_replaces_its_kind(location: str, tmp_path: Path) -> None:
    path = write_os(tmp_path / "SD62.csv", header=False)
    result = runner.invoke(app, ["gazetteer", "import", str(path), "--store", location])
    assert result.exit_code == 1, result.output  # two bad rows, reported, not stored
    assert "6 rows read, 3 places stored as gazetteer `os_open_names`" in result.output
    assert "1 outside Blackburn with Darwen, 2 bad" in result.output
    assert "SD62.csv row 3: name is empty" in result.output
    assert "SD62.csv row 4: coordinates missing or not numbers" in result.output
    got = _stored(location, "os_open_names").set_index("code")
    assert set(got.index) == KEPT
    for ident, name, local, x, y in OS_ROWS:
        if ident in KEPT:
            lng, lat = TO_WGS84.transform(float(x), float(y))
            assert got.loc[ident, "name"] == name and got.loc[ident, "type"] == local
            assert got.loc[ident, "geometry"].distance(shapely.Point(lng, lat)) < 1e-7

    # Importing again with one place replaces the kind.
    one = write_os(tmp_path / "one.csv", header=True, rows=OS_ROWS[:1])
    result = runner.invoke(app, ["gazetteer", "import", str(one), "--store", location])
    assert result.exit_code == 0, result.output
    assert _stored(location, "os_open_names")["code"].tolist() == [OS_ROWS[0][0]]

    # A file with nothing inside the study area stores nothing and keeps what was stored.
    far = write_os(tmp_path / "far.csv", header=False, rows=OS_ROWS[4:5])
    result = runner.invoke(app, ["gazetteer", "import", str(far), "--store", location])
    assert result.exit_code == 2
    assert "nothing stored" in result.output and "unchanged" in result.output
    assert _stored(location, "os_open_names")["code"].tolist() == [OS_ROWS[0][0]]


def test_import_without_a_name_column_says_which_columns_there_are(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("ref,lat,lng\nA1,53.75,-2.48\n")
    location = str(tmp_path / "engage.gpkg")
    result = runner.invoke(app, ["gazetteer", "import", str(path), "--store", location])
    assert result.exit_code == 2
    assert "points.csv" in result.output and "ref, lat, lng" in result.output
    assert "--name-field" in result.output
    assert "Traceback" not in result.output


def _expected_snap_points(
    path: Path, skip: frozenset[int] | set[int] = frozenset()
) -> pd.DataFrame:
    """Distinct (lat, lng) of the file's rows with a name (but rows ``skip``, by file row
    number); the name published most often at a point wins, ties alphabetical."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw = raw.loc[~np.isin(np.arange(2, len(raw) + 2), list(skip or ()))]
    words = raw["Location"].str.replace("On or near", "", regex=False).str.split()
    # police.uk capitalises after an apostrophe ("Queen'S"); names print it lower case.
    raw["name"] = words.str.join(" ").str.replace(r"'S\b", "'s", regex=True)
    raw = raw.loc[(raw["Latitude"] != "") & (raw["name"] != "")]
    lat = raw["Latitude"].astype(float).map("{:.6f}".format)
    raw["code"] = lat + "," + raw["Longitude"].astype(float).map("{:.6f}".format)
    counts = raw.groupby(["code", "name"]).size().reset_index(name="n")
    counts = counts.sort_values(["code", "n", "name"], ascending=[True, False, True])
    return counts.drop_duplicates("code").set_index("code")


def test_police_uk_ingest_keeps_its_named_points(
    location: str, tmp_path: Path, police_uk: Path
) -> None:
    path = police_uk / "blackburn_with_darwen" / MONTH
    store = open_store(location)
    store.init()
    try:
        report = ingest_file(store, "police-uk", path, quarantine_dir=tmp_path / "q")
        # Quarantined rows (a Crime ID listed twice) give no place.
        assert report.quarantine_path is not None
        skip = set(pd.read_csv(report.quarantine_path)["row"])
        assert len(skip) == report.rows_quarantined
        want = _expected_snap_points(path, skip)
        got = store.features("gazetteer", "police.uk").set_index("code")
        assert report.places == len(want) == len(got)
        assert (got["name"] == want["name"].reindex(got.index)).all()
        assert (got["type"] == "police.uk snap point").all()
        lat = np.array([float(c.split(",")[0]) for c in got.index])
        assert np.allclose(shapely.get_y(got.geometry.values), lat, atol=1e-9)
        # Ingesting the same file again changes nothing.
        before = store.features("gazetteer")
        again = ingest_file(store, "police-uk", path, quarantine_dir=tmp_path / "q")
        assert again.result.inserted == 0 and again.result.updated == 0
        pd.testing.assert_frame_equal(store.features("gazetteer"), before)
        # Another month merges by code.
        other = police_uk / "blackburn_with_darwen" / "2020-01-lancashire-street-bwd.csv"
        ingest_file(store, "police-uk", other, quarantine_dir=tmp_path / "q")
        union = set(want.index) | set(_expected_snap_points(other).index)
        assert set(store.features("gazetteer", "police.uk")["code"]) == union
    finally:
        store.close()


def test_a_refused_or_failed_police_uk_ingest_keeps_no_places(
    location: str, tmp_path: Path, police_uk: Path
) -> None:
    src = police_uk / "blackburn_with_darwen" / MONTH
    lines = src.read_text().splitlines()
    bad = tmp_path / "with_a_bad_row.csv"
    bad.write_text("\n".join([*lines[:50], lines[50].replace(",2022-07,", ",2022-13,")]) + "\n")
    store = open_store(location)
    store.init()
    try:
        from geo.ingest import StrictRefusal

        with pytest.raises(StrictRefusal):
            ingest_file(store, "police-uk", bad, strict=True, quarantine_dir=tmp_path / "q")
        assert store.features("gazetteer").empty

        def stop(staged: int) -> None:
            raise RuntimeError("interrupted")

        with pytest.raises(RuntimeError):
            ingest_file(store, "police-uk", src, quarantine_dir=tmp_path / "q", after_chunk=stop)
        assert store.features("gazetteer").empty
        assert store.feature_kinds().empty
    finally:
        store.close()


# --- street names on the targets ---------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> str:
    return synthetic_store(tmp_path_factory.mktemp("gaz"), seed=5)


def _brute_force(lat: np.ndarray, lng: np.ndarray, places: pd.DataFrame, max_m: float):
    tx, ty = TO_BNG.transform(lng, lat)
    px, py = TO_BNG.transform(places["lng"].to_numpy(), places["lat"].to_numpy())
    d = np.hypot(np.subtract.outer(tx, px), np.subtract.outer(ty, py))
    best = d.argmin(axis=1)
    dist = d[np.arange(len(lat)), best]
    names = np.where(dist <= max_m, places["name"].to_numpy()[best], "")
    metres = np.where(dist <= max_m, np.rint(dist), np.nan)
    return names, metres


def _targets(location: str, out: Path, *extra: str) -> pd.DataFrame:
    result = runner.invoke(app, ["targets", "--store", location, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out, dtype={"near": str}, keep_default_na=False)


def test_targets_are_named_from_the_shipped_gazetteer(synthetic: str, tmp_path: Path) -> None:
    shipped = pd.read_csv(SHIPPED_BWD, keep_default_na=False)
    got = _targets(synthetic, tmp_path / "t.csv")
    names, metres = _brute_force(
        got["lat"].to_numpy(float), got["lng"].to_numpy(float), shipped, 150
    )
    assert got["near"].tolist() == names.tolist()
    want_m = ["" if np.isnan(m) else str(int(m)) for m in metres]
    assert got["near_m"].astype(str).tolist() == want_m
    assert (got["near"] != "").mean() > 0.6  # most targets get a street

    tight = _targets(synthetic, tmp_path / "tight.csv", "--near-m", "25")
    names, _ = _brute_force(tight["lat"].to_numpy(float), tight["lng"].to_numpy(float), shipped, 25)
    assert tight["near"].tolist() == names.tolist()
    assert (tight["near"] != "").sum() < (got["near"] != "").sum()
    bad = runner.invoke(app, ["targets", "--store", synthetic, "--out", "x.csv", "--near-m", "0"])
    assert bad.exit_code == 2


def test_a_stored_gazetteer_replaces_the_shipped_one_in_every_output(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    location = synthetic_store(tmp_path_factory.mktemp("gaz2"), seed=5)
    first = _targets(location, tmp_path / "before.csv")
    # One place, 30 m east of target 1's centre (a name the shipped file does not hold).
    x, y = TO_BNG.transform(first["lng"].iloc[0], first["lat"].iloc[0])
    lng, lat = TO_WGS84.transform(x + 30.0, y)
    places = tmp_path / "places.csv"
    places.write_text(f"name,lat,lng\nTest Place & Co,{lat:.9f},{lng:.9f}\n")
    result = runner.invoke(app, ["gazetteer", "import", str(places), "--store", location])
    assert result.exit_code == 0, result.output
    got = _targets(location, tmp_path / "after.csv")
    assert got["near"].tolist() == ["Test Place & Co"] + [""] * (len(got) - 1)
    assert got["near_m"].astype(str).tolist()[0] == "30"

    pack = tmp_path / "pack"
    result = runner.invoke(
        app, ["weekly", "--store", location, "--out", str(pack), "--audience", "partner"]
    )
    assert result.exit_code == 0, result.output
    partner = pd.read_csv(pack / "targets.csv", keep_default_na=False)
    # Partners' targets are res-8 cells: named from their own centres, by the same rule.
    names, _ = _brute_force(
        partner["lat"].to_numpy(float),
        partner["lng"].to_numpy(float),
        pd.DataFrame({"name": ["Test Place & Co"], "lat": [lat], "lng": [lng]}),
        150,
    )
    assert partner["near"].tolist() == names.tolist()
    run = json.loads((pack / "run.json").read_text())
    assert run["places"]["gazetteer"].startswith("stored: file (1 places)")

    pack = tmp_path / "analyst"
    result = runner.invoke(
        app, ["weekly", "--store", location, "--out", str(pack), "--audience", "analyst"]
    )
    assert result.exit_code == 0, result.output
    m = int(pd.read_csv(pack / "targets.csv")["near_m"].iloc[0])
    text = "\n".join(p.extract_text() for p in PdfReader(pack / "pack.pdf").pages)
    assert f"on or near Test Place & Co, {m} m" in text
    raw = (pack / "map.html").read_text()
    unjson = re.sub(r"\\u([0-9a-fA-F]{4})", lambda g: chr(int(g.group(1), 16)), raw)
    page = htmllib.unescape(unjson.replace("\\/", "/"))
    assert f"<th>Where</th><td>on or near Test Place & Co, {m} m</td>" in page
    assert "Test Place & Co" not in raw  # escaped in the file


def test_where_no_gazetteer_is_stored_outside_blackburn_none_is_used(
    synthetic: str, tmp_path: Path
) -> None:
    from api.usecases.gazetteer import places_near
    from api.usecases.store import init_store

    targets = pd.DataFrame({"lat": [53.75], "lng": [-2.48]})
    with opened_store(synthetic) as store:
        bwd, source = places_near(store, targets, max_m=150)
    other = init_store(str(tmp_path / "other.gpkg"), study_area="E07000117")
    with opened_store(other) as store:
        none_frame, none = places_near(store, targets, max_m=150)
    assert source.startswith("shipped") and len(bwd) > 0
    assert none == "none" and none_frame.empty


def test_ingest_says_how_many_places_it_kept(tmp_path: Path, police_uk: Path) -> None:
    path = police_uk / "blackburn_with_darwen" / MONTH
    location = str(tmp_path / "engage.gpkg")
    result = runner.invoke(
        app,
        ["ingest", "police-uk", str(path), "--store", location],
        env={"ENGAGE_QUARANTINE_DIR": str(tmp_path / "q")},
    )
    assert result.exit_code == 1, result.output  # two Crime IDs listed twice
    n = len(_stored(location, "police.uk"))
    assert n > 500
    assert f"gazetteer: {n} named police.uk map points kept" in result.output
