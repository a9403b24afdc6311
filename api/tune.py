"""Parameter search by backtest: every combination of a grid, ranked with evidence.

``engage tune --grid "res=8,9; bandwidth_m=150,250,400; half_life_days=14,28"``
runs the rolling-origin backtest of :mod:`api.backtest` for each combination
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

import html
import itertools
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.backtest import _utc, backtest, bootstrap_interval, period_boundaries
from api.services import AnalysisParams
from api.settings import Settings
from geo.errors import ValidationError
from maps.audience import DEFAULT_MARKING

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
WEEKS_PER_MONTH = 365.25 / 12 / 7
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
    methods = set(axes.get("method", [AnalysisParams().method]))
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
        method = full.get("method", AnalysisParams().method)
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


@dataclass(frozen=True)
class TuneResult:
    """The ranked table (one row per combination and baseline) and the best parameters."""

    table: pd.DataFrame
    best: AnalysisParams
    meta: dict[str, Any]


def train_periods_for(lookback_weeks: int, horizon: str) -> int:
    """How many backtest periods a lookback of ``lookback_weeks`` is."""
    if horizon == "week":
        return lookback_weeks
    return max(1, round(lookback_weeks / WEEKS_PER_MONTH))


def _run_one(
    location: str,
    start: datetime,
    end: datetime,
    settings: Settings,
    label: int | str,
    combo: dict[str, Any],
    method: str,
    horizon: str,
    coverage: float,
    layer: str,
    category: str | None,
    areas: list[str] | None,
    seed: int,
    first_origin: int,
) -> dict[str, Any]:
    """One backtest: a grid combination (``method`` = its own) or a baseline."""
    params = AnalysisParams(**combo)
    result = backtest(
        location,
        start=start,
        end=end,
        settings=settings,
        horizon=horizon,
        coverages=(coverage,),
        methods=(method,),
        layer=layer,
        category=category,
        areas=areas,
        params=params,
        train_periods=train_periods_for(params.lookback_weeks, horizon),
        first_origin=first_origin,
        seed=seed,
    )
    # Per-fold metrics in origin order: tune() summarises them over the selection
    # (and held-out) folds and pairs them with the baselines fold by fold.
    folds = result.folds.sort_values("origin")
    metrics: dict[str, Any] = {"_folds": {k: folds[k].tolist() for k in FOLD_METRICS}}
    if isinstance(label, int):
        return {"config": label, **params.as_dict(), **metrics}
    return {
        "config": label,
        "method": label,
        "res": params.res,
        "lookback_weeks": params.lookback_weeks,
        **metrics,
    }


def tune(
    location: str,
    *,
    start: datetime,
    end: datetime,
    settings: Settings,
    grid: list[dict[str, Any]],
    horizon: str = "week",
    coverage: float = 0.02,
    layer: str = "incidents",
    category: str | None = None,
    areas: list[str] | None = None,
    seed: int = 0,
    scheduler: str | None = None,
    connect_timeout_s: float = 10.0,
    holdout: int = 0,
) -> TuneResult:
    """Backtest every combination and the baselines; rank by mean PAI at ``coverage``.

    ``holdout`` (whole periods, default 0): the last ``holdout`` folds are
    kept out of the ranking. The best combination is chosen on the earlier
    folds (the ``*_mean``/``*_low``/``*_high`` and ``pai_minus_*`` columns,
    in-sample after selection, so optimistic), and every row is also scored
    on the held-out folds (``*_holdout`` columns), which is the honest test
    of the chosen settings.

    With ``scheduler`` (``tcp://HOST:PORT`` of a Dask distributed scheduler)
    each backtest is one task on the cluster; the workers must reach the same
    store location. The result is identical to the local run: every
    backtest is deterministic and the ranking is done here.
    """
    if not 0 < coverage <= 1:
        msg = f"`coverage` must be in (0, 1], got {coverage}."
        raise ValidationError(msg)
    jobs: list[tuple[int | str, dict[str, Any], str]] = [
        (i, combo, AnalysisParams(**combo).method) for i, combo in enumerate(grid)
    ]
    # The baselines at every resolution of the grid (PAI depends on the cell
    # size), persistence over the grid's longest lookback.
    chosen = [AnalysisParams(**combo) for combo in grid]
    longest = max(p.lookback_weeks for p in chosen)
    for res in dict.fromkeys(p.res for p in chosen):
        base = {"res": res, "lookback_weeks": longest}
        jobs += [(b, base, b) for b in ("naive", "persistence")]
    # Every combination is judged on the same folds: the first origin is the
    # first with the longest lookback of the grid behind it.
    first_origin = max(
        train_periods_for(AnalysisParams(**combo).lookback_weeks, horizon) for combo in grid
    )
    periods = len(period_boundaries(_utc(start, "start"), _utc(end, "end"), horizon)) - 1
    if isinstance(holdout, bool) or not isinstance(holdout, int) or holdout < 0:
        msg = f"`holdout` must be a whole number of periods >= 0, got {holdout!r}."
        raise ValidationError(msg)
    if holdout and periods - first_origin - holdout < 1:
        msg = (
            f"--holdout {holdout} leaves no fold to choose on: the window gives "
            f"{max(periods - first_origin, 0)} fold(s) after the grid's longest lookback. "
            "Hold out fewer periods or widen --from/--to."
        )
        raise ValidationError(msg)
    if periods < first_origin + 1:
        longest = max(AnalysisParams(**combo).lookback_weeks for combo in grid)
        msg = (
            f"the window holds {max(periods, 0)} whole {horizon}(s); the grid's longest "
            f"lookback_weeks={longest} ({first_origin} {horizon}(s)) leaves no fold to judge. "
            "Drop the longer lookbacks or widen --from/--to."
        )
        raise ValidationError(msg)
    args = (horizon, coverage, layer, category, areas, seed, first_origin)
    if scheduler is None:
        rows = [
            _run_one(location, start, end, settings, label, combo, method, *args)
            for label, combo, method in jobs
        ]
    else:
        rows = _on_cluster(scheduler, connect_timeout_s, location, start, end, settings, jobs, args)
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
    same_res = order.loc[order["res"] == best.res]
    beats = {
        b: bool(best_row["pai_mean"] > same_res.loc[same_res["config"] == b, "pai_mean"].iloc[0])
        for b in ("naive", "persistence")
    }

    def verdicts(suffix: str) -> dict[str, dict[str, Any]]:
        return {
            b: {
                "pai_difference_mean": float(best_row[f"pai_minus_{b}{suffix}_mean"]),
                "low": float(best_row[f"pai_minus_{b}{suffix}_low"]),
                "high": float(best_row[f"pai_minus_{b}{suffix}_high"]),
                "clearly_better": bool(best_row[f"pai_minus_{b}{suffix}_low"] > 0),
                "clearly_worse": bool(best_row[f"pai_minus_{b}{suffix}_high"] < 0),
            }
            for b in ("naive", "persistence")
        }

    paired = verdicts("")
    meta = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "horizon": horizon,
        "coverage": coverage,
        "layer": layer,
        "category": category,
        "combinations": len(grid),
        "first_origin_period": first_origin,
        "ranked_by": f"mean PAI at {coverage:.0%} coverage (ties: mean PEI*)",
        "best_beats_baseline": beats,
        "best_vs_baseline": paired,
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
        "ran_on": scheduler or "local",
    }
    if holdout:
        meta["best_on_holdout"] = {
            "pai_mean": float(best_row["pai_holdout_mean"]),
            "low": float(best_row["pai_holdout_low"]),
            "high": float(best_row["pai_holdout_high"]),
            **verdicts("_holdout"),
        }
    return TuneResult(order.reset_index(drop=True), best, meta)


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
    bootstrap of :func:`api.backtest.bootstrap_interval` (one generator per
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


def _on_cluster(
    scheduler: str,
    timeout_s: float,
    location: str,
    start: datetime,
    end: datetime,
    settings: Settings,
    jobs: list[tuple[int | str, dict[str, Any], str]],
    args: tuple[Any, ...],
) -> list[dict[str, Any]]:
    """Run the backtests as tasks on a Dask distributed cluster, in job order."""
    from distributed import Client

    if not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        msg = f"`--scheduler` must look like tcp://HOST:PORT, got {scheduler!r}."
        raise ValidationError(msg)
    try:
        client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        msg = (
            f"the Dask scheduler at {scheduler} did not answer within {timeout_s:g} s ({exc}). "
            "Start it (`dask scheduler`) or run without --scheduler on the local cores."
        )
        raise ValidationError(msg) from None
    try:
        futures = [
            client.submit(
                _run_one,
                location,
                start,
                end,
                settings,
                label,
                combo,
                method,
                *args,
                pure=False,
            )
            for label, combo, method in jobs
        ]
        return list(client.gather(futures))
    finally:
        client.close()


def write_params(path: Path, params: AnalysisParams, meta: dict[str, Any]) -> Path:
    """A parameter file ``engage weekly --params`` reads."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"parameters": params.as_dict(), "evidence": meta}
    path.write_text(json.dumps(body, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_params(path: Path) -> AnalysisParams:
    """Parameters from a file written by :func:`write_params` (checked)."""
    path = Path(path)
    try:
        body = json.loads(path.read_text())
        values = body["parameters"]
    except FileNotFoundError:
        msg = f"{path}: parameter file not found. Run `engage tune` to write one."
        raise ValidationError(msg) from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        msg = f"{path}: not a parameter file written by `engage tune` ({exc})."
        raise ValidationError(msg) from None
    known = set(AnalysisParams.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        msg = f"{path}: unknown parameters {unknown}; expected some of {sorted(known)}."
        raise ValidationError(msg)
    return AnalysisParams(**values)


def write_report(
    result: TuneResult, out_dir: Path, *, marking: str = DEFAULT_MARKING
) -> dict[str, Path]:
    """``tune.csv``, ``params.json``, an offline ``tune.html`` with a plot, and ``tune.pdf``.

    The PDF (:func:`api.reports.tune_pdf`) is the A4 print: run facts, the
    best parameters against the baselines, the plot and the ranked table.
    Both reports carry the security ``marking`` (default
    ``OFFICIAL-SENSITIVE``, as the weekly pack), the PDF on every page.
    """
    from api.reports import (
        html_png,
        html_report,
        html_table,
        marking_text,
        pai_by_config_png,
        tune_pdf,
    )

    marking = marking_text(marking)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "table": out_dir / "tune.csv",
        "params": out_dir / "params.json",
        "report": out_dir / "tune.html",
        "pdf": out_dir / "tune.pdf",
    }
    # The PDF first: a rendering failure leaves no half set of files (and no
    # params.json to accept) behind.
    tune_pdf(result, files["pdf"], marking=marking)
    result.table.to_csv(files["table"], index=False)
    write_params(files["params"], result.best, result.meta)
    t = result.table
    facts = "".join(
        f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in result.meta.items()
    )
    png = pai_by_config_png(t, coverage=float(result.meta["coverage"]))
    files["report"].write_text(
        html_report(
            "Parameter search",
            marking,
            f"<ul>{facts}</ul>\n{html_png(png, 'PAI by configuration')}\n{html_table(t, _fmt)}",
        ),
        encoding="utf-8",
    )
    return files


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)
