"""The backtest and tune reports as A4 PDFs, read back with pypdf.

A real backtest and a real parameter search on the synthetic store: every
page carries the marking in its header and footer with "Page n of m"; the
summary table printed equals summary.csv; the ranked table printed equals
tune.csv; the plots are images on their pages; a long ranked table splits
across pages with its header on each; the same result gives the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pypdf import PdfReader

from api.settings import Settings
from api.usecases.backtest import backtest, tune
from api.usecases.backtest import write_tune_files as write_tune
from geo.calendar import parse_day as day
from maps.reportfiles import write_backtest_report as write_backtest
from maps.reports import backtest_pdf, tune_pdf
from models.backtest import BacktestResult
from models.tuning import TuneResult, parse_grid

from .conftest import synthetic_store

MARKING = "OFFICIAL-SENSITIVE REPORT-TEST"
A4_H = 841.89
START = pd.Timestamp("2025-01-06", tz="UTC").to_pydatetime()
END = pd.Timestamp("2025-05-26", tz="UTC").to_pydatetime()
PLOT_HEADINGS = ("Hit rate by coverage", "PAI by coverage", "PEI* by coverage")
SUMMARY_HEADER = [
    "Method",
    "Coverage",
    "Folds",
    "Hit rate [95% CI]",
    "PAI [95% CI]",
    "PEI*",
    "Stability",
]
RANKED_HEADER = ["Rank", "Configuration", "Hit rate", "PAI [95% CI]", "PEI*"]
LONG_CONFIGS = 70


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Settings, Path]:
    root = tmp_path_factory.mktemp("reports")
    location = synthetic_store(root, seed=5)
    return location, Settings(store=location, quarantine_dir=root / "q"), root


@pytest.fixture(scope="module")
def backtested(setup: tuple[str, Settings, Path]) -> BacktestResult:
    location, settings, _ = setup
    return backtest(
        location,
        start=START,
        end=END,
        settings=settings,
        layer="all",
        methods=("kde", "count", "naive", "persistence"),
        train_periods=8,
        seed=3,
    )


@pytest.fixture(scope="module")
def tuned(setup: tuple[str, Settings, Path]) -> TuneResult:
    location, settings, _ = setup
    return tune(
        location,
        start=START,
        end=END,
        settings=settings,
        grid=parse_grid("method=kde,count; half_life_days=14,56; lookback_weeks=8"),
        layer="all",
    )


@pytest.fixture(scope="module")
def backtest_files(
    setup: tuple[str, Settings, Path], backtested: BacktestResult
) -> dict[str, Path]:
    return write_backtest(backtested, setup[2] / "bt", marking=MARKING)


@pytest.fixture(scope="module")
def tune_files(setup: tuple[str, Settings, Path], tuned: TuneResult) -> dict[str, Path]:
    return write_tune(tuned, setup[2] / "tune", marking=MARKING)


def _long(result: TuneResult, n: int) -> TuneResult:
    """The real search's table grown to ``n`` configurations (distinct half-lives), re-ranked."""
    table = result.table
    is_config = table["config"].map(lambda c: isinstance(c, int))
    configs, baselines = table.loc[is_config], table.loc[~is_config]
    rows = []
    for i in range(n):
        row = configs.iloc[i % len(configs)].drop("rank").to_dict()
        pai = 30.0 - 0.25 * i
        row.update(
            config=i,
            half_life_days=float(7 + i),
            pai_mean=pai,
            pai_low=pai - 1.5,
            pai_high=pai + 1.25,
            hit_rate_mean=pai * 0.02,
            pei_star_mean=pai / 40,
        )
        rows.append(row)
    grown = pd.concat([pd.DataFrame(rows), baselines.drop(columns="rank")], ignore_index=True)
    grown = grown.sort_values("pai_mean", ascending=False, kind="stable").reset_index(drop=True)
    grown.insert(0, "rank", range(1, len(grown) + 1))
    meta = {**result.meta, "combinations": n}
    return TuneResult(grown, result.best, meta)


def _text_positions(page: Any) -> list[tuple[str, float]]:
    """(text, y in points) of every text run on a page."""
    found: list[tuple[str, float]] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text.strip():
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((text.strip(), float(y)))

    page.extract_text(visitor_text=visit)
    return found


def _cells(line: str) -> list[str]:
    return [c for c in re.split(r"\s{2,}", line.strip()) if c]


def _table(reader: PdfReader, header: list[str]) -> tuple[list[list[str]], int]:
    """Rows (cells) under ``header`` on every page, and how many pages show the header."""
    rows: list[list[str]] = []
    pages = 0
    for page in reader.pages:
        lines = page.extract_text(extraction_mode="layout").splitlines()
        starts = [i for i, line in enumerate(lines) if _cells(line) == header]
        if not starts:
            continue
        pages += 1
        for line in lines[starts[0] + 1 :]:
            cells = _cells(line)
            if len(cells) == len(header):
                rows.append(cells)
    return rows, pages


