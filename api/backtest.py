"""Rolling-origin backtest: which method and settings would have predicted best.

Crime analysts use this to prove, on their own stored data, which hotspot
method and coverage would have found the most of the following period's
events (see DESIGN.md, "Models" -> Evaluation).

For each period boundary ``t`` (weeks start on Monday 00:00 UK time, months
on the 1st at 00:00 UK time) from ``start + train_periods`` periods to the
last whole period before ``end``:

* the model sees only the events of the ``train_periods`` periods before
  ``t`` (``params.lookback_weeks`` is **ignored**: the training window is
  always ``train_periods`` periods, so every origin trains on the same
  amount of history);
* it scores every cell of the study area's grid (at ``params.res``); and
* the scores are judged against the events of ``[t, t + 1 period)`` by
  :func:`models.evaluation.rolling_origin` (hit rate, PAI, PEI* and the
  stability of the selection), using the true cell areas ``cells["area_m2"]``.

Methods are any of :data:`api.services.METHODS` (scored through
:func:`api.services.run_hotspots` with ``as_of = t``, so recency weights
count back from the origin) plus two baselines from
:mod:`models.evaluation`: ``naive`` (last period's counts per cell) and
``persistence`` (the sum of the last ``train_periods`` periods' counts).
Home and care-home events are left out of training and outcomes alike (as
:func:`api.services.run_hotspots` does). Only events in the study cells are
counted.

The summary gives, per (method, coverage), the mean of each metric across
folds and a 95% **percentile bootstrap** interval: the fold values are
resampled with replacement :data:`BOOTSTRAP_RESAMPLES` (2,000) times with
``numpy.random.default_rng(seed)``, and the interval is the 2.5th and 97.5th
percentiles of the resampled means. Folds with no outcome events (NaN
metrics) are left out of that metric's summary.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.services import (
    METHODS,
    AnalysisParams,
    analysis_area,
    grid_for,
    load_events,
    opened_store,
    run_hotspots,
)
from api.settings import Settings
from geo.errors import ValidationError
from geo.store import Window
from maps.audience import DEFAULT_MARKING
from models.counts import LOCAL_TZ
from models.evaluation import naive_scores, persistence_scores, rolling_origin

HORIZONS = ("week", "month")
BASELINES = ("naive", "persistence")
ALL_METHODS = (*METHODS, *BASELINES)
MIN_EVENTS = 30
"""Fewest events in the window a backtest will judge anything on."""
BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the percentile bootstrap interval."""
CI_LEVEL = 0.95
METRICS = ("hit_rate", "pai", "pei_star", "stability")
FOLD_COLUMNS = (
    "origin",
    "test_end",
    "method",
    "coverage",
    "hit_rate",
    "pai",
    "pei_star",
    "n",
    "N",
    "n_star",
    "cells_selected",
    "a_m2",
    "A_m2",
    "stability",
    "train_events",
)


