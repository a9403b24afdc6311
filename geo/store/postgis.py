"""The server store: the tables of :mod:`geo.schemas` in one PostgreSQL schema with PostGIS.

``PostgisStore("postgresql://user@host:5432/db?schema=engage")`` keeps every
table in the schema named by the URL's ``schema`` parameter (default
``engage``). Nothing connects until the first call; then a small connection
pool (``psycopg_pool``) serves every call and :meth:`PostgisStore.close`
releases it.

Layout
------
* Versioned SQL migrations in ``geo/store/migrations/postgis/NNN_name.sql``,
  applied in order by :meth:`PostgisStore.init` under a transaction-scoped
  advisory lock and recorded in ``<schema>.schema_migrations``.
* Points are stored as lat/lng, a res-12 H3 cell (BIGINT) and a
  ``<prefix>geom geometry(Point, 4326)`` built from lat/lng on write, with GIST
  indexes on the geometries and B-tree indexes on cells, wards and times.
* Writes stream each frame through binary ``COPY ... FROM STDIN`` (built from
  whole columns by :mod:`geo.store.pgcopy`, chunk by chunk, so encoding
  overlaps the server's work) into a temporary staging table, then one
  ``INSERT ... ON CONFLICT DO UPDATE`` per table upserts the kept staged
  version of each key (the last, or the earliest in time), touching only rows
  whose ``content_hash`` changed.
* First load: when a writer's first frame for a table has at least
  :data:`BULK_LOAD_MIN_ROWS` rows and the table is empty, the writer locks
  the table, drops its indexes (the primary key too, unless a foreign key
  references it) and copies rows straight into it (geometry included)
  through one COPY that stays open while the caller checks its next chunk
  (:mod:`geo.store.pgstream`); only a key met again in the same load is
  staged, and :meth:`PostgisWriter.finish` adds the key back, resolves those
  by the keep rule and builds the other indexes again. All in the writer's
  one transaction.
* Reads run ``COPY (SELECT ...) TO STDOUT`` and parse the CSV with Arrow, so
  no Python code runs per row in either direction.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

import geo
import geo.store.firstload as firstload
import geo.store.pgcopy as pgcopy
import geo.store.pgstream as pgstream
import geo.store.postgis_features as postgis_features
from geo.errors import StoreError, ValidationError
from geo.schemas import TABLES, Column, Table
from geo.store.base import Area, Keep, UpsertResult, Window
from geo.store.features import (
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
    check_window,
    compared_columns,
    known_table,
    parent_bits,
    staged_rows,
)
from geo.store.query import merge_ranges as merge_ranges

DEFAULT_SCHEMA = "engage"
"""Schema used when the URL names none."""

CONNECT_TIMEOUT_S = 5
"""Seconds to wait for the server to answer a new connection (unless the URL sets one)."""

POOL_TIMEOUT_S = 30.0
"""Seconds a call waits for a free pooled connection before failing."""

POOL_MAX_SIZE = 4
"""Most connections one store holds open at once."""

COPY_CHUNK_ROWS = 50_000
"""Rows formatted and sent per COPY chunk; the server parses one while the next is formatted."""

BULK_LOAD_MIN_ROWS = 50_000
"""Rows from which a load into an empty table takes the first-load path (indexes built once).

Checked on a writer's first frame for a table (straight COPY into the table)
and on the staged rows at :meth:`PostgisWriter.finish` (one insert from
staging)."""

UPSERT_WORK_MEM = "128MB"
"""``work_mem`` for the writer's transaction, so upsert sorts stay in memory."""

_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_RE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_SCHEMA_PLACEHOLDER = "@schema@"
_MIGRATION_LOCK = 0x656E_6761_6765
"""Advisory lock key ("engage" in ASCII) held while the extension and migrations are applied."""
_BULK_LOCK_CLASS = 0x656E67
"""First key of the per-table advisory lock taken before a bulk first load ("eng")."""

_PG_STAGE_TYPES: dict[str, sql.SQL] = {
    "text": sql.SQL("text"),
    "int": sql.SQL("bigint"),
    "float": sql.SQL("double precision"),
    "bool": sql.SQL("boolean"),
    # Staged as UTC wall time: Arrow formats naive timestamps ten times faster
    # than zoned ones. The upsert turns them back with AT TIME ZONE 'UTC'.
    "timestamp": sql.SQL("timestamp"),
    "h3": sql.SQL("bigint"),
}

_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
    "h3": pa.int64(),
}

_INGESTED = Column(INGESTED_AT, "timestamp", False)


# --------------------------------------------------------------------------- URLs


def split_url(url: str) -> tuple[str, str]:
    """Split a store URL into a libpq connection URL and the schema name.

    Parameters
    ----------
    url
        ``postgresql://user[:password]@host[:port]/db[?schema=name&...]``. The
        ``schema`` parameter (default :data:`DEFAULT_SCHEMA`) is removed, since
        libpq rejects parameters it does not know; the others are kept.

    Returns
    -------
    tuple of str
        ``(conninfo, schema)``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        msg = f"store URL `{redact_url(url)}` must start with postgresql://."
        raise ValidationError(msg)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    rest = [(key, value) for key, value in query if key != "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_RE.fullmatch(schema):
        msg = (
            f"`schema` must be lower-case letters, digits and underscores, starting with a "
            f"letter or underscore, at most 63 characters; got {schema!r}. "
            "Pass ?schema=engage or another plain name."
        )
        raise ValidationError(msg)
    conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
    return conninfo, schema


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


# --------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file of ``geo/store/migrations/postgis``."""

    version: int
    name: str
    text: str

    def render(self, schema: str) -> bytes:
        """The SQL with the (validated, quoted) schema name in place of the placeholder."""
        if not _SCHEMA_RE.fullmatch(schema):  # pragma: no cover - checked by split_url
            msg = f"unsafe schema name {schema!r}"
            raise ValidationError(msg)
        return self.text.replace(_SCHEMA_PLACEHOLDER, f'"{schema}"').encode()


