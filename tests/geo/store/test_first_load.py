"""The first-load path of both stores: straight into an empty table, indexes built after.

Every test holds the first load to the staged upsert it replaces: the same
rows (and, in a GeoPackage, the same fids and R-tree), nothing left behind
when it is interrupted, and never two writers on it at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest

import geo.store.gpkg as gpkg
import geo.store.postgis as postgis
from geo.errors import StoreError
from geo.ingest import StrictRefusal, ingest_file
from geo.schemas import INCIDENTS
from geo.store import Store, open_store
from geo.store.frames import INGESTED_AT
from geo.store.gpkg import GpkgStore
from tests.geo.store.test_postgis import make_incidents


def chunks_with_repeats(seed: int) -> list[pd.DataFrame]:
    """Chunks whose keys repeat within and across chunks, with new content and ties in time."""
    rng = np.random.default_rng(seed)
    base = make_incidents(4_000, seed=seed)
    again = base.iloc[rng.choice(4_000, 1_500)].copy()
    again["content_hash"] = rng.integers(-(2**62), 2**62, len(again))
    again["occurred_at"] = again["occurred_at"] + rng.choice([-1, 0, 1], len(again)) * pd.Timedelta(
        hours=3
    )
    rows = pd.concat([base, again], ignore_index=True)
    rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
    return [rows.iloc[i : i + 1_200] for i in range(0, len(rows), 1_200)]


def gpkg_dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The incidents table (fid and geometry blob included, ingested_at left out) and R-tree."""
    names = ", ".join(f'"{c}"' for c in ["fid", "geom", *INCIDENTS.column_names])
    with sqlite3.connect(path) as conn:
        return {
            "rows": conn.execute(f"SELECT {names} FROM incidents ORDER BY fid").fetchall(),
            "rtree": conn.execute("SELECT * FROM rtree_incidents_geom ORDER BY id").fetchall(),
            # SQLite's own integrity check of the R-tree's nodes, parents and rowids.
            "rtreecheck": conn.execute("SELECT rtreecheck('rtree_incidents_geom')").fetchall(),
            "schema": conn.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'incidents' "
                "ORDER BY name"
            ).fetchall(),
        }


# --------------------------------------------------------------------- GeoPackage


@pytest.mark.parametrize("keep", ["last", "earliest"])
def test_gpkg_first_load_and_staged_upsert_store_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep: str
) -> None:
    chunks = chunks_with_repeats(3)
    distinct = pd.concat(chunks)["incident_id"].nunique()
    dumps = {}
    for path, threshold in (("staged", 10**9), ("first-load", 1_000)):
        monkeypatch.setattr(gpkg, "FIRST_LOAD_MIN_ROWS", threshold)
        file = tmp_path / f"{path}.gpkg"
        store = GpkgStore(file)
        store.init()
        with store.writer() as w:
            for chunk in chunks:
                w.stage(INCIDENTS, chunk, keep=keep)  # type: ignore[arg-type]
            assert w.first_load == ({"incidents"} if path == "first-load" else set())
            result = w.finish()["incidents"]
        store.close()
        assert (result.inserted, result.updated, result.unchanged) == (distinct, 0, 0)
        dumps[path] = gpkg_dump(file)
    assert dumps["first-load"] == dumps["staged"]
    assert len(dumps["staged"]["rows"]) == distinct
    assert dumps["first-load"]["rtreecheck"] == [("ok",)]
    # The R-tree holds every stored point (the rows with a geometry).
    assert len(dumps["staged"]["rtree"]) == sum(r[1] is not None for r in dumps["staged"]["rows"])


@pytest.fixture
def small_gpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GpkgStore, Path]]:
    """A new GeoPackage store whose loads of 100 rows or more are first loads."""
    monkeypatch.setattr(gpkg, "FIRST_LOAD_MIN_ROWS", 100)
    file = tmp_path / "s.gpkg"
    store = GpkgStore(file)
    store.init()
    try:
        yield store, file
    finally:
        store.close()


def test_gpkg_interrupted_first_load_leaves_the_table_as_before(
    small_gpkg: tuple[GpkgStore, Path],
) -> None:
    store, file = small_gpkg
    before = gpkg_dump(file)

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), store.writer() as w:
        w.stage(INCIDENTS, make_incidents(1_000))
        assert w.first_load == {"incidents"}
        raise Boom
    assert gpkg_dump(file) == before
    frame = make_incidents(1_000)
    with store.writer() as w:
        w.stage(INCIDENTS, frame)
    assert store.count(INCIDENTS) == 1_000
    got = store.read(INCIDENTS).drop(columns=INGESTED_AT)
    pd.testing.assert_frame_equal(got, frame.sort_values("incident_id").reset_index(drop=True))