@dataclass(frozen=True)
class BacktestResult:
    """What :func:`backtest` found.

    ``folds``: one row per (origin, method, coverage) with :data:`FOLD_COLUMNS`.
    ``summary``: one row per (method, coverage): ``folds`` (how many had
    outcomes) and, for each of :data:`METRICS`, ``<metric>_mean``,
    ``<metric>_low`` and ``<metric>_high`` (95% percentile bootstrap).
    ``meta``: the window, periods, parameters and counts.
    ``scores``: when asked for (``keep_scores=True``), the scores of every
    origin and method in long form (``origin``, ``method``, ``h3``,
    ``score``); otherwise None.
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any]
    scores: pd.DataFrame | None = None


# --- checks ----------------------------------------------------------------------------


def _utc(value: Any, name: str) -> pd.Timestamp:
    if not isinstance(value, datetime):
        msg = f"`{name}` must be a timezone-aware datetime, got {type(value).__name__}."
        raise ValidationError(msg)
    if value.tzinfo is None:
        msg = f"`{name}` must be timezone-aware, got {value!r}. Use datetime(..., tzinfo=UTC)."
        raise ValidationError(msg)
    return pd.Timestamp(value).tz_convert("UTC")


def _check_arguments(
    start: Any,
    end: Any,
    horizon: Any,
    coverages: Any,
    methods: Any,
    train_periods: Any,
) -> tuple[pd.Timestamp, pd.Timestamp, list[float], list[str]]:
    s = _utc(start, "start")
    e = _utc(end, "end")
    if s >= e:
        msg = f"`start` ({s.isoformat()}) must be before `end` ({e.isoformat()})."
        raise ValidationError(msg)
    if horizon not in HORIZONS:
        msg = f"`horizon` must be one of {', '.join(HORIZONS)}, got {horizon!r}."
        raise ValidationError(msg)
    covs = list(coverages)
    if not covs:
        msg = "`coverages` is empty; pass at least one share of the area, e.g. (0.01, 0.02)."
        raise ValidationError(msg)
    for c in covs:
        ok = isinstance(c, int | float) and not isinstance(c, bool)
        if not ok or not math.isfinite(float(c)) or not 0 < float(c) <= 1:
            msg = (
                f"each coverage must be a share of the study area in (0, 1], got {c!r}. "
                "Pass e.g. 0.02 for 2%."
            )
            raise ValidationError(msg)
    if len(set(covs)) != len(covs):
        msg = f"`coverages` has repeats: {covs}; give each coverage once."
        raise ValidationError(msg)
    meths = [methods] if isinstance(methods, str) else list(methods)
    if not meths:
        msg = f"`methods` is empty; pass some of {', '.join(ALL_METHODS)}."
        raise ValidationError(msg)
    for m in meths:
        if m not in ALL_METHODS:
            msg = f"unknown method {m!r}; methods are {', '.join(ALL_METHODS)}."
            raise ValidationError(msg)
    if len(set(meths)) != len(meths):
        msg = f"`methods` has repeats: {meths}; give each method once."
        raise ValidationError(msg)
    if (
        isinstance(train_periods, bool)
        or not isinstance(train_periods, int)
        or not 1 <= train_periods <= 520
    ):
        msg = f"`train_periods` must be an integer from 1 to 520, got {train_periods!r}."
        raise ValidationError(msg)
    return s, e, [float(c) for c in covs], meths


# --- periods ---------------------------------------------------------------------------


def period_boundaries(start: pd.Timestamp, end: pd.Timestamp, horizon: str) -> list[pd.Timestamp]:
    """UTC starts of the whole periods in ``[start, end]``, plus the end of the last one.

    Weeks start on Monday 00:00 UK time and months on the 1st at 00:00 UK
    time; the first boundary is the first period start at or after ``start``
    (a part period at either end is not used). So ``len(result) - 1`` is the
    number of whole periods in the window.
    """
    if horizon not in HORIZONS:
        msg = f"`horizon` must be one of {', '.join(HORIZONS)}, got {horizon!r}."
        raise ValidationError(msg)
    local = start.tz_convert(LOCAL_TZ).tz_localize(None)
    step: pd.DateOffset
    if horizon == "week":
        first = local.normalize() - pd.Timedelta(days=local.day_of_week)
        step = pd.DateOffset(weeks=1)
    else:
        first = local.normalize().replace(day=1)
        step = pd.DateOffset(months=1)
    if first < local:
        first = first + step
    out: list[pd.Timestamp] = []
    b = first
    while True:
        utc = b.tz_localize(LOCAL_TZ).tz_convert("UTC")
        if utc > end:
            return out
        out.append(utc)
        b = b + step


# --- bootstrap -------------------------------------------------------------------------


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int | np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = CI_LEVEL,
) -> tuple[float, float, float]:
    """Mean and percentile bootstrap interval of the mean: ``(mean, low, high)``.

    NaN values are dropped; with no values left all three are NaN. ``seed``
    (an int, or a ``numpy.random.Generator`` to draw from) makes it
    reproducible.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    draws = rng.integers(0, x.size, size=(resamples, x.size))
    means = x[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(x.mean()), float(low), float(high)


def summarise(folds: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Per (method, coverage): folds with outcomes, and mean, low, high of each metric.

    One ``numpy.random.default_rng(seed)`` feeds every interval in a fixed
    order (methods, then coverages, as they first appear; then
    :data:`METRICS`), so the same folds and seed give the same summary.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for (method, coverage), group in folds.groupby(["method", "coverage"], sort=False):
        row: dict[str, Any] = {
            "method": method,
            "coverage": coverage,
            "folds": int(group["hit_rate"].notna().sum()),
        }
        for metric in METRICS:
            mean, low, high = bootstrap_interval(group[metric].to_numpy(), seed=rng)
            row[f"{metric}_mean"] = mean
            row[f"{metric}_low"] = low
            row[f"{metric}_high"] = high
        rows.append(row)
    return pd.DataFrame(rows)


# --- the backtest ----------------------------------------------------------------------


def _period_counts(
    period: np.ndarray, cell: np.ndarray, n_periods: int, cells: pd.Index
) -> pd.DataFrame:
    """Periods x cells table of event counts (every period and cell present)."""
    table = pd.crosstab(period, cell)
    table = table.reindex(index=range(n_periods), columns=cells, fill_value=0)
    return table.astype(np.float64)


def backtest(
    location: str,
    *,
    start: datetime,
    end: datetime,
    settings: Settings,
    horizon: str = "week",
    coverages: Sequence[float] = (0.01, 0.02, 0.05),
    methods: Sequence[str] = ("kde", "count"),
    layer: str = "incidents",
    category: str | None = None,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    train_periods: int = 12,
    first_origin: int | None = None,
    seed: int = 0,
    keep_scores: bool = False,
) -> BacktestResult:
    """Rolling-origin backtest of hotspot methods and baselines (see the module docstring).

    Parameters
    ----------
    location
        The store.
    start, end
        The data window (timezone-aware); only whole periods inside it are used.
    horizon
        ``"week"`` or ``"month"``: the length of a period.
    coverages
        Shares of the study area to patrol, each in (0, 1].
    methods
        Any of :data:`ALL_METHODS`.
    layer, category
        Which events to forecast (as for :func:`api.services.load_events`).
    areas
        Wards to restrict to (default the settings' study area).
    params
        Analysis parameters; ``method`` is replaced by each method in turn
        and ``lookback_weeks`` is ignored (the training window is
        ``train_periods`` periods).
    train_periods
        Periods each origin trains on; also the persistence baseline's window.
    first_origin
        Index (from 0, in whole periods from the window's first period start)
        of the first origin; default ``train_periods``, the first that has
        ``train_periods`` of history. Comparisons of several training lengths
        (``engage tune``) pass the longest, so every one is judged on the same
        folds.
    seed
        Seed of the bootstrap intervals.
    keep_scores
        Also return every origin's scores (``BacktestResult.scores``).

    Raises
    ------
    ValidationError
        ``start >= end``, a naive datetime, an unknown horizon or method, a
        coverage outside (0, 1], fewer than :data:`MIN_EVENTS` events in the
        window, or too few whole periods for one fold.
    """
    from geo.h3index import cells_to_parent
    from models.targets import drop_private

    s, e, covs, meths = _check_arguments(start, end, horizon, coverages, methods, train_periods)
    params = params or AnalysisParams()
    first = train_periods if first_origin is None else first_origin
    if isinstance(first, bool) or not isinstance(first, int) or first < train_periods:
        msg = (
            f"`first_origin` must be a whole number of periods >= train_periods "
            f"({train_periods}), got {first_origin!r}."
        )
        raise ValidationError(msg)
    bounds = period_boundaries(s, e, horizon)
    n_periods = max(len(bounds) - 1, 0)
    if n_periods < first + 1:
        msg = (
            f"the window {s.date()} to {e.date()} holds {n_periods} whole {horizon}(s); "
            f"a backtest with train_periods={train_periods} needs at least "
            f"{first + 1}. Widen --from/--to or lower train_periods."
        )
        raise ValidationError(msg)

    polygon, area_name, _ = analysis_area(settings, areas)
    cells = grid_for(polygon, params.res)
    cell_index = pd.Index(cells["h3"].to_numpy(dtype=np.int64), name="h3")
    cell_areas = pd.Series(cells["area_m2"].to_numpy(dtype=np.float64), index=cell_index)

    window = Window(bounds[0].to_pydatetime(), bounds[-1].to_pydatetime())
    with opened_store(location) as store:
        events = load_events(store, window, layer=layer, category=category)
    events = drop_private(events)
    cell = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), params.res)
    inside = np.isin(cell, cell_index.to_numpy())
    events = events.loc[inside].reset_index(drop=True)
    cell = cell[inside]
    if len(events) < MIN_EVENTS:
        msg = (
            f"only {len(events)} {layer} events in the study area between "
            f"{bounds[0].date()} and {bounds[-1].date()}; a backtest needs at least "
            f"{MIN_EVENTS}. Widen the window, choose another layer or category, or ingest data."
        )
        raise ValidationError(msg)

    edges = np.array([b.value for b in bounds], dtype=np.int64)
    at_ns = events["at"].dt.tz_convert("UTC").array.asi8
    period = np.searchsorted(edges, at_ns, side="right") - 1
    counts = _period_counts(period, cell, n_periods, cell_index)

    train_events = np.bincount(period, minlength=n_periods)
    fold_frames: list[pd.DataFrame] = []
    score_frames: list[pd.DataFrame] = []
    for method in meths:
        # models.evaluation.rolling_origin walks the origins; the scorer sees the
        # periods before origin i (its rows are ``counts.iloc[:i]``).
        def scorer(past: pd.DataFrame, method: str = method) -> pd.Series:
            i = len(past)
            if method == "naive":
                scores = naive_scores(past.iloc[-1])
            elif method == "persistence":
                scores = persistence_scores(past, periods=train_periods)
            else:
                train = events.loc[(period >= i - train_periods) & (period < i)]
                frame, _ = run_hotspots(
                    train, cells, replace(params, method=method), bounds[i], quiet=True
                )
                scores = pd.Series(
                    frame["score"].to_numpy(dtype=np.float64),
                    index=pd.Index(frame["h3"].to_numpy(dtype=np.int64), name="h3"),
                ).fillna(0.0)
            if keep_scores:
                score_frames.append(
                    pd.DataFrame(
                        {
                            "origin": bounds[i],
                            "method": method,
                            "h3": scores.index.to_numpy(dtype=np.int64),
                            "score": scores.to_numpy(dtype=np.float64),
                        }
                    )
                )
            return scores

        ev = rolling_origin(counts, cell_areas, scorer, min_train_periods=first, coverages=covs)
        i = ev["origin"].to_numpy(dtype=np.int64)
        ev["origin"] = [bounds[k] for k in i]
        ev.insert(1, "test_end", [bounds[k + 1] for k in i])
        ev.insert(2, "method", method)
        ev["train_events"] = [int(train_events[max(k - train_periods, 0) : k].sum()) for k in i]
        fold_frames.append(ev)
    # One block per origin, methods and coverages in the order asked for.
    folds = pd.concat(fold_frames, ignore_index=True).sort_values("origin", kind="stable")
    folds = folds.reset_index(drop=True)[list(FOLD_COLUMNS)]
    if keep_scores:
        score_frames.sort(key=lambda f: f["origin"].iloc[0])
    summary = summarise(folds, seed=seed)
    meta: dict[str, Any] = {
        "area": area_name,
        "wards": list(areas or []),
        "start": s.isoformat(),
        "end": e.isoformat(),
        "horizon": horizon,
        "periods": n_periods,
        "period_starts": [b.isoformat() for b in bounds[:-1]],
        "train_periods": train_periods,
        "first_origin": bounds[first].isoformat(),
        "folds": n_periods - first,
        "methods": meths,
        "coverages": covs,
        "layer": layer,
        "category": category,
        "res": params.res,
        "cells": len(cell_index),
        "events": len(events),
        "parameters": {
            k: v for k, v in params.as_dict().items() if k not in ("method", "lookback_weeks")
        },
        "lookback_weeks": "ignored: each origin trains on train_periods periods",
        "bootstrap": {
            "kind": "percentile",
            "resamples": BOOTSTRAP_RESAMPLES,
            "level": CI_LEVEL,
            "seed": seed,
            "rng": "numpy.random.default_rng",
        },
    }
    scores_out = pd.concat(score_frames, ignore_index=True) if keep_scores else None
    return BacktestResult(folds, summary, meta, scores_out)


