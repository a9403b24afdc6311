"""Reading gazetteer files: OS Open Names (with and without header), police.uk, point files.

Fixtures are generated here: synthetic OS Open Names rows in the documented column
order with made-up street names, and points placed in Blackburn with Darwen. The
expected coordinates come from pyproj directly, not from the product's helpers.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geo.errors import InputFileError, ValidationError
from geo.gazetteer import POLICE_UK_TYPE, snap_points, tidy_names
from geo.gazetteerfiles import OS_OPEN_NAMES_COLUMNS, read_gazetteer, sniff_format

TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)

# (ID, NAME1, LOCAL_TYPE, x, y): three in Blackburn, one in London, two bad rows.
OS_ROWS = [
    ("osgb4000000000000001", "Test Street", "Named Road", "368200", "428100"),
    ("osgb4000000000000002", "Sample Lane", "Named Road", "369050", "427300"),
    ("osgb4000000000000003", "", "Named Road", "368500", "428000"),  # empty name
    ("osgb4000000000000004", "Example Park", "Urban Greenspace", "", "427900"),  # no x
    ("osgb4000000000000005", "Far Away Road", "Named Road", "530000", "180000"),  # London
    ("osgb4000000000000006", "Demo Square", "Other Settlement", "367400.5", "427800.5"),
]
KEPT = {"osgb4000000000000001", "osgb4000000000000002", "osgb4000000000000006"}


def _os_line(row: tuple[str, str, str, str, str]) -> list[str]:
    ident, name, local, x, y = row
    cells = {c: "" for c in OS_OPEN_NAMES_COLUMNS}
    cells.update(
        ID=ident,
        NAMES_URI=f"http://data.ordnancesurvey.co.uk/id/{ident[4:]}",
        NAME1=name,
        TYPE="transportNetwork",
        LOCAL_TYPE=local,
        GEOMETRY_X=x,
        GEOMETRY_Y=y,
        MBR_XMIN=x,
        MBR_YMIN=y,
        POSTCODE_DISTRICT="BB1",
        POPULATED_PLACE="Blackburn",
        COUNTY_UNITARY="Blackburn with Darwen",
        REGION="North West",
        COUNTRY="England",
    )
    return [cells[c] for c in OS_OPEN_NAMES_COLUMNS]


def write_os(path: Path, *, header: bool, rows: list[tuple[str, str, str, str, str]] = OS_ROWS):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:  # type: ignore[operator]
        w = csv.writer(fh)
        if header:
            w.writerow(OS_OPEN_NAMES_COLUMNS)
        for row in rows:
            w.writerow(_os_line(row))
    return path


def _check_os(read, first_row: int) -> None:
    assert read.kind == "os_open_names"
    assert read.rows_read == len(OS_ROWS)
    assert read.bad == 2
    assert read.outside == 1
    assert read.reasons == {"name is empty": 1, "coordinates missing or not numbers": 1}
    assert read.bad_rows[0].endswith(f"row {first_row + 2}: name is empty")
    assert f"row {first_row + 3}: coordinates missing" in read.bad_rows[1]
    places = read.places.set_index("code")
    assert set(places.index) == KEPT
    for ident, name, local, x, y in OS_ROWS:
        if ident not in KEPT:
            continue
        lng, lat = TO_WGS84.transform(float(x), float(y))
        assert places.loc[ident, "name"] == name
        assert places.loc[ident, "type"] == local
        assert places.loc[ident, "lat"] == pytest.approx(lat, abs=1e-9)
        assert places.loc[ident, "lng"] == pytest.approx(lng, abs=1e-9)


def test_os_open_names_as_published_has_no_header(tmp_path: Path) -> None:
    path = write_os(tmp_path / "SD62.csv", header=False)
    assert sniff_format(path) == ("os_open_names", False)
    _check_os(read_gazetteer([path]), first_row=1)


def test_os_open_names_with_its_header_row(tmp_path: Path) -> None:
    path = write_os(tmp_path / "with_header.csv", header=True)
    assert sniff_format(path) == ("os_open_names", True)
    _check_os(read_gazetteer([path]), first_row=2)


def test_os_open_names_gzip_in_small_chunks_reads_the_same(tmp_path: Path) -> None:
    path = write_os(tmp_path / "SD62.csv.gz", header=False)
    whole = read_gazetteer([path])
    chunked = read_gazetteer([path], chunk_rows=2)
    pd.testing.assert_frame_equal(whole.places, chunked.places)
    assert (chunked.bad, chunked.outside, chunked.rows_read) == (2, 1, len(OS_ROWS))


def test_several_os_files_are_one_import_and_a_repeated_id_counts_once(tmp_path: Path) -> None:
    a = write_os(tmp_path / "a.csv", header=False)
    b = write_os(tmp_path / "b.csv", header=False, rows=OS_ROWS[:2])
    read = read_gazetteer([a, b])
    assert read.rows_read == len(OS_ROWS) + 2
    assert read.duplicates == 2
    assert set(read.places["code"]) == KEPT


def test_a_point_file_in_another_crs(tmp_path: Path) -> None:
    lat = np.array([53.7485, 53.7412, 53.6980])
    lng = np.array([-2.4823, -2.4711, -2.4650])
    frame = gpd.GeoDataFrame(
        {"street": ["Alpha Road", "Beta Street", "Gamma Way"], "ref": ["a1", "b2", "c3"]},
        geometry=gpd.points_from_xy(lng, lat),
        crs="EPSG:4326",
    )
    path = tmp_path / "places.gpkg"
    frame.to_crs("EPSG:32630").to_file(path, layer="places")  # UTM zone 30N
    read = read_gazetteer([path])
    assert read.kind == "file" and read.bad == 0 and read.outside == 0
    got = read.places.set_index("code").loc[["a1", "b2", "c3"]]
    assert got["name"].tolist() == ["Alpha Road", "Beta Street", "Gamma Way"]
    np.testing.assert_allclose(got["lat"], lat, atol=1e-7)
    np.testing.assert_allclose(got["lng"], lng, atol=1e-7)


def test_geojson_with_a_chosen_name_field(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"label_text": ["Delta Close", "  "], "other": ["x", "y"]},
        geometry=gpd.points_from_xy([-2.48, -2.47], [53.75, 53.74]),
        crs="EPSG:4326",
    )
    path = tmp_path / "labels.geojson"
    frame.to_file(path, driver="GeoJSON")
    read = read_gazetteer([path], name_field="label_text")
    assert read.places["name"].tolist() == ["Delta Close"]
    assert read.bad == 1 and read.bad_rows == ["labels.geojson row 2: name is empty"]
    # No id column: the code is the point's "lat,lng".
    assert read.places["code"].tolist() == ["53.750000,-2.480000"]


def test_csv_with_easting_and_northing(tmp_path: Path) -> None:
    path = tmp_path / "roads.csv"
    path.write_text("Road Name,Easting,Northing\nEpsilon Road,368000,428000\nZeta Row,0,0\n")
    read = read_gazetteer([path])
    lng, lat = TO_WGS84.transform(368000.0, 428000.0)
    assert read.places["name"].tolist() == ["Epsilon Road"]
    assert read.places["lat"].iloc[0] == pytest.approx(lat, abs=1e-9)
    assert read.places["lng"].iloc[0] == pytest.approx(lng, abs=1e-9)
    assert read.reasons == {"coordinates are (0, 0)": 1}
    assert read.bad_rows == ["roads.csv row 3: coordinates are (0, 0)"]


def test_no_name_column_is_an_error_naming_the_file_and_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    path.write_text("id,lat,lng,colour\n1,53.75,-2.48,red\n")
    with pytest.raises(InputFileError) as err:
        read_gazetteer([path])
    text = str(err.value)
    assert "points.csv" in text and "id, lat, lng, colour" in text and "--name-field" in text
    with pytest.raises(InputFileError, match=r"no column `street`.*id, lat, lng, colour"):
        read_gazetteer([path], name_field="street")


def test_a_file_without_points_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "names.csv"
    path.write_text("name,town\nEta Street,Blackburn\n")
    with pytest.raises(InputFileError, match="no point"):
        read_gazetteer([path])


def test_files_of_two_formats_need_a_kind(tmp_path: Path) -> None:
    a = write_os(tmp_path / "a.csv", header=False)
    b = tmp_path / "b.csv"
    b.write_text("name,lat,lng\nTheta Road,53.75,-2.48\n")
    with pytest.raises(ValidationError, match="several formats"):
        read_gazetteer([a, b])
    read = read_gazetteer([a, b], kind="mine")
    assert read.kind == "mine" and len(read.places) == len(KEPT) + 1


POLICE_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Crime type,Last outcome category,Context\n"
)


def _police_row(lng: str, lat: str, location: str) -> str:
    return (
        f",2022-01,Lancashire Constabulary,Lancashire Constabulary,{lng},{lat},{location},"
        "E01012607,Blackburn with Darwen 001A,Anti-social behaviour,,\n"
    )


def test_police_uk_file_gives_distinct_snap_points(tmp_path: Path) -> None:
    path = tmp_path / "2022-01-lancashire-street.csv"
    path.write_text(
        POLICE_HEADER
        + _police_row("-2.458905", "53.762781", "On or near Philips Road")
        + _police_row("-2.458905", "53.762781", "On or near  Philips   Road ")
        + _police_row("-2.458905", "53.762781", "On or near Supermarket")
        + _police_row("-2.462042", "53.762509", "On or near Parking Area")
        + _police_row("-2.462042", "53.762509", "On or near ")  # no name
        + _police_row("", "", "No Location")
    )
    assert sniff_format(path) == ("police.uk", True)
    read = read_gazetteer([path])
    assert read.kind == "police.uk"
    assert read.places.to_dict("records") == [
        {
            "code": "53.762509,-2.462042",
            "name": "Parking Area",
            "type": POLICE_UK_TYPE,
            "lat": 53.762509,
            "lng": -2.462042,
        },
        {
            # The name published most often at the point.
            "code": "53.762781,-2.458905",
            "name": "Philips Road",
            "type": POLICE_UK_TYPE,
            "lat": 53.762781,
            "lng": -2.458905,
        },
    ]
    assert read.bad == 2
    assert read.reasons == {"name is empty": 1, "coordinates missing or not numbers": 1}


def test_tidy_names_and_snap_point_codes() -> None:
    names = pd.Series(["On or near Whalley Range", "on OR near\tHigh  St ", "  ", None, "Nearby"])
    assert tidy_names(names).tolist() == ["Whalley Range", "High St", "", "", "Nearby"]
    counted = snap_points(
        np.array([53.1234561, 53.1234564, np.nan]),
        np.array([-0.0000001, -0.0000004, 1.0]),
        pd.Series(["On or near A", "A", "B"]),
    )
    # Rounded to 6 decimals, with no negative zero: both rows are one point; no point, no row.
    assert counted.to_dict("records") == [{"code": "53.123456,0.000000", "name": "A", "n": 2}]


def test_os_open_names_postcodes_never_name_a_place(tmp_path: Path) -> None:
    """A unit postcode covers a handful of homes: it is left out, the roads beside it kept."""
    rows = [
        ("osgb4000000000000001", "Test Street", "Named Road", "368200", "428100"),
        ("osgb4000000000000099", "BB2 4JT", "Postcode", "368210", "428105"),
    ]
    read = read_gazetteer([write_os(tmp_path / "pc.csv", header=False, rows=rows)])
    assert read.places["name"].tolist() == ["Test Street"]
    assert "BB2 4JT" not in set(read.places["name"])
