"""Study areas anywhere in the UK (and beyond): codes, polygon files, the metric CRS, grids.

Reference values come from the shipped ONS file read with GeoPandas, from
pyproj transformations and from the published layouts of the two grids.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo import crs
from geo.boundaries import boundaries_dir
from geo.errors import InputFileError, ValidationError
from geo.studyarea import StudyArea, active_study_area, use_study_area

MANCHESTER = "E08000003"
LIVERPOOL = "E08000012"
BELFAST = "N09000003"


def _uk() -> gpd.GeoDataFrame:
    return gpd.read_file(boundaries_dir() / "uk_ltla_2016_bsc.geojson")


def test_any_uk_code_names_a_study_area_with_its_ons_outline() -> None:
    uk = _uk().set_index("areacd")
    area = StudyArea.parse(f"{MANCHESTER}, {LIVERPOOL}")
    assert area.codes == (MANCHESTER, LIVERPOOL)
    assert area.label == "Manchester, Liverpool"
    want = shapely.union_all([uk.loc[MANCHESTER, "geometry"], uk.loc[LIVERPOOL, "geometry"]])
    got = area.outline()
    assert abs(got.area - want.area) / want.area < 1e-9
    # A point at Manchester's representative point is in, one in Leeds is out.
    inside = uk.loc[MANCHESTER, "geometry"].representative_point()
    leeds = uk.loc["E08000035", "geometry"].representative_point()
    assert area.contains([inside.y, leeds.y], [inside.x, leeds.x]).tolist() == [True, False]
    assert area.metric == crs.BRITISH_NATIONAL_GRID
    assert area.region.name == "Great Britain"


def test_unknown_code_names_the_nearest_known_codes_and_the_file_form() -> None:
    with pytest.raises(ValidationError) as err:
        StudyArea.parse("E08000O03")  # a letter O for a zero
    text = str(err.value)
    assert f"nearest known codes are {MANCHESTER} (Manchester)" in text
    # An authority created after 2016 is not in the file: the message points to a polygon file.
    with pytest.raises(ValidationError, match="polygon file"):
        StudyArea.parse("E06000061")


def test_northern_ireland_measures_in_utm_with_irish_grid_references() -> None:
    area = StudyArea.parse(BELFAST)
    c = area.outline().centroid
    zone = int(np.floor((c.x + 180) / 6) + 1)
    assert area.metric.code == f"EPSG:{32600 + zone}"
    assert area.metric.grid == "irish"
    assert area.region.name == "the UK"
    use_study_area(area)
    try:
        assert crs.metric_crs() == area.metric
        # Belfast City Hall; its Irish Grid reference by pyproj and the grid's letters.
        lat, lng = 54.5967, -5.9301
        x, y = crs.latlng_to_metric([lat], [lng])
        ref = crs.grid_reference(x, y, digits=6)[0]
        e, n = Transformer.from_crs(4326, 29903, always_xy=True).transform(lng, lat)
        # Irish Grid 100 km squares: rows from the north, V W X Y Z ... A B C D E; J is
        # the square 300-400 km east, 300-400 km north.
        assert 300_000 <= e < 400_000 and 300_000 <= n < 400_000
        assert ref == f"J {int(e) % 100_000 // 100:03d} {int(n) % 100_000 // 100:03d}"
        back = crs.metric_to_latlng(x, y)
        assert np.allclose([back[0][0], back[1][0]], [lat, lng], atol=1e-9)
    finally:
        use_study_area(None)
    assert crs.metric_crs() == crs.BRITISH_NATIONAL_GRID


def test_os_grid_references_are_unchanged_in_great_britain() -> None:
    x, y = crs.latlng_to_metric([53.7485], [-2.4823])
    ref = crs.grid_reference(x, y, digits=8)[0]
    assert ref == crs.bng_to_grid_reference(x, y, digits=8)[0]
    assert ref.startswith("SD ")


def _square_file(path: Path, centre: tuple[float, float], half_m: float, epsg: int) -> Path:
    """A square polygon around (lat, lng) written in ``epsg``."""
    lat, lng = centre
    utm = crs.utm_for(lat, lng)
    to_utm = Transformer.from_crs(4326, utm, always_xy=True)
    x, y = to_utm.transform(lng, lat)
    square = gpd.GeoSeries([shapely.box(x - half_m, y - half_m, x + half_m, y + half_m)], crs=utm)
    frame = gpd.GeoDataFrame({"name": ["patch"]}, geometry=square.to_crs(epsg))
    if path.suffix == ".gpkg":
        frame.to_file(path, layer="patch", driver="GPKG")
    else:
        frame.to_file(path, driver="GeoJSON")
    return path


def test_a_polygon_file_in_another_crs_names_a_study_area(tmp_path: Path) -> None:
    # A square in Leeds, saved in Web Mercator.
    path = _square_file(tmp_path / "leeds.gpkg", (53.7997, -1.5492), 2000.0, 3857)
    area = StudyArea.parse(f"{path}:patch")
    assert area.file == str(path.resolve()) and area.layer == "patch"
    assert area.metric == crs.BRITISH_NATIONAL_GRID
    assert "E08000035" in area.district_codes  # Leeds
    inside = area.contains(
        [53.7997, 53.7997],
        [-1.5492, -1.4492],
    )
    assert inside.tolist() == [True, False]
    # Stored and read back as the store keeps it: the same place.
    again = StudyArea.stored(area.spec, area.wkt, tolerance_m=area.tolerance_m)
    assert again.same_as(area)
    assert not again.same_as(StudyArea.parse("E08000035"))


def test_a_study_area_abroad_uses_its_utm_zone_and_no_grid(tmp_path: Path) -> None:
    path = _square_file(tmp_path / "lyon.geojson", (45.7640, 4.8357), 3000.0, 2154)
    area = StudyArea.parse(str(path))
    assert area.metric.code == "EPSG:32631" and area.metric.grid == ""
    assert "Great Britain" not in area.region.name
    use_study_area(area)
    try:
        x, y = crs.latlng_to_metric([45.7640], [4.8357])
        assert crs.grid_reference(x, y)[0] == ""
        assert active_study_area() is area
    finally:
        use_study_area(None)


def test_bad_polygon_files_are_refused(tmp_path: Path) -> None:
    points = tmp_path / "points.geojson"
    points.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Point", "coordinates": [-2.48, 53.75]},
                    }
                ],
            }
        )
    )
    with pytest.raises(InputFileError, match="holds no polygon"):
        StudyArea.parse(str(points))
    nocrs = tmp_path / "nocrs.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # writing without a CRS, on purpose
        gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)]).to_file(nocrs, driver="GPKG")
    with pytest.raises(InputFileError, match="no coordinate reference system"):
        StudyArea.parse(str(nocrs))
    # A bow-tie is made valid, not refused.
    bow = tmp_path / "bow.geojson"
    tie = shapely.Polygon([(-2.50, 53.74), (-2.46, 53.76), (-2.46, 53.74), (-2.50, 53.76)])
    gpd.GeoDataFrame(geometry=[tie], crs=4326).to_file(bow, driver="GeoJSON")
    area = StudyArea.parse(str(bow))
    assert area.outline().is_valid and area.outline().area > 0
    assert "1 invalid polygon(s) in bow.geojson were made valid" in area.note


def test_dublin_is_on_the_irish_grid_but_not_in_the_uk(tmp_path: Path) -> None:
    path = _square_file(tmp_path / "dublin.geojson", (53.3498, -6.2603), 3000.0, 2157)
    area = StudyArea.parse(str(path))
    assert area.metric.code == "EPSG:32629" and area.metric.grid == "irish"
    assert area.region.name not in ("the UK", "Great Britain")
    # Argyll and Bute reaches further south-west than Antrim's coast, but is British.
    assert StudyArea.parse("S12000035").metric == crs.BRITISH_NATIONAL_GRID
