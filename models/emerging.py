"""Emerging hot and cold spots: Gi* per weekly bin plus a Mann-Kendall trend.

:func:`emerging_hotspots` scores every study cell in every week with Getis-Ord
Gi* (:func:`models.gistar.gistar`), then :func:`emerging_classes` sorts each
cell's weekly history into one of the eight hot-spot patterns of ArcGIS Pro's
Emerging Hot Spot Analysis, their cold mirrors, or ``"no_pattern"``, using the
Mann-Kendall trend (:func:`mann_kendall`) of the cell's weekly Gi* z-scores.

Definitions
-----------
After Esri, *ArcGIS Pro: How Emerging Hot Spot Analysis works*
(https://pro.arcgis.com/en/pro-app/latest/tool-reference/space-time-pattern-mining/learnmore-emerginghotspots.htm).
"Hot" below means a statistically significant hot spot in that step; "90%"
means at least 90% of all ``n`` steps (``10 * hot_steps >= 9 * n``, exact in
integers; with fewer than ten steps that is every step). Read for hot spots:

``new_hot``
    The final step is hot and no earlier step is hot.
``consecutive_hot``
    The final steps form a single uninterrupted hot run of at least two
    steps, no step before the run is hot, and fewer than 90% of steps are hot.
``intensifying_hot``
    At least 90% of steps hot, the final step included, and the Mann-Kendall
    trend of the Gi* z-scores is a significant increase.
``persistent_hot``
    At least 90% of steps hot, the final step included, and no significant
    Mann-Kendall trend.
``diminishing_hot``
    At least 90% of steps hot, the final step included, and a significant
    Mann-Kendall decrease.
``sporadic_hot``
    The final step is hot, fewer than 90% of steps are hot, some step before
    the final hot run is hot too (on again, off again), and no step was ever
    a significant cold spot.
``oscillating_hot``
    The final step is hot, fewer than 90% of steps are hot, and some earlier
    step was a significant cold spot.
``historical_hot``
    The final step is not hot, but at least 90% of steps are hot.

Cold spots mirror these with hot and cold swapped; for the trend, the
intensity of a cold spot is how far its z-score is below zero, so
``intensifying_cold`` needs a significant Mann-Kendall *decrease* of z and
``diminishing_cold`` a significant *increase*.

Readings where Esri's wording leaves a choice (so that every cell gets
exactly one pattern):

* Persistent, like intensifying and diminishing, needs the final step hot;
  otherwise it would overlap historical.
* A cell that was ever a cold spot and whose final step is hot (with fewer
  than 90% hot steps) is oscillating, even when its hot steps would
  otherwise make it new or consecutive: the cold history is the stronger
  signal, and Esri's sporadic explicitly excludes cold steps.
* Patterns decided by a hot (or cold) final step come before historical:
  a cell with 90% hot steps whose final step is a cold spot is an
  oscillating cold spot, not a historical hot spot.

Esri recommends at least ten time steps; fewer are accepted (at least two)
but the 90% rules then need every step.

Mann-Kendall
------------
``S = sum_{i<j} sign(x_j - x_i)`` over the time axis, with the tie-corrected
variance ``Var(S) = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18`` (``t`` the
sizes of groups of equal values) and the continuity correction
``z = (S - 1) / sqrt(Var)`` for ``S > 0``, ``(S + 1) / sqrt(Var)`` for
``S < 0`` and 0 for ``S = 0`` (Kendall 1975; Hipel and McLeod 1994). The
p-value is two-sided from the standard normal; the trend is ``"increasing"``
or ``"decreasing"`` when ``p <= alpha`` (by the sign of ``S``), else
``"no trend"``. A series of all-equal values has ``Var = 0`` and gets
``z = 0``, ``p = 1``. Everything is vectorised across cells; the only loop
is over the lags of the time axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from geo.errors import ValidationError
from models.gistar import _check_inputs, _check_k, gistar

MIN_STEPS = 2
SHARE = 0.9
"""The 90% rule of the ArcGIS definitions."""
NO_PATTERN = "no_pattern"
PATTERN_NAMES = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
PATTERNS = (
    tuple(f"{p}_hot" for p in PATTERN_NAMES)
    + tuple(f"{p}_cold" for p in PATTERN_NAMES)
    + (NO_PATTERN,)
)
"""Every label :func:`emerging_classes` can return."""
TRENDS = ("increasing", "decreasing", "no trend")
COLUMNS = (
    "h3",
    "pattern",
    "mk_z",
    "mk_p",
    "trend",
    "hot_share",
    "cold_share",
    "final_hot",
    "final_cold",
)
"""Output columns of :func:`emerging_hotspots`, in order."""
CITATION = (
    "Esri, ArcGIS Pro: How Emerging Hot Spot Analysis works "
    "(https://pro.arcgis.com/en/pro-app/latest/tool-reference/space-time-pattern-mining/"
    "learnmore-emerginghotspots.htm)"
)


def mann_kendall(
    series: npt.ArrayLike, *, alpha: float = 0.05
) -> tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.str_],
]:
    """Mann-Kendall trend test of every row of a cells x steps matrix.

    Parameters
    ----------
    series
        Two-dimensional, finite, one row per cell and one column per time
        step in time order, at least two steps (a 1-D series is taken as one
        row).
    alpha
        Significance level of the trend, in (0, 0.5]; default 0.05.

    Returns
    -------
    S : numpy.ndarray of int64
        The Mann-Kendall statistic per row.
    z : numpy.ndarray of float64
        Continuity-corrected z with the tie-corrected variance.
    p : numpy.ndarray of float64
        Two-sided normal p-value.
    trend : numpy.ndarray of str
        ``"increasing"``, ``"decreasing"`` or ``"no trend"``.

    Raises
    ------
    geo.errors.ValidationError
        On a wrong shape, too few steps, non-finite values or a bad ``alpha``.
    """
    x = _check_matrix(series, "series")
    a = _check_alpha(alpha)
    rows, n = x.shape

    s = np.zeros(rows, dtype=np.int64)
    for lag in range(1, n):
        s += np.sign(x[:, lag:] - x[:, :-lag]).astype(np.int64).sum(axis=1)

    var = (n * (n - 1) * (2 * n + 5) - _tie_term(x)) / 18.0
    safe = np.where(var > 0, var, 1.0)
    numerator = s - np.sign(s)  # continuity correction towards zero
    z = np.where(var > 0, numerator / np.sqrt(safe), 0.0)
    p = np.minimum(2.0 * stats.norm.sf(np.abs(z)), 1.0)

    trend = np.full(rows, "no trend", dtype="<U10")
    significant = p <= a
    trend[significant & (s > 0)] = "increasing"
    trend[significant & (s < 0)] = "decreasing"
    return s, z, p, trend


def emerging_classes(
    z: npt.ArrayLike,
    significant_hot: npt.ArrayLike,
    significant_cold: npt.ArrayLike,
    *,
    alpha: float = 0.05,
) -> npt.NDArray[np.str_]:
    """The emerging hot/cold spot pattern of every cell (see the module docstring).

    Parameters
    ----------
    z
        Gi* z-scores, cells x steps in time order (at least two steps),
        finite; their Mann-Kendall trend decides intensifying, persistent
        and diminishing.
    significant_hot, significant_cold
        Boolean masks of the same shape: the cell is a significant hot
        (cold) spot in that step. A cell cannot be both in one step.
    alpha
        Significance level of the Mann-Kendall trend; default 0.05.

    Returns
    -------
    numpy.ndarray of str
        One label from :data:`PATTERNS` per cell.

    Raises
    ------
    geo.errors.ValidationError
        On mismatched shapes, non-boolean or overlapping masks, or a bad
        ``z`` or ``alpha``.
    """
    zz = _check_matrix(z, "z")
    hot = _check_mask(significant_hot, "significant_hot", zz.shape)
    cold = _check_mask(significant_cold, "significant_cold", zz.shape)
    both = hot & cold
    if both.any():
        r, c = np.argwhere(both)[0]
        msg = (
            f"`significant_hot` and `significant_cold` overlap in {int(both.sum())} "
            f"cell-steps, e.g. cell {int(r)} step {int(c)}. A cell is hot or cold "
            "in a step, never both."
        )
        raise ValidationError(msg)
    _, _, _, trend = mann_kendall(zz, alpha=alpha)
    return _classify(hot, cold, trend)


def emerging_hotspots(
    cells: npt.ArrayLike,
    counts_by_week: pd.DataFrame,
    *,
    k: int = 1,
    fdr: bool = True,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Emerging hot and cold spot pattern of every study cell over weekly bins.

    Each week is scored with :func:`models.gistar.gistar` (``k``, ``fdr`` and
    the single level ``alpha``); a cell is a significant hot (cold) spot in
    a week when its class there is ``hot_*`` (``cold_*``). A week whose
    counts are all equal (zero variance, e.g. a week without events) cannot
    be scored: every cell gets ``z = 0`` and is not significant in it, and
    the week is listed in ``meta["skipped_weeks"]``. The weekly z-scores
    then go through :func:`mann_kendall` (at ``alpha``) and
    :func:`emerging_classes`.

    Parameters
    ----------
    cells
        The study area's H3 cells as int64, as for :func:`models.gistar.gistar`.
    counts_by_week
        One row per week (index in ascending time order, unique), one column
        per cell (int64 H3 cells, each one of ``cells``; cells without a
        column count 0), finite non-negative counts; at least two weeks.
    k, fdr
        As for :func:`models.gistar.gistar`.
    alpha
        Significance level of both Gi* and the Mann-Kendall trend, in
        (0, 0.5]; default 0.05.

    Returns
    -------
    frame : pandas.DataFrame
        One row per cell in the order of ``cells`` with columns ``h3``,
        ``pattern`` (from :data:`PATTERNS`), ``mk_z``, ``mk_p``, ``trend``
        (Mann-Kendall of the weekly Gi* z), ``hot_share`` and ``cold_share``
        (share of weeks significant hot / cold), ``final_hot`` and
        ``final_cold`` (significant in the last week).
    meta : dict
        ``n_cells``, ``n_weeks``, ``first_week``, ``last_week``, ``k``,
        ``fdr``, ``alpha``, ``skipped_weeks`` (index labels of weeks of zero
        variance), ``n_skipped_weeks``, ``pattern_counts`` (label -> cells,
        all labels present), ``z`` (the cells x weeks Gi* z matrix) and
        ``definitions`` (the citation).

    Raises
    ------
    geo.errors.ValidationError
        On bad cells, counts, ``k`` or ``alpha``.
    """
    a = _check_alpha(alpha)
    k = _check_k(k)
    c, _ = _check_inputs(cells, np.zeros(np.asarray(cells).size))
    counts = _check_counts(counts_by_week, c)
    n_weeks = counts.shape[0]

    z = np.zeros((c.size, n_weeks), dtype=np.float64)
    hot = np.zeros((c.size, n_weeks), dtype=bool)
    cold = np.zeros((c.size, n_weeks), dtype=bool)
    skipped: list[Any] = []
    for t in range(n_weeks):
        week = counts[t]
        if np.ptp(week) == 0:
            skipped.append(counts_by_week.index[t])
            continue
        frame_t, _ = gistar(c, week, k=k, fdr=fdr, alpha_levels=(a,))
        z[:, t] = frame_t["gi_z"].to_numpy(dtype=np.float64)
        cls = frame_t["gi_class"].to_numpy(dtype=str)
        hot[:, t] = np.char.startswith(cls, "hot_")
        cold[:, t] = np.char.startswith(cls, "cold_")

    _, mk_z, mk_p, trend = mann_kendall(z, alpha=a)
    pattern = _classify(hot, cold, trend)
    frame = pd.DataFrame(
        {
            "h3": c,
            "pattern": pattern.astype(object),
            "mk_z": mk_z,
            "mk_p": mk_p,
            "trend": trend.astype(object),
            "hot_share": hot.mean(axis=1),
            "cold_share": cold.mean(axis=1),
            "final_hot": hot[:, -1],
            "final_cold": cold[:, -1],
        },
        columns=list(COLUMNS),
    )
    labels, n_per = np.unique(pattern, return_counts=True)
    found = dict(zip(labels.tolist(), n_per.tolist(), strict=True))
    meta: dict[str, Any] = {
        "n_cells": int(c.size),
        "n_weeks": int(n_weeks),
        "first_week": counts_by_week.index[0],
        "last_week": counts_by_week.index[-1],
        "k": k,
        "fdr": fdr,
        "alpha": a,
        "skipped_weeks": skipped,
        "n_skipped_weeks": len(skipped),
        "pattern_counts": {p: int(found.get(p, 0)) for p in PATTERNS},
        "z": z,
        "definitions": CITATION,
    }
    return frame, meta


