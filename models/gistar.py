"""Getis-Ord Gi* hot and cold spots on H3 cells.

:func:`gistar` scores every cell of the study area (cells with a zero count
included: leaving them out would bias the mean upwards and hide cold spots)
with the Gi* z-score of Getis and Ord (1992) in the form of Ord and Getis
(1995),

    z_i = (sum_j w_ij x_j - X̄ W_i) / (S sqrt((n W_i^(2) - W_i^2) / (n - 1)))

with ``X̄`` the mean and ``S = sqrt(sum x^2 / n - X̄^2)`` (population standard
deviation) of the values over all ``n`` study cells, ``W_i = sum_j w_ij`` and
``W_i^(2) = sum_j w_ij^2``.

Weights are binary and include the cell itself (the "star"): ``w_ij = 1``
for ``j`` in ``grid_disk(i, k)`` that is also a study cell, else 0.
Neighbours outside the given cells are ignored (they are beyond the study
area's edge), so edge cells have fewer neighbours; ``n_neighbours`` reports
how many each has (the cell itself not counted, so ``W_i = n_neighbours + 1``).
With binary weights ``W_i^(2) = W_i``; the general form is kept so the code
reads as the formula.

This is the same statistic as esda's
``G_Local(y, w, transform="B", star=True).Zs`` on the same weights: esda
writes it as ``(G_i - W_i/n) / sqrt(W_i (n - W_i) / ((n - 1) n^2) S^2/X̄^2)``
with ``G_i = sum_j w_ij x_j / sum_j x_j``, which multiplied through by
``sum_j x_j = n X̄`` is the formula above. esda keeps a non-zero diagonal
as given when ``star=True`` and fills an empty one with 1, so self-weight 1
is what both use (``tests/models/test_gistar.py`` checks agreement).

The p-value is two-sided from the standard normal. With ``fdr=True`` (the
default) the p-values of all cells are adjusted together by
:func:`benjamini_hochberg`, which controls the false discovery rate across
the many cells tested at once; ``gi_z``, the raw ``p`` and the adjusted
``p_adj`` are all reported. ``gi_class`` is decided on ``p_adj`` (which
equals ``p`` when ``fdr=False``) and the sign of ``gi_z``.

A cell whose neighbourhood covers the whole study area (``W_i = n``, only
possible for a small area and a large ``k``) has a zero denominator: its
local sum is the area's total and cannot stand out, so it gets ``gi_z = 0``
and ``p = 1``; ``meta["n_whole_area"]`` counts such cells.

Neighbour lists come from h3ronpy's compiled ``grid_disk`` over all cells at
once (in chunks that keep memory bounded) and are turned into a scipy.sparse
CSR matrix; there is no per-cell Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import h3ronpy
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
from scipy import sparse, stats
from scipy.stats import false_discovery_control

from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_valid

MIN_K = 1
MAX_K = 10
MIN_CELLS = 3
DEFAULT_ALPHA_LEVELS = (0.01, 0.05, 0.10)
NOT_SIGNIFICANT = "not_significant"
COLUMNS = ("h3", "value", "gi_z", "p", "p_adj", "gi_class", "n_neighbours")
"""Output columns of :func:`gistar`, in order."""

_MAX_DISK_ENTRIES = 4_000_000
"""Neighbour entries built per chunk (bounds memory for large areas and k)."""


def benjamini_hochberg(p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate).

    ``p_adj[i] = min over j with p_j >= p_i of (m p_j / rank_j)``, capped at
    1, with ``m`` the number of p-values and ``rank_j`` the rank of ``p_j``
    in ascending order (Benjamini and Hochberg 1995). The result is in the
    input order, never below the raw p-value, and monotone in it: a smaller
    raw p never gets a larger adjusted p. Rejecting every hypothesis with
    ``p_adj <= q`` controls the false discovery rate at ``q`` (for
    independent or positively dependent tests). Computed by SciPy's
    ``scipy.stats.false_discovery_control(p, method="bh")``, after the
    checks below.

    Parameters
    ----------
    p
        One-dimensional p-values, each finite and in [0, 1].

    Returns
    -------
    numpy.ndarray
        Adjusted p-values (float64), same length and order as ``p``.
    """
    pv = np.asarray(p, dtype=np.float64)
    if pv.ndim != 1:
        msg = f"`p` must be one-dimensional, got shape {pv.shape}. Pass a flat array of p-values."
        raise ValidationError(msg)
    bad = ~np.isfinite(pv) | (pv < 0) | (pv > 1)
    if bad.any():
        msg = (
            f"`p` must hold finite p-values in [0, 1], got {pv[bad][:5].tolist()} "
            f"({int(bad.sum())} bad). Pass probabilities, not scores."
        )
        raise ValidationError(msg)
    m = pv.size
    if m == 0:
        return pv.copy()
    return np.asarray(false_discovery_control(pv, method="bh"), dtype=np.float64)


