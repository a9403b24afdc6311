"""The GeoPackage side of :mod:`geo.store.features`: the ``engage_features`` layer and settings.

``engage_features`` is a GeoPackage feature table of geometry type GEOMETRY
(EPSG:4326) with the standard R-tree, so QGIS opens imported areas, the
gazetteer and base layers beside the data. Each row also carries its
bounding box as plain columns, which the bounding-box read uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.schemas import Table
from geo.store.features import (
    FEATURES_TABLE,
    BBox,
    bounds,
    check_bbox,
    check_family_kind,
    check_meta_key,
    from_gpkg_blobs,
    gpkg_blobs,
    to_frame,
)

META_TABLE = "engage_meta"

_DDL = f"""CREATE TABLE IF NOT EXISTS {FEATURES_TABLE} (
  "fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  "geom" GEOMETRY,
  "family" TEXT NOT NULL,
  "kind" TEXT NOT NULL,
  "code" TEXT NOT NULL,
  "name" TEXT,
  "type" TEXT,
  "min_lng" REAL NOT NULL,
  "min_lat" REAL NOT NULL,
  "max_lng" REAL NOT NULL,
  "max_lat" REAL NOT NULL,
  "updated_at" DATETIME NOT NULL
)"""

_INDEXES = (
    f'CREATE UNIQUE INDEX IF NOT EXISTS "{FEATURES_TABLE}_key" '
    f'ON {FEATURES_TABLE} ("family", "kind", "code")',
    f'CREATE INDEX IF NOT EXISTS "{FEATURES_TABLE}_bbox" '
    f'ON {FEATURES_TABLE} ("family", "min_lng", "max_lng")',
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def create(conn: sqlite3.Connection, now: str, rtree_ddl: list[str]) -> None:
    """Create the layer, its indexes, R-tree (``rtree_ddl``: the store's standard R-tree
    statements for it) and GeoPackage registration; idempotent."""
    existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.execute(_DDL)
    for sql in _INDEXES:
        conn.execute(sql)
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
        "description, last_change, srs_id) VALUES (?, 'features', ?, ?, ?, 4326)",
        (
            FEATURES_TABLE,
            FEATURES_TABLE,
            "Imported areas, gazetteer places and base layers (family, kind, code).",
            now,
        ),
    )
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_geometry_columns (table_name, column_name, "
        "geometry_type_name, srs_id, z, m) VALUES (?, 'geom', 'GEOMETRY', 4326, 0, 0)",
        (FEATURES_TABLE,),
    )
    for sql in rtree_ddl:
        conn.execute(sql)
    if f"rtree_{FEATURES_TABLE}_geom" not in existing:
        conn.execute(
            f'INSERT OR REPLACE INTO "rtree_{FEATURES_TABLE}_geom" SELECT fid, min_lng, '
            f"max_lng, min_lat, max_lat FROM {FEATURES_TABLE}"
        )
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, "
        "definition, scope) VALUES (?, 'geom', 'gpkg_rtree_index', "
        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        (FEATURES_TABLE,),
    )


def put(conn: sqlite3.Connection, family: str, kind: str, rows: pd.DataFrame, replace: bool) -> int:
    """Write conformed feature rows (inside the caller's transaction)."""
    now = _now()
    rtree = f"rtree_{FEATURES_TABLE}_geom"
    if replace:
        # One statement for the R-tree rather than its delete trigger, once a row.
        conn.execute(
            f'DELETE FROM "{rtree}" WHERE id IN (SELECT fid FROM {FEATURES_TABLE} '
            "WHERE family = ? AND kind = ?)",
            (family, kind),
        )
        with _lifted(conn, f"{rtree}_delete"):
            conn.execute(
                f"DELETE FROM {FEATURES_TABLE} WHERE family = ? AND kind = ?", (family, kind)
            )
    if rows.empty:
        return 0
    geoms = rows["geometry"].to_numpy()
    b = bounds(geoms)
    blobs = gpkg_blobs(geoms)
    # The R-tree's insert trigger would call back into Python five times a row
    # for the box; the rows carry their box, so the trigger is lifted for this
    # insert (inside the transaction) and the R-tree filled from the columns.
    with _lifted(conn, f"{rtree}_insert"):
        _insert(conn, family, kind, rows, blobs, b, now)
        conn.execute(
            f'INSERT OR REPLACE INTO "{rtree}" SELECT fid, min_lng, max_lng, min_lat, max_lat '
            f"FROM {FEATURES_TABLE} WHERE family = ? AND kind = ? AND updated_at = ?",
            (family, kind, now),
        )
    conn.execute(
        "UPDATE gpkg_contents SET last_change = ? WHERE table_name = ?", (now, FEATURES_TABLE)
    )
    return len(rows)


@contextmanager
def _lifted(conn: sqlite3.Connection, trigger: str) -> Iterator[None]:
    """Drop a trigger for the block and create it again after (inside the transaction)."""
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)
    ).fetchone()
    if row is not None:
        conn.execute(f'DROP TRIGGER "{trigger}"')
    try:
        yield
    finally:
        if row is not None:
            conn.execute(row[0])


