"""Rolling-origin backtest: which method and settings would have predicted best.

Crime analysts use this to prove, on their own stored data, which hotspot
method and coverage would have found the most of the following period's
events (see DESIGN.md, "Models" -> Evaluation).

For each period boundary ``t`` (weeks start on Monday 00:00 UK time, months
on the 1st at 00:00 UK time) from ``start + train_periods`` periods to the
last whole period before ``end``:

* the model sees only the events of the ``train_periods`` periods before
  ``t`` (the lookback in whole periods: :func:`models.params.lookback_periods`
  of ``params.lookback_weeks``, so 52 weeks is 52 weekly or 12 monthly
  periods, and every origin trains on the same amount of history);
* it scores every cell of the study area's grid (at ``params.res``); and
* the scores are judged against the events of ``[t, t + 1 period)`` by
  :func:`models.evaluation.rolling_origin` (hit rate, PAI, PEI* and the
  stability of the selection), using the true cell areas ``cells["area_m2"]``.

Methods are any of :data:`models.params.METHODS` (scored through
:func:`models.weekly.run_hotspots` with ``as_of = t``, so recency weights
count back from the origin) plus two baselines from
:mod:`models.evaluation`: ``naive`` (last period's counts per cell) and
``persistence`` (the sum of the last ``train_periods`` periods' counts).
Home and care-home events are left out of training and outcomes alike (as
:func:`models.weekly.run_hotspots` does). Only events in the study cells are
counted.

The summary gives, per (method, coverage), the mean of each metric across
folds and a 95% **percentile bootstrap** interval: the fold values are
resampled with replacement :data:`BOOTSTRAP_RESAMPLES` (2,000) times with
``numpy.random.default_rng(seed)``, and the interval is the 2.5th and 97.5th
percentiles of the resampled means. Folds with no outcome events (NaN
metrics) are left out of that metric's summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from geo.calendar import HORIZONS, period_boundaries, uk_date, utc
from geo.errors import ValidationError
from geo.h3index import cells_to_parent
from models.evaluation import naive_scores, persistence_scores, rolling_origin
from models.params import METHODS, AnalysisParams
from models.targets import drop_private
from models.weekly import run_hotspots

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


@dataclass(frozen=True)
class BacktestSpec:
    """The checked arguments of a backtest: its window, periods, methods and coverages.

    Build it with :meth:`make`, which refuses bad values with the reason.
    ``bounds`` are the UTC period starts (:func:`geo.calendar.period_boundaries`).
    """

    start: pd.Timestamp
    end: pd.Timestamp
    horizon: str
    coverages: tuple[float, ...]
    methods: tuple[str, ...]
    train_periods: int
    first_origin: int
    bounds: tuple[pd.Timestamp, ...]
    seed: int = 0

    @classmethod
    def make(
        cls,
        *,
        start: Any,
        end: Any,
        horizon: Any = "week",
        coverages: Any = (0.01, 0.02, 0.05),
        methods: Any = ("kde", "count"),
        train_periods: Any = 12,
        first_origin: Any = None,
        seed: int = 0,
    ) -> BacktestSpec:
        """Check every argument (see :func:`backtest`) and find the periods.

        Raises
        ------
        ValidationError
            ``start >= end``, a naive datetime, an unknown horizon or method, a
            coverage outside (0, 1] or repeated, a training length outside 1-520,
            or too few whole periods for one fold.
        """
        s, e, covs, meths = _check_arguments(start, end, horizon, coverages, methods, train_periods)
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
                f"the window {uk_date(s)} to {uk_date(e)} holds {n_periods} whole {horizon}(s); "
                f"a backtest training on {train_periods} {horizon}(s) needs at least "
                f"{first + 1}. Widen --from/--to or shorten the lookback."
            )
            raise ValidationError(msg)
        return cls(
            s, e, horizon, tuple(covs), tuple(meths), train_periods, first, tuple(bounds), seed
        )

    @property
    def n_periods(self) -> int:
        return len(self.bounds) - 1

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The data window: the first period's start to the last period's end."""
        return self.bounds[0], self.bounds[-1]


