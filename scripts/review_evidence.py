"""Evidence for the partnership review: power on planted disruptions, calibration on placebos.

    .venv/bin/python scripts/review_evidence.py sim --seeds 1-20 [--weeks 104]
    .venv/bin/python scripts/review_evidence.py police --runs 10 --per-run 20 [--category C]

``sim``: for each seed, simulate a two-year Blackburn with Darwen scenario
(geo.simulate, which plants disruptions with effects and placebos and
records them in truth.json), ingest it into a scratch GeoPackage, review
every disruption with the product's defaults (MFH last-seen and found
locations, 150 m response area, 400 m buffer, 26-week windows, matched
controls) and compare each row with the truth: how often a true cut is
detected at alpha 0.1 (power), how often a placebo is flagged (false
positives; near alpha if the test is calibrated), and whether the buffer
estimate has the planted sign. Pooled per tactic as well.

``police``: the public police.uk street crime of Blackburn with Darwen
(../shared/data, 2020-10 to 2022-10, month-stamped) is ingested once; in each
run, ``--per-run`` placebo "disruptions" are put at random crime locations
(so at busy places, as real disruptions are) on random days with 26 weeks of
data each side. Nothing happened there, so the share flagged at alpha 0.1 is
the test's false-positive rate: reported with the overdispersion correction
(the product's p) and without it (phi = 1), and for the E-test.

Prints Markdown tables for docs/review.md. Run by hand; minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from api.settings import Settings
from api.usecases.ingest import ingest_files
from api.usecases.store import grid_for, load_events, opened_store
from geo import schemas
from geo.crs import bng_to_latlng, latlng_to_bng
from geo.h3index import latlng_to_cells
from geo.store import Window
from models import displacement as dm
from models.review import review
from models.review_areas import ReviewSpec, windows_for
from models.targets import drop_private

KEY = "review-evidence-synthetic-only-0123456789"
ALPHA = 0.1
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "police_uk" / "lancashire"


def _seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(t) for t in text.split(",")]


def _with_xy(frame: pd.DataFrame) -> pd.DataFrame:
    x, y = latlng_to_bng(frame["lat"].to_numpy(float), frame["lng"].to_numpy(float))
    return frame.assign(x=x, y=y)


def _p_with(rows: pd.DataFrame, which: str) -> np.ndarray:
    """The WDD p of each row recomputed from its counts with one variance rule.

    ``poisson``: plain Poisson (phi = 1); ``weekly``: the weekly phi alone.
    """
    out = np.full(len(rows), np.nan)
    for i, r in enumerate(rows.itertuples(index=False)):  # rows of a report, not events
        if not r.reviewed:
            continue
        phi = 1.0 if which == "poisson" else float(r.phi)
        pairs = [(r.control_before, r.control_after), (r.response_before, r.response_after)]
        if pd.notna(r.buffer_control_before):
            pairs += [
                (r.buffer_control_before, r.buffer_control_after),
                (r.buffer_before, r.buffer_after),
            ]
        tw = (r.before_weeks / r.after_weeks, 1.0)
        res = dm.wdd(*pairs, time_weights=tw, phi=phi)
        out[i] = np.nan if res.p is None else res.p
    return out


def _share(mask: np.ndarray) -> str:
    n = int(mask.size)
    if n == 0:
        return "-"
    k = int(mask.sum())
    lo, hi = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    return f"{k}/{n} = {k / n:.2f} ({lo:.2f}-{hi:.2f})"


# --- simulated scenarios -------------------------------------------------------------------


def sim_seed(seed: int, weeks: int, spec: ReviewSpec) -> pd.DataFrame:
    from api.usecases.demo import DEMO_ORDER
    from api.usecases.ingest import simulate_scenario

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        simulate_scenario(root / "s", seed=seed, weeks=weeks)
        truth = json.loads((root / "s" / "truth.json").read_text())
        location = str(root / "e.gpkg")
        settings = Settings(store=location, quarantine_dir=root / "q")
        for kind, name in DEMO_ORDER:
            ingest_files(location, kind, [root / "s" / name], settings=settings, key=KEY)
        with opened_store(location) as store:
            d = _with_xy(store.read(schemas.DISRUPTIONS))
            ev = pd.concat(
                [
                    load_events(store, Window(None, None), layer=layer)
                    for layer in ("last_seen", "found")
                ],
                ignore_index=True,
            )
            lo, hi = store.time_bounds(schemas.EPISODES)
        cells = grid_for(settings.area().outline(), spec.block_res)
    result = review(drop_private(ev), d, cells, spec, data_start=lo, data_end=hi)
    rows = result.rows.loc[result.rows["disruption_id"] != ""].copy()
    planted = pd.DataFrame(truth["disruptions"])
    rows = rows.merge(
        planted[["disruption_id", "cut", "displaced_share"]], on="disruption_id", how="left"
    )
    rows["seed"] = seed
    pooled = result.rows.loc[result.rows["disruption_id"] == ""].copy()
    pooled["seed"] = seed
    pooled["cut"] = pooled["tactic"].map(planted.groupby("tactic")["cut"].mean())
    rows["p_poisson"] = _p_with(rows, "poisson")
    rows["p_weekly"] = _p_with(rows, "weekly")
    return pd.concat([rows, pooled.assign(pooled_row=True)], ignore_index=True)


def _undetectable(rows: pd.DataFrame) -> np.ndarray:
    """Rows whose minimum detectable effect is above their expected count."""
    notes = rows["mde_note"].astype(str)
    return notes.str.startswith(("could not", "no events")).to_numpy()


def _harm_fell(g: pd.DataFrame, est: str, se: str) -> bool:
    h = dm.wdd_harm(g[est].to_numpy(float), g[se].to_numpy(float), np.ones(len(g)))
    return bool(h.est < 0 and h.p is not None and h.p < ALPHA)


def sim(seeds: list[int], weeks: int) -> None:
    spec = ReviewSpec.make()
    frames = []
    for seed in seeds:
        t = time.time()
        frames.append(sim_seed(seed, weeks, spec))
        print(f"seed {seed}: {time.time() - t:.0f} s", file=sys.stderr)
    allr = pd.concat(frames, ignore_index=True)
    per = allr.loc[allr["pooled_row"] != True].copy()  # noqa: E712 - NaN-safe
    done = per.loc[per["reviewed"].astype(bool)]
    effect = done.loc[done["cut"] > 0]
    placebo = done.loc[done["cut"] == 0]
    not_done = per.loc[~per["reviewed"].astype(bool), "reason"].str[:60].value_counts().to_dict()
    print(f"## Simulated scenarios: seeds {seeds[0]}-{seeds[-1]}, {weeks} weeks each\n")
    print(f"Disruptions planted: {len(per)}; reviewed: {len(done)} (not: {not_done}).")
    print(
        f"Median response-area before count: {done['response_before'].median():.0f} "
        f"(with a cut), {placebo['response_before'].median():.0f} (placebos); rows whose "
        f"minimum detectable effect exceeds the expected count: "
        f"{_share(_undetectable(done))}.\n"
    )
    print(
        "| disruptions | reviewed | response area read as fell | read as fell or rose | "
        "both areas, WDD p < 0.1 | WDD p < 0.1, plain Poisson | E-test p < 0.1 |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, g in (("with a cut (power)", effect), ("placebos (false positives)", placebo)):
        print(
            f"| {name} | {len(g)} | {_share((g['local_reading'] == 'fell').to_numpy())} | "
            f"{_share(g['local_reading'].isin(['fell', 'rose']).to_numpy())} | "
            f"{_share(g['wdd_p'].astype(float).to_numpy() < ALPHA)} | "
            f"{_share(g['p_poisson'].to_numpy(float) < ALPHA)} | "
            f"{_share(g['etest_p'].astype(float).to_numpy() < ALPHA)} |"
        )
    disp = effect.loc[effect["displaced_share"] > 0]
    est = disp["wdd_displace"].astype(float)
    print(
        f"\nThe buffer's estimate has the planted sign (above 0: displacement) on "
        f"{_share((est > 0).to_numpy())} of the {len(disp)} disruptions with displacement; read "
        f"as displacement at 0.1: {_share((disp['buffer_reading'] == 'displacement').to_numpy())}. "
        f"Placebos read as displacement: "
        f"{_share((placebo['buffer_reading'] == 'displacement').to_numpy())}."
    )
    print("\n| pooled, per scenario | scenarios | local part fell, p < 0.1 |")
    print("|---|---|---|")
    for name, g in (
        ("the 10 disruptions with effects (known only in a simulation)", effect),
        ("the 10 placebos", placebo),
    ):
        hits = [_harm_fell(one, "wdd_local", "wdd_local_se") for _, one in g.groupby("seed")]
        print(f"| {name} | {len(hits)} | {_share(np.array(hits))} |")
    pooled = allr.loc[(allr["pooled_row"] == True) & (allr["tactic"] != "all")]  # noqa: E712
    every = allr.loc[(allr["pooled_row"] == True) & (allr["tactic"] == "all")]  # noqa: E712
    for name, g in (("each tactic (2 effects, 2 placebos)", pooled), ("every disruption", every)):
        hit = (g["local_reading"] == "fell").to_numpy()
        print(f"| the review's pooled row: {name} | {len(g)} | {_share(hit)} |")


# --- placebos on police.uk -------------------------------------------------------------------


def _span(lo: pd.Timestamp, hi: pd.Timestamp) -> str:
    uk = "Europe/London"
    return f"{lo.tz_convert(uk):%b %Y} to {hi.tz_convert(uk):%b %Y}"


def police_store(root: Path) -> str:
    location = str(root / "bwd-police.gpkg")
    if Path(location).exists():
        return location
    months = sorted((SHARED / "blackburn_with_darwen").glob("202[0-2]-*-bwd.csv"))
    months = [m for m in months if "2020-10" <= m.name[:7] <= "2022-10"]
    settings = Settings(store=location, quarantine_dir=root / "q")
    ingest_files(location, "police-uk", months, settings=settings, key=KEY)
    return location


def _sites(
    ev: pd.DataFrame, n: int, rng: np.random.Generator, apart_m: float = 1000.0
) -> np.ndarray:
    """``n`` crime locations drawn at random (busy places more often), each at least
    ``apart_m`` from the others, so that no two sites' areas meet."""
    xy = ev[["x", "y"]].to_numpy(float)
    chosen: list[int] = []
    for i in rng.permutation(len(ev)):  # stops after n sites: a few hundred draws at most
        if all(np.hypot(*(xy[i] - xy[j])) >= apart_m for j in chosen):
            chosen.append(int(i))
            if len(chosen) == n:
                break
    return np.array(chosen, dtype=np.int64)


