"""``engage review`` from the command line: what it writes, its exit codes and its bad input."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from api.usecases.ingest import ingest_files
from geo.simulate import simulate

KEY = "review-cli-test-key-0123456789abcdefghij"
START = date(2025, 1, 6)
WEEKS = 70
runner = CliRunner()
# A corner of Blackburn with Darwen's moorland, far from any simulated place.
MOOR = (53.6402, -2.4120)


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("review-cli")
    files = simulate(root / "scenario", seed=5, weeks=WEEKS, start=START)
    location = str(root / "review.gpkg")
    settings = Settings(store=location, quarantine_dir=root / "q", pseudonym_key=KEY)
    venues = pd.read_csv(files.venues)
    mid = START + timedelta(weeks=34, days=3)
    rows = [
        {
            "disruption_id": f"CLI-{i + 1}",
            "venue_id": v,
            "disrupted_at": f"{(mid + timedelta(weeks=2 * i)).isoformat()}T10:00:00",
            "lat": "",
            "lng": "",
            "tactic": "closure_order" if i % 2 else "cawn",
            "public": "false",
        }
        for i, v in enumerate(venues["venue_id"].iloc[:4])
    ]
    rows.append(
        {
            "disruption_id": "CLI-EARLY",
            "venue_id": "",
            "disrupted_at": "2024-06-05T10:00:00",
            "lat": f"{venues['lat'].iloc[0]:.6f}",
            "lng": f"{venues['lng'].iloc[0]:.6f}",
            "tactic": "patrol",
            "public": "false",
        }
    )
    rows.append(
        {
            "disruption_id": "CLI-MOOR",
            "venue_id": "",
            "disrupted_at": f"{mid.isoformat()}T10:00:00",
            "lat": f"{MOOR[0]}",
            "lng": f"{MOOR[1]}",
            "tactic": "patrol",
            "public": "false",
        }
    )
    for kind, path in (
        ("venues", Path(files.venues)),
        ("episodes", Path(files.episodes)),
        ("disruptions", _write(root / "disruptions.csv", rows)),
    ):
        (report,) = ingest_files(location, kind, [path], settings=settings)
        assert report.rows_quarantined == 0, (kind, report.reasons)
    return {"location": location, "root": root, "venues": venues}


def run(store: dict[str, Any], out: Path, *args: str) -> Any:
    return runner.invoke(
        app,
        ["review", "--store", store["location"], "--out", str(out), *args],
        env={"ENGAGE_PSEUDONYM_KEY": KEY},
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_reviewing_some_disruptions_writes_every_file_and_exits_by_the_contract(
    store: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "one"
    result = run(store, out, "--disruption", "CLI-1", "--disruption", "CLI-2")
    assert result.exit_code in (0, 1), result.output
    for name in ("review.csv", "review.pdf", "review.html", "review.geojson", "run.json"):
        assert (out / name).stat().st_size > 0, name
    rows = _rows(out / "review.csv")
    assert {r["disruption_id"] for r in rows} == {"CLI-1", "CLI-2", ""}
    reviewed = [r for r in rows if r["disruption_id"] and r["reviewed"] == "True"]
    assert result.exit_code == (0 if len(reviewed) == 2 else 1)
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["disruptions"]["asked"] == 2


def test_a_disruption_before_the_data_is_not_reviewed_and_the_others_go_on(
    store: dict[str, Any], tmp_path: Path
) -> None:
    result = run(store, tmp_path / "r", "--disruption", "CLI-EARLY", "--disruption", "CLI-1")
    rows = {r["disruption_id"]: r for r in _rows(tmp_path / "r" / "review.csv")}
    assert rows["CLI-EARLY"]["reviewed"] == "False"
    assert "no whole week of data before" in rows["CLI-EARLY"]["reason"]
    assert result.exit_code == 1
    assert "CLI-EARLY not reviewed" in result.output


def test_none_reviewable_exits_2_and_writes_nothing(store: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "none"
    result = run(store, out, "--disruption", "CLI-EARLY")
    assert result.exit_code == 2
    assert "no whole week of data before" in result.output
    assert not out.exists() or not any(out.iterdir())


def test_zero_counts_everywhere_give_a_defined_wdd_and_an_undefined_wdq(
    store: dict[str, Any], tmp_path: Path
) -> None:
    result = run(
        store,
        tmp_path / "moor",
        "--disruption",
        "CLI-MOOR",
        "--response-m",
        "100",
        "--buffer-m",
        "200",
    )
    assert result.exit_code == 0, result.output
    (row,) = [r for r in _rows(tmp_path / "moor" / "review.csv") if r["disruption_id"]]
    assert row["response_before"] == row["response_after"] == "0"
    assert float(row["wdd"]) == 0.0
    assert row["wdd_p"] == "" and row["wdq"] == ""
    assert "no events" in row["wdq_reading"] or row["wdq_reading"] == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--disruption", "NOPE-1"], ["NOPE-1", "engage stats"]),
        (["--response-m", "500"], ["response radius", "--buffer-m"]),
        (["--buffer-m", "400,200"], ["--buffer-m", "increase"]),
        (["--buffer-m", "far"], ["--buffer-m", "metres"]),
        (["--before-weeks", "0"], ["--before-weeks"]),
        (["--tactic", "raid"], ["--tactic", "closure_order"]),
        (["--from", "2030-01-01"], ["no stored disruption matches"]),
        (["--layer", "incidents"], ["no incidents"]),
        (["--layer", "venues"], ["--layer"]),
        (["--category", "Burglary"], ["--category"]),
        (["--audience", "neighbourhood"], ["--audience"]),
        (["--control", "Nowhere Ward"], ["Nowhere Ward"]),
    ],
)
def test_bad_input_names_the_argument_and_writes_nothing(
    store: dict[str, Any], tmp_path: Path, args: list[str], words: list[str]
) -> None:
    out = tmp_path / "bad"
    result = run(store, out, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)
    assert not out.exists() or not any(out.iterdir())


def test_a_control_file_without_polygons_is_refused(store: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(-2.48, 53.75)], crs="EPSG:4326").to_file(
        path
    )
    result = run(store, tmp_path / "out", "--control", str(path))
    assert result.exit_code == 2
    assert "holds no polygon" in result.output and "points.geojson" in result.output


def test_a_control_file_in_british_national_grid_is_used(
    store: dict[str, Any], tmp_path: Path
) -> None:
    # A 1.5 km square well to the north of the first venue, in BNG metres, as a GeoPackage.
    v = store["venues"].iloc[1]
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(
        v["lng"], v["lat"]
    )
    square = shapely.box(x - 750, y + 1200, x + 750, y + 2700)
    path = tmp_path / "control.gpkg"
    gpd.GeoDataFrame({"name": ["north"]}, geometry=[square], crs="EPSG:27700").to_file(
        path, layer="c"
    )
    result = run(store, tmp_path / "out", "--disruption", "CLI-2", "--control", str(path))
    assert result.exit_code in (0, 1), result.output
    (row,) = [r for r in _rows(tmp_path / "out" / "review.csv") if r["disruption_id"]]
    assert "given by the analyst" in row["control_rule"] or "overlaps" in row["control_rule"]


def test_a_control_over_the_disrupted_place_is_refused_for_that_disruption(
    store: dict[str, Any], tmp_path: Path
) -> None:
    v = store["venues"].iloc[0]
    path = tmp_path / "over.geojson"
    gpd.GeoDataFrame(
        {"id": [1]}, geometry=[shapely.Point(v["lng"], v["lat"]).buffer(0.01)], crs="EPSG:4326"
    ).to_file(path)
    result = run(store, tmp_path / "out", "--disruption", "CLI-1", "--control", str(path))
    assert result.exit_code == 2
    assert "overlaps the response area" in result.output and "--control" in result.output


def test_a_folder_holding_someone_elses_review_is_left_alone(
    store: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "review.csv").write_text("not ours\n")
    result = run(store, out, "--disruption", "CLI-1")
    assert result.exit_code == 2
    assert (out / "review.csv").read_text() == "not ours\n"


def test_the_postgis_store_gives_the_same_review(
    store: dict[str, Any], tmp_path: Path, pg_store_url: str
) -> None:
    # The same files ingested into a real PostGIS store review to the same rows.
    settings = Settings(store=pg_store_url, quarantine_dir=tmp_path / "q", pseudonym_key=KEY)
    root = store["root"]
    for kind, path in (
        ("venues", root / "scenario" / "venues.csv"),
        ("episodes", root / "scenario" / "episodes.csv"),
        ("disruptions", root / "disruptions.csv"),
    ):
        (report,) = ingest_files(pg_store_url, kind, [path], settings=settings)
        assert report.rows_quarantined == 0, (kind, report.reasons)
    ids = ["--disruption", "CLI-2", "--disruption", "CLI-3", "--disruption", "CLI-MOOR"]
    lite = run(store, tmp_path / "gpkg", *ids)
    pg = runner.invoke(
        app,
        ["review", "--store", pg_store_url, "--out", str(tmp_path / "pg"), *ids],
        env={"ENGAGE_PSEUDONYM_KEY": KEY},
    )
    assert pg.exit_code == lite.exit_code, pg.output
    a = pd.read_csv(tmp_path / "gpkg" / "review.csv")
    b = pd.read_csv(tmp_path / "pg" / "review.csv")
    pd.testing.assert_frame_equal(a, b)
