"""Partnership review of 1,000 disruptions on a store of 1,000,000 episodes.

The issue ("Partnership review of disruptions"): review every disruption of
a store of 1M episodes and 1,000 disruptions, the GeoPackage and PostGIS
stores against each other, and against the same counts done with a
GeoPandas spatial join, the way an analyst would do them by hand.

Setup (untimed, but timed and reported):

* **Scenario.** ``geo.simulate.simulate`` for :data:`WEEKS` weeks (three
  years, :data:`START` to 2026-09-20, Blackburn with Darwen) with seeds
  1000, 1001, ... until the episodes reach ``--rows`` (two processes), every
  id prefixed with its seed, as :mod:`weekly_pack` builds its store (there
  over ten years). Exactly ``--rows`` episodes are kept (uniform random drop
  of the excess, seeded), each with its last-seen and found point and their
  place types (home and care home included). The seeds' venues are kept;
  their venue reports are not written (the review of MFH episodes never
  reads them) and their own disruptions are replaced by ``--disruptions`` disruptions
  (default 1,000) at venues drawn at random (without replacement while
  there are enough), on days drawn uniformly from weeks
  :data:`FIRST_WEEK` to :data:`LAST_WEEK` of the period, at 10:00 UK time,
  with a random tactic. Most have 26 whole weeks of data on each side; those
  in the first and last 26 weeks get shorter windows (the product shortens
  both windows to the whole weeks the data cover).
* **Stores.** ``api.usecases.ingest.ingest_files`` of venues, disruptions and
  episodes (in that order, as ``engage demo``) into a new GeoPackage and a
  new PostGIS schema (``bench_review_<pid>`` in the benchmark database,
  dropped at the end), with the pseudonym key of ``ENGAGE_PSEUDONYM_KEY``
  or a random key held in this process only. Then ``VACUUM (ANALYZE)`` of
  the PostGIS tables.

Timed (one warm-up run of each case, then ``--repeat`` runs, the cases
interleaved in alternating order, each after a ``CHECKPOINT``):

* **(a) end to end**: ``api.usecases.review.review_disruptions(location,
  settings=..., out_dir=..., spec=ReviewSpec.make())`` on both stores,
  every file written (review.csv, review.pdf, review.html, review.geojson,
  run.json) and the run recorded. Its PDF has about three pages and three
  charts per reviewed disruption (the HTML page shows the same charts), so
  this case is measured on the first ``--review-e2e`` disruptions (by id;
  default :data:`E2E_DISRUPTIONS`) given as ``disruption_ids``; the other
  disruptions are still read as the review's context. Breakdown from
  timers wrapped around what it calls: store reads, model
  (``models.review.review``), disclosure views (``review_view``), PDF
  (``review_pdf``), HTML (``review_html``), CSV and GeoJSON, other.
* **(b) the analysis alone**: the same ``review_disruptions`` call for
  every disruption, stopped when it hands the model's result to
  ``review_view`` (a wrapper raises there): reading the disruptions, the
  episodes of the span (last-seen and found layers) and the venues, the
  candidate blocks, and ``models.review.review``: counts in the response
  area and buffer, matched controls for both, overdispersion (weekly, between
  blocks and between placebo areas), WDD, WDQ, E-test, MDE and the pooled
  rows. Breakdown: store reads (``Store.read`` and ``time_bounds``), events
  frame (projecting the
  episodes' points to BNG, ``events_from_tables``), blocks (``grid_for``),
  model (``review``), other.
* **(c) peer**: GeoPandas by hand, counts only (see :func:`peer_counts`).
  It reads the GeoPackage (``geopandas.read_file``, pyogrio): the analyst's
  file, which opens in QGIS, and the product's default store. It does not
  match controls or compute any statistic.

Checks before any timing counts (the run stops if one fails): the two
stores' analysis results are equal (every row of the review table); the
peer's response and buffer counts before and after equal the product's for
every disruption, exactly; the end-to-end rows equal the analysis' rows for
the same disruptions, and both stores wrote the five files.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from harness import Timing, code_version, compare, cpu_usage, log
from ingest_postgis import settle
from psycopg import sql

WEEKS = 156
START = date(2023, 9, 25)  # a Monday; 156 weeks end on Sunday 2026-09-20
FIRST_SEED = 1000
DROP_SEED = 1
DISRUPTION_SEED = 2
FIRST_WEEK, LAST_WEEK = 20, 136
"""Disruptions fall on days of weeks ``[FIRST_WEEK, LAST_WEEK)`` of the period."""
DISRUPTION_HOUR = 10
E2E_DISRUPTIONS = 10
"""Disruptions of the end-to-end case (the PDF and HTML cost grows with them)."""
ID_COLUMNS = ("episode_id", "child_id", "venue_id")
PRIVATE = ("home", "care_home")
LOCAL_TZ = "Europe/London"
COUNT_COLUMNS = ("response_before", "response_after", "buffer_before", "buffer_after")


# ----------------------------------------------------------------------------- setup


SEED_BATCH = 16
"""Seeds simulated at a time (two processes); the seeds kept are the same in any case."""


def _one_seed(seed: int, out: Path) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    """One seed's episodes and venues, every id prefixed with the seed."""
    from geo.simulate import simulate

    one = out / f"seed_{seed}"
    files = simulate(one, seed=seed, weeks=WEEKS, start=START)
    prefix = f"S{seed - FIRST_SEED:03d}-"
    frames = []
    for name in ("episodes", "venues"):
        frame = pd.read_csv(one / f"{name}.csv", dtype=str, keep_default_na=False)
        for col in ID_COLUMNS:
            if col in frame.columns:
                frame[col] = prefix + frame[col]
        frames.append(frame)
    shutil.rmtree(one)
    return files.n_episodes, frames[0], frames[1]


