"""Shipped boundaries and point-in-area assignment."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from geo import boundaries
from geo.areas import assign_areas
from geo.crs import BNG
from geo.errors import ValidationError
from geo.studyarea import StudyArea


def test_shipped_layers_have_the_expected_areas() -> None:
    w = boundaries.wards()
    assert len(w) == 17
    assert w["code"].str.match(r"^E050115(0[89]|1\d|2[0-4])$").all()
    assert len(boundaries.lsoas()) == 91
    d = boundaries.districts()
    assert sorted(d["code"]) == sorted(boundaries.LANCASHIRE)
    # Wards tile the borough: their union's area is within 2% of the LSOAs'.
    ward_area = w.to_crs(BNG).union_all().area
    lsoa_area = boundaries.lsoas().to_crs(BNG).union_all().area
    assert abs(ward_area - lsoa_area) / lsoa_area < 0.02


def test_every_boundary_file_has_source_and_licence_beside_it() -> None:
    folder = boundaries.boundaries_dir()
    readme = (folder / "README.md").read_text()
    for path in folder.glob("*.geojson"):
        assert path.name in readme
    assert "Open Government Licence" in readme


def test_assignment_agrees_with_geopandas_sjoin() -> None:
    rng = np.random.default_rng(11)
    lat = rng.uniform(53.66, 53.78, 3000)
    lng = rng.uniform(-2.56, -2.40, 3000)
    got = assign_areas(lat, lng, tolerance_m=0)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lng, lat), crs="EPSG:4326")
    for kind in ("ward", "lsoa"):
        joined = gpd.sjoin(pts, boundaries.layer(kind), how="left", predicate="intersects")
        expected = joined.groupby(level=0)["code"].min()
        # Wards and LSOAs are assigned only inside Blackburn with Darwen.
        in_bwd = (got["district"] == boundaries.BWD).to_numpy()
        np.testing.assert_array_equal(
            got.loc[in_bwd, kind].fillna("-").to_numpy(),
            expected[in_bwd].fillna("-").to_numpy(),
        )
    assert got["ward"].notna().sum() > 1000


def test_points_in_edge_slivers_take_the_nearest_area_within_tolerance() -> None:
    ward = boundaries.wards().iloc[0]
    outline = gpd.GeoSeries([ward.geometry], crs="EPSG:4326").to_crs(BNG)
    # A point 100 m outside the borough edge of a ward is outside every ward.
    edge = outline.boundary.iloc[0]
    near = (
        gpd.GeoSeries([edge.interpolate(0.5, normalized=True)], crs=BNG).to_crs("EPSG:4326").iloc[0]
    )
    strict = assign_areas([near.y], [near.x], tolerance_m=0)
    loose = assign_areas([near.y], [near.x], tolerance_m=50)
    assert loose["ward"].iloc[0] is not None
    assert strict["ward"].iloc[0] in (None, loose["ward"].iloc[0])


def test_nan_points_get_no_area() -> None:
    got = assign_areas([np.nan, 53.745], [-2.48, -2.482])
    assert got.iloc[0].isna().all()
    assert got["ward"].iloc[1] == "E05011511"  # Blackburn Central, from its polygon


def test_study_area_contains_with_tolerance() -> None:
    area = StudyArea()
    # Blackburn town centre inside; Preston (another district) outside.
    assert area.contains([53.748], [-2.482]).tolist() == [True]
    assert area.contains([53.759], [-2.703]).tolist() == [False]
    lanc = StudyArea.parse("lancashire")
    assert lanc.contains([53.759], [-2.703]).tolist() == [True]
    assert lanc.label == "Lancashire"
    with pytest.raises(ValidationError, match="unknown local authorities"):
        StudyArea.parse("E99999999")


def test_find_ward_forgives_case_and_ampersands() -> None:
    assert boundaries.find_ward("audley and queens park")[0] == "E05011508"
    assert boundaries.find_ward("E05011511")[1] == "Blackburn Central"
    with pytest.raises(ValidationError, match="no ward called"):
        boundaries.find_ward("Atlantis")


def test_ward_file_is_the_published_copy() -> None:
    data = json.loads((boundaries.boundaries_dir() / "bwd_wards_2018.geojson").read_text())
    assert data["meta"]["total_wards"] == 17
