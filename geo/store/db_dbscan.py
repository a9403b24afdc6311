"""DBSCAN inside PostGIS: ``ST_ClusterDBSCAN`` on a stored table's points.

:func:`db_dbscan` clusters one point of a :class:`~geo.store.postgis.PostgisStore`
table (default its main point) in British National Grid metres without
reading the rows into Python, with ``ST_ClusterDBSCAN``'s own semantics
(below). :func:`db_dbscan_records` finds the weighted core points of events
chosen by key across the episode, venue-report and incident tables together,
and their clusters (what ``engage hotspots --method dbscan --engine db``
uses; border points are then placed by :func:`models.dbscan.canonical_labels`,
so that engine agrees with :mod:`models.dbscan` exactly). :func:`db_dbscan`
runs, in one transaction::

    CREATE TEMP TABLE engage_dbscan_points ON COMMIT DROP AS
        SELECT <key> AS key, ST_Transform(<point>, <metric srid>) AS g FROM ... ;
    CREATE INDEX ON engage_dbscan_points USING gist (g);
    SELECT p.key,
           ST_ClusterDBSCAN(p.g, eps => :eps_m, minpoints => :min_samples) OVER (),
           (SELECT count(*) FROM engage_dbscan_points AS q
             WHERE ST_DWithin(p.g, q.g, :eps_m)) >= :min_samples
    FROM engage_dbscan_points AS p

so every point is transformed once to the metric CRS in use (EPSG:27700 in
Great Britain, :func:`geo.crs.metric_crs`), and the clustering and the
neighbour count work on the same projected geometries; the count is a GiST
index search per point.

Semantics
---------
* **Neighbours.** Two points are neighbours when their metric distance is at
  most ``eps_m`` (``ST_DWithin``, boundary included), as in
  :func:`models.dbscan.dbscan`.
* **Core.** ``core`` is computed in SQL from a neighbour count: a point is
  core when the number of points within ``eps_m`` of it, *itself
  included*, is at least ``min_samples``. This is exactly the core rule of
  ``ST_ClusterDBSCAN`` (whose ``minpoints`` counts the point itself) and of
  :func:`models.dbscan.dbscan` with unit weights. Points at the same spot
  each count (once per row). ``ST_ClusterDBSCAN`` has no sample weights: in
  the database every event counts 1 towards ``min_samples``.
* **Noise.** ``ST_ClusterDBSCAN`` returns NULL for noise; it is reported as
  ``-1``.
* **Cluster ids** are PostGIS's (0, 1, 2, ... in its processing order); they
  are not the ids :func:`models.dbscan.dbscan` gives. Compare partitions, not
  ids.

Border points: the one difference from :mod:`models.dbscan`
----------------------------------------------------------
Which points are core, how core points are partitioned into clusters and
which points are noise do not depend on any border rule, so PostGIS and
:func:`models.dbscan.dbscan` agree on all three (on the same coordinates).
They differ only for a *border* point (not core, but within ``eps_m`` of core
points) reachable from two or more clusters: PostGIS assigns it to whichever
cluster reaches it first in its processing order, while
:func:`models.dbscan.dbscan` assigns it to the cluster of its *nearest* core
point (exact ties to the lowest cluster id). Where that matters, re-label the
border points in Python with :func:`models.dbscan.dbscan`.

Coordinates: PostGIS ``ST_Transform`` (server PROJ) and :func:`geo.crs.latlng_to_bng`
(pyproj) may differ by millimetres, so a pair of points almost exactly
``eps_m`` apart can be neighbours in one and not the other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from psycopg import sql

from geo.crs import metric_crs
from geo.errors import ValidationError
from geo.schemas import Table
from geo.store.base import Window
from geo.store.postgis import PostgisStore, window_filters
from geo.store.query import known_table, table_point

BNG_SRID = 27700


def metric_srid() -> int:
    """SRID of the metric CRS in use (27700 in Great Britain, a UTM zone elsewhere)."""
    return int(metric_crs().code.split(":")[1])


"""British National Grid, the projected CRS the clustering runs in (metres)."""


def _check_eps(eps_m: Any) -> float:
    if isinstance(eps_m, bool) or not isinstance(eps_m, int | float | np.integer | np.floating):
        msg = f"`eps_m` must be a number of metres > 0, got {eps_m!r}. Pass a distance in metres."
        raise ValidationError(msg)
    if not math.isfinite(float(eps_m)) or eps_m <= 0:
        msg = f"`eps_m` must be finite and > 0, got {eps_m!r}. Pass a distance in metres."
        raise ValidationError(msg)
    return float(eps_m)


def _check_min_samples(min_samples: Any) -> int:
    if (
        isinstance(min_samples, bool)
        or not isinstance(min_samples, int | np.integer)
        or min_samples < 1
    ):
        msg = (
            f"`min_samples` must be a whole number >= 1, got {min_samples!r}. Pass the number "
            "of points (itself included) within `eps_m` that makes a core point."
        )
        raise ValidationError(msg)
    if min_samples > np.iinfo(np.int32).max:
        msg = f"`min_samples` must fit a PostgreSQL integer, got {min_samples!r}."
        raise ValidationError(msg)
    return int(min_samples)


def db_dbscan(
    store: PostgisStore,
    table: Table,
    *,
    eps_m: float,
    min_samples: int,
    window: Window | None = None,
    point: str | None = None,
) -> pd.DataFrame:
    """DBSCAN of a stored table's points, run by PostGIS ``ST_ClusterDBSCAN``.

    Parameters
    ----------
    store
        An initialised :class:`~geo.store.postgis.PostgisStore`.
    table
        One of :data:`geo.schemas.TABLES` with points.
    eps_m
        Neighbourhood radius in metres (British National Grid), finite, > 0.
        Points exactly ``eps_m`` apart are neighbours.
    min_samples
        Whole number >= 1: points within ``eps_m``, the point itself included,
        that make a core point.
    window
        Half-open UTC window on the table's time column; default all rows.
    point
        Which of the table's points (its column prefix, e.g. ``"found_"``);
        default the main point. Rows whose chosen point is null are left out.

    Returns
    -------
    DataFrame ordered by key with columns ``key`` (the table key, str),
    ``cluster`` (int64, PostGIS cluster id, -1 for noise) and ``core`` (bool).
    See the module docstring for how border points differ from
    :func:`models.dbscan.dbscan`.
    """
    spec = known_table(table)
    prefix = table_point(spec, point, needed_for="DBSCAN needs a table with points")
    eps = _check_eps(eps_m)
    ms = _check_min_samples(min_samples)
    geom = sql.Identifier("t", f"{prefix}geom")
    where, params = window_filters(spec, window)
    where.insert(0, sql.SQL("{} IS NOT NULL").format(geom))
    points = sql.SQL(
        "SELECT t.{key} AS key, ST_Transform({geom}, {srid}) AS g FROM {table} AS t WHERE {where}"
    ).format(
        key=sql.Identifier(spec.key),
        geom=geom,
        srid=sql.Literal(metric_srid()),
        table=sql.Identifier(store.schema, spec.name),
        where=sql.SQL(" AND ").join(where),
    )
    with store._connection(f"run DBSCAN on {spec.name}") as conn:
        rows = _cluster(conn, points, params, eps, ms)
    keys = np.array([r[0] for r in rows], dtype=object)
    cluster = np.array([-1 if r[1] is None else r[1] for r in rows], dtype=np.int64)
    core = np.array([bool(r[2]) for r in rows], dtype=bool)
    return pd.DataFrame({"key": keys, "cluster": cluster, "core": core})


RECORD_LAYERS = ("last_seen", "found", "venue_report", "incident")
"""Event layers :func:`db_dbscan_records` can find (the ``layer`` of api.services events)."""


def db_dbscan_records(
    store: PostgisStore,
    records: pd.DataFrame,
    *,
    eps_m: float,
    min_samples: int,
) -> pd.DataFrame:
    """DBSCAN, inside PostGIS, of chosen stored events from several tables at once.

    ``records`` names the events, one row each: ``layer`` (one of
    :data:`RECORD_LAYERS`) and ``record`` (the key of the row: an episode id for
    ``last_seen`` and ``found``, a report id for ``venue_report``, an incident
    id for ``incident``). Their stored points (an episode's last-seen or found
    point, the reported venue's point, the incident's point) are clustered
    together in British National Grid metres. Which events to cluster is the
    caller's choice, so the in-database engine clusters exactly the events the
    Python engine would (same window, category and private-place rules).

    An optional ``weight`` column (finite, >= 0; default 1 each) makes the
    core rule weighted, as in :func:`models.dbscan.dbscan`: a point is core
    when the summed weight of the points within ``eps_m``, itself included,
    reaches ``min_samples`` (a GiST-indexed ``ST_DWithin`` sum). The core
    points are then clustered by ``ST_ClusterDBSCAN(minpoints => 1)``, which
    links core points within ``eps_m`` of each other: DBSCAN's clusters of
    core points.

    Returns a frame aligned with ``records`` (same order and index):
    ``core`` (bool) and ``cluster`` (int64, PostGIS ids for core points, -1
    for every other point: border points are left to
    :func:`models.dbscan.canonical_labels`, which gives them the nearest core
    point's cluster). A record no longer in the store is a
    :class:`~geo.errors.StoreError`.
    """
    from geo.errors import StoreError

    missing = [c for c in ("layer", "record") if c not in records.columns]
    if missing:
        msg = f"`records` is missing column(s) {missing}; pass `layer` and `record` per event."
        raise ValidationError(msg)
    eps = _check_eps(eps_m)
    ms = _check_min_samples(min_samples)
    layers = records["layer"].astype(str).to_numpy()
    unknown = sorted(set(layers) - set(RECORD_LAYERS))
    if unknown:
        msg = f"`records` has layer(s) {unknown}; the layers are {', '.join(RECORD_LAYERS)}."
        raise ValidationError(msg)
    if "weight" in records.columns:
        weights = records["weight"].to_numpy(dtype=np.float64)
        if not np.isfinite(weights).all() or (weights < 0).any():
            msg = "`records.weight` must be finite and >= 0 for every event."
            raise ValidationError(msg)
    else:
        weights = np.ones(len(records), dtype=np.float64)
    if len(records) == 0:
        return pd.DataFrame(
            {"cluster": np.zeros(0, dtype=np.int64), "core": np.zeros(0, dtype=bool)},
            index=records.index,
        )
    s = store.schema

    def t(name: str) -> sql.Composable:
        return sql.Identifier(s, name)

    points = sql.SQL(
        "WITH w AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::float8[]) WITH ORDINALITY"
        " AS w(layer, record, w, key)) "
        "SELECT w.key, ST_Transform(e.last_seen_geom, {srid}) AS g, w.w FROM w"
        " JOIN {episodes} AS e ON e.episode_id = w.record"
        " WHERE w.layer = 'last_seen' AND e.last_seen_geom IS NOT NULL "
        "UNION ALL SELECT w.key, ST_Transform(e.found_geom, {srid}), w.w FROM w"
        " JOIN {episodes} AS e ON e.episode_id = w.record"
        " WHERE w.layer = 'found' AND e.found_geom IS NOT NULL "
        "UNION ALL SELECT w.key, ST_Transform(v.geom, {srid}), w.w FROM w"
        " JOIN {reports} AS r ON r.report_id = w.record"
        " JOIN {venues} AS v ON v.venue_id = r.venue_id"
        " WHERE w.layer = 'venue_report' AND v.geom IS NOT NULL "
        "UNION ALL SELECT w.key, ST_Transform(i.geom, {srid}), w.w FROM w"
        " JOIN {incidents} AS i ON i.incident_id = w.record"
        " WHERE w.layer = 'incident' AND i.geom IS NOT NULL"
    ).format(
        srid=sql.Literal(metric_srid()),
        episodes=t("episodes"),
        reports=t("venue_reports"),
        venues=t("venues"),
        incidents=t("incidents"),
    )
    params = [list(layers), records["record"].astype(str).tolist(), weights.tolist()]
    with store._connection("run DBSCAN on the chosen events") as conn:
        rows = _cluster(conn, points, params, eps, ms, weighted=True)
    if len(rows) != len(records):
        found = {int(r[0]) for r in rows}
        lost = [i for i in range(1, len(records) + 1) if i not in found][:3]
        examples = [f"{layers[i - 1]} {records['record'].iloc[i - 1]}" for i in lost]
        msg = (
            f"{len(records) - len(rows)} of the {len(records)} events to cluster are no longer "
            f"in the store (e.g. {', '.join(examples)}); it changed during the run. Run again."
        )
        raise StoreError(msg)
    cluster = np.array([-1 if r[1] is None else r[1] for r in rows], dtype=np.int64)
    core = np.array([bool(r[2]) for r in rows], dtype=bool)
    return pd.DataFrame({"cluster": cluster, "core": core}, index=records.index)


def _cluster(
    conn: Any,
    points: sql.Composable,
    params: list[Any],
    eps: float,
    ms: int,
    *,
    weighted: bool = False,
) -> list[tuple[Any, Any, Any]]:
    """``(key, cluster, core)`` per point of ``points`` (columns ``key``, ``g``), by key.

    The points go into a temporary table (dropped at commit) with a GiST
    index, so both ``ST_ClusterDBSCAN`` and the core-point count work on the
    projected points transformed once, and the count's ``ST_DWithin`` is an
    index search rather than a scan of every pair. ``weighted`` (``points``
    has a column ``w``): core by the summed weight within ``eps``, and only
    core points clustered (``minpoints => 1``); other points get NULL.
    The temporary table needs a writable transaction (a primary server, not
    a read-only replica).
    """
    conn.execute(
        sql.SQL("CREATE TEMP TABLE engage_dbscan_points ON COMMIT DROP AS {}").format(points),
        params,
    )
    conn.execute("CREATE INDEX ON engage_dbscan_points USING gist (g)")
    conn.execute("ANALYZE engage_dbscan_points")
    query = (
        "SELECT p.key,"
        " ST_ClusterDBSCAN(p.g, eps => %s::float8, minpoints => %s::int) OVER () AS cluster,"
        " (SELECT count(*) FROM engage_dbscan_points AS q WHERE ST_DWithin(p.g, q.g, %s::float8))"
        " >= %s AS core "
        "FROM engage_dbscan_points AS p ORDER BY p.key"
    )
    if weighted:
        query = (
            "WITH c AS (SELECT p.key, p.g,"
            " (SELECT sum(q.w) FROM engage_dbscan_points AS q"
            "  WHERE ST_DWithin(p.g, q.g, %s::float8)) >= %s::float8 AS core"
            " FROM engage_dbscan_points AS p) "
            "SELECT key,"
            " CASE WHEN core THEN ST_ClusterDBSCAN(g, eps => %s::float8, minpoints => 1)"
            " OVER (PARTITION BY core) END AS cluster, core "
            "FROM c ORDER BY key"
        )
        rows: list[tuple[Any, Any, Any]] = conn.execute(query, [eps, ms, eps]).fetchall()
        return rows
    rows = conn.execute(query, [eps, ms, eps, ms]).fetchall()
    return rows
