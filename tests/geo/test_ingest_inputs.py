"""Input files of every shape into both stores: header cells, layers, feature values, gzip.

Expected values come from the files written here (their ids, their rows), not
from what ingest happens to produce.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo import schemas
from geo.errors import InputFileError
from geo.ingest import IngestReport, ingest_file
from geo.pseudonym import check_key, pseudonymise
from geo.store import Store

KEY = check_key("test-key-0123456789-abcdefghijklmnop")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
POINTS = [(-2.482, 53.748), (-2.49, 53.744), (-2.47, 53.75)]


def ingest(store: Store, kind: str, path: Path, tmp_path: Path, **kw: Any) -> IngestReport:
    return ingest_file(store, kind, path, key=KEY, quarantine_dir=tmp_path / "q", now=NOW, **kw)


def feature_collection(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A GeoJSON file of points at :data:`POINTS`, one feature per row of properties."""
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(POINTS[i % len(POINTS)])},
                "properties": props,
            }
            for i, props in enumerate(rows)
        ],
    }
    path.write_text(json.dumps(doc))
    return path


def test_empty_trailing_header_cells_are_ignored(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_text(
        "venue_id,venue_type,lat,lng,,,\nV1,hotel,53.748,-2.482,,,\nV2,park,53.744,-2.49,,,\n"
    )
    report = ingest(store, "venues", path, tmp_path)
    assert (report.rows_read, report.rows_stored, report.exit_code) == (2, 2, 0)
    assert report.ignored_columns == [
        "(column 5, no name)",
        "(column 6, no name)",
        "(column 7, no name)",
    ]
    assert sorted(store.read(schemas.VENUES)["venue_id"]) == ["V1", "V2"]


def test_a_geopackage_with_several_layers_is_refused_without_a_layer(
    store: Store, tmp_path: Path
) -> None:
    venues = gpd.GeoDataFrame(
        {"venue_id": ["V1", "V2"], "venue_type": ["hotel", "park"]},
        geometry=[shapely.Point(*POINTS[0]), shapely.Point(*POINTS[1])],
        crs="EPSG:4326",
    )
    path = tmp_path / "two.gpkg"
    venues.to_file(path, layer="venues", driver="GPKG")
    venues.iloc[:1].to_file(path, layer="closed_venues", driver="GPKG")
    with pytest.raises(InputFileError, match="several layers") as err:
        ingest(store, "venues", path, tmp_path)
    assert "`venues`" in str(err.value) and "`closed_venues`" in str(err.value)
    assert store.count(schemas.VENUES) == 0
    report = ingest(store, "venues", path, tmp_path, layer="closed_venues")
    assert report.rows_stored == 1
    assert store.read(schemas.VENUES)["venue_id"].tolist() == ["V1"]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_integer_ids_with_a_gap_are_stored_as_written(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    # One child, id 1, in a CSV and in a feature file whose child ids include a blank.
    csv = tmp_path / "e.csv"
    csv.write_text(
        "episode_id,child_id,last_seen_at,last_seen_lat,last_seen_lng\n"
        "E-CSV,1,2025-03-01T21:30,53.748,-2.482\n"
    )
    ingest(store, "episodes", csv, tmp_path)
    rows = [
        {"episode_id": 101, "child_id": 1, "last_seen_at": "2025-03-02T21:30"},
        {"episode_id": None, "child_id": None, "last_seen_at": "2025-03-03T21:30"},
        {"episode_id": 103, "child_id": 22, "last_seen_at": "2025-03-04T21:30"},
    ]
    for i, row in enumerate(rows):
        row["last_seen_lat"], row["last_seen_lng"] = POINTS[i][1], POINTS[i][0]
    path = feature_collection(tmp_path / "e.geojson", rows)
    if fmt == "gpkg":
        frame = gpd.read_file(path)
        frame["episode_id"] = frame["episode_id"].astype("Int64")
        frame["child_id"] = frame["child_id"].astype("Int64")
        path = tmp_path / "e.gpkg"
        frame.to_file(path, layer="episodes", driver="GPKG")
    report = ingest(store, "episodes", path, tmp_path)
    assert (report.rows_stored, report.rows_quarantined) == (2, 1)
    stored = store.read(schemas.EPISODES).set_index("episode_id")
    assert sorted(stored.index) == ["101", "103", "E-CSV"]
    refs = pseudonymise(pd.Series(["1", "22"]), KEY).tolist()
    assert stored.loc["101", "child_ref"] == stored.loc["E-CSV", "child_ref"] == refs[0]
    assert stored.loc["103", "child_ref"] == refs[1]
    assert stored["child_ref"].nunique() == 2


@pytest.mark.parametrize("fmt", ["geojson", "gpkg"])
def test_feature_booleans_with_a_gap_are_yes_no_values(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    rows = [
        {"venue_id": "V1", "venue_type": "hotel", "public": True},
        {"venue_id": "V2", "venue_type": "park", "public": False},
        {"venue_id": "V3", "venue_type": "shop"},
    ]
    path = feature_collection(tmp_path / "v.geojson", rows)
    if fmt == "gpkg":
        frame = gpd.read_file(path)
        frame["public"] = pd.array([True, False, None], dtype="boolean")
        path = tmp_path / "v.gpkg"
        frame.to_file(path, layer="venues", driver="GPKG")
    report = ingest(store, "venues", path, tmp_path)
    assert (report.rows_stored, report.rows_quarantined, report.exit_code) == (3, 0, 0)
    public = store.read(schemas.VENUES).set_index("venue_id")["public"]
    assert public.loc[["V1", "V2"]].tolist() == [True, False]
    assert pd.isna(public["V3"])


def test_an_attribute_table_ingests_for_a_kind_without_points(store: Store, tmp_path: Path) -> None:
    venues = tmp_path / "v.csv"
    venues.write_text("venue_id,venue_type,lat,lng\nV1,hotel,53.748,-2.482\n")
    ingest(store, "venues", venues, tmp_path)
    table = pd.DataFrame(
        {
            "report_id": ["R1", "R2", "R3"],
            "venue_id": ["V1", "V1", "V9"],
            "reported_at": ["2025-01-02", "2025-01-03", "2025-01-04"],
            "grading": ["1AP", "2BC", "3EP"],
        }
    )
    path = tmp_path / "reports.gpkg"
    pyogrio.write_dataframe(table, path, layer="venue_reports", driver="GPKG")
    report = ingest(store, "venue-reports", path, tmp_path)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (3, 2, 1)
    assert sorted(store.read(schemas.VENUE_REPORTS)["report_id"]) == ["R1", "R2"]


def test_an_attribute_table_is_refused_for_a_kind_that_needs_a_point(
    store: Store, tmp_path: Path
) -> None:
    table = pd.DataFrame({"venue_id": ["V1"], "venue_type": ["hotel"]})
    path = tmp_path / "venues.gpkg"
    pyogrio.write_dataframe(table, path, layer="venues", driver="GPKG")
    with pytest.raises(InputFileError, match="no geometry") as err:
        ingest(store, "venues", path, tmp_path)
    assert "venues.gpkg" in str(err.value)
    assert store.count(schemas.VENUES) == 0


def test_a_truncated_gzip_is_refused_and_nothing_is_stored(store: Store, tmp_path: Path) -> None:
    # About 10 MB of rows, cut at four fifths of the compressed bytes: the break
    # comes after the first chunks were checked and staged.
    n = 200_000
    body = "incident_id,category,occurred_at,lat,lng\n" + "".join(
        f"I{i},Other,2025-01-01T10:00,53.748,-2.482\n" for i in range(n)
    )
    packed = gzip.compress(body.encode())
    path = tmp_path / "incidents.csv.gz"
    path.write_bytes(packed[: len(packed) * 4 // 5])
    with pytest.raises(InputFileError, match="truncated or corrupt") as err:
        ingest(store, "incidents", path, tmp_path, chunk_rows=20_000)
    assert "incidents.csv.gz" in str(err.value)
    assert store.count(schemas.INCIDENTS) == 0
