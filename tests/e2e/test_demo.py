"""`engage demo`: simulate, ingest into the embedded store, count by ward and week."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from geo import schemas
from geo.store import open_store


def test_demo_stores_every_simulated_row_and_prints_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENGAGE_PSEUDONYM_KEY", raising=False)
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--weeks", "12"])
    assert result.exit_code == 0, result.output
    assert "one-off random key" in result.output
    assert "by ward and week" in result.output
    scenario = out / "scenario"
    store = open_store(str(out / "engage.gpkg"))
    try:
        for table, name in (
            (schemas.EPISODES, "episodes.csv"),
            (schemas.VENUES, "venues.csv"),
            (schemas.VENUE_REPORTS, "venue_reports.csv"),
            (schemas.DISRUPTIONS, "disruptions.csv"),
        ):
            assert store.count(table) == len(pd.read_csv(scenario / name)), name
        episodes = store.read(schemas.EPISODES)
        runs = store.runs()
    finally:
        store.close()
    assert f"episodes: {len(episodes)} rows" in result.output
    # Every ward that has episodes appears in the printed table by name.
    assert "Blackburn Central" in result.output
    assert episodes["last_seen_ward"].notna().mean() > 0.95
    assert (runs["kind"] == "ingest").sum() == 4
    # The synthetic child ids never reach the store; refs are pseudonyms.
    raw = (out / "engage.gpkg").read_bytes()
    assert b"SYN-C" not in raw
    assert episodes["child_ref"].str.match(r"^c-[0-9a-f]{20}$").all()
    # The demo also writes the partnership review of the planted disruptions, for partners.
    review = out / "review"
    for name in ("review.csv", "review.pdf", "review.html", "review.geojson", "run.json"):
        assert (review / name).stat().st_size > 0, name
    rows = pd.read_csv(review / "review.csv", dtype=str).fillna("")
    planted = pd.read_csv(scenario / "disruptions.csv", dtype=str)
    assert set(planted["disruption_id"]) <= set(rows["disruption_id"])
    assert "partnership review of" in result.output
    assert (runs["kind"] == "review").sum() == 1


def test_same_seed_same_scenario_through_the_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("a", "b"):
        result = runner.invoke(
            app, ["simulate", "--out", str(tmp_path / name), "--seed", "3", "--weeks", "6"]
        )
        assert result.exit_code == 0, result.output
    for f in ("episodes.csv", "venues.csv", "venue_reports.csv", "disruptions.csv", "truth.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    bad = runner.invoke(app, ["simulate", "--out", str(tmp_path / "c"), "--start", "2025-01-07"])
    assert bad.exit_code == 2
    assert "Monday" in bad.output
