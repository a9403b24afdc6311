"""A crime that data.police.uk publishes in more than one month is stored once, by one rule.

The rule (docs/data-formats.md): a Crime ID's earliest month's publication is
stored, whatever order the months are ingested in. The expected rows come
from the published files themselves, read here with pandas.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo import schemas
from geo.ingest import IngestReport, ingest_file
from geo.store import Store

MONTHS = ("2022-03", "2022-04", "2022-05")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Content as stored: what re-ingesting must leave exactly as it was.
CONTENT = [
    "incident_id",
    "category",
    "occurred_at",
    "time_precision",
    "lat",
    "lng",
    "h3",
    "ward",
    "content_hash",
    "ingested_at",
]


def _path(police_uk: Path, month: str) -> Path:
    return police_uk / "blackburn_with_darwen" / f"{month}-lancashire-street-bwd.csv"


def _published(police_uk: Path) -> pd.DataFrame:
    """Every published row of the three months that has a Crime ID, as text."""
    frames = [pd.read_csv(_path(police_uk, m), dtype=str, keep_default_na=False) for m in MONTHS]
    rows = pd.concat(frames, ignore_index=True)
    return rows[rows["Crime ID"] != ""]


def _earliest(published: pd.DataFrame) -> pd.DataFrame:
    """Each Crime ID's earliest month's row (the first row of it in that month's file)."""
    first_in_month = published.drop_duplicates(["Month", "Crime ID"])
    return first_in_month.sort_values("Month", kind="stable").drop_duplicates("Crime ID")


def _month_start_utc(month: pd.Series) -> pd.Series:
    local = pd.to_datetime(month, format="%Y-%m").dt.tz_localize("Europe/London")
    return local.dt.tz_convert("UTC")


def _ingest(store: Store, path: Path, tmp_path: Path) -> IngestReport:
    return ingest_file(store, "police-uk", path, quarantine_dir=tmp_path / "q", now=NOW)


def _crimes(store: Store) -> pd.DataFrame:
    stored = store.read(schemas.INCIDENTS)
    return stored[~stored["incident_id"].str.startswith("pu-")].reset_index(drop=True)


def test_the_three_months_republish_crimes(police_uk: Path) -> None:
    """The premise, from the files alone: some Crime IDs are in two of the months."""
    published = _published(police_uk)
    months = published.drop_duplicates(["Month", "Crime ID"]).groupby("Crime ID")["Month"]
    republished = months.nunique()
    assert (republished > 1).sum() >= 20
    moved = _earliest(published).set_index("Crime ID")["Longitude"]
    latest = (
        published.drop_duplicates(["Month", "Crime ID"])
        .sort_values("Month")
        .drop_duplicates("Crime ID", keep="last")
        .set_index("Crime ID")["Longitude"]
    )
    assert (moved != latest.loc[moved.index]).sum() >= 1  # one moved between publications


@pytest.mark.parametrize(
    "order",
    [MONTHS, MONTHS[::-1], (MONTHS[1], MONTHS[2], MONTHS[0])],
    ids=["oldest-first", "newest-first", "middle-first"],
)
def test_a_republished_crime_is_stored_once_from_its_earliest_month(
    store: Store, tmp_path: Path, police_uk: Path, order: tuple[str, ...]
) -> None:
    for month in order:
        _ingest(store, _path(police_uk, month), tmp_path)
    expected = _earliest(_published(police_uk)).set_index("Crime ID").sort_index()
    got = _crimes(store).set_index("incident_id").sort_index()
    assert got.index.is_unique
    assert got.index.tolist() == expected.index.tolist()
    want_time = _month_start_utc(expected["Month"])
    assert (got["occurred_at"] == want_time.to_numpy()).all()
    np.testing.assert_array_equal(got["lat"], expected["Latitude"].astype(float))
    np.testing.assert_array_equal(got["lng"], expected["Longitude"].astype(float))
    assert got["category"].tolist() == expected["Crime type"].tolist()


def _ids_by_month(police_uk: Path) -> dict[str, set[str]]:
    published = _published(police_uk).drop_duplicates(["Month", "Crime ID"])
    return {m: set(published.loc[published["Month"] == m, "Crime ID"]) for m in MONTHS}


def test_an_earlier_publication_replaces_a_later_one(
    store: Store, tmp_path: Path, police_uk: Path
) -> None:
    ids = _ids_by_month(police_uk)
    march, april, may = MONTHS
    # Newest first: May is all new; April's publication of a May crime is earlier, so
    # it replaces it; March's replaces those of April and May.
    reports = [_ingest(store, _path(police_uk, m), tmp_path) for m in (may, april, march)]
    updated = [r.result.updated for r in reports]
    assert updated == [0, len(ids[april] & ids[may]), len(ids[march] & (ids[april] | ids[may]))]
    assert updated[1] > 0 and updated[2] > 0
    assert [r.result.kept_earlier for r in reports] == [0, 0, 0]


def test_a_later_publication_is_kept_out_and_reported(
    store: Store, tmp_path: Path, police_uk: Path
) -> None:
    ids = _ids_by_month(police_uk)
    march, april, may = MONTHS
    reports = [_ingest(store, _path(police_uk, m), tmp_path) for m in (march, april, may)]
    kept = [r.result.kept_earlier for r in reports]
    assert kept == [0, len(ids[april] & ids[march]), len(ids[may] & (ids[march] | ids[april]))]
    assert kept[1] > 0 and kept[2] > 0
    assert [r.result.updated for r in reports] == [0, 0, 0]
    for r, k in zip(reports, kept, strict=True):
        assert r.result.unchanged == k  # nothing stored was touched
        assert r.result.inserted + k == r.rows_stored
        notes = [n for n in r.notes if "earlier month" in n]
        assert len(notes) == (1 if k else 0), r.notes
        assert all(n.startswith(f"{k} crimes ") for n in notes), notes


@pytest.mark.parametrize(
    "again",
    [MONTHS, MONTHS[::-1], (MONTHS[2], MONTHS[0], MONTHS[1])],
    ids=["same-order", "reversed", "shuffled"],
)
def test_ingesting_the_same_months_again_changes_nothing(
    store: Store, tmp_path: Path, police_uk: Path, again: tuple[str, ...]
) -> None:
    for month in MONTHS:
        _ingest(store, _path(police_uk, month), tmp_path)
    before = store.read(schemas.INCIDENTS)[CONTENT]
    for month in again:
        report = _ingest(store, _path(police_uk, month), tmp_path)
        assert (report.result.inserted, report.result.updated) == (0, 0), month
        assert report.result.unchanged == report.rows_stored
    after = store.read(schemas.INCIDENTS)[CONTENT]
    pd.testing.assert_frame_equal(after, before)  # ingested_at included: no row touched


def test_the_months_in_one_file_give_the_same_rows(
    store: Store, tmp_path: Path, police_uk: Path
) -> None:
    """Several months in one file, newest first: cross-month repeats are no duplicates."""
    text = [_path(police_uk, m).read_text(encoding="utf-8").splitlines() for m in MONTHS[::-1]]
    joined = tmp_path / "2022-03-to-05-street.csv"
    joined.write_text("\n".join([text[0][0], *[line for t in text for line in t[1:]]]) + "\n")
    report = _ingest(store, joined, tmp_path)
    assert report.rows_quarantined == 0, report.reasons
    expected = _earliest(_published(police_uk)).set_index("Crime ID").sort_index()
    got = _crimes(store).set_index("incident_id").sort_index()
    assert got.index.tolist() == expected.index.tolist()
    assert (got["occurred_at"] == _month_start_utc(expected["Month"]).to_numpy()).all()
    # The same three files one by one now change nothing.
    for month in MONTHS:
        again = _ingest(store, _path(police_uk, month), tmp_path)
        assert (again.result.inserted, again.result.updated) == (0, 0), month
