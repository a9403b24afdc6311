"""Readers: encodings, delimiters, compression, features, unusable files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.errors import InputFileError
from geo.readers import normalise_column, open_source

ROWS = "id,name,lat,lng\n1,Café Rouge,53.75,-2.48\n2,Bistro,53.74,-2.47\n"


def _read_all(path: Path, **kw: object) -> pd.DataFrame:
    src = open_source(path, **kw)  # type: ignore[arg-type]
    return pd.concat([c.frame for c in src.chunks], ignore_index=True)


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("latin-1", b""), ("cp1252", b"")],
)
def test_encodings(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(prefix + ROWS.encode(encoding))
    frame = _read_all(path)
    assert list(frame.columns) == ["id", "name", "lat", "lng"]
    assert frame["name"].tolist() == ["Café Rouge", "Bistro"]


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_delimiters(tmp_path: Path, sep: str) -> None:
    path = tmp_path / "v.csv"
    path.write_text(ROWS.replace(",", sep))
    frame = _read_all(path)
    assert frame["lat"].tolist() == ["53.75", "53.74"]


def test_gzip_and_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "v.csv.gz"
    body = "id,lat\n" + "".join(f"{i},53.{i}\n" for i in range(25))
    path.write_bytes(gzip.compress(body.encode()))
    src = open_source(path, chunk_rows=10)
    chunks = list(src.chunks)
    assert [len(c.frame) for c in chunks] == [10, 10, 5]
    # The header is row 1, so the first record is row 2 and the last row 26.
    assert chunks[0].rows[0] == 2
    assert chunks[-1].rows[-1] == 26
    assert chunks[-1].frame["id"].iloc[-1] == "24"


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"empty\.csv: the file is empty"):
        open_source(empty)
    bom_only = tmp_path / "bom.csv"
    bom_only.write_bytes(b"\xef\xbb\xbf\n")
    with pytest.raises(InputFileError, match="empty"):
        open_source(bom_only)


def test_broken_rows_and_unknown_types(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('id,lat\n1,"53.7\n')
    with pytest.raises(InputFileError, match=r"bad\.csv"):
        _read_all(path)
    other = tmp_path / "data.xlsx"
    other.write_bytes(b"PK")
    with pytest.raises(InputFileError, match="unsupported file type"):
        open_source(other)
    dup = tmp_path / "dup.csv"
    dup.write_text("id,Lat,lat\n1,2,3\n")
    with pytest.raises(InputFileError, match="repeats column"):
        open_source(dup)


def test_geojson_and_geopackage_points(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"venue_id": ["V1", "V2", "V3"], "name": ["a", "b", "c"]},
        geometry=[
            shapely.Point(-2.48, 53.75),
            shapely.Point(-2.47, 53.74),
            shapely.box(-2.5, 53.7, -2.49, 53.71),
        ],
        crs="EPSG:4326",
    )
    for name, driver in (("v.geojson", "GeoJSON"), ("v.gpkg", "GPKG")):
        path = tmp_path / name
        gdf.to_file(path, driver=driver)
        frame = _read_all(path)
        assert frame["lat"].iloc[:2].astype(float).round(6).tolist() == [53.75, 53.74]
        assert frame["lat"].iloc[2] == ""
        assert frame["_geometry_problem"].tolist() == ["", "", "Polygon"]
    bng = gdf.iloc[:2].to_crs("EPSG:27700")
    path = tmp_path / "bng.gpkg"
    bng.to_file(path, driver="GPKG")
    frame = _read_all(path)
    assert {"easting", "northing"} <= set(frame.columns)
    assert abs(float(frame["easting"].iloc[0]) - bng.geometry.x.iloc[0]) < 1e-6


def test_normalise_column() -> None:
    assert normalise_column("\ufeffLast Seen Lat ") == "last_seen_lat"
    assert normalise_column("Crime ID") == "crime_id"
    assert normalise_column("LSOA code") == "lsoa_code"


def test_empty_trailing_header_cells_are_ignored_and_named(tmp_path: Path) -> None:
    # A spreadsheet saved as CSV writes a header cell for every column it once used.
    path = tmp_path / "v.csv"
    path.write_text("id,lat,,\n1,53.75,,\n2,53.74,,\n")
    src = open_source(path)
    assert src.columns == ["id", "lat"]
    assert src.ignored == ["(column 3, no name)", "(column 4, no name)"]
    frame = pd.concat([c.frame for c in src.chunks], ignore_index=True)
    assert list(frame.columns) == ["id", "lat"]
    assert frame["lat"].tolist() == ["53.75", "53.74"]


def _truncated_gzip(path: Path, rows: int) -> Path:
    body = "id,lat\n" + "".join(f"{i},53.{i % 1000:03d}\n" for i in range(rows))
    packed = gzip.compress(body.encode())
    path.write_bytes(packed[: len(packed) * 4 // 5])
    return path


@pytest.mark.parametrize("rows", [100, 400_000])
def test_a_truncated_gzip_is_refused_as_truncated(tmp_path: Path, rows: int) -> None:
    # 100 rows break inside the first sample; 400,000 rows (about 5 MB) only mid-stream.
    path = _truncated_gzip(tmp_path / "v.csv.gz", rows)
    with pytest.raises(InputFileError, match=r"v\.csv\.gz: .*truncated or corrupt"):
        _read_all(path, chunk_rows=50_000)


def test_a_geopackage_with_several_layers_needs_a_layer(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"venue_id": ["V1"]}, geometry=[shapely.Point(-2.48, 53.75)], crs="EPSG:4326"
    )
    path = tmp_path / "two.gpkg"
    gdf.to_file(path, layer="venues", driver="GPKG")
    gdf.to_file(path, layer="other_venues", driver="GPKG")
    with pytest.raises(InputFileError, match="several layers") as err:
        open_source(path)
    assert "venues" in str(err.value) and "other_venues" in str(err.value)
    assert "--layer" in str(err.value)
    frame = _read_all(path, layer="other_venues")
    assert frame["venue_id"].tolist() == ["V1"]
    with pytest.raises(InputFileError, match="no layer `missing`"):
        open_source(path, layer="missing")


def test_feature_values_are_read_as_text_never_through_floats(tmp_path: Path) -> None:
    # An integer property missing from one feature used to come back as 101.0, and a
    # boolean as 1.0 or 0.0.
    features = [
        {"id": 101, "child": 1, "flag": True, "size": 2.5},
        {"id": None, "child": 22, "flag": False, "size": 3},
        {"child": None},
    ]
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [-2.48, 53.75]},
                "properties": props,
            }
            for props in features
        ],
    }
    path = tmp_path / "f.geojson"
    path.write_text(json.dumps(doc))
    frame = _read_all(path)
    assert frame["id"].tolist() == ["101", "", ""]
    assert frame["child"].tolist() == ["1", "22", ""]
    assert frame["flag"].tolist() == ["true", "false", ""]
    assert frame["size"].tolist() == ["2.5", "3", ""]
    gdf = gpd.GeoDataFrame(
        {
            "id": pd.array([101, None], dtype="Int64"),
            "flag": pd.array([True, None], dtype="boolean"),
        },
        geometry=[shapely.Point(-2.48, 53.75), shapely.Point(-2.47, 53.74)],
        crs="EPSG:4326",
    )
    gpkg = tmp_path / "f.gpkg"
    gdf.to_file(gpkg, driver="GPKG", layer="f")
    frame = _read_all(gpkg)
    assert frame["id"].tolist() == ["101", ""]
    assert frame["flag"].tolist() == ["true", ""]


def test_an_attribute_table_is_read_without_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "reports.gpkg"
    table = pd.DataFrame({"report_id": ["R1", "R2"], "venue_id": ["V1", "V2"]})
    pyogrio.write_dataframe(table, path, layer="venue_reports", driver="GPKG")
    src = open_source(path)
    assert not src.has_geometry
    assert src.columns == ["report_id", "venue_id"]
    frame = pd.concat([c.frame for c in src.chunks], ignore_index=True)
    assert frame["report_id"].tolist() == ["R1", "R2"]
    assert "lat" not in frame.columns
