"""Ingesting a file again, or a narrower one, in both stores.

A column the file does not have leaves the stored values alone; a column it
has, even blank, is what is stored. The expected values are read from the
files written here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from geo import schemas
from geo.ingest import IngestReport, ingest_file
from geo.pseudonym import check_key
from geo.store import Store
from geo.store.frames import INGESTED_AT

KEY = check_key("test-key-0123456789-abcdefghijklmnop")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FOUND_INPUTS = ["found_at", "found_lat", "found_lng", "found_place_type"]
FOUND_STORED = [
    "found_at",
    "found_lat",
    "found_lng",
    "found_h3",
    "found_district",
    "found_ward",
    "found_lsoa",
    "found_neighbourhood",
    "found_beat",
    "found_place_type",
]


def episodes(n: int = 6) -> pd.DataFrame:
    """Valid episodes inside Blackburn with Darwen, each with a found point and a risk level."""
    i = np.arange(n)
    return pd.DataFrame(
        {
            "episode_id": [f"EP-{k:04d}" for k in i],
            "child_id": [f"SYN-C{k % 3:04d}" for k in i],
            "last_seen_at": [f"2025-03-{k + 1:02d}T21:30" for k in i],
            "last_seen_lat": 53.745 + 0.001 * i,
            "last_seen_lng": -2.482 + 0.001 * i,
            "last_seen_place_type": "public",
            "found_at": [f"2025-03-{k + 2:02d}T02:00" for k in i],
            "found_lat": 53.75 + 0.001 * i,
            "found_lng": -2.47 - 0.001 * i,
            "found_place_type": "venue",
            "risk_level": np.resize(["low", "medium", "high"], n),
        }
    ).astype(str)


def ingest(store: Store, frame: pd.DataFrame, path: Path, tmp_path: Path) -> IngestReport:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return ingest_file(store, "episodes", path, key=KEY, quarantine_dir=tmp_path / "q", now=NOW)


def counts(report: IngestReport) -> tuple[int, int, int]:
    return report.result.inserted, report.result.updated, report.result.unchanged


def stored(store: Store) -> pd.DataFrame:
    return store.read(schemas.EPISODES).set_index("episode_id")


def test_a_narrower_file_leaves_the_columns_it_lacks(store: Store, tmp_path: Path) -> None:
    full = episodes()
    ingest(store, full, tmp_path / "full" / "episodes.csv", tmp_path)
    before = stored(store)
    # Every episode of the file has a found point and a risk level: count them from the file.
    assert before["found_lat"].notna().sum() == (full["found_lat"] != "").sum() == 6
    assert before["risk_level"].notna().sum() == 6

    narrow = full.drop(columns=[*FOUND_INPUTS, "risk_level"])
    path = tmp_path / "narrow" / "episodes.csv"  # same name, so the same `source`
    report = ingest(store, narrow, path, tmp_path)
    assert counts(report) == (0, 0, 6)
    # The file never had reported_at or in_care either.
    assert report.kept_columns == ["reported_at", *FOUND_STORED, "in_care", "risk_level"]
    assert any("risk_level" in note and "found" in note for note in report.notes)
    pd.testing.assert_frame_equal(stored(store), before)

    # The same narrow file again changes nothing either.
    again = ingest(store, narrow, path, tmp_path)
    assert counts(again) == (0, 0, 6)
    pd.testing.assert_frame_equal(stored(store), before)


def test_a_narrower_file_changes_what_it_has_and_keeps_the_rest(
    store: Store, tmp_path: Path
) -> None:
    full = episodes()
    ingest(store, full, tmp_path / "full" / "episodes.csv", tmp_path)
    before = stored(store)
    narrow = full.drop(columns=[*FOUND_INPUTS, "risk_level"])
    narrow.loc[2, "last_seen_place_type"] = "school"
    extra = narrow.iloc[[0]].assign(episode_id="EP-NEW")
    narrow = pd.concat([narrow, extra], ignore_index=True)
    path = tmp_path / "narrow" / "episodes.csv"
    report = ingest(store, narrow, path, tmp_path)
    assert counts(report) == (1, 1, 5)
    after = stored(store)
    assert after.loc["EP-0002", "last_seen_place_type"] == "school"
    kept = [*FOUND_STORED, "risk_level"]
    pd.testing.assert_frame_equal(after.loc[before.index, kept], before[kept])
    # A row new to the store has the columns the file lacks empty.
    assert after.loc["EP-NEW", kept].isna().all()
    # The narrow file again: nothing changes.
    snapshot = stored(store)
    assert counts(ingest(store, narrow, path, tmp_path)) == (0, 0, 7)
    pd.testing.assert_frame_equal(stored(store), snapshot)
    # The full file again puts back the one value it differs in.
    report = ingest(store, full, tmp_path / "full" / "episodes.csv", tmp_path)
    assert counts(report) == (0, 1, 5)
    final = stored(store)
    pd.testing.assert_frame_equal(
        final.loc[before.index].drop(columns=INGESTED_AT), before.drop(columns=INGESTED_AT)
    )


def test_a_blank_column_is_stored_blank_not_kept(store: Store, tmp_path: Path) -> None:
    full = episodes()
    ingest(store, full, tmp_path / "a" / "episodes.csv", tmp_path)
    blanked = full.copy()
    blanked[[*FOUND_INPUTS, "risk_level"]] = ""
    report = ingest(store, blanked, tmp_path / "b" / "episodes.csv", tmp_path)
    assert report.kept_columns == ["reported_at", "in_care"]  # not in either file
    assert counts(report) == (0, 6, 0)
    after = stored(store)
    assert after[[*FOUND_STORED, "risk_level"]].isna().all().all()


def test_venues_without_names_keep_their_names(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "a" / "venues.csv"
    path.parent.mkdir()
    path.write_text(
        "venue_id,name,venue_type,lat,lng,public\n"
        "V1,Hotel One,hotel,53.748,-2.482,yes\n"
        "V2,Park Two,park,53.744,-2.49,no\n"
    )
    ingest_file(store, "venues", path, quarantine_dir=tmp_path / "q", now=NOW)
    narrow = tmp_path / "b" / "venues.csv"
    narrow.parent.mkdir()
    narrow.write_text("venue_id,venue_type,lat,lng\nV1,hotel,53.748,-2.482\nV2,shop,53.744,-2.49\n")
    report = ingest_file(store, "venues", narrow, quarantine_dir=tmp_path / "q", now=NOW)
    assert report.kept_columns == ["name", "public"]
    assert counts(report) == (0, 1, 1)
    after = store.read(schemas.VENUES).set_index("venue_id")
    assert after["name"].tolist() == ["Hotel One", "Park Two"]
    assert after["public"].tolist() == [True, False]
    assert after["venue_type"].tolist() == ["hotel", "shop"]
