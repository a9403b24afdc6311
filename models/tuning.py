"""Parameter search by backtest: every combination of a grid, ranked with evidence.

``engage tune --grid "res=8,9; bandwidth_m=150,250,400; half_life_days=14,28"``
runs the rolling-origin backtest of :mod:`models.backtest` for each combination
and for the naive and persistence baselines (at each resolution of the grid,
since PAI depends on the cell size; persistence sums the grid's longest
lookback), ranks the combinations by mean
PAI at the primary coverage (ties: higher PEI*, then the grid's order), and
writes ``tune.csv`` (the ranked table with bootstrap intervals), ``params.json``
(the best combination, which ``engage weekly --params FILE`` reads and
``engage tune --accept`` makes the store's current parameters),
``tune.html`` (the table and a plot, offline) and ``tune.pdf`` (the same on
A4, the security marking on every page).

Each combination's forecasts see ``lookback_weeks`` of data before every
origin: that many weeks with ``--horizon week``, or the nearest whole number
of months (at least one) with ``--horizon month``. All of them, and the
baselines, are judged on the same folds: the first origin is the first with
the grid's longest lookback behind it (``folds`` in ``tune.csv``). Runs on the local cores,
or on a Dask distributed cluster with ``--scheduler tcp://HOST:PORT``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ValidationError
from models.backtest import BacktestSpec, backtest, bootstrap_interval
from models.params import DEFAULTS, AnalysisParams, lookback_periods

GRID_KEYS: dict[str, type] = {
    "method": str,
    "res": int,
    "bandwidth_m": float,
    "half_life_days": float,
    "lookback_weeks": int,
    "found_weight": float,
    "eps_m": float,
    "min_samples": int,
}
METHOD_ONLY: dict[str, set[str]] = {
    "bandwidth_m": {"kde"},
    "eps_m": {"dbscan"},
    "min_samples": {"dbscan"},
}
"""Parameters only some methods use; other methods' combinations leave them out."""
FOLD_METRICS = ("hit_rate", "pai", "pei_star")
MAX_COMBINATIONS = 500


