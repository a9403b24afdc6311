"""The first load's open COPY (geo.store.pgstream) and its deferred key, on a real PostGIS."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

import geo.store.pgcopy as pgcopy
import geo.store.pgstream as pgstream
import geo.store.postgis as postgis
from geo.errors import StoreError
from geo.schemas import INCIDENTS, Column
from geo.store.frames import INGESTED_AT
from geo.store.postgis import PostgisStore
from tests.geo.store.test_postgis import index_defs, make_incidents, query, write

COLUMNS = (Column("n", "int"), Column("label", "text"))


def blocks(start: int, stop: int, *, null_at: int | None = None) -> Iterator[bytes]:
    """Binary COPY rows ``(n, label)`` for n in [start, stop), built as the writer builds them."""
    n = np.arange(start, stop, dtype=np.int64)
    labels = pd.Series([f"row {i}" for i in n], dtype=object)
    if null_at is not None:
        labels[null_at - start] = None
    fields = [
        pgcopy.column_field(COLUMNS[0], pd.Series(n)),
        pgcopy.column_field(COLUMNS[1], labels),
    ]
    yield bytes(pgcopy.encode(fields, len(n)).data)


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url) as c:
        c.execute("CREATE TEMP TABLE streamed (n bigint NOT NULL, label text NOT NULL)")
        yield c


STATEMENT = sql.SQL("COPY streamed (n, label) FROM STDIN (FORMAT binary)")


def test_one_copy_takes_rows_sent_across_many_calls(conn: psycopg.Connection) -> None:
    stream = pgstream.CopyStream(conn, STATEMENT)
    for start in range(0, 10_000, 1_000):  # more calls than the queue holds
        stream.send(blocks(start, start + 1_000))
    stream.close()
    stream.close()  # a second close does nothing
    got = conn.execute("SELECT n, label FROM streamed ORDER BY n").fetchall()
    assert got == [(i, f"row {i}") for i in range(10_000)]
    with pytest.raises(RuntimeError, match="closed"):
        stream.send(blocks(0, 1))


def test_a_value_the_server_refuses_is_raised_to_the_caller(conn: psycopg.Connection) -> None:
    stream = pgstream.CopyStream(conn, STATEMENT)
    stream.send(blocks(0, 100))
    stream.send(blocks(100, 200, null_at=150))
    with pytest.raises(psycopg.errors.NotNullViolation):
        # The error is raised by a later send or, at the latest, by close.
        for start in range(200, 2_000, 100):
            stream.send(blocks(start, start + 100))
        stream.close()
    conn.rollback()
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable


def test_a_sender_that_cannot_start_does_not_leave_the_caller_waiting(
    conn: psycopg.Connection,
) -> None:
    stream = pgstream.CopyStream(conn, sql.SQL("COPY no_such_table FROM STDIN (FORMAT binary)"))
    with pytest.raises(psycopg.errors.UndefinedTable):
        for start in range(0, 100):  # far more than the queue holds
            stream.send(blocks(start, start + 1))
    conn.rollback()


def test_abort_cancels_the_copy_and_leaves_the_connection_usable(
    conn: psycopg.Connection,
) -> None:
    conn.commit()  # keep the temp table
    stream = pgstream.CopyStream(conn, STATEMENT)
    stream.send(blocks(0, 5_000))
    stream.abort()
    stream.abort()  # a second abort does nothing
    conn.rollback()
    assert conn.execute("SELECT count(*) FROM streamed").fetchone() == (0,)


def primary_key(url: str, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(definition))
        for name, definition in query(
            url,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'p'",
            [f'"{schema}"."{table}"'],
        )
    ]


def test_first_load_defers_the_key_and_adds_it_back(
    pg_store: PostgisStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    schema = pg_store.schema
    key_before = primary_key(pg_url, schema, "incidents")
    assert key_before == [("incidents_pkey", "PRIMARY KEY (incident_id)")]
    frame = make_incidents(2_000, seed=3)
    with pg_store.writer() as w:
        for part in range(0, 2_000, 500):
            w.stage(INCIDENTS, frame.iloc[part : part + 500])
        assert w.first_load == {"incidents"}
        # Inside the load's transaction the key is gone (its index built once, after).
        inside = w._conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [f'"{schema}"."incidents"'],
        ).fetchone()
        assert inside == (0,)
    assert primary_key(pg_url, schema, "incidents") == key_before
    got = pg_store.read(INCIDENTS).drop(columns=INGESTED_AT)
    want = frame.sort_values("incident_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    # The key is enforced again: the next write of the same rows is an upsert.
    result = write(pg_store, INCIDENTS, frame)["incidents"]
    assert (result.inserted, result.updated, result.unchanged) == (0, 0, 2_000)


def test_a_key_another_table_references_stays_during_a_first_load(
    pg_store: PostgisStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    schema = pg_store.schema
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            sql.SQL("CREATE TABLE {} (incident_id text REFERENCES {} (incident_id))").format(
                sql.Identifier(schema, "notes"), sql.Identifier(schema, "incidents")
            )
        )
    before = index_defs(pg_url, schema)
    frame = make_incidents(1_000, seed=4)
    with pg_store.writer() as w:
        w.stage(INCIDENTS, frame)
        assert w.first_load == {"incidents"}
        inside = w._conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            [f'"{schema}"."incidents"'],
        ).fetchone()
        assert inside == (1,)
    assert index_defs(pg_url, schema) == before
    assert pg_store.count(INCIDENTS) == 1_000


def test_a_first_load_interrupted_mid_stream_leaves_the_table_and_its_key(
    pg_store: PostgisStore, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    schema = pg_store.schema
    before = index_defs(pg_url, schema)
    frame = make_incidents(3_000, seed=5)

    class Interrupted(RuntimeError):
        pass

    with pytest.raises(Interrupted), pg_store.writer() as w:
        w.stage(INCIDENTS, frame.iloc[:1_500])
        w.stage(INCIDENTS, frame.iloc[1_500:])
        raise Interrupted  # the COPY is still open here
    assert pg_store.count(INCIDENTS) == 0
    assert index_defs(pg_url, schema) == before
    assert primary_key(pg_url, schema, "incidents") == [
        ("incidents_pkey", "PRIMARY KEY (incident_id)")
    ]
    # The store's pooled connection went back clean: a new load works.
    assert write(pg_store, INCIDENTS, frame)["incidents"].inserted == 3_000


def test_a_refused_row_in_the_stream_is_a_store_error_and_nothing_is_kept(
    pg_store: PostgisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 100)
    frame = make_incidents(1_000, seed=6)
    # Each block loses its last bytes: the server finds a row cut short.
    real = postgis.PostgisWriter._copy_blocks

    def broken(spec, rows, *, geometry):  # type: ignore[no-untyped-def]
        for block in real(spec, rows, geometry=geometry):
            yield bytes(block)[:-3]  # a truncated row

    monkeypatch.setattr(postgis.PostgisWriter, "_copy_blocks", staticmethod(broken))
    with pytest.raises(StoreError), pg_store.writer() as w:
        w.stage(INCIDENTS, frame)
        w.finish()
    monkeypatch.setattr(postgis.PostgisWriter, "_copy_blocks", staticmethod(real))
    assert pg_store.count(INCIDENTS) == 0
