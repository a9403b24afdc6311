"""The analysts' reports as print-ready A4 PDFs, and the plots they share with the HTML.

:func:`backtest_pdf` prints an :class:`models.backtest.BacktestResult`: the run
facts, how to read hit rate, PAI and PEI* and the baselines, the summary
table (mean across folds and the 95% bootstrap interval), and three plots
(hit rate, PAI and PEI* by coverage per method).

:func:`tune_pdf` prints an :class:`models.tuning.TuneResult`: the run facts, the
best parameters and whether they beat each baseline, the plot of mean PAI per
configuration and the ranked table.

Every page carries the security marking in its header and its footer, with
"Page n of m", as the weekly pack does (DESIGN.md, "Outputs"): both are built
from the page furniture of :mod:`maps.pdf`. Long tables
split across pages with the header row repeated. Text from data is escaped
for reportlab's paragraph markup, so ``<b>`` prints as itself. Fonts are
DejaVu Sans, shipped with matplotlib. The output is reproducible: the same
result and marking give the same bytes (no timestamps in the PDF or in the
PNG plots).

The plots are drawn with matplotlib's object API (``Figure`` and
``FigureCanvasAgg``, no pyplot state): :func:`metric_by_coverage_png` and
:func:`pai_by_config_png` return PNG bytes that the HTML reports embed as
data URIs and the PDFs as images.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from geo.calendar import uk_date
from maps.audience import DEFAULT_MARKING, text_or_dash
from maps.pdf import (
    BAND_COLOUR,
    FONT,
    FRAME_H,
    FRAME_W,
    build_pdf,
    bullets,
    clip,
    kv_table,
    para,
    paragraph_styles,
    product_text,
    table_commands,
    value_text,
)
from maps.plots import is_config, metric_by_coverage_png, pai_by_config_png
from models.params import AnalysisParams

if TYPE_CHECKING:
    from models.backtest import BacktestResult
    from models.tuning import TuneResult

PDF_DPI = 200
"""Resolution of the plots printed in the PDFs (dots per inch)."""
PDF_PLOT_ROWS = 30
"""The tune PDF's plot shows at most this many configurations (and the baselines)."""

SUMMARY_COLUMNS = (
    "Method",
    "Coverage",
    "Folds",
    "Hit rate [95% CI]",
    "PAI [95% CI]",
    "PEI*",
    "Stability",
)
"""Header of the backtest PDF's summary table."""
RANKED_COLUMNS = ("Rank", "Configuration", "Hit rate", "PAI [95% CI]", "PEI*")
"""Header of the tune PDF's ranked table."""
BASELINES = ("naive", "persistence")


# --- numbers as printed -------------------------------------------------------------------


def fmt_number(value: Any, digits: int = 3) -> str:
    """A metric as the reports print it: ``digits`` decimals, ``-`` when missing."""
    if value is None or value is pd.NA:
        return "-"
    x = float(value)
    return "-" if math.isnan(x) else f"{x:.{digits}f}"


def interval_text(mean: Any, low: Any, high: Any, digits: int = 3) -> str:
    """``"0.412 [0.380, 0.445]"``: a mean and its interval; ``-`` when the mean is missing."""
    m = fmt_number(mean, digits)
    if m == "-":
        return m
    return f"{m} [{fmt_number(low, digits)}, {fmt_number(high, digits)}]"


def coverage_text(coverage: Any) -> str:
    """A share of the study area as a percentage: 0.02 -> ``"2%"``, 0.005 -> ``"0.5%"``."""
    return f"{float(coverage) * 100:g}%"


def backtest_facts(meta: Mapping[str, Any]) -> dict[str, str]:
    """The run facts both backtest reports print (HTML and PDF), from ``BacktestResult.meta``."""
    boot = meta.get("bootstrap") or {}
    level = boot.get("level")
    level_text = f"{float(level):.0%} " if isinstance(level, int | float) else ""
    return {
        "area": text_or_dash(meta.get("area")),
        "window": _window(meta),
        "horizon": text_or_dash(meta.get("horizon")),
        "folds": text_or_dash(meta.get("folds")),
        "lookback": text_or_dash(meta.get("lookback") or meta.get("train_periods")),
        "layer": text_or_dash(meta.get("layer")),
        "category": str(meta.get("category") or "all"),
        "events": text_or_dash(meta.get("events")),
        "cells (res)": f"{meta.get('cells')} ({meta.get('res')})",
        "parameters": _parameters_text(meta.get("parameters") or {}),
        "interval": f"{level_text}{boot.get('kind')} bootstrap of the mean across folds, "
        f"{boot.get('resamples')} resamples, seed {boot.get('seed')}",
    }