def parse_grid(text: str) -> list[dict[str, Any]]:
    """Combinations from ``"res=8,9; bandwidth_m=150,250"``, each checked as parameters.

    ``bandwidth_m=rule`` (or ``eps_m=rule``) means the automatic choice.
    Parameters a method does not use (:data:`METHOD_ONLY`) are left out of
    its combinations, and repeated combinations are kept once, in grid order.
    """
    if not text or not text.strip():
        msg = '`--grid` is empty. Give e.g. "res=8,9; bandwidth_m=150,250,400".'
        raise ValidationError(msg)
    axes: dict[str, list[Any]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or key not in GRID_KEYS:
            msg = f"`--grid` part {part!r} is not NAME=V1,V2; names are {', '.join(GRID_KEYS)}."
            raise ValidationError(msg)
        if key in axes:
            msg = f"`--grid` names `{key}` twice."
            raise ValidationError(msg)
        parsed: list[Any] = []
        for raw in (v.strip() for v in values.split(",") if v.strip()):
            if raw.lower() == "rule" and key in ("bandwidth_m", "eps_m"):
                parsed.append(None)
                continue
            try:
                parsed.append(GRID_KEYS[key](raw))
            except ValueError:
                msg = f"`--grid` value {raw!r} for `{key}` is not a {GRID_KEYS[key].__name__}."
                raise ValidationError(msg) from None
        if not parsed:
            msg = f"`--grid` gives no values for `{key}`."
            raise ValidationError(msg)
        axes[key] = parsed
    if not axes:
        msg = '`--grid` is empty. Give e.g. "res=8,9; bandwidth_m=150,250,400".'
        raise ValidationError(msg)
    methods = set(axes.get("method", [DEFAULTS.method]))
    for key, owners in METHOD_ONLY.items():
        if key in axes and not methods & owners:
            msg = (
                f"`--grid` varies `{key}`, which only method {' or '.join(sorted(owners))} "
                f"uses, but the grid's methods are {', '.join(sorted(methods))}. "
                f"Add method={','.join(sorted(owners))} or drop `{key}`."
            )
            raise ValidationError(msg)
    n_raw = math.prod(len(v) for v in axes.values())
    if n_raw > MAX_COMBINATIONS * 100:
        msg = f"`--grid` makes {n_raw:,} combinations; at most {MAX_COMBINATIONS}."
        raise ValidationError(msg)
    unique: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
    for chosen in itertools.product(*axes.values()):
        full: dict[str, Any] = dict(zip(axes, chosen, strict=True))
        method = full.get("method", DEFAULTS.method)
        # A parameter the method does not use would only repeat the same backtest.
        combo = {k: v for k, v in full.items() if k not in METHOD_ONLY or method in METHOD_ONLY[k]}
        unique.setdefault(tuple(combo.items()), combo)
    combos = list(unique.values())
    if len(combos) > MAX_COMBINATIONS:
        msg = f"`--grid` makes {len(combos)} combinations; at most {MAX_COMBINATIONS}."
        raise ValidationError(msg)
    for combo in combos:
        AnalysisParams(**combo)  # refuses absurd values with the reason
    return combos


BASELINES = ("naive", "persistence")


@dataclass(frozen=True)
class Job:
    """One backtest of a search: a grid combination (``label`` its index) or a baseline."""

    label: int | str
    combo: dict[str, Any]
    method: str

    @property
    def params(self) -> AnalysisParams:
        return AnalysisParams(**self.combo)


def jobs_for(grid: list[dict[str, Any]]) -> list[Job]:
    """The grid's combinations, then both baselines at every resolution of the grid.

    PAI depends on the cell size, so each resolution gets its own baselines;
    persistence sums the grid's longest lookback.
    """
    chosen = [AnalysisParams(**combo) for combo in grid]
    jobs = [Job(i, combo, p.method) for i, (combo, p) in enumerate(zip(grid, chosen, strict=True))]
    longest = max(p.lookback_weeks for p in chosen)
    for res in dict.fromkeys(p.res for p in chosen):
        base = {"res": res, "lookback_weeks": longest}
        jobs += [Job(b, base, b) for b in BASELINES]
    return jobs


def first_origin_for(grid: list[dict[str, Any]], horizon: str) -> int:
    """The first origin every combination can be judged on: the longest lookback's periods."""
    return max(lookback_periods(AnalysisParams(**c).lookback_weeks, horizon) for c in grid)


def job_row(job: Job, folds: pd.DataFrame) -> dict[str, Any]:
    """A backtest's per-fold metrics (origin order) as one row of the search."""
    folds = folds.sort_values("origin")
    metrics: dict[str, Any] = {"_folds": {k: folds[k].tolist() for k in FOLD_METRICS}}
    params = job.params
    if isinstance(job.label, int):
        return {"config": job.label, **params.as_dict(), **metrics}
    return {
        "config": job.label,
        "method": job.label,
        "res": params.res,
        "lookback_weeks": params.lookback_weeks,
        **metrics,
    }


@dataclass(frozen=True)
class TuneResult:
    """The ranked table (one row per combination and baseline) and the best parameters."""

    table: pd.DataFrame
    best: AnalysisParams
    meta: dict[str, Any]


VERDICTS = ("clearly better", "no clear difference", "clearly worse")


def verdict(low: float, high: float) -> str:
    """A paired difference's reading from its interval: above 0, across 0, below 0."""
    if low > 0:
        return VERDICTS[0]
    if high < 0:
        return VERDICTS[2]
    return VERDICTS[1]


def rank(
    rows: list[dict[str, Any]],
    grid: list[dict[str, Any]],
    *,
    coverage: float,
    holdout: int,
    seed: int,
    facts: dict[str, Any],
) -> TuneResult:
    """Rank the search's rows by mean PAI at ``coverage``, with paired differences.

    ``rows`` come from :func:`job_row`, one per job of :func:`jobs_for`. The
    last ``holdout`` folds are kept out of the ranking and judge the chosen
    settings (``*_holdout`` columns). The verdict against each baseline is
    the held-out one when there are held-out folds, else the in-sample one.
    """
    rows = [dict(r) for r in rows]
    per_fold = [
        {k: np.asarray(v, dtype=np.float64) for k, v in row.pop("_folds").items()} for row in rows
    ]
    n_folds = len(per_fold[0]["pai"])
    chosen_on = slice(0, n_folds - holdout)
    table = pd.DataFrame(rows)
    table = _summarise(table, [{k: v[chosen_on] for k, v in f.items()} for f in per_fold], seed)
    table["coverage"] = coverage
    table = _paired_differences(table, [f["pai"][chosen_on] for f in per_fold], seed)
    if holdout:
        held = slice(n_folds - holdout, n_folds)
        table = _summarise(
            table, [{k: v[held] for k, v in f.items()} for f in per_fold], seed, "_holdout"
        )
        table = _paired_differences(table, [f["pai"][held] for f in per_fold], seed, "_holdout")
    order = table.sort_values(
        ["pai_mean", "pei_star_mean"], ascending=[False, False], kind="stable"
    )
    order.insert(0, "rank", range(1, len(order) + 1))
    configs = order.loc[order["config"].map(lambda c: isinstance(c, int))]
    best_row = configs.iloc[0]
    best = AnalysisParams(**grid[int(best_row["config"])])

    def verdicts(suffix: str) -> dict[str, dict[str, Any]]:
        out = {}
        for b in BASELINES:
            low = float(best_row[f"pai_minus_{b}{suffix}_low"])
            high = float(best_row[f"pai_minus_{b}{suffix}_high"])
            out[b] = {
                "pai_difference_mean": float(best_row[f"pai_minus_{b}{suffix}_mean"]),
                "low": low,
                "high": high,
                "verdict": verdict(low, high),
            }
        return out

    meta = {
        **facts,
        "coverage": coverage,
        "combinations": len(grid),
        "ranked_by": f"mean PAI at {coverage:.0%} coverage (ties: mean PEI*)",
        "best_vs_baseline": verdicts(""),
        "paired_interval": (
            "95% percentile bootstrap of the mean per-fold PAI difference from the "
            "baseline at the same resolution (same folds)"
        ),
        "selection_folds": n_folds - holdout,
        "in_sample": (
            f"the best of {len(grid)} combinations, chosen on the same folds its figures "
            "come from: optimistic; judge the settings on held-out folds (--holdout)"
        ),
        "holdout_folds": holdout,
        "seed": seed,
    }
    if holdout:
        meta["best_on_holdout"] = {
            "pai_mean": float(best_row["pai_holdout_mean"]),
            "low": float(best_row["pai_holdout_low"]),
            "high": float(best_row["pai_holdout_high"]),
            **verdicts("_holdout"),
        }
    judged = meta["best_on_holdout"] if holdout else meta["best_vs_baseline"]
    meta["verdict"] = {
        "judged_on": f"{holdout} held-out folds"
        if holdout
        else "the folds it was chosen on (in-sample)",
        **{b: judged[b]["verdict"] for b in BASELINES},
        "text": verdict_text(judged, holdout=holdout),
    }
    return TuneResult(order.reset_index(drop=True), best, meta)


def verdict_text(judged: dict[str, Any], *, holdout: int) -> str:
    """The verdict against both baselines in one line, as the console and the reports print it."""
    where = f"on the {holdout} held-out folds" if holdout else "in-sample (chosen on these folds)"
    parts = [
        f"{b}: {judged[b]['verdict']} ({judged[b]['pai_difference_mean']:+.3g} PAI "
        f"[{judged[b]['low']:+.3g}, {judged[b]['high']:+.3g}])"
        for b in BASELINES
    ]
    return f"best configuration against {'; '.join(parts)}, {where}"


def _summarise(
    table: pd.DataFrame, folds: list[dict[str, np.ndarray]], seed: int, suffix: str = ""
) -> pd.DataFrame:
    """Per row, mean and 95% bootstrap interval of each fold metric over the given folds."""
    table = table.copy()
    for k in FOLD_METRICS:
        stats = [bootstrap_interval(f[k], seed=seed) for f in folds]
        for i, part in enumerate(("mean", "low", "high")):
            table[f"{k}{suffix}_{part}"] = [s[i] for s in stats]
    table[f"folds{suffix}"] = [int(np.isfinite(f["pai"]).sum()) for f in folds]
    return table


def _paired_differences(
    table: pd.DataFrame, fold_pai: list[np.ndarray], seed: int, suffix: str = ""
) -> pd.DataFrame:
    """Per row, the mean per-fold PAI difference from each baseline at its resolution.

    Every row is judged on the same folds (see :func:`tune`), so the
    difference is paired fold by fold; its 95% interval is the percentile
    bootstrap of :func:`models.backtest.bootstrap_interval` (one generator per
    row and baseline, seeded with ``seed``). An interval above 0 means the
    configuration forecast better than the baseline on these folds beyond
    what fold-to-fold variation explains; overlapping intervals of the two
    means (``pai_low``/``pai_high``) do not tell that.
    """
    table = table.copy()
    for b in ("naive", "persistence"):
        means, lows, highs = [], [], []
        for res, pai in zip(table["res"], fold_pai, strict=True):
            ref = table.index[(table["config"] == b) & (table["res"] == res)]
            diff = pai - fold_pai[int(ref[0])]
            mean, low, high = bootstrap_interval(diff, seed=seed)
            means.append(mean)
            lows.append(low)
            highs.append(high)
        table[f"pai_minus_{b}{suffix}_mean"] = means
        table[f"pai_minus_{b}{suffix}_low"] = lows
        table[f"pai_minus_{b}{suffix}_high"] = highs
    return table


def run_job(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    job: Job,
    *,
    start: Any,
    end: Any,
    horizon: str,
    coverage: float,
    first_origin: int,
    seed: int,
) -> dict[str, Any]:
    """One backtest of a search, as a pure function of the data and the job.

    ``events`` are the search window's events and ``cells`` the study cells
    at the job's resolution; nothing is read from files, settings or the
    store, so the same call gives the same row on this machine or on a
    cluster worker.
    """
    params = job.params
    spec = BacktestSpec.make(
        start=start,
        end=end,
        horizon=horizon,
        coverages=(coverage,),
        methods=(job.method,),
        train_periods=lookback_periods(params.lookback_weeks, horizon),
        first_origin=first_origin,
        seed=seed,
    )
    result = backtest(events, cells, spec, params=params)
    return job_row(job, result.folds)