def gistar(
    cells: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    k: int = 1,
    fdr: bool = True,
    alpha_levels: Sequence[float] = DEFAULT_ALPHA_LEVELS,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Getis-Ord Gi* z-score, p-values and hot/cold class of every study cell.

    Parameters
    ----------
    cells
        The study area's H3 cells as int64: unique, valid, all of one
        resolution, at least 3. Cells without events must be included, with
        value 0.
    values
        The value (count or weighted count) of each cell, same length as
        ``cells``; finite and non-negative, not all equal.
    k
        Neighbourhood: ``grid_disk(cell, k)`` (rings of cells), 1 to 10.
        Default 1 (the cell and its six neighbours).
    fdr
        Adjust p-values for the number of cells by Benjamini-Hochberg
        (default ``True``). With ``False``, ``p_adj`` equals ``p``.
    alpha_levels
        One to three significance levels, strictly increasing, each in
        (0, 0.5]; default ``(0.01, 0.05, 0.10)``. A cell is significant at a
        level when ``p_adj <= alpha``; its class names the smallest such
        level as a confidence percentage, ``hot_99``/``cold_99`` for 0.01,
        ``hot_95`` for 0.05, ``hot_90`` for 0.10 (``hot_99.9`` for 0.001).

    Returns
    -------
    frame : pandas.DataFrame
        One row per input cell, in input order, with columns
        ``h3`` (int64), ``value`` (float64), ``gi_z`` (Gi* z-score),
        ``p`` (two-sided normal p-value), ``p_adj`` (BH-adjusted, or ``p``),
        ``gi_class`` (``hot_<conf>``, ``cold_<conf>`` or
        ``not_significant``) and ``n_neighbours`` (study cells in the disk,
        the cell itself not counted).
    meta : dict
        ``n`` (cells), ``k``, ``mean`` and ``sd`` (population SD) of the
        values, ``fdr``, ``correction`` (``"benjamini-hochberg"`` or
        ``"none"``), ``alpha_levels``, ``classes`` (all possible class labels,
        hottest first), ``weights`` (a description) and ``n_whole_area``
        (cells whose disk covers the whole area; given z = 0, p = 1).

    Raises
    ------
    geo.errors.ValidationError
        On any input that breaks the rules above, including values of zero
        variance.
    """
    c, x = _check_inputs(cells, values)
    k = _check_k(k)
    levels = _check_alpha_levels(alpha_levels)
    n = c.size

    mean = float(x.mean())
    sd = float(x.std())  # population SD: sqrt(sum x^2 / n - mean^2)
    if np.ptp(x) == 0 or sd == 0:
        msg = (
            f"`values` have zero variance: every cell has the same count ({x[0]:g}), "
            "so no cell can stand out; widen the window or the area."
        )
        raise ValidationError(msg)

    w = neighbour_matrix(c, k=k)
    local_sum = w @ x
    w_sum = np.asarray(w.sum(axis=1), dtype=np.float64).ravel()
    w_sq_sum = np.asarray(w.multiply(w).sum(axis=1), dtype=np.float64).ravel()

    numerator = local_sum - mean * w_sum
    var_term = (n * w_sq_sum - w_sum**2) / (n - 1)
    whole_area = var_term <= 0
    safe = np.where(whole_area, 1.0, var_term)
    z = np.where(whole_area, 0.0, numerator / (sd * np.sqrt(safe)))
    p = np.minimum(2.0 * stats.norm.sf(np.abs(z)), 1.0)
    p_adj = benjamini_hochberg(p) if fdr else p.copy()

    labels = [_confidence_label(a) for a in levels]
    gi_class = np.full(n, NOT_SIGNIFICANT, dtype=object)
    # Widest level first so the most confident level that holds wins.
    for alpha, label in reversed(list(zip(levels, labels, strict=True))):
        sig = p_adj <= alpha
        gi_class[sig & (z > 0)] = f"hot_{label}"
        gi_class[sig & (z < 0)] = f"cold_{label}"

    frame = pd.DataFrame(
        {
            "h3": c,
            "value": x,
            "gi_z": z,
            "p": p,
            "p_adj": p_adj,
            "gi_class": gi_class,
            "n_neighbours": (w_sum - 1).astype(np.int64),
        },
        columns=list(COLUMNS),
    )
    meta: dict[str, Any] = {
        "n": n,
        "k": k,
        "mean": mean,
        "sd": sd,
        "fdr": fdr,
        "correction": "benjamini-hochberg" if fdr else "none",
        "alpha_levels": levels,
        "classes": (
            [f"hot_{lb}" for lb in labels] + [f"cold_{lb}" for lb in labels] + [NOT_SIGNIFICANT]
        ),
        "weights": f"binary, self included, grid_disk(k={k}) within the study cells",
        "n_whole_area": int(whole_area.sum()),
    }
    return frame, meta


def neighbour_matrix(cells: npt.NDArray[np.int64], *, k: int) -> sparse.csr_matrix:
    """Binary CSR matrix ``w[i, j] = 1`` when ``cells[j]`` is in ``grid_disk(cells[i], k)``.

    Self included; disk cells not in ``cells`` are dropped. ``cells`` must be
    unique valid cells of one resolution (not checked here: :func:`gistar`
    checks them). Built with h3ronpy's vectorised ``grid_disk`` in chunks of
    at most about four million neighbour entries.
    """
    n = cells.size
    order = np.argsort(cells, kind="stable")
    sorted_cells = cells[order]
    disk_size = 3 * k * (k + 1) + 1
    chunk = max(1, _MAX_DISK_ENTRIES // disk_size)
    rows_parts: list[npt.NDArray[np.int64]] = []
    cols_parts: list[npt.NDArray[np.int64]] = []
    for start in range(0, n, chunk):
        part = np.ascontiguousarray(cells[start : start + chunk])
        disks = pa.array(h3ronpy.grid_disk(part.view(np.uint64), k, flatten=False))
        lengths = np.asarray(disks.value_lengths(), dtype=np.int64)
        flat = np.asarray(disks.flatten(), dtype=np.uint64).view(np.int64)
        rows = np.repeat(np.arange(start, start + part.size, dtype=np.int64), lengths)
        pos = np.searchsorted(sorted_cells, flat)
        pos_c = np.minimum(pos, n - 1)
        inside = sorted_cells[pos_c] == flat
        rows_parts.append(rows[inside])
        cols_parts.append(order[pos_c[inside]].astype(np.int64))
    rows_all = np.concatenate(rows_parts)
    cols_all = np.concatenate(cols_parts)
    w = sparse.csr_matrix(
        (np.ones(rows_all.size, dtype=np.float64), (rows_all, cols_all)), shape=(n, n)
    )
    w.sum_duplicates()
    w.data[:] = 1.0  # binary even if a disk ever listed a cell twice
    return w


def _confidence_label(alpha: float) -> str:
    """``0.01`` -> ``"99"``, ``0.05`` -> ``"95"``, ``0.001`` -> ``"99.9"``."""
    return f"{round(100 * (1 - alpha), 6):g}"


def _check_inputs(
    cells: npt.ArrayLike, values: npt.ArrayLike
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    c_raw = np.asarray(cells)
    x_raw = np.asarray(values)
    if c_raw.ndim != 1 or x_raw.ndim != 1:
        msg = (
            f"`cells` and `values` must be one-dimensional, got shapes {c_raw.shape} and "
            f"{x_raw.shape}. Pass one value per cell."
        )
        raise ValidationError(msg)
    if c_raw.size != x_raw.size:
        msg = (
            f"`cells` and `values` must have the same length, got {c_raw.size} and "
            f"{x_raw.size}. Pass one value per cell (0 for cells without events)."
        )
        raise ValidationError(msg)
    if c_raw.size < MIN_CELLS:
        msg = (
            f"`cells` must hold at least {MIN_CELLS} cells, got {c_raw.size}. "
            "Pass every cell of the study area, zeros included."
        )
        raise ValidationError(msg)
    if c_raw.dtype.kind not in "iu":
        msg = (
            f"`cells` must be integer H3 cells (int64), got dtype {c_raw.dtype}. "
            "Convert hex strings first (geo.h3index.str_to_cell)."
        )
        raise ValidationError(msg)
    if c_raw.dtype.kind == "u" and (c_raw > np.iinfo(np.int64).max).any():
        msg = "`cells` hold values beyond int64; they are not H3 cells. Pass valid H3 cells."
        raise ValidationError(msg)
    c = np.ascontiguousarray(c_raw, dtype=np.int64)
    valid = cells_valid(c)
    if not valid.all():
        msg = (
            f"`cells` must be valid H3 cells, got {int((~valid).sum())} invalid, e.g. "
            f"{int(c[~valid][0])}. Pass cells from geo.h3index."
        )
        raise ValidationError(msg)
    res = np.unique(cells_resolution(c))
    if res.size != 1:
        msg = (
            f"`cells` must all be of one resolution, got resolutions {res.tolist()}. "
            "Roll them up to one resolution first (geo.h3index.cells_to_parent)."
        )
        raise ValidationError(msg)
    uniq, counts = np.unique(c, return_counts=True)
    if uniq.size != c.size:
        dup = uniq[counts > 1]
        msg = (
            f"`cells` must be unique, got {dup.size} repeated, e.g. {int(dup[0])}. "
            "Sum the values of each cell first."
        )
        raise ValidationError(msg)
    if x_raw.dtype.kind not in "biuf":
        msg = f"`values` must be numeric, got dtype {x_raw.dtype}. Pass counts per cell."
        raise ValidationError(msg)
    x = np.asarray(x_raw, dtype=np.float64)
    bad = ~np.isfinite(x) | (x < 0)
    if bad.any():
        msg = (
            f"`values` must be finite and non-negative, got {x[bad][:5].tolist()} "
            f"({int(bad.sum())} bad). Pass counts or weighted counts, 0 for empty cells."
        )
        raise ValidationError(msg)
    return c, x


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not MIN_K <= k <= MAX_K:
        msg = (
            f"`k` must be an integer from {MIN_K} to {MAX_K} (rings of neighbours), "
            f"got {k!r}. Pass e.g. k=1."
        )
        raise ValidationError(msg)
    return int(k)


def _check_alpha_levels(alpha_levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(a) for a in alpha_levels)
    ok = (
        1 <= len(levels) <= 3
        and all(0 < a <= 0.5 for a in levels)
        and all(a < b for a, b in pairwise(levels))
    )
    if not ok:
        msg = (
            f"`alpha_levels` must be 1 to 3 strictly increasing levels in (0, 0.5], "
            f"got {alpha_levels!r}. Pass e.g. (0.01, 0.05, 0.10)."
        )
        raise ValidationError(msg)
    return levels


MIN_EVENTS = 30
"""Fewest events Gi* is run on; ArcGIS's Optimized Hot Spot Analysis refuses fewer too."""


def gistar_hotspots(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    k: int = 1,
    fdr: bool = True,
    min_events: int = MIN_EVENTS,
    quiet: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Gi* as a hotspot method: ``hotspots(events, cells, method="gistar")``.

    The value of a cell is the summed weight of its events (their count when
    the events carry no ``weight``), zeros included over the whole study
    area; ``score`` is the Gi* z-score, so cold spots score below zero.

    Raises
    ------
    ValidationError
        Fewer than ``min_events`` events fall in the study cells, or every
        cell holds the same value.
    """
    cell_h3 = cells["h3"].to_numpy(dtype=np.int64)
    res = int(cells_resolution(cell_h3[:1])[0]) if cell_h3.size else 0
    from geo.h3index import cells_to_parent

    ev_cell = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), res)
    inside = np.isin(ev_cell, cell_h3)
    n_events = int(inside.sum())
    if n_events < min_events:
        msg = (
            f"Gi* needs at least {min_events} events in the study area, got {n_events}. "
            "Widen the time window or the area (ArcGIS's Optimized Hot Spot Analysis "
            "refuses fewer than 30 incidents for the same reason)."
        )
        raise ValidationError(msg)
    w = events["weight"].to_numpy(dtype=np.float64) if "weight" in events.columns else None
    weights = np.ones(ev_cell.size) if w is None else w
    values = pd.Series(weights[inside]).groupby(ev_cell[inside]).sum().reindex(cell_h3).fillna(0.0)
    frame, meta = gistar(cell_h3, values.to_numpy(), k=k, fdr=fdr)
    frame = frame.rename(columns={"value": "gi_value"})
    frame["score"] = frame["gi_z"]
    meta = {
        **meta,
        "model": "gistar",
        "n_events": n_events,
        "score_rule": "Gi* z-score of the summed event weight per cell (zeros included)",
        "score_unit": "standard deviations",
    }
    return frame, meta
