"""The embedded store: one OGC GeoPackage 1.4 file that QGIS and GDAL open directly.

Layout
------
* The GeoPackage core tables (``gpkg_spatial_ref_sys``, ``gpkg_contents``,
  ``gpkg_geometry_columns``, ``gpkg_extensions``), ``PRAGMA application_id``
  ``GPKG`` and ``PRAGMA user_version`` 10400.
* One table per :data:`geo.schemas.TABLES` entry. Tables with points are
  feature layers whose ``geom`` (POINT, EPSG:4326) is the table's *first*
  (main) point, with an R-tree spatial index (``gpkg_rtree_index``) kept by
  the standard triggers; tables without points are attribute tables.
  Every table has ``fid INTEGER PRIMARY KEY AUTOINCREMENT``, the schema's
  columns, and ``ingested_at``; a unique index on the key and B-tree
  indexes on the time column, every ``<prefix>h3``, every ``<prefix>ward``
  and ``(lat, lng)`` of the main point.
* ``runs`` (attributes): provenance of every analysis or ingest run.
* ``engage_features`` (a feature layer of any geometry type, EPSG:4326, with
  its R-tree): imported areas, gazetteer places and base layers, see
  :mod:`geo.store.features`.
* ``engage_meta`` (not a layer): the store's schema version and settings
  (the study area).

Values at rest
--------------
Timestamps are ISO-8601 UTC text ``YYYY-MM-DDTHH:MM:SS.fffZ`` (millisecond
precision, the GeoPackage DATETIME form, so text order is time order);
booleans are 0/1; H3 cells are signed 64-bit integers at resolution 12.

Concurrency
-----------
The file keeps SQLite's rollback journal (no ``-wal`` side files, so the
GeoPackage stays one file). Staging goes to TEMP tables and takes no lock on
the file; :meth:`_Writer.finish` takes the write lock with ``BEGIN
IMMEDIATE`` and waits up to :data:`BUSY_TIMEOUT_S` for another writer, so two
ingests of the same file run one after the other rather than fail.

A first load (a writer's first frame for a table of at least
:data:`FIRST_LOAD_MIN_ROWS` rows, the table empty) instead takes the write
lock at once, if it is free, and holds it to the commit: rows go straight
into the table with its indexes (the key's unique index too) and R-tree
triggers dropped, and :meth:`_Writer.finish` builds them again, the key's
first. The R-tree is packed and written as whole nodes
(:mod:`geo.store.gpkg_rtree`), its leaves cut in H3 order. A writer that
finds the lock taken stages as usual, so two writers never both load
directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import math
import sqlite3
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

import geo
import geo.store.firstload as firstload
import geo.store.gpkg_features as gpkg_features
import geo.store.gpkg_rtree as gpkg_rtree
from geo.errors import StoreError, ValidationError
from geo.schemas import TABLES, Column, Table
from geo.store.base import Area, Keep, UpsertResult, Window
from geo.store.features import (
    FEATURES_TABLE,
    BBox,
    check_area_update,
    check_family_kind,
    check_meta_key,
    conform_features,
)
from geo.store.frames import INGESTED_AT, conform_columns
from geo.store.query import (
    Filters,
    Read,
    check_chunk_size,
    check_count,
    check_keep,
    check_kept,
    check_read,
    compared_columns,
    known_table,
    parent_bits,
    staged_rows,
)
from geo.store.sender import Sender

SCHEMA_VERSION = 2
"""Version of this store's table layout, kept in ``engage_meta``.

1. The five tables, ``runs`` and ``engage_meta``.
2. Every point gains ``<prefix>neighbourhood`` and ``<prefix>beat``; the
   ``engage_features`` layer (imported areas, gazetteer, base layers).
"""

GPKG_APPLICATION_ID = 0x47504B47
"""``PRAGMA application_id`` of a GeoPackage (ASCII ``GPKG``)."""

GPKG_USER_VERSION = 10400
"""``PRAGMA user_version`` of GeoPackage 1.4.0."""

SRS_ID = 4326
"""WGS84 lat/lng, the SRS of every geometry column."""

STORE_CACHE_KIB = -65_536
"""SQLite ``cache_size`` of a store connection (negative: KiB; 64 MiB)."""

BUSY_TIMEOUT_S = 600.0
"""Seconds a connection waits for another writer's lock before failing."""

FIRST_LOAD_CACHE_KIB = -16_384
"""SQLite ``cache_size`` (negative: KiB) during a first load (16 MiB).

A first load keeps its new pages dirty until the commit; SQLite spills them to
the file once they fill the cache, and sorts for CREATE INDEX in as much memory
again. A smaller cache than the store's usual one keeps that beside the
chunk being inserted well under the memory limit."""

SORT_THREADS = 2
"""Helper threads of SQLite's sorter while a first load builds its indexes."""

RTREE_CHUNK_ROWS = 65_536
"""Points read at a time to pack a first load's R-tree."""

FIRST_LOAD_MIN_ROWS = 50_000
"""Rows of a writer's first frame for a table from which an empty table is loaded directly.

The writer takes the store's write lock at once (if free), drops the table's
secondary indexes and R-tree triggers, inserts straight into the table and
builds them again in :meth:`_Writer.finish`: one transaction."""

RUNS_TABLE = "runs"
META_TABLE = "engage_meta"

_KEY_CHUNK = 10_000
"""Keys bound per ``IN (...)`` query."""

_SQL_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "BOOLEAN",
    "timestamp": "DATETIME",
    "h3": "INTEGER",
}

_WKB_POINT_LEN = 21
"""Bytes of a 2D little-endian WKB point: order (1), type (4), x (8), y (8)."""

_GPB_HEADER = b"GP" + bytes((0, 0b0000_0001)) + struct.pack("<i", SRS_ID)
"""GeoPackage binary header: magic, version 0, flags (little endian, no
envelope, not empty, standard binary), srs_id."""

_GPB_POINT = np.dtype(
    [("head", "u1", (8,)), ("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")]
)
"""A GeoPackage point blob: the 8-byte header, then WKB (29 bytes, no padding)."""

_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
    'AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],'
    'AUTHORITY["EPSG","4326"]]'
)

_DESCRIPTIONS = {
    "episodes": "Missing-from-home episodes; geometry is the last-seen point.",
    "venues": "Venues linked to exploitation intelligence.",
    "venue_reports": "Dated, 3x5x2-graded intelligence reports about venues.",
    "disruptions": "Disruption actions at places (may lack a point).",
    "incidents": "Other geocoded events used as context.",
    RUNS_TABLE: "Every analysis or ingest run: parameters, outputs, code version.",
    FEATURES_TABLE: "Imported areas, gazetteer places and base layers (family, kind, code).",
}


# --------------------------------------------------------------------------- SQL text


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _main_prefix(table: Table) -> str | None:
    """Column prefix of the table's main point (the geometry), None without points."""
    return table.points[0] if table.points else None


def _core_ddl() -> list[str]:
    """GeoPackage core tables (spec 1.4, annex C), created when missing."""
    return [
        """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
)""",
        """CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE,
  min_y DOUBLE,
  max_x DOUBLE,
  max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
)""",
        """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
)""",
        """CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT,
  column_name TEXT,
  extension_name TEXT NOT NULL,
  definition TEXT NOT NULL,
  scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
)""",
    ]


_SRS_ROWS = (
    (
        "Undefined cartesian SRS",
        -1,
        "NONE",
        -1,
        "undefined",
        "undefined cartesian coordinate reference system",
    ),
    (
        "Undefined geographic SRS",
        0,
        "NONE",
        0,
        "undefined",
        "undefined geographic coordinate reference system",
    ),
    (
        "WGS 84 geodetic",
        SRS_ID,
        "EPSG",
        SRS_ID,
        _WGS84_WKT,
        "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid",
    ),
)


