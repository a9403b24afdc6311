"""Exports read back with pyogrio and compared with the store, for both stores.

The GeoPackage keeps the store's types (UTC datetimes, 64-bit H3 integers)
and both points of an episode as point layers; GeoJSON takes one point per
feature and writes H3 cells as hex text; CSV neutralises formulas.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import shapely

from geo import schemas
from geo.errors import ValidationError
from geo.export import export
from geo.ingest import ingest_file
from geo.pseudonym import check_key
from geo.store import Store

KEY = check_key("export-test-key-0123456789-abcdefghij")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FORMULA = "=1+2"
NULLABLE_INT = {"types_mapper": {pa.int64(): pd.Int64Dtype()}.get}

EPISODES = """episode_id,child_id,reported_at,last_seen_at,last_seen_lat,last_seen_lng,\
last_seen_place_type,found_at,found_lat,found_lng,found_place_type,in_care,risk_level
EP-1,C-1,2025-03-01T23:00,2025-03-01T21:30,53.7450,-2.4820,public,2025-03-02T02:00,53.7500,-2.4700,public,no,medium
EP-2,C-1,2025-03-08T22:10,2025-03-08T21:45,53.7461,-2.4811,venue,2025-03-09T01:15,53.7510,-2.4710,unknown,no,high
EP-3,C-2,2025-06-14T19:05,2025-06-14T18:00,53.7472,-2.4802,school,,,,,yes,low
EP-4,C-3,2025-10-26T01:30,2025-10-26T01:15,53.7483,-2.4793,public,2025-10-26T04:00,53.7520,-2.4720,public,,
EP-5,C-2,2025-12-20T20:00,2025-12-20T19:40,53.7494,-2.4784,public,,,,,true,medium
"""
VENUES = f"""venue_id,name,venue_type,lat,lng,public
V-1,{FORMULA},takeaway,53.7480,-2.4820,yes
V-2,Hotel 1,hotel,53.7440,-2.4900,no
"""
REPORTS = """report_id,venue_id,reported_at,grading
R-1,V-1,2025-04-01T10:00,1AP
R-2,V-2,2025-05-02T11:30,2BC
"""
DISRUPTIONS = """disruption_id,venue_id,disrupted_at,lat,lng,tactic,note
D-1,V-1,2025-07-01T21:00,,,cawn,
D-2,,2025-08-01T20:00,53.7400,-2.4850,patrol,-2 hours
"""
INCIDENTS = """incident_id,category,occurred_at,lat,lng
I-1,violent-crime,2025-02-03T21:00,53.7455,-2.4815
I-2,drugs,2025-02,53.7465,-2.4805
"""


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> Store:
    """A store holding a few rows of every table, ingested from files."""
    for kind, text in (
        ("venues", VENUES),
        ("venue-reports", REPORTS),
        ("disruptions", DISRUPTIONS),
        ("episodes", EPISODES),
        ("incidents", INCIDENTS),
    ):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text)
        report = ingest_file(store, kind, path, key=KEY, quarantine_dir=tmp_path / "q", now=NOW)
        assert report.rows_quarantined == 0, report.reasons
    return store


def _ms(values: pd.Series) -> pd.Series:
    """Store times as a GeoPackage holds them: UTC, to the millisecond."""
    return values.dt.floor("ms").astype("datetime64[ms, UTC]")


def _read(path: Path, layer: str | None = None) -> pd.DataFrame:
    """A layer with 64-bit integer columns as nullable Int64 (a null stays a null)."""
    frame = pyogrio.read_dataframe(
        path, layer=layer, use_arrow=True, arrow_to_pandas_kwargs=NULLABLE_INT
    )
    return frame.reset_index(drop=True)


def _check_columns(table: schemas.Table, got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Every exported column of ``got`` equals the store's ``want``, in the store's type."""
    assert len(got) == len(want)
    for col in table.columns:
        name = col.name
        if name == "content_hash":
            assert name not in got.columns
            continue
        if col.kind == "timestamp":
            assert str(got[name].dtype) == "datetime64[ms, UTC]", name
            pd.testing.assert_series_equal(got[name], _ms(want[name]), check_names=False)
        elif col.kind == "h3":
            assert got[name].dtype == "Int64", name
            assert got[name].tolist() == want[name].tolist(), name
            hexes = _values(got[name + "_hex"])
            assert hexes == [None if pd.isna(c) else h3.int_to_str(int(c)) for c in want[name]]
        elif col.kind == "float":
            np.testing.assert_array_equal(got[name].to_numpy(float), want[name].to_numpy(float))
        else:  # text, bool, int: the same values, a null as a null
            assert _values(got[name]) == _values(want[name]), name
    pd.testing.assert_series_equal(got["ingested_at"], _ms(want["ingested_at"]), check_names=False)