def _insert(
    conn: sqlite3.Connection,
    family: str,
    kind: str,
    rows: pd.DataFrame,
    blobs: list[bytes],
    b: np.ndarray,
    now: str,
) -> None:
    conn.executemany(
        f"INSERT INTO {FEATURES_TABLE} (geom, family, kind, code, name, type, min_lng, min_lat, "
        "max_lng, max_lat, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (family, kind, code) DO UPDATE SET geom = excluded.geom, "
        "name = excluded.name, type = excluded.type, min_lng = excluded.min_lng, "
        "min_lat = excluded.min_lat, max_lng = excluded.max_lng, max_lat = excluded.max_lat, "
        "updated_at = excluded.updated_at",
        zip(
            blobs,
            [family] * len(rows),
            [kind] * len(rows),
            rows["code"].tolist(),
            rows["name"].tolist(),
            rows["type"].tolist(),
            *b.T.tolist(),
            [now] * len(rows),
            strict=True,
        ),
    )


def read(
    conn: sqlite3.Connection, family: str, kind: str | None, bbox: BBox | None
) -> gpd.GeoDataFrame:
    check_family_kind(family, kind)
    box = check_bbox(bbox)
    where = ["family = ?"]
    args: list[object] = [family]
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    if box is not None:
        where.append("max_lng >= ? AND min_lng <= ? AND max_lat >= ? AND min_lat <= ?")
        args += [box[0], box[2], box[1], box[3]]
    rows = conn.execute(
        f"SELECT family, kind, code, name, type, geom FROM {FEATURES_TABLE} "
        f"WHERE {' AND '.join(where)} ORDER BY kind, code",
        args,
    ).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    geoms = from_gpkg_blobs(cols[5]) if rows else np.array([], dtype=object)
    return to_frame(cols[0], cols[1], cols[2], cols[3], cols[4], geoms)


def kinds(conn: sqlite3.Connection) -> pd.DataFrame:
    rows = conn.execute(
        f"SELECT family, kind, count(*), max(updated_at) FROM {FEATURES_TABLE} "
        "GROUP BY family, kind ORDER BY family, kind"
    ).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 4
    return pd.DataFrame(
        {
            "family": pd.Series(cols[0], dtype=object),
            "kind": pd.Series(cols[1], dtype=object),
            "n": np.asarray(cols[2], dtype=np.int64),
            "updated_at": pd.to_datetime(
                pd.Series(cols[3], dtype=object), utc=True, format="ISO8601"
            ),
        }
    )


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    check_meta_key(key)
    row = conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    check_meta_key(key)
    conn.execute(
        f"INSERT INTO {META_TABLE} (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def set_areas(
    conn: sqlite3.Connection, table: Table, updates: list[tuple[str, pd.DataFrame]]
) -> int:
    """Set area columns of stored rows: ``updates`` is (column, frame of key and code).

    One temporary table per column and one ``UPDATE ... FROM``; returns the
    rows whose value changed.
    """
    changed = 0
    t = f'"{table.name}"'
    key = f'"{table.key}"'
    for column, frame in updates:
        conn.execute('DROP TABLE IF EXISTS temp."_engage_area_update"')
        conn.execute('CREATE TEMP TABLE "_engage_area_update" (k TEXT PRIMARY KEY, v TEXT)')
        conn.executemany(
            'INSERT INTO temp."_engage_area_update" VALUES (?, ?)',
            zip(frame["key"].tolist(), frame["code"].tolist(), strict=True),
        )
        cur = conn.execute(
            f'UPDATE main.{t} SET "{column}" = u.v FROM temp."_engage_area_update" u '
            f'WHERE main.{t}.{key} = u.k AND main.{t}."{column}" IS NOT u.v'
        )
        changed += max(cur.rowcount, 0)
        conn.execute('DROP TABLE IF EXISTS temp."_engage_area_update"')
    return changed