def _table_ddl(table: Table) -> list[str]:
    """CREATE statements for one schema table and its B-tree indexes."""
    t = table.name
    cols = ['"fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL']
    if table.points:
        cols.append('"geom" POINT')
    for c in table.columns:
        cols.append(f"{_q(c.name)} {_SQL_TYPES[c.kind]}{'' if c.nullable else ' NOT NULL'}")
    cols.append(f"{_q(INGESTED_AT)} DATETIME NOT NULL")
    body = ",\n  ".join(cols)
    out = [f"CREATE TABLE IF NOT EXISTS {_q(t)} (\n  {body}\n)"]
    key_index = _q(f"{t}_{table.key}_key")
    out.append(f"CREATE UNIQUE INDEX IF NOT EXISTS {key_index} ON {_q(t)} ({_q(table.key)})")
    indexed: list[str] = []
    if table.time_column:
        indexed.append(table.time_column)
    for p in table.points:
        indexed += [f"{p}h3", f"{p}ward"]
    for name in indexed:
        out.append(f"CREATE INDEX IF NOT EXISTS {_q(f'{t}_{name}_idx')} ON {_q(t)} ({_q(name)})")
    main = _main_prefix(table)
    if main is not None:
        out.append(
            f"CREATE INDEX IF NOT EXISTS {_q(f'{t}_{main}latlng_idx')} "
            f"ON {_q(t)} ({_q(f'{main}lat')}, {_q(f'{main}lng')})"
        )
    return out


def _rtree_ddl(t: str, c: str = "geom", i: str = "fid") -> list[str]:
    """The R-tree and its seven maintenance triggers (GeoPackage 1.4, F.3)."""
    r = f"rtree_{t}_{c}"
    qt, qc, qi, qr = _q(t), _q(c), _q(i), _q(r)
    env = f"ST_MinX(NEW.{qc}), ST_MaxX(NEW.{qc}), ST_MinY(NEW.{qc}), ST_MaxY(NEW.{qc})"
    new_ok = f"(NEW.{qc} NOTNULL AND NOT ST_IsEmpty(NEW.{qc}))"
    new_empty = f"(NEW.{qc} ISNULL OR ST_IsEmpty(NEW.{qc}))"
    old_ok = f"(OLD.{qc} NOTNULL AND NOT ST_IsEmpty(OLD.{qc}))"
    old_empty = f"(OLD.{qc} ISNULL OR ST_IsEmpty(OLD.{qc}))"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {qr} USING rtree(id, minx, maxx, miny, maxy)",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_insert')} AFTER INSERT ON {qt} "
        f"WHEN (new.{qc} NOT NULL AND NOT ST_IsEmpty(NEW.{qc})) BEGIN "
        f"INSERT OR REPLACE INTO {qr} VALUES (NEW.{qi}, {env}); END",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_update6')} AFTER UPDATE OF {qc} ON {qt} "
        f"WHEN OLD.{qi} = NEW.{qi} AND {new_ok} AND {old_ok} BEGIN "
        f"UPDATE {qr} SET minx = ST_MinX(NEW.{qc}), maxx = ST_MaxX(NEW.{qc}), "
        f"miny = ST_MinY(NEW.{qc}), maxy = ST_MaxY(NEW.{qc}) WHERE id = NEW.{qi}; END",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_update7')} AFTER UPDATE OF {qc} ON {qt} "
        f"WHEN OLD.{qi} = NEW.{qi} AND {new_ok} AND {old_empty} BEGIN "
        f"INSERT INTO {qr} VALUES (NEW.{qi}, {env}); END",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_update2')} AFTER UPDATE OF {qc} ON {qt} "
        f"WHEN OLD.{qi} = NEW.{qi} AND {new_empty} BEGIN "
        f"DELETE FROM {qr} WHERE id = OLD.{qi}; END",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_update5')} AFTER UPDATE ON {qt} "
        f"WHEN OLD.{qi} != NEW.{qi} AND {new_ok} BEGIN "
        f"DELETE FROM {qr} WHERE id = OLD.{qi}; "
        f"INSERT OR REPLACE INTO {qr} VALUES (NEW.{qi}, {env}); END",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_update4')} AFTER UPDATE ON {qt} "
        f"WHEN OLD.{qi} != NEW.{qi} AND {new_empty} BEGIN "
        f"DELETE FROM {qr} WHERE id IN (OLD.{qi}, NEW.{qi}); END",
        f"CREATE TRIGGER IF NOT EXISTS {_q(r + '_delete')} AFTER DELETE ON {qt} "
        f"WHEN old.{qc} NOT NULL BEGIN DELETE FROM {qr} WHERE id = OLD.{qi}; END",
    ]


_RUNS_DDL = f"""CREATE TABLE IF NOT EXISTS {RUNS_TABLE} (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  kind TEXT NOT NULL,
  created_at DATETIME NOT NULL,
  params TEXT NOT NULL,
  outputs TEXT NOT NULL,
  code_version TEXT NOT NULL
)"""

_META_DDL = f"""CREATE TABLE IF NOT EXISTS {META_TABLE} (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
)"""


# ------------------------------------------------------------ GeoPackage geometry blobs


def point_blobs(lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """GeoPackage binary points (EPSG:4326), None where either coordinate is missing.

    Parameters
    ----------
    lat, lng
        Degrees, same length; NaN marks a missing point.

    Returns
    -------
    Object array of ``bytes`` (8-byte header ``GP``, version 0, flags
    little-endian without envelope, srs_id 4326, then 21 bytes of WKB) or None.
    """
    la = np.asarray(lat, dtype=np.float64)
    ln = np.asarray(lng, dtype=np.float64)
    out = np.full(la.size, None, dtype=object)
    ok = np.isfinite(la) & np.isfinite(ln)
    n = int(ok.sum())
    if n == 0:
        return out
    # Header and WKB laid out by a packed record type: no geometry objects made.
    rec = np.zeros(n, dtype=_GPB_POINT)
    rec["head"] = np.frombuffer(_GPB_HEADER, dtype=np.uint8)
    rec["order"] = 1  # little endian
    rec["type"] = 1  # Point
    rec["x"] = ln[ok]
    rec["y"] = la[ok]
    # Each record viewed as opaque bytes: tolist() gives one bytes object per point
    # (trailing zero bytes kept, unlike a fixed-width bytes dtype).
    blobs = np.empty(n, dtype=object)
    blobs[:] = rec.view(np.dtype((np.void, _GPB_POINT.itemsize))).tolist()
    out[ok] = blobs
    return out


_ENVELOPE_DOUBLES = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}