# --- the report ------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def write_report(
    result: BacktestResult, out_dir: Path, *, marking: str = DEFAULT_MARKING
) -> dict[str, Path]:
    """Write ``backtest.csv`` (folds), ``summary.csv``, ``backtest.html`` and ``backtest.pdf``.

    The HTML report is one offline file: the summary table and two PNG plots
    (hit rate and PAI by coverage per method, with their intervals) embedded
    as data URIs; no external links or scripts. The PDF
    (:func:`api.reports.backtest_pdf`) is the A4 print of the same, with a
    PEI* plot too. Both carry the security ``marking`` (default
    ``OFFICIAL-SENSITIVE``, as the weekly pack), the PDF on every page.
    """
    from api.reports import (
        backtest_facts,
        backtest_pdf,
        html_png,
        html_report,
        html_table,
        marking_text,
        metric_by_coverage_png,
    )

    marking = marking_text(marking)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "folds": out / "backtest.csv",
        "summary": out / "summary.csv",
        "report": out / "backtest.html",
        "pdf": out / "backtest.pdf",
    }
    # The PDF is the part most likely to fail (fonts, rendering): made first, so a
    # failure leaves no half set of files behind.
    backtest_pdf(result, files["pdf"], marking=marking)
    result.folds.to_csv(files["folds"], index=False)
    result.summary.to_csv(files["summary"], index=False)
    meta = result.meta

    shown = result.summary[
        [
            "method",
            "coverage",
            "folds",
            "hit_rate_mean",
            "hit_rate_low",
            "hit_rate_high",
            "pai_mean",
            "pai_low",
            "pai_high",
            "pei_star_mean",
            "stability_mean",
        ]
    ]
    facts_html = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in backtest_facts(meta).items()
    )
    summary = result.summary
    hit = html_png(metric_by_coverage_png(summary, "hit_rate", "hit rate"), "hit rate by coverage")
    pai = html_png(metric_by_coverage_png(summary, "pai", "PAI"), "PAI by coverage")
    page = html_report(
        "Hotspot backtest",
        marking,
        f"<p>Rolling origin: each period is forecast from the "
        f"{html.escape(str(meta.get('train_periods')))} periods before it only, and judged "
        "on the events of that period.</p>\n"
        f"<table>{facts_html}</table>\n"
        "<h2>Summary (mean across folds, 95% interval)</h2>\n"
        f"{html_table(shown, _fmt)}\n"
        f"<h2>Hit rate</h2>\n{hit}\n<h2>PAI</h2>\n{pai}",
    )
    files["report"].write_text(page, encoding="utf-8")
    return files
