"""Markdown tables for docs/evidence.md from `engage backtest` and `engage tune` folders.

Usage (from the repository root)::

    .venv/bin/python scripts/evidence_tables.py backtest DIR [DIR:METHOD=LABEL ...] [--pair METHOD]
    .venv/bin/python scripts/evidence_tables.py tune DIR [--top 5]
    .venv/bin/python scripts/evidence_tables.py candidates LABEL=DIR ... [--coverage 0.02]

``backtest`` prints one table of every method and coverage in the folders'
``summary.csv`` (hit rate, PAI and PEI* with their 95% bootstrap intervals);
``DIR:kde=kde (tuned)`` renames a method of that folder, and a method already
printed from an earlier folder is not printed again. ``tune`` prints the
best configurations of a ``tune.csv``, the baselines at the best one's
resolution, the untuned default (kde, rule bandwidth, half-life 28 days, if
in the grid) and the best one's paired differences from the baselines.
``candidates`` prints, for backtest folders of one case that each hold one
candidate setting with the naive and persistence baselines (the same folds),
each candidate's hit rate at the coverage and its fold-by-fold hit-rate and
PAI differences from both baselines, with 95% bootstrap intervals and the
verdict (clearly better: interval above 0; clearly worse: below 0).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import pandas as pd


def _ci(row: Any, metric: str, digits: int) -> str:
    mean, low, high = (row[f"{metric}_{k}"] for k in ("mean", "low", "high"))
    if any(isinstance(v, float) and math.isnan(v) for v in (mean, low, high)):
        return "-"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def backtest_table(specs: list[str]) -> str:
    lines = [
        "| method | coverage | hit rate [95% CI] | PAI [95% CI] | PEI* [95% CI] | folds |",
        "|---|---:|---|---|---|---:|",
    ]
    seen: set[str] = set()
    for spec in specs:
        folder, _, renames = spec.partition(":")
        names = dict(r.split("=", 1) for r in renames.split(",") if r)
        summary = pd.read_csv(Path(folder) / "summary.csv")
        for method, group in summary.groupby("method", sort=False):
            label = names.get(str(method), str(method))
            if label in seen:
                continue
            seen.add(label)
            for row in group.sort_values("coverage").itertuples(index=False):
                r = row._asdict()
                lines.append(
                    f"| {label} | {r['coverage']:.0%} | {_ci(r, 'hit_rate', 3)} | "
                    f"{_ci(r, 'pai', 1)} | {_ci(r, 'pei_star', 2)} | {r['folds']} |"
                )
    return "\n".join(lines)


def paired_lines(folder: str, method: str, coverage: float) -> str:
    """``method`` minus each baseline, fold by fold, at ``coverage``: mean and 95% bootstrap."""
    import numpy as np

    from models.backtest import bootstrap_interval

    folds = pd.read_csv(Path(folder) / "backtest.csv")
    at = folds.loc[np.isclose(folds["coverage"], coverage)].sort_values("origin")
    mine = at.loc[at["method"] == method, "pai"].to_numpy()
    out = []
    for base in ("naive", "persistence"):
        theirs = at.loc[at["method"] == base, "pai"].to_numpy()
        if len(theirs) != len(mine) or not len(mine):
            continue
        mean, low, high = bootstrap_interval(mine - theirs, seed=0)
        out.append(
            f"{method} − {base}, PAI at {coverage:.0%}, {len(mine)} folds: "
            f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"
        )
    return "\n".join(out)


def _verdict(low: float, high: float) -> str:
    return "clearly better" if low > 0 else "clearly worse" if high < 0 else "no clear difference"


def candidates_table(specs: list[str], coverage: float) -> str:
    """One row per candidate: hit rate, and paired differences from both baselines."""
    import numpy as np

    from models.backtest import bootstrap_interval

    head = (
        f"| setting | hit rate at {coverage:.0%} [95% CI] | hit rate − persistence | "
        "hit rate − naive | PAI − persistence | PAI − naive |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    baseline_rows: dict[str, str] = {}
    for spec in specs:
        label, _, folder = spec.partition("=")
        folds = pd.read_csv(Path(folder) / "backtest.csv")
        at = folds.loc[np.isclose(folds["coverage"], coverage)].sort_values(["origin", "method"])
        methods = [m for m in at["method"].unique() if m not in ("naive", "persistence")]
        (method,) = methods
        series = {m: at.loc[at["method"] == m].sort_values("origin") for m in at["method"].unique()}
        mine = series[method]
        mean, low, high = bootstrap_interval(mine["hit_rate"].to_numpy(), seed=0)
        cells = [f"{mean:.3f} [{low:.3f}, {high:.3f}]"]
        for metric, digits in (("hit_rate", 3), ("pai", 2)):
            for base in ("persistence", "naive"):
                theirs = series[base]
                assert (theirs["origin"].to_numpy() == mine["origin"].to_numpy()).all()
                diff = mine[metric].to_numpy() - theirs[metric].to_numpy()
                d, lo, hi = bootstrap_interval(diff, seed=0)
                cells.append(
                    f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}] {_verdict(lo, hi)}"
                )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        for base in ("persistence", "naive"):
            b_mean, b_low, b_high = bootstrap_interval(series[base]["hit_rate"].to_numpy(), seed=0)
            baseline_rows[base] = (
                f"| {base} (baseline) | {b_mean:.3f} [{b_low:.3f}, {b_high:.3f}] | | | | |"
            )
    lines += [baseline_rows["persistence"], baseline_rows["naive"]]
    return "\n".join(lines)


def _describe(row: Any) -> str:
    if str(row["config"]) in ("naive", "persistence"):
        return f"{row['config']} (baseline), res {row['res']}"
    parts = [str(row["method"]), f"res {row['res']}"]
    if row["method"] == "kde":
        bw = row["bandwidth_m"]
        parts.append("rule bandwidth" if pd.isna(bw) else f"{bw:g} m")
    parts.append(f"half-life {row['half_life_days']:g} d")
    parts.append(f"lookback {row['lookback_weeks']:g} wk")
    return ", ".join(parts)


def tune_table(folder: str, top: int) -> str:
    t = pd.read_csv(Path(folder) / "tune.csv")
    is_config = ~t["config"].astype(str).isin(["naive", "persistence"])
    best = t.loc[is_config].iloc[0]
    shown = t.loc[is_config].head(top)
    base = t.loc[~is_config & (t["res"] == best["res"])]
    default = t.loc[
        is_config
        & (t["method"] == "kde")
        & t["bandwidth_m"].isna()
        & (t["half_life_days"] == 28)
        & (t["res"] == best["res"])
    ].head(1)
    rows = pd.concat([shown, base, default]).drop_duplicates("rank").sort_values("rank")
    cov = f"{t['coverage'].iloc[0]:.0%}"
    lines = [
        f"| rank | configuration | hit rate | PAI at {cov} [95% CI] | PEI* | "
        "PAI − naive [95% CI] | PAI − persistence [95% CI] |",
        "|---:|---|---:|---|---:|---|---|",
    ]
    for _, r in rows.iterrows():
        lines.append(
            f"| {r['rank']} | {_describe(r)} | {r['hit_rate_mean']:.3f} | {_ci(r, 'pai', 2)} | "
            f"{r['pei_star_mean']:.2f} | {_ci(r, 'pai_minus_naive', 2)} | "
            f"{_ci(r, 'pai_minus_persistence', 2)} |"
        )
    lines.append("")
    lines.append(
        f"{int(is_config.sum())} configurations, {int(best['folds'])} folds each; "
        f"rows ranked by mean PAI at {cov}."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    b = sub.add_parser("backtest")
    b.add_argument("specs", nargs="+")
    b.add_argument("--pair", help="METHOD: also its per-fold PAI difference from the baselines")
    b.add_argument("--coverage", type=float, default=0.02)
    c = sub.add_parser("candidates")
    c.add_argument("specs", nargs="+")
    c.add_argument("--coverage", type=float, default=0.02)
    t = sub.add_parser("tune")
    t.add_argument("folder")
    t.add_argument("--top", type=int, default=5)
    args = parser.parse_args(argv)
    if args.kind == "backtest":
        print(backtest_table(args.specs))
        if args.pair:
            print()
            print(paired_lines(args.specs[0].partition(":")[0], args.pair, args.coverage))
    elif args.kind == "candidates":
        print(candidates_table(args.specs, args.coverage))
    else:
        print(tune_table(args.folder, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
