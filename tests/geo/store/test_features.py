"""Reference features, settings and area updates: the same contract in both stores.

Expected results are worked out here from the frames written (shapely bounds,
pandas), never hard-coded.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import ValidationError
from geo.schemas import INCIDENTS
from geo.store import Store
from tests.geo.store.test_contract import make_incidents, write


def _features(seed: int, n: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.55, -2.40, n)
    y = rng.uniform(53.68, 53.78, n)
    size = rng.uniform(0.001, 0.01, n)
    geoms = [
        shapely.box(a, b, a + s, b + s) if i % 3 else shapely.LineString([(a, b), (a + s, b)])
        for i, (a, b, s) in enumerate(zip(x, y, size, strict=True))
    ]
    return gpd.GeoDataFrame(
        {
            "code": [f"C{i:03d}" for i in range(n)],
            "name": [f"Place {i}" if i % 4 else None for i in range(n)],
            "type": ["street"] * n,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def test_put_read_replace_and_merge(store: Store) -> None:
    f = _features(1, 30)
    with store.writer() as w:
        assert w.put_features("area", "ward", f) == 30
        w.put_features("layer", "roads", f.iloc[:5])
    got = store.features("area", "ward")
    assert got["code"].tolist() == sorted(f["code"])
    assert got.crs.to_epsg() == 4326
    by_code = got.set_index("code")
    for _, row in f.iterrows():
        assert by_code.loc[row["code"], "geometry"].equals_exact(row["geometry"], 1e-12)
        want = None if pd.isna(row["name"]) else row["name"]
        assert by_code.loc[row["code"], "name"] == want
    kinds = store.feature_kinds().set_index(["family", "kind"])["n"].to_dict()
    assert kinds == {("area", "ward"): 30, ("layer", "roads"): 5}

    # Merge: changed names replace, new codes add, others stay.
    more = f.iloc[:3].copy()
    more["name"] = "Renamed"
    extra = _features(2, 2)
    extra["code"] = ["Z1", "Z2"]
    with store.writer() as w:
        w.put_features("area", "ward", pd.concat([more, extra]), replace=False)
    got = store.features("area", "ward").set_index("code")
    assert len(got) == 32
    assert (got.loc[more["code"], "name"] == "Renamed").all()
    # Replace: only the new rows remain, and the other kinds are untouched.
    with store.writer() as w:
        w.put_features("area", "ward", extra)
    assert store.features("area", "ward")["code"].tolist() == ["Z1", "Z2"]
    assert len(store.features("layer", "roads")) == 5
    assert len(store.features("area")) == 2


def test_bbox_read_matches_shapely(store: Store) -> None:
    f = _features(3, 200)
    with store.writer() as w:
        w.put_features("gazetteer", "file", f)
    box = (-2.50, 53.70, -2.46, 53.74)
    got = store.features("gazetteer", bbox=box)
    b = shapely.bounds(f.geometry.to_numpy())
    meets = (b[:, 2] >= box[0]) & (b[:, 0] <= box[2]) & (b[:, 3] >= box[1]) & (b[:, 1] <= box[3])
    assert 0 < meets.sum() < len(f)
    assert got["code"].tolist() == sorted(f.loc[meets, "code"])


def test_failed_write_stores_nothing(store: Store) -> None:
    f = _features(4, 10)
    with store.writer() as w:
        w.put_features("area", "beat", f)
        w.set_meta("study_area", "E06000008")
    with pytest.raises(RuntimeError), store.writer() as w:
        w.put_features("area", "beat", f.iloc[:2])
        w.set_meta("study_area", "E07000117")
        raise RuntimeError("stop")
    assert len(store.features("area", "beat")) == 10
    assert store.meta("study_area") == "E06000008"


def test_bad_features_are_refused_before_anything_is_written(store: Store) -> None:
    f = _features(5, 4)
    dup = f.copy()
    dup.loc[1, "code"] = dup.loc[0, "code"]
    with store.writer() as w:
        with pytest.raises(ValidationError, match="unique"):
            w.put_features("area", "ward", dup)
        with pytest.raises(ValidationError, match="kind"):
            w.put_features("area", "parish", f)
        with pytest.raises(ValidationError, match="family"):
            w.put_features("roads", "roads", f)
        with pytest.raises(ValidationError, match="setting"):
            w.set_meta("colour", "red")
    assert store.feature_kinds().empty
    assert store.meta("study_area") is None


def test_features_in_another_crs_are_stored_in_wgs84(store: Store) -> None:
    f = _features(6, 5)
    with store.writer() as w:
        w.put_features("area", "lsoa", f.to_crs("EPSG:27700"))
    got = store.features("area", "lsoa").set_index("code")
    for _, row in f.iterrows():
        assert got.loc[row["code"], "geometry"].equals_exact(row["geometry"], 1e-7)


def test_set_areas_updates_only_given_rows(store: Store) -> None:
    inc = make_incidents()
    write(store, (INCIDENTS, inc))
    keys = inc["incident_id"].iloc[:10].tolist()
    codes = [f"N{i % 3}" if i != 4 else None for i in range(10)]
    with store.writer() as w:
        w.set_areas(INCIDENTS, "neighbourhood", keys, codes)
        with pytest.raises(ValidationError, match="area column"):
            w.set_areas(INCIDENTS, "lat", keys, codes)
    got = store.read(INCIDENTS).set_index("incident_id")
    assert got.loc[keys, "neighbourhood"].tolist() == codes
    assert got.drop(index=keys)["neighbourhood"].isna().all()
    # Everything else is as written.
    same = got.loc[keys, ["lat", "lng", "ward", "content_hash"]]
    want = inc.set_index("incident_id").loc[keys, ["lat", "lng", "ward", "content_hash"]]
    pd.testing.assert_frame_equal(same, want, check_dtype=False)


def test_geopackage_rtree_follows_every_write(tmp_path) -> None:
    """The R-tree QGIS reads holds each stored feature's box, after replace and merge."""
    import sqlite3

    from geo.store.gpkg import GpkgStore

    store = GpkgStore(tmp_path / "r.gpkg")
    store.init()
    f = _features(7, 40)
    with store.writer() as w:
        w.put_features("layer", "roads", f)
        w.put_features("area", "ward", f.iloc[:10])
    with store.writer() as w:
        w.put_features("layer", "roads", f.iloc[5:25])  # replace: 20 left
        moved = f.iloc[:3].copy()
        moved["geometry"] = moved.geometry.translate(0.05, 0.02)
        w.put_features("area", "ward", moved, replace=False)  # merge: 3 moved
    store.close()
    with sqlite3.connect(tmp_path / "r.gpkg") as conn:
        rows = conn.execute(
            "SELECT f.fid, f.min_lng, f.max_lng, f.min_lat, f.max_lat, r.minx, r.maxx, r.miny, "
            'r.maxy FROM engage_features f LEFT JOIN "rtree_engage_features_geom" r ON r.id = f.fid'
        ).fetchall()
        n_rtree = conn.execute('SELECT count(*) FROM "rtree_engage_features_geom"').fetchone()[0]
    assert len(rows) == 30 == n_rtree
    got = np.array([r[1:] for r in rows], dtype=float)
    # The R-tree keeps 32-bit floats, rounded outwards.
    assert np.allclose(got[:, :4], got[:, 4:], atol=1e-5)
    assert (got[:, 4] <= got[:, 0]).all() and (got[:, 5] >= got[:, 1]).all()