def _classify(
    hot: npt.NDArray[np.bool_], cold: npt.NDArray[np.bool_], trend: npt.NDArray[np.str_]
) -> npt.NDArray[np.str_]:
    """Patterns from the masks and the Mann-Kendall trend of z (checked inputs)."""
    out = np.full(hot.shape[0], NO_PATTERN, dtype="<U20")
    hot_side = _side(hot, cold, up=trend == "increasing", down=trend == "decreasing")
    cold_side = _side(cold, hot, up=trend == "decreasing", down=trend == "increasing")
    hist_hot = hot_side == "historical"
    hist_cold = cold_side == "historical"
    # Final-step patterns first (hot and cold ones are disjoint), then historical.
    for side, suffix in ((hot_side, "_hot"), (cold_side, "_cold")):
        pick = (side != "") & (side != "historical")
        out[pick] = np.char.add(side[pick], suffix)
    free = out == NO_PATTERN
    out[free & hist_hot] = "historical_hot"
    out[free & hist_cold] = "historical_cold"
    return out


def _side(
    sig: npt.NDArray[np.bool_],
    other: npt.NDArray[np.bool_],
    *,
    up: npt.NDArray[np.bool_],
    down: npt.NDArray[np.bool_],
) -> npt.NDArray[np.str_]:
    """Pattern names (no suffix, "" for none) for one side.

    ``sig`` is the side's significance mask, ``other`` the opposite side's;
    ``up``/``down`` say the side's intensity significantly rises/falls.
    """
    rows, n = sig.shape
    count = sig.sum(axis=1)
    mostly = 10 * count >= round(10 * SHARE) * n
    final = sig[:, -1]
    ever_other = other.any(axis=1)
    rev = sig[:, ::-1]
    run = np.where(rev.all(axis=1), n, np.argmin(rev, axis=1))
    before_run = count > run

    out = np.full(rows, "", dtype="<U12")
    few = final & ~mostly
    out[final & mostly & up] = "intensifying"
    out[final & mostly & down] = "diminishing"
    out[final & mostly & ~up & ~down] = "persistent"
    out[few & ever_other] = "oscillating"
    clean = few & ~ever_other
    out[clean & ~before_run & (run == 1)] = "new"
    out[clean & ~before_run & (run >= 2)] = "consecutive"
    out[clean & before_run] = "sporadic"
    out[~final & mostly] = "historical"
    return out


