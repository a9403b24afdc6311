"""`engage hotspots --method dbscan --engine db`: DBSCAN run inside PostGIS.

The same synthetic Blackburn with Darwen weeks are stored in PostGIS. The
in-database engine (``ST_ClusterDBSCAN`` over the chosen events of the
episode, venue-report and incident tables) is checked against
:func:`models.dbscan.dbscan` run here on the same events with unit weights
(each event counts 1 towards ``min_samples`` in PostGIS): the same core
events, the same noise, the same partition of the core events, and so the
same per-cell hotspot frame apart from cluster ids. Border events reachable
from two clusters may go to different clusters (documented in
geo/store/db_dbscan.py); they are clustered in both, so cell scores agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from api.usecases.cells import hotspots_table
from api.usecases.ingest import ingest_files
from api.usecases.store import init_store, load_events, opened_store
from geo.errors import StoreError, ValidationError
from geo.store import Window
from geo.store.db_dbscan import db_dbscan_records
from geo.store.postgis import PostgisStore
from models.dbscan import canonical_labels, dbscan
from models.params import AnalysisParams
from models.targets import drop_private

from .conftest import SYNTHETIC_KEY, synthetic_store

EPS_M = 120.0
MIN_SAMPLES = 4
WEIGHTED_MIN = 2
START = pd.Timestamp("2025-01-06", tz="UTC").to_pydatetime()
END = pd.Timestamp("2025-05-26", tz="UTC").to_pydatetime()
runner = CliRunner()


@pytest.fixture(scope="module")
def pg_location(
    pg_url: str, police_uk: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    schema = f"engage_test_{uuid.uuid4().hex[:12]}"
    location = f"{pg_url}?schema={schema}"
    root = tmp_path_factory.mktemp("engine")
    synthetic_store(root, seed=9, location=location)
    # Incidents: one real police.uk month of Blackburn with Darwen.
    month = police_uk / "blackburn_with_darwen" / "2022-10-lancashire-street-bwd.csv"
    ingest_files(
        location, "police-uk", [month], settings=_settings(location, root), key=SYNTHETIC_KEY
    )
    yield location
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _settings(location: str, tmp_path: Path) -> Settings:
    return Settings(store=location, quarantine_dir=tmp_path / "q")


OCTOBER = Window(  # police.uk months start at midnight UK time
    pd.Timestamp("2022-10-01", tz="Europe/London").to_pydatetime(),
    pd.Timestamp("2022-11-01", tz="Europe/London").to_pydatetime(),
)


def _events(
    location: str, layer: str, category: str | None = None, window: Window | None = None
) -> pd.DataFrame:
    window = window or Window(START, END)
    with opened_store(location) as store:
        events = load_events(store, window, layer=layer, category=category)
    return drop_private(events).reset_index(drop=True)


def _server_xy(location: str, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The events' lat/lng in BNG metres by the server's own ``ST_Transform``.

    The reference clustering uses these, so an event pair almost exactly eps
    apart is judged on the same coordinates as in the database.
    """
    url, _, _ = location.partition("?")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY"
            " AS e(lng, lat, i), ST_Transform(ST_SetSRID(ST_MakePoint(lng, lat), 4326), 27700)"
            " AS p ORDER BY i",
            [events["lng"].tolist(), events["lat"].tolist()],
        ).fetchall()
    xy = np.array(rows, dtype=np.float64)
    return xy[:, 0], xy[:, 1]


def _partition(cluster: np.ndarray, core: np.ndarray) -> set[frozenset[int]]:
    """Core events grouped by cluster, ids forgotten."""
    idx = np.flatnonzero(core)
    return {frozenset(idx[cluster[idx] == c].tolist()) for c in np.unique(cluster[idx])}