def _check_arguments(
    start: Any,
    end: Any,
    horizon: Any,
    coverages: Any,
    methods: Any,
    train_periods: Any,
) -> tuple[pd.Timestamp, pd.Timestamp, list[float], list[str]]:
    s = utc(start, "start")
    e = utc(end, "end")
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
    events: pd.DataFrame,
    cells: pd.DataFrame,
    spec: BacktestSpec,
    *,
    params: AnalysisParams | None = None,
    keep_scores: bool = False,
    describe: dict[str, Any] | None = None,
) -> BacktestResult:
    """Rolling-origin backtest of hotspot methods and baselines (see the module docstring).

    Parameters
    ----------
    events
        The events of ``spec.window`` (:mod:`models.events`), any layer.
    cells
        The study area's cells (``h3``, ``x``, ``y``, ``area_m2``) at ``params.res``.
    spec
        The checked window, periods, methods and coverages (:meth:`BacktestSpec.make`).
    params
        Analysis parameters; ``method`` is replaced by each method in turn and
        ``spec.train_periods`` is the training window.
    keep_scores
        Also return every origin's scores (``BacktestResult.scores``).
    describe
        Facts about the data for the result's ``meta`` (area, layer, category...).

    Raises
    ------
    ValidationError
        Fewer than :data:`MIN_EVENTS` non-private events in the study cells.
    """
    params = params or AnalysisParams()
    bounds = list(spec.bounds)
    n_periods, first, train_periods = spec.n_periods, spec.first_origin, spec.train_periods
    cell_index = pd.Index(cells["h3"].to_numpy(dtype=np.int64), name="h3")
    cell_areas = pd.Series(cells["area_m2"].to_numpy(dtype=np.float64), index=cell_index)
    events = drop_private(events)
    cell = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), params.res)
    inside = np.isin(cell, cell_index.to_numpy())
    events = events.loc[inside].reset_index(drop=True)
    cell = cell[inside]
    facts = dict(describe or {})
    if len(events) < MIN_EVENTS:
        msg = (
            f"only {len(events)} {facts.get('layer', '')} events in the study area between "
            f"{uk_date(bounds[0])} and {uk_date(bounds[-1])}; a backtest needs at least "
            f"{MIN_EVENTS}. Widen the window, choose another layer or category, or ingest data."
        )
        raise ValidationError(msg.replace("  ", " "))

    edges = np.array([b.value for b in bounds], dtype=np.int64)
    at_ns = events["at"].dt.tz_convert("UTC").array.asi8
    period = np.searchsorted(edges, at_ns, side="right") - 1
    counts = _period_counts(period, cell, n_periods, cell_index)

    train_events = np.bincount(period, minlength=n_periods)
    fold_frames: list[pd.DataFrame] = []
    score_frames: list[pd.DataFrame] = []
    for method in spec.methods:
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

        ev = rolling_origin(
            counts, cell_areas, scorer, min_train_periods=first, coverages=list(spec.coverages)
        )
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
    summary = summarise(folds, seed=spec.seed)
    meta: dict[str, Any] = {
        **facts,
        "start": spec.start.isoformat(),
        "end": spec.end.isoformat(),
        "horizon": spec.horizon,
        "periods": n_periods,
        "period_starts": [b.isoformat() for b in bounds[:-1]],
        "train_periods": train_periods,
        "lookback": f"{train_periods} {spec.horizon}(s) before each origin",
        "first_origin": bounds[first].isoformat(),
        "folds": n_periods - first,
        "methods": list(spec.methods),
        "coverages": list(spec.coverages),
        "res": params.res,
        "cells": len(cell_index),
        "events": len(events),
        "parameters": {
            k: v for k, v in params.as_dict().items() if k not in ("method", "lookback_weeks")
        },
        "bootstrap": {
            "kind": "percentile",
            "resamples": BOOTSTRAP_RESAMPLES,
            "level": CI_LEVEL,
            "seed": spec.seed,
            "rng": "numpy.random.default_rng",
        },
    }
    scores_out = pd.concat(score_frames, ignore_index=True) if keep_scores else None
    return BacktestResult(folds, summary, meta, scores_out)