MODEL_PARAMETERS = (
    "bandwidth_m",
    "bin_res",
    "half_life_days",
    "found_weight",
    "eps_m",
    "min_samples",
)
"""The analysis parameters a backtest's forecasts depend on (res and lookback are shown apart)."""


def _parameters_text(parameters: Mapping[str, Any]) -> str:
    """``bandwidth_m rule; bin_res square; half_life_days 91; ...``: None means the
    automatic rule; numbers in the shortest form, words (``square``) as they are."""

    def value(v: Any) -> str:
        if v is None:
            return "rule"
        return v if isinstance(v, str) else f"{v:g}"

    parts = [f"{k} {value(parameters[k])}" for k in MODEL_PARAMETERS if k in parameters]
    return "; ".join(parts) or "-"


# --- PDF building blocks --------------------------------------------------------------------


def _styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of the reports (their table headers a little larger than the pack's)."""
    return paragraph_styles(head_size=7.5)


def marking_text(marking: str | None) -> str:
    """The marking as printed: stripped; empty means :data:`maps.audience.DEFAULT_MARKING`."""
    return str(marking or DEFAULT_MARKING).strip() or DEFAULT_MARKING


def _kv_table(rows: list[tuple[str, str]], styles: dict[str, ParagraphStyle]) -> Table:
    return kv_table(rows, styles, (FRAME_W * 0.3, FRAME_W * 0.7))


def _grid_table(
    header: tuple[str, ...],
    rows: list[list[Any]],
    widths_mm: tuple[float, ...],
    styles: dict[str, ParagraphStyle],
) -> Table:
    """A table with a coloured header row that repeats on every page it spans."""
    scale = (FRAME_W / mm) / sum(widths_mm)
    data: list[list[Any]] = [[para(h, styles["head"]) for h in header], *rows]
    t = Table(data, colWidths=[w * mm * scale for w in widths_mm], repeatRows=1, hAlign="LEFT")
    commands = table_commands(pad_h=2.5)
    commands.append(("FONT", (0, 1), (-1, -1), FONT, 7.5))
    commands += [
        ("BACKGROUND", (0, r), (-1, r), colors.HexColor(BAND_COLOUR))
        for r in range(2, len(data), 2)
    ]
    t.setStyle(TableStyle(commands))
    return t


def _plot_block(title: str, caption: str, png: bytes, width_mm: float, styles: Any) -> Flowable:
    """A plot with its heading and caption, kept on one page, scaled to ``width_mm``."""
    from reportlab.lib.utils import ImageReader

    w_px, h_px = ImageReader(io.BytesIO(png)).getSize()
    width = width_mm * mm
    height = width * h_px / w_px
    max_h = FRAME_H - 20 * mm
    if height > max_h:
        width, height = width * max_h / height, max_h
    return KeepTogether(
        [
            Paragraph(escape(title), styles["h2"]),
            Paragraph(caption, styles["small"]),
            Spacer(1, 1.5 * mm),
            Image(io.BytesIO(png), width=width, height=height),
            Spacer(1, 4 * mm),
        ]
    )


def _window(meta: Mapping[str, Any]) -> str:
    """``2025-01-06 to 2025-05-26``: the run's first day and the day after its last, as UK
    dates (``--from 2020-10-01`` is stored as 23:00 UTC on 30 September and prints as typed)."""
    return f"{_uk_day(meta.get('start'))} to {_uk_day(meta.get('end'))}"


def _uk_day(value: Any) -> str:
    if not value:
        return "-"
    return uk_date(pd.Timestamp(str(value)))


def _report(
    path: Path,
    body: list[Flowable],
    styles: dict[str, ParagraphStyle],
    *,
    marking: str,
    title: str,
    subtitle: str,
    facts: list[tuple[str, str]],
    running: str,
) -> Path:
    """Write a report as an A4 PDF at ``path``, whole or not at all; returns its path.

    The first page opens with ``title``, ``subtitle`` (paragraph markup, data
    in it escaped) and the run's ``facts``, then ``body`` follows. Every page
    is marked (:func:`marking_text` of ``marking``) above and below, and its
    header names ``title`` and ``running``.
    """
    from geo import __version__

    marking = marking_text(marking)
    story: list[Flowable] = [
        para(title, styles["title"]),
        Paragraph(subtitle, styles["subtitle"]),
        Spacer(1, 4 * mm),
        para("This run", styles["h2"]),
        _kv_table(facts, styles),
        Spacer(1, 5 * mm),
        *body,
    ]
    return build_pdf(
        path,
        story,
        marking=marking,
        header=(clip(title, 60), clip(running, 70)),
        footer=product_text(__version__),
        title=title,
        subject=f"{marking} - {title}",
        creator=product_text(__version__),
        invariant=True,
    )


# --- the backtest report --------------------------------------------------------------------


def summary_rows(summary: pd.DataFrame) -> list[list[str]]:
    """The backtest summary as printed: one list of :data:`SUMMARY_COLUMNS` texts per row."""
    rows = []
    for r in summary.to_dict("records"):
        rows.append(
            [
                text_or_dash(r["method"]),
                coverage_text(r["coverage"]),
                str(int(r["folds"])),
                interval_text(r["hit_rate_mean"], r["hit_rate_low"], r["hit_rate_high"]),
                interval_text(r["pai_mean"], r["pai_low"], r["pai_high"]),
                fmt_number(r["pei_star_mean"]),
                fmt_number(r["stability_mean"]),
            ]
        )
    return rows


def backtest_pdf(result: BacktestResult, path: Path, *, marking: str) -> Path:
    """Write the backtest report as an A4 PDF; returns its path.

    Parameters
    ----------
    result
        From :func:`api.backtest.backtest`.
    path
        Output file (``.pdf``); written whole or not at all.
    marking
        Security marking printed in the header and footer of every page
        (empty means :data:`maps.audience.DEFAULT_MARKING`).
    """
    styles = _styles()
    meta = result.meta
    horizon = str(meta.get("horizon") or "period")
    train = meta.get("train_periods")
    area = text_or_dash(meta.get("area"))
    window = _window(meta)
    story: list[Flowable] = [para("How to read this report", styles["h2"])]
    notes = [
        f"<b>Rolling origin.</b> Each {escape(horizon)} was forecast from the "
        f"{escape(text_or_dash(train))} {escape(horizon)}s before it only, and the forecast was "
        f"judged on where events happened in that {escape(horizon)}. Each such forecast is a "
        "<b>fold</b>; the tables and plots average the folds.",
        "<b>Coverage</b> is the share of the study area patrolled: the highest-scoring cells "
        "until that share of the area is reached.",
        "<b>Hit rate</b> is the share of the period's events that fell inside the patrolled "
        "cells. 0.25 at 2% coverage means a quarter of the events happened in 2% of the area.",
        "<b>PAI</b> (predictive accuracy index) is the hit rate divided by the coverage: how "
        "many times more concentrated the events were in the patrolled cells than across the "
        "whole area. 1 is no better than chance; higher is better.",
        "<b>PEI*</b> (predictive efficiency index) is the events caught divided by the most "
        "that any choice of the same area could have caught, looking back. 1 is perfect.",
        "<b>Stability</b> is how many of the patrolled cells stay the same from one fold to "
        "the next (Jaccard similarity; 1 = the same cells). Stable targets are easier to "
        "brief and patrol.",
        "<b>Baselines.</b> <i>naive</i> patrols where events happened last "
        f"{escape(horizon)}; <i>persistence</i> patrols where the most events happened over "
        f"the last {escape(text_or_dash(train))} {escape(horizon)}s. A method is worth using "
        "only where it beats both.",
        "<b>[low, high]</b> is the 95% bootstrap interval of the mean across folds: where the "
        "mean would plausibly lie with other periods of the same kind. Overlapping intervals "
        "mean the difference may be chance.",
    ]
    story += bullets(notes, styles)
    story.append(PageBreak())
    rows = summary_rows(result.summary)
    cells = [[para(r[0], styles["cellb"]), *r[1:]] for r in rows]
    story += [
        KeepTogether(
            [
                para("Summary: mean across folds and 95% interval", styles["h2"]),
                Spacer(1, 1.5 * mm),
            ]
        ),
        _grid_table(SUMMARY_COLUMNS, cells, (24, 17, 12, 42, 45, 18, 18), styles),
        Spacer(1, 6 * mm),
    ]
    plots = (
        ("hit_rate", "hit rate", "Hit rate by coverage"),
        ("pai", "PAI", "PAI by coverage"),
        ("pei_star", "PEI*", "PEI* by coverage"),
    )
    caption = "Mean across folds per method; the bars are the 95% bootstrap interval."
    for metric, label, title in plots:
        png = metric_by_coverage_png(result.summary, metric, label, dpi=PDF_DPI)
        story.append(_plot_block(title, caption, png, 160, styles))
    return _report(
        path,
        story,
        styles,
        marking=marking,
        title="Hotspot backtest",
        subtitle=f"{escape(area)}: {escape(window)}, forecasting each {escape(horizon)}",
        facts=list(backtest_facts(meta).items()),
        running=f"{area} · {window}",
    )


# --- the tune report ------------------------------------------------------------------------


def _param_text(key: str, value: Any) -> str:
    missing = value is None or (isinstance(value, float | np.floating) and math.isnan(value))
    if missing and key in ("bandwidth_m", "eps_m"):
        return "rule"
    if isinstance(value, float | np.floating) and not math.isnan(value):
        return f"{float(value):g}"
    return text_or_dash(value)


def config_text(table: pd.DataFrame) -> list[str]:
    """The ranked table's *Configuration* texts.

    A grid combination prints as ``#n`` and its method, resolution and every
    parameter that varies across the grid (``bandwidth_m=rule`` for the
    automatic choice); a baseline as ``naive (baseline)``.
    """
    flags = table["config"].map(is_config).to_numpy(dtype=bool)
    configs = table.loc[flags]
    keys = ["method", "res"]
    for key in AnalysisParams.__dataclass_fields__:
        if key in keys or key not in table.columns:
            continue
        values = {_param_text(key, v) for v in configs[key]}
        if len(values) > 1:
            keys.append(key)
    out = []
    for flag, row in zip(flags, table.to_dict("records"), strict=True):
        if flag:
            params = ", ".join(f"{k}={_param_text(k, row[k])}" for k in keys)
            out.append(f"#{row['config']} {params}")
        else:
            out.append(f"{row['config']} (baseline)")
    return out


def ranked_rows(table: pd.DataFrame) -> list[list[str]]:
    """The tune table as printed: one list of :data:`RANKED_COLUMNS` texts per row."""
    labels = config_text(table)
    return [
        [
            str(int(r["rank"])),
            label,
            fmt_number(r["hit_rate_mean"]),
            interval_text(r["pai_mean"], r["pai_low"], r["pai_high"]),
            fmt_number(r["pei_star_mean"]),
        ]
        for r, label in zip(table.to_dict("records"), labels, strict=True)
    ]


def _difference(d: Mapping[str, Any]) -> tuple[str, str]:
    """A paired PAI difference (a ``models.tuning`` verdict dict) as ``mean [low, high]`` and
    its verdict."""
    diff = (
        f"{fmt_number(d['pai_difference_mean'])} [{fmt_number(d['low'])}, {fmt_number(d['high'])}]"
    )
    return diff, str(d["verdict"])


def tune_pdf(result: TuneResult, path: Path, *, marking: str) -> Path:
    """Write the parameter search report as an A4 PDF; returns its path.

    ``result`` is from :func:`api.tune.tune`; ``path`` and ``marking`` are as
    for :func:`backtest_pdf`: the file is written whole or not at all, and the
    marking printed in the header and footer of every page (empty means
    :data:`maps.audience.DEFAULT_MARKING`).
    """
    styles = _styles()
    meta = result.meta
    table = result.table
    coverage = float(meta.get("coverage", table["coverage"].iloc[0]))
    window = _window(meta)
    configs = table["config"].map(is_config).to_numpy(dtype=bool)
    best_row = table.loc[configs].iloc[0]

    story: list[Flowable] = [
        para(f"Best parameters (configuration #{best_row['config']})", styles["h2"]),
        _kv_table(
            [(k, _param_text(k, v)) for k, v in result.best.as_dict().items()],
            styles,
        ),
        Spacer(1, 3 * mm),
    ]
    verdict: Mapping[str, Any] = meta.get("verdict") or {}
    verdicts = []
    if verdict:
        verdicts.append(f"<b>Verdict</b>: {escape(str(verdict.get('text', '')))}.")
    best_pai = fmt_number(best_row["pai_mean"])
    paired: Mapping[str, Any] = meta.get("best_vs_baseline") or {}
    for name in BASELINES:
        same = (table["config"].astype(str) == name) & (table["res"] == best_row["res"])
        base = table.loc[same, "pai_mean"]
        base_pai = fmt_number(base.iloc[0]) if len(base) else "-"
        text = (
            f"Against the <b>{name}</b> baseline at the same resolution: mean PAI {best_pai} "
            f"against {base_pai}."
        )
        if name in paired:
            diff, word = _difference(paired[name])
            text += f" Fold by fold the difference is {diff}: {word} (in-sample)."
        verdicts.append(text)
    held: Mapping[str, Any] = meta.get("best_on_holdout") or {}
    if held:
        n_held = meta.get("holdout_folds")
        text = (
            f"<b>Held out</b> ({escape(text_or_dash(n_held))} later folds, not used to choose): "
            f"mean PAI {fmt_number(held['pai_mean'])} "
            f"[{fmt_number(held['low'])}, {fmt_number(held['high'])}]."
        )
        for name in BASELINES:
            if name in held:
                diff, word = _difference(held[name])
                text += f" Against {name}: {diff}, {word}."
        verdicts.append(text)
    else:
        verdicts.append(
            "These figures are in-sample: the best configuration was chosen on the same folds, "
            "so they flatter it. Run with --holdout to judge it on later folds it never saw."
        )
    if verdict and verdict.get("persistence") != "clearly better":
        verdicts.append(
            "The best configuration is not clearly better than persistence: on this data "
            "patrolling where events happened over the lookback predicts as well. "
            "<i>engage tune --accept</i> refuses it without --accept-anyway."
        )
    story += bullets(verdicts, styles)
    story += [Spacer(1, 5 * mm), para("How to read this report", styles["h2"])]
    notes = [
        "Every configuration was backtested as <i>engage backtest</i> does: each period "
        "forecast from the periods before it only, and judged on where events then happened.",
        f"<b>PAI</b> at {escape(coverage_text(coverage))} coverage ranks the configurations: "
        "the hit rate (share of events inside the patrolled cells) divided by the share of the "
        "area patrolled. Ties go to the higher <b>PEI*</b> (events caught over the most any "
        "choice of the same area could have caught; 1 is perfect).",
        "<b>[low, high]</b> is the 95% bootstrap interval of the mean across folds. "
        "Every configuration is judged on the same folds, so a difference from a baseline "
        "is taken fold by fold (the pai_minus_* columns of tune.csv). Chosen as the best of "
        "many on those folds, the winner's interval above 0 is optimistic; the held-out "
        "folds (*_holdout columns, --holdout) are the fair test.",
        "<b>Baselines</b>: <i>naive</i> patrols where events happened last period; "
        "<i>persistence</i> where most happened over the lookback.",
    ]
    story += bullets(notes, styles)
    story.append(PageBreak())

    configs_shown = table.loc[configs].head(PDF_PLOT_ROWS)
    shown = table.loc[table.index.isin(configs_shown.index) | ~configs]
    n_configs = int(configs.sum())
    caption = (
        f"Best first. The best {len(configs_shown)} of {n_configs} configurations and the "
        "baselines; the table below lists all."
        if len(configs_shown) < n_configs
        else "Best first; the black lines are the 95% bootstrap intervals."
    )
    png = pai_by_config_png(shown, coverage=coverage, dpi=PDF_DPI)
    story.append(_plot_block("Mean PAI by configuration", caption, png, 170, styles))
    cells = [
        [r[0], para(r[1], styles["cellb" if not is_config(c) else "cell"]), *r[2:]]
        for r, c in zip(ranked_rows(table), table["config"], strict=True)
    ]
    story += [
        KeepTogether([para("Ranked configurations", styles["h2"]), Spacer(1, 1.5 * mm)]),
        _grid_table(RANKED_COLUMNS, cells, (11, 95, 17, 45, 17), styles),
    ]
    facts = [
        (k, coverage_text(v) if k == "coverage" else value_text(v))
        for k, v in meta.items()
        if k not in ("verdict", "best_vs_baseline", "best_on_holdout", "tuned_on")
    ]
    return _report(
        path,
        story,
        styles,
        marking=marking,
        title="Parameter search",
        subtitle=f"{escape(window)}: {escape(text_or_dash(meta.get('combinations')))} "
        f"configurations ranked by mean PAI at {escape(coverage_text(coverage))} coverage",
        facts=facts,
        running=f"{window} · ranked by PAI at {coverage_text(coverage)}",
    )