@pytest.mark.parametrize(
    ("layer", "category", "window", "weighted"),
    [
        ("all", None, None, False),
        ("all", None, None, True),
        ("incidents", "Violence and sexual offences", OCTOBER, False),
        ("incidents", None, OCTOBER, True),
    ],
)
def test_the_database_clusters_the_events_as_models_dbscan_does(
    pg_location: str, layer: str, category: str | None, window: Window | None, weighted: bool
) -> None:
    events = _events(pg_location, layer, category, window)
    assert len(events) > 200
    if layer == "all":  # the union over three tables is exercised
        assert {"last_seen", "found", "venue_report"} <= set(events["layer"])
    if category:
        assert set(events["category"]) == {category}
    x, y = _server_xy(pg_location, events)
    # The server's PROJ and pyproj agree to nanometres.
    assert np.abs(x - events["x"].to_numpy()).max() < 1e-6
    assert np.abs(y - events["y"].to_numpy()).max() < 1e-6
    w = None
    if weighted:  # weights in [0.2, 1.5), as recency and layer weights
        w = np.random.default_rng(4).uniform(0.2, 1.5, len(events))
        events = events.assign(weight=w)

    store = PostgisStore(pg_location)
    try:
        db = db_dbscan_records(store, events, eps_m=EPS_M, min_samples=MIN_SAMPLES)
    finally:
        store.close()
    ref = dbscan(x, y, eps_m=EPS_M, min_samples=MIN_SAMPLES, weights=w)
    core = ref["core"].to_numpy()
    ref_cluster = ref["cluster"].to_numpy()
    assert db.index.equals(events.index)
    assert (db["core"].to_numpy() == core).all()
    assert core.sum() > 10
    # Core points and their partition come from PostGIS; other points are left -1.
    db_cluster = db["cluster"].to_numpy()
    assert (db_cluster[~core] == -1).all()
    assert _partition(db_cluster, core) == _partition(ref_cluster, core)
    assert len(np.unique(ref_cluster[ref_cluster >= 0])) >= 2
    # Renumbered, with borders by the nearest core: models.dbscan's labels exactly.
    labels = canonical_labels(x, y, core, db_cluster, EPS_M)
    np.testing.assert_array_equal(labels, ref_cluster)
    assert ((ref_cluster >= 0) & ~core).sum() > 0  # there are border points


def test_engine_db_gives_the_python_engines_frame(pg_location: str, tmp_path: Path) -> None:
    settings = _settings(pg_location, tmp_path)
    # Recency-weighted events (half-life 28 days) are light: a lower weight makes a core.
    params = AnalysisParams(method="dbscan", eps_m=EPS_M, min_samples=WEIGHTED_MIN)
    window = {"start": START, "end": END, "settings": settings, "params": params}
    frame, meta = hotspots_table(pg_location, **window, engine="db")
    py, py_meta = hotspots_table(pg_location, **window)
    assert meta["engine"] == "postgis ST_ClusterDBSCAN"
    assert py_meta["engine"] == "python"
    assert meta["core_rule"] == py_meta["core_rule"]
    pd.testing.assert_frame_equal(frame, py)
    for key in ("n_clusters", "n_core", "n_noise", "n_events"):
        assert meta[key] == py_meta[key], key
    assert meta["n_clusters"] >= 3 and (frame["score"] > 0).sum() >= 5
    # The events are recency weighted (not all 1), so the weighted core rule mattered.
    events = _events(pg_location, "all")
    assert len(events) == meta["n_events"]


def test_engine_db_on_the_command_line(pg_location: str, tmp_path: Path) -> None:
    out = tmp_path / "db.csv"
    args = ["hotspots", "--store", pg_location, "--from", "2025-01-06", "--to", "2025-05-26"]
    args += ["--method", "dbscan", "--eps-m", str(EPS_M), "--min-samples", str(WEIGHTED_MIN)]
    result = runner.invoke(app, [*args, "--engine", "db", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "postgis ST_ClusterDBSCAN" in result.output
    table = pd.read_csv(out)
    assert (table["score"] > 0).sum() >= 5
    python = tmp_path / "py.csv"
    result = runner.invoke(app, [*args, "--out", str(python)])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(table, pd.read_csv(python))
    assert {"cluster", "n_clustered"} <= set(table.columns)


def test_engine_db_refusals(pg_location: str, tmp_path: Path) -> None:
    gpkg = str(tmp_path / "e.gpkg")
    init_store(gpkg)
    base = [
        "hotspots",
        "--from",
        "2025-01-06",
        "--to",
        "2025-05-26",
        "--out",
        str(tmp_path / "o.csv"),
    ]
    result = runner.invoke(app, [*base, "--store", gpkg, "--method", "dbscan", "--engine", "db"])
    assert result.exit_code != 0
    assert "PostGIS store" in result.output
    result = runner.invoke(
        app, [*base, "--store", pg_location, "--method", "kde", "--engine", "db"]
    )
    assert result.exit_code != 0
    assert "--method dbscan" in result.output
    result = runner.invoke(app, [*base, "--store", pg_location, "--engine", "gpu"])
    assert result.exit_code != 0
    assert "engine" in result.output

    store = PostgisStore(pg_location)
    try:
        gone = pd.DataFrame({"layer": ["incident"], "record": ["no-such-incident"]})
        with pytest.raises(StoreError, match="no longer in the store"):
            db_dbscan_records(store, gone, eps_m=EPS_M, min_samples=MIN_SAMPLES)
        with pytest.raises(ValidationError, match="layers are"):
            db_dbscan_records(
                store, gone.assign(layer="home"), eps_m=EPS_M, min_samples=MIN_SAMPLES
            )
    finally:
        store.close()