def migrations() -> list[Migration]:
    """Every packaged PostGIS migration, in version order."""
    folder = resources.files("geo.store").joinpath("migrations", "postgis")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_RE.fullmatch(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or not found:
        msg = f"PostGIS migrations missing or numbered twice: {versions}. Reinstall the package."
        raise StoreError(msg)
    return found


# ------------------------------------------------------------------------ helpers


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    msg = f"cannot store a {type(value).__name__} ({value!r}) as JSON"
    raise TypeError(msg)


def _json_dumps(value: Any) -> str:
    try:
        return json.dumps(value, default=_json_default, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        msg = (
            f"run record is not JSON ({exc}). Pass numbers, strings, lists and dicts; "
            "NaN and infinity are not allowed."
        )
        raise ValidationError(msg) from exc


def _read_csv(data: bytes | bytearray, columns: list[Column]) -> pd.DataFrame:
    """Parse ``COPY ... TO STDOUT (FORMAT csv)`` output into a frame (not yet conformed)."""
    names = [c.name for c in columns]
    if not data:
        return pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
    convert = pacsv.ConvertOptions(
        column_types={c.name: _ARROW_TYPES[c.kind] for c in columns},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    parsed = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=convert,
    )
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return parsed.to_pandas(types_mapper=mapping.get)


# -------------------------------------------------------------------------- store


def window_filters(spec: Table, window: Window | None) -> tuple[list[sql.Composable], list[Any]]:
    """WHERE conditions on ``t.<time column>`` for a half-open window, and their parameters."""
    return _time_filters(spec, *check_window(spec, window))


def _time_filters(
    spec: Table, start: datetime | None, end: datetime | None
) -> tuple[list[sql.Composable], list[Any]]:
    """WHERE conditions on ``t.<time column>`` for checked window bounds, and their parameters."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    if start is None and end is None:
        return where, params
    tcol = sql.Identifier("t", spec.time_column)
    if start is not None:
        where.append(sql.SQL("{} >= %s").format(tcol))
        params.append(start)
    if end is not None:
        where.append(sql.SQL("{} < %s").format(tcol))
        params.append(end)
    return where, params


class PostgisStore:
    """The tables of :mod:`geo.schemas` in a PostgreSQL schema with PostGIS.

    Parameters
    ----------
    url
        ``postgresql://user[:password]@host[:port]/db[?schema=name]``; the
        schema defaults to ``engage``. Nothing connects until the first call.

    Notes
    -----
    Thread-safe: every call borrows a pooled connection (at most
    :data:`POOL_MAX_SIZE`); a writer holds its connection until its block ends.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._safe_url = redact_url(url)
        if urlsplit(url).netloc.count("@") > 1:
            # libpq would take the part after the first @ as the host and print it in its
            # error: a piece of the password. Refuse before connecting, printing none of it.
            msg = (
                f"store URL `{self._safe_url}` has an @ in its user name or password; write "
                "it as %40 (URL-encoded), e.g. postgresql://user:pa%40ss@host/db."
            )
            raise ValidationError(msg)
        self._conninfo, self.schema = split_url(url)
        try:
            given = conninfo_to_dict(self._conninfo)
        except psycopg.ProgrammingError as exc:
            msg = f"store URL `{self._safe_url}` is not a valid PostgreSQL URL ({exc})."
            raise ValidationError(msg) from exc
        self._connect_kwargs: dict[str, Any] = {"autocommit": False}
        if "connect_timeout" not in given:
            self._connect_kwargs["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in given:
            self._connect_kwargs["application_name"] = "engage-hotspots"
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgisStore({self._safe_url!r})"

    # ---------------------------------------------------------- connections

    def _unreachable(self, exc: Exception) -> StoreError:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = (
            f"cannot reach PostgreSQL at {self._safe_url} ({reason}). Start the server "
            "(`make test` installs and starts a local one) or pass the right "
            "`--store postgresql://user@host:port/db` URL."
        )
        return StoreError(msg)

    def _missing_postgis(self) -> StoreError:
        msg = (
            f"PostgreSQL at {self._safe_url} has no PostGIS extension available. Install it "
            "(Debian: `apt-get install postgresql-15-postgis-3`, matching the server's major "
            "version) and run `CREATE EXTENSION postgis`, or run `make test` / `engage init`."
        )
        return StoreError(msg)

    def _probe(self, *, for_init: bool) -> None:
        """One plain connection: is the server there, and is PostGIS usable?"""
        try:
            with psycopg.connect(self._conninfo, **self._connect_kwargs) as conn:
                row = conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis'),"
                    " EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'),"
                    " EXISTS (SELECT 1 FROM information_schema.schemata WHERE schema_name = %s),"
                    " to_regclass(%s) IS NOT NULL",
                    (self.schema, f'"{self.schema}".schema_migrations'),
                ).fetchone()
                applied = 0
                if row and row[3] and not for_init:
                    got = conn.execute(
                        sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(
                            sql.Identifier(self.schema, "schema_migrations")
                        )
                    ).fetchone()
                    applied = int(got[0]) if got else 0
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from exc
        if not for_init and not (row and row[2]):
            msg = (
                f"no Engage store in schema `{self.schema}` of {self._safe_url}. Check "
                "--store (and ?schema=), or create the store with `engage init --store ...`."
            )
            raise StoreError(msg)
        latest = max(m.version for m in migrations())
        if not for_init and row and row[3] and applied < latest:
            msg = (
                f"schema `{self.schema}` at {self._safe_url} was written by an earlier Engage "
                f"Hotspots (migration {applied}; this version needs {latest}). Run "
                "`engage init --store ...` once to upgrade it: every row is kept."
            )
            raise StoreError(msg)
        installed, available = bool(row and row[0]), bool(row and row[1])
        if not installed and not available:
            raise self._missing_postgis()
        if not installed and not for_init:
            msg = (
                f"database at {self._safe_url} has PostGIS available but not created. "
                "Run `engage init` (or `CREATE EXTENSION postgis`) first."
            )
            raise StoreError(msg)

    def _get_pool(self, *, for_init: bool = False) -> ConnectionPool:
        """The pool, opened on first use after a probe that fails fast and clearly."""
        with self._lock:
            if self._pool is None:
                self._probe(for_init=for_init)
                pool = ConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=POOL_MAX_SIZE,
                    kwargs=self._connect_kwargs,
                    open=False,
                    check=ConnectionPool.check_connection,
                    timeout=POOL_TIMEOUT_S,
                    name=f"engage-{self.schema}",
                    num_workers=2,
                )
                try:
                    pool.open(wait=True, timeout=2 * CONNECT_TIMEOUT_S)
                except PoolTimeout as exc:
                    pool.close()
                    raise self._unreachable(exc) from exc
                self._pool = pool
            return self._pool

    @contextmanager
    def _translate(self, action: str) -> Iterator[None]:
        """Turn server-side failures into :class:`StoreError` with a fix."""
        try:
            yield
        except psycopg.errors.UndefinedTable as exc:
            msg = (
                f"schema `{self.schema}` at {self._safe_url} has no store tables "
                f"({exc.diag.message_primary}). Run `engage init --store ...` first."
            )
            raise StoreError(msg) from exc
        except psycopg.errors.IntegrityError as exc:
            msg = (
                f"could not {action} in schema `{self.schema}`: {exc.diag.message_primary}. "
                "The transaction was rolled back and nothing from it was stored."
            )
            raise StoreError(msg) from exc
        except PoolTimeout as exc:
            msg = (
                f"no free connection to {self._safe_url} within {POOL_TIMEOUT_S:.0f} s while "
                f"trying to {action}; close unused writers or raise the server's limits."
            )
            raise StoreError(msg) from exc
        except (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded) as exc:
            msg = (
                f"could not {action} in schema `{self.schema}`: a value cannot be stored "
                f"({exc.diag.message_primary}). The transaction was rolled back and nothing "
                "from it was stored. Ingest quarantines such rows (a NUL character, an id over "
                "200 or a cell over 2,000 characters; docs/data-formats.md)."
            )
            raise StoreError(msg) from exc
        except psycopg.errors.TransactionRollback as exc:
            msg = (
                f"could not {action} in schema `{self.schema}`: it conflicted with a concurrent "
                f"write ({exc.diag.message_primary}). The transaction was rolled back and nothing "
                "from it was stored; run it again."
            )
            raise StoreError(msg) from exc
        except psycopg.OperationalError as exc:
            msg = (
                f"PostgreSQL at {self._safe_url} failed or dropped the connection while trying "
                f"to {action} ({str(exc).strip()}); the transaction was rolled back and nothing "
                "from it was stored. Check the server and run it again."
            )
            raise StoreError(msg) from exc

    @contextmanager
    def _connection(self, action: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in one transaction (commit on success, rollback on error)."""
        pool = self._get_pool()
        with self._translate(action), pool.connection() as conn:
            yield conn

    def _table_id(self, table: Table) -> sql.Identifier:
        return sql.Identifier(self.schema, table.name)

    # ---------------------------------------------------------------- init

    def init(self) -> None:
        """Create the PostGIS extension, the schema and every pending migration.

        Safe to call again and from several processes at once: everything runs
        in one transaction holding an advisory lock, and each migration is
        applied once and recorded in ``schema_migrations``.
        """
        pool = self._get_pool(for_init=True)
        schema = sql.Identifier(self.schema)
        with self._translate("initialise the store"), pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            installed = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'postgis')"
            ).fetchone()
            if not (installed and installed[0]):
                try:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
                except psycopg.errors.UndefinedFile as exc:
                    raise self._missing_postgis() from exc
                except psycopg.errors.InsufficientPrivilege as exc:
                    msg = (
                        f"user in {self._safe_url} may not create the PostGIS extension. "
                        "Ask a superuser to run `CREATE EXTENSION postgis` in that database, "
                        "then run `engage init` again."
                    )
                    raise StoreError(msg) from exc
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(self.schema, "schema_migrations"))
            )
            applied = {
                int(v)
                for (v,) in conn.execute(
                    sql.SQL("SELECT version FROM {}").format(
                        sql.Identifier(self.schema, "schema_migrations")
                    )
                ).fetchall()
            }
            known = migrations()
            newer = sorted(applied - {m.version for m in known})
            if newer:
                msg = (
                    f"schema `{self.schema}` at {self._safe_url} has migrations {newer} that this "
                    f"version of engage-hotspots ({geo.__version__}) does not know. Upgrade the "
                    "package rather than writing with an older one."
                )
                raise StoreError(msg)
            for migration in known:
                if migration.version in applied:
                    continue
                conn.execute(migration.render(self.schema))
                conn.execute(
                    sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(
                        sql.Identifier(self.schema, "schema_migrations")
                    ),
                    [migration.version, migration.name],
                )

    # --------------------------------------------------------------- writes

    @contextmanager
    def writer(self) -> Iterator[PostgisWriter]:
        """A transaction on one pooled connection: commit on clean exit, else roll back.

        Rows staged but not yet upserted when the block ends cleanly are
        upserted before the commit, so nothing staged is silently dropped.
        """
        pool = self._get_pool()
        with self._translate("start a write"):
            conn = pool.getconn()
        done = False
        w: PostgisWriter | None = None
        try:
            with self._translate("write"):
                w = PostgisWriter(self, conn)
                yield w
                if w.pending:
                    w.finish()
                w._end_stream()
                conn.commit()
                done = True
        finally:
            if not done and w is not None:
                w.abort_stream()
            if not done and not conn.closed:
                # If the connection died, the server has rolled back already.
                with suppress(psycopg.Error):
                    conn.rollback()
            pool.putconn(conn)

    # ---------------------------------------------------------------- reads

    def count(self, table: Table) -> int:
        """Rows in ``table``."""
        spec = known_table(table)
        with self._connection(f"count {spec.name}") as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(self._table_id(spec))
            ).fetchone()
        return int(row[0]) if row else 0

    def time_bounds(self, table: Table) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Earliest and latest value (UTC) of the table's time column, from its index."""
        spec = known_table(table)
        query = self._bounds_query(spec)
        with self._connection(f"time bounds of {spec.name}") as conn:
            row = conn.execute(query).fetchone()
        lo, hi = row if row else (None, None)
        return (
            None if lo is None else pd.Timestamp(lo).tz_convert("UTC"),
            None if hi is None else pd.Timestamp(hi).tz_convert("UTC"),
        )

    def existing_keys(self, table: Table, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are already stored in ``table``."""
        spec = known_table(table)
        wanted = sorted({str(k) for k in keys})
        if not wanted:
            return set()
        query = sql.SQL(
            "SELECT t.{key} FROM {t} AS t JOIN unnest(%s::text[]) AS k(key) ON t.{key} = k.key"
        ).format(key=sql.Identifier(spec.key), t=self._table_id(spec))
        with self._connection(f"look up keys in {spec.name}") as conn:
            rows = conn.execute(query, [wanted]).fetchall()
        return {r[0] for r in rows}

    def _filters(self, filters: Filters) -> tuple[list[sql.Composable], list[Any]]:
        """WHERE conditions (ANDed) and their parameters for checked window and area."""
        where, params = _time_filters(filters.table, filters.start, filters.end)
        prefix = filters.point
        if filters.ward is not None:
            where.append(sql.SQL("{} = %s").format(sql.Identifier("t", f"{prefix}ward")))
            params.append(filters.ward)
        elif filters.area is not None:
            area = filters.area
            geom = sql.Identifier("t", f"{prefix}geom")
            if area.bbox is not None:
                where.append(sql.SQL("{} && ST_MakeEnvelope(%s, %s, %s, %s, 4326)").format(geom))
                params.extend(float(v) for v in area.bbox)
            else:
                assert area.polygon is not None
                where.append(sql.SQL("ST_Intersects({}, ST_GeomFromWKB(%s, 4326))").format(geom))
                params.append(shapely.to_wkb(area.polygon))
        return where, params

    @staticmethod
    def _cell_join(prefix: str, lo: np.ndarray, hi: np.ndarray) -> tuple[sql.Composable, list[Any]]:
        """A join against the inclusive res-12 ranges ``lo..hi`` of the point's cell."""
        join = sql.SQL(
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi) ON {} BETWEEN r.lo AND r.hi"
        ).format(sql.Identifier("t", f"{prefix}h3"))
        return join, [lo.tolist(), hi.tolist()]

    def _copy_out(
        self, spec: Table, names: list[str], query: sql.Composable, params: list[Any], action: str
    ) -> pd.DataFrame:
        """Run ``query`` through COPY TO and return its rows as a conformed frame."""
        buf = bytearray()
        with self._connection(action) as conn, conn.cursor() as cur:
            statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
            with cur.copy(statement, params or None) as copy:
                for block in copy:
                    buf += block
        columns = [_INGESTED if n == INGESTED_AT else spec.column(n) for n in names]
        return conform_columns(spec, _read_csv(buf, columns), names)

    def _select_list(self, spec: Table, names: list[str]) -> sql.Composable:
        items: list[sql.Composable] = []
        for name in names:
            kind = "timestamp" if name == INGESTED_AT else spec.column(name).kind
            ident = sql.Identifier("t", name)
            if kind == "timestamp":
                items.append(
                    sql.SQL("({} AT TIME ZONE 'UTC') AS {}").format(ident, sql.Identifier(name))
                )
            else:
                items.append(ident)
        return sql.SQL(", ").join(items)

    def read(
        self,
        table: Table,
        *,
        window: Window | None = None,
        area: Area | None = None,
        cells: Iterable[int] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` in a time window, an area and a set of H3 cells.

        Parameters
        ----------
        table
            One of :data:`geo.schemas.TABLES`.
        window
            Half-open UTC window on the table's time column.
        area
            A ward (stored code, or a Blackburn with Darwen ward name), a bbox
            (``geom && envelope``) or a polygon (``ST_Intersects``), boundary
            included, tested on the table's main point.
        cells
            H3 cells at resolutions 0-12; a row matches when its main point's
            res-12 cell descends from one of them (an index range join on the
            B-tree). An empty set matches nothing.
        columns
            Columns to return (default every column and ``ingested_at``).

        Returns
        -------
        pandas.DataFrame
            Canonical dtypes (:mod:`geo.store.frames`), ordered by key.
        """
        spec = known_table(table)
        args = check_read(spec, window=window, area=area, cells=cells, columns=columns)
        names = args.columns
        if args.matches_nothing:
            return self._copy_out_empty(spec, names)
        query, params = self._read_query(spec, args)
        return self._copy_out(spec, names, query, params, f"read {spec.name}")

    def _read_query(self, spec: Table, args: Read) -> tuple[sql.Composed, list[Any]]:
        """The SELECT of a checked read and its parameters."""
        where, params = self._filters(args.filters)
        join: sql.Composable = sql.SQL("")
        join_params: list[Any] = []
        if args.ranges is not None:
            assert args.filters.point is not None
            join, join_params = self._cell_join(args.filters.point, *args.ranges)
        query = sql.SQL("SELECT {cols} FROM {t} AS t {join} {where} ORDER BY {key}").format(
            cols=self._select_list(spec, args.columns),
            t=self._table_id(spec),
            join=join,
            where=_where(where),
            key=sql.Identifier("t", spec.key),
        )
        return query, join_params + params

    def _bounds_query(self, spec: Table) -> sql.Composed:
        """``min`` and ``max`` of the time column: PostgreSQL reads each from one end of its
        B-tree index (two ``LIMIT 1`` index-only scans), whatever the table's size."""
        return sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(
            c=sql.Identifier(spec.time_column), t=self._table_id(spec)
        )

    def _plan(self, query: sql.Composed, params: list[Any], action: str) -> list[str]:
        with self._connection(action) as conn:
            rows = conn.execute(sql.SQL("EXPLAIN ") + query, params or None).fetchall()
        return [str(r[0]) for r in rows]

    def read_plan(
        self,
        table: Table,
        *,
        window: Window | None = None,
        area: Area | None = None,
        cells: Iterable[int] | None = None,
        columns: list[str] | None = None,
    ) -> list[str]:
        """PostgreSQL's plan (``EXPLAIN`` lines) for :meth:`read` with these arguments.

        Shows whether a window is found by the time column's index (an
        ``Index Scan`` or ``Bitmap Index Scan`` on ``<table>_<time>_idx``) or
        by a ``Seq Scan``. The plan depends on the table's statistics
        (``ANALYZE``, run by autovacuum and after a bulk load).
        """
        spec = known_table(table)
        args = check_read(spec, window=window, area=area, cells=cells, columns=columns)
        if args.matches_nothing:
            return []
        query, params = self._read_query(spec, args)
        return self._plan(query, params, f"plan a read of {spec.name}")

    def time_bounds_plan(self, table: Table) -> list[str]:
        """PostgreSQL's plan for :meth:`time_bounds` (two index look-ups, no scan)."""
        spec = known_table(table)
        return self._plan(self._bounds_query(spec), [], f"plan the time bounds of {spec.name}")

    def _copy_out_empty(self, spec: Table, names: list[str]) -> pd.DataFrame:
        columns = [_INGESTED if n == INGESTED_AT else spec.column(n) for n in names]
        return conform_columns(spec, _read_csv(b"", columns), names)

    def counts_by_cell(
        self,
        table: Table,
        res: int,
        *,
        window: Window | None = None,
        area: Area | None = None,
        point: str | None = None,
    ) -> pd.DataFrame:
        """Counts of rows by H3 cell at resolution ``res`` (7-12).

        The parent cell is computed in SQL with the same bit operations as
        :func:`geo.h3index.cells_to_parent`. ``point`` picks the point prefix to
        count (default the table's main point); ``area`` is tested on that
        same point. Rows whose point is missing are not counted.

        Returns
        -------
        pandas.DataFrame
            ``h3`` (int64) and ``n`` (int64), ordered by ``h3``.
        """
        spec = known_table(table)
        res, prefix, filters = check_count(spec, res, window=window, area=area, point=point)
        h3col = sql.Identifier("t", f"{prefix}h3")
        where, params = self._filters(filters)
        where.insert(0, sql.SQL("{} IS NOT NULL").format(h3col))
        query = sql.SQL(
            "SELECT (({h3} & %s::bigint) | %s::bigint) AS cell,"
            " count(*) AS n FROM {t} AS t {where} GROUP BY cell ORDER BY cell"
        ).format(h3=h3col, t=self._table_id(spec), where=_where(where))
        with self._connection(f"count {spec.name} by cell") as conn:
            rows = conn.execute(query, [*parent_bits(res), *params]).fetchall()
        h3 = np.array([r[0] for r in rows], dtype=np.int64)
        n = np.array([r[1] for r in rows], dtype=np.int64)
        return pd.DataFrame({"h3": h3, "n": n})

    def iter_rows(self, table: Table, *, chunk_size: int = 100_000) -> Iterator[pd.DataFrame]:
        """Every row of ``table`` in key order, ``chunk_size`` rows at a time.

        Pages by key (``WHERE key > last ORDER BY key LIMIT n``), each page a
        short transaction, so no connection is held between chunks.
        """
        spec = known_table(table)
        chunk_size = check_chunk_size(chunk_size)
        names = [*spec.column_names, INGESTED_AT]
        key = sql.Identifier("t", spec.key)
        last: str | None = None
        while True:
            where: list[sql.Composable] = []
            if last is not None:
                where.append(sql.SQL("{} > %s").format(key))
            params: list[Any] = ([] if last is None else [last]) + [chunk_size]
            query = sql.SQL("SELECT {cols} FROM {t} AS t {where} ORDER BY {key} LIMIT %s").format(
                cols=self._select_list(spec, names),
                t=self._table_id(spec),
                where=_where(where),
                key=key,
            )
            chunk = self._copy_out(spec, names, query, params, f"export {spec.name}")
            if chunk.empty:
                return
            yield chunk
            if len(chunk) < chunk_size:
                return
            last = str(chunk[spec.key].iloc[-1])

    # ----------------------------------------------------------------- runs

    def record_run(self, kind: str, params: dict[str, Any], outputs: dict[str, Any]) -> int:
        """Record an analysis or ingest run with the code version; returns its id."""
        if not isinstance(kind, str) or not kind:
            msg = f"`kind` must be a non-empty string, got {kind!r}."
            raise ValidationError(msg)
        _json_dumps(params)  # refuse what JSON cannot hold before touching the server
        _json_dumps(outputs)
        params_json = Jsonb(params, dumps=_json_dumps)
        outputs_json = Jsonb(outputs, dumps=_json_dumps)
        query = sql.SQL(
            "INSERT INTO {} (kind, params, outputs, code_version) VALUES (%s, %s, %s, %s)"
            " RETURNING id"
        ).format(sql.Identifier(self.schema, "runs"))
        with self._connection("record a run") as conn:
            row = conn.execute(query, [kind, params_json, outputs_json, geo.__version__]).fetchone()
        assert row is not None
        return int(row[0])

    def runs(self) -> pd.DataFrame:
        """Every recorded run, oldest first.

        Columns ``id`` (int64), ``kind``, ``created_at`` (UTC), ``params`` and
        ``outputs`` (dicts), ``code_version``.
        """
        query = sql.SQL(
            "SELECT id, kind, created_at, params, outputs, code_version FROM {} ORDER BY id"
        ).format(sql.Identifier(self.schema, "runs"))
        with self._connection("list runs") as conn:
            rows = conn.execute(query).fetchall()
        return pd.DataFrame(
            {
                "id": pd.Series([r[0] for r in rows], dtype=np.int64),
                "kind": pd.Series([r[1] for r in rows], dtype=object),
                "created_at": pd.to_datetime(
                    pd.Series([r[2] for r in rows], dtype=object), utc=True
                ).astype("datetime64[ns, UTC]"),
                "params": pd.Series([r[3] for r in rows], dtype=object),
                "outputs": pd.Series([r[4] for r in rows], dtype=object),
                "code_version": pd.Series([r[5] for r in rows], dtype=object),
            }
        )

    # ------------------------------------------------------ features and settings

    def features(
        self, family: str, kind: str | None = None, *, bbox: BBox | None = None
    ) -> gpd.GeoDataFrame:
        """Stored features of a family (and kind) whose bounding box meets ``bbox``."""
        with self._connection(f"read {family} features") as conn:
            return postgis_features.read(conn, self.schema, family, kind, bbox)

    def feature_kinds(self) -> pd.DataFrame:
        """What is stored: ``family, kind, n, updated_at``, one row per kind."""
        with self._connection("list features") as conn:
            return postgis_features.kinds(conn, self.schema)

    def meta(self, key: str) -> str | None:
        """A store setting (:data:`geo.store.features.META_KEYS`), None when unset."""
        with self._connection("read a store setting") as conn:
            return postgis_features.get_meta(conn, self.schema, key)

    def close(self) -> None:
        """Close the pool (if it was opened). The store reopens it if used again."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _where(conditions: list[sql.Composable]) -> sql.Composable:
    if not conditions:
        return sql.SQL("")
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions)


# ------------------------------------------------------------------------- writer


@dataclass
class _FirstLoad:
    """A first load in progress: indexes to build again, keys met, rows sent straight."""

    index_defs: list[str]
    key_def: sql.Composed | None
    seen: firstload.SeenKeys = dataclasses.field(default_factory=firstload.SeenKeys)
    rows: int = 0


class PostgisWriter:
    """Stages frames through COPY into temporary tables; :meth:`finish` upserts them.

    Made by :meth:`PostgisStore.writer`; lives for one transaction on one
    connection. Staging tables are ``ON COMMIT DROP``.
    """

    def __init__(self, store: PostgisStore, conn: psycopg.Connection[Any]) -> None:
        self._store = store
        self._db = conn  # only through _conn, but for the open COPY's own thread
        self._created: set[str] = set()
        self._pending: set[str] = set()
        self._staged_rows: dict[str, int] = {}
        self._keep: dict[str, Keep] = {}
        self._kept: dict[str, tuple[str, ...]] = {}
        self._decided: set[str] = set()
        self._first: dict[str, _FirstLoad] = {}
        self._stream: tuple[str, pgstream.CopyStream] | None = None

    @property
    def first_load(self) -> frozenset[str]:
        """Tables this writer is loading straight into (empty and locked when first staged)."""
        return frozenset(self._first)

    @property
    def _conn(self) -> psycopg.Connection[Any]:
        """The writer's connection, once a first load's open COPY (if any) has ended.

        The COPY's thread holds the connection while it is open; every other
        use comes through here, so nothing waits on it or cuts into it.
        """
        self._end_stream()
        return self._db

    @property
    def backend_pid(self) -> int:
        """Server process id of this writer's connection (for diagnostics)."""
        return int(self._db.info.backend_pid)

    @property
    def pending(self) -> bool:
        """Whether rows were staged since the last :meth:`finish`."""
        return bool(self._pending)

    @staticmethod
    def _stage_id(spec: Table) -> sql.Identifier:
        return sql.Identifier("pg_temp", f"engage_stage_{spec.name}")

    def _create_stage(self, spec: Table) -> None:
        if spec.name in self._created:
            return
        cols: list[sql.Composable] = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(c.name),
                _PG_STAGE_TYPES[c.kind],
                sql.SQL(' COLLATE "C"') if c.name == spec.key else sql.SQL(""),
            )
            for c in spec.columns
        ]
        cols.append(sql.SQL("_seq bigint GENERATED ALWAYS AS IDENTITY"))
        self._conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
                sql.Identifier(f"engage_stage_{spec.name}"), sql.SQL(", ").join(cols)
            )
        )
        self._created.add(spec.name)

    def stage(
        self,
        table: Table,
        frame: pd.DataFrame,
        *,
        keep: Keep = "last",
        kept_columns: Sequence[str] = (),
    ) -> None:
        """Stage rows (columns ``table.column_names``) for upsert by streaming COPY.

        Parameters
        ----------
        table
            One of :data:`geo.schemas.TABLES`.
        frame
            Rows to stage; conformed to the table's canonical dtypes first.
        keep
            Which version of a key staged more than once (in one or several
            calls), or already stored, is kept: ``"last"`` staged, or the
            ``"earliest"`` in time (see :meth:`geo.store.base.Writer.stage`).
        kept_columns
            Columns whose stored values a stored row keeps (the rows do not
            carry them); a new row takes the staged values.
        """
        spec = known_table(table)
        keep = check_keep(spec, keep, self._keep.get(spec.name))
        kept = check_kept(spec, kept_columns, self._kept.get(spec.name))
        rows = staged_rows(spec, frame)
        with self._store._translate(f"stage {spec.name}"):
            if spec.name not in self._decided:
                self._decided.add(spec.name)
                if len(rows) >= BULK_LOAD_MIN_ROWS:
                    load = self._begin_first_load(spec)
                    if load is not None:
                        self._first[spec.name] = load
            self._pending.add(spec.name)
            self._keep[spec.name] = keep
            self._kept[spec.name] = kept
            load = self._first.get(spec.name)
            if load is not None:
                # Straight into the table, but for keys met before in this load: those
                # are staged and resolved by the keep rule in finish().
                again = load.seen.add(rows[spec.key].to_numpy(dtype=object))
                if again.any():
                    self._copy_stage(spec, rows[again])
                    rows = rows[~again]
                self._stream_rows(spec, rows)
                load.rows += len(rows)
            else:
                self._copy_stage(spec, rows)

    def _stream_rows(self, spec: Table, rows: pd.DataFrame) -> None:
        """Send ``rows`` straight into ``spec``'s table through the writer's open COPY.

        The COPY is opened on the first call and stays open while the caller
        checks its next chunk (:mod:`geo.store.pgstream`); any other statement
        on the connection ends it first (:attr:`_conn`), as does a load of another table.
        """
        if self._stream is not None and self._stream[0] != spec.name:
            self._end_stream()
        if self._stream is None:
            statement = self._copy_statement(self._store._table_id(spec), spec, geometry=True)
            self._stream = (spec.name, pgstream.CopyStream(self._db, statement))
        self._stream[1].send(self._copy_blocks(spec, rows, geometry=True))

    def _end_stream(self) -> None:
        """End the open COPY, if any, once the server has taken in every row sent."""
        if self._stream is not None:
            _, stream = self._stream
            self._stream = None
            stream.close()

    def abort_stream(self) -> None:
        """Cancel the open COPY, if any (the transaction is rolled back after)."""
        if self._stream is not None:
            _, stream = self._stream
            self._stream = None
            stream.abort()

    def _copy_stage(self, spec: Table, rows: pd.DataFrame) -> None:
        self._create_stage(spec)
        self._staged_rows[spec.name] = self._staged_rows.get(spec.name, 0) + len(rows)
        self._copy(self._stage_id(spec), spec, rows, geometry=False)

    def _copy(
        self, target: sql.Identifier, spec: Table, rows: pd.DataFrame, *, geometry: bool
    ) -> None:
        """Send ``rows`` by one binary COPY (:meth:`_copy_blocks`)."""
        statement = self._copy_statement(target, spec, geometry=geometry)
        with self._conn.cursor() as cur, cur.copy(statement) as copy:
            copy.write(pgcopy.SIGNATURE)
            for block in self._copy_blocks(spec, rows, geometry=geometry):
                copy.write(block)
            copy.write(pgcopy.TRAILER)

    @staticmethod
    def _copy_statement(target: sql.Identifier, spec: Table, *, geometry: bool) -> sql.Composed:
        names = list(spec.column_names)
        if geometry:
            names += [f"{prefix}geom" for prefix in spec.points]
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
            target, sql.SQL(", ").join(map(sql.Identifier, names))
        )

    @staticmethod
    def _copy_blocks(spec: Table, rows: pd.DataFrame, *, geometry: bool) -> Iterator[memoryview]:
        """Binary COPY rows of ``rows``, built :data:`COPY_CHUNK_ROWS` rows at a time.

        With ``geometry``, each point's ``<prefix>geom`` is sent too (EWKB built
        from its lat/lng), for a COPY straight into the store table.
        """
        for start in range(0, len(rows), COPY_CHUNK_ROWS):
            part = rows.iloc[start : start + COPY_CHUNK_ROWS]
            fields = [pgcopy.column_field(c, part[c.name]) for c in spec.columns]
            if geometry:
                for prefix in spec.points:
                    fields.append(
                        pgcopy.point_field(
                            part[f"{prefix}lat"].to_numpy(), part[f"{prefix}lng"].to_numpy()
                        )
                    )
            yield pgcopy.encode(fields, len(part)).data

    def _upsert(self, spec: Table) -> UpsertResult:
        self._decided.discard(spec.name)
        if spec.name in self._first:
            return self._finish_first_load(spec)
        stage = self._stage_id(spec)
        target = self._store._table_id(spec)
        key = sql.Identifier(spec.key)
        select: list[sql.Composable] = []
        for c in spec.columns:
            ident = sql.Identifier(c.name)
            if c.kind == "timestamp":
                select.append(sql.SQL("({} AT TIME ZONE 'UTC')").format(ident))
            else:
                select.append(ident)
        kept_columns = self._kept.get(spec.name, ())
        targets = [sql.Identifier(n) for n in spec.column_names]
        written = [sql.Identifier(n) for n in spec.column_names if n not in kept_columns]
        for prefix in spec.points:
            lat, lng = sql.Identifier(f"{prefix}lat"), sql.Identifier(f"{prefix}lng")
            select.append(
                sql.SQL(
                    "CASE WHEN {lng} IS NULL OR {lat} IS NULL THEN NULL"
                    " ELSE ST_SetSRID(ST_MakePoint({lng}, {lat}), 4326) END"
                ).format(lat=lat, lng=lng)
            )
            targets.append(sql.Identifier(f"{prefix}geom"))
            if f"{prefix}lat" not in kept_columns:
                written.append(sql.Identifier(f"{prefix}geom"))
        # Each key's kept staged row (its last, or its earliest in time and then its
        # last), in key order: inserting in key order makes concurrent writers take
        # row locks in the same order (no deadlock).
        earliest = self._keep.get(spec.name, "last") == "earliest"
        time = sql.Identifier(spec.time_column) if earliest else None
        order = sql.SQL("{}, ").format(time) if time is not None else sql.SQL("")
        kept = sql.SQL(
            "(SELECT DISTINCT ON ({key}) * FROM {stage} ORDER BY {key}, {order}_seq DESC) AS s"
        ).format(key=key, stage=stage, order=order)
        insert = sql.SQL(
            "INSERT INTO {target} AS t ({targets}) SELECT {select} FROM {kept}"
        ).format(
            target=target,
            targets=sql.SQL(", ").join(targets),
            select=sql.SQL(", ").join(select),
            kept=kept,
        )
        conn = self._conn
        conn.execute("SELECT set_config('work_mem', %s, true)", [UPSERT_WORK_MEM])
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM (SELECT {} FROM {} GROUP BY 1) AS k").format(key, stage)
        ).fetchone()
        distinct = int(row[0]) if row else 0
        staged_rows = self._staged_rows.pop(spec.name, 0)
        kept_earlier = 0
        if staged_rows >= BULK_LOAD_MIN_ROWS and self._lock_if_empty(spec):
            inserted = self._bulk_insert(spec, insert)
            updated = 0
        else:
            updates: list[sql.Composable] = [
                sql.SQL("{} = EXCLUDED.{}").format(t, t) for t in written if t != key
            ]
            updates.append(sql.SQL("ingested_at = now()"))
            when: sql.Composable = sql.SQL("t.content_hash IS DISTINCT FROM EXCLUDED.content_hash")
            if kept_columns:
                # A hash of a row without some columns says nothing of the others' values.
                compared = [sql.Identifier(c) for c in compared_columns(spec, kept_columns)]
                when = sql.SQL("{} AND ROW({}) IS DISTINCT FROM ROW({})").format(
                    when,
                    sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in compared),
                    sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(c) for c in compared),
                )
            if time is not None:
                # A stored version earlier than the staged one stays (keep="earliest").
                row = conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM {kept} JOIN {target} AS t ON t.{key} = s.{key}"
                        " WHERE (s.{time} AT TIME ZONE 'UTC') > t.{time}"
                    ).format(kept=kept, target=target, key=key, time=time)
                ).fetchone()
                kept_earlier = int(row[0]) if row else 0
                when = sql.SQL("{} AND EXCLUDED.{} <= t.{}").format(when, time, time)
            # Rows the WHERE skips are not returned; RETURNING (xmax = 0) tells
            # inserted rows from updated ones.
            query = sql.SQL(
                "WITH up AS ({insert} ON CONFLICT ({key}) DO UPDATE SET {updates}"
                " WHERE {when}"
                " RETURNING (t.xmax = 0) AS inserted)"
                " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)"
                " FROM up"
            ).format(insert=insert, key=key, updates=sql.SQL(", ").join(updates), when=when)
            row = conn.execute(query).fetchone()
            inserted, updated = (int(v) for v in row) if row else (0, 0)
        conn.execute(sql.SQL("TRUNCATE {}").format(stage))
        self._keep.pop(spec.name, None)
        self._kept.pop(spec.name, None)
        return UpsertResult(inserted, updated, distinct - inserted - updated, kept_earlier)

    def _lock_if_empty(self, spec: Table) -> bool:
        """Lock ``spec``'s table for a bulk load if it is empty; False (no lock) if not.

        Only one writer at a time may look: it takes a per-table advisory lock
        *before* touching the table, so two writers never both hold a share
        lock and then both wait to upgrade it (a deadlock). A writer that
        cannot get the advisory lock at once does an ordinary upsert instead.
        """
        target = self._store._table_id(spec)
        got = self._conn.execute(
            "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
            [_BULK_LOCK_CLASS, f"{self._store.schema}.{spec.name}"],
        ).fetchone()
        if not (got and got[0]):
            return False
        probe = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(target)
        row = self._conn.execute(probe).fetchone()
        if not (row and row[0]):
            return False
        self._conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(target))
        row = self._conn.execute(probe).fetchone()  # another writer may have filled it meanwhile
        return bool(row and row[0])

    def _drop_secondary_indexes(self, spec: Table) -> list[str]:
        """Drop ``spec``'s indexes but its key; their definitions, to build them again."""
        conn = self._conn
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", [UPSERT_WORK_MEM])
        defs = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index AS i"
            " JOIN pg_class AS c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = %s::regclass AND NOT i.indisunique ORDER BY c.relname",
            [f'"{self._store.schema}"."{spec.name}"'],
        ).fetchall()
        for name, _ in defs:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(self._store.schema, name)))
        return [str(definition) for _, definition in defs]

    def _drop_key(self, spec: Table) -> sql.Composed | None:
        """Drop ``spec``'s primary key for a load into the empty, locked table; how to add it back.

        Building the key's index once after the load sorts the keys once,
        where keeping it live inserts each key into the B-tree in file order.
        The load sends each key at most once (a key met again is staged), so
        adding the key back cannot fail on a duplicate. A key that another
        table's foreign key references stays.
        """
        conn = self._conn
        regclass = f'"{self._store.schema}"."{spec.name}"'
        row = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'p' AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint WHERE confrelid = %s::regclass AND contype = 'f')",
            [regclass, regclass],
        ).fetchone()
        if row is None:
            return None
        name, definition = str(row[0]), str(row[1])
        target = self._store._table_id(spec)
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, sql.Identifier(name))
        )
        return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            target, sql.Identifier(name), sql.SQL(definition)
        )

    def _build_indexes(self, spec: Table, defs: list[str]) -> None:
        for definition in defs:
            self._conn.execute(definition.encode())
        self._conn.execute(sql.SQL("ANALYZE {}").format(self._store._table_id(spec)))

    def _bulk_insert(self, spec: Table, insert: sql.Composed) -> int:
        """First load into an empty, locked table: drop indexes and key, insert, rebuild.

        Building an index once over sorted data is several times faster than
        updating it row by row. Everything is inside the writer's transaction,
        so a failure restores the indexes with the rest.
        """
        defs = self._drop_secondary_indexes(spec)
        key_def = self._drop_key(spec)
        inserted = self._conn.execute(insert).rowcount
        if key_def is not None:
            self._conn.execute(key_def)
        self._build_indexes(spec, defs)
        return int(inserted)

    def _begin_first_load(self, spec: Table) -> _FirstLoad | None:
        """Take the first-load path for ``spec`` if its table is empty (then locked); else None.

        The table's indexes and key are dropped here and built again by
        :meth:`_finish_first_load`, all in this writer's transaction.
        """
        if not self._lock_if_empty(spec):
            return None
        return _FirstLoad(self._drop_secondary_indexes(spec), self._drop_key(spec))

    def _finish_first_load(self, spec: Table) -> UpsertResult:
        """Resolve keys staged again by the keep rule, build the indexes; every row is new.

        The table held only this load's first row of each key; a key met again
        was staged. Each staged key's kept version (last, or earliest in time
        and then last, as in :meth:`_upsert`) replaces the stored one when the
        rule prefers it, so the table ends as a staged upsert into the empty
        table leaves it.
        """
        load = self._first.pop(spec.name)
        conn = self._conn
        target = self._store._table_id(spec)
        if load.key_def is not None:
            conn.execute(load.key_def)  # first: the keep rule's upsert needs it
        if self._staged_rows.pop(spec.name, 0):
            stage = self._stage_id(spec)
            key = sql.Identifier(spec.key)
            select: list[sql.Composable] = []
            for c in spec.columns:
                ident = sql.Identifier(c.name)
                if c.kind == "timestamp":
                    select.append(sql.SQL("({} AT TIME ZONE 'UTC')").format(ident))
                else:
                    select.append(ident)
            targets = [sql.Identifier(n) for n in spec.column_names]
            for prefix in spec.points:
                select.append(
                    sql.SQL(
                        "CASE WHEN {lng} IS NULL OR {lat} IS NULL THEN NULL"
                        " ELSE ST_SetSRID(ST_MakePoint({lng}, {lat}), 4326) END"
                    ).format(lat=sql.Identifier(f"{prefix}lat"), lng=sql.Identifier(f"{prefix}lng"))
                )
                targets.append(sql.Identifier(f"{prefix}geom"))
            earliest = self._keep.get(spec.name, "last") == "earliest"
            time = sql.Identifier(spec.time_column) if earliest else None
            order = sql.SQL("{}, ").format(time) if time is not None else sql.SQL("")
            when = (
                sql.SQL(" WHERE EXCLUDED.{} <= t.{}").format(time, time)
                if time is not None
                else sql.SQL("")
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {target} AS t ({targets}) SELECT {select} FROM"
                    " (SELECT DISTINCT ON ({key}) * FROM {stage} ORDER BY {key}, {order}_seq DESC)"
                    " AS s ON CONFLICT ({key}) DO UPDATE SET {updates}{when}"
                ).format(
                    target=target,
                    targets=sql.SQL(", ").join(targets),
                    select=sql.SQL(", ").join(select),
                    key=key,
                    stage=stage,
                    order=order,
                    updates=sql.SQL(", ").join(
                        sql.SQL("{} = EXCLUDED.{}").format(t, t) for t in targets if t != key
                    ),
                    when=when,
                )
            )
            conn.execute(sql.SQL("TRUNCATE {}").format(stage))
        self._build_indexes(spec, load.index_defs)
        self._keep.pop(spec.name, None)
        self._kept.pop(spec.name, None)
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()
        stored = int(row[0]) if row else 0
        return UpsertResult(stored, 0, 0, 0)

    def put_features(
        self, family: str, kind: str, frame: pd.DataFrame, *, replace: bool = True
    ) -> int:
        """Write features of (family, kind) in this transaction (see the protocol)."""
        check_family_kind(family, kind)
        rows = conform_features(frame)
        with self._store._translate(f"store {family} features"):
            return postgis_features.put(self._conn, self._store.schema, family, kind, rows, replace)

    def set_meta(self, key: str, value: str) -> None:
        """Write a store setting in this transaction."""
        check_meta_key(key)
        with self._store._translate("store a setting"):
            postgis_features.set_meta(self._conn, self._store.schema, key, str(value))

    def set_areas(
        self, table: Table, column: str, keys: Sequence[str], codes: Sequence[Any]
    ) -> None:
        """Set new area codes of stored rows (by key) in one area column."""
        frame = check_area_update(table, column, keys, codes)
        with self._store._translate(f"update areas of {table.name}"):
            postgis_features.set_areas(self._conn, self._store.schema, table, column, frame)

    def finish(self) -> dict[str, UpsertResult]:
        """Upsert everything staged since the last call; the commit comes when the block exits.

        Returns
        -------
        dict
            ``{table name: UpsertResult}`` for each table staged, in
            :data:`geo.schemas.TABLES` order.
        """
        results: dict[str, UpsertResult] = {}
        with self._store._translate("upsert staged rows"):
            for name, spec in TABLES.items():
                if name in self._pending:
                    results[name] = self._upsert(spec)
                    self._pending.discard(name)
        return results
