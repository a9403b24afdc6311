"""Reading base layers: formats, CRS, geometry checks, repair, clipping and simplification.

Every layer is generated here (no OS data can be downloaded): a synthetic
street grid over Blackburn with Darwen in British National Grid
(:func:`geo.simstreets.street_grid`), written as GeoJSON and GeoPackage.
Reference values come from GeoPandas and shapely directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.baselayers import (
    CLIP_MARGIN_M,
    keep_parts,
    pick_field,
    read_base_layer,
)
from geo.crs import BNG, WGS84
from geo.errors import InputFileError
from geo.simstreets import street_grid
from geo.studyarea import StudyArea

OUTLINE = StudyArea().outline()


@pytest.fixture(scope="module")
def grid() -> gpd.GeoDataFrame:
    """Streets every 400 m over a box larger than Blackburn with Darwen (BNG)."""
    return street_grid(spacing_m=400.0, seed=3)


@pytest.fixture(scope="module")
def files(grid: gpd.GeoDataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layers")
    bng = root / "roads_27700.geojson"
    grid.to_file(bng, driver="GeoJSON")
    wgs = root / "roads_4326.geojson"
    # RFC 7946 GeoJSON: WGS84 and no crs member at all.
    text = grid.to_crs(WGS84).to_json(drop_id=True)
    assert '"crs"' not in text
    wgs.write_text(text)
    gpkg = root / "mixed.gpkg"
    grid.to_file(gpkg, layer="road_link", driver="GPKG")
    points = grid.copy()
    points["geometry"] = grid.geometry.centroid
    points.to_file(gpkg, layer="road_node", driver="GPKG")
    return {"bng": bng, "wgs": wgs, "gpkg": gpkg}


def _expected_clip(grid: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same clip by GeoPandas alone: the study area grown by the margin, in BNG."""
    mask = gpd.GeoSeries([OUTLINE], crs=WGS84).to_crs(BNG).buffer(CLIP_MARGIN_M)
    clipped = gpd.clip(grid, mask)
    return clipped[~clipped.geometry.is_empty]


def test_geojson_in_bng_is_clipped_like_geopandas(
    grid: gpd.GeoDataFrame, files: dict[str, Path]
) -> None:
    layer = read_base_layer(files["bng"], "roads", study_area=OUTLINE)
    expected = _expected_clip(grid)
    assert layer.crs == "EPSG:27700"
    assert layer.in_file == len(grid)
    assert layer.kept == len(expected)
    assert 0 < layer.kept < len(grid)  # the box is larger than the area: some roads cut away
    assert sorted(layer.frame["code"]) == sorted(expected["id"])
    # Stored in WGS84, every feature a line within the grown area.
    assert layer.frame.crs.to_epsg() == 4326
    assert set(layer.frame.geom_type) <= {"LineString", "MultiLineString"}
    grown = gpd.GeoSeries([OUTLINE], crs=WGS84).to_crs(BNG).buffer(CLIP_MARGIN_M + 2).iloc[0]
    assert layer.frame.to_crs(BNG).within(grown).all()
    # Total length as GeoPandas' clip gives it (simplification removes only 3 m wiggles).
    ours = layer.frame.to_crs(BNG).length.sum()
    assert ours == pytest.approx(expected.length.sum(), rel=0.01)
    # Names come from OS Open Roads' `name1`, types from its `class`.
    assert layer.name_field == "name1" and layer.type_field == "class"
    by_code = expected.set_index("id")
    names = layer.frame.set_index("code")["name"]
    assert (names == by_code["name1"].reindex(names.index)).all()
    assert any("outside the study area left out" in n for n in layer.notes)


def test_geojson_without_crs_is_wgs84_and_gives_the_same_layer(
    files: dict[str, Path],
) -> None:
    a = read_base_layer(files["bng"], "roads", study_area=OUTLINE)
    b = read_base_layer(files["wgs"], "roads", study_area=OUTLINE)
    assert b.crs == "EPSG:4326"
    assert sorted(a.frame["code"]) == sorted(b.frame["code"])
    joined = a.frame.set_index("code").geometry.to_crs(BNG)
    other = b.frame.set_index("code").geometry.to_crs(BNG).reindex(joined.index)
    # The same roads within a metre (round trip through degrees, 1 m simplification).
    assert float(joined.hausdorff_distance(other).max()) < 1.5