def _num(x: float) -> str:
    return "-" if pd.isna(x) else f"{x:.3f}"


def _ci(mean: float, low: float, high: float) -> str:
    return f"{_num(mean)} [{_num(low)}, {_num(high)}]"


@pytest.mark.parametrize("which", ["backtest", "tune", "long"])
def test_marking_in_header_and_footer_of_every_page(
    which: str,
    backtest_files: dict[str, Path],
    tune_files: dict[str, Path],
    tuned: TuneResult,
    tmp_path: Path,
) -> None:
    if which == "backtest":
        path = backtest_files["pdf"]
    elif which == "tune":
        path = tune_files["pdf"]
    else:
        path = tune_pdf(_long(tuned, LONG_CONFIGS), tmp_path / "long.pdf", marking=MARKING)
    pages = PdfReader(path).pages
    assert len(pages) >= 2
    for i, page in enumerate(pages, start=1):
        text = page.extract_text()
        assert text.count(MARKING) == 2, f"page {i}"
        assert f"Page {i} of {len(pages)}" in text
        ys = [y for t, y in _text_positions(page) if t == MARKING]
        assert any(y > A4_H - 50 for y in ys), f"no header marking on page {i}"
        assert any(y < 50 for y in ys), f"no footer marking on page {i}"
        assert abs(float(page.mediabox.height) - A4_H) < 1


def test_backtest_summary_in_the_pdf_equals_summary_csv(
    backtest_files: dict[str, Path],
) -> None:
    summary = pd.read_csv(backtest_files["summary"])
    want = [
        [
            r.method,
            f"{r.coverage * 100:g}%",
            str(r.folds),
            _ci(r.hit_rate_mean, r.hit_rate_low, r.hit_rate_high),
            _ci(r.pai_mean, r.pai_low, r.pai_high),
            _num(r.pei_star_mean),
            _num(r.stability_mean),
        ]
        for r in summary.itertuples()
    ]
    got, pages = _table(PdfReader(backtest_files["pdf"]), SUMMARY_HEADER)
    assert pages == 1
    assert len(want) == 12  # four methods x three coverages
    assert got == want


def test_backtest_pdf_facts_explanations_and_three_plots(
    backtest_files: dict[str, Path], backtested: BacktestResult
) -> None:
    reader = PdfReader(backtest_files["pdf"])
    first = reader.pages[0].extract_text()
    flat = " ".join(first.split())  # wrapped lines rejoined
    meta = backtested.meta
    for expected in (
        "Hotspot backtest",
        str(meta["area"]),
        "2025-01-06 to 2025-05-26",
        f"events\n{meta['events']}",
        f"folds\n{meta['folds']}",
        f"lookback\n{meta['lookback']}",
        f"{meta['cells']} ({meta['res']})",
        "95% percentile bootstrap of the mean across folds, 2000 resamples, seed 3",
        "Hit rate is the share",
        "PAI (predictive accuracy index)",
        "PEI* (predictive efficiency index)",
        "naive patrols where events happened last week",
        "persistence patrols where the most events happened over the last 8 weeks",
    ):
        assert expected in first or expected in flat, expected
    total = 0
    for page in reader.pages:
        text = page.extract_text()
        headings = sum(h in text for h in PLOT_HEADINGS)
        assert len(page.images) == headings
        for image in page.images:
            w, h = image.image.size
            assert (w, h) == (1200, 800)  # 6 x 4 inches at 200 dpi
        total += len(page.images)
    assert total == len(PLOT_HEADINGS)


def test_tune_pdf_best_verdicts_table_and_plot(
    tune_files: dict[str, Path], tuned: TuneResult
) -> None:
    reader = PdfReader(tune_files["pdf"])
    text = "\n".join(p.extract_text() for p in reader.pages)
    table = pd.read_csv(tune_files["table"])
    configs = table.loc[table["config"].astype(str).str.isdigit()]
    best = configs.iloc[0]
    assert f"Best parameters (configuration #{best['config']})" in text
    assert f"half_life_days\n{tuned.best.half_life_days:g}" in text
    flat = text.replace("\n", " ")
    # The verdict printed is the one params.json records (and the console prints).
    recorded = json.loads(tune_files["params"].read_text())["evidence"]["verdict"]
    assert recorded["text"] == tuned.meta["verdict"]["text"]
    assert " ".join(f"Verdict: {recorded['text']}.".split()) in " ".join(flat.split())
    for name in ("naive", "persistence"):
        same = (table["config"] == name) & (table["res"] == best["res"])
        base = table.loc[same, "pai_mean"].iloc[0]
        assert (
            f"Against the {name} baseline at the same resolution: "
            f"mean PAI {_num(best['pai_mean'])} against {_num(base)}"
        ) in flat
        d = [best[f"pai_minus_{name}_{k}"] for k in ("mean", "low", "high")]
        word = (
            "clearly better" if d[1] > 0 else "clearly worse" if d[2] < 0 else "no clear difference"
        )
        assert recorded[name] == word
        assert (
            f"Fold by fold the difference is {_num(d[0])} [{_num(d[1])}, {_num(d[2])}]: {word}"
        ) in flat
    got, pages = _table(reader, RANKED_HEADER)
    assert pages == 1
    want = [
        [
            str(r.rank),
            f"{r.config} (baseline)"
            if not str(r.config).isdigit()
            else f"#{r.config} method={r.method}, res={r.res}, half_life_days={r.half_life_days:g}",
            _num(r.hit_rate_mean),
            _ci(r.pai_mean, r.pai_low, r.pai_high),
            _num(r.pei_star_mean),
        ]
        for r in table.itertuples()
    ]
    assert got == want
    assert sum(len(p.images) for p in reader.pages) == 1