_OWN_POINT_PREFIX = _GPB_HEADER + b"\x01\x01\x00\x00\x00"
"""Header and WKB prefix (little endian, type 1) of the points this store writes."""
_XY = struct.Struct("<2d")


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage geometry blob; None if null or empty.

    The R-tree triggers call this for every written row, so this store's own
    points take a fast path; anything else (QGIS edits) is parsed in full.
    """
    if blob is None:
        return None
    if len(blob) == len(_OWN_POINT_PREFIX) + 16 and blob.startswith(_OWN_POINT_PREFIX):
        x, y = _XY.unpack_from(blob, len(_OWN_POINT_PREFIX))
        if x != x or y != y:  # NaN: an empty point
            return None
        return (x, x, y, y)
    return _envelope_any(blob)


def _envelope_any(blob: bytes) -> tuple[float, float, float, float] | None:
    """:func:`_envelope` for any GeoPackage binary geometry."""
    if len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b1_0000:
        return None
    order = "<" if flags & 1 else ">"
    kind = (flags >> 1) & 0b111
    ndouble = _ENVELOPE_DOUBLES.get(kind)
    if ndouble is None:
        return None
    if ndouble:
        minx, maxx, miny, maxy = struct.unpack_from(order + "4d", blob, 8)
        return (minx, maxx, miny, maxy)
    wkb = bytes(blob[8:])
    if len(wkb) == _WKB_POINT_LEN:
        worder = "<" if wkb[0] == 1 else ">"
        (wtype,) = struct.unpack_from(worder + "I", wkb, 1)
        if wtype == 1:
            x, y = struct.unpack_from(worder + "2d", wkb, 5)
            if math.isnan(x) or math.isnan(y):
                return None
            return (x, x, y, y)
    geom = shapely.from_wkb(wkb)
    if geom is None or geom.is_empty:
        return None
    x0, y0, x1, y1 = geom.bounds
    return (x0, x1, y0, y1)


def _register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions the GeoPackage R-tree triggers call.

    A trigger calls ``ST_IsEmpty`` then the four extents on the same blob, so
    the last envelope is remembered (one entry per connection).
    """
    last: list[tuple[bytes | None, tuple[float, float, float, float] | None]] = [(None, None)]

    def envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
        seen, env = last[0]
        if blob is not None and blob == seen:
            return env
        env = _envelope(blob)
        last[0] = (blob, env)
        return env

    def is_empty(blob: bytes | None) -> int | None:
        return None if blob is None else int(envelope(blob) is None)

    def part(index: int) -> Callable[[bytes | None], float | None]:
        def f(blob: bytes | None) -> float | None:
            env = envelope(blob)
            return None if env is None else env[index]

        return f

    conn.create_function("ST_IsEmpty", 1, is_empty, deterministic=True)
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(name, 1, part(i), deterministic=True)


# ----------------------------------------------------------------- value conversions


def _iso_ms(values: pd.Series) -> npt.NDArray[np.object_]:
    """UTC timestamps as ``YYYY-MM-DDTHH:MM:SS.fffZ`` text (None for NaT), vectorised."""
    ts = values
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    ms = ts.to_numpy().astype("datetime64[ms]")
    nat = np.isnat(ms)
    text = np.char.add(np.datetime_as_string(ms, unit="ms"), "Z").astype(object)
    text[nat] = None
    return text


def _iso_bound(value: datetime) -> str:
    """A window bound as stored text, rounded up to the stored millisecond.

    Stored times are whole milliseconds, so ``t >= ceil(start)`` and
    ``t < ceil(end)`` are exact for the half-open window ``[start, end)``.
    """
    ts = pd.Timestamp(value).tz_convert("UTC").ceil("ms")
    return _iso_ms(pd.Series([ts]))[0]


def _now_iso() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _bind_values(col: Column, values: pd.Series) -> npt.NDArray[np.object_] | list[Any]:
    """A conformed column as Python values SQLite can bind (None for missing)."""
    if col.kind == "text":
        return values.to_numpy(dtype=object)
    if col.kind == "int":
        return values.to_numpy(dtype=np.int64).tolist()
    if col.kind == "float":
        arr = values.to_numpy(dtype=np.float64)
        out = arr.astype(object)
        out[np.isnan(arr)] = None
        return out
    if col.kind in ("bool", "h3"):
        nullable: Any = values  # pandas-stubs reject na_value=None
        return nullable.to_numpy(dtype=object, na_value=None)
    if col.kind == "timestamp":
        return _iso_ms(values)
    msg = f"unknown column kind {col.kind!r}"  # pragma: no cover - schema contract
    raise AssertionError(msg)


def _from_sql(kind: str, values: Sequence[Any]) -> Any:
    """One fetched column (a tuple of Python values) as an array of its canonical kind."""
    if kind == "int":
        return np.array(values, dtype=np.int64)
    if kind == "float":
        return np.array(values, dtype=np.float64)
    if kind == "bool":
        return pd.array(values, dtype="boolean")
    if kind == "h3":
        return pd.array(values, dtype="Int64")
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _json_default(value: Any) -> Any:
    """JSON for the values analysis parameters hold beyond plain JSON types."""
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    msg = f"cannot record a value of type {type(value).__name__} in a run: {value!r}"
    raise ValidationError(msg)


# ----------------------------------------------------------------------------- store


