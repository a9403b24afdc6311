"""The Store contract: every store (GeoPackage and PostGIS) passes these same tests.

Frames are built by hand from random points inside Blackburn; every expected
result is computed here from those frames (pandas, numpy, shapely, h3-py),
never hard-coded.
"""

from __future__ import annotations

import time
from datetime import datetime

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
import shapely

import geo
from geo.areas import assign_areas
from geo.boundaries import wards
from geo.errors import ValidationError
from geo.h3index import cells_to_parent, latlng_to_cells
from geo.schemas import (
    DISRUPTIONS,
    EPISODES,
    INCIDENTS,
    INTELLIGENCE_ASSESSMENTS,
    PLACE_TYPES,
    RISK_LEVELS,
    TABLES,
    TACTICS,
    TIME_PRECISIONS,
    VENUE_REPORTS,
    VENUE_TYPES,
    VENUES,
    Table,
)
from geo.store import Area, Store, UpsertResult, Window
from geo.store.frames import INGESTED_AT, conform

LAT = (53.70, 53.76)
LNG = (-2.53, -2.45)
BASE = pd.Timestamp("2024-01-01T00:00:00Z")
N_EPISODES = 60


# ------------------------------------------------------------------------ frames


def _times(rng: np.random.Generator, n: int, days: int = 180) -> pd.Series:
    """UTC timestamps at millisecond precision within ``days`` of BASE."""
    ms = rng.integers(0, days * 86_400_000, n)
    return pd.Series(BASE + pd.to_timedelta(ms, unit="ms")).astype("datetime64[ns, UTC]")


def _point(prefix: str, lat: np.ndarray, lng: np.ndarray) -> dict[str, object]:
    """The stored columns of one point; NaN coordinates make a null point."""
    ok = np.isfinite(lat) & np.isfinite(lng)
    h3 = pd.array([pd.NA] * lat.size, dtype="Int64")
    h3[ok] = latlng_to_cells(lat[ok], lng[ok])
    areas = assign_areas(lat, lng)
    return {
        f"{prefix}lat": lat,
        f"{prefix}lng": lng,
        f"{prefix}h3": h3,
        f"{prefix}district": areas["district"].to_numpy(dtype=object),
        f"{prefix}ward": areas["ward"].to_numpy(dtype=object),
        f"{prefix}lsoa": areas["lsoa"].to_numpy(dtype=object),
        f"{prefix}neighbourhood": areas["neighbourhood"].to_numpy(dtype=object),
        f"{prefix}beat": areas["beat"].to_numpy(dtype=object),
    }


def _uniform(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(*LAT, n), rng.uniform(*LNG, n)


def _hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64)


def _choice(rng: np.random.Generator, values: tuple[str, ...], n: int, null: float = 0.0):
    out = rng.choice(np.array(values, dtype=object), n).astype(object)
    out[rng.random(n) < null] = None
    return out


def _bools(rng: np.random.Generator, n: int) -> pd.arrays.BooleanArray:
    b = pd.array(rng.random(n) < 0.5, dtype="boolean")
    b[rng.random(n) < 0.2] = pd.NA
    return b


