"""Rolling-origin backtest on a small synthetic incident store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from api.settings import Settings
from api.usecases.backtest import backtest
from api.usecases.store import analysis_area, grid_for
from geo.calendar import period_boundaries
from geo.errors import ValidationError
from geo.ingest import ingest_file
from geo.store import open_store
from maps.reportfiles import write_backtest_report as write_report
from models.backtest import BacktestResult, bootstrap_interval, summarise
from models.evaluation import evaluate_many

START = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday, UK time = UTC in January
WEEKS = 20
TRAIN = 4
RES = 9
HOT = (53.735, -2.480)  # planted persistent hotspot
LEAK = (53.745, -2.465)  # events only in week LEAK_WEEK
LEAK_WEEK = 15
METHODS = ("kde", "count", "naive", "persistence")
COVERAGES = (0.01, 0.02, 0.05)


def _monday(week: int) -> pd.Timestamp:
    """Monday 00:00 UK time of generated week ``week``, in UTC."""
    local = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=week)
    return local.tz_localize("Europe/London").tz_convert("UTC")


def _cell(lat: float, lng: float) -> int:
    return int(h3.str_to_int(h3.latlng_to_cell(lat, lng, RES)))


def _incidents() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    rows = []
    leak_cell = _cell(*LEAK)
    for week in range(WEEKS):
        # Times Tuesday 12:00 to Sunday 12:00 UTC: inside the UK week whatever the clocks.
        base = START + timedelta(days=week * 7 + 1, hours=12)
        n_bg, n_hot = 100, 50
        lat = rng.uniform(53.72, 53.75, n_bg * 2)
        lng = rng.uniform(-2.50, -2.46, n_bg * 2)
        keep = [i for i in range(n_bg * 2) if _cell(lat[i], lng[i]) != leak_cell][:n_bg]
        pts = list(zip(lat[keep], lng[keep], strict=True))
        pts += list(
            zip(
                rng.normal(HOT[0], 0.0006, n_hot),
                rng.normal(HOT[1], 0.0009, n_hot),
                strict=True,
            )
        )
        if week == LEAK_WEEK:
            pts += [LEAK] * 6
        for j, (la, ln) in enumerate(pts):
            at = base + timedelta(seconds=float(rng.uniform(0, 5 * 86400)))
            rows.append(
                {
                    "incident_id": f"I{week:02d}-{j:03d}",
                    "category": "burglary",
                    "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "lat": round(float(la), 6),
                    "lng": round(float(ln), 6),
                    "week": week,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pd.DataFrame, Settings]:
    tmp = tmp_path_factory.mktemp("backtest")
    frame = _incidents()
    path = tmp / "incidents.csv"
    frame.drop(columns="week").to_csv(path, index=False)
    location = str(tmp / "engage.gpkg")
    store = open_store(location)
    try:
        store.init()
        report = ingest_file(store, "incidents", path, quarantine_dir=tmp / "quarantine")
    finally:
        store.close()
    assert report.rows_stored == len(frame), report.as_dict()
    settings = Settings(store=location, quarantine_dir=tmp / "quarantine")
    return location, frame, settings


@pytest.fixture(scope="module")
def result(data: tuple[str, pd.DataFrame, Settings]) -> BacktestResult:
    location, _, settings = data
    return backtest(
        location,
        start=START,
        end=START + timedelta(weeks=WEEKS),
        settings=settings,
        horizon="week",
        coverages=COVERAGES,
        methods=METHODS,
        train_periods=TRAIN,
        seed=11,
        keep_scores=True,
    )


def _study(settings: Settings) -> pd.Series:
    polygon, _, _ = analysis_area(settings, None)
    cells = grid_for(polygon, RES)
    return pd.Series(cells["area_m2"].to_numpy(), index=cells["h3"].to_numpy(dtype=np.int64))


def test_one_fold_per_test_period(
    result: BacktestResult, data: tuple[str, pd.DataFrame, Settings]
) -> None:
    folds = result.folds
    origins = sorted(folds["origin"].unique())
    expected = [_monday(w) for w in range(TRAIN, WEEKS)]
    assert origins == expected
    assert result.meta["periods"] == WEEKS
    assert result.meta["folds"] == WEEKS - TRAIN == len(origins)
    assert len(folds) == (WEEKS - TRAIN) * len(METHODS) * len(COVERAGES)
    assert set(folds["method"]) == set(METHODS)
    # Every test period's events are counted: N equals the generated events per week.
    _, frame, settings = data
    areas = _study(settings)
    cell = np.array([_cell(a, b) for a, b in zip(frame["lat"], frame["lng"], strict=True)])
    frame = frame.assign(h3=cell).loc[np.isin(cell, areas.index.to_numpy())]
    per_week = frame.groupby("week").size()
    for week in range(TRAIN, WEEKS):
        group = folds.loc[folds["origin"] == _monday(week)]
        assert len(group) == len(METHODS) * len(COVERAGES)
        assert (group["N"] == per_week[week]).all()


def test_a_later_first_origin_judges_the_same_later_folds(
    result: BacktestResult, data: tuple[str, pd.DataFrame, Settings]
) -> None:
    location, _, settings = data
    later = backtest(
        location,
        start=START,
        end=START + timedelta(weeks=WEEKS),
        settings=settings,
        horizon="week",
        coverages=COVERAGES,
        methods=METHODS,
        train_periods=TRAIN,
        first_origin=TRAIN + 2,
        seed=11,
    )
    assert later.meta["folds"] == WEEKS - TRAIN - 2
    assert later.meta["first_origin"] == _monday(TRAIN + 2).isoformat()
    tail = result.folds.loc[result.folds["origin"] >= _monday(TRAIN + 2)].reset_index(drop=True)
    # Stability compares a fold with the one before: the later run's first fold has none.
    first = later.folds["origin"] == _monday(TRAIN + 2)
    assert later.folds.loc[first, "stability"].isna().all()
    assert tail.loc[first, "stability"].notna().all()
    pd.testing.assert_frame_equal(
        later.folds.drop(columns="stability"), tail.drop(columns="stability")
    )
    pd.testing.assert_series_equal(
        later.folds.loc[~first, "stability"], tail.loc[~first, "stability"]
    )


def test_metrics_within_bounds(result: BacktestResult) -> None:
    f = result.folds
    assert f["hit_rate"].between(0, 1).all()
    assert f["pei_star"].between(0, 1).all()
    assert (f["n"] <= f["N"]).all()
    assert (f["a_m2"] <= f["A_m2"] * f["coverage"] * (1 + 1e-9)).all()
    share = f["a_m2"] / f["A_m2"]
    np.testing.assert_allclose(f["pai"], (f["n"] / f["N"]) / share, rtol=1e-12)
    np.testing.assert_allclose(f["hit_rate"], f["n"] / f["N"], rtol=1e-12)
    first = f["origin"] == f["origin"].min()
    assert f.loc[first, "stability"].isna().all()
    assert f.loc[~first, "stability"].between(0, 1).all()


def test_models_beat_random_control(
    result: BacktestResult, data: tuple[str, pd.DataFrame, Settings]
) -> None:
    _, frame, settings = data
    areas = _study(settings)
    rng = np.random.default_rng(0)
    cell = np.array([_cell(a, b) for a, b in zip(frame["lat"], frame["lng"], strict=True)])
    random_hits = []
    for week in range(TRAIN, WEEKS):
        outcomes = pd.Series(cell[frame["week"].to_numpy() == week]).value_counts()
        outcomes = outcomes[outcomes.index.isin(areas.index)]
        scores = pd.Series(rng.random(len(areas)), index=areas.index)
        ev = evaluate_many(scores, areas, outcomes, (0.05,))
        random_hits.append(float(ev["hit_rate"].iloc[0]))
    random_rate = float(np.mean(random_hits))
    at5 = result.folds.loc[result.folds["coverage"] == 0.05]
    by_method = at5.groupby("method")["hit_rate"].mean()
    assert by_method["persistence"] > random_rate + 0.2
    assert by_method["kde"] > random_rate + 0.2
    assert by_method["count"] > random_rate + 0.2


def test_model_never_sees_the_test_period(result: BacktestResult) -> None:
    scores = result.scores
    assert scores is not None
    leak = _cell(*LEAK)
    t_leak = _monday(LEAK_WEEK)
    t_next = _monday(LEAK_WEEK + 1)
    count = scores.loc[(scores["method"] == "count") & (scores["h3"] == leak)]
    by_origin = count.set_index("origin")["score"]
    # The leak cell's only events are in the test period of origin t_leak.
    assert by_origin[t_leak] == 0
    assert (by_origin[by_origin.index <= t_leak] == 0).all()
    # ... and the same cell scores once that period is in the past (the check can fail).
    assert by_origin[t_next] > 0
    for method in ("naive", "persistence"):
        s = scores.loc[(scores["method"] == method) & (scores["h3"] == leak)]
        assert s.set_index("origin")["score"][t_leak] == 0
    # The outcome at t_leak does include those events.
    f = result.folds
    fold = f.loc[(f["origin"] == t_leak) & (f["method"] == "count")]
    assert (fold["N"] > 0).all()


def test_bootstrap_intervals(result: BacktestResult) -> None:
    s = result.summary
    assert len(s) == len(METHODS) * len(COVERAGES)
    assert (s["folds"] == WEEKS - TRAIN).all()
    for metric in ("hit_rate", "pai", "pei_star", "stability"):
        assert (s[f"{metric}_low"] <= s[f"{metric}_mean"] + 1e-12).all()
        assert (s[f"{metric}_mean"] <= s[f"{metric}_high"] + 1e-12).all()
    means = result.folds.groupby(["method", "coverage"])["hit_rate"].mean()
    joined = s.merge(means.rename("direct").reset_index(), on=["method", "coverage"])
    assert len(joined) == len(s)
    np.testing.assert_allclose(joined["hit_rate_mean"], joined["direct"], rtol=1e-12)
    again = summarise(result.folds, seed=11)
    pd.testing.assert_frame_equal(again, s)
    other = summarise(result.folds, seed=12)
    assert not np.allclose(other["pai_low"], s["pai_low"])
    assert result.meta["bootstrap"]["resamples"] == 2000


def test_bootstrap_interval_function() -> None:
    values = np.array([0.1, 0.4, 0.35, 0.8, 0.2, np.nan])
    a = bootstrap_interval(values, seed=3)
    assert a == bootstrap_interval(values, seed=3)
    mean, low, high = a
    assert mean == pytest.approx(np.nanmean(values))
    assert low < mean < high
    assert all(np.isnan(bootstrap_interval([np.nan], seed=1)))


def test_period_boundaries_weeks_and_months() -> None:
    start = pd.Timestamp("2025-03-20T10:00Z")  # a Thursday
    end = pd.Timestamp("2025-04-20T00:00Z")
    weeks = period_boundaries(start, end, "week")
    local = [b.tz_convert("Europe/London") for b in weeks]
    assert all(d.day_of_week == 0 and d.hour == 0 for d in local)
    assert local[0].date().isoformat() == "2025-03-24"
    # Clocks change on 30 March 2025: that Monday starts at 23:00 UTC the day before.
    assert weeks[2] == pd.Timestamp("2025-04-06T23:00Z")
    months = period_boundaries(
        pd.Timestamp("2025-01-15T00:00Z"), pd.Timestamp("2025-06-01T00:00Z"), "month"
    )
    assert [m.tz_convert("Europe/London").strftime("%Y-%m-%d %H") for m in months] == [
        "2025-02-01 00",
        "2025-03-01 00",
        "2025-04-01 00",
        "2025-05-01 00",
        "2025-06-01 00",  # 31 May 23:00 UTC, inside the window: May is whole
    ]


def test_refusals(data: tuple[str, pd.DataFrame, Settings]) -> None:
    location, _, settings = data
    end = START + timedelta(weeks=WEEKS)
    with pytest.raises(ValidationError, match="at least 30"):
        backtest(
            location,
            start=datetime(2023, 1, 2, tzinfo=UTC),
            end=datetime(2023, 6, 1, tzinfo=UTC),
            settings=settings,
            train_periods=4,
        )
    bad: list[tuple[dict[str, object], str]] = [
        ({"start": end, "end": START}, "must be before"),
        ({"start": START, "end": START}, "must be before"),
        ({"horizon": "day"}, "horizon"),
        ({"methods": ("kde", "magic")}, "unknown method 'magic'"),
        ({"coverages": (0.0,)}, r"\(0, 1\]"),
        ({"coverages": (0.05, 1.5)}, r"\(0, 1\]"),
        ({"coverages": ()}, "empty"),
        ({"start": START.replace(tzinfo=None)}, "timezone-aware"),
        ({"train_periods": 0}, "train_periods"),
        ({"train_periods": 20}, "needs at least 21"),
        ({"first_origin": TRAIN - 1}, "first_origin"),
        ({"first_origin": 2.5}, "first_origin"),
        ({"first_origin": WEEKS}, f"needs at least {WEEKS + 1}"),
    ]
    for kwargs, pattern in bad:
        args: dict[str, object] = {"start": START, "end": end, "train_periods": TRAIN, **kwargs}
        with pytest.raises(ValidationError, match=pattern):
            backtest(location, settings=settings, **args)  # type: ignore[arg-type]


def test_report_is_offline_with_two_plots(result: BacktestResult, tmp_path: Path) -> None:
    files = write_report(result, tmp_path / "out")
    assert set(files) == {"folds", "summary", "report", "pdf"}
    assert all(p.exists() for p in files.values())
    folds = pd.read_csv(files["folds"])
    assert len(folds) == len(result.folds)
    summary = pd.read_csv(files["summary"])
    assert list(summary.columns) == list(result.summary.columns)
    page = files["report"].read_text(encoding="utf-8")
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)) == 2
    assert not re.search(r"https?://", page, flags=re.IGNORECASE)
    for method in METHODS:
        assert f"<td>{method}</td>" in page