def write_scenario(out: Path, episodes: int, disruptions: int) -> dict[str, Any]:
    """venues.csv, disruptions.csv and episodes.csv (exactly ``episodes``); counts, seconds."""
    from geo.schemas import TACTICS

    started = time.perf_counter()
    eps: list[pd.DataFrame] = []
    venues: list[pd.DataFrame] = []
    total, seed = 0, FIRST_SEED
    workers = max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as pool:  # seeds are independent: both cores
        while total < episodes:
            batch = range(seed, seed + SEED_BATCH)
            for n, episode_frame, venue_frame in pool.map(_one_seed, batch, [out] * len(batch)):
                if total >= episodes:
                    break
                eps.append(episode_frame)
                venues.append(venue_frame)
                total += n
                seed += 1
    episode_frame = pd.concat(eps, ignore_index=True)
    keep = np.random.default_rng(DROP_SEED).choice(len(episode_frame), episodes, replace=False)
    episode_frame = episode_frame.iloc[np.sort(keep)].sort_values(
        ["last_seen_at", "episode_id"], kind="stable"
    )
    venue_frame = pd.concat(venues, ignore_index=True)
    rng = np.random.default_rng(DISRUPTION_SEED)
    at = rng.choice(len(venue_frame), disruptions, replace=disruptions > len(venue_frame))
    days = rng.integers(FIRST_WEEK * 7, LAST_WEEK * 7, disruptions)
    when = [f"{START + timedelta(days=int(d))}T{DISRUPTION_HOUR:02d}:00:00" for d in np.sort(days)]
    place = venue_frame.iloc[at]
    disruption_frame = pd.DataFrame(
        {
            "disruption_id": [f"D-{i + 1:05d}" for i in range(disruptions)],
            "venue_id": place["venue_id"].to_numpy(),
            "disrupted_at": when,
            "lat": place["lat"].to_numpy(),
            "lng": place["lng"].to_numpy(),
            "tactic": rng.choice(list(TACTICS), disruptions),
            "note": "",
            "public": place["public"].to_numpy(),
        }
    )
    episode_frame.to_csv(out / "episodes.csv", index=False)
    venue_frame.to_csv(out / "venues.csv", index=False)
    disruption_frame.to_csv(out / "disruptions.csv", index=False)
    ls_private = episode_frame["last_seen_place_type"].isin(PRIVATE)
    found_private = episode_frame["found_place_type"].isin(PRIVATE)
    return {
        "seeds": seed - FIRST_SEED,
        "weeks": WEEKS,
        "start": START.isoformat(),
        "rows": {
            "episodes": len(episode_frame),
            "venues": len(venue_frame),
            "disruptions": len(disruption_frame),
        },
        "last_seen_home_or_care_home": int(ls_private.sum()),
        "found_home_or_care_home": int(found_private.sum()),
        "without_found_point": int((episode_frame["found_lat"] == "").sum()),
        "disruption_venues_distinct": int(place["venue_id"].nunique()),
        "episodes_mb": round((out / "episodes.csv").stat().st_size / 2**20, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


SETUP_ORDER = (
    ("venues", "venues.csv"),
    ("disruptions", "disruptions.csv"),
    ("episodes", "episodes.csv"),
)


def build_store(location: str, scenario: Path, settings: Any, key: str) -> dict[str, Any]:
    """Ingest the three files with ``ingest_files``; rows and seconds per kind."""
    from api.usecases.ingest import ingest_files

    out: dict[str, Any] = {}
    started = time.perf_counter()
    for kind, name in SETUP_ORDER:
        t0 = time.perf_counter()
        (report,) = ingest_files(location, kind, [scenario / name], settings=settings, key=key)
        if report.rows_quarantined or report.refused:
            msg = (
                f"{kind}: {report.rows_quarantined} rows quarantined ({report.refused}); "
                "none expected"
            )
            raise SystemExit(msg)
        out[kind] = {"rows": report.rows_stored, "seconds": round(time.perf_counter() - t0, 1)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _vacuum_schema(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema]
        ).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(schema, table)))


