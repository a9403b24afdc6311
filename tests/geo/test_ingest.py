"""Ingest end to end into both stores: every check, atomicity, idempotence, privacy."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo import schemas
from geo.errors import InputFileError, PseudonymKeyError, ValidationError
from geo.ingest import StrictRefusal, ingest_file
from geo.pseudonym import check_key
from geo.store import Store

KEY = check_key("test-key-0123456789-abcdefghijklmnop")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def good_episodes(n: int = 6) -> pd.DataFrame:
    """Episodes inside Blackburn with Darwen, all valid."""
    i = np.arange(n)
    return pd.DataFrame(
        {
            "episode_id": [f"EP-{k:04d}" for k in i],
            "child_id": [f"SYN-C{k % 3:04d}" for k in i],
            "reported_at": [f"2025-03-{k + 1:02d}T23:00" for k in i],
            "last_seen_at": [f"2025-03-{k + 1:02d}T21:30" for k in i],
            "last_seen_lat": 53.745 + 0.001 * i,
            "last_seen_lng": -2.482 + 0.001 * i,
            "last_seen_place_type": np.resize(
                ["home", "care_home", "public", "venue", "school", ""], n
            ),
            "found_at": [f"2025-03-{k + 2:02d}T02:00" for k in i],
            "found_lat": 53.75 + 0.001 * i,
            "found_lng": -2.47 - 0.001 * i,
            "found_place_type": "public",
            "in_care": np.resize(["no", "yes", "false", "true", "", "n"], n),
            "risk_level": "medium",
        }
    ).astype(str)


def write(frame: pd.DataFrame, path: Path, **kw: object) -> Path:
    frame.to_csv(path, index=False, **kw)  # type: ignore[arg-type]
    return path


def ingest(store: Store, kind: str, path: Path, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return ingest_file(
        store,
        kind,
        path,
        key=KEY,
        quarantine_dir=tmp_path / "q",
        now=NOW,
        **kw,  # type: ignore[arg-type]
    )


def test_clean_file_is_stored_and_reingest_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = write(good_episodes(), tmp_path / "episodes.csv")
    report = ingest(store, "episodes", path, tmp_path)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (6, 6, 0)
    assert report.exit_code == 0
    assert report.result.inserted == 6
    before = store.read(schemas.EPISODES)
    again = ingest(store, "episodes", path, tmp_path)
    assert again.result.unchanged == 6 and again.result.inserted == again.result.updated == 0
    after = store.read(schemas.EPISODES)
    pd.testing.assert_frame_equal(before, after)
    # Children are pseudonymised: three children, six episodes, no source ids kept.
    assert after["child_ref"].nunique() == 3
    assert not after["child_ref"].str.contains("SYN").any()
    assert after["last_seen_ward"].notna().all()
    # UK local time to UTC: 21:30 GMT in March before the clocks change.
    assert after["last_seen_at"].iloc[0] == pd.Timestamp("2025-03-01 21:30", tz="UTC")


def test_a_changed_row_is_updated(store: Store, tmp_path: Path) -> None:
    frame = good_episodes()
    ingest(store, "episodes", write(frame, tmp_path / "e.csv"), tmp_path)
    frame.loc[2, "risk_level"] = "high"
    report = ingest(store, "episodes", write(frame, tmp_path / "e.csv"), tmp_path)
    assert (report.result.updated, report.result.unchanged) == (1, 5)
    stored = store.read(schemas.EPISODES).set_index("episode_id")
    assert stored.loc["EP-0002", "risk_level"] == "high"


BAD_ROWS = [
    # (column, value, reason fragment)
    (("last_seen_lat", "last_seen_lng"), ("", ""), "missing coordinates"),
    ("last_seen_lat", "", "latitude is missing while longitude is given"),
    ("last_seen_lat", "north", "latitude is not a number"),
    (("last_seen_lat", "last_seen_lng"), ("0", "0"), "placeholder"),
    (("last_seen_lat", "last_seen_lng"), ("-2.482", "53.745"), "swapped"),
    (("last_seen_lat", "last_seen_lng"), ("428200", "368400"), "British National Grid"),
    (("last_seen_lat", "last_seen_lng"), ("48.85", "2.35"), "outside Great Britain"),
    (("last_seen_lat", "last_seen_lng"), ("51.5", "-0.12"), "outside the study area"),
    ("last_seen_at", "yesterday", "unparseable date"),
    ("last_seen_at", "2031-01-01T10:00", "in the future"),
    ("found_at", "2025-02-01T10:00", "found_at is before last_seen_at"),
    ("episode_id", "EP-0000", "duplicate `episode_id` (first at row 2)"),
    ("episode_id", "", "`episode_id` is missing"),
    ("last_seen_place_type", "castle", "unknown value; expected one of home"),
    ("risk_level", "extreme", "unknown value; expected one of no_apparent_risk"),
    ("in_care", "perhaps", "not a yes/no value"),
    ("child_id", "", "`child_id` is missing"),
]


def test_every_row_check(store: Store, tmp_path: Path) -> None:
    good = good_episodes(3)
    bad = pd.concat([good.iloc[[0]]] * len(BAD_ROWS), ignore_index=True)
    bad["episode_id"] = [f"BAD-{i}" for i in range(len(BAD_ROWS))]
    for i, (col, value, _) in enumerate(BAD_ROWS):
        cols = col if isinstance(col, tuple) else (col,)
        vals = value if isinstance(value, tuple) else (value,)
        for c, v in zip(cols, vals, strict=True):
            bad.loc[i, c] = v
    frame = pd.concat([good, bad], ignore_index=True)
    report = ingest(store, "episodes", write(frame, tmp_path / "e.csv"), tmp_path)
    assert report.rows_stored == 3
    assert report.rows_quarantined == len(BAD_ROWS)
    assert report.exit_code == 1
    q = pd.read_csv(report.quarantine_path, dtype=str, keep_default_na=False)
    assert list(q.columns) == ["file", "row", "column", "value", "reason"]
    for i, (col, _, fragment) in enumerate(BAD_ROWS):
        row = str(len(good) + i + 2)
        reasons = q.loc[q["row"] == row, "reason"].tolist()
        assert any(fragment in r for r in reasons), (row, col, fragment, reasons)
        first_col = col[0] if isinstance(col, tuple) else col
        assert first_col in q.loc[q["row"] == row, "column"].tolist()
    assert sorted(store.read(schemas.EPISODES)["episode_id"]) == sorted(good["episode_id"])


def test_strict_stores_nothing(store: Store, tmp_path: Path) -> None:
    frame = good_episodes()
    frame.loc[4, "last_seen_lat"] = "0"
    frame.loc[4, "last_seen_lng"] = "0"
    path = write(frame, tmp_path / "e.csv")
    with pytest.raises(StrictRefusal, match="1 of 6 rows are bad") as err:
        ingest(store, "episodes", path, tmp_path, strict=True)
    assert store.count(schemas.EPISODES) == 0
    saved = err.value.report.quarantine_path
    assert saved is not None and Path(saved).parent == tmp_path / "q"
    assert pd.read_csv(saved, dtype=str)["row"].tolist() == ["6"]


def test_person_columns_are_dropped_and_reported(store: Store, tmp_path: Path) -> None:
    frame = good_episodes()
    frame.insert(2, "Child Name", "Pat Example")
    frame["DOB"] = "2010-01-01"
    frame["Address Line 1"] = "1 Example Street"
    frame["Phone"] = "01254 000000"
    path = write(frame, tmp_path / "e.csv")
    report = ingest(store, "episodes", path, tmp_path)
    assert report.dropped_columns == ["Child Name", "DOB", "Address Line 1", "Phone"]
    stored = store.read(schemas.EPISODES)
    text = stored.astype(str).to_string()
    for secret in ("Pat Example", "Example Street", "01254", "2010-01-01", "SYN-C"):
        assert secret not in text
    if store.url.endswith(".gpkg"):
        raw = Path(store.url).read_bytes()
        assert b"Pat Example" not in raw and b"SYN-C0001" not in raw


def test_episodes_need_a_key(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGAGE_PSEUDONYM_KEY", raising=False)
    path = write(good_episodes(), tmp_path / "e.csv")
    with pytest.raises(PseudonymKeyError, match="ENGAGE_PSEUDONYM_KEY"):
        ingest_file(store, "episodes", path, quarantine_dir=tmp_path / "q", now=NOW)
    assert store.count(schemas.EPISODES) == 0


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "the file is empty"),
        (b"episode_id,child_id,last_seen_at,last_seen_lat,last_seen_lng\n", "no data rows"),
        (
            b"episode_id,last_seen_at,last_seen_lat,last_seen_lng\nE1,2025-01-01,53.7,-2.4\n",
            "child_id",
        ),
        (
            b"episode_id,child_id,last_seen_at\nE1,C1,2025-01-01\n",
            "last_seen_lat and last_seen_lng",
        ),
    ],
)
def test_unusable_files_store_nothing(
    store: Store, tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=match) as err:
        ingest(store, "episodes", path, tmp_path)
    assert "e.csv" in str(err.value)
    assert store.count(schemas.EPISODES) == 0


@pytest.mark.parametrize(
    ("encoding", "sep"), [("utf-8-sig", ","), ("latin-1", ","), ("utf-8", ";"), ("cp1252", "\t")]
)
def test_encodings_and_delimiters_ingest(
    store: Store, tmp_path: Path, encoding: str, sep: str
) -> None:
    frame = pd.DataFrame(
        {
            "venue_id": ["V1", "V2"],
            "name": ["Café Ève", "Takeaway 2"],
            "venue_type": ["takeaway", "Hotel"],
            "lat": [53.748, 53.744],
            "lng": [-2.482, -2.49],
        }
    )
    path = write(frame, tmp_path / "v.csv", encoding=encoding, sep=sep)
    report = ingest(store, "venues", path, tmp_path)
    assert report.rows_stored == 2
    stored = store.read(schemas.VENUES)
    assert stored["name"].tolist() == ["Café Ève", "Takeaway 2"]
    assert stored["venue_type"].tolist() == ["takeaway", "hotel"]


def test_easting_northing_input(store: Store, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"venue_id": ["V1"], "venue_type": ["park"], "easting": [368400], "northing": [428200]}
    )
    ingest(store, "venues", write(frame, tmp_path / "v.csv"), tmp_path)
    stored = store.read(schemas.VENUES)
    assert 53.74 < stored["lat"].iloc[0] < 53.76


def test_reports_and_disruptions_refer_to_known_venues(store: Store, tmp_path: Path) -> None:
    venues = pd.DataFrame(
        {"venue_id": ["V1"], "venue_type": ["hotel"], "lat": [53.748], "lng": [-2.482]}
    )
    ingest(store, "venues", write(venues, tmp_path / "v.csv"), tmp_path)
    reports = pd.DataFrame(
        {
            "report_id": ["R1", "R2", "R3", "R4"],
            "venue_id": ["V1", "V9", "V1", "V1"],
            "reported_at": ["2025-01-02", "2025-01-02", "2025-01-03", "2025-01-04"],
            "grading": ["1AP", "2BC", "", "4ZP"],
            "source_evaluation": ["", "", "2", ""],
            "intelligence_assessment": ["", "", "b", ""],
            "handling_code": ["", "", "c", ""],
        }
    )
    report = ingest(store, "venue-reports", write(reports, tmp_path / "r.csv"), tmp_path)
    assert report.rows_stored == 2
    q = pd.read_csv(report.quarantine_path, dtype=str)
    assert "unknown venue_id" in q.loc[q["row"] == "3", "reason"].iloc[0]
    assert set(q["row"]) == {"3", "5"}
    stored = store.read(schemas.VENUE_REPORTS).set_index("report_id")
    assert stored.loc[
        "R3", ["source_evaluation", "intelligence_assessment", "handling_code"]
    ].tolist() == ["2", "B", "C"]
    disruptions = pd.DataFrame(
        {
            "disruption_id": ["D1", "D2", "D3"],
            "venue_id": ["V1", "", ""],
            "date": ["2025-02-01", "2025-02-02", "2025-02-03"],
            "tactic": ["Closure Order", "patrol", "patrol"],
            "lat": ["", "53.75", ""],
            "lng": ["", "-2.47", ""],
        }
    )
    report = ingest(store, "disruptions", write(disruptions, tmp_path / "d.csv"), tmp_path)
    assert report.rows_stored == 2
    stored = store.read(schemas.DISRUPTIONS).set_index("disruption_id")
    assert stored.loc["D1", "lat"] == pytest.approx(53.748)
    assert stored.loc["D1", "tactic"] == "closure_order"
    q = pd.read_csv(report.quarantine_path, dtype=str)
    assert "needs a venue_id or its own coordinates" in q["reason"].iloc[0]


def test_police_uk_month_ingests_with_every_quarantined_row_explained(
    store: Store, tmp_path: Path, police_uk: Path
) -> None:
    path = police_uk / "blackburn_with_darwen" / "2022-10-lancashire-street-bwd.csv"
    report = ingest(store, "police-uk", path, tmp_path)
    raw = pd.read_csv(path)
    assert report.rows_read == len(raw)
    assert report.rows_stored + report.rows_quarantined == len(raw)
    stored = store.read(schemas.INCIDENTS)
    assert len(stored) == report.rows_stored
    assert (stored["time_precision"] == "month").all()
    assert (stored["occurred_at"] == pd.Timestamp("2022-09-30 23:00", tz="UTC")).all()
    # Categories are kept as published, counted the same way.
    expected = raw["Crime type"].value_counts()
    got = stored["category"].value_counts()
    assert (expected - got).fillna(0).abs().sum() == report.rows_quarantined
    # Ids: published Crime IDs kept, ASB rows get stable derived ids.
    asb = stored["category"] == "Anti-social behaviour"
    assert stored.loc[asb, "incident_id"].str.startswith("pu-").all()
    again = ingest(store, "police-uk", path, tmp_path)
    assert again.result.unchanged == report.rows_stored


def test_same_file_twice_at_once_gives_no_duplicates(store: Store, tmp_path: Path) -> None:
    from geo.store import open_store

    path = write(good_episodes(6), tmp_path / "e.csv")
    errors: list[BaseException] = []

    def run() -> None:
        s = open_store(store.url)
        try:
            ingest(s, "episodes", path, tmp_path)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    stored = store.read(schemas.EPISODES)
    assert len(stored) == 6
    assert stored["episode_id"].is_unique


def test_geojson_and_geopackage_inputs(store: Store, tmp_path: Path) -> None:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(
        {"venue_id": ["V1", "V2"], "name": ["Hotel 1", "Park 2"], "venue_type": ["hotel", "park"]},
        geometry=gpd.points_from_xy([-2.482, -2.49], [53.748, 53.744]),
        crs="EPSG:4326",
    )
    gdf.to_file(tmp_path / "v.geojson", driver="GeoJSON")
    report = ingest(store, "venues", tmp_path / "v.geojson", tmp_path)
    assert report.rows_stored == 2
    # The same venues from a GeoPackage in British National Grid land on the same points.
    gdf.to_crs("EPSG:27700").to_file(tmp_path / "v.gpkg", driver="GPKG", layer="venues")
    again = ingest(store, "venues", tmp_path / "v.gpkg", tmp_path)
    assert again.rows_stored == 2
    stored = store.read(schemas.VENUES)
    np.testing.assert_allclose(stored["lat"], [53.748, 53.744], atol=1e-7)


def test_the_key_is_never_stored(store: Store, tmp_path: Path) -> None:
    ingest(store, "episodes", write(good_episodes(), tmp_path / "e.csv"), tmp_path)
    store.record_run("ingest", {"kind": "episodes"}, {})
    text = store.runs().astype(str).to_string() + store.read(schemas.EPISODES).to_string()
    assert KEY.decode() not in text
    if store.url.endswith(".gpkg"):
        assert KEY not in Path(store.url).read_bytes()


# ------------------------------------------------------------------- the reasons summary


def _bad_rows(tmp_path: Path) -> Path:
    """14 episodes, 9 bad, with these reasons (file rows counting the header as row 1):

    * the date is in the future: rows 2-5 (row 2 in all three date columns);
    * unknown risk level: rows 6-8;
    * not a yes/no value: rows 9-10;
    * unknown last-seen place type: row 10 (with the yes/no problem).
    """
    frame = good_episodes(14)
    for i in range(4):
        frame.loc[i, "last_seen_at"] = "2027-03-01T21:30"
    frame.loc[0, ["reported_at", "found_at"]] = ["2027-03-01T23:00", "2027-03-02T02:00"]
    frame.loc[4:6, "risk_level"] = "extreme"
    frame.loc[7:8, "in_care"] = "maybe"
    frame.loc[8, "last_seen_place_type"] = "castle"
    return write(frame, tmp_path / "e.csv")


FUTURE = "the date is in the future; check the year and format"
RISK = "unknown value; expected one of no_apparent_risk, low, medium, high"
YES_NO = "not a yes/no value; use true/false, yes/no or 1/0"
PLACE = "unknown value; expected one of home, care_home, school, public, venue, unknown"


def test_reasons_count_rows_by_reason_across_chunks(store: Store, tmp_path: Path) -> None:
    report = ingest(store, "episodes", _bad_rows(tmp_path), tmp_path, chunk_rows=4)
    assert report.rows_quarantined == 9
    assert report.reasons == {FUTURE: 4, RISK: 3, YES_NO: 2, PLACE: 1}
    # The quarantine file keeps one line per bad cell: row 2 has three future dates.
    q = pd.read_csv(report.quarantine_path, dtype=str, keep_default_na=False)
    assert (q["reason"] == FUTURE).sum() == 6
    assert q.loc[q["reason"] == FUTURE, "row"].tolist() == ["2", "2", "2", "3", "4", "5"]


def test_reasons_group_duplicates_without_row_numbers(store: Store, tmp_path: Path) -> None:
    frame = good_episodes(9)
    frame["episode_id"] = ["EP-1", "EP-2", "EP-1", "EP-3", "EP-1", "EP-2", "EP-4", "EP-5", "EP-3"]
    report = ingest(store, "episodes", write(frame, tmp_path / "e.csv"), tmp_path, chunk_rows=4)
    # Rows 4, 6 and 7 repeat EP-1 and EP-2 (first at rows 2 and 3); row 10 repeats EP-3 (row 5).
    assert report.rows_quarantined == 4
    assert report.reasons == {"duplicate `episode_id`; ids must be unique, the first is kept": 4}
    q = pd.read_csv(report.quarantine_path, dtype=str, keep_default_na=False)
    assert q["row"].tolist() == ["4", "6", "7", "10"]
    firsts = q["reason"].str.extract(r"\(first at row (\d+)\)")[0].tolist()
    assert firsts == ["2", "2", "3", "5"]


def test_reason_lines_show_the_top_reasons_and_count_the_rest(store: Store, tmp_path: Path) -> None:
    report = ingest(store, "episodes", _bad_rows(tmp_path), tmp_path)
    see = f"; see {report.quarantine_path}"
    assert report.reason_lines() == [
        f"        4 x {FUTURE}",
        f"        3 x {RISK}",
        f"        2 x {YES_NO}",
        f"        1 x {PLACE}",
    ]
    # The two hidden reasons are on rows 9 and 10: two rows, not three problems.
    assert report.reason_lines(2) == [
        f"        4 x {FUTURE}",
        f"        3 x {RISK}",
        "  and 2 more reasons (2 rows)" + see,
    ]
    assert report.reason_lines(3)[-1] == "  and 1 more reason (1 row)" + see
    # With none shown, the rest is every quarantined row.
    assert report.reason_lines(0) == ["  and 4 more reasons (9 rows)" + see]


def test_reason_lines_when_nothing_was_quarantined(store: Store, tmp_path: Path) -> None:
    report = ingest(store, "episodes", write(good_episodes(), tmp_path / "e.csv"), tmp_path)
    assert report.reasons == {}
    assert report.reason_lines() == []


@pytest.mark.parametrize("limit", [-1, 2.5, "8", True])
def test_reason_lines_refuse_a_bad_limit(store: Store, tmp_path: Path, limit: object) -> None:
    report = ingest(store, "episodes", _bad_rows(tmp_path), tmp_path)
    with pytest.raises(ValidationError, match="`limit` must be a whole number >= 0"):
        report.reason_lines(limit)  # type: ignore[arg-type]