def test_geopackage_needs_its_layer_named(files: dict[str, Path]) -> None:
    with pytest.raises(InputFileError) as err:
        read_base_layer(files["gpkg"], "roads", study_area=OUTLINE)
    assert str(files["gpkg"]) in str(err.value)
    assert "`road_link`" in str(err.value) and "`road_node`" in str(err.value)
    assert "--layer" in str(err.value)
    layer = read_base_layer(files["gpkg"], "roads", layer="road_link", study_area=OUTLINE)
    assert layer.kept == read_base_layer(files["bng"], "roads", study_area=OUTLINE).kept


def test_roads_of_points_are_refused_naming_file_and_types(files: dict[str, Path]) -> None:
    with pytest.raises(InputFileError) as err:
        read_base_layer(files["gpkg"], "roads", layer="road_node", study_area=OUTLINE)
    text = str(err.value)
    assert str(files["gpkg"]) in text
    assert "Point" in text and "roads must be lines" in text


def test_a_file_without_crs_is_refused(grid: gpd.GeoDataFrame, tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        grid.set_crs(None, allow_override=True).to_file(path, driver="GPKG")
    with pytest.raises(InputFileError, match="no coordinate reference system"):
        read_base_layer(path, "roads", study_area=OUTLINE)


def test_bow_tie_buildings_are_made_valid_and_said(tmp_path: Path) -> None:
    centre = OUTLINE.representative_point()
    e, n = gpd.GeoSeries([centre], crs=WGS84).to_crs(BNG).iloc[0].coords[0]
    bow_tie = shapely.Polygon([(e, n), (e + 20, n + 20), (e + 20, n), (e, n + 20)])
    square = shapely.box(e + 40, n, e + 60, n + 15)
    frame = gpd.GeoDataFrame(
        {"name": ["Mill", "Depot"], "building": ["industrial", "yes"]},
        geometry=[bow_tie, square],
        crs=BNG,
    )
    assert not bow_tie.is_valid
    path = tmp_path / "buildings.geojson"
    frame.to_file(path, driver="GeoJSON")
    layer = read_base_layer(path, "buildings", study_area=OUTLINE)
    assert layer.kept == 2
    assert any("1 invalid polygon(s) were made valid" in n for n in layer.notes)
    stored = layer.frame.set_index("name").to_crs(BNG)
    assert stored.is_valid.all()
    # make_valid splits the bow tie into two triangles of 100 m² each.
    assert stored.loc["Mill"].geometry.area == pytest.approx(
        shapely.make_valid(bow_tie).area, rel=1e-3
    )
    assert stored.loc["Mill"].geometry.area == pytest.approx(200.0, rel=1e-3)
    assert layer.type_field == "building"


def test_buildings_must_be_polygons(files: dict[str, Path]) -> None:
    with pytest.raises(InputFileError, match="buildings must be polygons"):
        read_base_layer(files["bng"], "buildings", study_area=OUTLINE)


def test_landmarks_take_points_and_polygons(tmp_path: Path) -> None:
    c = OUTLINE.representative_point()
    frame = gpd.GeoDataFrame(
        {"NAME1": ["Clock Tower", "Park"], "LOCAL_TYPE": ["Landmark", "Park"]},
        geometry=[c, c.buffer(0.002)],
        crs=WGS84,
    )
    path = tmp_path / "landmarks.geojson"
    frame.to_file(path, driver="GeoJSON")
    layer = read_base_layer(path, "landmarks", study_area=OUTLINE)
    assert list(layer.frame.geom_type) == ["Point", "Polygon"]
    assert layer.name_field == "NAME1" and layer.type_field == "LOCAL_TYPE"


def test_nothing_near_the_study_area_is_refused(tmp_path: Path) -> None:
    far = street_grid((500_000.0, 200_000.0, 501_000.0, 201_000.0), spacing_m=300.0)
    path = tmp_path / "london.geojson"
    far.to_file(path, driver="GeoJSON")
    with pytest.raises(InputFileError, match="Check the file covers the study area"):
        read_base_layer(path, "roads", study_area=OUTLINE)


def test_name_field_option_and_guess(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as err:
        read_base_layer(files["bng"], "roads", name_field="street", study_area=OUTLINE)
    assert "has no field `street`" in str(err.value) and "name1" in str(err.value)
    layer = read_base_layer(files["bng"], "roads", name_field="class", study_area=OUTLINE)
    assert layer.name_field == "class"
    assert set(layer.frame["name"]) <= {"A Road", "B Road", "Local Road"}
    assert pick_field(["ID", "DISTNAME", "CLASSIFICA"], ("name", "distname")) == "DISTNAME"
    assert pick_field(["distinctiveName"], ("distinctive_name",)) == "distinctiveName"
    assert pick_field(["geom", "fid"], ("name",)) is None


def test_simplification_removes_sub_metre_wiggles_only(tmp_path: Path) -> None:
    c = gpd.GeoSeries([OUTLINE.representative_point()], crs=WGS84).to_crs(BNG).iloc[0]
    x = np.linspace(c.x, c.x + 200, 41)
    small = shapely.LineString(np.c_[x, c.y + 0.3 * (-1) ** np.arange(41)])
    large = shapely.LineString(np.c_[x, c.y + 100 + 5.0 * (-1) ** np.arange(41)])
    frame = gpd.GeoDataFrame({"name": ["Small", "Large"]}, geometry=[small, large], crs=BNG)
    path = tmp_path / "wiggles.geojson"
    frame.to_file(path, driver="GeoJSON")
    layer = read_base_layer(path, "roads", study_area=OUTLINE).frame.set_index("name")
    counts = shapely.get_num_coordinates(layer.geometry.to_numpy())
    assert dict(zip(layer.index, counts, strict=True)) == {"Small": 2, "Large": 41}
    # A zero tolerance keeps every vertex.
    kept = read_base_layer(path, "roads", study_area=OUTLINE, tolerance_m=0).frame
    assert shapely.get_num_coordinates(kept.geometry.to_numpy()).tolist() == [41, 41]


def test_keep_parts_splits_collections() -> None:
    line = shapely.LineString([(0, 0), (1, 1)])
    collection = shapely.GeometryCollection(
        [line, shapely.Point(5, 5), shapely.MultiLineString([[(2, 2), (3, 3)]])]
    )
    bow = shapely.make_valid(shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)]))
    geoms = np.array([shapely.Point(0, 0), line, collection, None, bow], dtype=object)
    lines = keep_parts(geoms, (1,))
    assert lines[0] is None and lines[3] is None and lines[4] is None
    assert lines[1].equals(line)
    assert lines[2].geom_type == "MultiLineString" and lines[2].length == pytest.approx(
        2 * np.sqrt(2)
    )
    polys = keep_parts(geoms, (0, 2))
    assert polys[0].geom_type == "Point" and polys[2].equals(shapely.Point(5, 5))
    assert polys[4].area == pytest.approx(2.0)


def test_geojson_written_by_hand_with_a_crs_member(tmp_path: Path) -> None:
    c = gpd.GeoSeries([OUTLINE.representative_point()], crs=WGS84).to_crs(BNG).iloc[0]
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
        "features": [
            {
                "type": "Feature",
                "properties": {"road_name": "Canal Street"},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[c.x, c.y], [c.x + 250, c.y]],
                },
            }
        ],
    }
    path = tmp_path / "one.geojson"
    path.write_text(json.dumps(doc))
    layer = read_base_layer(path, "roads", study_area=OUTLINE)
    assert layer.frame["name"].tolist() == ["Canal Street"]
    assert layer.frame.to_crs(BNG).length.iloc[0] == pytest.approx(250.0, abs=0.01)
