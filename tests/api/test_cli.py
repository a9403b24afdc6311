"""The `engage` command line: exit codes, one-line reasons, stats and exports."""

from __future__ import annotations

import json
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
    q = pd.read_csv(next((env / "q").glob("v.csv.*.quarantine.csv")))
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
    assert "analyst view" in result.output.splitlines()[0]


def test_stats_mean_counts_whole_weeks_only(env: Path) -> None:
    """Episodes on Mon 3, Tue 4 and Wed 5 March, then the whole next two weeks, and a last
    one on Mon 24 March: with --from 2025-03-03 --to 2025-03-24 every week is whole; without
    a window the last week (one day of data) is a part week, marked and left out of the mean."""
    days = ["2025-03-03", "2025-03-04", "2025-03-05"]
    days += [f"2025-03-{d:02d}" for d in range(10, 24)]  # two whole weeks, a day each
    days += ["2025-03-24"]
    episodes = pd.DataFrame(
        {
            "episode_id": [f"E{i}" for i in range(len(days))],
            "child_id": [f"C{i}" for i in range(len(days))],
            "last_seen_at": [f"{d}T12:00" for d in days],
            "last_seen_lat": 53.745,
            "last_seen_lng": -2.482,
        }
    )
    path = env / "e.csv"
    episodes.to_csv(path, index=False)
    assert runner.invoke(app, ["ingest", "episodes", str(path)]).exit_code == 0
    windowed = runner.invoke(app, ["stats", "--from", "2025-03-03", "--to", "2025-03-24"])
    assert windowed.exit_code == 0, windowed.output
    # Weeks of 3, 7 and 7 episodes, all whole: mean 17 / 3.
    assert "mean per whole week 5.7 (3 whole weeks)" in windowed.output
    assert "*" not in windowed.output.split("by ward")[1].splitlines()[1]
    open_ended = runner.invoke(app, ["stats"])
    assert "24 Mar 25*" in open_ended.output and "* part week" in open_ended.output
    # Without a window the span runs from the first episode (Mon 3 March, 12:00), so the first
    # week is a part week too; the two whole weeks of 7 give a mean of 7.
    assert "mean per whole week 7.0 (2 whole weeks)" in open_ended.output


def test_police_uk_incidents_are_counted_by_month(env: Path, police_uk: Path) -> None:
    month = police_uk / "blackburn_with_darwen" / "2022-10-lancashire-street-bwd.csv"
    assert runner.invoke(app, ["ingest", "police-uk", str(month)]).exit_code in (0, 1)
    result = runner.invoke(app, ["stats", "--table", "incidents"])
    assert result.exit_code == 0, result.output
    assert "by ward and month (calendar month" in result.output
    assert "Oct 2022" in result.output and "week" not in result.output.split("by ward")[1]
    rows = pd.read_csv(month)
    stored = int(result.output.split("incidents: ")[1].split(" rows")[0])
    # Every stored crime of the month is in the month's total (police.uk dates to the month).
    assert stored <= len(rows) and f"rows in these months: {stored};" in result.output


def test_installed_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("engage")
    result = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, check=False, env=dict(os.environ)
    )
    assert result.returncode == 0
    for command in ("init", "ingest", "simulate", "stats", "export", "demo"):
        assert command in result.stdout


