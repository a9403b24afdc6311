"""The analysts' report plots as PNG bytes (matplotlib's object API, no pyplot state).

The HTML reports embed them as data URIs and the PDFs as images; the bytes
are reproducible (no software tag, no timestamps).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def is_config(value: Any) -> bool:
    """Whether a tune table's ``config`` is a grid combination (a number), not a baseline."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | np.integer):
        return True
    return isinstance(value, str) and value.isdigit()


def _png(fig: Any, dpi: int) -> bytes:
    """The figure as PNG bytes, without the software tag (so the bytes are reproducible)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def metric_by_coverage_png(
    summary: pd.DataFrame, metric: str, label: str, *, dpi: int = 100
) -> bytes:
    """PNG of ``metric`` by coverage, one line per method, with its 95% intervals.

    ``summary`` is :attr:`models.backtest.BacktestResult.summary` (``method``,
    ``coverage`` and ``<metric>_mean``, ``_low``, ``_high``). The figure is
    6 x 4 inches at ``dpi`` dots per inch.
    """
    fig = Figure(figsize=(6.0, 4.0), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for method, group in summary.groupby("method", sort=False):
        g = group.sort_values("coverage")
        x = g["coverage"].to_numpy(dtype=np.float64) * 100
        mean = g[f"{metric}_mean"].to_numpy(dtype=np.float64)
        low = g[f"{metric}_low"].to_numpy(dtype=np.float64)
        high = g[f"{metric}_high"].to_numpy(dtype=np.float64)
        err = np.vstack([np.clip(mean - low, 0, None), np.clip(high - mean, 0, None)])
        ax.errorbar(x, mean, yerr=err, marker="o", capsize=4, label=str(method))
    ax.set_xlabel("coverage (% of study area)")
    ax.set_ylabel(label)
    ax.set_title(f"{label} by coverage (mean and 95% bootstrap interval)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _png(fig, dpi)


def config_labels(table: pd.DataFrame) -> list[str]:
    """Short plot labels of a tune table's rows: ``#3 kde r9``, or the baseline's name."""
    return [
        f"#{c} {m} r{r}" if is_config(c) else str(c)
        for c, m, r in zip(table["config"], table["method"], table["res"], strict=True)
    ]


def pai_by_config_png(table: pd.DataFrame, *, coverage: float, dpi: int = 110) -> bytes:
    """PNG of mean PAI per configuration (bars, best first) with 95% intervals.

    ``table`` is :attr:`models.tuning.TuneResult.table` (or some of its rows); the
    figure is 8 inches wide and 0.3 inch per row tall (at least 2.5).
    """
    fig = Figure(figsize=(8.0, max(2.5, 0.3 * len(table))), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = np.arange(len(table))
    mean = table["pai_mean"].to_numpy(dtype=np.float64)
    err_low = np.clip(mean - table["pai_low"].to_numpy(dtype=np.float64), 0, None)
    err_high = np.clip(table["pai_high"].to_numpy(dtype=np.float64) - mean, 0, None)
    ax.barh(y, mean, color="#c0392b")
    ax.errorbar(mean, y, xerr=np.vstack([err_low, err_high]), fmt="none", ecolor="black")
    ax.set_yticks(y, config_labels(table))
    ax.invert_yaxis()
    ax.set_xlabel(f"mean PAI at {coverage:.0%} coverage (95% bootstrap interval)")
    fig.tight_layout()
    return _png(fig, dpi)
