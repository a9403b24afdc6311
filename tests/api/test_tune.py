"""`engage tune`: grids checked, combinations ranked against baselines, parameters used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from api.usecases.params import accepted_params, read_params, write_params
from geo.errors import ValidationError
from models.params import AnalysisParams, TunedOn
from models.tuning import parse_grid

from .conftest import synthetic_store

runner = CliRunner()


WINDOW = {
    "start": pd.Timestamp("2025-01-06", tz="UTC").to_pydatetime(),
    "end": pd.Timestamp("2025-05-26", tz="UTC").to_pydatetime(),
}
"""The synthetic store's 20 whole weeks."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return synthetic_store(tmp_path_factory.mktemp("tune"), seed=5)


def test_grid_parsing() -> None:
    combos = parse_grid("method=kde; res=8,9; bandwidth_m=150,rule; half_life_days=14")
    assert len(combos) == 4
    assert combos[0] == {"method": "kde", "res": 8, "bandwidth_m": 150.0, "half_life_days": 14.0}
    assert combos[1]["bandwidth_m"] is None
    # count does not use the bandwidth: one combination per half-life, not three.
    mixed = parse_grid("method=kde,count; bandwidth_m=150,300,rule; half_life_days=28,91")
    assert len(mixed) == 3 * 2 + 2
    assert [c for c in mixed if c["method"] == "count"] == [
        {"method": "count", "half_life_days": 28.0},
        {"method": "count", "half_life_days": 91.0},
    ]
    assert all("bandwidth_m" in c for c in mixed if c["method"] == "kde")


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("", "empty"),
        ("   ;  ", "empty"),
        ("res=3", "`res`"),
        ("method=kde; bandwidth_m=-5", "`bandwidth_m` must be > 0"),
        ("colour=red", "names are"),
        ("res=8,x", "not a int"),
        ("res=8; res=9", "twice"),
        ("res=", "no values"),
        ("method=count; bandwidth_m=150,300", "only method kde"),
        ("method=kde,count; eps_m=100", "only method dbscan"),
        (
            "; ".join(
                f"{k}={','.join(str(10 + i) for i in range(40))}"
                for k in ("half_life_days", "lookback_weeks", "found_weight", "res")
            ),
            "2,560,000",
        ),
    ],
)
def test_absurd_grids_are_refused(grid: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_grid(grid)


def test_tune_ranks_writes_and_the_weekly_pack_uses_the_result(store: str, tmp_path: Path) -> None:
    out = tmp_path / "tune"
    args = ["tune", "--store", store, "--from", "2025-01-06", "--to", "2025-05-26"]
    args += ["--layer", "all", "--grid", "method=kde,count; half_life_days=14,56; lookback_weeks=8"]
    args += ["--out", str(out)]
    result = runner.invoke(app, [*args, "--accept"])
    # The console's verdict is the file's, and --accept of a choice that is not
    # clearly better than persistence is refused (the report is still written).
    verdict = json.loads((out / "params.json").read_text())["evidence"]["verdict"]
    assert verdict["text"] in result.output
    # The simulator's places do not move, so on this store nothing beats persistence
    # clearly (docs/evidence.md, section 4): the plain --accept must be refused.
    assert verdict["persistence"] != "clearly better"
    assert result.exit_code == 2
    assert "not accepted" in result.output and "--accept-anyway" in result.output
    assert accepted_params(store) is None
    result = runner.invoke(app, [*args, "--accept", "--accept-anyway"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "tune.csv")
    assert len(table) == 4 + 2  # four combinations and two baselines
    assert table["rank"].tolist() == list(range(1, 7))
    assert table["pai_mean"].is_monotonic_decreasing
    assert {"naive", "persistence"} <= set(table["config"].astype(str))
    params = read_params(out / "params.json").params
    best = table.loc[table["config"].astype(str).str.isdigit()].iloc[0]
    assert params.method == best["method"]
    assert params.half_life_days == best["half_life_days"]
    assert "data:image/png" in (out / "tune.html").read_text()
    assert f"pdf     {out / 'tune.pdf'}" in result.output
    assert PdfReader(out / "tune.pdf").pages[0].extract_text().count("OFFICIAL-SENSITIVE") == 2
    # Accepted: the weekly pack now runs with the tuned parameters.
    pack = tmp_path / "pack"
    weekly = runner.invoke(app, ["weekly", "--store", store, "--out", str(pack)])
    assert weekly.exit_code == 0, weekly.output
    run = json.loads((pack / "run.json").read_text())
    assert run["parameters"]["half_life_days"] == params.half_life_days
    assert run["parameters"]["lookback_weeks"] == 8
    # `engage targets` starts from the same accepted parameters: the same list as the pack's.
    listed = tmp_path / "targets.csv"
    targets = runner.invoke(app, ["targets", "--store", store, "--out", str(listed)])
    assert targets.exit_code == 0, targets.output
    mine = pd.read_csv(listed)
    packed = pd.read_csv(pack / "targets.csv")
    assert mine["h3"].tolist() == packed["h3"].tolist()
    # An explicit file wins over the accepted parameters, and options over both.
    other = write_params(
        tmp_path / "p.json", AnalysisParams(method="count", half_life_days=7.0), TunedOn("all"), {}
    )
    weekly = runner.invoke(
        app,
        [
            "weekly",
            "--store",
            store,
            "--params",
            str(other),
            "--lookback-weeks",
            "6",
            "--out",
            str(tmp_path / "p2"),
        ],
    )
    assert weekly.exit_code == 0, weekly.output
    run = json.loads((tmp_path / "p2" / "run.json").read_text())
    assert (run["parameters"]["method"], run["parameters"]["half_life_days"]) == ("count", 7.0)
    assert run["parameters"]["lookback_weeks"] == 6


def test_lookbacks_of_different_length_are_judged_on_the_same_folds(
    store: str, tmp_path: Path
) -> None:
    from api.usecases.backtest import backtest, tune

    settings = Settings(store=store, quarantine_dir=tmp_path / "q")
    window = dict(WINDOW)
    result = tune(
        store,
        settings=settings,
        grid=parse_grid("method=count; lookback_weeks=4,10"),
        layer="all",
        **window,
    )
    # 20 whole weeks; the longest lookback (10) leaves 10 folds for every row.
    assert result.table["folds"].tolist() == [10] * 4
    assert result.meta["first_origin_period"] == 10
    # The 4-week row is the plain backtest restricted to those same folds.
    alone = backtest(
        store,
        settings=settings,
        horizon="week",
        coverages=(0.02,),
        methods=("count",),
        layer="all",
        params=AnalysisParams(method="count", lookback_weeks=4),
        train_periods=4,
        first_origin=10,
        **window,
    )
    row = result.table.loc[result.table["config"] == 0].iloc[0]
    assert row["lookback_weeks"] == 4
    assert row["pai_mean"] == pytest.approx(alone.summary["pai_mean"].iloc[0], rel=1e-12)
    unrestricted = backtest(
        store,
        settings=settings,
        horizon="week",
        coverages=(0.02,),
        methods=("count",),
        layer="all",
        params=AnalysisParams(method="count", lookback_weeks=4),
        train_periods=4,
        **window,
    )
    assert unrestricted.meta["folds"] == 16


def test_baselines_at_every_resolution_of_the_grid(store: str, tmp_path: Path) -> None:
    from api.usecases.backtest import backtest, tune

    settings = Settings(store=store, quarantine_dir=tmp_path / "q")
    window = dict(WINDOW)
    result = tune(
        store,
        settings=settings,
        grid=parse_grid("method=count; res=8,9; lookback_weeks=4,6"),
        layer="all",
        **window,
    )
    t = result.table
    baselines = t.loc[t["config"].isin(["naive", "persistence"])]
    assert sorted(zip(baselines["config"], baselines["res"], strict=True)) == [
        ("naive", 8),
        ("naive", 9),
        ("persistence", 8),
        ("persistence", 9),
    ]
    assert (baselines["lookback_weeks"] == 6).all()
    # The res 9 persistence row is the plain backtest of persistence at res 9 over 6 weeks.
    alone = backtest(
        store,
        settings=settings,
        horizon="week",
        coverages=(0.02,),
        methods=("persistence",),
        layer="all",
        params=AnalysisParams(res=9),
        train_periods=6,
        **window,
    )
    row = baselines.loc[(baselines["config"] == "persistence") & (baselines["res"] == 9)].iloc[0]
    assert row["pai_mean"] == pytest.approx(alone.summary["pai_mean"].iloc[0], rel=1e-12)
    # The paired difference: the same folds, fold by fold, bootstrapped with the seed.
    from models.backtest import bootstrap_interval

    config = backtest(
        store,
        settings=settings,
        horizon="week",
        coverages=(0.02,),
        methods=("count",),
        layer="all",
        params=AnalysisParams(method="count", res=9, lookback_weeks=4),
        train_periods=4,
        first_origin=6,
        **window,
    )
    diff = (
        config.folds.sort_values("origin")["pai"].to_numpy()
        - alone.folds.sort_values("origin")["pai"].to_numpy()
    )
    want = bootstrap_interval(diff, seed=0)
    mine = t.loc[(t["config"].map(str) != "naive") & (t["res"] == 9) & (t["lookback_weeks"] == 4)]
    mine = mine.loc[mine["config"].map(lambda c: isinstance(c, int))].iloc[0]
    got = tuple(mine[f"pai_minus_persistence_{k}"] for k in ("mean", "low", "high"))
    assert got == pytest.approx(want, rel=1e-12)
    assert len(diff) == 14 and not np.isnan(diff).all()
    # The verdict compares the best configuration with baselines at its own res.
    best = t.loc[t["config"].map(lambda c: isinstance(c, int))].iloc[0]
    for b in ("naive", "persistence"):
        same = baselines.loc[(baselines["config"] == b) & (baselines["res"] == best["res"])]
        judged = result.meta["best_vs_baseline"][b]
        # The mean of the paired differences is the difference of the means at its res.
        assert judged["pai_difference_mean"] == pytest.approx(
            best["pai_mean"] - same["pai_mean"].iloc[0], rel=1e-9
        )
        low, high = judged["low"], judged["high"]
        want = "clearly better" if low > 0 else "clearly worse" if high < 0 else "no clear"
        assert judged["verdict"].startswith(want)


def test_a_lookback_longer_than_the_window_is_named(store: str, tmp_path: Path) -> None:
    from api.usecases.backtest import tune

    settings = Settings(store=store, quarantine_dir=tmp_path / "q")
    with pytest.raises(ValidationError, match="longest lookback_weeks=30"):
        tune(
            store,
            settings=settings,
            grid=parse_grid("method=count; lookback_weeks=4,30"),
            layer="all",
            **WINDOW,
        )


def test_holdout_chooses_on_earlier_folds_and_judges_on_later_ones(
    store: str, tmp_path: Path
) -> None:
    from api.usecases.backtest import backtest, tune
    from models.backtest import bootstrap_interval

    settings = Settings(store=store, quarantine_dir=tmp_path / "q")
    window = dict(WINDOW)
    grid = parse_grid("method=count; half_life_days=7,56; lookback_weeks=6")
    result = tune(store, settings=settings, grid=grid, layer="all", holdout=5, **window)
    t = result.table
    # 20 weeks - 6 of lookback = 14 folds: 9 to choose on, 5 held out.
    assert (t["folds"] == 9).all() and (t["folds_holdout"] == 5).all()
    assert result.meta["selection_folds"] == 9 and result.meta["holdout_folds"] == 5
    plain = backtest(
        store,
        settings=settings,
        horizon="week",
        coverages=(0.02,),
        methods=("count", "naive"),
        layer="all",
        params=AnalysisParams(method="count", half_life_days=56.0, lookback_weeks=6),
        train_periods=6,
        **window,
    ).folds.sort_values(["method", "origin"])
    pai = {m: g["pai"].to_numpy() for m, g in plain.groupby("method")}
    row = t.loc[t["config"].map(str) == "1"].iloc[0]
    assert row["half_life_days"] == 56.0
    assert row["pai_mean"] == pytest.approx(pai["count"][:9].mean(), rel=1e-12)
    assert row["pai_holdout_mean"] == pytest.approx(pai["count"][9:].mean(), rel=1e-12)
    want = bootstrap_interval(pai["count"][9:] - pai["naive"][9:], seed=0)
    got = tuple(row[f"pai_minus_naive_holdout_{k}"] for k in ("mean", "low", "high"))
    assert got == pytest.approx(want, rel=1e-12)
    # The choice uses the first 9 folds only: the ranking follows pai_mean there.
    configs = t.loc[t["config"].map(lambda c: isinstance(c, int))]
    assert result.best.half_life_days == configs.iloc[0]["half_life_days"]
    assert configs["pai_mean"].iloc[0] >= configs["pai_mean"].max()
    best = configs.iloc[0]
    assert result.meta["best_on_holdout"]["pai_mean"] == best["pai_holdout_mean"]
    with pytest.raises(ValidationError, match="leaves no fold to choose on"):
        tune(store, settings=settings, grid=grid, layer="all", holdout=14, **window)
    with pytest.raises(ValidationError, match="`holdout`"):
        tune(store, settings=settings, grid=grid, layer="all", holdout=-1, **window)


def test_bad_parameter_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        read_params(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"parameters": {"colour": 1}}')
    with pytest.raises(ValidationError, match="unknown parameters"):
        read_params(bad)
    bad.write_text("not json")
    with pytest.raises(ValidationError, match="not a parameter file"):
        read_params(bad)


def test_a_dask_cluster_gives_the_identical_result(store: str, tmp_path: Path) -> None:
    from distributed import LocalCluster

    from api.usecases.backtest import tune

    settings = Settings(store=store, quarantine_dir=tmp_path / "q")
    grid = parse_grid("method=kde,count; half_life_days=14,56; lookback_weeks=8")
    window = dict(WINDOW)
    local = tune(store, settings=settings, grid=grid, layer="all", **window)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        remote = tune(
            store,
            settings=settings,
            grid=grid,
            layer="all",
            scheduler=cluster.scheduler_address,
            **window,
        )
    assert remote.meta["ran_on"].startswith("tcp://")
    pd.testing.assert_frame_equal(local.table, remote.table)
    assert local.best == remote.best


def test_a_scheduler_that_does_not_answer_is_a_clear_error(store: str, tmp_path: Path) -> None:
    from api.usecases.backtest import tune

    settings = Settings(store=store, quarantine_dir=tmp_path / "q")
    with pytest.raises(ValidationError, match="did not answer"):
        tune(
            store,
            settings=settings,
            grid=parse_grid("method=count; lookback_weeks=8"),
            layer="all",
            **WINDOW,
            scheduler="tcp://127.0.0.1:1",
            connect_timeout_s=2.0,
        )
    with pytest.raises(ValidationError, match="tcp://HOST:PORT"):
        tune(
            store,
            settings=settings,
            grid=parse_grid("method=count; lookback_weeks=8"),
            layer="all",
            **WINDOW,
            scheduler="localhost:8786",
        )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_cluster_started_as_a_user_would_gives_the_identical_table(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dask scheduler` and `dask worker` started as separate processes, in another folder,
    without the client's ENGAGE_* settings: the client gives its store as a relative path,
    and the search ships the data to the workers, so the table equals the local run's."""
    import shutil
    import subprocess
    import sys
    import time

    client_dir = tmp_path / "client"
    client_dir.mkdir()
    shutil.copy(store, client_dir / "engage.gpkg")
    monkeypatch.chdir(client_dir)
    monkeypatch.setenv("ENGAGE_STUDY_AREA", "E06000008")
    far = tmp_path / "elsewhere"
    far.mkdir()
    dask = str(Path(sys.executable).with_name("dask"))
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(far), "PYTHONDONTWRITEBYTECODE": "1"}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=far,
            env=clean,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        time.sleep(1.0)
        for i in range(2):
            work = far / f"worker{i}"
            work.mkdir()
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                    cwd=work,
                    env=clean,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        args = ["tune", "--store", "engage.gpkg", "--from", "2025-01-06", "--to", "2025-05-26"]
        args += [
            "--layer",
            "all",
            "--grid",
            "method=kde,count; half_life_days=14,56; lookback_weeks=8",
        ]
        local = runner.invoke(app, [*args, "--out", "local"])
        assert local.exit_code == 0, local.output
        remote = runner.invoke(app, [*args, "--scheduler", address, "--out", "remote"])
        assert remote.exit_code == 0, remote.output
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    pd.testing.assert_frame_equal(
        pd.read_csv(client_dir / "local" / "tune.csv"),
        pd.read_csv(client_dir / "remote" / "tune.csv"),
    )
    # The workers made no store of their own in their folders.
    assert not list(far.rglob("*.gpkg"))
    params = json.loads((client_dir / "remote" / "params.json").read_text())
    assert params["evidence"]["ran_on"] == address


def test_parameters_know_what_they_were_tuned_on(store: str, tmp_path: Path) -> None:
    """params.json records the layer, category and study area; the weekly pack refuses
    accepted parameters tuned on another layer unless the file is named with --params; every
    run says which parameters it used and where they came from."""
    from api.usecases.params import accept_params

    out = tmp_path / "tune"
    args = ["tune", "--store", store, "--from", "2025-01-06", "--to", "2025-05-26"]
    args += ["--layer", "all", "--grid", "method=count; half_life_days=14,56; lookback_weeks=8"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    body = json.loads((out / "params.json").read_text())
    assert body["tuned_on"] == {"layer": "all", "category": None, "study_area": "E06000008"}
    # Accepted parameters tuned on street crime do not drive the missing-from-home pack...
    crime = AnalysisParams(method="count", half_life_days=365.0, lookback_weeks=8)
    accept_params(store, crime, TunedOn("incidents", "Violence and sexual offences", "x"), {})
    refused = runner.invoke(app, ["weekly", "--store", store, "--out", str(tmp_path / "w")])
    assert refused.exit_code == 2
    assert "tuned on layer incidents, category 'Violence and sexual offences'" in refused.output
    assert "--params" in refused.output and not (tmp_path / "w").exists()
    # ... unless named explicitly, and the run says so.
    named = write_params(
        tmp_path / "crime.json",
        crime,
        TunedOn("incidents", "Violence and sexual offences", "x"),
        {},
    )
    run = runner.invoke(
        app, ["weekly", "--store", store, "--params", str(named), "--out", str(tmp_path / "w")]
    )
    assert run.exit_code == 0, run.output
    assert f"from {named}, tuned on layer incidents" in run.output
    assert "half-life 365 days" in run.output
    recorded = json.loads((tmp_path / "w" / "run.json").read_text())
    assert recorded["parameters_from"]["origin"] == "file"
    # engage hotspots starts from the accepted parameters of its own layer too.
    accept_params(store, AnalysisParams(method="count", res=8), TunedOn("all"), {})
    cells = runner.invoke(app, ["hotspots", "--store", store, "--out", str(tmp_path / "h.csv")])
    assert cells.exit_code == 0, cells.output
    assert "from the store's accepted parameters, tuned on layer all" in cells.output
    assert "res 8" in cells.output
    # With no accepted parameters of its layer, a run says it uses the defaults.
    other = runner.invoke(
        app,
        [
            "hotspots",
            "--store",
            store,
            "--layer",
            "found",
            "--params",
            str(out / "params.json"),
            "--out",
            str(tmp_path / "f.csv"),
        ],
    )
    assert other.exit_code == 0, other.output
    assert f"from {out / 'params.json'}" in other.output