class GpkgStore:
    """A :class:`geo.store.base.Store` in one GeoPackage file.

    Parameters
    ----------
    path
        The ``.gpkg`` file. Opening does not create it; :meth:`init` does.

    Notes
    -----
    One object holds one SQLite connection. Threads may share it: calls are
    serialised, and an open :meth:`writer` block holds the object until it
    ends (a :meth:`record_run` inside that block joins its transaction).
    For parallel work, give each thread or process its own ``GpkgStore``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self._conn: sqlite3.Connection | None = None
        self._checked = False
        self._writing = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"GpkgStore({self.url!r})"

    def __enter__(self) -> GpkgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ connection

    def _connection(self, *, create: bool = False) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        if not create and not self.path.exists():
            msg = (
                f"no store at {self.path}. Create it first with "
                f"`engage init --store {self.path}` (GpkgStore.init())."
            )
            raise StoreError(msg)
        if create and not self.path.parent.is_dir():
            msg = f"cannot create store {self.path}: folder {self.path.parent} does not exist."
            raise StoreError(msg)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            msg = f"cannot open store {self.path}: {exc}."
            raise StoreError(msg) from exc
        _register_functions(conn)
        try:
            conn.execute(f"PRAGMA cache_size = {STORE_CACHE_KIB}")
            conn.execute("PRAGMA temp_store = FILE")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._not_gpkg(exc) from exc
        self._conn = conn
        return conn

    def _not_gpkg(self, reason: object) -> StoreError:
        msg = (
            f"{self.path} is not a GeoPackage ({reason}). Point --store at an Engage "
            "GeoPackage, or at a new .gpkg path to create one."
        )
        return StoreError(msg)

    def _inspect(self, conn: sqlite3.Connection) -> tuple[int, set[str], int | None]:
        """(application_id, table names, stored schema version or None)."""
        try:
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            names = {
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                )
            }
            version = None
            if META_TABLE in names:
                row = conn.execute(
                    f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
                ).fetchone()
                version = int(row[0]) if row is not None else None
        except sqlite3.DatabaseError as exc:
            raise self._not_gpkg(exc) from exc
        except ValueError as exc:
            msg = f"{self.path}: unreadable schema version in `{META_TABLE}` ({exc})."
            raise StoreError(msg) from exc
        return app_id, names, version

    def _check(self, conn: sqlite3.Connection, *, for_init: bool) -> None:
        """Refuse files that are not GeoPackages or are from a newer schema."""
        app_id, names, version = self._inspect(conn)
        if app_id != GPKG_APPLICATION_ID and not (app_id == 0 and not names):
            raise self._not_gpkg(f"SQLite application_id is {app_id:#x}, not 'GPKG'")
        if version is not None and version > SCHEMA_VERSION:
            msg = (
                f"{self.path} was written by a newer Engage Hotspots (store schema "
                f"{version}; this version reads up to {SCHEMA_VERSION}). Upgrade "
                "engage-hotspots to open it."
            )
            raise StoreError(msg)
        if version is None:
            clash = sorted(names & ({*TABLES, RUNS_TABLE}))
            if clash:
                msg = (
                    f"{self.path} is a GeoPackage that already has layers {clash} but "
                    "is not an Engage store; choose another file."
                )
                raise StoreError(msg)
            if not for_init:
                msg = (
                    f"{self.path} is not an initialised Engage store. Run "
                    f"`engage init --store {self.path}` (GpkgStore.init()) first."
                )
                raise StoreError(msg)
        elif version < SCHEMA_VERSION and not for_init:
            msg = (
                f"{self.path} was written by an earlier Engage Hotspots (store schema {version}; "
                f"this version uses {SCHEMA_VERSION}). Run `engage init --store {self.path}` "
                "once to upgrade it: every row is kept."
            )
            raise StoreError(msg)

    def _open(self) -> sqlite3.Connection:
        conn = self._connection()
        if not self._checked:
            self._check(conn, for_init=False)
            self._checked = True
        return conn

    # ------------------------------------------------------------------------ init

    def init(self) -> None:
        """Create the GeoPackage and every table, index and trigger; safe to repeat.

        Raises
        ------
        StoreError
            The file is not a GeoPackage, belongs to something else, or was
            written by a newer schema version.
        """
        with self._lock:
            conn = self._connection(create=True)
            self._check(conn, for_init=True)
            try:
                conn.execute("BEGIN IMMEDIATE")
                self._check(conn, for_init=True)
                self._create(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._checked = True

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {GPKG_USER_VERSION}")
        for sql in _core_ddl():
            conn.execute(sql)
        conn.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys (srs_name, srs_id, organization, "
            "organization_coordsys_id, definition, description) VALUES (?, ?, ?, ?, ?, ?)",
            _SRS_ROWS,
        )
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        now = _now_iso()
        for table in TABLES.values():
            for sql in _table_ddl(table):
                conn.execute(sql)
            features = bool(table.points)
            conn.execute(
                "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                "description, last_change, srs_id) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    table.name,
                    "features" if features else "attributes",
                    table.name,
                    _DESCRIPTIONS.get(table.name, ""),
                    now,
                    SRS_ID if features else None,
                ),
            )
            if not features:
                continue
            conn.execute(
                "INSERT OR IGNORE INTO gpkg_geometry_columns (table_name, column_name, "
                "geometry_type_name, srs_id, z, m) VALUES (?, 'geom', 'POINT', ?, 0, 0)",
                (table.name, SRS_ID),
            )
            rtree = f"rtree_{table.name}_geom"
            for sql in _rtree_ddl(table.name):
                conn.execute(sql)
            if rtree not in existing:
                conn.execute(
                    f"INSERT OR REPLACE INTO {_q(rtree)} SELECT fid, ST_MinX(geom), ST_MaxX(geom), "
                    f"ST_MinY(geom), ST_MaxY(geom) FROM {_q(table.name)} "
                    "WHERE geom NOT NULL AND NOT ST_IsEmpty(geom)"
                )
            conn.execute(
                "INSERT OR IGNORE INTO gpkg_extensions (table_name, column_name, extension_name, "
                "definition, scope) VALUES (?, 'geom', 'gpkg_rtree_index', "
                "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                (table.name,),
            )
        conn.execute(_RUNS_DDL)
        conn.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
            "description, last_change) VALUES (?, 'attributes', ?, ?, ?)",
            (RUNS_TABLE, RUNS_TABLE, _DESCRIPTIONS[RUNS_TABLE], now),
        )
        conn.execute(_META_DDL)
        conn.executemany(
            f"INSERT OR IGNORE INTO {META_TABLE} (key, value) VALUES (?, ?)",
            [
                ("schema_version", str(SCHEMA_VERSION)),
                ("created_at", now),
                ("created_by", f"engage-hotspots {geo.__version__}"),
            ],
        )
        _migrate(conn)
        gpkg_features.create(conn, now, _rtree_ddl(FEATURES_TABLE))
        conn.execute(
            f"UPDATE {META_TABLE} SET value = ? WHERE key = 'schema_version' "
            "AND CAST(value AS INTEGER) < ?",
            (str(SCHEMA_VERSION), SCHEMA_VERSION),
        )

    # ---------------------------------------------------------------------- writes

    @contextmanager
    def writer(self) -> Iterator[_Writer]:
        """One transaction: commit on clean exit, roll back on any exception.

        Staged rows not yet upserted when the block exits cleanly are
        upserted then (as if :meth:`_Writer.finish` had been called).
        """
        with self._lock:
            if self._writing:
                msg = "this store already has an open writer; finish that `with` block first."
                raise StoreError(msg)
            conn = self._open()
            self._writing = True
            w = _Writer(conn, self.path)
            try:
                yield w
                if not w.finished:
                    w.finish()
                elif w._ops:
                    w.apply_ops()
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except BaseException:
                w.abort_sender()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._writing = False
                w.drop_staging()

    def record_run(self, kind: str, params: dict[str, Any], outputs: dict[str, Any]) -> int:
        """Record an analysis or ingest run; returns its id.

        Parameters
        ----------
        kind
            What ran (``ingest``, ``weekly``, ``tune``...).
        params, outputs
            JSON-serialisable mappings (datetimes, paths and numpy scalars are
            converted).
        """
        if not kind:
            msg = "a run needs a non-empty `kind`."
            raise ValidationError(msg)
        p = json.dumps(params, default=_json_default, sort_keys=True)
        o = json.dumps(outputs, default=_json_default, sort_keys=True)
        with self._lock:
            conn = self._open()
            cur = conn.execute(
                f"INSERT INTO {RUNS_TABLE} (kind, created_at, params, outputs, code_version) "
                "VALUES (?, ?, ?, ?, ?)",
                (kind, _now_iso(), p, o, geo.__version__),
            )
            run_id = cur.lastrowid
        assert run_id is not None
        return int(run_id)

    def runs(self) -> pd.DataFrame:
        """Every recorded run, oldest first: id, kind, created_at, params, outputs, code_version."""
        with self._lock:
            rows = (
                self._open()
                .execute(
                    f"SELECT id, kind, created_at, params, outputs, code_version "
                    f"FROM {RUNS_TABLE} ORDER BY id"
                )
                .fetchall()
            )
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        return pd.DataFrame(
            {
                "id": np.array(cols[0], dtype=np.int64),
                "kind": _from_sql("text", cols[1]),
                "created_at": pd.to_datetime(
                    pd.Series(_from_sql("text", cols[2]), dtype=object), utc=True, format="ISO8601"
                ).astype("datetime64[ns, UTC]"),
                "params": _from_sql("text", [json.loads(v) for v in cols[3]]),
                "outputs": _from_sql("text", [json.loads(v) for v in cols[4]]),
                "code_version": _from_sql("text", cols[5]),
            }
        )

    # ----------------------------------------------------------------------- reads

    def count(self, table: Table) -> int:
        """Rows in ``table``."""
        t = _known(table)
        with self._lock:
            return int(self._open().execute(f"SELECT count(*) FROM {_q(t.name)}").fetchone()[0])

    def time_bounds(self, table: Table) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Earliest and latest value (UTC) of the table's time column, from its index.

        Two one-row index look-ups (:func:`_bounds_sql`), whatever the table's size.
        """
        t = _known(table)
        with self._lock:
            lo, hi = self._open().execute(_bounds_sql(t)).fetchone()
        return (
            None if lo is None else pd.Timestamp(lo).tz_convert("UTC"),
            None if hi is None else pd.Timestamp(hi).tz_convert("UTC"),
        )

    def existing_keys(self, table: Table, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are already stored in ``table`` (queried in chunks)."""
        t = _known(table)
        wanted = list(dict.fromkeys(str(k) for k in keys))
        found: set[str] = set()
        with self._lock:
            conn = self._open()
            for i in range(0, len(wanted), _KEY_CHUNK):
                chunk = wanted[i : i + _KEY_CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {_q(t.key)} FROM {_q(t.name)} WHERE {_q(t.key)} IN ({marks})"
                found.update(r[0] for r in conn.execute(sql, chunk))
        return found

    def read(
        self,
        table: Table,
        *,
        window: Window | None = None,
        area: Area | None = None,
        cells: Iterable[int] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` in a time window, an area and a set of H3 cells, ordered by key.

        Parameters
        ----------
        window
            Half-open ``[start, end)`` on the table's time column.
        area
            Ward (code or name), bbox or polygon, tested on the main point.
        cells
            H3 cells at resolutions 0-12; a row matches when its main point's
            res-12 cell descends from one of them.
        columns
            Columns to return (default every column and ``ingested_at``).
        """
        t = _known(table)
        args = check_read(t, window=window, area=area, cells=cells, columns=columns)
        names = args.columns
        with self._lock:
            conn = self._open()
            if args.matches_nothing:
                return _to_frame(t, names, [])
            sql, query, select = _read_sql(t, args, conn)
            rows = conn.execute(sql, query.params).fetchall()
        frame = _to_frame(t, select, rows)
        if query.post is not None:
            frame = frame[query.post(frame)].reset_index(drop=True)
        return frame[names]

    def read_plan(
        self,
        table: Table,
        *,
        window: Window | None = None,
        area: Area | None = None,
        cells: Iterable[int] | None = None,
        columns: list[str] | None = None,
    ) -> list[str]:
        """SQLite's plan (``EXPLAIN QUERY PLAN`` lines) for :meth:`read` with these arguments.

        Shows whether a window is found by the time column's index
        (``SEARCH m USING INDEX <table>_<time>_idx``) or by a scan.
        """
        t = _known(table)
        args = check_read(t, window=window, area=area, cells=cells, columns=columns)
        if args.matches_nothing:
            return []
        with self._lock:
            conn = self._open()
            sql, query, _ = _read_sql(t, args, conn)
            return _plan_lines(conn, sql, query.params)

    def time_bounds_plan(self, table: Table) -> list[str]:
        """SQLite's plan for :meth:`time_bounds` (two index look-ups, no scan)."""
        t = _known(table)
        with self._lock:
            return _plan_lines(self._open(), _bounds_sql(t), [])

    def counts_by_cell(
        self,
        table: Table,
        res: int,
        *,
        window: Window | None = None,
        area: Area | None = None,
        point: str | None = None,
    ) -> pd.DataFrame:
        """Rows by H3 cell at resolution ``res`` (7-12): columns ``h3``, ``n`` (int64).

        ``point`` picks the point counted (default the main one); ``area``
        is tested on that same point. Rows whose point is null are not counted.
        """
        t = _known(table)
        res, prefix, filters = check_count(t, res, window=window, area=area, point=point)
        h3col = f"{prefix}h3"
        clear, setbits = parent_bits(res)
        with self._lock:
            conn = self._open()
            query = _Query(filters, conn)
            query.where_parts.append(f"m.{_q(h3col)} IS NOT NULL")
            if query.post is None:
                sql = (
                    f"SELECT (m.{_q(h3col)} & ?) | ? AS cell, count(*) FROM {query.source()} "
                    f"WHERE {query.where()} GROUP BY cell ORDER BY cell"
                )
                rows = conn.execute(sql, [clear, setbits, *query.params]).fetchall()
                cols = list(zip(*rows, strict=True)) if rows else [(), ()]
                return pd.DataFrame(
                    {
                        "h3": np.array(cols[0], dtype=np.int64),
                        "n": np.array(cols[1], dtype=np.int64),
                    }
                )
            select = [h3col, *query.needs]
            sql = (
                f"SELECT {', '.join('m.' + _q(c) for c in select)} FROM {query.source()} "
                f"WHERE {query.where()}"
            )
            rows = conn.execute(sql, query.params).fetchall()
        frame = _to_frame(t, select, rows)
        frame = frame[query.post(frame)]
        h3 = frame[h3col].to_numpy(dtype=np.int64)
        parents = (h3 & np.int64(clear)) | np.int64(setbits)
        cell, n = np.unique(parents, return_counts=True)
        return pd.DataFrame({"h3": cell.astype(np.int64), "n": n.astype(np.int64)})

    def iter_rows(self, table: Table, *, chunk_size: int = 100_000) -> Iterator[pd.DataFrame]:
        """Every row of ``table`` in key order, ``chunk_size`` rows at a time."""
        t = _known(table)
        chunk_size = check_chunk_size(chunk_size)
        names = [*t.column_names, INGESTED_AT]
        select = ", ".join(_q(c) for c in names)
        key = _q(t.key)
        last: str | None = None
        while True:
            with self._lock:
                conn = self._open()
                if last is None:
                    sql = f"SELECT {select} FROM {_q(t.name)} ORDER BY {key} LIMIT ?"
                    rows = conn.execute(sql, (chunk_size,)).fetchall()
                else:
                    sql = (
                        f"SELECT {select} FROM {_q(t.name)} WHERE {key} > ? ORDER BY {key} LIMIT ?"
                    )
                    rows = conn.execute(sql, (last, chunk_size)).fetchall()
            if not rows:
                return
            yield _to_frame(t, names, rows)
            if len(rows) < chunk_size:
                return
            last = rows[-1][names.index(t.key)]

    # ------------------------------------------------------ features and settings

    def features(
        self, family: str, kind: str | None = None, *, bbox: BBox | None = None
    ) -> gpd.GeoDataFrame:
        """Stored features of a family (and kind) whose bounding box meets ``bbox``.

        Columns ``family, kind, code, name, type, geometry`` (WGS84), ordered by
        kind and code; see :mod:`geo.store.features`.
        """
        with self._lock:
            return gpkg_features.read(self._open(), family, kind, bbox)

    def feature_kinds(self) -> pd.DataFrame:
        """What is stored: ``family, kind, n, updated_at``, one row per kind."""
        with self._lock:
            return gpkg_features.kinds(self._open())

    def meta(self, key: str) -> str | None:
        """A store setting (:data:`geo.store.features.META_KEYS`), None when unset."""
        with self._lock:
            return gpkg_features.get_meta(self._open(), key)

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._checked = False


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring tables made by an earlier layout up to :data:`SCHEMA_VERSION`.

    Every step is idempotent (a column is added only when missing), so the
    stored version number only needs to move forward afterwards.
    """
    for table in TABLES.values():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({_q(table.name)})")}
        for col in table.columns:
            if col.name not in have:
                if not col.nullable:  # pragma: no cover - new columns are nullable
                    msg = f"cannot add NOT NULL column `{col.name}` to `{table.name}`"
                    raise StoreError(msg)
                conn.execute(
                    f"ALTER TABLE {_q(table.name)} ADD COLUMN {_q(col.name)} {_SQL_TYPES[col.kind]}"
                )


# ---------------------------------------------------------------------------- writer


class _Writer:
    """Stages frames into TEMP tables; :meth:`finish` upserts them in one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._db = conn  # only through _conn, but for the first load's insert thread
        self._path = path
        self._staged: dict[str, Table] = {}
        self._keep: dict[str, Keep] = {}
        self._kept: dict[str, tuple[str, ...]] = {}
        self._ops: list[Callable[[sqlite3.Connection], object]] = []
        self.finished = False
        self._decided: set[str] = set()
        self._created: set[str] = set()
        self._first: dict[str, _FirstLoad] = {}
        self._locked = False  # this writer holds the write lock (an open transaction)
        self._sender: Sender | None = None  # a first load's inserts, on a thread of their own

    @property
    def first_load(self) -> frozenset[str]:
        """Tables this writer is loading straight into (empty and locked when first staged)."""
        return frozenset(self._first)

    @property
    def _conn(self) -> sqlite3.Connection:
        """The writer's connection, once a first load's queued inserts (if any) are done.

        The insert thread uses the connection while inserts are queued; every
        other use comes through here, so no statement runs between theirs.
        """
        self._end_sender()
        return self._db

    @staticmethod
    def _stage_name(table: Table) -> str:
        return f'temp."_stage_{table.name}"'

    def stage(
        self,
        table: Table,
        frame: pd.DataFrame,
        *,
        keep: Keep = "last",
        kept_columns: Sequence[str] = (),
    ) -> None:
        """Stage rows (columns ``table.column_names``) for upsert.

        ``keep`` picks the version of a key that is stored (see
        :meth:`geo.store.base.Writer.stage`): the last staged row, or the one
        with the earliest time. ``kept_columns`` keep their stored values.

        Raises
        ------
        ValidationError
            Columns are missing, a required column is empty, or ``keep`` or
            ``kept_columns`` is unknown or differs from how the table was staged.
        """
        t = _known(table)
        if self.finished:
            msg = "cannot stage after `finish()`; open a new `store.writer()` block."
            raise StoreError(msg)
        keep = check_keep(t, keep, self._keep.get(t.name))
        kept = check_kept(t, kept_columns, self._kept.get(t.name))
        rows = staged_rows(t, frame)
        if t.name not in self._decided:
            self._decided.add(t.name)
            if len(rows) >= FIRST_LOAD_MIN_ROWS:
                self._begin_first_load(t)
        self._keep[t.name] = keep
        self._kept[t.name] = kept
        load = self._first.get(t.name)
        if load is None:
            self._stage_rows(t, rows, keep)
            return
        # Straight into the table, but for keys met before in this load: those
        # are staged and resolved by the keep rule in finish().
        again = load.seen.add(rows[t.key].to_numpy(dtype=object))
        if again.any():
            self._stage_rows(t, rows[again], keep)
            load.staged = True
            rows = rows[~again]
        if self._sender is None:
            self._sender = Sender(_run_each, name="engage-gpkg-insert")
        try:  # an earlier chunk's insert may have failed on the sender's thread
            self._sender.send(functools.partial(self._insert_rows, t, rows, load.now))
        except sqlite3.Error as exc:
            raise self._rows_error(exc) from exc

    def _rows_error(self, exc: sqlite3.Error) -> StoreError:
        msg = (
            f"could not store rows in {self._path} ({exc}); "
            "the whole write is rolled back and nothing was stored."
        )
        return StoreError(msg)

    def _insert_rows(self, t: Table, rows: pd.DataFrame, now: str) -> None:
        """Insert conformed rows straight into ``t`` (a first load; run by the sender)."""
        names, columns = _bind_rows(t, rows)
        names.append(INGESTED_AT)
        columns.append(itertools.repeat(now))
        self._db.executemany(
            f"INSERT INTO main.{_q(t.name)} ({', '.join(_q(n) for n in names)}) "
            f"VALUES ({', '.join('?' * len(names))})",
            zip(*columns, strict=False),
        )

    def _end_sender(self) -> None:
        """Wait for the first load's queued inserts; raise their error, if any."""
        if self._sender is not None:
            sender, self._sender = self._sender, None
            try:
                sender.close()
            except sqlite3.Error as exc:
                raise self._rows_error(exc) from exc

    def abort_sender(self) -> None:
        """Drop the first load's queued inserts and wait (the transaction rolls back after)."""
        if self._sender is not None:
            sender, self._sender = self._sender, None
            sender.abort()

    def _stage_rows(self, t: Table, rows: pd.DataFrame, keep: Keep) -> None:
        """Insert rows into ``t``'s TEMP staging table (made on first use)."""
        names, columns = _bind_rows(t, rows)
        stage = self._stage_name(t)
        conn = self._conn
        if not self._locked:
            conn.execute("BEGIN")  # temp tables only: no lock on the store file
        try:
            if t.name not in self._created:
                defs = [
                    f"{_q(c.name)} {_SQL_TYPES[c.kind]}"
                    + (" PRIMARY KEY" if c.name == t.key else "")
                    for c in t.columns
                ]
                if t.points:
                    defs.append('"geom" BLOB')
                conn.execute(f"DROP TABLE IF EXISTS {stage}")
                conn.execute(f"CREATE TEMP TABLE {stage.split('.', 1)[1]} ({', '.join(defs)})")
                self._created.add(t.name)
                if t.name not in self._first:
                    self._staged[t.name] = t
            marks = ", ".join("?" * len(names))
            sets = ", ".join(f"{_q(n)} = excluded.{_q(n)}" for n in names if n != t.key)
            # A key staged again: the later row replaces the staged one, unless the
            # earliest version is kept and the later row is later in time.
            when = ""
            if keep == "earliest":
                time = _q(t.time_column)
                when = f" WHERE excluded.{time} <= {stage}.{time}"
            conn.executemany(
                f"INSERT INTO {stage} ({', '.join(_q(n) for n in names)}) VALUES ({marks}) "
                f"ON CONFLICT ({_q(t.key)}) DO UPDATE SET {sets}{when}",
                zip(*columns, strict=True),
            )
            if not self._locked:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction and not self._locked:
                conn.execute("ROLLBACK")
            raise

    def _begin_first_load(self, t: Table) -> None:
        """Take the first-load path for ``t`` if the write lock is free and ``t`` is empty.

        The lock is tried without waiting; a writer that cannot have it at once
        stages as usual (and waits for the lock in :meth:`finish`).
        """
        conn = self._conn
        took = False
        if not self._locked:
            conn.execute("PRAGMA busy_timeout = 0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                return
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._locked = took = True
        empty = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM main.{_q(t.name)})").fetchone()[0]
        if not empty:
            if took:
                conn.execute("ROLLBACK")
                self._locked = False
            return
        # The key's unique index goes too, and comes back first: building it once
        # sorts the keys once, where keeping it live inserts each key in file order.
        # The load inserts each key at most once (a key met again is staged).
        key_index = f"{t.name}_{t.key}_key"
        indexes = conn.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL ORDER BY name",
            (t.name,),
        ).fetchall()
        triggers = conn.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
            "AND name LIKE ? ORDER BY name",
            (t.name, f"rtree_{t.name}_geom_%"),
        ).fetchall()
        conn.execute(f"PRAGMA cache_size = {FIRST_LOAD_CACHE_KIB}")
        for name, _ in indexes:
            conn.execute(f"DROP INDEX main.{_q(name)}")
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER main.{_q(name)}")
        self._first[t.name] = _FirstLoad(
            [sql for name, sql in indexes if name != key_index],
            [sql for _, sql in triggers],
            _now_iso(),
            next((sql for name, sql in indexes if name == key_index), None),
        )

    def _finish_first_load(self, t: Table) -> UpsertResult:
        """Build the indexes, the R-tree and its triggers of a directly loaded table."""
        load = self._first[t.name]
        conn = self._conn
        if load.key_index is not None:
            conn.execute(load.key_index)  # first: the update below looks keys up
        if load.staged:
            # Each repeated key's kept later version (resolved in staging) against its
            # first row (in the table): the later one, unless the earliest is kept
            # and it is later in time. An UPDATE: fids stay as a staged upsert gives them.
            cols = list(t.column_names) + (["geom"] if t.points else [])
            sets = ", ".join(f"{_q(c)} = s.{_q(c)}" for c in cols if c != t.key)
            when = ""
            if self._keep.get(t.name) == "earliest":
                time = _q(t.time_column)
                when = f" AND s.{time} <= m.{time}"
            conn.execute(
                f"UPDATE main.{_q(t.name)} AS m SET {sets} FROM {self._stage_name(t)} AS s "
                f"WHERE m.{_q(t.key)} = s.{_q(t.key)}{when}"
            )
        # Each index build sorts the whole table: with helper threads, SQLite's
        # sorter sorts its runs on both cores.
        conn.execute(f"PRAGMA threads = {SORT_THREADS}")
        try:
            for sql in load.indexes:
                conn.execute(sql)
        finally:
            conn.execute("PRAGMA threads = 0")
        conn.execute(f"PRAGMA cache_size = {STORE_CACHE_KIB}")
        main = _main_prefix(t)
        if main is not None:
            # The R-tree is empty (its triggers were dropped with the table empty) and
            # receives every point at once: packed, and written as whole nodes. Its
            # leaves are cut in H3 order (neighbours together), read in chunks, so
            # memory stays bounded. A point's envelope is the point: its lng and lat,
            # as ST_MinX ... give them.
            rtree = f"rtree_{t.name}_geom"
            conn.execute(f"DELETE FROM main.{_q(rtree)}")
            lng, lat, h3 = _q(main + "lng"), _q(main + "lat"), _q(main + "h3")
            cur = conn.execute(
                f"SELECT fid, {lng}, {lat} FROM main.{_q(t.name)} "
                # "+": SQLite's sorter (bounded by the cache, spilling to temporary
                # files) is faster here than looking each row up from the H3 index.
                f"WHERE geom IS NOT NULL ORDER BY +{h3}, fid"
            )
            gpkg_rtree.pack_sorted(conn, rtree, _rtree_points(cur))
        for sql in load.triggers:
            conn.execute(sql)
        stored = conn.execute(f"SELECT count(*) FROM main.{_q(t.name)}").fetchone()[0]
        return UpsertResult(int(stored), 0, 0, 0)

    def put_features(
        self, family: str, kind: str, frame: pd.DataFrame, *, replace: bool = True
    ) -> int:
        """Stage features of (family, kind); written by :meth:`finish` (see the protocol)."""
        check_family_kind(family, kind)
        rows = conform_features(frame)
        self._ops.append(lambda conn: gpkg_features.put(conn, family, kind, rows, replace))
        return len(rows)

    def set_meta(self, key: str, value: str) -> None:
        """Stage a store setting; written by :meth:`finish`."""
        check_meta_key(key)
        self._ops.append(lambda conn: gpkg_features.set_meta(conn, key, str(value)))

    def set_areas(
        self, table: Table, column: str, keys: Sequence[str], codes: Sequence[Any]
    ) -> None:
        """Stage new area codes of stored rows (by key) in one area column."""
        frame = check_area_update(table, column, keys, codes)
        self._ops.append(lambda conn: gpkg_features.set_areas(conn, table, [(column, frame)]))

    def finish(self) -> dict[str, UpsertResult]:
        """Take the write lock and upsert everything staged (commit on block exit).

        Returns
        -------
        Per staged table: rows inserted (new key), updated (new ``content_hash``)
        and unchanged (same hash; ``ingested_at`` kept).
        """
        if self.finished:
            msg = "`finish()` was already called for this writer."
            raise StoreError(msg)
        self.finished = True
        conn = self._conn  # queued inserts done, or their error raised
        if not self._locked:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                msg = (
                    f"could not lock {self._path} for writing within {BUSY_TIMEOUT_S:.0f} s: {exc}."
                )
                raise StoreError(msg) from exc
            self._locked = True
        now = _now_iso()
        results: dict[str, UpsertResult] = {}
        loads = {name: TABLES[name] for name in self._first}
        for name, table in [*self._staged.items(), *loads.items()]:
            try:
                if name in self._first:
                    results[name] = self._finish_first_load(table)
                else:
                    results[name] = self._upsert(table, now)
                if results[name].inserted or results[name].updated:
                    conn.execute(
                        "UPDATE gpkg_contents SET last_change = ? WHERE table_name = ?",
                        (now, name),
                    )
            except sqlite3.Error as exc:
                msg = (
                    f"could not store `{name}` in {self._path} ({exc}); "
                    "the whole write is rolled back and nothing was stored."
                )
                raise StoreError(msg) from exc
        self.apply_ops()
        return results

    def apply_ops(self) -> None:
        """Write the staged features, settings and area codes (inside the lock)."""
        try:
            for op in self._ops:
                op(self._conn)
        except sqlite3.Error as exc:
            msg = (
                f"could not store features or settings in {self._path} ({exc}); "
                "the whole write is rolled back and nothing was stored."
            )
            raise StoreError(msg) from exc
        self._ops.clear()

    def _upsert(self, table: Table, now: str) -> UpsertResult:
        conn = self._conn
        stage = self._stage_name(table)
        t, key = _q(table.name), _q(table.key)
        # A stored row later than the staged one is kept only under keep="earliest";
        # times are ISO-8601 UTC text of one width, so text order is time order.
        later = "false"
        if self._keep[table.name] == "earliest":
            later = f"s.{_q(table.time_column)} > m.{_q(table.time_column)}"
        inserted = conn.execute(
            f"SELECT count(*) FROM {stage} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM main.{t} m WHERE m.{key} = s.{key})"
        ).fetchone()[0]
        kept = self._kept.get(table.name, ())
        changed = _differs(table, kept, "m", "s")
        updated, unchanged, kept_earlier = conn.execute(
            f"SELECT coalesce(sum(({changed}) AND NOT ({later})), 0), "
            f"coalesce(sum(NOT ({changed}) OR ({later})), 0), coalesce(sum({later}), 0) "
            f"FROM {stage} s JOIN main.{t} m ON m.{key} = s.{key}"
        ).fetchone()
        cols = list(table.column_names) + (["geom"] if table.points else [])
        main = _main_prefix(table)
        written = [c for c in cols if c not in kept and not (c == "geom" and f"{main}lat" in kept)]
        target = ", ".join(_q(c) for c in [*cols, INGESTED_AT])
        source = ", ".join(_q(c) for c in cols)
        sets = ", ".join(
            f"{_q(c)} = excluded.{_q(c)}" for c in [*written, INGESTED_AT] if c != table.key
        )
        when = _differs(table, kept, t, "excluded")
        if self._keep[table.name] == "earliest":
            time = _q(table.time_column)
            when += f" AND excluded.{time} <= {t}.{time}"
        cur = conn.execute(
            f"INSERT INTO main.{t} ({target}) SELECT {source}, ? FROM {stage} WHERE true "
            f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {when}",
            (now,),
        )
        if cur.rowcount != inserted + updated:  # pragma: no cover - consistency guard
            msg = (
                f"upsert into `{table.name}` changed {cur.rowcount} rows, expected "
                f"{inserted + updated}; nothing was stored."
            )
            raise StoreError(msg)
        return UpsertResult(int(inserted), int(updated), int(unchanged), int(kept_earlier))

    def drop_staging(self) -> None:
        """Drop the TEMP staging tables (after commit or rollback)."""
        for name in self._created:
            with contextlib.suppress(sqlite3.Error):  # connection already closed
                self._conn.execute(f'DROP TABLE IF EXISTS temp."_stage_{name}"')
        self._created.clear()
        if self._first:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute(f"PRAGMA cache_size = {STORE_CACHE_KIB}")
        self._staged.clear()
        self._keep.clear()
        self._kept.clear()
        self._first.clear()
        self._locked = False