def _tie_term(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``sum_t t(t-1)(2t+5)`` over the groups of equal values of each row."""
    rows, n = x.shape
    srt = np.sort(x, axis=1)
    starts = np.ones((rows, n), dtype=bool)
    starts[:, 1:] = srt[:, 1:] != srt[:, :-1]
    group = np.cumsum(starts, axis=1) - 1  # group id within the row
    flat = (np.arange(rows)[:, None] * n + group).ravel()
    t = np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)
    return (t * (t - 1) * (2 * t + 5)).sum(axis=1)


def _check_matrix(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    raw = np.asarray(values)
    if raw.ndim == 1:
        raw = raw[None, :]
    if raw.ndim != 2:
        msg = (
            f"`{name}` must be two-dimensional (cells x steps), got shape {raw.shape}. "
            "Pass one row per cell."
        )
        raise ValidationError(msg)
    if raw.dtype.kind not in "biuf":
        msg = f"`{name}` must be numeric, got dtype {raw.dtype}. Pass z-scores or counts."
        raise ValidationError(msg)
    if raw.shape[1] < MIN_STEPS:
        msg = (
            f"`{name}` must have at least {MIN_STEPS} time steps (columns), got "
            f"{raw.shape[1]}. Pass a longer period (ArcGIS recommends at least 10)."
        )
        raise ValidationError(msg)
    x = np.asarray(raw, dtype=np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        msg = (
            f"`{name}` must be finite, got {int(bad.sum())} non-finite values, e.g. "
            f"{x[bad][0]}. Fill or drop them first."
        )
        raise ValidationError(msg)
    return x


def _check_mask(mask: npt.ArrayLike, name: str, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    m = np.asarray(mask)
    if m.ndim == 1:
        m = m[None, :]
    if m.dtype != np.bool_:
        msg = f"`{name}` must be a boolean array, got dtype {m.dtype}. Pass e.g. `p_adj <= alpha`."
        raise ValidationError(msg)
    if m.shape != shape:
        msg = (
            f"`{name}` must have the shape of `z` {shape}, got {m.shape}. "
            "Pass one flag per cell and step."
        )
        raise ValidationError(msg)
    return m


def _check_alpha(alpha: float) -> float:
    ok = (
        not isinstance(alpha, bool)
        and isinstance(alpha, int | float | np.floating)
        and 0 < float(alpha) <= 0.5
    )
    if not ok:
        msg = f"`alpha` must be a significance level in (0, 0.5], got {alpha!r}. Pass e.g. 0.05."
        raise ValidationError(msg)
    return float(alpha)


def _check_counts(counts_by_week: pd.DataFrame, cells: npt.NDArray[np.int64]) -> np.ndarray:
    """Weeks x cells float64 matrix in the order of ``cells`` (missing cells 0)."""
    if not isinstance(counts_by_week, pd.DataFrame):
        msg = (
            f"`counts_by_week` must be a pandas DataFrame (weeks x cells), got "
            f"{type(counts_by_week).__name__}. Pivot the weekly counts first."
        )
        raise ValidationError(msg)
    idx = counts_by_week.index
    if len(idx) < MIN_STEPS:
        msg = (
            f"`counts_by_week` must have at least {MIN_STEPS} weeks (rows), got {len(idx)}. "
            "Pass a longer period (ArcGIS recommends at least 10)."
        )
        raise ValidationError(msg)
    if not idx.is_unique or not idx.is_monotonic_increasing:
        msg = (
            "`counts_by_week` index must be unique weeks in ascending order, got "
            f"{list(idx[:5])}... Use `.groupby(level=0).sum().sort_index()` first."
        )
        raise ValidationError(msg)
    cols = np.asarray(counts_by_week.columns)
    if cols.dtype.kind not in "iu":
        msg = (
            f"`counts_by_week` columns must be int64 H3 cells, got dtype {cols.dtype}. "
            "Convert hex strings first (geo.h3index.str_to_cell)."
        )
        raise ValidationError(msg)
    if np.unique(cols).size != cols.size:
        msg = (
            "`counts_by_week` columns must be unique cells, got repeated ones. "
            "Sum the counts of each cell first (`.T.groupby(level=0).sum().T`)."
        )
        raise ValidationError(msg)
    outside = ~np.isin(cols.astype(np.int64), cells)
    if outside.any():
        msg = (
            f"`counts_by_week` has {int(outside.sum())} columns that are not in `cells`, "
            f"e.g. {int(cols[outside][0])}. Pass every column's cell in `cells` or drop it."
        )
        raise ValidationError(msg)
    frame = counts_by_week.set_axis(cols.astype(np.int64), axis=1)
    dtypes_ok = all(pd.api.types.is_numeric_dtype(d) for d in frame.dtypes)
    if not dtypes_ok:
        msg = "`counts_by_week` must hold numeric counts. Convert the columns to numbers first."
        raise ValidationError(msg)
    x = frame.reindex(columns=cells, fill_value=0).to_numpy(dtype=np.float64)
    bad = ~np.isfinite(x) | (x < 0)
    if bad.any():
        msg = (
            f"`counts_by_week` must hold finite non-negative counts, got "
            f"{x[bad][:5].tolist()} ({int(bad.sum())} bad). Fill missing weeks with 0."
        )
        raise ValidationError(msg)
    return x