def inject(
    ev: pd.DataFrame,
    d: pd.DataFrame,
    spec: ReviewSpec,
    lo: pd.Timestamp,
    hi: pd.Timestamp,
    cut: float,
    displace: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The events with a known effect planted at each site of ``d``.

    In each site's after window, a share ``cut`` of the events within the
    response radius is removed at random, and a share ``displace`` of those
    removed is put back at one point 200-350 m away on a random bearing (inside
    the buffer ring). A loop over the sites, never over events.
    """
    keep = np.ones(len(ev), dtype=bool)
    moved = []
    xy = ev[["x", "y"]].to_numpy(float)
    for row in d.itertuples(index=False):
        w = windows_for(pd.Timestamp(row.disrupted_at), spec, data_start=lo, data_end=hi)
        if isinstance(w, str):
            continue
        near = np.hypot(xy[:, 0] - row.x, xy[:, 1] - row.y) < spec.response_m
        after = ((ev["at"] >= w.week_end) & (ev["at"] < w.after_end)).to_numpy()
        idx = np.flatnonzero(near & after & keep)
        gone = idx[rng.random(idx.size) < cut]
        keep[gone] = False
        back = gone[rng.random(gone.size) < displace]
        if back.size:
            r, theta = rng.uniform(200, 350), rng.uniform(0, 2 * np.pi)
            shifted = ev.iloc[back].copy()
            shifted["x"] = row.x + r * np.cos(theta)
            shifted["y"] = row.y + r * np.sin(theta)
            lat, lng = bng_to_latlng(shifted["x"].to_numpy(), shifted["y"].to_numpy())
            shifted["h3"] = latlng_to_cells(lat, lng, 12)
            moved.append(shifted)
    return pd.concat([ev.loc[keep], *moved], ignore_index=True)


def police(
    runs: int,
    per_run: int,
    category: str | None,
    root: Path,
    seed: int,
    cut: float = 0.0,
    displace: float = 0.0,
) -> None:
    spec = ReviewSpec.make()
    location = police_store(root)
    settings = Settings(store=location)
    with opened_store(location) as store:
        ev = load_events(store, Window(None, None), layer="incidents", category=category)
        lo, hi = store.time_bounds(schemas.INCIDENTS)
    cells = grid_for(settings.area().outline(), spec.block_res)
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(lo) + pd.Timedelta(weeks=spec.before_weeks + 1)
    last = pd.Timestamp(hi) - pd.Timedelta(weeks=spec.after_weeks + 2)
    span_days = (last - first).days
    frames = []
    for run in range(runs):
        pick = _sites(ev, per_run, rng)
        days = rng.integers(0, span_days, size=per_run)
        d = pd.DataFrame(
            {
                "disruption_id": [f"P{run:02d}-{i:03d}" for i in range(per_run)],
                "disrupted_at": [first + pd.Timedelta(days=int(x), hours=12) for x in days],
                "tactic": "patrol",
                "x": ev["x"].to_numpy()[pick],
                "y": ev["y"].to_numpy()[pick],
                "venue_id": None,
                "public": False,
            }
        )
        events = inject(ev, d, spec, lo, hi, cut, displace, rng) if cut > 0 else ev
        result = review(events, d, cells, spec, data_start=lo, data_end=hi, month_stamped=True)
        rows = result.rows.loc[result.rows["disruption_id"] != ""].copy()
        frames.append(rows)
    allr = pd.concat(frames, ignore_index=True)
    done = allr.loc[allr["reviewed"].astype(bool)].copy()
    done["p_poisson"] = _p_with(done, "poisson")
    done["p_weekly"] = _p_with(done, "weekly")
    p = done["wdd_p"].astype(float).to_numpy()
    what = category or "all street crime"
    if cut > 0:
        injected(done, what, cut, displace, lo, hi)
        return
    print(f"## Placebo disruptions on police.uk ({what}, Blackburn with Darwen, {_span(lo, hi)})\n")
    print(
        f"{len(allr)} placebos at random crime locations, {len(done)} reviewed; median response "
        f"area before count {done['response_before'].median():.0f}, median phi "
        f"{done['phi'].median():.2f}, median rho {done['rho'].median():.3f}.\n"
    )
    print("| test | flagged at alpha 0.1 (95% interval) |")
    print("|---|---|")
    print(f"| WDD, plain Poisson (phi = 1) | {_share(done['p_poisson'].to_numpy(float) < ALPHA)} |")
    weekly = done["p_weekly"].to_numpy(float) < ALPHA
    print(f"| WDD, weekly phi from the before window | {_share(weekly)} |")
    print(f"| WDD, weekly phi and between-window rho (the product's p) | {_share(p < ALPHA)} |")
    etest = done["etest_p"].astype(float).to_numpy() < ALPHA
    print(f"| E-test, response area before vs after | {_share(etest)} |")
    local = done["local_reading"].isin(["fell", "rose"]).to_numpy()
    moved = done["buffer_reading"].isin(["displacement", "diffusion of benefit"]).to_numpy()
    print(f"| response area read as fell or rose (local part of the WDD) | {_share(local)} |")
    print(f"| buffer read as displacement or diffusion | {_share(moved)} |")
    small = done["response_before"] < 5
    few = small.to_numpy()
    print(f"| WDD (the product's p), response before count under 5 | {_share(p[few] < ALPHA)} |")
    print(f"| WDD (the product's p), response before count 5 or more | {_share(p[~few] < ALPHA)} |")


def injected(
    done: pd.DataFrame, what: str, cut: float, displace: float, lo: pd.Timestamp, hi: pd.Timestamp
) -> None:
    """Power on real data with a planted effect: detection by the response area's count."""
    print(
        f"## A planted cut of {cut:.0%} ({displace:.0%} of it moved into the buffer) on "
        f"police.uk ({what}, Blackburn with Darwen, {_span(lo, hi)})\n"
    )
    fell = (done["local_reading"] == "fell").to_numpy()
    moved = (done["buffer_reading"] == "displacement").to_numpy()
    disp = done["wdd_displace"].astype(float)
    print(f"{len(done)} sites reviewed.\n")
    print(
        "| response area before count | sites | read as fell (local part, p < 0.1) "
        "| buffer estimate above 0 | read as displacement (p < 0.1) |"
    )
    print("|---|---|---|---|---|")
    bands = pd.cut(
        done["response_before"],
        [-1, 9, 24, 49, 99, 10**9],
        labels=["under 10", "10-24", "25-49", "50-99", "100 or more"],
    )
    for band, g in done.groupby(bands, observed=True):
        m = (bands == band).to_numpy()
        print(
            f"| {band} | {len(g)} | {_share(fell[m])} | {_share((disp[m] > 0).to_numpy())} | "
            f"{_share(moved[m])} |"
        )
    print(
        f"| all | {len(done)} | {_share(fell)} | {_share((disp > 0).to_numpy())} | "
        f"{_share(moved)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("sim")
    s.add_argument("--seeds", default="1-20")
    s.add_argument("--weeks", type=int, default=104)
    p = sub.add_parser("police")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--per-run", type=int, default=20)
    p.add_argument("--category", default=None)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cut", type=float, default=0.0, help="plant a cut of this share (power)")
    p.add_argument(
        "--displace", type=float, default=0.0, help="share of the cut moved to the buffer"
    )
    p.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "engage-review-evidence"
    )
    args = ap.parse_args()
    if args.mode == "sim":
        sim(_seeds(args.seeds), args.weeks)
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        police(
            args.runs, args.per_run, args.category, args.work, args.seed, args.cut, args.displace
        )


if __name__ == "__main__":
    main()