@dataclasses.dataclass
class _FirstLoad:
    """A first load in progress: indexes and triggers to build again, keys met, its time."""

    indexes: list[str]
    triggers: list[str]
    now: str
    key_index: str | None
    seen: firstload.SeenKeys = dataclasses.field(default_factory=firstload.SeenKeys)
    staged: bool = False


def _run_each(items: Iterator[object]) -> None:
    """A sender's body: call each item."""
    for item in items:
        item()  # type: ignore[operator]


def _rtree_points(cur: sqlite3.Cursor) -> Iterator[gpkg_rtree.Chunk]:
    """Chunks of ``(fid, lng, lat)`` rows as R-tree entries (a point is its own box)."""
    dtype = [("fid", np.int64), ("lng", np.float64), ("lat", np.float64)]
    while rows := cur.fetchmany(RTREE_CHUNK_ROWS):
        points = np.array(rows, dtype=dtype)
        yield points["fid"], points["lng"], points["lng"], points["lat"], points["lat"]


def _bind_rows(t: Table, rows: pd.DataFrame) -> tuple[list[str], list[Any]]:
    """Column names and bindable values of conformed rows (``geom`` built from lat/lng)."""
    columns = [_bind_values(c, rows[c.name]) for c in t.columns]
    names = list(t.column_names)
    main = _main_prefix(t)
    if main is not None:
        columns.append(point_blobs(rows[f"{main}lat"].to_numpy(), rows[f"{main}lng"].to_numpy()))
        names.append("geom")
    return names, columns


