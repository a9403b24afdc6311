"""PostGIS ``ST_ClusterDBSCAN`` (geo.store.db_dbscan) against models.dbscan, on a real server.

About 2,000 synthetic incidents in Blackburn with Darwen are stored, then
clustered by PostGIS and by :func:`models.dbscan.dbscan` on the BNG
coordinates :func:`geo.crs.latlng_to_bng` gives for the stored lat/lng.

Exact eps ties: PostGIS's ``ST_Transform`` and pyproj may differ at the
millimetre level, so a pair of points almost exactly ``eps_m`` apart could be
neighbours in one back end and not the other. The points are therefore built
on a 10 m BNG lattice (many share a node, as police data does) and ``eps_m``
= 25 m lies between the lattice distances 22.4 m and 28.3 m; the test checks
that no pair of the round-tripped points is within 1 m of ``eps_m`` before
comparing, so core points, the partition of core points and noise must match
exactly. Border points reachable from two clusters may differ (PostGIS: first
cluster to reach it; models.dbscan: nearest core point); those differences
are counted and each is checked to be such a border point.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from geo.areas import assign_areas
from geo.crs import bng_to_latlng, latlng_to_bng
from geo.errors import ValidationError
from geo.h3index import latlng_to_cells
from geo.schemas import EPISODES, INCIDENTS, VENUE_REPORTS
from geo.store.base import Window
from geo.store.db_dbscan import db_dbscan
from geo.store.frames import conform
from geo.store.postgis import PostgisStore
from models.dbscan import dbscan

EPS_M = 25.0
MIN_SAMPLES = 6
STEP_M = 10.0
CENTRE = (368_300.0, 428_100.0)  # Blackburn town centre, BNG metres
BASE = pd.Timestamp("2024-01-01T00:00:00Z")


def _gadget(origin: tuple[int, int], far: tuple[int, int]) -> list[tuple[int, int]]:
    """Two single-core clusters and one border point between them (lattice nodes).

    Core A at (0, 0) and its left-hand neighbours; border point at (2, 0), 20 m
    from A and ``|far|`` from core B, whose own neighbours lie to its right.
    """
    ox, oy = origin
    fx, fy = far
    left = [(0, 0), (-1, 0), (-2, 0), (-1, 1), (-1, -1), (0, -2), (0, 2)]
    right = [(fx, fy), (fx + 1, fy), (fx + 2, fy), (fx + 1, fy + 1), (fx + 1, fy - 1)]
    right += [(fx, fy - 2), (fx, fy + 2)]
    return [(ox + x, oy + y) for x, y in [*left, (2, 0), *right]]


def _lattice_points(rng: np.random.Generator) -> np.ndarray:
    """Integer lattice nodes: Gaussian clusters, scattered noise and border gadgets."""
    parts = []
    for cx, cy, sd, n in [
        (0, 0, 4.0, 260),
        (30, 5, 6.0, 300),
        (-40, 25, 3.0, 200),
        (10, -50, 5.0, 250),
        (60, -30, 8.0, 260),
        (-30, -40, 2.5, 150),
        (45, 45, 4.0, 180),
    ]:
        parts.append(np.round(rng.normal((cx, cy), sd, (n, 2))))
    parts.append(np.round(rng.uniform(-150, 150, (320, 2))))
    gadgets = []
    for i, far in enumerate([(4, 0), (4, 1), (4, -1), (3, 1), (4, 0), (3, -1)]):
        gadgets += _gadget((200 + 20 * i, 200), far)
    parts.append(np.array(gadgets, dtype=np.float64))
    return np.concatenate(parts).astype(np.int64)


def make_incidents(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = _lattice_points(rng)
    n = nodes.shape[0]
    lat, lng = bng_to_latlng(CENTRE[0] + STEP_M * nodes[:, 0], CENTRE[1] + STEP_M * nodes[:, 1])
    areas = assign_areas(lat, lng)
    offset_ms = np.asarray(rng.integers(0, 180 * 86_400_000, n), dtype=np.int64)
    frame = pd.DataFrame(
        {
            "incident_id": np.array([f"I-{i:05d}" for i in range(n)], dtype=object),
            "category": "anti-social-behaviour",
            "occurred_at": pd.Series(BASE + pd.to_timedelta(offset_ms, unit="ms")).astype(
                "datetime64[ns, UTC]"
            ),
            "time_precision": "exact",
            "lat": lat,
            "lng": lng,
            "h3": pd.array(latlng_to_cells(lat, lng), dtype="Int64"),
            "district": areas["district"].to_numpy(dtype=object),
            "ward": areas["ward"].to_numpy(dtype=object),
            "lsoa": areas["lsoa"].to_numpy(dtype=object),
            "neighbourhood": None,
            "beat": None,
            "source": "db-dbscan-test",
            "content_hash": rng.integers(0, np.iinfo(np.int64).max, n, dtype=np.int64),
        }
    )
    return conform(INCIDENTS, frame)


@pytest.fixture
def loaded(pg_store_url: str):
    store = PostgisStore(pg_store_url)
    store.init()
    frame = make_incidents()
    with store.writer() as w:
        w.stage(INCIDENTS, frame)
    try:
        yield store, frame
    finally:
        store.close()


def _python_side(store: PostgisStore, window: Window | None) -> pd.DataFrame:
    stored = store.read(INCIDENTS, window=window, columns=["incident_id", "lat", "lng"])
    x, y = latlng_to_bng(stored["lat"].to_numpy(), stored["lng"].to_numpy())
    labels = dbscan(x, y, eps_m=EPS_M, min_samples=MIN_SAMPLES)
    return pd.DataFrame(
        {
            "key": stored["incident_id"].to_numpy(dtype=object),
            "x": x,
            "y": y,
            "cluster": labels["cluster"].to_numpy(),
            "core": labels["core"].to_numpy(),
        }
    )


def _compare(db: pd.DataFrame, py: pd.DataFrame) -> tuple[int, int]:
    """Assert agreement; return (border points reachable from 2+ clusters, differences)."""
    assert db["key"].tolist() == py["key"].tolist()
    xy = np.c_[py["x"].to_numpy(), py["y"].to_numpy()]
    tree = cKDTree(xy)
    # no pair within 1 m of eps: the neighbour relation is the same in both back ends
    near = tree.query_pairs(EPS_M + 1.0) - tree.query_pairs(EPS_M - 1.0)
    assert not near

    core = py["core"].to_numpy()
    np.testing.assert_array_equal(db["core"].to_numpy(), core)
    dbc, pyc = db["cluster"].to_numpy(), py["cluster"].to_numpy()
    np.testing.assert_array_equal(dbc == -1, pyc == -1)  # same noise
    assert not (core & (pyc == -1)).any()

    # same partition of core points: the (db, py) id pairs form a bijection
    pairs = set(zip(dbc[core].tolist(), pyc[core].tolist(), strict=True))
    assert len(pairs) == len(set(dbc[core])) == len(set(pyc[core]))
    assert set(dbc[dbc >= 0]) == set(dbc[core])  # every PostGIS cluster has a core point
    to_py = dict(pairs)

    border = np.flatnonzero(~core & (pyc >= 0))
    core_idx = np.flatnonzero(core)
    core_tree = cKDTree(xy[core_idx])
    shared = 0
    differences = 0
    for i in border.tolist():
        reach = {int(pyc[core_idx[j]]) for j in core_tree.query_ball_point(xy[i], EPS_M)}
        mapped = to_py[int(dbc[i])]
        assert mapped in reach and int(pyc[i]) in reach  # both are valid DBSCAN choices
        shared += len(reach) > 1
        if mapped != pyc[i]:
            differences += 1
            assert len(reach) > 1  # only border points reachable from two clusters differ
    return shared, differences


def test_db_dbscan_matches_models_dbscan(loaded) -> None:
    store, frame = loaded
    db = db_dbscan(store, INCIDENTS, eps_m=EPS_M, min_samples=MIN_SAMPLES)
    assert len(db) == len(frame) >= 2000
    assert db["cluster"].dtype == np.int64 and db["core"].dtype == bool
    py = _python_side(store, None)
    shared, differences = _compare(db, py)
    assert py["core"].sum() > 1000 and (py["cluster"] == -1).sum() > 100
    assert py["cluster"].max() >= 10
    assert shared >= 6  # the gadgets' border points, at least
    # In this data (seed 7, PostGIS 3.3) 10 border points are reachable from 2+ clusters and
    # 3 of them are assigned differently; only the bound is asserted, since PostGIS's
    # processing order is not part of its contract.
    assert differences <= shared


def test_db_dbscan_window_and_point(loaded) -> None:
    store, frame = loaded
    window = Window(datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))
    db = db_dbscan(store, INCIDENTS, eps_m=EPS_M, min_samples=MIN_SAMPLES, window=window, point="")
    t = frame["occurred_at"]
    expected = frame.loc[(t >= window.start) & (t < window.end), "incident_id"]
    assert db["key"].tolist() == sorted(expected.tolist())
    assert 0 < len(db) < len(frame)
    _compare(db, _python_side(store, window))

    empty = db_dbscan(
        store, INCIDENTS, eps_m=EPS_M, min_samples=MIN_SAMPLES, window=Window(end=BASE)
    )
    assert empty.empty and list(empty.columns) == ["key", "cluster", "core"]

    every = db_dbscan(store, INCIDENTS, eps_m=EPS_M, min_samples=1)
    assert every["core"].all() and (every["cluster"] >= 0).all()


def _point(prefix: str, nodes: np.ndarray, missing: np.ndarray) -> dict[str, object]:
    """The stored columns of one point on lattice ``nodes``; ``missing`` rows are null."""
    lat, lng = bng_to_latlng(CENTRE[0] + STEP_M * nodes[:, 0], CENTRE[1] + STEP_M * nodes[:, 1])
    lat[missing], lng[missing] = np.nan, np.nan
    ok = ~missing
    h3 = pd.array([pd.NA] * lat.size, dtype="Int64")
    h3[ok] = latlng_to_cells(lat[ok], lng[ok])
    areas = assign_areas(lat, lng)
    return {
        f"{prefix}lat": lat,
        f"{prefix}lng": lng,
        f"{prefix}h3": h3,
        f"{prefix}district": areas["district"].to_numpy(dtype=object),
        f"{prefix}ward": areas["ward"].to_numpy(dtype=object),
        f"{prefix}lsoa": areas["lsoa"].to_numpy(dtype=object),
        f"{prefix}neighbourhood": areas["neighbourhood"].to_numpy(dtype=object),
        f"{prefix}beat": areas["beat"].to_numpy(dtype=object),
    }


def test_db_dbscan_other_point_skips_nulls(pg_store_url: str) -> None:
    rng = np.random.default_rng(11)
    n = 300
    seen = np.round(rng.normal(0, 6.0, (n, 2))).astype(np.int64)
    found = np.round(rng.normal((40, 0), 4.0, (n, 2))).astype(np.int64)
    missing = rng.random(n) < 0.3
    last_seen = pd.Series(BASE + pd.to_timedelta(np.arange(n, dtype=np.int64), unit="h"))
    frame = pd.DataFrame(
        {
            "episode_id": np.array([f"E-{i:04d}" for i in range(n)], dtype=object),
            "child_ref": np.array([f"C-{i % 40:03d}" for i in range(n)], dtype=object),
            "reported_at": last_seen,
            "last_seen_at": last_seen,
            **_point("last_seen_", seen, np.zeros(n, dtype=bool)),
            "last_seen_place_type": "public",
            "found_at": last_seen.where(~missing),
            **_point("found_", found, missing),
            "found_place_type": pd.Series("public", index=range(n), dtype=object).where(~missing),
            "in_care": pd.array([True] * n, dtype="boolean"),
            "risk_level": "medium",
            "source": "db-dbscan-test",
            "content_hash": np.arange(n, dtype=np.int64),
        }
    )
    store = PostgisStore(pg_store_url)
    store.init()
    try:
        with store.writer() as w:
            w.stage(EPISODES, conform(EPISODES, frame))
        db = db_dbscan(store, EPISODES, eps_m=EPS_M, min_samples=MIN_SAMPLES, point="found_")
        main = db_dbscan(store, EPISODES, eps_m=EPS_M, min_samples=MIN_SAMPLES)
        stored = store.read(EPISODES, columns=["episode_id", "found_lat", "found_lng"])
    finally:
        store.close()
    assert db["key"].tolist() == sorted(frame.loc[~missing, "episode_id"].tolist())
    assert main["key"].tolist() == sorted(frame["episode_id"].tolist())
    stored = stored.dropna(subset=["found_lat"])
    x, y = latlng_to_bng(stored["found_lat"].to_numpy(), stored["found_lng"].to_numpy())
    labels = dbscan(x, y, eps_m=EPS_M, min_samples=MIN_SAMPLES)
    py = pd.DataFrame(
        {
            "key": stored["episode_id"].to_numpy(dtype=object),
            "x": x,
            "y": y,
            "cluster": labels["cluster"].to_numpy(),
            "core": labels["core"].to_numpy(),
        }
    )
    _compare(db, py)


@pytest.mark.parametrize("eps", [0, -5.0, float("nan"), float("inf"), True, "25"])
def test_db_dbscan_rejects_bad_eps(pg_store_url: str, eps: object) -> None:
    store = PostgisStore(pg_store_url)
    with pytest.raises(ValidationError, match="eps_m"):
        db_dbscan(store, INCIDENTS, eps_m=eps, min_samples=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("ms", [0, -1, 2.5, True, None])
def test_db_dbscan_rejects_bad_min_samples(pg_store_url: str, ms: object) -> None:
    store = PostgisStore(pg_store_url)
    with pytest.raises(ValidationError, match="min_samples"):
        db_dbscan(store, INCIDENTS, eps_m=25.0, min_samples=ms)  # type: ignore[arg-type]


def test_db_dbscan_rejects_bad_table_or_point(pg_store_url: str) -> None:
    store = PostgisStore(pg_store_url)
    with pytest.raises(ValidationError, match="no points"):
        db_dbscan(store, VENUE_REPORTS, eps_m=25.0, min_samples=5)
    with pytest.raises(ValidationError, match="no point"):
        db_dbscan(store, EPISODES, eps_m=25.0, min_samples=5, point="home_")
    with pytest.raises(ValidationError, match="unknown table"):
        db_dbscan(store, "incidents", eps_m=25.0, min_samples=5)  # type: ignore[arg-type]
