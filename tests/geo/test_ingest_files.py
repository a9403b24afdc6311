"""Quarantine files and several files in one call, in both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geo import schemas
from geo.errors import StoreError
from geo.ingest import (
    IngestReport,
    ingest_exit_code,
    ingest_file,
    ingest_or_refuse,
    refusal,
)
from geo.pseudonym import check_key
from geo.store import Store, open_store

KEY = check_key("test-key-0123456789-abcdefghijklmnop")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
HEADER = "venue_id,venue_type,lat,lng\n"


def ingest(store: Store, kind: str, path: Path, qdir: Path, **kw: Any) -> IngestReport:
    return ingest_file(store, kind, path, key=KEY, quarantine_dir=qdir, now=NOW, **kw)


def venues(path: Path, good: list[str], bad: list[str]) -> Path:
    """Venues ``bad`` (at (0, 0), quarantined) and ``good`` (stored), bad ones first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{v},hotel,0,0\n" for v in bad] + [f"{v},hotel,53.748,-2.482\n" for v in good]
    path.write_text(HEADER + "".join(lines))
    return path


def read_quarantine(report: IngestReport) -> pd.DataFrame:
    assert report.quarantine_path is not None
    return pd.read_csv(report.quarantine_path, dtype=str, keep_default_na=False)


def test_files_of_one_name_in_two_folders_keep_their_own_quarantine(
    store: Store, tmp_path: Path
) -> None:
    qdir = tmp_path / "q"
    a = venues(tmp_path / "north" / "venues.csv", ["N1"], ["N2", "N3"])
    b = venues(tmp_path / "south" / "venues.csv", ["S1"], ["S2"])
    ra = ingest(store, "venues", a, qdir)
    rb = ingest(store, "venues", b, qdir)
    assert ra.quarantine_path != rb.quarantine_path
    qa, qb = read_quarantine(ra), read_quarantine(rb)
    assert qa["value"].str.len().gt(0).all()
    assert qa["row"].tolist() == ["2", "3"] and qb["row"].tolist() == ["2"]
    assert set(qa["file"]) == {str(a.resolve())}
    assert set(qb["file"]) == {str(b.resolve())}
    assert sorted(p.name for p in qdir.iterdir()) == sorted(
        [Path(ra.quarantine_path or "").name, Path(rb.quarantine_path or "").name]
    )
    # The name is stable: the same file again writes the same quarantine file.
    again = ingest(store, "venues", a, qdir)
    assert again.quarantine_path == ra.quarantine_path
    assert read_quarantine(again).equals(qa)
    assert len(list(qdir.iterdir())) == 2


@pytest.mark.parametrize("same_file", [False, True])
def test_an_ingest_during_another_cannot_mix_their_quarantine_files(
    store: Store, tmp_path: Path, same_file: bool
) -> None:
    # The second ingest runs to the end between the first one's chunks.
    qdir = tmp_path / "q"
    a = venues(tmp_path / "one" / "v.csv", ["A1", "A2"], ["A3", "A4", "A5", "A6"])
    b = a if same_file else venues(tmp_path / "two" / "v.csv", ["B1"], ["B2"])
    inner: list[IngestReport] = []

    def interleave(staged: int) -> None:
        if not inner:
            other = open_store(store.url)
            try:
                inner.append(ingest(other, "venues", b, qdir))
            finally:
                other.close()

    outer = ingest(store, "venues", a, qdir, chunk_rows=2, after_chunk=interleave)
    assert outer.rows_quarantined == 4
    q = read_quarantine(outer)
    assert q["row"].tolist() == ["2", "3", "4", "5"]
    assert q["value"].tolist() == ["0, 0"] * 4
    qb = read_quarantine(inner[0])
    assert qb["row"].tolist() == (["2", "3", "4", "5"] if same_file else ["2"])
    assert not [p for p in qdir.iterdir() if p.suffix == ".part"]
    stored = sorted(store.read(schemas.VENUES)["venue_id"])
    assert stored == (["A1", "A2"] if same_file else ["A1", "A2", "B1"])


def test_several_files_each_get_a_report_and_one_exit_code(store: Store, tmp_path: Path) -> None:
    # What `engage ingest venues a.csv b.csv ...` does, one file at a time.
    qdir = tmp_path / "q"
    clean = venues(tmp_path / "clean.csv", ["C1", "C2"], [])
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    all_bad = venues(tmp_path / "all_bad.csv", [], ["X1", "X2"])
    partly = venues(tmp_path / "partly.csv", ["P1"], ["P2"])
    paths = [clean, empty, all_bad, partly]
    reports = [ingest_or_refuse(store, "venues", p, key=KEY, quarantine_dir=qdir) for p in paths]
    assert [r.path for r in reports] == [str(p) for p in paths]
    assert [r.exit_code for r in reports] == [0, 2, 2, 1]
    assert [r.rows_stored for r in reports] == [2, 0, 0, 1]
    assert reports[1].refused is not None and "the file is empty" in reports[1].refused
    assert reports[1].as_dict()["refused"] == reports[1].refused
    assert [r.refused for r in (reports[0], reports[2], reports[3])] == [None] * 3
    assert sorted(store.read(schemas.VENUES)["venue_id"]) == ["C1", "C2", "P1"]
    assert ingest_exit_code(reports) == 1
    assert ingest_exit_code(reports[:1]) == 0
    assert ingest_exit_code([reports[0], reports[3]]) == 1
    assert ingest_exit_code(reports[1:3]) == 2
    assert ingest_exit_code([]) == 2


def test_a_strict_refusal_is_a_report_with_its_quarantine(store: Store, tmp_path: Path) -> None:
    partly = venues(tmp_path / "partly.csv", ["P1"], ["P2"])
    report = ingest_or_refuse(
        store, "venues", partly, key=KEY, quarantine_dir=tmp_path / "q", strict=True
    )
    assert report.exit_code == 2 and report.rows_stored == 0 and not report.stored
    assert report.refused is not None and "--strict" in report.refused
    assert (report.rows_read, report.rows_quarantined) == (2, 1)
    assert report.quarantine_path is not None and Path(report.quarantine_path).exists()
    assert store.count(schemas.VENUES) == 0


def test_a_store_failure_can_be_reported_as_a_refused_file() -> None:
    failed = refusal("venues", "v.csv", StoreError("could not lock s.gpkg for writing"))
    assert failed.exit_code == 2 and failed.refused == "could not lock s.gpkg for writing"
    assert (failed.rows_read, failed.rows_stored, failed.stored) == (0, 0, False)