def _differs(table: Table, kept: tuple[str, ...], old: str, new: str) -> str:
    """SQL: the row ``new`` changes the stored row ``old`` (both aliases).

    Its ``content_hash`` differs; with kept columns, one of the other columns
    differs too, since the hash of a row staged without some columns says
    nothing about the stored values of the rest.
    """
    h = '"content_hash"'
    test = f"{old}.{h} IS NOT {new}.{h}"
    if not kept:
        return test
    compared = compared_columns(table, kept)
    return (
        test + " AND (" + " OR ".join(f"{old}.{_q(c)} IS NOT {new}.{_q(c)}" for c in compared) + ")"
    )


# ------------------------------------------------------------------------ query parts


class _Query:
    """WHERE clauses shared by :meth:`GpkgStore.read` and :meth:`GpkgStore.counts_by_cell`.

    Built from filters already checked by :mod:`geo.store.query`.
    """

    def __init__(self, filters: Filters, conn: sqlite3.Connection) -> None:
        self.table = filters.table
        self.conn = conn
        self.where_parts: list[str] = []
        self.params: list[Any] = []
        self.needs: list[str] = []
        self.post: Callable[[pd.DataFrame], np.ndarray] | None = None
        self.join_cells = False
        self._window(filters)
        self._area(filters)

    def source(self) -> str:
        if self.join_cells:
            return f"temp._cells c CROSS JOIN main.{_q(self.table.name)} m"
        return f"main.{_q(self.table.name)} m"

    def where(self) -> str:
        return " AND ".join(self.where_parts) if self.where_parts else "true"

    def _window(self, filters: Filters) -> None:
        col = _q(self.table.time_column)
        if filters.start is not None:
            self.where_parts.append(f"m.{col} >= ?")
            self.params.append(_iso_bound(filters.start))
        if filters.end is not None:
            self.where_parts.append(f"m.{col} < ?")
            self.params.append(_iso_bound(filters.end))

    def _area(self, filters: Filters) -> None:
        prefix = filters.point
        if filters.ward is not None:
            assert prefix is not None
            self.where_parts.append(f"m.{_q(prefix + 'ward')} = ?")
            self.params.append(filters.ward)
            return
        area = filters.area
        if area is None:
            return
        assert prefix is not None
        bounds = area.bounds()
        assert bounds is not None
        x0, y0, x1, y1 = bounds
        lat, lng = f"{prefix}lat", f"{prefix}lng"
        self.where_parts.append(f"m.{_q(lat)} BETWEEN ? AND ? AND m.{_q(lng)} BETWEEN ? AND ?")
        self.params += [y0, y1, x0, x1]
        if area.polygon is not None:
            self.needs += [lat, lng]

            def inside(frame: pd.DataFrame) -> np.ndarray:
                return area.contains(
                    frame[lng].to_numpy(dtype=np.float64), frame[lat].to_numpy(dtype=np.float64)
                )

            self.post = inside

    def cells(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """Restrict to the main point's res-12 cells in the inclusive ranges ``lo..hi``."""
        prefix = _main_prefix(self.table)
        assert prefix is not None
        conn = self.conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _cells (lo INTEGER NOT NULL, hi INTEGER NOT NULL)"
        )
        conn.execute("DELETE FROM temp._cells")
        conn.executemany(
            "INSERT INTO temp._cells (lo, hi) VALUES (?, ?)",
            zip(lo.tolist(), hi.tolist(), strict=True),
        )
        self.where_parts.append(f"m.{_q(prefix + 'h3')} BETWEEN c.lo AND c.hi")
        self.join_cells = True


