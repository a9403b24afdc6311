"""Row checks end to end in both stores: dates, gradings, characters and lengths.

Each test writes a small file by hand and counts, from that file, which rows
must be stored and which quarantined, with the quarantine line each bad row gets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from geo import schemas
from geo.ingest import IngestReport, ingest_file
from geo.pseudonym import check_key
from geo.store import Store

KEY = check_key("test-key-0123456789-abcdefghijklmnop")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def ingest(store: Store, kind: str, path: Path, tmp_path: Path, **kw: Any) -> IngestReport:
    return ingest_file(store, kind, path, key=KEY, quarantine_dir=tmp_path / "q", now=NOW, **kw)


def quarantine(report: IngestReport) -> pd.DataFrame:
    assert report.quarantine_path is not None
    return pd.read_csv(report.quarantine_path, dtype=str, keep_default_na=False)


def test_day_first_dates_with_dashes_and_the_skipped_hour(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text(
        "incident_id,category,occurred_at,lat,lng\n"
        "I1,Other,14-03-2025,53.748,-2.482\n"  # day-first with dashes, no time
        "I2,Other,14-03-2025 21:30,53.748,-2.482\n"
        "I3,Other,14/03/2025,53.748,-2.482\n"
        "I4,Other,2025-03-30T01:30,53.748,-2.482\n"  # skipped when clocks went forward
        "I5,Other,2025-03-30T02:30,53.748,-2.482\n"
    )
    report = ingest(store, "incidents", path, tmp_path)
    assert (report.rows_stored, report.rows_quarantined, report.exit_code) == (4, 1, 1)
    q = quarantine(report)
    assert q[["row", "column", "value"]].values.tolist() == [
        ["5", "occurred_at", "2025-03-30T01:30"]
    ]
    assert "does not exist in UK time" in q["reason"].iloc[0]
    stored = store.read(schemas.INCIDENTS).set_index("incident_id")
    assert stored.loc["I1", "occurred_at"] == pd.Timestamp("2025-03-14 00:00", tz="UTC")
    assert stored.loc["I2", "occurred_at"] == pd.Timestamp("2025-03-14 21:30", tz="UTC")
    assert stored.loc["I3", "occurred_at"] == stored.loc["I1", "occurred_at"]
    assert stored.loc["I5", "occurred_at"] == pd.Timestamp("2025-03-30 01:30", tz="UTC")
    assert stored.loc[["I1", "I2", "I3"], "time_precision"].tolist() == ["day", "exact", "day"]


def test_gradings_unknown_or_in_conflict_get_one_line_naming_the_columns(
    store: Store, tmp_path: Path
) -> None:
    venues = tmp_path / "v.csv"
    venues.write_text("venue_id,venue_type,lat,lng\nV1,hotel,53.748,-2.482\n")
    ingest(store, "venues", venues, tmp_path)
    path = tmp_path / "r.csv"
    path.write_text(
        "report_id,venue_id,reported_at,grading,source_evaluation,"
        "intelligence_assessment,handling_code\n"
        "R1,V1,2025-01-02,4AP,,,\n"  # no such source evaluation
        "R2,V1,2025-01-02,1AP,3,,\n"  # the grading says 1, the column 3
        "R3,V1,2025-01-02,1AP,1,a,\n"  # agree (case forgiven)
        "R4,V1,2025-01-02,,2,b,c\n"
        "R5,V1,2025-01-02,2BC,,,P\n"  # handling code C against P
    )
    report = ingest(store, "venue-reports", path, tmp_path)
    assert (report.rows_stored, report.rows_quarantined) == (2, 3)
    q = quarantine(report)
    assert q[["row", "column", "value"]].values.tolist() == [
        ["2", "grading", "4AP"],
        ["3", "grading", "1AP"],
        ["6", "grading", "2BC"],
    ]
    assert "not a 3x5x2 grading" in q["reason"].iloc[0]
    assert "`source_evaluation`" in q["reason"].iloc[1] and "3" in q["reason"].iloc[1]
    assert "`handling_code`" in q["reason"].iloc[2]
    stored = store.read(schemas.VENUE_REPORTS).set_index("report_id")
    parts = ["source_evaluation", "intelligence_assessment", "handling_code"]
    assert stored.loc["R3", parts].tolist() == ["1", "A", "P"]
    assert stored.loc["R4", parts].tolist() == ["2", "B", "C"]


def test_a_nul_character_quarantines_its_row_in_both_stores(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    path.write_bytes(
        b"venue_id,name,venue_type,lat,lng,comments\n"
        b"V1,Hotel\x00 One,hotel,53.748,-2.482,\n"  # NUL in a stored column
        b"V\x002,Park,park,53.744,-2.49,\n"  # NUL in the id
        b"V3,Shop,shop,53.75,-2.47,see\x00notes\n"  # NUL in a column that is not stored
        b"V4,Takeaway,takeaway,53.746,-2.48,\n"
    )
    report = ingest(store, "venues", path, tmp_path)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (4, 2, 2)
    assert report.exit_code == 1
    q = quarantine(report)
    assert q[["row", "column", "value"]].values.tolist() == [
        ["2", "name", "Hotel\\x00 One"],
        ["3", "venue_id", "V\\x002"],
    ]
    assert q["reason"].str.contains("NUL character").all()
    assert sorted(store.read(schemas.VENUES)["venue_id"]) == ["V3", "V4"]


def test_cells_over_the_length_limits_are_quarantined_in_both_stores(
    store: Store, tmp_path: Path
) -> None:
    huge = "X" * (10 * 1024 * 1024)  # a 10 MB id
    frame = pd.DataFrame(
        {
            "venue_id": [huge, "V2", "V3", "I" * 200, "V5"],
            "name": ["Hotel", "N" * 2001, "N" * 2000, "Shop", "Park"],
            "venue_type": ["hotel", "hotel", "hotel", "shop", "park"],
            "lat": ["53.748", "53.744", "53.75", "53.746", "53.747"],
            "lng": ["-2.482", "-2.49", "-2.47", "-2.48", "-2.481"],
        }
    )
    path = tmp_path / "v.csv"
    frame.to_csv(path, index=False)
    report = ingest(store, "venues", path, tmp_path)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (5, 3, 2)
    q = quarantine(report)
    assert q[["row", "column"]].values.tolist() == [["2", "venue_id"], ["3", "name"]]
    assert "longer than 200 characters" in q["reason"].iloc[0]
    assert "longer than 2,000 characters" in q["reason"].iloc[1]
    # The quarantine file shows the start of a long value and its length, not all of it.
    assert q["value"].str.len().max() < 300
    assert q["value"].iloc[0].endswith(f"({len(huge):,} characters)")
    stored = store.read(schemas.VENUES)
    assert sorted(stored["venue_id"]) == sorted(["V3", "I" * 200, "V5"])
    assert stored["name"].str.len().max() == 2000
