"""The weekly pack reads only its window: older history leaves it unchanged (both stores).

A store is filled with a year of the synthetic scenario and packed; then
episodes from another scenario, all dated a year before the first one
begins (long before the data window and the 90 days its episode read
reaches back), are added, and the pack is made again. Its patrol week,
counts, parameters and target list must be byte for byte the same, while
the store holds more episodes and its latest-episode and window reads stay
index look-ups.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from api.settings import Settings
from api.usecases.demo import DEMO_ORDER
from api.usecases.ingest import ingest_files, simulate_scenario
from api.usecases.week import weekly
from geo import schemas
from geo.store import open_store

KEY = "weekly-window-key-0123456789-abcdefghij"
RECENT_START = date(2025, 9, 1)  # a Monday; 52 weeks to 2026-08-30
OLDER_START = date(2023, 9, 4)  # a Monday; 52 weeks to 2024-09-01


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("window")
    recent, older = root / "recent", root / "older"
    simulate_scenario(recent, seed=21, weeks=52, start=RECENT_START)
    simulate_scenario(older, seed=22, weeks=52, start=OLDER_START)
    episodes = pd.read_csv(older / "episodes.csv", dtype=str, keep_default_na=False)
    for col in ("episode_id", "child_id"):
        episodes[col] = "OLD-" + episodes[col]
    episodes.to_csv(older / "episodes.csv", index=False)
    return recent, older


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_older_history_leaves_the_pack_unchanged(
    kind: str, scenarios: tuple[Path, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    recent, older = scenarios
    if kind == "gpkg":
        location = str(tmp_path / "engage.gpkg")
    else:
        location = str(request.getfixturevalue("pg_store_url"))
    settings = Settings(store=location, quarantine_dir=tmp_path / "q")
    for table_kind, name in DEMO_ORDER:
        ingest_files(location, table_kind, [recent / name], settings=settings, key=KEY)
    before = weekly(location, week=None, out_dir=tmp_path / "before", settings=settings)

    (report,) = ingest_files(
        location, "episodes", [older / "episodes.csv"], settings=settings, key=KEY
    )
    assert report.rows_stored > 500 and not report.rows_quarantined
    after = weekly(location, week=None, out_dir=tmp_path / "after", settings=settings)

    for key in ("week", "data_window", "counts", "parameters"):
        assert after.run[key] == before.run[key], key
    assert len(before.targets) > 0
    pd.testing.assert_frame_equal(after.targets, before.targets)
    for name in ("targets.csv", "hotspots.geojson"):
        assert (tmp_path / "after" / name).read_bytes() == (
            tmp_path / "before" / name
        ).read_bytes(), name

    store = open_store(location)
    try:
        lo, _ = store.time_bounds(schemas.EPISODES)
        assert lo is not None and lo.date() < RECENT_START
        plan = "\n".join(store.time_bounds_plan(schemas.EPISODES))  # type: ignore[attr-defined]
        assert "episodes_last_seen_at_idx" in plan and "Seq Scan" not in plan
    finally:
        store.close()