def _values(column: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in column.tolist()]


def _xy(frame: pd.DataFrame) -> np.ndarray:
    return shapely.get_coordinates(frame.geometry.to_numpy())


def test_gpkg_keeps_the_stores_types_and_values(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "export.gpkg"
    written = export(filled, "gpkg", out)
    names = dict(pyogrio.list_layers(out).tolist())
    assert names == {
        "episodes": "Point",
        "episodes_found": "Point",
        "venues": "Point",
        "venue_reports": None,
        "disruptions": "Point",
        "incidents": "Point",
    }
    for table in schemas.TABLES.values():
        want = filled.read(table)
        got = _read(out, table.name)
        _check_columns(table, got, want)
        assert written[table.name] == len(want)
    # The field types GDAL sees: DateTime and 64-bit Integer, as QGIS will.
    info = pyogrio.read_info(out, layer="episodes")
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert types["last_seen_at"] == types["found_at"] == types["ingested_at"] == "OFTDateTime"
    assert types["last_seen_h3"] == types["found_h3"] == "OFTInteger64"
    # Without nulls an H3 column reads as plain int64 and times as datetime64.
    plain = pyogrio.read_dataframe(out, layer="incidents")
    assert plain["h3"].dtype == np.int64
    assert str(plain["occurred_at"].dtype) == "datetime64[ms, UTC]"


def test_gpkg_has_a_layer_for_each_point_of_an_episode(filled: Store, tmp_path: Path) -> None:
    out = tmp_path / "export.gpkg"
    written = export(filled, "gpkg", out, tables=["episodes"])
    stored = filled.read(schemas.EPISODES)
    last_seen = _read(out, "episodes")
    np.testing.assert_array_equal(
        _xy(last_seen), stored[["last_seen_lng", "last_seen_lat"]].to_numpy()
    )
    # EP-3 and EP-5 were not found (no found point in the file): three rows.
    found = _read(out, "episodes_found")
    assert found["episode_id"].tolist() == ["EP-1", "EP-2", "EP-4"]
    assert written == {"episodes": 5, "episodes_found": 3}
    has_found = stored[stored["found_lat"].notna()].reset_index(drop=True)
    _check_columns(schemas.EPISODES, found, has_found)
    np.testing.assert_array_equal(_xy(found), has_found[["found_lng", "found_lat"]].to_numpy())
    # Each layer carries the other point's columns as well.
    np.testing.assert_array_equal(found["last_seen_lat"], has_found["last_seen_lat"])
    assert pyogrio.read_dataframe(out, layer="episodes_found")["found_h3"].dtype == np.int64


def test_gpkg_layers_say_which_point_is_the_geometry(filled: Store, tmp_path: Path) -> None:
    import sqlite3

    out = tmp_path / "export.gpkg"
    export(filled, "gpkg", out, tables=["episodes"])
    with sqlite3.connect(out) as conn:
        rows = dict(conn.execute("SELECT table_name, description FROM gpkg_contents"))
    assert "last-seen point" in rows["episodes"]
    assert "found point" in rows["episodes_found"]


@pytest.mark.parametrize(
    ("point", "ids", "prefix"),
    [
        ("last_seen", ["EP-1", "EP-2", "EP-3", "EP-4", "EP-5"], "last_seen_"),
        ("found", ["EP-1", "EP-2", "EP-4"], "found_"),
    ],
)
def test_geojson_takes_the_chosen_point(
    filled: Store, tmp_path: Path, point: str, ids: list[str], prefix: str
) -> None:
    out = tmp_path / "episodes.geojson"
    written = export(filled, "geojson", out, tables=["episodes"], point=point)
    assert written == {"episodes": len(ids)}
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert "crs" not in doc  # RFC 7946
    stored = filled.read(schemas.EPISODES).set_index("episode_id").loc[ids]
    props = [f["properties"] for f in doc["features"]]
    assert [p["episode_id"] for p in props] == ids
    coords = np.array([f["geometry"]["coordinates"] for f in doc["features"]])
    np.testing.assert_allclose(
        coords, stored[[f"{prefix}lng", f"{prefix}lat"]].to_numpy(), rtol=0, atol=1e-7
    )
    # H3 cells are hex strings that give back the stored 64-bit integers exactly.
    for name in ("last_seen_h3", "found_h3"):
        for p, cell in zip(props, stored[name], strict=True):
            assert p[name] == (None if pd.isna(cell) else h3.int_to_str(int(cell)))
            if p[name] is not None:
                assert h3.str_to_int(p[name]) == int(cell)
    # Times are ISO 8601 UTC text.
    want = stored["last_seen_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    assert [p["last_seen_at"] for p in props] == want
    assert props[0]["last_seen_at"] == "2025-03-01T21:30:00Z"  # 21:30 GMT in March


def test_csv_times_in_utc_with_z_hex_cells_and_neutralised_formulas(
    filled: Store, tmp_path: Path
) -> None:
    out = tmp_path / "venues.csv"
    assert export(filled, "csv", out, tables=["venues"]) == {"venues": 2}
    rows = pd.read_csv(out, dtype=str, keep_default_na=False)
    stored = filled.read(schemas.VENUES)
    assert rows["name"].tolist() == ["'" + FORMULA, "Hotel 1"]
    assert rows["h3"].tolist() == [h3.int_to_str(int(c)) for c in stored["h3"]]
    assert "content_hash" not in rows.columns
    disruptions = tmp_path / "d.csv"
    export(filled, "csv", disruptions, tables=["disruptions"])
    d = pd.read_csv(disruptions, dtype=str, keep_default_na=False)
    # 21:00 and 20:00 BST are 20:00 and 19:00 UTC.
    assert d["disrupted_at"].tolist() == ["2025-07-01T20:00:00Z", "2025-08-01T19:00:00Z"]
    assert d["note"].tolist() == ["", "'-2 hours"]


def test_an_empty_table_still_gives_a_layer_and_a_header(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "empty.gpkg"
    assert export(store, "gpkg", out, tables=["episodes"]) == {"episodes": 0, "episodes_found": 0}
    assert {name for name, _ in pyogrio.list_layers(out)} == {"episodes", "episodes_found"}
    info = pyogrio.read_info(out, layer="episodes_found")
    types = dict(zip(info["fields"], info["ogr_types"], strict=True))
    assert types["found_at"] == "OFTDateTime" and types["found_h3"] == "OFTInteger64"
    csv = tmp_path / "empty.csv"
    export(store, "csv", csv, tables=["episodes"])
    header = csv.read_text().splitlines()
    assert header[0].split(",")[:2] == ["episode_id", "child_ref"]
    assert "content_hash" not in header[0] and len(header) == 1


@pytest.mark.parametrize(
    ("fmt", "tables", "point", "match"),
    [
        ("geojson", ["episodes"], "nearest", "`point` must be one of last_seen, found"),
        ("geojson", ["venues"], "found", "table `venues` has one point"),
        ("geojson", ["venue_reports"], "last_seen", "`venue_reports` has no points"),
        ("gpkg", None, "found", "a gpkg export holds every point"),
        ("csv", ["episodes"], "found", "a csv export holds every point"),
        ("shp", None, "last_seen", "`format` must be one of gpkg, geojson, csv"),
    ],
)
def test_bad_arguments_write_nothing(
    filled: Store,
    tmp_path: Path,
    fmt: str,
    tables: list[str] | None,
    point: str,
    match: str,
) -> None:
    out = tmp_path / f"out.{fmt}"
    out.write_text("an earlier export")
    with pytest.raises(ValidationError, match=match):
        export(filled, fmt, out, tables=tables, point=point)
    assert out.read_text() == "an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == [out.name]


def test_a_geojson_export_of_more_than_one_chunk_holds_every_row(tmp_path: Path) -> None:
    """120,000 incidents (more than one 100,000-row read) export whole: every row is a
    feature of one valid FeatureCollection, none cut off."""
    import json

    import numpy as np
    import pandas as pd

    from geo.ingest import ingest_file
    from geo.store import open_store

    n = 120_000
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "incident_id": [f"I{i:06d}" for i in range(n)],
            "category": "Other crime",
            "occurred_at": "2025-03-01",
            "lat": 53.745 + rng.uniform(-0.01, 0.01, n),
            "lng": -2.48 + rng.uniform(-0.01, 0.01, n),
        }
    )
    path = tmp_path / "incidents.csv"
    frame.to_csv(path, index=False)
    store = open_store(tmp_path / "big.gpkg")
    store.init()
    try:
        report = ingest_file(store, "incidents", path, quarantine_dir=tmp_path / "q")
        assert report.rows_stored == n
        out = tmp_path / "incidents.geojson"
        written = export(store, "geojson", out, tables=["incidents"])
    finally:
        store.close()
    assert written == {"incidents": n}
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == n
    ids = {f["properties"]["incident_id"] for f in doc["features"]}
    assert ids == set(frame["incident_id"])