def test_every_engage_variable_is_read_by_the_settings(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENGAGE_BOUNDARIES_DIR and ENGAGE_TILES keep working through the one settings module:
    a missing boundary folder is a clear error, a copy with a ward renamed is used, and the
    settings name every variable they read."""
    import json
    import shutil

    from api.settings import VARIABLES, Settings
    from geo.boundaries import SHIPPED_DIR, find_ward
    from geo.studyarea import use_boundaries_folder

    assert set(VARIABLES) >= {
        "ENGAGE_STORE",
        "ENGAGE_STUDY_AREA",
        "ENGAGE_AREA_TOLERANCE_M",
        "ENGAGE_QUARANTINE_DIR",
        "ENGAGE_PSEUDONYM_KEY",
        "ENGAGE_BOUNDARIES_DIR",
        "ENGAGE_TILES",
    }
    monkeypatch.setenv("ENGAGE_BOUNDARIES_DIR", str(env / "nowhere"))
    bad = runner.invoke(app, ["stats"])
    assert bad.exit_code == 2 and "ENGAGE_BOUNDARIES_DIR" in bad.output
    folder = env / "boundaries"
    shutil.copytree(SHIPPED_DIR, folder)
    wards_file = folder / "bwd_wards_2018.geojson"
    doc = json.loads(wards_file.read_text())
    doc["features"][0]["properties"]["name"] = "Renamed Ward"
    wards_file.write_text(json.dumps(doc))
    monkeypatch.setenv("ENGAGE_BOUNDARIES_DIR", str(folder))
    monkeypatch.setenv("ENGAGE_TILES", "http://127.0.0.1:9/{z}/{x}/{y}.png")
    try:
        settings = Settings.from_env().apply()
        assert settings.tiles == "http://127.0.0.1:9/{z}/{x}/{y}.png"
        assert find_ward("Renamed Ward")[1] == "Renamed Ward"
    finally:
        use_boundaries_folder(None)
    from geo.errors import ValidationError

    with pytest.raises(ValidationError, match="Renamed Ward"):
        find_ward("Renamed Ward")


@pytest.fixture
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A small synthetic store (the command-line tests' builder)."""
    from .conftest import synthetic_store

    return synthetic_store(tmp_path_factory.mktemp("errors"), seed=5, weeks=12)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["stats", "--table", "nope"], "unknown table `nope`"),
        (["export", "--format", "csv", "--table", "nope", "--out", "{tmp}/x.csv"], "unknown table"),
        (
            ["export", "--format", "geojson", "--table", "venue_reports", "--out", "{tmp}/x.json"],
            "has no points",
        ),
        (["weekly", "--week", "9999-W52", "--out", "{tmp}/w"], "outside the years 1900-2200"),
        (["weekly", "--week", "0001-W01", "--out", "{tmp}/w"], "outside the years 1900-2200"),
        (
            ["hotspots", "--from", "0001-01-01", "--to", "9999-12-31", "--out", "{tmp}/h.csv"],
            "outside the years 1900-2200",
        ),
        (["trends", "--res", "0", "--out", "{tmp}/t.csv"], "`res` must be a whole number from 7"),
        (["trends", "--res", "12", "--out", "{tmp}/t.csv"], "`res` must be a whole number from 7"),
        (["ingest", "episodes", "{tmp}"], "is a folder, not a file"),
        (["ingest", "episodes", "{tmp}/missing.csv"], "file not found"),
    ],
)
def test_bad_commands_get_one_line_and_no_traceback(
    demo_store: str, tmp_path: Path, args: list[str], says: str
) -> None:
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(
        app,
        [*filled, "--store", demo_store],
        env={"ENGAGE_PSEUDONYM_KEY": "k" * 8 + "0123456789abcdefghijklmnop"},
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert says in result.output
    assert "Traceback" not in result.output


def test_read_commands_never_create_a_store(tmp_path: Path, pg_url: str) -> None:
    typo = tmp_path / "typo.gpkg"
    for args in (["stats"], ["hotspots", "--out", str(tmp_path / "h.csv")]):
        result = runner.invoke(app, [*args, "--store", str(typo)])
        assert result.exit_code == 2 and "no store at" in result.output, result.output
    assert not typo.exists()
    schema = "engage_typo_schema_never_made"
    url = f"{pg_url}?schema={schema}"
    result = runner.invoke(app, ["stats", "--store", url])
    assert result.exit_code == 2 and f"no Engage store in schema `{schema}`" in result.output
    import psycopg

    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    assert row is not None and row[0] == 0


def test_no_part_of_a_password_is_printed() -> None:
    secret = "S3cretPart"
    result = runner.invoke(
        app, ["stats", "--store", f"postgresql://postgres:{secret}@tail@127.0.0.1:1/test"]
    )
    assert result.exit_code == 2
    assert secret not in result.output and "tail" not in result.output
    assert "%40" in result.output


def test_an_output_never_destroys_the_store(demo_store: str, tmp_path: Path) -> None:
    """An output that is the store, through its own path, a link or another spelling, is
    refused and the store stays a store; so is an existing file of another kind, and an
    existing output of the same kind without --force."""
    import hashlib
    import os

    before = hashlib.sha256(Path(demo_store).read_bytes()).hexdigest()
    link = tmp_path / "link.gpkg"
    os.symlink(demo_store, link)
    other_spelling = str(Path(demo_store).parent / "." / Path(demo_store).name)
    week = ["--week", "2025-W10"]
    for out in (demo_store, str(link), other_spelling):
        for args in (
            ["targets", *week, "--out", out, "--force"],
            ["export", "--format", "gpkg", "--out", out, "--force"],
            ["export", "--format", "csv", "--table", "episodes", "--out", out, "--force"],
            ["hotspots", "--out", out, "--force"],
        ):
            result = runner.invoke(app, [*args, "--store", demo_store])
            assert result.exit_code == 2, (args, result.output)
            said = result.output
            assert "is the store itself" in said or "Engage store" in said or "must end in" in said
    assert hashlib.sha256(Path(demo_store).read_bytes()).hexdigest() == before
    # An existing file of another kind is not replaced, even with --force.
    notes = tmp_path / "notes.geojson"
    notes.write_text("my own notes, not a GeoJSON\n")
    kept = runner.invoke(app, ["hotspots", "--store", demo_store, "--out", str(notes), "--force"])
    assert kept.exit_code == 2 and "already holds" in kept.output
    assert notes.read_text() == "my own notes, not a GeoJSON\n"
    # An output of the same kind: refused without --force, replaced with it.
    out = tmp_path / "t.csv"
    first = runner.invoke(app, ["targets", "--store", demo_store, *week, "--out", str(out)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["targets", "--store", demo_store, *week, "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    forced = runner.invoke(
        app, ["targets", "--store", demo_store, *week, "--out", str(out), "--force"]
    )
    assert forced.exit_code == 0, forced.output


def test_a_pack_folder_is_replaced_whole_and_never_through_a_link(
    demo_store: str, tmp_path: Path
) -> None:
    """A link planted where a temporary file could go is never written through; a folder
    holding files the product did not write needs --force; a re-run replaces its own."""
    import os

    pack = tmp_path / "pack"
    pack.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    for name in ("targets.csv.part", ".targets.csv.part", "map.html.part"):
        os.symlink(victim, pack / name)
    args = ["weekly", "--store", demo_store, "--week", "2025-W10", "--out", str(pack)]
    assert runner.invoke(app, args).exit_code == 0
    assert victim.read_text() == "precious\n"
    assert runner.invoke(app, args).exit_code == 0  # its own earlier pack
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "map.html").write_text("someone else's map")
    refused = runner.invoke(app, [*args[:-1], str(foreign)])
    assert refused.exit_code == 2 and "did not write" in refused.output
    assert (foreign / "map.html").read_text() == "someone else's map"
    assert runner.invoke(app, [*args[:-1], str(foreign), "--force"]).exit_code == 0


def test_demo_and_simulate_keep_what_they_did_not_write(tmp_path: Path) -> None:
    """`demo --out .` no longer deletes the default store, and simulate no longer overwrites
    a folder's files; each re-runs into its own output."""
    store = tmp_path / "engage.gpkg"
    store.write_bytes(b"not the demo's")
    refused = runner.invoke(app, ["demo", "--out", str(tmp_path), "--weeks", "4"])
    assert refused.exit_code == 2 and "engage.gpkg" in refused.output
    assert store.read_bytes() == b"not the demo's"
    scenario = tmp_path / "s"
    scenario.mkdir()
    (scenario / "episodes.csv").write_text("mine\n")
    no = runner.invoke(app, ["simulate", "--out", str(scenario), "--weeks", "4"])
    assert no.exit_code == 2 and (scenario / "episodes.csv").read_text() == "mine\n"
    fresh = tmp_path / "fresh"
    for _ in range(2):
        ok = runner.invoke(app, ["simulate", "--out", str(fresh), "--weeks", "4"])
        assert ok.exit_code == 0, ok.output
    assert (fresh / "episodes.csv").read_text().startswith("episode_id,")


def test_simulate_plants_the_disruptions_asked_for(tmp_path: Path) -> None:
    """`--disruptions` and `--placebos` set how many are planted; bad numbers are refused
    before anything is written."""
    out = tmp_path / "s"
    args = ["simulate", "--out", str(out), "--weeks", "4", "--start", "2025-01-06"]
    ok = runner.invoke(app, [*args, "--disruptions", "2", "--placebos", "1"])
    assert ok.exit_code == 0, ok.output
    rows = pd.read_csv(out / "disruptions.csv")
    truth = json.loads((out / "truth.json").read_text())
    assert len(rows) == len(truth["disruptions"]) == 3
    assert sum(x["effect"] for x in truth["disruptions"]) == 2
    for bad, match in (
        (["--placebos", "-1"], "`placebos` must be a whole number >= 0, got -1"),
        (["--disruptions", "0", "--placebos", "0"], "must add up to 1-24"),
    ):
        refused = runner.invoke(app, [*args[:2], str(tmp_path / "b"), *args[3:], *bad])
        assert refused.exit_code == 2 and match in refused.output, refused.output
        assert not (tmp_path / "b" / "episodes.csv").exists()


def test_several_files_each_report_and_one_exit_code(env: Path) -> None:
    """A good file then an unusable one: the first is stored and reported, the second
    refused with its reason, exit 1; two unusable files: exit 2; two good ones: exit 0."""
    good = env / "v.csv"
    good.write_text(VENUES)
    empty = env / "empty.csv"
    empty.write_text("")
    mixed = runner.invoke(app, ["ingest", "venues", str(good), str(empty)])
    assert mixed.exit_code == 1, mixed.output
    assert f"{good}: 2 rows read, 2 stored" in mixed.output
    assert "refused, nothing stored from it" in mixed.output and "1 of 2 file(s)" in mixed.output
    both_bad = runner.invoke(app, ["ingest", "venues", str(empty), str(empty)])
    assert both_bad.exit_code == 2 and "2 of 2 file(s) refused" in both_bad.output
    other = env / "w.csv"
    other.write_text(VENUES.replace("V1", "V3").replace("V2", "V4"))
    assert runner.invoke(app, ["ingest", "venues", str(good), str(other)]).exit_code == 0


def test_a_pack_that_fails_leaves_the_folder_as_it_was(
    demo_store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PDF failing after the map was built leaves the earlier pack whole: no new map
    beside an old PDF, and a one-line reason."""
    import api.usecases.week as week

    pack = tmp_path / "pack"
    args = ["weekly", "--store", demo_store, "--week", "2025-W10", "--out", str(pack)]
    assert runner.invoke(app, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in pack.iterdir() if p.is_file()}

    def broken(*_: object, **__: object) -> None:
        from geo.errors import ValidationError

        raise ValidationError("the PDF could not be laid out")

    monkeypatch.setattr(week, "build_pack", broken)
    failed = runner.invoke(app, [*args, "--marking", "OFFICIAL"])
    assert failed.exit_code == 2 and "could not be laid out" in failed.output
    after = {p.name: p.read_bytes() for p in pack.iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in pack.iterdir() if p.is_dir()]  # no temporary folder left behind
