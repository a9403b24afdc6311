"""`engage hotspots`, `engage targets` and `engage weekly` on a small synthetic store."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from api.cli import app
from api.usecases.ingest import ingest_files
from api.usecases.store import opened_store
from models.params import AnalysisParams

from .conftest import SYNTHETIC_KEY, synthetic_store

runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return synthetic_store(tmp_path_factory.mktemp("cli"), seed=11)


@pytest.mark.parametrize("method", ["kde", "count", "dbscan", "gistar"])
def test_hotspots_one_row_per_cell(store: str, tmp_path: Path, method: str) -> None:
    out = tmp_path / f"{method}.csv"
    result = runner.invoke(
        app, ["hotspots", "--store", store, "--method", method, "--res", "9", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert table["h3"].is_unique
    assert {"h3", "lat", "lng", "score"} <= set(table.columns)
    assert table["score"].max() > 0
    if method == "gistar":
        # Gi* z-scores: cold spots score below zero; classes and p-values beside them.
        assert {"gi_z", "p", "p_adj", "gi_class"} <= set(table.columns)
        assert (table["p_adj"] >= table["p"] - 1e-12).all()
    else:
        assert (table["score"] >= 0).all()
    # One row per res-9 cell of Blackburn with Darwen (1,455 cell centres).
    assert len(table) == 1455
    if method == "kde":
        assert "bandwidth_m" in result.output


def test_hotspots_geojson_for_one_ward_and_layer(store: str, tmp_path: Path) -> None:
    out = tmp_path / "h.geojson"
    result = runner.invoke(
        app,
        [
            "hotspots",
            "--store",
            store,
            "--layer",
            "found",
            "--area",
            "Blackburn Central",
            "--method",
            "count",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    frame = gpd.read_file(out)
    assert 0 < len(frame) < 200
    assert (frame.geometry.geom_type == "Polygon").all()


def test_targets_and_weekly(store: str, tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    result = runner.invoke(app, ["targets", "--store", store, "--top", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    targets = pd.read_csv(out)
    assert targets["rank"].tolist() == [1, 2, 3, 4, 5]
    pack = tmp_path / "pack"
    result = runner.invoke(
        app,
        [
            "weekly",
            "--store",
            store,
            "--area",
            "Blackburn Central",
            "--area",
            "Wensley Fold",
            "--audience",
            "analyst",
            "--lookback-weeks",
            "8",
            "--out",
            str(pack),
        ],
    )
    assert result.exit_code == 0, result.output
    run = json.loads((pack / "run.json").read_text())
    assert run["wards"] == ["E05011511", "E05011523"]
    assert run["parameters"]["lookback_weeks"] == 8
    assert (pack / "pack.pdf").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--week", "2026-W99"], "not a week"),
        (["--week", "next"], "2026-W02"),
        (["--audience", "press"], "audience"),
        (["--area", "Atlantis"], "no area called `Atlantis`"),
        (["--res", "3"], "`res`"),
        (["--week", "2019-W10"], "no episodes or intelligence"),
    ],
)
def test_weekly_refuses_bad_requests(
    store: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["weekly", "--store", store, "--out", str(tmp_path / "p"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_trends_classify_every_cell(store: str, tmp_path: Path) -> None:
    from models.emerging import PATTERNS

    out = tmp_path / "trends.csv"
    result = runner.invoke(app, ["trends", "--store", store, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 1455 and table["h3"].is_unique
    assert set(table["pattern"]) <= set(PATTERNS)
    assert (table["pattern"] != "no_pattern").any()
    counted = sum(
        int(line.split(": ")[1]) for line in result.output.splitlines() if line.startswith("  ")
    )
    assert counted == len(table)
    bad = runner.invoke(
        app,
        [
            "trends",
            "--store",
            store,
            "--from",
            "2019-01-01",
            "--to",
            "2019-02-01",
            "--out",
            str(out.with_name("empty.csv")),
        ],
    )
    assert bad.exit_code == 2 and "no events in the window" in bad.output


def test_backtest_takes_a_tuned_parameter_file(store: str, tmp_path: Path) -> None:
    from api.usecases.params import write_params
    from models.params import TunedOn

    params = write_params(
        tmp_path / "params.json",
        AnalysisParams(method="kde", bandwidth_m=300.0, half_life_days=91.0, lookback_weeks=6),
        TunedOn("all"),
        {},
    )
    out = tmp_path / "tuned"
    args = ["backtest", "--store", store, "--from", "2025-01-06", "--to", "2025-05-26"]
    args += ["--layer", "all", "--methods", "kde,naive", "--params", str(params)]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out / "backtest.csv")
    # The file's 6-week lookback is the training window: 20 - 6 = 14 folds.
    assert folds["origin"].nunique() == 14
    html = (out / "backtest.html").read_text()
    assert "bandwidth_m 300; bin_res square; half_life_days 91; found_weight 1.5" in html
    # The file's kde scores differ from the default rule's.
    plain = runner.invoke(app, [*args[:-2], "--lookback-weeks", "6", "--out", str(tmp_path / "p")])
    assert plain.exit_code == 0, plain.output
    rule = pd.read_csv(tmp_path / "p" / "backtest.csv")
    assert "bandwidth_m rule;" in (tmp_path / "p" / "backtest.html").read_text()
    kde = folds["method"] == "kde"
    assert not np.allclose(folds.loc[kde, "pai"], rule.loc[rule["method"] == "kde", "pai"])
    naive = folds["method"] == "naive"
    np.testing.assert_allclose(folds.loc[naive, "pai"], rule.loc[rule["method"] == "naive", "pai"])
    bad = runner.invoke(app, [*args[:-1], str(tmp_path / "missing.json"), "--out", str(out)])
    assert bad.exit_code != 0
    assert "parameter file not found" in bad.output
    # Without --methods the file's own method is backtested, with the baselines.
    dbscan = write_params(
        tmp_path / "dbscan.json",
        AnalysisParams(method="dbscan", eps_m=120.0, min_samples=4, lookback_weeks=6),
        TunedOn("all"),
        {},
    )
    base = ["backtest", "--store", store, "--from", "2025-01-06", "--to", "2025-05-26"]
    base += ["--layer", "all", "--params", str(dbscan)]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    used = pd.read_csv(tmp_path / "d" / "backtest.csv")["method"].unique().tolist()
    assert used == ["dbscan", "naive", "persistence"]
    left_out = runner.invoke(app, [*base, "--methods", "kde,naive", "--out", str(out)])
    assert left_out.exit_code != 0
    assert "tunes method 'dbscan'" in left_out.output


def test_backtest_writes_its_report(store: str, tmp_path: Path) -> None:
    out = tmp_path / "bt"
    result = runner.invoke(
        app,
        [
            "backtest",
            "--store",
            store,
            "--from",
            "2025-01-06",
            "--to",
            "2025-05-26",
            "--layer",
            "all",
            "--lookback-weeks",
            "8",
            "--methods",
            "count,naive,persistence",
            "--marking",
            "OFFICIAL",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    folds = pd.read_csv(out / "backtest.csv")
    # 20 weeks less 8 of training: 12 folds of 3 methods x 3 coverages.
    assert len(folds) == 12 * 3 * 3
    assert folds["hit_rate"].between(0, 1).all()
    html = (out / "backtest.html").read_text()
    assert html.count("data:image/png") == 2 and "http" not in html
    # The A4 report, printed path and all, with the marking asked for on every page.
    assert f"pdf      {out / 'backtest.pdf'}" in result.output
    pages = PdfReader(out / "backtest.pdf").pages
    assert len(pages) >= 2
    for page in pages:
        text = page.extract_text()
        assert text.count("OFFICIAL") == 2 and "OFFICIAL-SENSITIVE" not in text
    bad = runner.invoke(
        app,
        [
            "backtest",
            "--store",
            store,
            "--from",
            "2025-01-06",
            "--to",
            "2025-05-26",
            "--methods",
            "magic",
            "--layer",
            "all",
            "--out",
            str(out),
        ],
    )
    assert bad.exit_code == 2


def test_days_are_uk_days(police_uk: Path, tmp_path: Path) -> None:
    """police.uk months start at midnight UK time: October 2022 is stored from 23:00 UTC
    on 30 September, and `--from 2022-10-01` must take all of it."""
    from api.settings import Settings
    from geo import schemas

    location = str(tmp_path / "oct.gpkg")
    month = police_uk / "blackburn_with_darwen" / "2022-10-lancashire-street-bwd.csv"
    settings = Settings(store=location, quarantine_dir=tmp_path / "q")
    ingest_files(location, "police-uk", [month], settings=settings, key=SYNTHETIC_KEY)
    with opened_store(location) as s:
        stored = s.read(schemas.INCIDENTS)
    assert (stored["occurred_at"] == pd.Timestamp("2022-09-30T23:00:00Z")).all()
    out = tmp_path / "oct.csv"
    args = ["hotspots", "--store", location, "--layer", "incidents", "--method", "count"]
    result = runner.invoke(
        app, [*args, "--from", "2022-10-01", "--to", "2022-11-01", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    inside = pd.read_csv(out)["n"].sum()
    assert inside > 0.95 * len(stored)
    # September (UK days) holds none of them.
    sept = tmp_path / "sep.csv"
    result = runner.invoke(
        app, [*args, "--from", "2022-09-01", "--to", "2022-10-01", "--out", str(sept)]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(sept)["n"].sum() == 0


def test_the_geopackage_export_holds_hotspots_and_accepted_parameters(
    store: str, tmp_path: Path
) -> None:
    """Beside the stored tables, the analyst's export carries the next patrol week's hotspot
    cells (polygons with real types) and the accepted parameters with what they were tuned on."""
    import shutil

    from api.usecases.params import accept_params
    from models.params import TunedOn

    copy = str(tmp_path / "copy.gpkg")
    shutil.copy(store, copy)
    accept_params(copy, AnalysisParams(method="count", lookback_weeks=8), TunedOn("all"), {})
    out = tmp_path / "export.gpkg"
    result = runner.invoke(app, ["export", "--store", copy, "--format", "gpkg", "--out", str(out)])
    assert result.exit_code == 0, result.output
    layers = {name: kind for name, kind in pyogrio.list_layers(out)}
    assert layers["hotspots"] == "Polygon" and layers["episodes_found"] == "Point"
    cells = pyogrio.read_dataframe(out, layer="hotspots")
    assert str(cells["h3"].dtype) == "int64" and str(cells["score"].dtype) == "float64"
    assert (cells["h3_hex"] == [format(int(c), "x") for c in cells["h3"]]).all()
    # The cells are the week's analysis with the accepted parameters: the same scores as
    # `engage hotspots`-style analysis of that week, re-run here through the use case.
    from api.settings import Settings
    from api.usecases.week import analyse

    week = analyse(
        copy,
        week=None,
        settings=Settings(store=copy),
        params=AnalysisParams(method="count", lookback_weeks=8),
    )
    want = week.analysis.hotspots.set_index("h3")["score"]
    np.testing.assert_allclose(cells.set_index("h3")["score"].loc[want.index], want)
    accepted = pyogrio.read_dataframe(out, layer="accepted_parameters", read_geometry=False)
    assert accepted["lookback_weeks"].tolist() == [8]
    assert accepted["tuned_on_layer"].tolist() == ["all"]
    # Parameters tuned on street crime do not make the missing-from-home hotspot layer, nor
    # stop the export: the layer shows the defaults and says why.
    accept_params(copy, AnalysisParams(method="kde", lookback_weeks=8), TunedOn("incidents"), {})
    again = tmp_path / "again.gpkg"
    result = runner.invoke(
        app, ["export", "--store", copy, "--format", "gpkg", "--out", str(again)]
    )
    assert result.exit_code == 0, result.output
    info = pyogrio.read_info(again, layer="hotspots")
    assert "defaults are used" in str(info.get("layer_metadata") or info)