def make_episodes(seed: int = 1, n: int = N_EPISODES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # Mixed-case keys: key order is code-point order (upper case first).
    ids = [f"MFH-{i:04d}" if i % 2 == 0 else f"mfh-{i:04d}" for i in range(n)]
    last_seen = _times(rng, n)
    reported = last_seen + pd.to_timedelta(rng.integers(0, 6 * 3_600_000, n), unit="ms")
    reported[rng.random(n) < 0.15] = pd.NaT
    lat, lng = _uniform(rng, n)
    found = rng.random(n) < 0.7
    flat, flng = _uniform(rng, n)
    flat[~found], flng[~found] = np.nan, np.nan
    found_at = last_seen + pd.to_timedelta(rng.integers(1, 72 * 3_600_000, n), unit="ms")
    found_at[~found] = pd.NaT
    found_place = _choice(rng, PLACE_TYPES, n)
    found_place[~found] = None
    frame = pd.DataFrame(
        {
            "episode_id": np.array(ids, dtype=object),
            "child_ref": np.array([f"{x:016x}" for x in rng.integers(0, 2**62, 20)], dtype=object)[
                rng.integers(0, 20, n)
            ],
            "reported_at": reported,
            "last_seen_at": last_seen,
            **_point("last_seen_", lat, lng),
            "last_seen_place_type": _choice(rng, PLACE_TYPES, n),
            "found_at": found_at,
            **_point("found_", flat, flng),
            "found_place_type": found_place,
            "in_care": _bools(rng, n),
            "risk_level": _choice(rng, RISK_LEVELS, n, null=0.1),
            "source": "contract-test",
            "content_hash": _hashes(rng, n),
        }
    )
    return conform(EPISODES, frame)


def make_venues(seed: int = 2, n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lat, lng = _uniform(rng, n)
    names = np.array([f"Venue {i}" for i in range(n)], dtype=object)
    names[rng.random(n) < 0.2] = None
    frame = pd.DataFrame(
        {
            "venue_id": np.array([f"V-{i:03d}" for i in range(n)], dtype=object),
            "name": names,
            "venue_type": _choice(rng, VENUE_TYPES, n),
            **_point("", lat, lng),
            "public": _bools(rng, n),
            "source": "contract-test",
            "content_hash": _hashes(rng, n),
        }
    )
    return conform(VENUES, frame)


def make_venue_reports(seed: int = 3, n: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "report_id": np.array([f"R-{i:03d}" for i in range(n)], dtype=object),
            "venue_id": np.array([f"V-{i % 12:03d}" for i in range(n)], dtype=object),
            "reported_at": _times(rng, n),
            "source_evaluation": _choice(rng, ("1", "2", "3"), n),
            "intelligence_assessment": _choice(rng, INTELLIGENCE_ASSESSMENTS, n),
            "handling_code": _choice(rng, ("P", "C"), n),
            "source": "contract-test",
            "content_hash": _hashes(rng, n),
        }
    )
    return conform(VENUE_REPORTS, frame)


def make_disruptions(seed: int = 4, n: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lat, lng = _uniform(rng, n)
    no_point = np.arange(n) % 4 == 1
    lat[no_point], lng[no_point] = np.nan, np.nan
    venue = np.array([f"V-{i:03d}" for i in range(n)], dtype=object)
    venue[~no_point & (np.arange(n) % 3 == 0)] = None
    frame = pd.DataFrame(
        {
            "disruption_id": np.array([f"D-{i:03d}" for i in range(n)], dtype=object),
            "venue_id": venue,
            "disrupted_at": _times(rng, n),
            **_point("", lat, lng),
            "tactic": _choice(rng, TACTICS, n),
            "note": _choice(rng, ("visited", "warned", "closed"), n, null=0.3),
            "public": _bools(rng, n),
            "source": "contract-test",
            "content_hash": _hashes(rng, n),
        }
    )
    return conform(DISRUPTIONS, frame)


def make_incidents(seed: int = 5, n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lat, lng = _uniform(rng, n)
    frame = pd.DataFrame(
        {
            "incident_id": np.array([f"I-{i:04d}" for i in range(n)], dtype=object),
            "category": _choice(rng, ("anti-social-behaviour", "drugs", "violent-crime"), n),
            "occurred_at": _times(rng, n),
            "time_precision": _choice(rng, TIME_PRECISIONS, n),
            **_point("", lat, lng),
            "source": "contract-test",
            "content_hash": _hashes(rng, n),
        }
    )
    return conform(INCIDENTS, frame)


MAKERS = {
    "episodes": make_episodes,
    "venues": make_venues,
    "venue_reports": make_venue_reports,
    "disruptions": make_disruptions,
    "incidents": make_incidents,
}


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: make() for name, make in MAKERS.items()}


@pytest.fixture(scope="module")
def episodes(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return frames["episodes"]


# ------------------------------------------------------------------------ helpers


def write(store: Store, *pairs: tuple[Table, pd.DataFrame]) -> dict[str, UpsertResult]:
    with store.writer() as w:
        for table, frame in pairs:
            w.stage(table, frame)
        return w.finish()


def by_key(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(table.key, kind="stable").reset_index(drop=True)


def keys(frame: pd.DataFrame, table: Table = EPISODES) -> list[str]:
    return frame[table.key].tolist()


def expected_keys(frame: pd.DataFrame, mask: np.ndarray | pd.Series, table: Table = EPISODES):
    return sorted(frame.loc[np.asarray(mask, dtype=bool), table.key].tolist())


def groupby_parent(h3: pd.Series, res: int) -> pd.DataFrame:
    cells = h3.dropna().to_numpy(dtype=np.int64)
    counts = pd.Series(cells_to_parent(cells, res)).value_counts().sort_index()
    return pd.DataFrame(
        {"h3": counts.index.to_numpy(dtype=np.int64), "n": counts.to_numpy(dtype=np.int64)}
    )


# -------------------------------------------------------------------------- tests


def test_init_twice_keeps_rows(store: Store, episodes: pd.DataFrame) -> None:
    store.init()
    assert all(store.count(t) == 0 for t in TABLES.values())
    write(store, (EPISODES, episodes))
    store.init()
    store.init()
    assert store.count(EPISODES) == len(episodes)
    assert keys(store.read(EPISODES)) == sorted(episodes["episode_id"])


def test_upsert_counts_and_idempotent_reupsert(store: Store, episodes: pd.DataFrame) -> None:
    n = len(episodes)
    first = write(store, (EPISODES, episodes))
    assert first == {"episodes": UpsertResult(inserted=n, updated=0, unchanged=0)}
    before = store.read(EPISODES)

    again = write(store, (EPISODES, episodes))
    assert again["episodes"] == UpsertResult(inserted=0, updated=0, unchanged=n)
    pd.testing.assert_frame_equal(store.read(EPISODES), before)

    time.sleep(0.05)  # so a new ingested_at is visibly later
    changed = episodes.copy()
    rows = [0, 3, 7]
    changed.loc[rows, "risk_level"] = "high"
    changed.loc[rows, "content_hash"] = changed.loc[rows, "content_hash"] ^ 0x5A5A
    new = episodes.iloc[[1, 2]].copy()
    new["episode_id"] = ["NEW-0001", "NEW-0002"]
    batch = pd.concat([changed, new], ignore_index=True)
    third = write(store, (EPISODES, batch))
    assert third["episodes"] == UpsertResult(inserted=2, updated=3, unchanged=n - 3)
    assert third["episodes"].stored == n + 2

    after = store.read(EPISODES)
    assert store.count(EPISODES) == n + 2
    pd.testing.assert_frame_equal(
        after.drop(columns=INGESTED_AT), by_key(EPISODES, conform(EPISODES, batch))
    )
    old = before.set_index("episode_id")[INGESTED_AT]
    now = after.set_index("episode_id")[INGESTED_AT]
    touched = set(changed.loc[rows, "episode_id"])
    same = [k for k in old.index if k not in touched]
    pd.testing.assert_series_equal(now[same], old[same])
    assert (now[sorted(touched)] > old[sorted(touched)]).all()
    assert (now[["NEW-0001", "NEW-0002"]] > old.max()).all()


def test_same_key_staged_twice_keeps_last(store: Store, episodes: pd.DataFrame) -> None:
    later = episodes.iloc[[4]].copy()
    later["risk_level"] = "medium" if later["risk_level"].iloc[0] != "medium" else "low"
    later["content_hash"] = later["content_hash"] + 1
    dup_in_frame = pd.concat([episodes.iloc[[5]], episodes.iloc[[5]]], ignore_index=True)
    dup_in_frame.loc[1, "child_ref"] = "last-one-wins"
    with store.writer() as w:
        w.stage(EPISODES, episodes)
        w.stage(EPISODES, later)
        w.stage(EPISODES, dup_in_frame)
        result = w.finish()
    assert result["episodes"].inserted == len(episodes)
    assert store.count(EPISODES) == len(episodes)
    got = store.read(EPISODES).set_index("episode_id")
    key4 = later["episode_id"].iloc[0]
    assert got.loc[key4, "risk_level"] == later["risk_level"].iloc[0]
    assert got.loc[key4, "content_hash"] == later["content_hash"].iloc[0]
    assert got.loc[dup_in_frame["episode_id"].iloc[1], "child_ref"] == "last-one-wins"


FOUND = [c for c in EPISODES.column_names if c.startswith("found_")]


def _stage_kept(store: Store, frame: pd.DataFrame, kept: list[str]) -> UpsertResult:
    with store.writer() as w:
        w.stage(EPISODES, frame, kept_columns=kept)
        return w.finish()["episodes"]


def test_kept_columns_leave_stored_values_and_fill_new_rows(
    store: Store, episodes: pd.DataFrame
) -> None:
    # Episodes with found points, then the same keys staged without them (as a file
    # without the found columns would be) plus two new keys.
    has_found = episodes["found_lat"].notna()
    assert has_found.sum() >= 5  # the frames give enough found points to see them kept
    write(store, (EPISODES, episodes))
    before = store.read(EPISODES).set_index("episode_id")
    narrow = episodes.copy()
    narrow[FOUND] = None
    narrow["found_lat"] = np.nan
    narrow["found_lng"] = np.nan
    narrow["content_hash"] = narrow["content_hash"] ^ 0x0F0F
    changed = [1, 4]
    narrow.loc[changed, "risk_level"] = [
        "high" if v != "high" else "low" for v in narrow.loc[changed, "risk_level"]
    ]
    new = narrow.iloc[[0, 2]].copy()
    new["episode_id"] = ["NEW-1", "NEW-2"]
    batch = pd.concat([narrow, new], ignore_index=True)
    result = _stage_kept(store, batch, FOUND)
    n = len(episodes)
    # Only the present columns count: two changed risk levels, the rest unchanged.
    assert result == UpsertResult(inserted=2, updated=2, unchanged=n - 2)
    after = store.read(EPISODES).set_index("episode_id")
    pd.testing.assert_frame_equal(after.loc[before.index, FOUND], before[FOUND])
    assert after.loc[["NEW-1", "NEW-2"], FOUND].isna().all().all()
    ids = episodes["episode_id"].to_numpy()
    assert (
        after.loc[ids[changed], "risk_level"].tolist() == narrow.loc[changed, "risk_level"].tolist()
    )
    # The same staged rows again change nothing.
    again = _stage_kept(store, batch, FOUND)
    assert again == UpsertResult(inserted=0, updated=0, unchanged=n + 2)
    # Rows staged without kept columns (and a new hash) write every column: the
    # found columns become empty.
    full = batch.assign(content_hash=batch["content_hash"] ^ 0x1111)
    assert write(store, (EPISODES, full))["episodes"].updated == n + 2
    assert store.read(EPISODES)[FOUND].isna().all().all()


def test_kept_columns_are_checked(store: Store, episodes: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="`kept_columns`"), store.writer() as w:
        w.stage(EPISODES, episodes, kept_columns=["no_such_column"])
    with pytest.raises(ValidationError, match="`kept_columns`"), store.writer() as w:
        w.stage(EPISODES, episodes, kept_columns=["episode_id"])
    with pytest.raises(ValidationError, match="`kept_columns`"), store.writer() as w:
        w.stage(EPISODES, episodes, kept_columns=["found_at"])
        w.stage(EPISODES, episodes, kept_columns=["risk_level"])
    assert store.count(EPISODES) == 0


def _versions(frame: pd.DataFrame, days: int, salt: int) -> pd.DataFrame:
    """Another publication of the same incidents: ``days`` later, moved, another hash."""
    out = frame.copy()
    out["occurred_at"] = out["occurred_at"] + pd.Timedelta(days=days)
    out["lat"] = out["lat"] + 0.0001 * salt
    out["content_hash"] = out["content_hash"] ^ salt
    return out


def _write_keep(store: Store, *frames: pd.DataFrame, keep: str = "earliest") -> UpsertResult:
    with store.writer() as w:
        for frame in frames:
            w.stage(INCIDENTS, frame, keep=keep)  # type: ignore[arg-type]
        return w.finish()["incidents"]


def _stored(store: Store) -> pd.DataFrame:
    return store.read(INCIDENTS).drop(columns=INGESTED_AT)


def test_keep_earliest_stores_each_keys_earliest_version_in_any_order(
    store: Store, frames: dict[str, pd.DataFrame]
) -> None:
    middle = frames["incidents"]
    early, late = _versions(middle, -30, 1), _versions(middle, 30, 2)
    n = len(middle)
    assert _write_keep(store, middle) == UpsertResult(inserted=n)
    assert _write_keep(store, late) == UpsertResult(unchanged=n, kept_earlier=n)
    pd.testing.assert_frame_equal(_stored(store), by_key(INCIDENTS, middle))
    assert _write_keep(store, early) == UpsertResult(updated=n)
    pd.testing.assert_frame_equal(_stored(store), by_key(INCIDENTS, early))
    before = store.read(INCIDENTS)
    for frame in (middle, late, early):
        again = _write_keep(store, frame)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, n)
        assert again.kept_earlier == (0 if frame is early else n)
    pd.testing.assert_frame_equal(store.read(INCIDENTS), before)  # ingested_at too


@pytest.mark.parametrize("order", [(2, 0, 1), (0, 2, 1), (1, 2, 0)])
def test_keep_earliest_within_one_writer(
    store: Store, frames: dict[str, pd.DataFrame], order: tuple[int, int, int]
) -> None:
    middle = frames["incidents"]
    versions = (_versions(middle, -30, 1), middle, _versions(middle, 30, 2))
    # Each key's versions mixed over the staged frames, so no frame is all earliest.
    rows = np.arange(len(middle))
    staged = [
        pd.concat([versions[(k + r) % 3].iloc[[r]] for r in rows], ignore_index=True) for k in order
    ]
    result = _write_keep(store, *staged)
    assert result == UpsertResult(inserted=len(middle))
    pd.testing.assert_frame_equal(_stored(store), by_key(INCIDENTS, versions[0]))


def test_keep_earliest_at_an_equal_time_takes_the_last_staged(
    store: Store, frames: dict[str, pd.DataFrame]
) -> None:
    first = frames["incidents"]
    corrected = _versions(first, 0, 3)  # the same month published again, corrected
    _write_keep(store, first)
    assert _write_keep(store, corrected) == UpsertResult(updated=len(first))
    pd.testing.assert_frame_equal(_stored(store), by_key(INCIDENTS, corrected))
    assert _write_keep(store, corrected, first).updated == len(first)
    pd.testing.assert_frame_equal(_stored(store), by_key(INCIDENTS, first))


def test_keep_rule_is_checked(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ValidationError, match="`keep` must be one of last, earliest"):
        _write_keep(store, frames["incidents"], keep="first")
    with pytest.raises(ValidationError, match="`venues` has none"), store.writer() as w:
        w.stage(VENUES, frames["venues"], keep="earliest")
    mixed = "already staged with keep='earliest'"
    with pytest.raises(ValidationError, match=mixed), store.writer() as w:
        w.stage(INCIDENTS, frames["incidents"], keep="earliest")
        w.stage(INCIDENTS, frames["incidents"])
    assert store.count(INCIDENTS) == 0


def test_several_tables_in_one_writer(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    result = write(store, *((TABLES[name], frame) for name, frame in frames.items()))
    assert set(result) == set(frames)
    for name, frame in frames.items():
        assert result[name] == UpsertResult(inserted=len(frame))
        assert store.count(TABLES[name]) == len(frame)


@pytest.mark.parametrize("after_finish", [False, True])
def test_exception_rolls_back_everything(
    store: Store, frames: dict[str, pd.DataFrame], after_finish: bool
) -> None:
    episodes = frames["episodes"]
    write(store, (EPISODES, episodes.iloc[:30]))
    before = store.read(EPISODES)
    changed = episodes.copy()
    changed["content_hash"] = changed["content_hash"] + 1
    changed["source"] = "should-not-be-stored"

    class Boom(RuntimeError):
        pass

    with pytest.raises(Boom), store.writer() as w:
        w.stage(EPISODES, changed)
        w.stage(INCIDENTS, frames["incidents"])
        if after_finish:
            result = w.finish()
            assert result["episodes"] == UpsertResult(inserted=30, updated=30, unchanged=0)
        raise Boom

    pd.testing.assert_frame_equal(store.read(EPISODES), before)
    assert store.count(INCIDENTS) == 0
    # The store still works after the rollback.
    assert write(store, (INCIDENTS, frames["incidents"]))["incidents"].inserted == len(
        frames["incidents"]
    )


def test_stage_rejects_missing_columns_and_required_nulls(
    store: Store, episodes: pd.DataFrame
) -> None:
    with pytest.raises(ValidationError, match="child_ref"), store.writer() as w:
        w.stage(EPISODES, episodes.drop(columns=["child_ref"]))
    bad = episodes.copy()
    bad["last_seen_place_type"] = bad["last_seen_place_type"].astype(object)
    bad.loc[3, "last_seen_place_type"] = None
    with pytest.raises(ValidationError, match="last_seen_place_type"), store.writer() as w:
        w.stage(EPISODES, bad)
    assert store.count(EPISODES) == 0


def test_round_trip_every_table(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    write(store, *((TABLES[name], frame) for name, frame in frames.items()))
    for name, frame in frames.items():
        table = TABLES[name]
        got = store.read(table)
        assert list(got.columns) == [*table.column_names, INGESTED_AT]
        pd.testing.assert_frame_equal(got.drop(columns=INGESTED_AT), by_key(table, frame))
        assert str(got[INGESTED_AT].dtype) == "datetime64[ns, UTC]"
        assert got[INGESTED_AT].notna().all()


def test_null_found_point(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    got = store.read(EPISODES).set_index("episode_id")
    lost = episodes.loc[episodes["found_lat"].isna(), "episode_id"]
    assert 0 < len(lost) < len(episodes)
    missing = got.loc[lost]
    assert missing["found_lat"].isna().all() and missing["found_lng"].isna().all()
    assert missing["found_h3"].isna().all()
    assert missing["found_at"].isna().all()
    assert missing["found_ward"].isna().all()
    assert missing["last_seen_h3"].notna().all()
    counts = store.counts_by_cell(EPISODES, 12, point="found_")
    assert counts["n"].sum() == len(episodes) - len(lost)
    pd.testing.assert_frame_equal(counts, groupby_parent(episodes["found_h3"], 12))


def test_disruptions_without_point(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    d = frames["disruptions"]
    write(store, (DISRUPTIONS, d))
    has_point = d["lat"].notna()
    assert 0 < (~has_point).sum() < len(d)
    assert store.count(DISRUPTIONS) == len(d)
    counts = store.counts_by_cell(DISRUPTIONS, 9)
    assert counts["n"].sum() == has_point.sum()
    bbox = Area(bbox=(LNG[0] - 0.1, LAT[0] - 0.1, LNG[1] + 0.1, LAT[1] + 0.1))
    assert keys(store.read(DISRUPTIONS, area=bbox), DISRUPTIONS) == expected_keys(
        d, has_point, DISRUPTIONS
    )


def test_read_window_is_half_open(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    t = episodes["last_seen_at"].sort_values().reset_index(drop=True)
    start, end = t.iloc[10], t.iloc[40]
    window = Window(start.to_pydatetime(), end.to_pydatetime())
    got = keys(store.read(EPISODES, window=window))
    ts = episodes["last_seen_at"]
    assert got == expected_keys(episodes, (ts >= start) & (ts < end))
    assert len(got) == 30
    start_key = episodes.loc[ts == start, "episode_id"].iloc[0]
    end_key = episodes.loc[ts == end, "episode_id"].iloc[0]
    assert start_key in got and end_key not in got
    assert keys(store.read(EPISODES, window=Window(start=end.to_pydatetime()))) == expected_keys(
        episodes, ts >= end
    )
    assert keys(store.read(EPISODES, window=Window(end=start.to_pydatetime()))) == expected_keys(
        episodes, ts < start
    )


def test_read_by_ward_code_and_name(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    code = episodes["last_seen_ward"].value_counts().index[0]
    w = wards()
    name = w.loc[w["code"] == code, "name"].iloc[0]
    expected = expected_keys(episodes, episodes["last_seen_ward"] == code)
    assert 0 < len(expected) < len(episodes)
    assert keys(store.read(EPISODES, area=Area(ward=code))) == expected
    assert keys(store.read(EPISODES, area=Area(ward=name))) == expected
    assert keys(store.read(EPISODES, area=Area(ward=name.upper()))) == expected


def test_read_by_bbox_includes_edges(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    lat, lng = episodes["last_seen_lat"], episodes["last_seen_lng"]
    slat, slng = lat.sort_values().to_numpy(), lng.sort_values().to_numpy()
    # Edges exactly on stored coordinates: the box includes its boundary.
    x0, x1, y0, y1 = slng[5], slng[45], slat[8], slat[50]
    got = keys(store.read(EPISODES, area=Area(bbox=(x0, y0, x1, y1))))
    mask = (lng >= x0) & (lng <= x1) & (lat >= y0) & (lat <= y1)
    assert got == expected_keys(episodes, mask)
    assert 0 < len(got) < len(episodes)
    on_edge = episodes.loc[mask & ((lng == x0) | (lng == x1) | (lat == y0) | (lat == y1))]
    assert len(on_edge) > 0
    assert set(on_edge["episode_id"]) <= set(got)


def test_read_by_polygon_with_hole(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    cx, cy = float(np.mean(LNG)), float(np.mean(LAT))
    outer = [(cx - 0.035, cy - 0.02), (cx + 0.03, cy - 0.025), (cx + 0.02, cy + 0.03)]
    hole = shapely.box(cx - 0.005, cy - 0.005, cx + 0.008, cy + 0.006).exterior.coords
    polygon = shapely.Polygon(outer, [hole])
    lat = episodes["last_seen_lat"].to_numpy()
    lng = episodes["last_seen_lng"].to_numpy()
    inside = shapely.contains_xy(polygon, lng, lat)
    in_hole = shapely.contains_xy(shapely.Polygon(hole), lng, lat)
    got = keys(store.read(EPISODES, area=Area(polygon=polygon)))
    assert got == expected_keys(episodes, inside)
    assert 0 < len(got) < len(episodes)
    assert not set(episodes.loc[in_hole, "episode_id"]) & set(got)
    counts = store.counts_by_cell(EPISODES, 10, area=Area(polygon=polygon))
    pd.testing.assert_frame_equal(counts, groupby_parent(episodes.loc[inside, "last_seen_h3"], 10))


@pytest.mark.parametrize("res", [6, 9, 12])
def test_read_by_cells(store: Store, episodes: pd.DataFrame, res: int) -> None:
    write(store, (EPISODES, episodes))
    h3 = [int(c) for c in episodes["last_seen_h3"]]
    parents = [h3i.cell_to_parent(c, res) for c in h3]
    chosen = sorted(set(parents[:5]))
    elsewhere = h3i.latlng_to_cell(51.5, -0.12, res)  # London: holds no rows
    got = keys(store.read(EPISODES, cells=[*chosen, elsewhere]))
    expected = expected_keys(episodes, [p in chosen for p in parents])
    assert got == expected
    assert len(got) >= len(chosen)
    if res >= 9:
        assert len(got) < len(episodes)
    assert store.read(EPISODES, cells=[elsewhere]).empty
    assert store.read(EPISODES, cells=[]).empty


def test_read_combines_filters_and_columns(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    ts = episodes["last_seen_at"]
    start = ts.quantile(0.2).floor("s")
    window = Window(start=start.to_pydatetime())
    res8 = [h3i.cell_to_parent(int(c), 8) for c in episodes["last_seen_h3"]]
    chosen = sorted(set(res8))[:3]
    got = store.read(
        EPISODES,
        window=window,
        cells=chosen,
        columns=["last_seen_h3", "episode_id", INGESTED_AT],
    )
    assert list(got.columns) == ["last_seen_h3", "episode_id", INGESTED_AT]
    assert str(got["last_seen_h3"].dtype) == "Int64"
    mask = (ts >= start).to_numpy() & np.isin(res8, chosen)
    assert keys(got) == expected_keys(episodes, mask)
    with pytest.raises(ValidationError):
        store.read(EPISODES, columns=["episode_id", "no_such_column"])


@pytest.mark.parametrize("res", [7, 8, 9, 10, 11, 12])
def test_counts_by_cell_match_groupby(store: Store, episodes: pd.DataFrame, res: int) -> None:
    write(store, (EPISODES, episodes))
    got = store.counts_by_cell(EPISODES, res)
    assert list(got.columns) == ["h3", "n"]
    assert got["h3"].dtype == np.int64 and got["n"].dtype == np.int64
    pd.testing.assert_frame_equal(got, groupby_parent(episodes["last_seen_h3"], res))


def test_counts_are_conserved_when_rolling_up(
    store: Store, frames: dict[str, pd.DataFrame]
) -> None:
    incidents = frames["incidents"]
    write(store, (INCIDENTS, incidents))
    totals = {res: int(store.counts_by_cell(INCIDENTS, res)["n"].sum()) for res in range(7, 13)}
    assert set(totals.values()) == {len(incidents)}
    fine = store.counts_by_cell(INCIDENTS, 12)
    coarse = store.counts_by_cell(INCIDENTS, 9)
    rolled = fine.groupby(cells_to_parent(fine["h3"].to_numpy(), 9))["n"].sum()
    assert rolled.to_dict() == dict(zip(coarse["h3"], coarse["n"], strict=True))


def test_counts_by_cell_with_window_and_ward(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    ts = episodes["last_seen_at"]
    start, end = ts.quantile(0.1).floor("s"), ts.quantile(0.8).floor("s")
    code = episodes["last_seen_ward"].value_counts().index[0]
    got = store.counts_by_cell(
        EPISODES, 9, window=Window(start.to_pydatetime(), end.to_pydatetime()), area=Area(ward=code)
    )
    mask = (ts >= start) & (ts < end) & (episodes["last_seen_ward"] == code)
    assert mask.sum() > 0
    pd.testing.assert_frame_equal(got, groupby_parent(episodes.loc[mask, "last_seen_h3"], 9))
    # The area applies to the point counted: found points in the ward.
    found = store.counts_by_cell(EPISODES, 9, point="found_", area=Area(ward=code))
    fmask = episodes["found_ward"] == code
    pd.testing.assert_frame_equal(found, groupby_parent(episodes.loc[fmask, "found_h3"], 9))


def test_runs_recorded_and_read_back(store: Store) -> None:
    empty = store.runs()
    assert len(empty) == 0
    assert {"id", "kind", "created_at", "params", "outputs", "code_version"} <= set(empty.columns)
    params = {"res": 9, "window": ["2024-01-01", "2024-04-01"], "bandwidth_m": 250.0}
    outputs = {"targets": 12, "files": ["pack.pdf", "targets.csv"], "nested": {"a": [1, 2]}}
    first = store.record_run("weekly", params, outputs)
    second = store.record_run("ingest", {"file": "episodes.csv"}, {"inserted": 60})
    assert second > first
    runs = store.runs()
    assert runs["id"].tolist() == [first, second]
    assert runs["kind"].tolist() == ["weekly", "ingest"]
    assert runs["params"].iloc[0] == params and runs["outputs"].iloc[0] == outputs
    assert runs["params"].iloc[1] == {"file": "episodes.csv"}
    assert set(runs["code_version"]) == {geo.__version__}
    created = runs["created_at"]
    assert str(created.dtype).endswith("UTC]")
    assert (created <= pd.Timestamp.now(tz="UTC")).all()
    assert (created > pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)).all()


def test_iter_rows_in_key_order(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes))
    chunks = list(store.iter_rows(EPISODES, chunk_size=7))
    assert [len(c) for c in chunks] == [7] * (len(episodes) // 7) + (
        [len(episodes) % 7] if len(episodes) % 7 else []
    )
    whole = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(whole, store.read(EPISODES))
    assert keys(whole) == sorted(episodes["episode_id"])
    assert list(store.iter_rows(VENUES)) == []


def test_existing_keys_and_count(store: Store, episodes: pd.DataFrame) -> None:
    write(store, (EPISODES, episodes.iloc[:25]))
    assert store.count(EPISODES) == 25
    stored = set(episodes["episode_id"].iloc[:25])
    asked = [*episodes["episode_id"].iloc[20:40], "nope", "MFH-0000".lower()]
    assert store.existing_keys(EPISODES, asked) == stored & set(asked)
    many = [f"X-{i:06d}" for i in range(25_000)] + list(stored)
    assert store.existing_keys(EPISODES, many) == stored
    assert store.existing_keys(EPISODES, []) == set()


def test_bad_arguments(store: Store, frames: dict[str, pd.DataFrame]) -> None:
    write(store, *((TABLES[name], frame) for name, frame in frames.items()))
    for res in (6, 13):
        with pytest.raises(ValidationError, match="res"):
            store.counts_by_cell(EPISODES, res)
    box = Area(bbox=(LNG[0], LAT[0], LNG[1], LAT[1]))
    with pytest.raises(ValidationError, match="venue_reports"):
        store.read(VENUE_REPORTS, area=box)
    with pytest.raises(ValidationError, match="venue_reports"):
        store.read(VENUE_REPORTS, cells=[h3i.latlng_to_cell(53.73, -2.49, 9)])
    with pytest.raises(ValidationError, match="venue_reports"):
        store.counts_by_cell(VENUE_REPORTS, 9)
    t = datetime(2024, 3, 1, tzinfo=pd.Timestamp("2024-01-01", tz="UTC").tzinfo)
    for end in (t, t - pd.Timedelta(seconds=1)):
        with pytest.raises(ValidationError, match="end"):
            store.read(EPISODES, window=Window(t, end))
    with pytest.raises(ValidationError, match="venues"):
        store.read(VENUES, window=Window(start=t))
    with pytest.raises(ValidationError, match="point"):
        store.counts_by_cell(EPISODES, 9, point="home_")
    with pytest.raises(ValidationError, match="Atlantis"):
        store.read(EPISODES, area=Area(ward="Atlantis"))
    with pytest.raises(ValidationError):
        store.read(EPISODES, cells=[12345])


def test_time_bounds(store: Store) -> None:
    from geo import schemas as sch

    assert store.time_bounds(sch.INCIDENTS) == (None, None)
    frame = _incidents_for_bounds()
    with store.writer() as w:
        w.stage(sch.INCIDENTS, frame)
    lo, hi = store.time_bounds(sch.INCIDENTS)
    assert lo == frame["occurred_at"].min()
    assert hi == frame["occurred_at"].max()


def _incidents_for_bounds() -> pd.DataFrame:
    import numpy as np

    from geo.areas import assign_areas
    from geo.h3index import latlng_to_cells

    lat = np.array([53.745, 53.75, 53.74])
    lng = np.array([-2.48, -2.47, -2.49])
    areas = assign_areas(lat, lng)
    return pd.DataFrame(
        {
            "incident_id": ["a", "b", "c"],
            "category": "x",
            "occurred_at": pd.to_datetime(
                [
                    "2024-05-01T10:00:00.123Z",
                    "2023-01-02T00:00:00.000Z",
                    "2025-12-31T23:59:59.000Z",
                ],
                utc=True,
            ),
            "time_precision": "exact",
            "lat": lat,
            "lng": lng,
            "h3": latlng_to_cells(lat, lng),
            "district": areas["district"],
            "ward": areas["ward"],
            "lsoa": areas["lsoa"],
            "neighbourhood": None,
            "beat": None,
            "source": "t",
            "content_hash": [1, 2, 3],
        }
    )
