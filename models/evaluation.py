"""Evaluation of hotspot forecasts: hit rate, PAI, PEI*, stability, baselines.

A forecast is a score per H3 cell (higher = more expected). Evaluating it at a
*coverage* (a share of the study area, e.g. 0.02 = 2%) means patrolling the
highest-scoring cells that fit in that share of the area, then counting how
many of the next period's outcome events fall in them.

Notation (Chainey, Tompson and Uhlig 2008; Hunt 2016):

* ``N``: outcome events in the study cells; ``n``: those in the selected cells;
* ``A``: true area of the study cells; ``a``: true area of the selected cells
  (square metres; H3 cells differ in area, so areas come from the caller,
  e.g. :func:`geo.h3index.cells_area_m2`, never from a nominal cell size);
* **hit rate** ``n / N``;
* **PAI** (predictive accuracy index) ``(n / N) / (a / A)``: how many times
  more events the selection holds than its share of the area would suggest;
* **PEI\\*** (predictive efficiency index) ``n / n*``, with ``n*`` the most
  events a selection of the same area could hold (see :func:`evaluate` for
  exactly how ``n*`` is computed).

The study cells are the index of ``areas``. Everything here is pure and
vectorised; nothing reads files or settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.errors import ValidationError

FloatArray = npt.NDArray[np.float64]

DEFAULT_COVERAGES = (0.01, 0.02, 0.05)
"""Coverages reported by default: 1%, 2% and 5% of the study area."""

AREA_RTOL = 1e-9
"""Relative slack on the area budget, so float rounding in a sum of areas
never drops a cell that fits exactly."""

EVALUATION_COLUMNS = (
    "coverage",
    "cells_selected",
    "n",
    "N",
    "a_m2",
    "A_m2",
    "n_star",
    "hit_rate",
    "pai",
    "pei_star",
    "no_outcomes",
)
"""Keys of :func:`evaluate` and columns of :func:`evaluate_many`, in order."""


class Evaluation(TypedDict):
    """One forecast evaluated at one coverage (see :func:`evaluate`)."""

    coverage: float
    cells_selected: int
    n: float
    N: float
    a_m2: float
    A_m2: float
    n_star: float
    hit_rate: float
    pai: float
    pei_star: float
    no_outcomes: bool


# --- checks ----------------------------------------------------------------------------


def _check_series(x: Any, name: str, *, allow_nan: bool) -> pd.Series:
    """A numeric Series with a unique index (the H3 cells), values finite and >= 0 or NaN."""
    if not isinstance(x, pd.Series):
        msg = f"`{name}` must be a pandas Series indexed by H3 cell, got {type(x).__name__}."
        raise ValidationError(msg)
    if not x.index.is_unique:
        dup = x.index[x.index.duplicated()][:5].tolist()
        msg = f"`{name}` has duplicate cells in its index, e.g. {dup}. Give one value per cell."
        raise ValidationError(msg)
    if not (pd.api.types.is_numeric_dtype(x.dtype) and not pd.api.types.is_bool_dtype(x.dtype)):
        msg = f"`{name}` must hold numbers, got dtype {x.dtype}."
        raise ValidationError(msg)
    values = x.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isinf(values) | (values < 0) if allow_nan else ~np.isfinite(values) | (values < 0)
    if bad.any():
        where = x.index[bad][:5].tolist()
        allowed = "finite and >= 0 (NaN = no value)" if allow_nan else "finite and >= 0"
        msg = f"`{name}` values must be {allowed}; got {values[bad][:5].tolist()} at cells {where}."
        raise ValidationError(msg)
    return pd.Series(values, index=x.index, name=x.name)


def _check_areas(areas: Any) -> pd.Series:
    a = _check_series(areas, "areas", allow_nan=False)
    if len(a) == 0:
        msg = "`areas` is empty; give the true area (m2) of every study cell."
        raise ValidationError(msg)
    zero = a.to_numpy() <= 0
    if zero.any():
        msg = (
            f"`areas` must be > 0 m2; got 0 at cells {a.index[zero][:5].tolist()}. "
            "Compute areas with `geo.h3index.cells_area_m2`."
        )
        raise ValidationError(msg)
    # One canonical order (by cell), so sums, and so every result, do not depend on
    # the order the caller's rows came in.
    return a.sort_index()


def _check_scores(scores: Any, areas: pd.Series) -> FloatArray:
    """Scores aligned to the study cells; missing or NaN scores become -inf (ranked last)."""
    if not isinstance(scores, pd.Series):
        msg = f"`scores` must be a pandas Series indexed by H3 cell, got {type(scores).__name__}."
        raise ValidationError(msg)
    if not scores.index.is_unique:
        dup = scores.index[scores.index.duplicated()][:5].tolist()
        msg = f"`scores` has duplicate cells in its index, e.g. {dup}. Give one score per cell."
        raise ValidationError(msg)
    if not (
        pd.api.types.is_numeric_dtype(scores.dtype) and not pd.api.types.is_bool_dtype(scores.dtype)
    ):
        msg = f"`scores` must hold numbers, got dtype {scores.dtype}."
        raise ValidationError(msg)
    outside = ~scores.index.isin(areas.index)
    if outside.any():
        msg = (
            f"`scores` has {int(outside.sum())} cells with no area, e.g. "
            f"{scores.index[outside][:5].tolist()}. Score only study cells (the index of "
            "`areas`), or give their areas."
        )
        raise ValidationError(msg)
    values = scores.reindex(areas.index).to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        msg = "`scores` must be finite (NaN = no score); got an infinite score."
        raise ValidationError(msg)
    return np.where(np.isnan(values), -np.inf, values)


def _check_coverage(coverage: Any) -> float:
    ok = isinstance(coverage, int | float | np.integer | np.floating) and not isinstance(
        coverage, bool | np.bool_
    )
    if not ok or not math.isfinite(float(coverage)) or not 0 < float(coverage) <= 1:
        msg = (
            f"`coverage` must be a share of the study area in (0, 1], got {coverage!r}. "
            "Pass e.g. 0.02 for 2%."
        )
        raise ValidationError(msg)
    return float(coverage)


def _outcomes_on(outcomes: Any, areas: pd.Series) -> FloatArray:
    """Outcome counts on the study cells; absent cells count 0, cells outside are ignored."""
    o = _check_series(outcomes, "outcomes", allow_nan=False)
    return o.reindex(areas.index, fill_value=0.0).to_numpy(dtype=np.float64)


# --- selection -------------------------------------------------------------------------


def _prefix_within(area_in_order: FloatArray, budget: float, *, at_least_one: bool) -> int:
    """How many cells, taken in order, fit in ``budget`` (the stopping rule)."""
    cum = np.cumsum(area_in_order)
    k = int(np.searchsorted(cum, budget * (1.0 + AREA_RTOL), side="right"))
    return max(k, 1) if at_least_one and area_in_order.size else k


def _order(primary: FloatArray, cells: pd.Index) -> npt.NDArray[np.intp]:
    """Positions by ``primary`` descending, ties by lower cell."""
    return np.lexsort((cells.to_numpy(), -primary))


def _select_positions(
    scores: FloatArray, areas: pd.Series, coverage: float
) -> npt.NDArray[np.intp]:
    order = _order(scores, areas.index)
    area = areas.to_numpy()
    k = _prefix_within(area[order], coverage * float(area.sum()), at_least_one=True)
    return order[:k]


def select_by_coverage(scores: pd.Series, areas: pd.Series, coverage: float) -> pd.Index:
    """The highest-scoring cells that fit in ``coverage`` of the study area.

    Cells are taken in score order (highest first; equal scores by lower H3
    cell, so the selection is deterministic). **Boundary rule**: taking stops
    *before* the cumulative true area would exceed ``coverage * A`` (``A`` the
    total area of the study cells; a relative slack of :data:`AREA_RTOL`
    absorbs float rounding), so the selection never covers more than asked,
    except that at least one cell is always selected, even when the top cell
    alone is larger than the budget. The selection is a prefix of the score
    order: a cell that does not fit ends the selection (smaller cells further
    down are not used to fill the gap).

    Parameters
    ----------
    scores
        Score per H3 cell (higher = more expected). Study cells with no score
        (absent or NaN) rank after every scored cell. Every scored cell must
        be a study cell.
    areas
        True area of each study cell in m2, indexed by H3 cell; its index
        defines the study cells.
    coverage
        Share of the total study area to select, in (0, 1].

    Returns
    -------
    Index of the selected cells, in selection (score) order.
    """
    a = _check_areas(areas)
    s = _check_scores(scores, a)
    c = _check_coverage(coverage)
    return a.index[_select_positions(s, a, c)]


# --- metrics ---------------------------------------------------------------------------


def evaluate(
    scores: pd.Series, areas: pd.Series, outcomes: pd.Series, *, coverage: float
) -> Evaluation:
    """Hit rate, PAI and PEI* of a forecast at one coverage.

    Parameters
    ----------
    scores
        Score per H3 cell, as for :func:`select_by_coverage`.
    areas
        True area of each study cell in m2 (index = the study cells).
    outcomes
        Outcome events per H3 cell in the evaluation period (counts, or
        weights, finite and >= 0). Study cells absent from it count 0; cells
        outside the study cells are ignored.
    coverage
        Share of the study area to select, in (0, 1].

    Returns
    -------
    dict with keys (see :data:`EVALUATION_COLUMNS`):

    ``coverage``; ``cells_selected`` (number of cells); ``n`` (events in the
    selection); ``N`` (events in the study cells); ``a_m2`` and ``A_m2``
    (true area of the selection and of the study cells, m2); ``n_star``;
    ``hit_rate`` = n/N; ``pai`` = (n/N)/(a/A); ``pei_star`` = n/n*;
    ``no_outcomes`` (True when N = 0: then ``hit_rate``, ``pai`` and
    ``pei_star`` are NaN, since no forecast can be judged on no events).

    Notes
    -----
    ``n*`` is computed as follows. The exact "most events in any selection of
    area at most ``a``" is a 0/1 knapsack problem; ranking by density
    (events/m2) is optimal only when cells may be taken fractionally. H3
    cells of one resolution have nearly equal areas, so the practical ``n*``
    used here is: cells ranked by outcome count descending (ties by lower H3
    cell), taken under the same stopping rule as the forecast (stop before
    the cumulative area exceeds the budget) with the budget ``a``, the area
    the forecast actually selected; then ``n* = max(that greedy count, n)``,
    because the forecast's own selection is itself a selection of area ``a``.
    (The "at least one cell" clause is not applied to ``n*``: it could take a
    cell larger than ``a``.) So ``n*`` is the best *found* selection of the
    same area: ``PEI* <= 1`` always, ``PEI* = 1`` when the forecast ranks
    cells exactly as the outcomes do, and ``n*`` is a lower bound on the
    exact knapsack optimum (so PEI* can slightly flatter a forecast when
    cell areas differ a lot). When ``n* = 0`` (and N > 0), PEI* is NaN.
    """
    a_ser = _check_areas(areas)
    s = _check_scores(scores, a_ser)
    c = _check_coverage(coverage)
    o = _outcomes_on(outcomes, a_ser)
    return _evaluate(s, a_ser, o, c)


def _evaluate(s: FloatArray, areas: pd.Series, o: FloatArray, coverage: float) -> Evaluation:
    area = areas.to_numpy()
    chosen = _select_positions(s, areas, coverage)
    n = float(o[chosen].sum())
    big_n = float(o.sum())
    a = float(area[chosen].sum())
    big_a = float(area.sum())

    best = _order(o, areas.index)
    k_star = _prefix_within(area[best], a, at_least_one=False)
    n_star = max(float(o[best[:k_star]].sum()), n)

    no_outcomes = big_n <= 0
    if no_outcomes:
        hit_rate = pai = pei_star = math.nan
    else:
        hit_rate = n / big_n
        pai = hit_rate / (a / big_a)
        pei_star = n / n_star if n_star > 0 else math.nan
    return Evaluation(
        coverage=coverage,
        cells_selected=int(chosen.size),
        n=n,
        N=big_n,
        a_m2=a,
        A_m2=big_a,
        n_star=n_star,
        hit_rate=hit_rate,
        pai=pai,
        pei_star=pei_star,
        no_outcomes=no_outcomes,
    )


def evaluate_many(
    scores: pd.Series,
    areas: pd.Series,
    outcomes: pd.Series,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
) -> pd.DataFrame:
    """:func:`evaluate` at several coverages: one row per coverage, in the order given.

    Columns are :data:`EVALUATION_COLUMNS`.
    """
    a_ser = _check_areas(areas)
    s = _check_scores(scores, a_ser)
    o = _outcomes_on(outcomes, a_ser)
    covs = [_check_coverage(c) for c in coverages]
    if not covs:
        msg = "`coverages` is empty; pass at least one share of the area, e.g. (0.01, 0.02)."
        raise ValidationError(msg)
    rows = [_evaluate(s, a_ser, o, c) for c in covs]
    return pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))


def stability(previous_selection: Iterable[Any], current_selection: Iterable[Any]) -> float:
    """How much two selections of cells agree: the Jaccard similarity.

    ``|previous & current| / |previous | current|`` over the distinct cells
    of each: 1 = the same cells, 0 = no cell in common. NaN when both are
    empty (nothing to compare). Order and repeats do not matter.
    """
    prev = pd.Index(list(previous_selection)).unique()
    curr = pd.Index(list(current_selection)).unique()
    union = prev.union(curr).size
    if union == 0:
        return math.nan
    return float(prev.intersection(curr).size / union)


# --- baselines -------------------------------------------------------------------------


def naive_scores(counts_last_period: pd.Series) -> pd.Series:
    """Naive baseline: next period looks like the last one (score = last period's count).

    ``counts_last_period`` is events per H3 cell (finite, >= 0; cells absent
    have no score and rank last in :func:`select_by_coverage`). Returns a
    float Series named ``score`` with the same index.
    """
    c = _check_series(counts_last_period, "counts_last_period", allow_nan=False)
    return c.rename("score")


def persistence_scores(counts_by_period: pd.DataFrame, *, periods: int) -> pd.Series:
    """Persistence baseline: score = events in each cell over the last ``periods`` periods.

    Parameters
    ----------
    counts_by_period
        Periods x cells: one row per period (rows sorted by their index, the
        last rows being the most recent), one column per H3 cell. NaN counts
        as 0 (a cell with no events in that period).
    periods
        How many of the most recent periods to sum, >= 1 and at most the
        number of rows.

    Returns
    -------
    Float Series named ``score``, indexed by cell (the columns).
    """
    if not isinstance(counts_by_period, pd.DataFrame):
        msg = (
            "`counts_by_period` must be a DataFrame of periods x cells, "
            f"got {type(counts_by_period).__name__}."
        )
        raise ValidationError(msg)
    n_rows = len(counts_by_period)
    if (
        isinstance(periods, bool)
        or not isinstance(periods, int | np.integer)
        or not 1 <= periods <= max(n_rows, 1)
    ):
        msg = (
            f"`periods` must be an integer from 1 to the number of periods ({n_rows}), "
            f"got {periods!r}."
        )
        raise ValidationError(msg)
    if n_rows == 0:
        msg = "`counts_by_period` has no periods; give at least one row of counts."
        raise ValidationError(msg)
    if not counts_by_period.columns.is_unique:
        msg = "`counts_by_period` has duplicate cell columns; give one column per cell."
        raise ValidationError(msg)
    try:
        values = counts_by_period.sort_index().to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        msg = f"`counts_by_period` must hold numbers: {exc}."
        raise ValidationError(msg) from exc
    values = np.nan_to_num(values, nan=0.0, posinf=np.inf, neginf=-np.inf)
    if not np.isfinite(values).all() or (values < 0).any():
        msg = "`counts_by_period` values must be finite and >= 0 (NaN = 0)."
        raise ValidationError(msg)
    total = values[-int(periods) :].sum(axis=0)
    return pd.Series(total, index=counts_by_period.columns, name="score")


# --- backtest --------------------------------------------------------------------------


def rolling_origin(
    counts_by_period: pd.DataFrame,
    areas: pd.Series,
    scorer: Callable[[pd.DataFrame], pd.Series],
    *,
    min_train_periods: int = 1,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
) -> pd.DataFrame:
    """Rolling-origin backtest: forecast each period from the ones before it.

    For each origin ``t`` (from ``min_train_periods`` to the last row, rows
    sorted by index), ``scorer`` sees the periods before ``t`` only and
    returns scores per cell; they are evaluated against period ``t`` with
    :func:`evaluate_many`. ``stability`` is the Jaccard similarity of the
    selection with the previous origin's selection at the same coverage (NaN
    at the first origin).

    Parameters
    ----------
    counts_by_period
        Periods x cells (NaN = 0), as for :func:`persistence_scores`.
    areas
        True area of each study cell in m2.
    scorer
        Training periods -> scores per cell, e.g.
        ``lambda past: persistence_scores(past, periods=4)`` or
        ``lambda past: naive_scores(past.iloc[-1].fillna(0))``.
    min_train_periods
        Periods needed before the first origin (>= 1).
    coverages
        Coverages evaluated at each origin.

    Returns
    -------
    DataFrame with ``origin`` (the evaluated period's index label), the
    :data:`EVALUATION_COLUMNS` and ``stability``; one row per origin and
    coverage.
    """
    if not isinstance(counts_by_period, pd.DataFrame):
        msg = (
            "`counts_by_period` must be a DataFrame of periods x cells, "
            f"got {type(counts_by_period).__name__}."
        )
        raise ValidationError(msg)
    n_rows = len(counts_by_period)
    if (
        isinstance(min_train_periods, bool)
        or not isinstance(min_train_periods, int | np.integer)
        or not 1 <= min_train_periods < n_rows
    ):
        msg = (
            f"`min_train_periods` must be an integer from 1 to {n_rows - 1} (one fewer than "
            f"the number of periods, {n_rows}), got {min_train_periods!r}."
        )
        raise ValidationError(msg)
    a_ser = _check_areas(areas)
    covs = [_check_coverage(c) for c in coverages]
    if not covs:
        msg = "`coverages` is empty; pass at least one share of the area, e.g. (0.01, 0.02)."
        raise ValidationError(msg)
    ordered = counts_by_period.sort_index()
    frames = []
    previous: dict[float, pd.Index] = {}
    for t in range(int(min_train_periods), n_rows):
        s = _check_scores(scorer(ordered.iloc[:t]), a_ser)
        o = _outcomes_on(ordered.iloc[t].fillna(0.0), a_ser)
        rows = []
        for c in covs:
            row: dict[str, Any] = dict(_evaluate(s, a_ser, o, c))
            chosen = a_ser.index[_select_positions(s, a_ser, c)]
            row["stability"] = stability(previous[c], chosen) if c in previous else math.nan
            previous[c] = chosen
            rows.append(row)
        frame = pd.DataFrame(rows, columns=[*EVALUATION_COLUMNS, "stability"])
        frame.insert(0, "origin", ordered.index[t])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