def test_an_earlier_geopackage_store_is_refused_until_init_upgrades_it(tmp_path) -> None:
    """A schema-1 store (no features layer, no neighbourhood columns) is upgraded by init."""
    import sqlite3

    from geo.errors import StoreError
    from geo.store.gpkg import GpkgStore

    path = tmp_path / "old.gpkg"
    store = GpkgStore(path)
    store.init()
    write(store, (INCIDENTS, make_incidents()))
    store.close()
    # Put the file back to the layout of schema 1.
    with sqlite3.connect(path) as conn:
        for sql in (
            "DROP TABLE engage_features",
            'DROP TABLE "rtree_engage_features_geom"',
            "DELETE FROM gpkg_geometry_columns WHERE table_name = 'engage_features'",
            "DELETE FROM gpkg_extensions WHERE table_name = 'engage_features'",
            "DELETE FROM gpkg_contents WHERE table_name = 'engage_features'",
            "ALTER TABLE incidents DROP COLUMN neighbourhood",
            "ALTER TABLE incidents DROP COLUMN beat",
            "UPDATE engage_meta SET value = '1' WHERE key = 'schema_version'",
        ):
            conn.execute(sql)
    old = GpkgStore(path)
    with pytest.raises(StoreError, match=r"earlier Engage Hotspots.*engage init"):
        old.read(INCIDENTS)
    old.close()
    upgraded = GpkgStore(path)
    upgraded.init()
    got = upgraded.read(INCIDENTS)
    assert len(got) == len(make_incidents()) and got["neighbourhood"].isna().all()
    assert upgraded.feature_kinds().empty
    upgraded.close()


def test_an_earlier_postgis_store_is_refused_with_the_upgrade_step(pg_store_url: str) -> None:
    import psycopg

    from geo.errors import StoreError
    from geo.store.postgis import PostgisStore

    store = PostgisStore(pg_store_url)
    store.init()
    schema = store.schema
    store.close()
    with psycopg.connect(pg_store_url.split("?")[0]) as conn:
        conn.execute(f'DELETE FROM "{schema}".schema_migrations WHERE version = 2')
    old = PostgisStore(pg_store_url)
    try:
        with pytest.raises(StoreError, match=r"earlier Engage Hotspots.*engage init"):
            old.count(INCIDENTS)
    finally:
        old.close()


def test_awkward_text_survives_both_stores(store: Store) -> None:
    """Commas, quotes, a backslash, a newline, non-Latin letters and an empty name."""
    f = _features(8, 5)
    f["name"] = ['Smith\'s "Yard", Lane', "back\\slash", "two\nlines", "Ffordd Caerdydd ŵŷ", None]
    f["code"] = ["a,1", '"q"', "tab\tcode", "ü", "plain"]
    with store.writer() as w:
        w.put_features("gazetteer", "file", f)
    got = store.features("gazetteer", "file").set_index("code")
    for code, name in zip(f["code"], f["name"], strict=True):
        assert got.loc[code, "name"] == (None if pd.isna(name) else name)
