"""The analysts' report folders: ``engage backtest`` and ``engage tune`` outputs.

Each folder is built in a temporary folder and its files moved in together
(:func:`maps.files.staged`): the A4 PDF (:mod:`maps.reports`), the CSV tables
and one offline HTML page (Jinja2, autoescaped, ``maps/templates/report.html``)
with the plots embedded as data URIs.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from maps.audience import DEFAULT_MARKING
from maps.files import staged
from maps.plots import metric_by_coverage_png, pai_by_config_png
from maps.reports import backtest_facts, backtest_pdf, marking_text, tune_pdf
from models.backtest import BacktestResult
from models.tuning import TuneResult

BACKTEST_FILES = ("backtest.pdf", "backtest.csv", "summary.csv", "backtest.html")
"""What ``engage backtest`` writes into its folder."""
TUNE_FILES = ("tune.pdf", "tune.csv", "params.json", "tune.html")
"""What ``engage tune`` writes into its folder."""

SUMMARY_SHOWN = (
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
)


def html_page(
    title: str,
    marking: str,
    *,
    intro: Sequence[str] = (),
    facts: Sequence[tuple[str, Any]] = (),
    sections: Sequence[Mapping[str, Any]] = (),
) -> str:
    """One offline HTML report page (Jinja2, autoescaped): marking above and below.

    ``sections`` are mappings with ``heading`` and either ``columns`` and
    ``rows`` (a table of texts) or ``png`` (bytes, embedded as a data URI).
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("maps", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    shown = [
        {
            "heading": s["heading"],
            "columns": list(s.get("columns") or []),
            "rows": list(s.get("rows") or []),
            "png": base64.b64encode(s["png"]).decode("ascii") if s.get("png") else "",
        }
        for s in sections
    ]
    return env.get_template("report.html").render(
        title=title,
        marking=marking_text(marking),
        intro=list(intro),
        facts=[(str(k), str(v)) for k, v in facts],
        sections=shown,
    )


def _text_rows(frame: pd.DataFrame, fmt: Callable[[Any], str]) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in frame.itertuples(index=False)]


def _backtest_fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _tune_fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return "" if value is None else str(value)


def write_backtest_report(
    result: BacktestResult, out_dir: Path, *, marking: str = DEFAULT_MARKING
) -> dict[str, Path]:
    """Write ``backtest.pdf``, ``backtest.csv`` (folds), ``summary.csv`` and ``backtest.html``.

    Every file is built in a temporary folder beside ``out_dir`` and moved in
    together (:func:`maps.files.publish`), so a failure leaves no half set.
    The HTML report is one offline file: the summary table and two PNG plots
    (hit rate and PAI by coverage per method) embedded as data URIs. Both
    reports carry the security ``marking``, the PDF on every page.
    """
    marking = marking_text(marking)
    summary = result.summary
    page = html_page(
        "Hotspot backtest",
        marking,
        intro=[
            f"Rolling origin: each period is forecast from the {result.meta.get('train_periods')} "
            "periods before it only, and judged on the events of that period."
        ],
        facts=list(backtest_facts(result.meta).items()),
        sections=[
            {
                "heading": "Summary (mean across folds, 95% interval)",
                "columns": SUMMARY_SHOWN,
                "rows": _text_rows(summary[list(SUMMARY_SHOWN)], _backtest_fmt),
            },
            {"heading": "Hit rate", "png": metric_by_coverage_png(summary, "hit_rate", "hit rate")},
            {"heading": "PAI", "png": metric_by_coverage_png(summary, "pai", "PAI")},
        ],
    )
    with staged(out_dir, BACKTEST_FILES) as tmp:
        backtest_pdf(result, tmp / "backtest.pdf", marking=marking)
        result.folds.to_csv(tmp / "backtest.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        (tmp / "backtest.html").write_text(page, encoding="utf-8")
    out = Path(out_dir)
    return {
        "folds": out / "backtest.csv",
        "summary": out / "summary.csv",
        "report": out / "backtest.html",
        "pdf": out / "backtest.pdf",
    }


def write_tune_report(
    result: TuneResult,
    out_dir: Path,
    *,
    params_json: str,
    marking: str = DEFAULT_MARKING,
) -> dict[str, Path]:
    """``tune.pdf``, ``tune.csv``, ``params.json`` (the text given) and an offline ``tune.html``.

    All four are moved into ``out_dir`` together or not at all, so a failure
    leaves no ``params.json`` to accept without its report.
    """
    marking = marking_text(marking)
    t = result.table
    png = pai_by_config_png(t, coverage=float(result.meta["coverage"]))
    page = html_page(
        "Parameter search",
        marking,
        intro=[str(result.meta.get("verdict", {}).get("text", ""))],
        facts=[(k, v) for k, v in result.meta.items() if k != "verdict"],
        sections=[
            {"heading": "PAI by configuration", "png": png},
            {
                "heading": "Ranked configurations",
                "columns": list(t.columns),
                "rows": _text_rows(t, _tune_fmt),
            },
        ],
    )
    with staged(out_dir, TUNE_FILES) as tmp:
        tune_pdf(result, tmp / "tune.pdf", marking=marking)
        t.to_csv(tmp / "tune.csv", index=False)
        (tmp / "params.json").write_text(params_json, encoding="utf-8")
        (tmp / "tune.html").write_text(page, encoding="utf-8")
    out = Path(out_dir)
    return {
        "table": out / "tune.csv",
        "params": out / "params.json",
        "report": out / "tune.html",
        "pdf": out / "tune.pdf",
    }
