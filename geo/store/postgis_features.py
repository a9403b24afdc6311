"""The PostGIS side of :mod:`geo.store.features`: ``engage_features`` and ``engage_meta``.

Features are written as WKB through COPY into a temporary table and merged
with one statement, inside the writer's transaction; reads filter by the
bounding-box columns (and the GIST index on the geometry serves spatial SQL).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from geo.schemas import Table
from geo.store.features import (
    BBox,
    bounds,
    check_bbox,
    check_family_kind,
    check_meta_key,
    to_frame,
)


def _t(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def put(
    conn: psycopg.Connection[Any],
    schema: str,
    family: str,
    kind: str,
    rows: pd.DataFrame,
    replace: bool,
) -> int:
    """Write conformed feature rows in the caller's transaction."""
    table = _t(schema, "engage_features")
    if replace:
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE family = %s AND kind = %s").format(table), [family, kind]
        )
    if rows.empty:
        return 0
    geoms = rows["geometry"].to_numpy()
    b = bounds(geoms)
    wkb = np.char.add("\\x", shapely.to_wkb(geoms, hex=True, output_dimension=2).astype(str))
    conn.execute(
        'CREATE TEMP TABLE IF NOT EXISTS engage_stage_features (code text COLLATE "C", '
        "name text, type text, wkb bytea, min_lng float8, min_lat float8, max_lng float8, "
        "max_lat float8) ON COMMIT DROP"
    )
    conn.execute("TRUNCATE engage_stage_features")
    staged = pd.DataFrame(
        {
            "code": rows["code"].to_numpy(dtype=object),
            "name": rows["name"].to_numpy(dtype=object),
            "type": rows["type"].to_numpy(dtype=object),
            "wkb": wkb,
            "min_lng": b[:, 0],
            "min_lat": b[:, 1],
            "max_lng": b[:, 2],
            "max_lat": b[:, 3],
        }
    )
    _copy_csv(
        conn,
        "COPY engage_stage_features (code, name, type, wkb, min_lng, min_lat, max_lng, max_lat) "
        "FROM STDIN (FORMAT csv)",
        staged,
    )
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (family, kind, code, name, type, geom, min_lng, min_lat, max_lng, "
            "max_lat, updated_at) SELECT %s, %s, code, name, type, "
            "ST_SetSRID(ST_GeomFromWKB(wkb), 4326), min_lng, min_lat, max_lng, max_lat, now() "
            "FROM engage_stage_features ON CONFLICT (family, kind, code) DO UPDATE SET "
            "name = excluded.name, type = excluded.type, geom = excluded.geom, "
            "min_lng = excluded.min_lng, min_lat = excluded.min_lat, "
            "max_lng = excluded.max_lng, max_lat = excluded.max_lat, updated_at = now()"
        ).format(table),
        [family, kind],
    )
    return len(rows)


def read(
    conn: psycopg.Connection[Any], schema: str, family: str, kind: str | None, bbox: BBox | None
) -> gpd.GeoDataFrame:
    check_family_kind(family, kind)
    box = check_bbox(bbox)
    where = [sql.SQL("family = %s")]
    args: list[Any] = [family]
    if kind is not None:
        where.append(sql.SQL("kind = %s"))
        args.append(kind)
    if box is not None:
        where.append(sql.SQL("max_lng >= %s AND min_lng <= %s AND max_lat >= %s AND min_lat <= %s"))
        args += [box[0], box[2], box[1], box[3]]
    rows = conn.execute(
        sql.SQL(
            "SELECT family, kind, code, name, type, ST_AsBinary(geom) FROM {} WHERE {} "
            "ORDER BY kind, code"
        ).format(_t(schema, "engage_features"), sql.SQL(" AND ").join(where)),
        args,
    ).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    geoms = (
        np.asarray(shapely.from_wkb([bytes(v) for v in cols[5]]), dtype=object)
        if rows
        else np.array([], dtype=object)
    )
    return to_frame(cols[0], cols[1], cols[2], cols[3], cols[4], geoms)


def kinds(conn: psycopg.Connection[Any], schema: str) -> pd.DataFrame:
    rows = conn.execute(
        sql.SQL(
            "SELECT family, kind, count(*), max(updated_at) FROM {} GROUP BY family, kind "
            "ORDER BY family, kind"
        ).format(_t(schema, "engage_features"))
    ).fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [()] * 4
    return pd.DataFrame(
        {
            "family": pd.Series(cols[0], dtype=object),
            "kind": pd.Series(cols[1], dtype=object),
            "n": np.asarray(cols[2], dtype=np.int64),
            "updated_at": pd.to_datetime(pd.Series(cols[3], dtype=object), utc=True),
        }
    )


def get_meta(conn: psycopg.Connection[Any], schema: str, key: str) -> str | None:
    check_meta_key(key)
    row = conn.execute(
        sql.SQL("SELECT value FROM {} WHERE key = %s").format(_t(schema, "engage_meta")), [key]
    ).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: psycopg.Connection[Any], schema: str, key: str, value: str) -> None:
    check_meta_key(key)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ).format(_t(schema, "engage_meta")),
        [key, value],
    )


def set_areas(
    conn: psycopg.Connection[Any], schema: str, table: Table, column: str, frame: pd.DataFrame
) -> int:
    """Set one area column of stored rows by key; returns the rows changed."""
    conn.execute(
        'CREATE TEMP TABLE IF NOT EXISTS engage_stage_areas (k text COLLATE "C", v text) '
        "ON COMMIT DROP"
    )
    conn.execute("TRUNCATE engage_stage_areas")
    _copy_csv(
        conn, "COPY engage_stage_areas (k, v) FROM STDIN (FORMAT csv)", frame[["key", "code"]]
    )
    cur = conn.execute(
        sql.SQL(
            "UPDATE {t} AS m SET {c} = u.v FROM engage_stage_areas u "
            "WHERE m.{k} = u.k AND m.{c} IS DISTINCT FROM u.v"
        ).format(t=_t(schema, table.name), c=sql.Identifier(column), k=sql.Identifier(table.key))
    )
    return max(cur.rowcount, 0)


def _copy_csv(conn: psycopg.Connection[Any], statement: str, frame: pd.DataFrame) -> None:
    """COPY a frame in CSV (None as NULL; text quoted as needed), one buffer, no row loop."""
    text = frame.to_csv(header=False, index=False, na_rep="", float_format="%.17g")
    with conn.cursor().copy(statement) as copy:
        copy.write(text.encode("utf-8"))