def test_long_ranked_table_splits_with_its_header_on_every_page(
    tuned: TuneResult, tmp_path: Path
) -> None:
    result = _long(tuned, LONG_CONFIGS)
    reader = PdfReader(tune_pdf(result, tmp_path / "long.pdf", marking=MARKING))
    got, pages = _table(reader, RANKED_HEADER)
    assert pages >= 2
    table_pages = [
        p for p in reader.pages if re.search(r"^#\d+ method=", p.extract_text(), flags=re.M)
    ]
    assert len(table_pages) == pages  # the header is on every page the table spans
    assert [int(r[0]) for r in got] == list(range(1, len(result.table) + 1))
    assert [r[3] for r in got] == [
        _ci(m, lo, hi)
        for m, lo, hi in result.table[["pai_mean", "pai_low", "pai_high"]].itertuples(index=False)
    ]
    text = "\n".join(p.extract_text() for p in reader.pages).replace("\n", " ")
    assert f"The best 30 of {LONG_CONFIGS} configurations and the baselines" in text
    assert sum(len(p.images) for p in reader.pages) == 1


def test_same_result_same_bytes_and_data_prints_literally(
    backtested: BacktestResult, tmp_path: Path
) -> None:
    a = backtest_pdf(backtested, tmp_path / "a.pdf", marking=MARKING)
    b = backtest_pdf(backtested, tmp_path / "b.pdf", marking=MARKING)
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob("*.part"))
    odd = dataclasses.replace(backtested, meta={**backtested.meta, "area": "Area <b>&amp;</b>"})
    text = PdfReader(backtest_pdf(odd, tmp_path / "odd.pdf", marking="<i>M</i>")).pages[0]
    got = text.extract_text()
    # Subtitle, run facts and page header, each as typed (no markup, no entity decoding).
    assert got.count("Area <b>&amp;</b>") == 3
    assert got.count("<i>M</i>") == 2


def test_reports_default_to_the_pack_marking(
    backtested: BacktestResult, tuned: TuneResult, tmp_path: Path
) -> None:
    bt = write_backtest(backtested, tmp_path / "bt")
    tn = write_tune(tuned, tmp_path / "tune")
    assert set(bt) == {"folds", "summary", "report", "pdf"}
    assert set(tn) == {"table", "params", "report", "pdf"}
    for files in (bt, tn):
        assert files["report"].read_text().count("OFFICIAL-SENSITIVE") == 2
        for page in PdfReader(files["pdf"]).pages:
            assert page.extract_text().count("OFFICIAL-SENSITIVE") == 2


def test_tune_pdf_says_in_sample_or_gives_the_held_out_verdict(
    setup: tuple[str, Settings, Path], tune_files: dict[str, Path]
) -> None:
    flat = " ".join(p.extract_text() for p in PdfReader(tune_files["pdf"]).pages)
    flat = " ".join(flat.split())
    assert "These figures are in-sample" in flat
    assert "Held out" not in flat
    location, settings, out = setup
    held = tune(
        location,
        start=START,
        end=END,
        settings=settings,
        grid=parse_grid("method=count; half_life_days=14,56; lookback_weeks=8"),
        layer="all",
        holdout=4,
    )
    files = write_tune(held, out / "held", marking=MARKING)
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(files["pdf"]).pages).split())
    h = held.meta["best_on_holdout"]
    assert (
        f"Held out (4 later folds, not used to choose): mean PAI {_num(h['pai_mean'])} "
        f"[{_num(h['low'])}, {_num(h['high'])}]."
    ) in text
    n = h["naive"]
    assert f"Against naive: {_num(n['pai_difference_mean'])} [{_num(n['low'])}," in text
    assert "These figures are in-sample" not in text


def test_report_windows_print_the_uk_days_typed() -> None:
    """``--from 2020-10-01`` is 23:00 UTC on 30 September in summer time; reports print the
    day the user typed, not the UTC date."""
    from maps.reports import backtest_facts

    start = day("2020-10-01", "--from")
    end = day("2021-07-01", "--to")
    assert start is not None and end is not None
    assert start.isoformat().startswith("2020-09-30T23:00")
    facts = backtest_facts({"start": start.isoformat(), "end": end.isoformat()})
    assert facts["window"] == "2020-10-01 to 2021-07-01"