def test_gpkg_first_load_insert_failing_on_its_thread_is_a_store_error_and_rolls_back(
    small_gpkg: tuple[GpkgStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, file = small_gpkg
    before = gpkg_dump(file)
    real = gpkg._Writer._insert_rows
    calls: list[int] = []

    def fail_second(self: Any, t: Any, rows: pd.DataFrame, now: str) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error")
        real(self, t, rows, now)

    monkeypatch.setattr(gpkg._Writer, "_insert_rows", fail_second)
    frame = make_incidents(3_000)
    with pytest.raises(StoreError, match=r"disk I/O error.*rolled back"), store.writer() as w:
        for part in range(0, 3_000, 500):
            w.stage(INCIDENTS, frame.iloc[part : part + 500])
        w.finish()
    assert len(calls) >= 2
    assert gpkg_dump(file) == before
    monkeypatch.setattr(gpkg._Writer, "_insert_rows", real)
    with store.writer() as w:
        w.stage(INCIDENTS, frame)
    assert store.count(INCIDENTS) == 3_000


def test_gpkg_a_first_load_and_another_writer_cannot_both_load_directly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpkg, "FIRST_LOAD_MIN_ROWS", 100)
    file = tmp_path / "s.gpkg"
    GpkgStore(file).init()
    first, other = GpkgStore(file), GpkgStore(file)
    frame = make_incidents(2_000)
    b_staged = threading.Event()
    seen: dict[str, Any] = {}

    def writer_b() -> None:
        with other.writer() as w:
            w.stage(INCIDENTS, frame.iloc[:600])
            seen["b_first_load"] = w.first_load
            b_staged.set()
            seen["b"] = w.finish()["incidents"]  # waits for the lock

    with first.writer() as w:
        w.stage(INCIDENTS, frame)
        assert w.first_load == {"incidents"}
        thread = threading.Thread(target=writer_b)
        thread.start()
        assert b_staged.wait(60), "the second writer was blocked while staging"
        time.sleep(0.3)
        assert "b" not in seen
        a = w.finish()["incidents"]
    thread.join(60)
    assert not thread.is_alive()
    assert seen["b_first_load"] == set()
    assert (a.inserted, a.updated, a.unchanged) == (2_000, 0, 0)
    b = seen["b"]
    assert (b.inserted, b.updated, b.unchanged) == (0, 0, 600)
    assert first.count(INCIDENTS) == 2_000
    first.close()
    other.close()


# ------------------------------------------------------------------ both stores, ingest


def write_csv(path: Path, n: int, *, bad_at: int | None = None) -> Path:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "incident_id": np.char.add("INC-", np.arange(n).astype(str)),
            "category": rng.choice(["Drugs", "Anti-social behaviour"], n),
            "occurred_at": "2024-05-01T21:00",
            "lat": np.round(rng.uniform(53.72, 53.75, n), 6),
            "lng": np.round(rng.uniform(-2.50, -2.46, n), 6),
        }
    )
    if bad_at is not None:
        frame.loc[bad_at, "lat"] = 99.0  # off the globe: quarantined, or refused under strict
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def small_first_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpkg, "FIRST_LOAD_MIN_ROWS", 500)
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 500)


def ingest(store: Store, path: Path, tmp_path: Path, **kw: Any) -> Any:
    return ingest_file(
        store, "incidents", path, quarantine_dir=tmp_path / "q", chunk_rows=1_000, **kw
    )


@pytest.mark.usefixtures("small_first_load")
def test_first_load_ingest_equals_staged_and_reingest_changes_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "i.csv", 3_500)
    report = ingest(store, path, tmp_path)
    assert (report.result.inserted, report.result.updated) == (3_500, 0)
    first = store.read(INCIDENTS).drop(columns=INGESTED_AT)
    again = ingest(store, path, tmp_path).result
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3_500)
    # The same file through the staged upsert, into another empty store of the same kind.
    monkeypatch.setattr(gpkg, "FIRST_LOAD_MIN_ROWS", 10**9)
    monkeypatch.setattr(postgis, "BULK_LOAD_MIN_ROWS", 10**9)
    kind = "gpkg" if isinstance(store, GpkgStore) else "postgis"
    if kind == "gpkg":
        other = open_store(str(tmp_path / "staged.gpkg"))
    else:
        other = open_store(store.url + "_staged")  # type: ignore[attr-defined]
    try:
        other.init()
        staged = ingest(other, path, tmp_path).result
        assert (staged.inserted, staged.updated) == (3_500, 0)
        pd.testing.assert_frame_equal(other.read(INCIDENTS).drop(columns=INGESTED_AT), first)
    finally:
        other.close()
        if kind == "postgis":
            with psycopg.connect(store.url.split("?")[0], autocommit=True) as conn:  # type: ignore[attr-defined]
                conn.execute(f'DROP SCHEMA IF EXISTS "{store.schema}_staged" CASCADE')  # type: ignore[attr-defined]


@pytest.mark.usefixtures("small_first_load")
def test_interrupted_first_load_ingest_leaves_an_empty_table_and_a_usable_store(
    store: Store, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "i.csv", 3_500)

    class Boom(RuntimeError):
        pass

    def stop(staged: int) -> None:
        if staged >= 2_000:
            raise Boom

    with pytest.raises(Boom):
        ingest(store, path, tmp_path, after_chunk=stop)
    assert store.count(INCIDENTS) == 0
    # A bad row in a later chunk under strict: refused, nothing stored.
    bad = write_csv(tmp_path / "bad.csv", 3_500, bad_at=2_500)
    with pytest.raises(StrictRefusal):
        ingest(store, bad, tmp_path, strict=True)
    assert store.count(INCIDENTS) == 0
    report = ingest(store, path, tmp_path)
    assert report.result.inserted == 3_500
    assert store.count(INCIDENTS) == 3_500
    assert len(store.read(INCIDENTS)) == 3_500
