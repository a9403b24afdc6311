"""``engage layers import`` into both stores: stored as read, replaced whole, never half-written."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from api.cli import app
from geo.baselayers import read_base_layer
from geo.crs import BNG, WGS84
from geo.simstreets import street_grid
from geo.store import open_store
from geo.studyarea import StudyArea

runner = CliRunner()


@pytest.fixture(params=["gpkg", "postgis"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "gpkg":
        return str(tmp_path / "engage.gpkg")
    return str(request.getfixturevalue("pg_store_url"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("ENGAGE_STORE", raising=False)
    monkeypatch.delenv("ENGAGE_STUDY_AREA", raising=False)
    return tmp_path


def _roads(path: Path, *, spacing_m: float, seed: int, crs: str = BNG) -> Path:
    grid = street_grid(spacing_m=spacing_m, seed=seed)
    grid.to_crs(crs).to_file(path, driver="GeoJSON")
    return path


def _stored(location: str, kind: str = "roads") -> gpd.GeoDataFrame:
    store = open_store(location)
    try:
        return store.features("layer", kind)
    finally:
        store.close()


def test_import_stores_the_clipped_layer(env: Path, location: str) -> None:
    path = _roads(env / "roads.geojson", spacing_m=500.0, seed=1)
    result = runner.invoke(
        app, ["layers", "import", str(path), "--kind", "roads", "--store", location]
    )
    assert result.exit_code == 0, result.output
    expected = read_base_layer(path, "roads", study_area=StudyArea().outline())
    stored = _stored(location)
    assert len(stored) == expected.kept
    assert f"{expected.kept} stored as roads" in result.output
    assert "name field: name1" in result.output
    assert sorted(stored["code"]) == sorted(expected.frame["code"])
    assert set(stored["kind"]) == {"roads"} and set(stored["family"]) == {"layer"}
    by_code = stored.set_index("code")
    ref = expected.frame.set_index("code").reindex(by_code.index)
    assert (by_code["name"] == ref["name"]).all()
    # Geometry round-trips through the store within a millimetre.
    dist = by_code.geometry.to_crs(BNG).hausdorff_distance(
        gpd.GeoSeries(ref.geometry, crs=WGS84).to_crs(BNG)
    )
    assert float(dist.max()) < 0.01


def test_a_refused_file_leaves_the_stored_layer_intact(env: Path, location: str) -> None:
    good = _roads(env / "roads.geojson", spacing_m=600.0, seed=2)
    assert (
        runner.invoke(
            app, ["layers", "import", str(good), "--kind", "roads", "--store", location]
        ).exit_code
        == 0
    )
    before = _stored(location)
    points = street_grid(spacing_m=600.0, seed=2)
    points["geometry"] = points.geometry.centroid
    bad = env / "points.geojson"
    points.to_file(bad, driver="GeoJSON")
    result = runner.invoke(
        app, ["layers", "import", str(bad), "--kind", "roads", "--store", location]
    )
    assert result.exit_code == 2
    assert "nothing stored" in result.output and str(bad) in result.output
    assert "Point" in result.output
    after = _stored(location)
    assert sorted(after["code"]) == sorted(before["code"])
    assert len(after) == len(before) > 0


def test_a_new_import_replaces_the_kind_and_keeps_the_others(env: Path, location: str) -> None:
    first = _roads(env / "a.geojson", spacing_m=500.0, seed=1)
    second = _roads(env / "b.geojson", spacing_m=900.0, seed=5, crs=WGS84)
    c = StudyArea().outline().representative_point()
    landmarks = gpd.GeoDataFrame({"name": ["Clock Tower"]}, geometry=[c], crs=WGS84)
    lm = env / "landmarks.geojson"
    landmarks.to_file(lm, driver="GeoJSON")
    for path, kind in ((first, "roads"), (lm, "landmarks"), (second, "roads")):
        result = runner.invoke(
            app, ["layers", "import", str(path), "--kind", kind, "--store", location]
        )
        assert result.exit_code == 0, result.output
    expected = read_base_layer(second, "roads", study_area=StudyArea().outline())
    stored = _stored(location)
    assert sorted(stored["code"]) == sorted(expected.frame["code"])
    assert _stored(location, "landmarks")["name"].tolist() == ["Clock Tower"]


def test_unknown_kind_is_a_usage_error(env: Path, location: str) -> None:
    path = _roads(env / "roads.geojson", spacing_m=900.0, seed=1)
    result = runner.invoke(
        app, ["layers", "import", str(path), "--kind", "rivers", "--store", location]
    )
    assert result.exit_code == 2
    assert "roads, buildings, landmarks" in result.output