# --------------------------------------------------------------------------- helpers


def _read_sql(table: Table, args: Read, conn: sqlite3.Connection) -> tuple[str, _Query, list[str]]:
    """The SELECT of a checked read, its query parts, and the columns it selects."""
    query = _Query(args.filters, conn)
    if args.ranges is not None:
        query.cells(*args.ranges)
    select = args.columns + [c for c in query.needs if c not in args.columns]
    # Ordered by the key index, SQLite would walk the whole table in key order rather
    # than sort what a filter finds (with one bound, it guesses a quarter of the rows
    # match); ``+`` makes the key an expression no index orders, so a window (or an
    # area) is found by its own index and sorted afterwards.
    order = f"{'+' if query.where_parts else ''}m.{_q(table.key)}"
    sql = (
        f"SELECT {', '.join('m.' + _q(c) for c in select)} FROM {query.source()} "
        f"WHERE {query.where()} ORDER BY {order}"
    )
    return sql, query, select


def _plan_lines(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[str]:
    """``EXPLAIN QUERY PLAN`` of ``sql`` as text lines, indented by depth."""
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", list(params)).fetchall()
    depth: dict[int, int] = {0: -1}
    out = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        out.append("  " * depth[node] + str(detail))
    return out


def _bounds_sql(table: Table) -> str:
    """The earliest and latest time of ``table`` as two scalar subqueries.

    SQLite answers a lone ``min()`` or ``max()`` of an indexed column from one
    end of the index, but ``SELECT min(c), max(c)`` together walks the whole
    index; one subquery each keeps both to a single look-up.
    """
    col, name = _q(table.time_column), _q(table.name)
    return f"SELECT (SELECT min({col}) FROM {name}), (SELECT max({col}) FROM {name})"


def _known(table: Table) -> Table:
    """The store's spec for ``table`` (or for a table's name); a clear error for anything else."""
    return known_table(TABLES.get(str(getattr(table, "name", table)), table))


def _to_frame(table: Table, names: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Fetched rows (columns ``names``) as a conformed frame in canonical dtypes."""
    kinds = {c.name: c.kind for c in table.columns}
    kinds[INGESTED_AT] = "timestamp"
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    raw = pd.DataFrame({n: _from_sql(kinds[n], v) for n, v in zip(names, cols, strict=True)})
    return conform_columns(table, raw, names)