def _drop_schema(pg_url: str, schema: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# ------------------------------------------------------------------- timed product runs


class Phases:
    """Wrap (timer only) what ``review_disruptions`` calls, and sum seconds per phase.

    A call made inside another wrapped call is counted in the outer one only.
    ``detail`` timers (inside the model and the PDF and HTML) are kept apart
    and always count, so they split their phase without changing it.
    """

    def __init__(self, phases: tuple[str, ...]) -> None:
        self.names = phases
        self.seconds: dict[str, float] = dict.fromkeys(phases, 0.0)
        self.detail_s: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.missing: list[str] = []
        self._depth = 0
        self._phase = ""
        self._in_detail = False

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.names, 0.0)
        self.detail_s = {}
        self.calls = {}

    def _wrap(self, phase: str, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            self._phase = phase
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - t0
                self.calls[label] = self.calls.get(label, 0) + 1
                self._depth -= 1

        return timed_call

    def _wrap_detail(self, detail: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if self._in_detail:  # inside another detail timer: counted there
                return fn(*args, **kwargs)
            self._in_detail = True
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                name = f"{self._phase}: {detail}"
                self.detail_s[name] = self.detail_s.get(name, 0.0) + time.perf_counter() - t0
                self._in_detail = False

        return timed_call

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import api.usecases.review
        import api.usecases.store
        import maps.reviewfiles
        import maps.reviewpack
        import models.displacement
        import models.review
        from geo.store.gpkg import GpkgStore
        from geo.store.postgis import PostgisStore

        targets = [
            (GpkgStore, "read", "store reads"),
            (GpkgStore, "time_bounds", "store reads"),
            (PostgisStore, "read", "store reads"),
            (PostgisStore, "time_bounds", "store reads"),
            (api.usecases.store, "events_from_tables", "events frame"),
            (api.usecases.review, "grid_for", "blocks"),
            (api.usecases.review, "review", "model"),
            (api.usecases.review, "review_view", "disclosure views"),
            (maps.reviewfiles, "review_pdf", "PDF"),
            (maps.reviewfiles, "review_html", "HTML"),
            (maps.reviewfiles, "review_csv_text", "CSV and GeoJSON"),
            (maps.reviewfiles, "review_geojson_text", "CSV and GeoJSON"),
        ]
        targets = [t for t in targets if t[2] in self.names]
        details = [
            (models.review._Reviewer, "__init__", MODEL_DETAIL[0]),
            (models.review._Reviewer, "near", MODEL_DETAIL[1]),
            (models.review._Reviewer, "weeks", MODEL_DETAIL[2]),
            (models.review, "week_index", MODEL_DETAIL[2]),
            (models.review, "eligible_blocks", MODEL_DETAIL[3]),
            (models.review, "match_control", MODEL_DETAIL[4]),
            (models.review, "_placebo_dispersion", MODEL_DETAIL[5]),
            (models.displacement, "overdispersion", MODEL_DETAIL[6]),
            (models.displacement, "change_dispersion", MODEL_DETAIL[6]),
            (models.displacement, "wdd", MODEL_DETAIL[6]),
            (models.displacement, "wdq", MODEL_DETAIL[6]),
            (models.displacement, "e_test", MODEL_DETAIL[6]),
            (models.displacement, "mde", MODEL_DETAIL[6]),
            (models.review, "_series", MODEL_DETAIL[7]),
            (models.review, "overlaps", MODEL_DETAIL[8]),
        ]
        if "PDF" in self.names:
            details += [
                (maps.reviewpack, "review_series_png", CHART_DETAIL[0]),
                (maps.reviewpack, "review_map_png", CHART_DETAIL[1]),
                (maps.reviewpack, "review_cumulative_png", CHART_DETAIL[2]),
                (maps.reviewpack, "build_pdf", CHART_DETAIL[3]),
            ]
        # what the product no longer has is skipped (recorded in ``missing``)
        self.missing = [
            f"{getattr(o, '__name__', o)}.{n}" for o, n, _ in targets + details if not hasattr(o, n)
        ]
        targets = [t for t in targets if hasattr(t[0], t[1])]
        details = [t for t in details if hasattr(t[0], t[1])]
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in targets + details]
        try:
            for owner, name, phase in targets:
                label = f"{getattr(owner, '__name__', owner)}.{name}"
                setattr(owner, name, self._wrap(phase, getattr(owner, name), label))
            for owner, name, detail in details:
                setattr(owner, name, self._wrap_detail(detail, getattr(owner, name)))
            yield
        finally:
            for owner, name, fn in saved:
                setattr(owner, name, fn)


MODEL_DETAIL = (
    "sort events, KD-tree, UK weeks, block counts (_Reviewer)",
    "events near the place (_Reviewer.near)",
    "their weeks (_Reviewer.weeks, week_index)",
    "eligible control blocks (eligible_blocks)",
    "matching controls (match_control)",
    "placebo areas' dispersion (_placebo_dispersion)",
    "statistics (overdispersion, change_dispersion, wdd, wdq, e_test, mde)",
    "weekly series frames (_series)",
    "overlaps between disruptions (overlaps)",
)
"""Timers inside ``models.review.review`` (the rest of it is row bookkeeping). A timed
function called inside another (the placebo areas' weeks and dispersion) counts in the
outer one only."""
CHART_DETAIL = (
    "series charts (review_series_png)",
    "maps (review_map_png)",
    "cumulative charts (review_cumulative_png)",
    "PDF layout and write (build_pdf)",
)
"""Timers inside the PDF and the HTML (each chart is counted where it is drawn)."""


E2E_PHASES = (
    "store reads",
    "events frame",
    "blocks",
    "model",
    "disclosure views",
    "PDF",
    "HTML",
    "CSV and GeoJSON",
    "other",
)
ANALYSIS_PHASES = ("store reads", "events frame", "blocks", "model", "other")


class _Stop(Exception):
    """Raised where ``review_disruptions`` hands the model's result to the views."""

    def __init__(self, result: Any) -> None:
        super().__init__("analysis done")
        self.result = result


@contextlib.contextmanager
def stop_before_views() -> Iterator[None]:
    """Make ``review_disruptions`` stop (raising :class:`_Stop`) when its analysis is done."""
    import api.usecases.review

    saved = api.usecases.review.review_view

    def stop(result: Any, *_args: Any, **_kwargs: Any) -> Any:
        raise _Stop(result)

    api.usecases.review.review_view = stop
    try:
        yield
    finally:
        api.usecases.review.review_view = saved


def _spec() -> Any:
    from models.review_areas import ReviewSpec

    return ReviewSpec.make()  # response 150 m, buffer to 400 m, 26 weeks each side


def one_analysis(location: str, settings: Any, phases: Phases, pg_url: str) -> tuple[float, Any]:
    """One timed analysis (store read + ``review``) of every disruption; seconds, result."""
    from api.usecases.review import review_disruptions

    settle(pg_url)
    phases.reset()
    gc.collect()
    result = None
    t0 = time.perf_counter()
    try:
        with stop_before_views():
            review_disruptions(location, settings=settings, out_dir=Path("unused"), spec=_spec())
    except _Stop as stop:
        result = stop.result
    seconds = time.perf_counter() - t0
    if result is None:
        raise SystemExit("review_disruptions ended before its analysis was handed on")
    return seconds, result


def one_e2e(
    location: str, settings: Any, out_dir: Path, ids: list[str], phases: Phases, pg_url: str
) -> tuple[float, Any]:
    """One timed ``review_disruptions`` of ``ids`` with every file written; seconds, run."""
    from api.usecases.review import review_disruptions

    settle(pg_url)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    phases.reset()
    gc.collect()
    t0 = time.perf_counter()
    run = review_disruptions(
        location, settings=settings, out_dir=out_dir, spec=_spec(), disruption_ids=ids
    )
    return time.perf_counter() - t0, run


def _split(seconds: float, phases: Phases) -> dict[str, float]:
    split = {k: v for k, v in phases.seconds.items() if k != "other"}
    split["other"] = seconds - sum(split.values())
    return split


# ------------------------------------------------------------------------------ the peer


def _local_monday(ts: pd.Series) -> pd.Series:
    """Monday 00:00 (naive UK wall clock) of each UTC time's UK week."""
    local = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    return local - pd.to_timedelta(local.dt.dayofweek, unit="D")


def peer_windows(
    disrupted_at: pd.Series,
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    weeks: int,
    *,
    uk_weeks: bool = True,
) -> pd.DataFrame:
    """Before and after windows (UTC, half-open) of each disruption, as the analyst builds them.

    The disruption's own week (Monday to Monday, UK wall clock) is in
    neither window; each window is ``weeks`` whole weeks, both shortened to
    the whole weeks the data cover (from the first Monday on or after the
    first episode to the last Monday on or before the last one), as the
    review method says. ``n`` is 0 where a side has no whole week.
    ``uk_weeks=False`` is the first attempt recorded in the checks: weeks
    that start on Monday 00:00 UTC.
    """
    week = pd.Timedelta(weeks=1)
    if uk_weeks:
        monday = _local_monday(disrupted_at)
        first = _local_monday(pd.Series([data_start])).iloc[0]
        if first.tz_localize(LOCAL_TZ).tz_convert("UTC") < data_start:
            first += week
        last = _local_monday(pd.Series([data_end])).iloc[0]
    else:
        utc = disrupted_at.dt.tz_localize(None).dt.normalize()
        monday = utc - pd.to_timedelta(utc.dt.dayofweek, unit="D")
        s = data_start.tz_localize(None).normalize()
        first = s - pd.Timedelta(days=s.dayofweek)
        if first < data_start.tz_localize(None):
            first += week
        e = data_end.tz_localize(None).normalize()
        last = e - pd.Timedelta(days=e.dayofweek)
    have_before = ((monday - first).dt.days // 7).clip(lower=0)
    have_after = ((last - (monday + week)).dt.days // 7).clip(lower=0)
    n = np.minimum(np.minimum(have_before, have_after), weeks)
    n = n.where((have_before >= 1) & (have_after >= 1), 0).astype(np.int64)

    def utc(naive: pd.Series) -> pd.Series:
        if uk_weeks:
            return naive.dt.tz_localize(LOCAL_TZ).dt.tz_convert("UTC")
        return naive.dt.tz_localize("UTC")

    span = pd.to_timedelta(7 * n, unit="D")
    return pd.DataFrame(
        {
            "before_start": utc(monday - span),
            "week_start": utc(monday),
            "week_end": utc(monday + week),
            "after_end": utc(monday + week + span),
            "n": n,
        }
    )


def peer_counts(
    gpkg: str,
    spec: Any,
    timer: dict[str, float] | None = None,
    *,
    exact_circles: bool = True,
    uk_weeks: bool = True,
    limit: int | None = None,
    facts: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Response and buffer counts before and after each disruption, by hand with GeoPandas.

    What an analyst does with the GeoPackage: ``geopandas.read_file`` of the
    episodes (the layer's geometry is the last-seen point; the found point
    is built from ``found_lng``/``found_lat``) and of the disruptions; drop
    points at a home or care home; project to EPSG:27700; one buffer per
    disruption; ``geopandas.sjoin`` of the points with the buffers; the
    exact distance of each joined pair decides response (``< 150 m``) or
    buffer (``150 m <= d < 400 m``); each pair's time decides before,
    after or neither (:func:`peer_windows`); counts per disruption.

    The buffer polygon is drawn around the 400 m circle (radius
    ``400 / cos(pi / 64)``, the default 64-segment polygon circumscribing the
    circle) so that the join misses no point of the circle; a plain
    ``buffer(400)`` is inscribed in it and misses points up to 0.5 m inside
    the circle, and a plain ``buffer(150)`` those up to 0.2 m inside (the
    checks count them). The distance test then gives what the review's
    areas are: the response area open at 150 m, the buffer closed at 150 m
    and open at 400 m.

    ``exact_circles=False`` and ``uk_weeks=False`` give the first attempt
    that the checks record: plain ``buffer(150)`` and
    ``buffer(400) - buffer(150)`` polygons joined with no distance test, and
    weeks starting on Monday 00:00 UTC. ``limit`` keeps the first disruptions
    by id; ``facts`` receives the number of joined pairs and how close the
    closest of them lies to 150 m or 400 m (where ``<`` and ``<=`` differ).
    """
    import geopandas as gpd

    clock = time.perf_counter()
    marks: dict[str, float] = {}

    def mark(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        marks[name] = marks.get(name, 0.0) + now - clock
        clock = now

    episodes = gpd.read_file(
        gpkg,
        layer="episodes",
        columns=[
            "last_seen_at",
            "last_seen_place_type",
            "found_at",
            "found_lat",
            "found_lng",
            "found_place_type",
        ],
        engine="pyogrio",
    )
    disruptions = gpd.read_file(
        gpkg, layer="disruptions", columns=["disruption_id", "disrupted_at"], engine="pyogrio"
    )
    if limit is not None:
        disruptions = disruptions.sort_values("disruption_id").head(limit)
    mark("read")
    data_start = episodes["last_seen_at"].min()
    data_end = episodes["last_seen_at"].max()
    seen = episodes.loc[
        ~episodes["last_seen_place_type"].isin(PRIVATE), ["last_seen_at", "geometry"]
    ].rename(columns={"last_seen_at": "at"})
    found_rows = episodes.loc[
        episodes["found_lat"].notna()
        & episodes["found_at"].notna()
        & ~episodes["found_place_type"].isin(PRIVATE)
    ]
    found = gpd.GeoDataFrame(
        {"at": found_rows["found_at"]},
        geometry=gpd.points_from_xy(found_rows["found_lng"], found_rows["found_lat"]),
        crs=episodes.crs,
    )
    points = pd.concat([seen, found], ignore_index=True).to_crs(27700)
    places = disruptions.loc[disruptions.geometry.notna()].to_crs(27700).reset_index(drop=True)
    windows = peer_windows(
        places["disrupted_at"], data_start, data_end, spec.before_weeks, uk_weeks=uk_weeks
    )
    places = places.join(windows)
    places = places.loc[places["n"] > 0].reset_index(drop=True)
    attrs = places.drop(columns="geometry")
    if exact_circles:
        outer = spec.outer_m / math.cos(math.pi / 64)
        areas = {"near": places.buffer(outer)}
    else:
        inner = places.buffer(spec.response_m)
        areas = {"response": inner, "buffer": places.buffer(spec.outer_m).difference(inner)}
    mark("prepare")
    joined = {
        name: gpd.sjoin(points, gpd.GeoDataFrame(attrs, geometry=geom, crs=places.crs))
        for name, geom in areas.items()
    }
    mark("sjoin")
    out = pd.DataFrame({"disruption_id": places["disruption_id"].to_numpy()})
    for name, pairs in joined.items():
        which = pairs["index_right"].to_numpy()
        at = pairs["at"]
        sides = {
            "before": ((at >= pairs["before_start"]) & (at < pairs["week_start"])).to_numpy(),
            "after": ((at >= pairs["week_end"]) & (at < pairs["after_end"])).to_numpy(),
        }
        if exact_circles:
            centre = places.geometry.iloc[which]
            dist = pairs.geometry.distance(centre, align=False).to_numpy()
            if facts is not None:
                facts["pairs_joined"] = len(pairs)
                edge = np.minimum(np.abs(dist - spec.response_m), np.abs(dist - spec.outer_m))
                facts["closest_to_150_or_400_m"] = float(edge.min()) if len(edge) else None
            kept = {
                "response": dist < spec.response_m,
                "buffer": (dist >= spec.response_m) & (dist < spec.outer_m),
            }
        else:
            kept = {name: np.ones(len(pairs), dtype=bool)}
        for area, inside_area in kept.items():
            for side, inside in sides.items():
                hit = which[inside_area & inside]
                out[f"{area}_{side}"] = np.bincount(hit, minlength=len(places))
    mark("count")
    if timer is not None:
        timer.update(marks)
    return out


# ------------------------------------------------------------------------------- checks


def _per_disruption(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.loc[rows["disruption_id"].astype(str) != ""].set_index("disruption_id")


def same_analysis(a: Any, b: Any) -> dict[str, Any]:
    """The two stores' review tables are equal; facts of the review."""
    left = a.rows.reset_index(drop=True)
    right = b.rows.reset_index(drop=True)
    try:
        pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-9)
    except AssertionError as exc:
        raise SystemExit(f"the two stores' reviews differ: {exc}") from exc
    try:
        pd.testing.assert_frame_equal(left, right, check_exact=True)
        exact = True
    except AssertionError:
        exact = False
    per = _per_disruption(left)
    reviewed = per["reviewed"].astype(bool)
    weeks = per.loc[reviewed, "before_weeks"]
    return {
        "rows_equal": True,
        "rows_identical": exact,
        "disruptions": len(per),
        "reviewed": int(reviewed.sum()),
        "not_reviewed_reasons": per.loc[~reviewed, "reason"].astype(str).tolist(),
        "full_26_weeks": int((weeks == 26).sum()),
        "shortened_windows_weeks_min": int(weeks.min()) if len(weeks) else None,
        "pooled_rows": int((left["disruption_id"].astype(str) == "").sum()),
        "series_rows": len(a.series),
        "totals": {c: int(per[c].sum()) for c in COUNT_COLUMNS},
    }


def same_counts(product: Any, peer: pd.DataFrame) -> dict[str, Any]:
    """The peer's four counts equal the product's for every disruption (stops if not)."""
    ours = _per_disruption(product.rows)
    with_counts = ours.loc[ours[list(COUNT_COLUMNS)].notna().all(axis=1)]
    theirs = peer.set_index("disruption_id")
    problems = []
    if sorted(theirs.index) != sorted(with_counts.index):
        problems.append(
            f"disruptions counted: peer {len(theirs)}, product {len(with_counts)} "
            f"(only peer: {sorted(set(theirs.index) - set(with_counts.index))[:5]}, "
            f"only product: {sorted(set(with_counts.index) - set(theirs.index))[:5]})"
        )
    else:
        for col in COUNT_COLUMNS:
            a = with_counts[col].astype(np.int64)
            b = theirs.loc[with_counts.index, col].astype(np.int64)
            bad = a.index[(a != b).to_numpy()]
            if len(bad):
                problems.append(f"{col} differs for {len(bad)} disruptions, e.g. {bad[0]}")
    if problems:
        raise SystemExit("the peer's counts differ from the product's: " + "; ".join(problems))
    return {
        "disruptions_compared": len(theirs),
        "all_four_counts_equal": True,
        "totals": {c: int(theirs[c].sum()) for c in COUNT_COLUMNS},
    }


def first_attempts(gpkg: str, product: Any, spec: Any, limit: int) -> dict[str, Any]:
    """How far the plainer peers are from the product, on the first ``limit`` disruptions."""
    ours = _per_disruption(product.rows)
    out: dict[str, Any] = {"disruptions": limit}
    variants = {
        "buffer(150) and buffer(400) - buffer(150) polygons, no distance test": {
            "exact_circles": False
        },
        "weeks from Monday 00:00 UTC": {"uk_weeks": False},
    }
    for name, kwargs in variants.items():
        theirs = peer_counts(gpkg, spec, limit=limit, **kwargs).set_index("disruption_id")
        mine = ours.loc[theirs.index, list(COUNT_COLUMNS)].astype(np.int64)
        diff = theirs[list(COUNT_COLUMNS)] != mine
        out[name] = {
            "disruptions_differing": int(diff.any(axis=1).sum()),
            "per_count": {c: int(diff[c].sum()) for c in COUNT_COLUMNS},
            "events_differing": int((theirs[list(COUNT_COLUMNS)] - mine).abs().to_numpy().sum()),
        }
    return out


def _pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", path.read_bytes()))


def same_e2e(a: Any, b: Any, analysis: Any, ids: list[str]) -> dict[str, Any]:
    """Both stores wrote the five files, the same rows, and the analysis' counts."""
    from maps.reviewfiles import REVIEW_FILES

    problems = []
    for run in (a, b):
        missing = [n for n in REVIEW_FILES if not (run.out / n).is_file()]
        if missing:
            problems.append(f"{run.out}: missing {missing}")
    try:
        pd.testing.assert_frame_equal(
            a.rows.reset_index(drop=True), b.rows.reset_index(drop=True), check_exact=True
        )
    except AssertionError as exc:
        problems.append(f"rows differ between the stores: {exc}")
    shown = _per_disruption(a.rows)
    full = _per_disruption(analysis.rows).loc[ids]
    for col in COUNT_COLUMNS:
        if (
            col in shown.columns
            and not (shown.loc[ids, col].astype(np.int64) == full[col].astype(np.int64)).all()
        ):
            problems.append(f"{col}: end-to-end rows differ from the analysis")
    if problems:
        raise SystemExit("end-to-end check failed: " + "; ".join(problems))
    sizes = {n: round((a.out / n).stat().st_size / 2**20, 2) for n in REVIEW_FILES}
    return {
        "files": list(REVIEW_FILES),
        "file_mb": sizes,
        "pdf_pages": _pdf_pages(a.out / "review.pdf"),
        "reviewed": int(a.run["disruptions"]["reviewed"]),
        "counts_equal_to_the_analysis": True,
        "rows_equal_between_stores": True,
    }


# ---------------------------------------------------------------------------------- run


GPKG = "GeoPackage store: review_disruptions() read + review()"
PG = "PostGIS store: review_disruptions() read + review()"
PEER = "peer: read_file + buffer + sjoin + window counts (counts only)"
PEER_PHASES = ("read", "prepare", "sjoin", "count")
E2E_GPKG = "GeoPackage store: review_disruptions(), 5 files written"
E2E_PG = "PostGIS store: review_disruptions(), 5 files written"
NAIVE_LIMIT = 100
"""Disruptions on which the plainer peers are compared (recorded, not timed)."""


def _of_which(side: str, phase: str) -> str:
    return f"{side.split(':')[0]}: of which {phase}"


def _detail_table(title: str, meta: dict[str, Any], key: str) -> str:
    """Median seconds of each detail timer per side (markdown)."""
    sides = list(meta[key])
    lines = [
        f"| {title} | " + " | ".join(f"{s.split(':')[0]} median s" for s in sides) + " |",
        "|---|" + "---:|" * len(sides),
    ]
    names = list(dict.fromkeys(k for side in sides for run in meta[key][side] for k in run))
    for name in names:
        cells = []
        for side in sides:
            values = [run.get(name, 0.0) for run in meta[key][side]]
            cells.append(f"{float(np.median(values)):.3g}" if values else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(
    rows: int, pg_url: str, repeat: int, disruptions: int = 1000, e2e: int = E2E_DISRUPTIONS
) -> list[dict[str, Any]]:
    """The review benchmark on stores of ``rows`` episodes and ``disruptions`` disruptions."""
    from api.settings import Settings
    from geo.pseudonym import KEY_ENV, generate_key

    e2e = min(e2e, disruptions)
    schema = f"bench_review_{os.getpid()}"
    pg_location = f"{pg_url}?schema={schema}"
    key = os.environ.get(KEY_ENV) or generate_key()  # held in memory only
    spec = _spec()
    an_cases = {name: Timing() for name in (GPKG, PG, PEER)}
    for side in (GPKG, PG):
        for phase in ANALYSIS_PHASES:
            an_cases[_of_which(side, phase)] = Timing()
    for phase in PEER_PHASES:
        an_cases[_of_which(PEER, phase)] = Timing()
    e2e_cases = {name: Timing() for name in (E2E_GPKG, E2E_PG)}
    for side in (E2E_GPKG, E2E_PG):
        for phase in E2E_PHASES:
            e2e_cases[_of_which(side, phase)] = Timing()
    an_meta: dict[str, Any] = {"code": code_version()}
    e2e_meta: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="engage-bench-review-") as tmp:
        work = Path(tmp)
        scenario = work / "scenario"
        scenario.mkdir()
        gpkg_location = str(work / "engage.gpkg")
        stores = {
            "GeoPackage": (gpkg_location, Settings(store=gpkg_location, quarantine_dir=work / "q")),
            "PostGIS": (pg_location, Settings(store=pg_location, quarantine_dir=work / "q")),
        }
        try:
            log(f"Review: simulating {rows:,} episodes ({WEEKS} weeks per seed)")
            an_meta["scenario"] = write_scenario(scenario, rows, disruptions)
            log(f"  {an_meta['scenario']}")
            an_meta["setup"] = {}
            for name, (location, settings) in stores.items():
                log(f"Review: ingesting into {name} (untimed setup)")
                if name == "PostGIS":
                    _drop_schema(pg_url, schema)
                built = build_store(location, scenario, settings, key)
                if name == "PostGIS":
                    t0 = time.perf_counter()
                    _vacuum_schema(pg_url, schema)
                    built["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
                else:
                    built["file_mb"] = round(Path(location).stat().st_size / 2**20, 1)
                an_meta["setup"][name] = built
                log(f"  {built}")
            sides = {GPKG: stores["GeoPackage"], PG: stores["PostGIS"]}

            # ---- (b) and (c): the analysis of every disruption, and the peer
            phases = Phases(ANALYSIS_PHASES)
            an_meta["load_average_before"] = [round(v, 2) for v in os.getloadavg()]
            with phases.installed():
                log(f"Review analysis: warm-up ({disruptions:,} disruptions), outputs compared")
                warm: dict[str, Any] = {}
                warm_s: dict[str, float] = {}
                for side, (location, settings) in sides.items():
                    warm_s[side], warm[side] = one_analysis(location, settings, phases, pg_url)
                settle(pg_url)
                peer_facts: dict[str, Any] = {}
                t0 = time.perf_counter()
                warm[PEER] = peer_counts(gpkg_location, spec, facts=peer_facts)
                warm_s[PEER] = time.perf_counter() - t0
                an_meta["warmup_s"] = {k: round(v, 2) for k, v in warm_s.items()}
                an_meta["timers_not_installed"] = phases.missing
                checks = {"stores": same_analysis(warm[GPKG], warm[PG])}
                checks["peer"] = {**same_counts(warm[GPKG], warm[PEER]), **peer_facts}
                log(f"  stores agree: {checks['stores']}")
                log(f"  peer agrees: {checks['peer']}")
                checks["first_attempts"] = first_attempts(
                    gpkg_location, warm[GPKG], spec, min(NAIVE_LIMIT, disruptions)
                )
                log(f"  plainer peers (not timed): {checks['first_attempts']}")
                an_meta["checks"] = checks
                analysis_result = warm[GPKG]
                del warm
                with cpu_usage(an_meta):
                    for r in range(repeat):
                        order = [GPKG, PG, PEER] if r % 2 == 0 else [PEER, PG, GPKG]
                        for side in order:
                            if side == PEER:
                                settle(pg_url)
                                marks: dict[str, float] = {}
                                gc.collect()
                                t0 = time.perf_counter()
                                peer_counts(gpkg_location, spec, marks)
                                seconds = time.perf_counter() - t0
                                split = {p: marks.get(p, 0.0) for p in PEER_PHASES}
                            else:
                                location, settings = sides[side]
                                seconds, _ = one_analysis(location, settings, phases, pg_url)
                                split = _split(seconds, phases)
                                detail = an_meta.setdefault("model_detail_s", {})
                                detail.setdefault(side, []).append(
                                    {k: round(v, 4) for k, v in phases.detail_s.items()}
                                )
                            an_cases[side].samples.append(seconds)
                            for phase, value in split.items():
                                an_cases[_of_which(side, phase)].samples.append(value)
                            parts = ", ".join(f"{k} {v:.2f}" for k, v in split.items())
                            log(f"  run {r + 1}/{repeat} {side}: {seconds:.2f} s ({parts})")
            an_meta["load_average_after"] = [round(v, 2) for v in os.getloadavg()]

            # ---- (a): end to end, files written, on the first `e2e` disruptions
            ids = sorted(_per_disruption(analysis_result.rows).index)[:e2e]
            e2e_sides = {E2E_GPKG: stores["GeoPackage"], E2E_PG: stores["PostGIS"]}
            phases = Phases(E2E_PHASES)
            e2e_meta["disruptions"] = ids
            e2e_meta["load_average_before"] = [round(v, 2) for v in os.getloadavg()]
            with phases.installed():
                log(f"Review end to end: warm-up ({e2e} disruptions), outputs compared")
                warm_runs = {}
                warm_s = {}
                for i, (side, (location, settings)) in enumerate(e2e_sides.items()):
                    out = work / f"e2e_warm_{i}"
                    warm_s[side], warm_runs[side] = one_e2e(
                        location, settings, out, ids, phases, pg_url
                    )
                e2e_meta["warmup_s"] = {k: round(v, 2) for k, v in warm_s.items()}
                e2e_meta["timers_not_installed"] = phases.missing
                e2e_meta["checks"] = same_e2e(
                    warm_runs[E2E_GPKG], warm_runs[E2E_PG], analysis_result, ids
                )
                log(f"  end-to-end files agree: {e2e_meta['checks']}")
                with cpu_usage(e2e_meta):
                    for r in range(repeat):
                        order = [E2E_GPKG, E2E_PG] if r % 2 == 0 else [E2E_PG, E2E_GPKG]
                        for side in order:
                            location, settings = e2e_sides[side]
                            seconds, _ = one_e2e(
                                location, settings, work / "e2e", ids, phases, pg_url
                            )
                            split = _split(seconds, phases)
                            e2e_cases[side].samples.append(seconds)
                            for phase, value in split.items():
                                e2e_cases[_of_which(side, phase)].samples.append(value)
                            detail = e2e_meta.setdefault("detail_s", {})
                            detail.setdefault(side, []).append(
                                {k: round(v, 4) for k, v in phases.detail_s.items()}
                            )
                            parts = ", ".join(f"{k} {v:.2f}" for k, v in split.items())
                            log(f"  run {r + 1}/{repeat} {side}: {seconds:.2f} s ({parts})")
            e2e_meta["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
        finally:
            _drop_schema(pg_url, schema)
            log("Review: benchmark schema dropped")
    an_title = f"Review analysis, {disruptions:,} disruptions, store of {rows:,} episodes"
    e2e_title = f"Review end to end, {e2e:,} of {disruptions:,} disruptions, files written"
    pdf_share = {
        side: round(e2e_cases[_of_which(side, "PDF")].median / e2e_cases[side].median, 3)
        for side in (E2E_GPKG, E2E_PG)
    }
    e2e_meta["pdf_share_of_median"] = pdf_share
    return [
        {
            "title": an_title,
            "rows": disruptions,
            "episodes": rows,
            "cases": {name: t.as_dict(disruptions) for name, t in an_cases.items()},
            "ratios": [
                compare(an_cases, PG, GPKG),
                compare(an_cases, GPKG, PEER),
                compare(an_cases, PG, PEER),
            ],
            "ratio_meaning": (
                "PostGIS vs GeoPackage: GeoPackage s / PostGIS s; product vs peer: peer s / "
                "product s (above 1: the first named is faster). The product's side also "
                "matches controls and computes every statistic; the peer only counts."
            ),
            "notes": "rows/s is disruptions reviewed per second.",
            "extra_markdown": _detail_table(
                f"{an_title}: inside review()", an_meta, "model_detail_s"
            ),
            **an_meta,
        },
        {
            "title": e2e_title,
            "rows": e2e,
            "episodes": rows,
            "cases": {name: t.as_dict(e2e) for name, t in e2e_cases.items()},
            "ratios": [compare(e2e_cases, E2E_PG, E2E_GPKG)],
            "ratio_meaning": "GeoPackage s / PostGIS s (above 1: the PostGIS store is faster)",
            "notes": "rows/s is disruptions reviewed per second, files included.",
            "extra_markdown": _detail_table(f"{e2e_title}: inside the phases", e2e_meta, "detail_s")
            + "\n\nPDF share of the median end-to-end run: "
            + ", ".join(f"{k.split(':')[0]} {v:.0%}" for k, v in pdf_share.items()),
            **e2e_meta,
        },
    ]
