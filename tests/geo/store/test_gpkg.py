"""GeoPackage-only properties: a real GeoPackage that GDAL (and so QGIS) reads.

Checked with GDAL through pyogrio, and with plain ``sqlite3`` for the file's
header, core tables and R-tree. Concurrency runs two stores on one file.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import geo.store.gpkg as gpkg
from geo.areas import assign_areas
from geo.errors import StoreError
from geo.h3index import latlng_to_cells
from geo.schemas import AREA_KINDS, DISRUPTIONS, EPISODES, TABLES, VENUE_REPORTS, Table
from geo.store import UpsertResult, open_store
from geo.store.frames import conform
from geo.store.gpkg import (
    GPKG_APPLICATION_ID,
    GPKG_USER_VERSION,
    SCHEMA_VERSION,
    GpkgStore,
    point_blobs,
)

BASE = pd.Timestamp("2024-01-01T00:00:00Z")


def _point(prefix: str, lat: np.ndarray, lng: np.ndarray) -> dict[str, object]:
    ok = np.isfinite(lat) & np.isfinite(lng)
    h3 = pd.array([pd.NA] * lat.size, dtype="Int64")
    h3[ok] = latlng_to_cells(lat[ok], lng[ok])
    areas = assign_areas(lat, lng)
    return {
        f"{prefix}lat": lat,
        f"{prefix}lng": lng,
        f"{prefix}h3": h3,
        **{f"{prefix}{k}": areas[k].to_numpy(dtype=object) for k in AREA_KINDS},
    }


def _times(rng: np.random.Generator, n: int) -> pd.Series:
    ms = rng.integers(0, 120 * 86_400_000, n)
    return pd.Series(BASE + pd.to_timedelta(ms, unit="ms")).astype("datetime64[ns, UTC]")


def make_episodes(n: int = 40, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lat, lng = rng.uniform(53.70, 53.76, n), rng.uniform(-2.53, -2.45, n)
    found = rng.random(n) < 0.6
    flat = np.where(found, rng.uniform(53.70, 53.76, n), np.nan)
    flng = np.where(found, rng.uniform(-2.53, -2.45, n), np.nan)
    seen = _times(rng, n)
    found_at = (seen + pd.Timedelta(hours=5)).where(found)
    frame = pd.DataFrame(
        {
            "episode_id": np.array([f"EP-{i:04d}" for i in range(n)], dtype=object),
            "child_ref": np.array([f"c{i % 9:03d}" for i in range(n)], dtype=object),
            "reported_at": seen + pd.Timedelta(hours=1),
            "last_seen_at": seen,
            **_point("last_seen_", lat, lng),
            "last_seen_place_type": "public",
            "found_at": found_at,
            **_point("found_", flat, flng),
            "found_place_type": np.where(found, "school", None),
            "in_care": pd.array(rng.random(n) < 0.3, dtype="boolean"),
            "risk_level": "medium",
            "source": "gpkg-test",
            "content_hash": rng.integers(-(2**62), 2**62, n, dtype=np.int64),
        }
    )
    return conform(EPISODES, frame)


def make_reports(n: int = 9) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "report_id": [f"R-{i:02d}" for i in range(n)],
            "venue_id": [f"V-{i % 4:02d}" for i in range(n)],
            "reported_at": _times(rng, n),
            "source_evaluation": "2",
            "intelligence_assessment": "B",
            "handling_code": "P",
            "source": "gpkg-test",
            "content_hash": rng.integers(0, 2**62, n, dtype=np.int64),
        }
    )
    return conform(VENUE_REPORTS, frame)


def make_disruptions(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    lat, lng = rng.uniform(53.70, 53.76, n), rng.uniform(-2.53, -2.45, n)
    lat[::3], lng[::3] = np.nan, np.nan
    frame = pd.DataFrame(
        {
            "disruption_id": [f"D-{i:02d}" for i in range(n)],
            "venue_id": None,
            "disrupted_at": _times(rng, n),
            **_point("", lat, lng),
            "tactic": "patrol",
            "note": None,
            "public": pd.array([True] * n, dtype="boolean"),
            "source": "gpkg-test",
            "content_hash": rng.integers(0, 2**62, n, dtype=np.int64),
        }
    )
    return conform(DISRUPTIONS, frame)


def write(store: GpkgStore, *pairs: tuple[Table, pd.DataFrame]) -> dict[str, UpsertResult]:
    with store.writer() as w:
        for table, frame in pairs:
            w.stage(table, frame)
        return w.finish()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "engage.gpkg"


@pytest.fixture
def store(path: Path):
    s = GpkgStore(path)
    s.init()
    yield s
    s.close()


def _sql(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


# ---------------------------------------------------------------- GeoPackage file


def test_header_and_core_tables(store: GpkgStore, path: Path) -> None:
    assert open_store(str(path)).url == str(path)
    assert _sql(path, "PRAGMA application_id")[0][0] == GPKG_APPLICATION_ID == 0x47504B47
    assert _sql(path, "PRAGMA user_version")[0][0] == GPKG_USER_VERSION == 10400
    assert path.read_bytes()[68:72] == b"GPKG"
    srs = {r[0] for r in _sql(path, "SELECT srs_id FROM gpkg_spatial_ref_sys")}
    assert {-1, 0, 4326} <= srs
    contents = dict(_sql(path, "SELECT table_name, data_type FROM gpkg_contents"))
    for name, table in TABLES.items():
        assert contents[name] == ("features" if table.points else "attributes")
    assert contents["runs"] == "attributes"
    geoms = _sql(
        path,
        "SELECT table_name, column_name, geometry_type_name, srs_id FROM gpkg_geometry_columns",
    )
    assert sorted(geoms) == sorted(
        [(n, "geom", "POINT", 4326) for n, t in TABLES.items() if t.points]
        + [("engage_features", "geom", "GEOMETRY", 4326)]
    )
    rtrees = _sql(
        path,
        "SELECT table_name, column_name FROM gpkg_extensions "
        "WHERE extension_name = 'gpkg_rtree_index'",
    )
    assert sorted(rtrees) == sorted(
        [(n, "geom") for n, t in TABLES.items() if t.points] + [("engage_features", "geom")]
    )
    version = _sql(path, "SELECT value FROM engage_meta WHERE key = 'schema_version'")
    assert int(version[0][0]) == SCHEMA_VERSION
    indexes = {
        r[0]
        for r in _sql(
            path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'episodes'"
        )
    }
    for col in ("last_seen_at", "last_seen_h3", "found_h3", "last_seen_ward", "found_ward"):
        assert f"episodes_{col}_idx" in indexes
    assert "episodes_episode_id_key" in indexes and "episodes_last_seen_latlng_idx" in indexes


def test_gdal_lists_layers_with_geometry(store: GpkgStore, path: Path) -> None:
    write(store, (EPISODES, make_episodes()), (VENUE_REPORTS, make_reports()))
    layers = dict(pyogrio.list_layers(path))
    for name, table in TABLES.items():
        assert name in layers
        assert layers[name] == ("Point" if table.points else None)
    assert layers["runs"] is None


def test_gdal_reads_points_and_attributes(store: GpkgStore, path: Path) -> None:
    episodes = make_episodes()
    reports = make_reports()
    write(store, (EPISODES, episodes), (VENUE_REPORTS, make_reports()))
    gdf = pyogrio.read_dataframe(path, layer="episodes")
    assert len(gdf) == len(episodes)
    assert gdf.crs.to_epsg() == 4326
    stored = store.read(EPISODES).set_index("episode_id")
    gdf = gdf.set_index("episode_id").loc[stored.index]
    np.testing.assert_allclose(gdf.geometry.x, stored["last_seen_lng"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(gdf.geometry.y, stored["last_seen_lat"], rtol=0, atol=1e-9)
    assert (gdf["child_ref"] == stored["child_ref"]).all()
    assert (gdf["last_seen_h3"].astype("int64") == stored["last_seen_h3"].astype("int64")).all()
    gdal_times = pd.to_datetime(gdf["last_seen_at"], utc=True)
    assert (gdal_times == stored["last_seen_at"]).all()
    attrs = pyogrio.read_dataframe(path, layer="venue_reports", read_geometry=False)
    assert sorted(attrs["report_id"]) == sorted(reports["report_id"])
    assert len(attrs) == len(reports)


def test_null_main_point_is_null_geometry(store: GpkgStore, path: Path) -> None:
    d = make_disruptions()
    write(store, (DISRUPTIONS, d))
    rows = dict(_sql(path, "SELECT disruption_id, geom FROM disruptions"))
    missing = set(d.loc[d["lat"].isna(), "disruption_id"])
    assert missing and {k for k, g in rows.items() if g is None} == missing
    for key, blob in rows.items():
        if blob is None:
            continue
        assert blob[:4] == b"GP\x00\x01"
        assert struct.unpack("<i", blob[4:8])[0] == 4326
        geom = shapely.from_wkb(blob[8:])
        row = d.loc[d["disruption_id"] == key].iloc[0]
        assert (geom.x, geom.y) == (row["lng"], row["lat"])
    gdf = pyogrio.read_dataframe(path, layer="disruptions")
    assert gdf.geometry.isna().sum() == len(missing)
    rtree = _sql(path, "SELECT count(*) FROM rtree_disruptions_geom")[0][0]
    assert rtree == len(d) - len(missing)


def test_point_blobs_none_for_missing() -> None:
    blobs = point_blobs(np.array([53.7, np.nan, 53.71]), np.array([-2.5, -2.49, np.nan]))
    assert blobs[1] is None and blobs[2] is None
    assert shapely.from_wkb(blobs[0][8:]).equals(shapely.Point(-2.5, 53.7))


def test_point_blobs_are_the_header_and_shapelys_wkb_byte_for_byte() -> None:
    rng = np.random.default_rng(8)
    lat = np.concatenate([rng.uniform(-90, 90, 500), [0.0, -0.0, 53.7, 1e-300]])
    lng = np.concatenate([rng.uniform(-180, 180, 500), [-0.0, 0.0, -2.5, -1e-300]])
    blobs = point_blobs(lat, lng)
    wkb = shapely.to_wkb(shapely.points(lng, lat), byte_order=1, output_dimension=2)
    header = b"GP\x00\x01" + (4326).to_bytes(4, "little")
    assert list(blobs) == [header + w for w in wkb]


@pytest.mark.parametrize("first_load", [False, True], ids=["staged", "first-load"])
def test_rtree_serves_gdal_bbox_and_follows_updates(
    store: GpkgStore, path: Path, monkeypatch: pytest.MonkeyPatch, first_load: bool
) -> None:
    # A first load packs the R-tree itself (two leaves and a root here); GDAL must
    # read it as it reads the one SQLite's module builds, and the triggers keep it.
    monkeypatch.setattr(gpkg, "FIRST_LOAD_MIN_ROWS", 10 if first_load else 10**9)
    episodes = make_episodes(n=80)
    write(store, (EPISODES, episodes))
    assert _sql(path, "SELECT rtreecheck('rtree_episodes_geom')")[0][0] == "ok"
    lat, lng = episodes["last_seen_lat"], episodes["last_seen_lng"]
    box = (-2.51, 53.715, -2.47, 53.745)
    inside = (lng >= box[0]) & (lng <= box[2]) & (lat >= box[1]) & (lat <= box[3])
    got = pyogrio.read_dataframe(path, layer="episodes", bbox=box, read_geometry=False)
    assert sorted(got["episode_id"]) == sorted(episodes.loc[inside, "episode_id"])
    assert _sql(path, "SELECT count(*) FROM rtree_episodes_geom")[0][0] == len(episodes)

    # Move one point far outside the box: the R-tree entry must move with it.
    key = episodes.loc[inside, "episode_id"].iloc[0]
    moved = episodes.loc[episodes["episode_id"] == key].copy()
    moved["last_seen_lat"], moved["last_seen_lng"] = 53.701, -2.529
    moved["content_hash"] = moved["content_hash"] + 1
    fid = _sql(path, "SELECT fid FROM episodes WHERE episode_id = ?", (key,))[0][0]
    assert write(store, (EPISODES, moved))["episodes"].updated == 1
    assert _sql(path, "SELECT fid FROM episodes WHERE episode_id = ?", (key,))[0][0] == fid
    minx, maxx, miny, maxy = _sql(
        path, "SELECT minx, maxx, miny, maxy FROM rtree_episodes_geom WHERE id = ?", (fid,)
    )[0]
    assert minx <= -2.529 <= maxx and miny <= 53.701 <= maxy
    got = pyogrio.read_dataframe(path, layer="episodes", bbox=box, read_geometry=False)
    assert key not in set(got["episode_id"])
    assert len(got) == inside.sum() - 1


def test_reingest_keeps_fids_and_ingested_at(store: GpkgStore, path: Path) -> None:
    episodes = make_episodes()
    write(store, (EPISODES, episodes))
    before = _sql(path, "SELECT fid, episode_id, ingested_at FROM episodes ORDER BY fid")
    time.sleep(0.01)
    assert write(store, (EPISODES, episodes))["episodes"].unchanged == len(episodes)
    assert _sql(path, "SELECT fid, episode_id, ingested_at FROM episodes ORDER BY fid") == before
    stamps = [r[2] for r in before]
    assert all(len(s) == 24 and s.endswith("Z") and s[10] == "T" for s in stamps)


# ------------------------------------------------------------------ refusing files


def test_text_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "notes.gpkg"
    fake.write_text("these are not the tables you are looking for\n" * 20)
    with pytest.raises(StoreError, match="not a GeoPackage"):
        GpkgStore(fake).init()
    with pytest.raises(StoreError, match="not a GeoPackage"):
        GpkgStore(fake).count(EPISODES)
    assert fake.read_text().startswith("these are not")


def test_plain_sqlite_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.gpkg"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="application_id"):
        GpkgStore(db).init()


def test_missing_file_is_not_created_by_reads(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gpkg"
    with pytest.raises(StoreError, match="init"):
        GpkgStore(missing).count(EPISODES)
    assert not missing.exists()


def test_newer_schema_is_refused(store: GpkgStore, path: Path) -> None:
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE engage_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
    for action in (lambda s: s.init(), lambda s: s.count(EPISODES), lambda s: s.read(EPISODES)):
        with pytest.raises(StoreError, match="newer"):
            action(GpkgStore(path))


def test_init_adds_tables_to_a_qgis_geopackage(tmp_path: Path) -> None:
    other = tmp_path / "qgis.gpkg"
    layer = gpd.GeoDataFrame(
        {"name": ["a", "b"]}, geometry=[shapely.Point(-2.5, 53.7)] * 2, crs=4326
    )
    pyogrio.write_dataframe(layer, other, layer="patrol_routes")
    s = GpkgStore(other)
    s.init()
    write(s, (EPISODES, make_episodes(n=5)))
    s.close()
    layers = dict(pyogrio.list_layers(other))
    assert "patrol_routes" in layers and "episodes" in layers
    assert len(pyogrio.read_dataframe(other, layer="patrol_routes")) == 2
    assert len(pyogrio.read_dataframe(other, layer="episodes")) == 5


# ---------------------------------------------------------------------- writing


def test_error_during_finish_rolls_back_every_table(store: GpkgStore, path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON venue_reports WHEN NEW.report_id = 'R-03' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
    with pytest.raises(StoreError, match="venue_reports"), store.writer() as w:
        w.stage(EPISODES, make_episodes())
        w.stage(VENUE_REPORTS, make_reports())
        w.finish()
    assert store.count(EPISODES) == 0
    assert store.count(VENUE_REPORTS) == 0
    assert _sql(path, "SELECT count(*) FROM rtree_episodes_geom")[0][0] == 0


def test_concurrent_writers_make_no_duplicates(store: GpkgStore, path: Path) -> None:
    episodes = make_episodes(n=300)
    results: list[UpsertResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def ingest() -> None:
        s = GpkgStore(path)
        try:
            with s.writer() as w:
                w.stage(EPISODES, episodes)
                barrier.wait(timeout=30)
                results.append(w.finish()["episodes"])
                time.sleep(0.2)  # hold the lock a little: the other must wait
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(r.inserted for r in results) == [0, len(episodes)]
    assert sorted(r.unchanged for r in results) == [0, len(episodes)]
    assert store.count(EPISODES) == len(episodes)
    dupes = _sql(
        path,
        "SELECT count(*) FROM (SELECT episode_id FROM episodes GROUP BY 1 HAVING count(*) > 1)",
    )
    assert dupes[0][0] == 0
    assert _sql(path, "SELECT count(*) FROM rtree_episodes_geom")[0][0] == len(episodes)


def test_staging_and_reading_do_not_wait_for_a_writer(store: GpkgStore, path: Path) -> None:
    episodes = make_episodes(n=50)
    write(store, (EPISODES, episodes.iloc[:10]))
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        s = GpkgStore(path)
        with s.writer() as w:
            w.stage(EPISODES, episodes.iloc[10:20])
            w.finish()
            locked.set()
            release.wait(timeout=30)
        s.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(timeout=30)
    other = GpkgStore(path)
    try:
        t0 = time.monotonic()
        assert other.count(EPISODES) == 10  # the uncommitted rows are invisible
        with other.writer() as w:
            w.stage(EPISODES, episodes)  # TEMP staging: no lock on the file
            staged_in = time.monotonic() - t0
            threading.Timer(0.3, release.set).start()
            result = w.finish()["episodes"]  # waits for the holder to commit
            waited = time.monotonic() - t0
        assert staged_in < 0.3 <= waited
        assert result == UpsertResult(inserted=30, updated=0, unchanged=20)
    finally:
        release.set()
        holder.join(timeout=30)
        other.close()
    assert store.count(EPISODES) == 50
