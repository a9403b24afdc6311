"""The `engage` command line: exit codes, one-line reasons, stats and exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
VENUES = (
    "venue_id,name,venue_type,lat,lng\n"
    'V1,"=HYPERLINK(""http://x"")",takeaway,53.748,-2.482\n'
    "V2,Hotel 1,hotel,53.744,-2.49\n"
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ENGAGE_STORE", str(tmp_path / "s.gpkg"))
    monkeypatch.setenv("ENGAGE_QUARANTINE_DIR", str(tmp_path / "q"))
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", "cli-test-key-0123456789-abcdefghijkl")
    monkeypatch.delenv("ENGAGE_STUDY_AREA", raising=False)
    return tmp_path


def test_exit_0_when_every_row_is_stored(env: Path) -> None:
    path = env / "v.csv"
    path.write_text(VENUES)
    result = runner.invoke(app, ["ingest", "venues", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 rows read, 2 stored (2 new, 0 updated, 0 unchanged), 0 quarantined" in result.output


def test_exit_1_when_some_rows_are_quarantined(env: Path) -> None:
    path = env / "v.csv"
    path.write_text(VENUES + "V3,Park 1,park,0,0\n")
    result = runner.invoke(app, ["ingest", "venues", str(path)])
    assert result.exit_code == 1, result.output
    assert "1 quarantined" in result.output
    q = pd.read_csv(env / "q" / "v.csv.quarantine.csv")
    assert q["row"].tolist() == [4]


@pytest.mark.parametrize(
    ("content", "args", "reason"),
    [
        ("", [], "the file is empty"),
        ("venue_id,lat,lng\nV1,53.7,-2.4\n", [], "missing required column(s): venue_type"),
        (VENUES + "V3,Park,park,0,0\n", ["--strict"], "--strict was given, so nothing was stored"),
        ("venue_id,venue_type,lat,lng\nV1,castle,0,0\n", [], "no row of the file(s) passed"),
    ],
)
def test_exit_2_when_nothing_is_stored(
    env: Path, content: str, args: list[str], reason: str
) -> None:
    path = env / "v.csv"
    path.write_text(content)
    result = runner.invoke(app, ["ingest", "venues", str(path), *args])
    assert result.exit_code == 2, result.output
    assert reason in result.output
    count = runner.invoke(
        app, ["export", "--format", "csv", "--table", "venues", "--out", str(env / "o.csv")]
    )
    assert "venues: 0 rows" in count.output


def test_usage_errors_exit_2(env: Path) -> None:
    assert runner.invoke(app, ["ingest", "people", "x.csv"]).exit_code == 2
    assert runner.invoke(app, ["ingest"]).exit_code == 2
    missing = runner.invoke(app, ["ingest", "venues", str(env / "nope.csv")])
    assert missing.exit_code == 2 and "file not found" in missing.output


def test_csv_export_neutralises_formulas_and_gpkg_opens_as_layers(env: Path) -> None:
    path = env / "v.csv"
    path.write_text(VENUES)
    assert runner.invoke(app, ["ingest", "venues", str(path)]).exit_code == 0
    out = env / "venues.csv"
    result = runner.invoke(
        app, ["export", "--format", "csv", "--table", "venues", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text
    gpkg = env / "all.gpkg"
    assert runner.invoke(app, ["export", "--format", "gpkg", "--out", str(gpkg)]).exit_code == 0
    layers = {name for name, _ in pyogrio.list_layers(gpkg)}
    assert {"venues", "episodes", "incidents"} <= layers
    assert len(pyogrio.read_dataframe(gpkg, layer="venues")) == 2
    gj = env / "v.geojson"
    assert (
        runner.invoke(
            app, ["export", "--format", "geojson", "--table", "venues", "--out", str(gj)]
        ).exit_code
        == 0
    )
    assert len(pyogrio.read_dataframe(gj)) == 2


def test_stats_counts_by_week_and_ward(env: Path) -> None:
    episodes = pd.DataFrame(
        {
            "episode_id": ["E1", "E2", "E3"],
            "child_id": ["C1", "C1", "C2"],
            "last_seen_at": ["2025-03-03T20:00", "2025-03-04T20:00", "2025-03-11T20:00"],
            "last_seen_lat": [53.745, 53.745, 53.7],
            "last_seen_lng": [-2.482, -2.482, -2.46],
        }
    )
    path = env / "e.csv"
    episodes.to_csv(path, index=False)
    assert runner.invoke(app, ["ingest", "episodes", str(path)]).exit_code == 0
    result = runner.invoke(app, ["stats"])
    assert result.exit_code == 0, result.output
    assert "episodes: 3 rows" in result.output
    assert "Blackburn Central" in result.output
    assert "03 Mar 25" in result.output and "10 Mar 25" in result.output


def test_installed_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("engage")
    result = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, check=False, env=dict(os.environ)
    )
    assert result.returncode == 0
    for command in ("init", "ingest", "simulate", "stats", "export", "demo"):
        assert command in result.stdout
