"""A synthetic Blackburn with Darwen scenario with a known truth.

:func:`simulate` writes five files that look like what a force and its
partners hold: missing-from-home episodes, venues, graded intelligence reports
about venues, disruptions, and ``truth.json``, the answer key that says which
venues were really used for exploitation, how strongly, what each disruption
did and where the activity moved. Models, packs and reviews are tested
against it.

The scenario lives on the real ward and LSOA geography but is wholly
invented: children are ``SYN-C0001``-style ids, venues are ``Takeaway 3`` or
``Hotel 1``, and no name, address or date of birth exists anywhere.

How the scenario is made
------------------------
* **Children and episodes.** Children go missing in *careers*: a career starts
  with an episode and goes on for a while, with gaps between episodes drawn
  from a gamma renewal process (regular for frequent children, irregular for
  occasional ones). Three tiers give the long tail seen in real MFH data:
  two *chronic* children are active at any time (a relay of two-year careers
  at 1.15-1.4 episodes a week, so the most-reported child in any year has
  60-73 episodes), some tens of *frequent* children (a few to twenty-odd
  episodes over four months to a year and a half), and many *occasional*
  children who go missing once or twice. Careers that began before the period
  run into it, so the process is stationary and the counts scale with
  ``weeks`` (about 16.3 episodes a week, 850 a year).
* **Care.** About 20% of episodes come from children in care: children are
  placed in care, favouring frequent runners, until their episodes reach that
  share. They live in 6-10 care homes.
* **Exploitation.** About 12% of children, chosen favouring children in care
  and repeat runners, are exploited. Fifteen *core* planted venues have a
  lognormal latent intensity (a few dominate), the expected number of
  episodes a week in which an exploited child is found within about 150 m of
  the venue (Gaussian scatter, 50 m a coordinate); together they take
  :data:`VENUE_FOUND_SHARE` of those episodes. Exploited children are also
  last seen near venues (80 m scatter), in proportion to the same
  intensities, and in public more often. Other children are found mostly at
  home, in public, at a friend's (``unknown``) or at school, sometimes near
  innocent places (:data:`INNOCENT_FOUND_SHARE` of their episodes at each),
  which also attract intelligence reports.
* **Disruptions.** By default :data:`DISRUPTIONS` disruptions with an effect
  and :data:`PLACEBOS` placebos, two of each for each of five tactics
  (closure order, licensing review, Makesafe visit, CAWN, patrol), each at a
  venue of its own that the scenario adds for it, **never at a core venue**,
  so the ten strongest planted venues keep their meaning for the weekly
  pack. Effects, and half the placebos, are at *moderate* planted venues,
  whose intensity is :data:`MODERATE_RANGE` of the 10th strongest core
  venue's (below the ten strongest by construction; all moderate venues
  together take at most :data:`MODERATE_FOUND_SHARE_MAX` of exploited
  children's episodes). An effect removes a share :data:`CUT_RANGE` of its
  venue's intensity (and of its reports) from the disruption on, and a share
  :data:`DISPLACED_SHARE_RANGE` of what it removes appears at a new site
  200-350 m away on a random bearing, inside the 150-400 m buffer ring a
  review draws. Placebos change nothing: half are at moderate planted venues
  (an action that did not work), half at innocent venues (a place wrongly
  suspected). Each falls on a weekday in a week with :func:`window_weeks`
  whole weeks before and after it inside the period: 26 from 53 weeks on,
  else ``(weeks - 1) // 2`` (25 for a year, 1 for four weeks, 0 for one or
  two, where the disruptions are still planted but no window is left).
  Disrupted places lie 1 km apart (their 400 m areas never overlap), 600 m
  from every other venue and care home, with the whole 400 m area inside
  the district. Closure orders and licensing reviews (not at houses) are
  public, patrols leave it blank, the rest are not public. ``truth.json``
  lists each disruption with its cut, displacement site and the expected
  events in its response area and buffer ring over the two windows.
* **Timing.** Episode times follow a weekly profile: most children are last
  seen between 15:00 and midnight, with more on Friday and Saturday. Times
  are local UK wall-clock times; times in the hour that the clocks skip (or
  repeat) are moved to 02:00 so every time is unambiguous.

Every point is sampled in British National Grid metres inside Blackburn with
Darwen (homes uniformly inside LSOAs weighted by inverse area, a density
proxy) and written as WGS84 degrees with six decimals. All randomness comes
from ``numpy.random.default_rng(seed)``, and the disruptions' from
``numpy.random.default_rng([seed, 1])``, so their number changes where
children are found but not who went missing when: the same ``seed``,
``weeks``, ``start`` and numbers of disruptions give byte-identical files.
Without a ``start`` the period ends on the last Monday before today (UK
time, :func:`default_start`), so a scenario of any length holds no future
date.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy import special
from shapely.geometry.base import BaseGeometry

from geo.boundaries import BWD, districts, lsoas
from geo.checks import LOCAL_TZ
from geo.crs import BNG, bng_to_latlng, latlng_to_bng
from geo.errors import ValidationError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_WEEKS = 520
"""Longest scenario, in weeks (ten years)."""

EPISODES_PER_WEEK = 16.3
"""Target mean MFH episodes a week (about 850 a year), as in Blackburn with Darwen."""

IN_CARE_SHARE = 0.20
"""Target share of episodes from children in care."""

EXPLOITED_SHARE = 0.12
"""Share of children (with an episode in the period) who are exploited."""

VENUE_FOUND_SHARE = 0.6
"""Share of exploited children's (closed) episodes found near the core planted
venues (the strongest fifteen), before any disruption."""

DISRUPTIONS = 10
"""Disruptions with an effect planted by default: two for each of five tactics."""

PLACEBOS = 10
"""Placebo disruptions (no effect) planted by default: two for each tactic, one at a
moderate planted venue and one at an innocent venue."""

MAX_DISRUPTION_PLACES = 24
"""Most disruptions and placebos together: each needs a place 1 km from the others."""

CUT_RANGE = (0.6, 0.9)
"""Share of a disrupted venue's intensity removed from the disruption on (uniform)."""

DISPLACED_SHARE_RANGE = (0.2, 0.5)
"""Share of the removed intensity that moves to the displacement site (uniform)."""

MODERATE_RANGE = (0.6, 0.95)
"""Intensity of a moderate planted venue, as a share of the 10th strongest core
venue's (uniform): weaker than the ten strongest by construction."""

MODERATE_FOUND_SHARE_MAX = 0.2
"""Most of exploited children's (closed) episodes found near the moderate venues
together; their intensities are scaled down to keep within it."""

WINDOW_WEEKS = 26
"""Weeks before and after a disruption's own week that lie inside the period, where
the period is long enough (:func:`window_weeks`)."""

RESPONSE_M = 150.0
"""Radius (metres) of a disruption's response area, as a review draws it."""

BUFFER_M = 400.0
"""Outer radius (metres) of the buffer ring around the response area."""

DISRUPTION_SPACING_M = 1000.0
"""Least distance (metres) between two disrupted places: their 400 m areas never overlap."""

DISRUPTION_CLEARANCE_M = 600.0
"""Least distance (metres) from a disrupted place to the other venues and the care homes."""

DISPLACEMENT_DISTANCE_M = (200.0, 350.0)
"""Distance (metres, uniform) from a disrupted venue to its displacement site: inside
the 150-400 m buffer ring with most of the site's scatter."""

INNOCENT_FOUND_SHARE = 0.01
"""Share of other children's (closed) episodes found near each innocent venue."""

VENUE_SIGMA_M = 50.0
"""Gaussian scatter (metres, per coordinate) of found points around a venue."""

OPEN_WINDOW_DAYS = 21
"""Episodes last seen in the final days of the period (three weeks) may still be open."""

OPEN_SHARE_LATE = 0.15
"""Share of children's last episodes in the final :data:`OPEN_WINDOW_DAYS` still open."""

MINUTES_PER_WEEK = 7 * 24 * 60
_MIN_GAP_WEEKS = 0.5 / 7  # 12 hours between a child's episodes, before the weekly warp
_MIN_GAP_MIN = 120  # minutes; a safety net after the warp

# Weekly profile of last-seen times: Monday..Sunday, and hours 0..23.
_DAY_WEIGHTS = np.array([0.95, 0.95, 1.0, 1.05, 1.35, 1.4, 1.0])
_HOUR_WEIGHTS = np.array(
    [
        *(1.0, 0.6, 0.4, 0.3, 0.25, 0.25, 0.3, 0.5, 0.7, 0.6, 0.6, 0.7),
        *(0.8, 0.8, 1.0, 1.8, 2.4, 2.6, 2.8, 3.0, 3.1, 3.0, 2.6, 1.8),
    ]
)

# Planted (exploitation) and innocent venues, by type.
_PLANTED_TYPES = (
    ("hotel", 2),
    ("takeaway", 4),
    ("taxi_rank", 2),
    ("licensed_premises", 2),
    ("park", 1),
    ("house", 2),
    ("car_park", 1),
    ("shisha_bar", 1),
)
_INNOCENT_TYPES = (
    ("shop", 2),
    ("takeaway", 2),
    ("licensed_premises", 1),
    ("park", 1),
    ("car_park", 1),
    ("hotel", 1),
)
_TYPE_LABELS = {
    "hotel": "Hotel",
    "takeaway": "Takeaway",
    "taxi_rank": "Taxi rank",
    "licensed_premises": "Licensed premises",
    "park": "Park",
    "house": "House",
    "car_park": "Car park",
    "shisha_bar": "Shisha bar",
    "shop": "Shop",
}
_OUTDOOR_TYPES = ("park", "car_park")
# Disruption tactics (geo.schemas.TACTICS), the venue types each fits, and the note.
_DISRUPTION_TACTICS = (
    (
        "closure_order",
        ("takeaway", "shisha_bar", "house"),
        "Premises closure order granted after partnership intelligence.",
    ),
    (
        "licensing_review",
        ("licensed_premises", "takeaway"),
        "Licence reviewed; conditions added on intelligence.",
    ),
    (
        "makesafe_visit",
        ("hotel", "taxi_rank"),
        "Operation Makesafe visit; staff briefed on the signs of exploitation.",
    ),
    ("cawn", ("house",), "Child Abduction Warning Notices served on adults linked to the address."),
    ("patrol", ("park", "car_park"), "Evening patrols after partnership intelligence."),
)
# Closure orders and licensing reviews are matters of public record (houses aside);
# a patrol's record says nothing either way; the rest are not public.
_PUBLIC_TACTICS = ("closure_order", "licensing_review")
_LAST_SEEN_SIGMA_M = 80.0  # scatter of last-seen points around a source
_INNOCENT_SIGMA_M = 60.0  # scatter of found points around an innocent venue

# 3x5x2 gradings: probabilities of 1/2/3, A-E and P/C.
_GRADES_PLANTED = ((0.45, 0.40, 0.15), (0.20, 0.35, 0.30, 0.10, 0.05), (0.8, 0.2))
_GRADES_INNOCENT = ((0.15, 0.45, 0.40), (0.03, 0.12, 0.35, 0.30, 0.20), (0.8, 0.2))
_REPORTS_PER_FOUND = 0.9  # intelligence reports a week per unit of venue intensity

EPISODE_COLUMNS = (
    "episode_id",
    "child_id",
    "reported_at",
    "last_seen_at",
    "last_seen_lat",
    "last_seen_lng",
    "last_seen_place_type",
    "found_at",
    "found_lat",
    "found_lng",
    "found_place_type",
    "in_care",
    "risk_level",
)
VENUE_COLUMNS = ("venue_id", "name", "venue_type", "lat", "lng", "public")
REPORT_COLUMNS = (
    "report_id",
    "venue_id",
    "reported_at",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
)
DISRUPTION_COLUMNS = (
    "disruption_id",
    "venue_id",
    "disrupted_at",
    "lat",
    "lng",
    "tactic",
    "note",
    "public",
)


@dataclass(frozen=True)
class ScenarioFiles:
    """Where :func:`simulate` wrote the scenario, and how many rows each file holds.

    Row counts exclude the header.
    """

    out_dir: Path
    episodes: Path
    venues: Path
    venue_reports: Path
    disruptions: Path
    truth: Path
    n_episodes: int
    n_children: int
    n_venues: int
    n_venue_reports: int
    n_disruptions: int

    @property
    def csv_files(self) -> tuple[Path, ...]:
        """The four CSV files, in ingest order (venues before their reports)."""
        return (self.venues, self.venue_reports, self.disruptions, self.episodes)


# --------------------------------------------------------------------------- geography


@dataclass(frozen=True)
class _Geography:
    """Blackburn with Darwen in BNG metres: LSOA polygons and the district outline."""

    lsoa_geoms: npt.NDArray[np.object_]
    lsoa_bounds: FloatArray  # (n, 4): xmin, ymin, xmax, ymax
    lsoa_area_m2: FloatArray
    area: BaseGeometry

    def lsoa_weights(self, power: float) -> FloatArray:
        """Probabilities of LSOAs proportional to ``area ** -power`` (a density proxy)."""
        w = self.lsoa_area_m2**-power
        return w / w.sum()

    def inside(self, x: FloatArray, y: FloatArray) -> BoolArray:
        """Whether BNG points (metres) lie inside the district."""
        return np.asarray(shapely.contains_xy(self.area, x, y), dtype=bool)

    def sample(
        self, rng: np.random.Generator, n: int, power: float
    ) -> tuple[FloatArray, FloatArray]:
        """``n`` BNG points: an LSOA drawn with weight ``area ** -power``, then uniform inside it.

        Vectorised rejection sampling within each chosen LSOA's bounding box.
        """
        idx = rng.choice(self.lsoa_area_m2.size, size=n, p=self.lsoa_weights(power))
        x = np.empty(n)
        y = np.empty(n)
        todo = np.arange(n)
        for _ in range(200):
            if todo.size == 0:
                break
            b = self.lsoa_bounds[idx[todo]]
            cx = b[:, 0] + rng.random(todo.size) * (b[:, 2] - b[:, 0])
            cy = b[:, 1] + rng.random(todo.size) * (b[:, 3] - b[:, 1])
            ok = shapely.contains_xy(self.lsoa_geoms[idx[todo]], cx, cy) & self.inside(cx, cy)
            x[todo[ok]] = cx[ok]
            y[todo[ok]] = cy[ok]
            todo = todo[~ok]
        if todo.size:  # pragma: no cover - would need a degenerate polygon
            msg = "could not sample points inside the LSOA polygons; check the boundary files."
            raise RuntimeError(msg)
        return x, y

    def scatter(
        self,
        rng: np.random.Generator,
        cx: FloatArray,
        cy: FloatArray,
        sigma_m: float | FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Gaussian scatter (``sigma_m`` metres a coordinate) around BNG centres, kept inside.

        Points falling outside the district are drawn again; after 50 tries a
        point stays at its centre.
        """
        n = cx.size
        sig = np.broadcast_to(np.asarray(sigma_m, dtype=np.float64), (n,))
        x = cx.copy()
        y = cy.copy()
        todo = np.arange(n)
        for _ in range(50):
            if todo.size == 0:
                break
            px = cx[todo] + rng.normal(0.0, 1.0, todo.size) * sig[todo]
            py = cy[todo] + rng.normal(0.0, 1.0, todo.size) * sig[todo]
            ok = self.inside(px, py)
            x[todo[ok]] = px[ok]
            y[todo[ok]] = py[ok]
            todo = todo[~ok]
        return x, y


@cache
def _geography() -> _Geography:
    ls = lsoas().to_crs(BNG)
    geoms = ls.geometry.to_numpy()
    d = districts().to_crs(BNG)
    area = shapely.union_all(d[d["code"] == BWD].geometry.to_numpy())
    shapely.prepare(area)
    for g in geoms:
        shapely.prepare(g)
    return _Geography(
        lsoa_geoms=geoms,
        lsoa_bounds=np.asarray(shapely.bounds(geoms), dtype=np.float64),
        lsoa_area_m2=np.asarray(shapely.area(geoms), dtype=np.float64),
        area=area,
    )


# --------------------------------------------------------------------------- children


@dataclass(frozen=True)
class _Tier:
    """One tier of missing careers (rates per week, durations in weeks)."""

    name: str
    shape: float  # gamma shape of the gaps: 1 irregular, larger more regular
    arrivals_per_week: float
    rate_median: float
    rate_sigma: float
    rate_bounds: tuple[float, float]
    duration_weeks: tuple[float, float]


# Chronic children are a relay (see _chronic_careers); these tiers arrive at random.
_CHRONIC_SPACING_WEEKS = 52.0
_CHRONIC_RATE = (1.15, 1.4)
_CHRONIC_SHAPE = 6.0
_FREQUENT = _Tier("frequent", 2.0, 1.15, 0.09, 0.4, (0.04, 0.4), (16.0, 70.0))
_OCCASIONAL = _Tier("occasional", 1.0, 5.6, 0.06, 0.5, (0.02, 0.2), (1.0, 12.0))
# Calibrated (400 seeds, 52 weeks): 850 episodes (sd 47), about 400 children,
# most-reported child 66 (sd 5); chronic 133, frequent 297, occasional 419 episodes.


def _renewal(
    rng: np.random.Generator,
    start: FloatArray,
    rate: FloatArray,
    duration: FloatArray,
    shape: float,
) -> tuple[IntArray, FloatArray]:
    """Episode times (weeks) of careers: one at the start, then gamma gaps until the end.

    Returns the career index and time of each episode, grouped by career and
    in time order within it.
    """
    n = start.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    width = int(np.ceil((rate * duration).max() * 1.5)) + 20
    while True:
        gaps = rng.gamma(shape, 1.0 / (shape * rate[:, None]), size=(n, width))
        gaps = np.maximum(gaps, _MIN_GAP_WEEKS)
        times = start[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(gaps, axis=1)], axis=1)
        end = (start + duration)[:, None]
        if (times[:, -1] >= end[:, 0]).all():
            break
        width *= 2  # pragma: no cover - the first width is ample
    keep = times < end
    career = np.broadcast_to(np.arange(n)[:, None], times.shape)[keep]
    return career.astype(np.int64), times[keep]


def _chronic_careers(
    rng: np.random.Generator, weeks: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Start, rate and duration of the chronic relay: two careers active at any time."""
    spacing = _CHRONIC_SPACING_WEEKS
    phase = rng.random() * spacing
    j = np.arange(-3, int(np.ceil(weeks / spacing)) + 2)
    start = phase + j * spacing
    duration = np.full(start.size, 2 * spacing)
    keep = (start + duration > 0) & (start < weeks)
    start, duration = start[keep], duration[keep]
    rate = rng.uniform(*_CHRONIC_RATE, size=start.size)
    return start, rate, duration


def _tier_careers(
    rng: np.random.Generator, tier: _Tier, weeks: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Start, rate and duration of a tier's careers overlapping ``[0, weeks)``."""
    burn_in = tier.duration_weeks[1]
    span = weeks + burn_in
    n = int(rng.poisson(tier.arrivals_per_week * span))
    start = np.sort(rng.random(n) * span - burn_in)
    rate = np.clip(
        tier.rate_median * np.exp(tier.rate_sigma * rng.normal(size=n)), *tier.rate_bounds
    )
    duration = rng.uniform(*tier.duration_weeks, size=n)
    return start, rate, duration


@dataclass(frozen=True)
class _Episodes:
    """Every episode of every career, grouped by child and in time order."""

    child: IntArray  # career index
    minute: IntArray  # last seen, minutes since the start Monday 00:00 (may be < 0)
    tier: npt.NDArray[np.str_]  # per career


def _week_warp() -> FloatArray:
    """CDF of the weekly last-seen profile at the 169 hour edges of a week."""
    w = (_DAY_WEIGHTS[:, None] * _HOUR_WEIGHTS[None, :]).ravel()
    return np.concatenate([[0.0], np.cumsum(w) / w.sum()])


def _warp_to_minutes(t_weeks: FloatArray) -> IntArray:
    """Map continuous time (weeks) to whole minutes following the weekly profile.

    Within each week the uniform phase is sent through the inverse CDF of the
    hour-of-week profile, so order is kept and the weekly pattern appears.
    """
    week = np.floor(t_weeks)
    phase = t_weeks - week
    hours = np.interp(phase, _week_warp(), np.arange(169, dtype=np.float64))
    minute = np.minimum(np.round(hours * 60.0), MINUTES_PER_WEEK - 1)
    return (week * MINUTES_PER_WEEK + minute).astype(np.int64)


def _careers(rng: np.random.Generator, weeks: int) -> _Episodes:
    """All careers of the three tiers, their episodes warped to the weekly profile."""
    parts = [
        ("chronic", _chronic_careers(rng, weeks), _CHRONIC_SHAPE),
        ("frequent", _tier_careers(rng, _FREQUENT, weeks), _FREQUENT.shape),
        ("occasional", _tier_careers(rng, _OCCASIONAL, weeks), _OCCASIONAL.shape),
    ]
    child_parts: list[IntArray] = []
    time_parts: list[FloatArray] = []
    tiers: list[str] = []
    offset = 0
    for name, (start, rate, duration), shape in parts:
        career, t = _renewal(rng, start, rate, duration, shape)
        child_parts.append(career + offset)
        time_parts.append(t)
        tiers.extend([name] * start.size)
        offset += start.size
    child = np.concatenate(child_parts)
    minute = _warp_to_minutes(np.concatenate(time_parts))
    # Safety net: a child's next episode at least two hours after the last one.
    same = np.concatenate([[False], child[1:] == child[:-1]])
    gap = np.concatenate([[_MIN_GAP_MIN], np.diff(minute)])
    keep = ~same | (gap >= _MIN_GAP_MIN)
    return _Episodes(child=child[keep], minute=minute[keep], tier=np.array(tiers))


# --------------------------------------------------------------------------- helpers


def _weighted_order(rng: np.random.Generator, weights: FloatArray) -> IntArray:
    """A random order favouring heavy items (Efraimidis-Spirakis keys ``u ** (1 / w)``)."""
    keys = rng.random(weights.size) ** (1.0 / weights)
    return np.argsort(-keys, kind="stable").astype(np.int64)


def _pick(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """One category per row of ``probs`` (rows sum to at most 1; the rest is the last column)."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random((probs.shape[0], 1))
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1).astype(np.int64)


def _bearing_offset(distance_m: float, bearing_deg: float) -> tuple[float, float]:
    """(dx, dy) metres of a move ``distance_m`` on a compass bearing (0 north, 90 east)."""
    b = math.radians(bearing_deg)
    return distance_m * math.sin(b), distance_m * math.cos(b)


def _to_latlng(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """BNG metres to WGS84 degrees rounded to six decimals (what the files hold)."""
    lat, lng = bng_to_latlng(x, y)
    return np.round(lat, 6), np.round(lng, 6)


def _fmt_coord(v: FloatArray) -> npt.NDArray[np.object_]:
    """Six-decimal strings; empty for NaN."""
    out = np.array([f"{c:.6f}" for c in v.tolist()], dtype=object)
    out[~np.isfinite(v)] = ""
    return out


_Span = tuple[np.datetime64, np.datetime64]


def _skipped_hours(start: date, end: date) -> list[_Span]:
    """Local 01:00-02:00 on the last Sundays of March and October in the period.

    UK clocks go forward at 01:00 GMT on the last Sunday of March (01:00-01:59
    local does not exist) and back at 02:00 BST on the last Sunday of October
    (01:00-01:59 happens twice). Times in those hours are moved to 02:00.
    """
    spans: list[_Span] = []
    for year in range(start.year - 1, end.year + 2):
        for month in (3, 10):
            last = date(year, month, 31)
            sunday = last - timedelta(days=(last.weekday() + 1) % 7)
            t0 = np.datetime64(datetime(sunday.year, sunday.month, sunday.day, 1), "m")
            spans.append((t0, t0 + np.timedelta64(60, "m")))
    return spans


def _local_times(start: date, minutes: IntArray, spans: list[_Span]) -> npt.NDArray[np.datetime64]:
    """Local wall-clock datetimes (minute precision) of minute offsets from ``start`` 00:00."""
    t = np.datetime64(start, "m") + minutes.astype("timedelta64[m]")
    for t0, t1 in spans:
        t = np.where((t >= t0) & (t < t1), t1, t)
    return t


def _fmt_times(
    t: npt.NDArray[np.datetime64], missing: BoolArray | None = None
) -> npt.NDArray[np.object_]:
    """ISO 8601 local times without offset (``2025-03-14T21:30:00``); empty where missing."""
    out = np.datetime_as_string(t.astype("datetime64[s]"), unit="s").astype(object)
    if missing is not None:
        out[missing] = ""
    return out


def _bools(v: BoolArray) -> npt.NDArray[np.object_]:
    return np.where(v, "true", "false").astype(object)


def _write_csv(path: Path, columns: tuple[str, ...], data: dict[str, Any]) -> int:
    """Write a CSV atomically (temporary file, then rename); returns the row count."""
    frame = pd.DataFrame({c: np.asarray(data[c], dtype=object) for c in columns})
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(frame.itertuples(index=False, name=None))
    os.replace(tmp, path)
    return len(frame)


def _check_weeks(weeks: int) -> None:
    whole = isinstance(weeks, int | np.integer) and not isinstance(weeks, bool)
    if not whole or not 1 <= weeks <= MAX_WEEKS:
        msg = f"`weeks` must be a whole number from 1 to {MAX_WEEKS}, got {weeks!r}."
        raise ValidationError(msg)


def _check_args(seed: int, weeks: int, start: date) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        msg = f"`seed` must be a whole number >= 0, got {seed!r}."
        raise ValidationError(msg)
    _check_weeks(weeks)
    if isinstance(start, datetime) or not isinstance(start, date):
        msg = f"`start` must be a date (a Monday), got {start!r}."
        raise ValidationError(msg)
    if start.weekday() != 0:
        monday = start - timedelta(days=start.weekday())
        msg = (
            f"`start` must be a Monday, got {start.isoformat()} (a {start.strftime('%A')}). "
            f"Pass the Monday that begins the week, e.g. {monday.isoformat()}."
        )
        raise ValidationError(msg)


def _check_counts(disruptions: int, placebos: int) -> None:
    for name, value in (("disruptions", disruptions), ("placebos", placebos)):
        whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
        if not whole or value < 0:
            msg = f"`{name}` must be a whole number >= 0, got {value!r}."
            raise ValidationError(msg)
    total = int(disruptions) + int(placebos)
    if not 1 <= total <= MAX_DISRUPTION_PLACES:
        msg = (
            f"`disruptions` and `placebos` must add up to 1-{MAX_DISRUPTION_PLACES} (each "
            f"needs a place {DISRUPTION_SPACING_M / 1000:.0f} km from the others), got "
            f"{disruptions} + {placebos} = {total}."
        )
        raise ValidationError(msg)


def default_start(weeks: int, *, today: date | None = None) -> date:
    """The first Monday of a ``weeks``-long scenario that is over before ``today``.

    The scenario ends (its last week closes) at 00:00 on the last Monday
    before ``today``: the Monday of the current week, or the Monday a week
    earlier when ``today`` is itself a Monday. Reports made in the hours after
    a last sighting late on the final Sunday therefore fall before ``today``
    too, so ingest never sees a future date in a scenario made by default.

    Parameters
    ----------
    weeks
        Length of the scenario in weeks, 1-520.
    today
        The calendar day in UK time (Europe/London) to end before; default
        the current one.

    Returns
    -------
    datetime.date
        A Monday.

    Examples
    --------
    >>> default_start(1, today=date(2026, 3, 11))  # a Wednesday
    datetime.date(2026, 3, 2)
    """
    _check_weeks(weeks)
    if today is None:
        today = datetime.now(ZoneInfo(LOCAL_TZ)).date()
    elif isinstance(today, datetime) or not isinstance(today, date):
        msg = (
            f"`today` must be a date (the UK calendar day), got {today!r}. "
            "Pass datetime.date(...), or `.date()` of a Europe/London time."
        )
        raise ValidationError(msg)
    yesterday = today - timedelta(days=1)
    end = yesterday - timedelta(days=yesterday.weekday())
    return end - timedelta(weeks=int(weeks))


# --------------------------------------------------------------------------- venues


@dataclass(frozen=True)
class _Venues:
    venue_id: npt.NDArray[np.str_]
    name: npt.NDArray[np.str_]
    venue_type: npt.NDArray[np.str_]
    x: FloatArray
    y: FloatArray
    lat: FloatArray
    lng: FloatArray
    public: BoolArray
    planted: BoolArray
    moderate: BoolArray  # planted for the disruptions, weaker than the ten strongest
    weight: FloatArray  # core planted venues: relative latent intensity (lognormal); else 0
    report_rate: FloatArray  # innocent venues: reports a week


def _place_venues(rng: np.random.Generator, geo: _Geography) -> _Venues:
    """Planted and innocent venues in the dense centres, at least 300 m apart."""
    types = [t for t, k in _PLANTED_TYPES for _ in range(k)]
    n_planted = len(types)
    types += [t for t, k in _INNOCENT_TYPES for _ in range(k)]
    n = len(types)
    xs: list[float] = []
    ys: list[float] = []
    while len(xs) < n:
        cx, cy = geo.sample(rng, 4 * n, power=1.5)
        for px, py in zip(cx.tolist(), cy.tolist(), strict=True):
            if len(xs) == n:
                break
            far = all(math.hypot(px - qx, py - qy) >= 300.0 for qx, qy in zip(xs, ys, strict=True))
            if far:
                xs.append(px)
                ys.append(py)
    x = np.array(xs)
    y = np.array(ys)
    planted = np.arange(n) < n_planted
    intensity_weight = np.where(planted, rng.lognormal(0.0, 1.2, n), 0.0)
    report_rate = np.where(planted, 0.0, rng.uniform(0.04, 0.15, n))
    vtype = np.array(types)
    public = (vtype != "house") & (rng.random(n) < 0.7)
    # Ids and names in a shuffled order so neither gives away which venues are planted.
    order = rng.permutation(n)
    venue_id = np.empty(n, dtype=object)
    venue_id[order] = [f"V-{i + 1:03d}" for i in range(n)]
    name = np.empty(n, dtype=object)
    counters: dict[str, int] = {}
    for i in order.tolist():
        counters[types[i]] = counters.get(types[i], 0) + 1
        name[i] = f"{_TYPE_LABELS[types[i]]} {counters[types[i]]}"
    lat, lng = _to_latlng(x, y)
    # Metric coordinates of the rounded lat/lng, so files and truth agree to the metre.
    x, y = latlng_to_bng(lat, lng)
    return _Venues(
        venue_id=venue_id.astype(str),
        name=name.astype(str),
        venue_type=vtype,
        x=x,
        y=y,
        lat=lat,
        lng=lng,
        public=public,
        planted=planted,
        moderate=np.zeros(n, dtype=bool),
        weight=intensity_weight,
        report_rate=report_rate,
    )


# --------------------------------------------------------------------------- children


@dataclass(frozen=True)
class _Cohort:
    """The children with an episode in the period, and those episodes.

    Per-child arrays are indexed by child number (ids ``SYN-C0001``... in order
    of first episode); per-episode arrays are in generation order. Times are
    minutes from the start Monday 00:00; points are BNG metres.
    """

    child_ids: npt.NDArray[np.str_]
    tier: npt.NDArray[np.str_]
    count: IntArray
    in_care: BoolArray
    exploited: BoolArray
    care_home: IntArray  # index into the care homes; -1 for a family home
    care_lat: FloatArray
    care_lng: FloatArray
    res_x: FloatArray  # where each child lives (family or care home)
    res_y: FloatArray
    school_x: FloatArray
    school_y: FloatArray
    child: IntArray  # per episode: child number
    seen: IntArray
    reported: IntArray
    found: IntArray
    is_open: BoolArray

    @property
    def n_episodes(self) -> int:
        return int(self.child.size)


def _cohort(rng: np.random.Generator, geo: _Geography, weeks: int) -> _Cohort:
    """Children, their care and exploitation status, homes, schools and episode times."""
    period_min = weeks * MINUTES_PER_WEEK
    eps = _careers(rng, weeks)
    n_careers = eps.tier.size
    same_next = np.concatenate([eps.child[1:] == eps.child[:-1], [False]])
    next_minute = np.where(same_next, np.roll(eps.minute, -1), np.iinfo(np.int64).max // 4)
    in_window = (eps.minute >= 0) & (eps.minute < period_min)
    career = eps.child[in_window]
    seen = eps.minute[in_window]
    next_seen = next_minute[in_window]
    n_ep = career.size

    # Children are the careers with an episode in the period, numbered by first episode.
    counts = np.bincount(career, minlength=n_careers)
    present = np.flatnonzero(counts > 0)
    first = np.full(n_careers, np.iinfo(np.int64).max)
    np.minimum.at(first, career, seen)
    present = present[np.lexsort((present, first[present]))]
    child_no = np.full(n_careers, -1, dtype=np.int64)
    child_no[present] = np.arange(present.size)
    n_children = present.size
    count = counts[present]
    width = max(4, len(str(n_children)))
    child_ids = np.array([f"SYN-C{i + 1:0{width}d}" for i in range(n_children)])

    # Care: favour repeat runners until their episodes reach the target share.
    in_care = np.zeros(n_children, dtype=bool)
    target = IN_CARE_SHARE * n_ep
    total = 0
    for i in _weighted_order(rng, 1.0 + count.astype(np.float64)).tolist():
        if total + count[i] <= target:
            in_care[i] = True
            total += int(count[i])
        if total >= target - 1:
            break
    # Exploited cohort: favour children in care and repeat runners.
    n_exploited = max(1, round(EXPLOITED_SHARE * n_children))
    w = np.where(in_care, 3.0, 1.0) * np.sqrt(count.astype(np.float64))
    exploited = np.zeros(n_children, dtype=bool)
    exploited[rng.choice(n_children, size=n_exploited, replace=False, p=w / w.sum())] = True

    # Where children live: family homes inside residential LSOAs, or care homes.
    n_care_homes = int(rng.integers(6, 11))
    home_x, home_y = geo.sample(rng, n_children, power=1.0)
    ch_x, ch_y = geo.sample(rng, n_care_homes, power=1.0)
    care_lat, care_lng = _to_latlng(ch_x, ch_y)
    ch_x, ch_y = latlng_to_bng(care_lat, care_lng)
    ch_weights = rng.dirichlet(np.full(n_care_homes, 2.0))
    care_home = np.where(in_care, rng.choice(n_care_homes, size=n_children, p=ch_weights), -1)
    res_x = np.where(in_care, ch_x[np.maximum(care_home, 0)], home_x)
    res_y = np.where(in_care, ch_y[np.maximum(care_home, 0)], home_y)
    # Schools: each child's is the nearest of 20 sites.
    sc_x, sc_y = geo.sample(rng, 20, power=1.0)
    nearest = np.argmin((res_x[:, None] - sc_x) ** 2 + (res_y[:, None] - sc_y) ** 2, axis=1)

    # Missing for hours (median 9 h) with a long tail of days, always found before the
    # child's next episode; reported up to a few hours after last seen.
    duration = np.round(60.0 * np.exp(np.log(9.0) + 1.1 * rng.normal(size=n_ep)))
    duration = np.clip(duration, 20, None)
    duration = np.minimum(duration, np.floor(0.85 * (next_seen - seen)))
    found = seen + duration.astype(np.int64)
    delay = np.round(60.0 * np.exp(np.log(1.5) + 0.7 * rng.normal(size=n_ep)))
    delay = np.minimum(np.minimum(delay, 8 * 60), np.floor(0.5 * duration)).astype(np.int64)
    # Open at the end of the period: found after it, or (for a child's last episode in
    # the final three weeks) still missing when the data were extracted.
    late = (seen >= period_min - OPEN_WINDOW_DAYS * 1440) & (next_seen >= period_min)
    is_open = (found >= period_min) | (late & (rng.random(n_ep) < OPEN_SHARE_LATE))

    return _Cohort(
        child_ids=child_ids,
        tier=eps.tier[present],
        count=count,
        in_care=in_care,
        exploited=exploited,
        care_home=care_home,
        care_lat=care_lat,
        care_lng=care_lng,
        res_x=res_x,
        res_y=res_y,
        school_x=sc_x[nearest],
        school_y=sc_y[nearest],
        child=child_no[career],
        seen=seen,
        reported=seen + delay,
        found=found,
        is_open=is_open,
    )


# --------------------------------------------------------------------------- exploitation


def _core_intensity(venues: _Venues, cohort: _Cohort, weeks: int) -> tuple[float, FloatArray]:
    """Closed exploited episodes a week, and the core planted venues' intensities.

    The core venues share :data:`VENUE_FOUND_SHARE` of those episodes in
    proportion to their lognormal weights; other venues have 0.
    """
    exploited = cohort.exploited[cohort.child]
    x_hat = max(int((exploited & ~cohort.is_open).sum()), 1) / weeks
    core = venues.planted & ~venues.moderate
    w = venues.weight
    intensity = np.where(core, VENUE_FOUND_SHARE * x_hat * w / w[core].sum(), 0.0)
    return x_hat, intensity


def window_weeks(weeks: int) -> int:
    """Weeks of a disruption's before and after windows in a ``weeks``-long scenario.

    :data:`WINDOW_WEEKS` (26) where the period holds both windows and the
    disruption's own week (53 weeks or more), else the longest that fits,
    ``(weeks - 1) // 2``: 25 for a year, 1 for four weeks, 0 for one or two.

    Examples
    --------
    >>> window_weeks(104), window_weeks(52), window_weeks(4), window_weeks(2)
    (26, 25, 1, 0)
    """
    return min(WINDOW_WEEKS, (int(weeks) - 1) // 2)


@dataclass(frozen=True)
class _Disruption:
    """One planted disruption: an effect (``cut`` > 0) or a placebo (``cut`` 0)."""

    venue: int  # venue index
    tactic: str
    note: str
    public: bool | None  # None: not recorded (written blank)
    week: int
    minute: int  # when it took effect, minutes from the start Monday 00:00
    cut: float
    displaced_share: float
    site_x: float  # displacement site (BNG of the rounded lat/lng); NaN for a placebo
    site_y: float
    site_lat: float
    site_lng: float
    site_bearing_deg: float

    @property
    def effect(self) -> bool:
        return self.cut > 0


def _disruption_specs(n_effect: int, n_placebo: int) -> list[tuple[bool, bool, int]]:
    """(effect, at a planted venue, tactic number) of each disruption to plant.

    Tactics go round :data:`_DISRUPTION_TACTICS` separately for effects and
    placebos, so every tactic has both when there are five or more of each;
    placebos alternate between moderate planted venues (an action that did
    not work) and innocent venues (a place wrongly suspected).
    """
    k = len(_DISRUPTION_TACTICS)
    specs = [(True, True, i % k) for i in range(n_effect)]
    specs += [(False, j % 2 == 0, j % k) for j in range(n_placebo)]
    return specs


def _disruption_places(
    rng: np.random.Generator,
    geo: _Geography,
    n: int,
    avoid_x: FloatArray,
    avoid_y: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """``n`` BNG points for disrupted places, each with its 400 m area inside the district.

    Points are drawn like homes (LSOAs weighted by inverse area) and kept
    :data:`DISRUPTION_CLEARANCE_M` from ``avoid`` (the other venues and the
    care homes) and :data:`DISRUPTION_SPACING_M` from each other.
    """
    inner = geo.area.buffer(-(BUFFER_M + 50.0))
    shapely.prepare(inner)
    xs: list[float] = []
    ys: list[float] = []
    for _ in range(100):
        if len(xs) == n:
            break
        cx, cy = geo.sample(rng, 200, power=1.0)
        ok = shapely.contains_xy(inner, cx, cy)
        if avoid_x.size:
            d = np.hypot(cx[:, None] - avoid_x[None, :], cy[:, None] - avoid_y[None, :])
            ok &= d.min(axis=1) >= DISRUPTION_CLEARANCE_M
        for px, py in zip(cx[ok].tolist(), cy[ok].tolist(), strict=True):
            if len(xs) == n:
                break
            gaps = np.hypot(np.array(xs) - px, np.array(ys) - py)
            if not xs or gaps.min() >= DISRUPTION_SPACING_M:
                xs.append(px)
                ys.append(py)
    if len(xs) < n:  # pragma: no cover - the defaults leave room to spare
        msg = (
            f"could not place {n} disrupted places {DISRUPTION_SPACING_M:.0f} m apart in the "
            "district; ask for fewer disruptions or placebos."
        )
        raise ValidationError(msg)
    return np.array(xs), np.array(ys)


def _plant_disruptions(
    rng: np.random.Generator,
    geo: _Geography,
    venues: _Venues,
    cohort: _Cohort,
    core: FloatArray,
    x_hat: float,
    weeks: int,
    n_effect: int,
    n_placebo: int,
) -> tuple[_Venues, FloatArray, list[_Disruption]]:
    """New venues for the disruptions, the moderate ones' intensities, and the disruptions.

    Every disruption is at a new venue, never at one of the core planted
    venues: effects and half the placebos at *moderate* planted venues
    (intensity :data:`MODERATE_RANGE` of the 10th strongest core venue's),
    the other placebos at new innocent venues. ``core`` holds the core
    venues' intensities; ``rng`` is the disruptions' own generator.
    Returns the venues with the new ones appended, every venue's intensity
    (core and moderate; 0 for innocent venues) and the disruptions in
    planting order.
    """
    specs = _disruption_specs(n_effect, n_placebo)
    n_new = len(specs)
    care_x, care_y = latlng_to_bng(cohort.care_lat, cohort.care_lng)
    px, py = _disruption_places(
        rng, geo, n_new, np.concatenate([venues.x, care_x]), np.concatenate([venues.y, care_y])
    )
    lat, lng = _to_latlng(px, py)
    x, y = latlng_to_bng(lat, lng)

    types = [str(rng.choice(_DISRUPTION_TACTICS[t][1])) for _, _, t in specs]
    planted = np.array([p for _, p, _ in specs], dtype=bool)
    vtype = np.array(types, dtype=venues.venue_type.dtype)
    public = (vtype != "house") & (rng.random(n_new) < 0.7)
    report_rate = np.where(planted, 0.0, rng.uniform(0.04, 0.15, n_new))
    # Moderate intensities: below the 10th strongest core venue's, within the cap.
    ranked = np.sort(core[core > 0])[::-1]
    tenth = float(ranked[min(9, ranked.size - 1)])
    moderate = np.where(planted, rng.uniform(*MODERATE_RANGE, n_new) * tenth, 0.0)
    cap = MODERATE_FOUND_SHARE_MAX * x_hat
    if moderate.sum() > cap:
        moderate *= cap / moderate.sum()
    # Ids after the existing ones, shuffled so they do not give away effect from placebo.
    n0 = venues.x.size
    order = rng.permutation(n_new)
    venue_id = np.empty(n_new, dtype=object)
    venue_id[order] = [f"V-{n0 + i + 1:03d}" for i in range(n_new)]
    counters: dict[str, int] = {}
    for t in venues.venue_type.tolist():
        counters[t] = counters.get(t, 0) + 1
    name = np.empty(n_new, dtype=object)
    for i in order.tolist():
        counters[types[i]] = counters.get(types[i], 0) + 1
        name[i] = f"{_TYPE_LABELS[types[i]]} {counters[types[i]]}"

    win = window_weeks(weeks)
    disruptions: list[_Disruption] = []
    for i, (effect, _, t) in enumerate(specs):
        tactic, _, note = _DISRUPTION_TACTICS[t]
        week = int(rng.integers(win, weeks - win))
        # A weekday, in working hours.
        minute = week * MINUTES_PER_WEEK + int(rng.integers(0, 5)) * 1440
        minute += int(rng.integers(9, 17)) * 60
        public_d: bool | None = None
        if tactic != "patrol":
            public_d = tactic in _PUBLIC_TACTICS and types[i] != "house"
        cut = share = bearing = math.nan
        sx = sy = s_lat = s_lng = math.nan
        if effect:
            cut = float(rng.uniform(*CUT_RANGE))
            share = float(rng.uniform(*DISPLACED_SHARE_RANGE))
            dist = float(rng.uniform(*DISPLACEMENT_DISTANCE_M))
            bearing = float(rng.uniform(0.0, 360.0))
            dx, dy = _bearing_offset(dist, bearing)
            la, ln = _to_latlng(np.array([x[i] + dx]), np.array([y[i] + dy]))
            bx, by = latlng_to_bng(la, ln)
            sx, sy, s_lat, s_lng = float(bx[0]), float(by[0]), float(la[0]), float(ln[0])
        disruptions.append(
            _Disruption(
                venue=n0 + i,
                tactic=tactic,
                note=note,
                public=public_d,
                week=week,
                minute=minute,
                cut=cut if effect else 0.0,
                displaced_share=share if effect else 0.0,
                site_x=sx,
                site_y=sy,
                site_lat=s_lat,
                site_lng=s_lng,
                site_bearing_deg=bearing,
            )
        )

    def join(old: npt.NDArray[Any], new: npt.ArrayLike) -> npt.NDArray[Any]:
        return np.concatenate([old, np.asarray(new, dtype=old.dtype)])

    grown = _Venues(
        venue_id=join(venues.venue_id, venue_id.astype(str)),
        name=join(venues.name, name.astype(str)),
        venue_type=join(venues.venue_type, vtype),
        x=join(venues.x, x),
        y=join(venues.y, y),
        lat=join(venues.lat, lat),
        lng=join(venues.lng, lng),
        public=join(venues.public, public),
        planted=join(venues.planted, planted),
        moderate=join(venues.moderate, planted),
        weight=join(venues.weight, np.zeros(n_new)),
        report_rate=join(venues.report_rate, report_rate),
    )
    return grown, np.concatenate([core, moderate]), disruptions


_NEVER = np.iinfo(np.int64).max // 4  # a change minute that never comes


@dataclass(frozen=True)
class _Plan:
    """Venue intensities and the sources of exploited children's found episodes.

    *Sources* are the planted venues (in ``planted`` order) and, after them,
    one displacement site per effect disruption (in ``disruptions`` order).
    Intensities are expected found-episodes a week: ``before`` until a
    source's ``change`` minute, ``after`` from it.
    """

    exploited_per_week: float  # closed episodes of exploited children a week
    planted: IntArray  # venue indices of the planted venues (core and moderate)
    intensity: FloatArray  # per venue, before any disruption; 0 if innocent
    rank: IntArray  # per venue: 1 strongest ... ; 0 if innocent
    disruptions: list[_Disruption]
    src_x: FloatArray
    src_y: FloatArray
    src_type: npt.NDArray[np.str_]
    before: FloatArray  # per source
    after: FloatArray  # per source
    change: IntArray  # per source: the minute its intensity changes (_NEVER if it does not)
    site_source: dict[int, int]  # disruption number -> source of its displacement site

    def source_of(self, venue: int) -> int:
        """The source number of a planted venue."""
        return int(np.flatnonzero(self.planted == venue)[0])

    def rates(self, minute: IntArray) -> FloatArray:
        """Intensity of every source at each of ``minute`` (rows), found-episodes a week."""
        return np.where(
            minute[:, None] >= self.change[None, :], self.after[None, :], self.before[None, :]
        )


def _plan(
    venues: _Venues, x_hat: float, intensity: FloatArray, disruptions: list[_Disruption]
) -> _Plan:
    """Ranks of the planted venues, and the sources' intensities before and after."""
    planted = np.flatnonzero(venues.planted)
    by_rank = planted[np.argsort(-intensity[planted], kind="stable")]
    rank = np.zeros(intensity.size, dtype=np.int64)
    rank[by_rank] = np.arange(1, planted.size + 1)

    effects = [k for k, d in enumerate(disruptions) if d.effect]
    n_src = planted.size + len(effects)
    before = np.concatenate([intensity[planted], np.zeros(len(effects))])
    after = before.copy()
    change = np.full(n_src, _NEVER, dtype=np.int64)
    site_source: dict[int, int] = {}
    for n, k in enumerate(effects):
        d = disruptions[k]
        j = int(np.flatnonzero(planted == d.venue)[0])
        s = planted.size + n
        removed = d.cut * intensity[d.venue]
        after[j] = before[j] - removed
        after[s] = d.displaced_share * removed
        change[[j, s]] = d.minute
        site_source[k] = s
    site_x = np.array([disruptions[k].site_x for k in effects])
    site_y = np.array([disruptions[k].site_y for k in effects])
    site_type = np.array([venues.venue_type[disruptions[k].venue] for k in effects])
    return _Plan(
        exploited_per_week=x_hat,
        planted=planted,
        intensity=intensity,
        rank=rank,
        disruptions=disruptions,
        src_x=np.concatenate([venues.x[planted], site_x]),
        src_y=np.concatenate([venues.y[planted], site_y]),
        src_type=np.concatenate([venues.venue_type[planted], site_type.astype(str)]),
        before=before,
        after=after,
        change=change,
        site_source=site_source,
    )


# --------------------------------------------------------------------------- places


@dataclass(frozen=True)
class _Places:
    """Per-episode last-seen and found points (WGS84, rounded), place types and risk."""

    seen_lat: FloatArray
    seen_lng: FloatArray
    seen_type: npt.NDArray[np.object_]
    found_lat: FloatArray  # NaN for open episodes
    found_lng: FloatArray
    found_type: npt.NDArray[np.object_]  # "" for open episodes
    risk: npt.NDArray[np.str_]
    expected_found: FloatArray  # per source: expected exploited found-episodes near it


# Kinds of place. Last seen uses RESIDENCE..VENUE; found also INNOCENT.
_RESIDENCE, _SCHOOL, _PUBLIC, _UNKNOWN, _VENUE, _INNOCENT = range(6)

# Last seen, by row (exploited, in care) = (no, no), (no, yes), (yes, no), (yes, yes).
# Care homes report absences from the home, so children in care are mostly last seen there.
_LAST_SEEN = np.array(
    [
        [0.55, 0.12, 0.25, 0.08, 0.00],
        [0.68, 0.07, 0.18, 0.07, 0.00],
        [0.33, 0.05, 0.35, 0.05, 0.22],
        [0.46, 0.03, 0.28, 0.05, 0.18],
    ]
)
# Found (children not exploited): residence, school, public, unknown, -, innocent place.
# The innocent share is INNOCENT_FOUND_SHARE for each innocent venue (0.08 for the
# eight of a scenario without placebos), taken from the residence (_found_other).
_FOUND_OTHER = np.array([0.45, 0.05, 0.22, 0.20, 0.0, 0.08])
# Found (exploited), when not near a source: residence, public, unknown.
_FOUND_EXPLOITED_REST = (0.40, 0.35, 0.25)
_RISK = (
    ("no_apparent_risk", "low", "medium", "high"),
    (0.25, 0.42, 0.26, 0.07),
    (0.0, 0.15, 0.45, 0.40),
)


def _found_other(n_innocent: int) -> FloatArray:
    """Found-place probabilities of children not exploited, for ``n_innocent`` innocent venues."""
    row = _FOUND_OTHER.copy()
    row[_INNOCENT] = INNOCENT_FOUND_SHARE * n_innocent
    row[_RESIDENCE] -= row[_INNOCENT] - _FOUND_OTHER[_INNOCENT]
    return row


def _last_seen_probs(exploited: BoolArray, in_care: BoolArray, at_src: FloatArray) -> FloatArray:
    """Last-seen kind probabilities of each episode.

    An exploited child's chance of being last seen near a source grows with
    the sources' current share of found episodes (``at_src``) against
    :data:`VENUE_FOUND_SHARE`, taken from the residence, so each source
    draws the same last-seen episodes per unit of intensity whatever the
    other sources do.
    """
    probs = _LAST_SEEN[2 * exploited.astype(np.int64) + in_care.astype(np.int64)].copy()
    extra = probs[:, _VENUE] * (at_src / VENUE_FOUND_SHARE - 1.0)
    probs[:, _VENUE] += extra
    probs[:, _RESIDENCE] -= extra
    return probs


def _episode_places(
    rng: np.random.Generator, geo: _Geography, venues: _Venues, cohort: _Cohort, plan: _Plan
) -> _Places:
    """Where each child was last seen and found, and each episode's risk level.

    An exploited child's episode at time t is found near source v with
    probability ``intensity_v(t) / exploited_per_week``, so the expected
    number found near v in a week is its intensity; it is last seen near v
    with probability ``p * intensity_v(t) / (VENUE_FOUND_SHARE *
    exploited_per_week)``, p the venue share of :data:`_LAST_SEEN`.
    """
    ec = cohort.child
    n_ep = ec.size
    exploited = cohort.exploited[ec]
    e_care = cohort.in_care[ec]
    src_probs = plan.rates(cohort.seen) / plan.exploited_per_week
    residence_type = np.where(e_care, "care_home", "home")

    at_src = src_probs.sum(axis=1)
    ls_kind = _pick(rng, _last_seen_probs(exploited, e_care, at_src))
    rest = 1.0 - at_src
    r_home, r_public, r_unknown = _FOUND_EXPLOITED_REST
    zeros = np.zeros(n_ep)
    innocent = np.flatnonzero(~venues.planted)
    f_probs = np.where(
        exploited[:, None],
        np.column_stack([r_home * rest, zeros, r_public * rest, r_unknown * rest, at_src, zeros]),
        _found_other(innocent.size)[None, :],
    )
    f_kind = _pick(rng, f_probs)
    # Which source, for venue kinds: by current intensity.
    src_norm = src_probs / np.maximum(at_src[:, None], 1e-12)
    ls_src = _pick(rng, src_norm)
    f_src = _pick(rng, src_norm)

    def place(
        kind: IntArray, sigma_venue_m: float, src: IntArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.object_]]:
        """BNG points and place types for one draw of kinds."""
        cx = cohort.res_x[ec].copy()
        cy = cohort.res_y[ec].copy()
        sigma = np.zeros(n_ep)
        ptype = residence_type.astype(object)
        m = kind == _SCHOOL
        cx[m], cy[m], sigma[m] = cohort.school_x[ec[m]], cohort.school_y[ec[m]], 40.0
        ptype[m] = "school"
        # Public: half near home (800 m), half in the dense centres (60 m around a point).
        m = kind == _PUBLIC
        near_home = rng.random(n_ep) < 0.5
        gx, gy = geo.sample(rng, int(m.sum()), power=1.5)
        cx[m] = np.where(near_home[m], cx[m], gx)
        cy[m] = np.where(near_home[m], cy[m], gy)
        sigma[m] = np.where(near_home[m], 800.0, 60.0)
        ptype[m] = "public"
        m = kind == _UNKNOWN  # a friend's or an unknown address, within a few km
        sigma[m] = 1200.0
        ptype[m] = "unknown"
        m = kind == _VENUE
        cx[m], cy[m], sigma[m] = plan.src_x[src[m]], plan.src_y[src[m]], sigma_venue_m
        ptype[m] = np.where(np.isin(plan.src_type[src[m]], _OUTDOOR_TYPES), "public", "venue")
        m = kind == _INNOCENT
        inn = innocent[rng.integers(0, innocent.size, int(m.sum()))]
        cx[m], cy[m], sigma[m] = venues.x[inn], venues.y[inn], _INNOCENT_SIGMA_M
        ptype[m] = "public"
        moved = sigma > 0
        px, py = cx.copy(), cy.copy()
        px[moved], py[moved] = geo.scatter(rng, cx[moved], cy[moved], sigma[moved])
        return px, py, ptype

    ls_x, ls_y, ls_type = place(ls_kind, _LAST_SEEN_SIGMA_M, ls_src)
    f_x, f_y, f_type = place(f_kind, VENUE_SIGMA_M, f_src)
    ls_lat, ls_lng = _to_latlng(ls_x, ls_y)
    f_lat, f_lng = _to_latlng(f_x, f_y)
    f_lat[cohort.is_open] = np.nan
    f_lng[cohort.is_open] = np.nan
    f_type[cohort.is_open] = ""

    labels, p_other, p_exploited = _RISK
    risk_probs = np.where(exploited[:, None], np.array(p_exploited), np.array(p_other))
    risk = np.array(labels)[_pick(rng, risk_probs)]
    return _Places(
        seen_lat=ls_lat,
        seen_lng=ls_lng,
        seen_type=ls_type,
        found_lat=f_lat,
        found_lng=f_lng,
        found_type=f_type,
        risk=risk,
        expected_found=src_probs[exploited & ~cohort.is_open].sum(axis=0),
    )


# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class _Reports:
    venue: IntArray
    minute: IntArray
    grades: tuple[npt.NDArray[np.str_], npt.NDArray[np.str_], npt.NDArray[np.str_]]


def _report_rates(venues: _Venues, plan: _Plan, weeks: int) -> FloatArray:
    """Expected reports about each venue (rows) in each week (columns)."""
    v_rate = np.where(venues.planted, _REPORTS_PER_FOUND * plan.intensity, venues.report_rate)
    rates = np.broadcast_to(v_rate[:, None], (venues.x.size, weeks)).copy()
    for d in plan.disruptions:
        rates[d.venue, d.week :] *= 1.0 - d.cut
    return rates


def _venue_reports(rng: np.random.Generator, venues: _Venues, plan: _Plan, weeks: int) -> _Reports:
    """Weekly Poisson intelligence reports, in time order.

    Planted venues draw :data:`_REPORTS_PER_FOUND` reports a week per unit of
    intensity (cut with the intensity from a disruption's week on), innocent
    places a steady trickle; reports about planted venues are better graded.
    Displacement sites are new places that no report names.
    """
    n_v = venues.x.size
    rates = _report_rates(venues, plan, weeks)
    n_rep = rng.poisson(rates).ravel()
    venue = np.repeat(np.repeat(np.arange(n_v), weeks), n_rep)
    week = np.repeat(np.tile(np.arange(weeks), n_v), n_rep)
    minute = (
        week * MINUTES_PER_WEEK
        + rng.integers(0, 7, venue.size) * 1440
        + rng.integers(8 * 60, 20 * 60, venue.size)
    )
    planted = venues.planted[venue]
    grades = []
    for k, labels in enumerate((("1", "2", "3"), ("A", "B", "C", "D", "E"), ("P", "C"))):
        p = np.where(
            planted[:, None],
            np.array(_GRADES_PLANTED[k])[None, :],
            np.array(_GRADES_INNOCENT[k])[None, :],
        )
        grades.append(np.array(labels)[_pick(rng, p)])
    order = np.lexsort((venues.venue_id[venue], minute))
    return _Reports(
        venue=venue[order],
        minute=minute[order],
        grades=(grades[0][order], grades[1][order], grades[2][order]),
    )


# --------------------------------------------------------------------------- expectations


def _within(radius_m: float, offset_m: FloatArray, sigma_m: float) -> FloatArray:
    """Chance that a point scattered around a centre falls within ``radius_m`` of a place.

    The scatter is Gaussian, ``sigma_m`` metres a coordinate; ``offset_m`` is
    each centre's distance from the place. The distance of the point from the
    place then follows the Rice distribution, integrated here numerically.
    """
    d = np.atleast_1d(np.asarray(offset_m, dtype=np.float64))[:, None]
    if radius_m <= 0:
        return np.zeros(d.shape[0])
    r = np.linspace(0.0, radius_m, 2001)[None, :]
    s2 = sigma_m**2
    f = r / s2 * np.exp(-((r - d) ** 2) / (2.0 * s2)) * special.i0e(r * d / s2)
    h = radius_m / 2000
    return np.asarray(h * (f.sum(axis=1) - 0.5 * (f[:, 0] + f[:, -1])), dtype=np.float64)


def _expected_counts(
    cohort: _Cohort, venues: _Venues, plan: _Plan, weeks: int
) -> list[dict[str, dict[str, float]]]:
    """Expected events in each disruption's response area and buffer ring, before and after.

    For each disruption and each of its windows (:func:`window_weeks` weeks
    before and after its own week, by the episode's last-seen time): the
    expected found and last-seen points from the scenario's places (planted
    venues, displacement sites, innocent venues) within :data:`RESPONSE_M`
    of the disrupted place, or between it and :data:`BUFFER_M`, and the
    expected reports about venues there; ``events`` is their sum. Episodes
    found or last seen at home, school, in public or at an unknown place
    come on top. Exact given the children's episodes, which the scenario
    draws first.
    """
    win = window_weeks(weeks)
    exploited = cohort.exploited[cohort.child]
    in_care = cohort.in_care[cohort.child]
    closed = ~cohort.is_open
    p_src = plan.rates(cohort.seen) / plan.exploited_per_week
    found = np.where((exploited & closed)[:, None], p_src, 0.0)
    p_ls = _LAST_SEEN[2 * exploited.astype(np.int64) + in_care.astype(np.int64), _VENUE]
    last_seen = p_src * (p_ls / VENUE_FOUND_SHARE)[:, None]
    other_closed = ~exploited & closed
    innocent = np.flatnonzero(~venues.planted)
    report_rates = _report_rates(venues, plan, weeks)
    week_of = cohort.seen // MINUTES_PER_WEEK
    out: list[dict[str, dict[str, float]]] = []
    for d in plan.disruptions:
        px, py = venues.x[d.venue], venues.y[d.venue]
        to_src = np.hypot(plan.src_x - px, plan.src_y - py)
        to_inn = np.hypot(venues.x[innocent] - px, venues.y[innocent] - py)
        to_venue = np.hypot(venues.x - px, venues.y - py)
        entry: dict[str, dict[str, float]] = {}
        for area, r0, r1 in (("response", 0.0, RESPONSE_M), ("buffer", RESPONSE_M, BUFFER_M)):
            f_src = _within(r1, to_src, VENUE_SIGMA_M) - _within(r0, to_src, VENUE_SIGMA_M)
            ls_src = _within(r1, to_src, _LAST_SEEN_SIGMA_M) - _within(
                r0, to_src, _LAST_SEEN_SIGMA_M
            )
            f_inn = _within(r1, to_inn, _INNOCENT_SIGMA_M) - _within(r0, to_inn, _INNOCENT_SIGMA_M)
            there = (to_venue <= r1) & ((to_venue > r0) | (r0 == 0.0))
            for when, w0, w1 in (
                ("before", d.week - win, d.week),
                ("after", d.week + 1, d.week + 1 + win),
            ):
                m = (week_of >= w0) & (week_of < w1)
                n_found = float(found[m].sum(axis=0) @ f_src)
                n_found += float(other_closed[m].sum()) * INNOCENT_FOUND_SHARE * float(f_inn.sum())
                n_seen = float(last_seen[m].sum(axis=0) @ ls_src)
                n_rep = float(report_rates[there, w0:w1].sum())
                entry[f"expected_{area}_{when}"] = {
                    "found": round(n_found, 3),
                    "last_seen": round(n_seen, 3),
                    "reports": round(n_rep, 3),
                    "events": round(n_found + n_seen + n_rep, 3),
                }
        out.append(entry)
    return out


# --------------------------------------------------------------------------- main


def simulate(
    out_dir: Path,
    *,
    seed: int = 7,
    weeks: int = 52,
    start: date | None = None,
    disruptions: int = DISRUPTIONS,
    placebos: int = PLACEBOS,
) -> ScenarioFiles:
    """Write a synthetic Blackburn with Darwen MFH and venue scenario with its truth.

    Parameters
    ----------
    out_dir
        Folder to write into (created if missing). Writes ``episodes.csv``,
        ``venues.csv``, ``venue_reports.csv``, ``disruptions.csv`` and
        ``truth.json``, replacing files of those names; each is written to a
        temporary file first and renamed, so none is ever half-written.
    seed
        Seed of ``numpy.random.default_rng``; default 7. The same ``seed``,
        ``weeks``, ``start``, ``disruptions`` and ``placebos`` give
        byte-identical files.
    weeks
        Length of the period in weeks, 1-520; default 52. Counts scale with
        it (about 16.3 episodes a week).
    start
        First day of the period, a Monday. Default :func:`default_start`: the
        Monday from which the period ends on the last Monday before today (UK
        time), so every date in the files is in the past. Pass a start to fix
        the dates: the same ``seed``, ``weeks`` and ``start`` give the same
        files on any day. Times are local UK wall-clock times from ``start``
        00:00.
    disruptions
        Disruptions with an effect to plant, default :data:`DISRUPTIONS` (10).
    placebos
        Placebo disruptions (no effect) to plant, default :data:`PLACEBOS`
        (10). Together at least 1 and at most :data:`MAX_DISRUPTION_PLACES`,
        whatever ``weeks``: each falls in a week with :func:`window_weeks`
        whole weeks before and after it inside the period.

    Returns
    -------
    ScenarioFiles
        The five paths and the row counts.

    Raises
    ------
    ValidationError
        ``start`` is not a Monday, ``weeks`` is outside 1-520, ``seed`` is
        negative, or ``disruptions`` and ``placebos`` are not whole numbers
        of 0 or more adding up to 1-24.
    """
    _check_counts(disruptions, placebos)
    if start is None:
        _check_weeks(weeks)
        start = default_start(weeks)
    _check_args(seed, weeks, start)
    weeks = int(weeks)
    rng = np.random.default_rng(int(seed))
    # The disruptions draw from their own generator, so planting more or fewer of them
    # leaves the children's careers and the core venues as they are.
    rng_d = np.random.default_rng([int(seed), 1])
    geo = _geography()
    cohort = _cohort(rng, geo, weeks)
    venues = _place_venues(rng, geo)
    x_hat, core = _core_intensity(venues, cohort, weeks)
    venues, intensity, planted_d = _plant_disruptions(
        rng_d, geo, venues, cohort, core, x_hat, weeks, int(disruptions), int(placebos)
    )
    plan = _plan(venues, x_hat, intensity, planted_d)
    places = _episode_places(rng, geo, venues, cohort, plan)
    reports = _venue_reports(rng, venues, plan, weeks)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    end = start + timedelta(weeks=weeks)
    spans = _skipped_hours(start, end)
    n_episodes = _write_episodes(out / "episodes.csv", start, spans, cohort, places)
    v_order = np.argsort(venues.venue_id, kind="stable")
    n_venues = _write_csv(
        out / "venues.csv",
        VENUE_COLUMNS,
        {
            "venue_id": venues.venue_id[v_order],
            "name": venues.name[v_order],
            "venue_type": venues.venue_type[v_order],
            "lat": _fmt_coord(venues.lat[v_order]),
            "lng": _fmt_coord(venues.lng[v_order]),
            "public": _bools(venues.public[v_order]),
        },
    )
    n_reports = _write_csv(
        out / "venue_reports.csv",
        REPORT_COLUMNS,
        {
            "report_id": np.array([f"R-{i + 1:06d}" for i in range(reports.venue.size)]),
            "venue_id": venues.venue_id[reports.venue],
            "reported_at": _fmt_times(_local_times(start, reports.minute, spans)),
            "source_evaluation": reports.grades[0],
            "intelligence_assessment": reports.grades[1],
            "handling_code": reports.grades[2],
        },
    )
    # Ids in date order, as a force numbers its records.
    d_order = sorted(range(len(planted_d)), key=lambda k: (planted_d[k].minute, k))
    d_ids = {k: f"D-{n + 1:04d}" for n, k in enumerate(d_order)}
    d_venue = np.array([planted_d[k].venue for k in d_order], dtype=np.int64)
    d_times = _fmt_times(
        _local_times(start, np.array([planted_d[k].minute for k in d_order], np.int64), spans)
    )
    public_d = [planted_d[k].public for k in d_order]
    n_disruptions = _write_csv(
        out / "disruptions.csv",
        DISRUPTION_COLUMNS,
        {
            "disruption_id": [d_ids[k] for k in d_order],
            "venue_id": venues.venue_id[d_venue],
            "disrupted_at": d_times,
            "lat": _fmt_coord(venues.lat[d_venue]),
            "lng": _fmt_coord(venues.lng[d_venue]),
            "tactic": [planted_d[k].tactic for k in d_order],
            "note": [planted_d[k].note for k in d_order],
            "public": ["" if p is None else ("true" if p else "false") for p in public_d],
        },
    )
    truth = _truth(
        seed=int(seed),
        weeks=weeks,
        start=start,
        cohort=cohort,
        venues=venues,
        plan=plan,
        places=places,
        reports=reports,
        d_ids=d_ids,
        d_times={k: str(t) for k, t in zip(d_order, d_times, strict=True)},
    )
    tmp = out / "truth.json.tmp"
    tmp.write_text(json.dumps(truth, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / "truth.json")

    return ScenarioFiles(
        out_dir=out,
        episodes=out / "episodes.csv",
        venues=out / "venues.csv",
        venue_reports=out / "venue_reports.csv",
        disruptions=out / "disruptions.csv",
        truth=out / "truth.json",
        n_episodes=n_episodes,
        n_children=int(cohort.child_ids.size),
        n_venues=n_venues,
        n_venue_reports=n_reports,
        n_disruptions=n_disruptions,
    )


def _write_episodes(
    path: Path, start: date, spans: list[_Span], cohort: _Cohort, places: _Places
) -> int:
    """Write ``episodes.csv`` in last-seen order; returns the row count."""
    seen_t = _local_times(start, cohort.seen, spans)
    found_t = np.maximum(_local_times(start, cohort.found, spans), seen_t + np.timedelta64(1, "m"))
    reported_t = np.minimum(_local_times(start, cohort.reported, spans), found_t)
    child_id = cohort.child_ids[cohort.child]
    order = np.lexsort((child_id, cohort.seen))
    is_open = cohort.is_open[order]
    return _write_csv(
        path,
        EPISODE_COLUMNS,
        {
            "episode_id": np.array([f"EP-{i + 1:06d}" for i in range(order.size)]),
            "child_id": child_id[order],
            "reported_at": _fmt_times(reported_t[order]),
            "last_seen_at": _fmt_times(seen_t[order]),
            "last_seen_lat": _fmt_coord(places.seen_lat[order]),
            "last_seen_lng": _fmt_coord(places.seen_lng[order]),
            "last_seen_place_type": places.seen_type[order],
            "found_at": _fmt_times(found_t[order], is_open),
            "found_lat": _fmt_coord(places.found_lat[order]),
            "found_lng": _fmt_coord(places.found_lng[order]),
            "found_place_type": places.found_type[order],
            "in_care": _bools(cohort.in_care[cohort.child][order]),
            "risk_level": places.risk[order],
        },
    )


def _optional(v: float, digits: int) -> float | None:
    """A rounded float, or None (JSON null) for NaN."""
    return None if math.isnan(v) else round(v, digits)


def _truth(
    *,
    seed: int,
    weeks: int,
    start: date,
    cohort: _Cohort,
    venues: _Venues,
    plan: _Plan,
    places: _Places,
    reports: _Reports,
    d_ids: dict[int, str],
    d_times: dict[int, str],
) -> dict[str, Any]:
    """The answer key written to ``truth.json`` (no home coordinates, no personal data)."""
    disrupted = {d.venue: d_ids[k] for k, d in enumerate(plan.disruptions)}

    def venue_entry(i: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "venue_id": str(venues.venue_id[i]),
            "name": str(venues.name[i]),
            "venue_type": str(venues.venue_type[i]),
            "lat": float(venues.lat[i]),
            "lng": float(venues.lng[i]),
            "public": bool(venues.public[i]),
            "disruption_id": disrupted.get(i),
        }
        if venues.planted[i]:
            j = plan.source_of(i)
            entry["intensity"] = round(float(plan.intensity[i]), 6)
            entry["intensity_after_disruption"] = round(float(plan.after[j]), 6)
            entry["rank"] = int(plan.rank[i])
            entry["moderate"] = bool(venues.moderate[i])
            entry["expected_found"] = round(float(places.expected_found[j]), 3)
        else:
            entry["reports_per_week"] = round(float(venues.report_rate[i]), 6)
        return entry

    win = window_weeks(weeks)
    expected = _expected_counts(cohort, venues, plan, weeks)

    def disruption_entry(k: int) -> dict[str, Any]:
        d = plan.disruptions[k]
        v = d.venue
        s = plan.site_source.get(k)
        week_start = start + timedelta(weeks=d.week)
        return {
            "disruption_id": d_ids[k],
            "venue_id": str(venues.venue_id[v]),
            "venue_type": str(venues.venue_type[v]),
            "lat": float(venues.lat[v]),
            "lng": float(venues.lng[v]),
            "place": "planted" if venues.planted[v] else "innocent",
            "date": d_times[k][:10],
            "disrupted_at": d_times[k],
            "week_index": d.week,
            "tactic": d.tactic,
            "public": d.public,
            "effect": d.effect,
            "cut": round(d.cut, 6),
            "displaced_share": round(d.displaced_share, 6),
            "displacement_lat": None if s is None else d.site_lat,
            "displacement_lng": None if s is None else d.site_lng,
            "displacement_distance_m": None
            if s is None
            else round(math.hypot(d.site_x - venues.x[v], d.site_y - venues.y[v]), 1),
            "displacement_bearing_deg": _optional(d.site_bearing_deg, 1),
            "intensity_before": round(float(plan.intensity[v]), 6),
            "intensity_after": round(float(plan.intensity[v] * (1.0 - d.cut)), 6),
            "displacement_intensity": None if s is None else round(float(plan.after[s]), 6),
            "window_weeks": win,
            "before_start": (week_start - timedelta(weeks=win)).isoformat(),
            "after_end": (week_start + timedelta(weeks=1 + win)).isoformat(),
            **expected[k],
        }

    order = sorted(range(len(plan.disruptions)), key=lambda k: d_ids[k])
    places_xy = np.array(
        [[venues.x[plan.disruptions[k].venue], venues.y[plan.disruptions[k].venue]] for k in order]
    )
    gaps = np.hypot(*(places_xy[:, None, :] - places_xy[None, :, :]).transpose(2, 0, 1))
    pairs = [
        [d_ids[order[a]], d_ids[order[b]]]
        for a in range(len(order))
        for b in range(a + 1, len(order))
        if gaps[a, b] < 2 * BUFFER_M
    ]
    closest = float(gaps[np.triu_indices(len(order), 1)].min()) if len(order) > 1 else None
    planted = plan.planted[np.argsort(plan.rank[plan.planted], kind="stable")]
    innocent = np.flatnonzero(~venues.planted)
    innocent = innocent[np.argsort(venues.venue_id[innocent], kind="stable")]
    e_exploited = cohort.exploited[cohort.child]
    tiers = ("chronic", "frequent", "occasional")
    n_planted = plan.planted.size
    effects = [d for d in plan.disruptions if d.effect]
    return {
        "seed": seed,
        "weeks": weeks,
        "start": start.isoformat(),
        "end": (start + timedelta(weeks=weeks)).isoformat(),
        "units": {
            "intensity": "expected episodes a week in which an exploited child is found "
            "within about 150 m of the venue (before its disruption)",
            "distance_m": "metres, British National Grid",
            "venue_sigma_m": "metres, Gaussian scatter per coordinate of found points",
            "cut": "share of the venue's intensity (and reports) removed from the disruption "
            "on; 0 for a placebo",
            "displaced_share": "share of the removed intensity found at the displacement site "
            "from the disruption on",
            "window_weeks": "weeks of each window before and after the disruption's own week, "
            "which belongs to neither",
            "expected": "expected_{response,buffer}_{before,after}: expected found and "
            "last-seen points (by last-seen time) from the scenario's places, and reports, "
            "in the response area (within response_m of the disrupted place) or the buffer "
            "ring (response_m to buffer_m) in each window; episodes at home, school, in "
            "public or at an unknown place come on top",
        },
        "venue_sigma_m": VENUE_SIGMA_M,
        "planted_venues": [venue_entry(int(i)) for i in planted],
        "innocent_venues": [venue_entry(int(i)) for i in innocent],
        "disruptions": [disruption_entry(k) for k in order],
        "disruption_areas": {
            "response_m": RESPONSE_M,
            "buffer_m": BUFFER_M,
            "spacing_m": DISRUPTION_SPACING_M,
            "closest_pair_m": None if closest is None else round(closest, 1),
            "overlapping_pairs": pairs,
        },
        "care_homes": [
            {
                "care_home_id": f"CH-{k + 1:02d}",
                "lat": float(cohort.care_lat[k]),
                "lng": float(cohort.care_lng[k]),
                "children": int((cohort.care_home == k).sum()),
            }
            for k in range(cohort.care_lat.size)
        ],
        "family_homes": int((~cohort.in_care).sum()),
        "exploited_child_ids": sorted(cohort.child_ids[cohort.exploited].tolist()),
        "totals": {
            "target_episodes": round(EPISODES_PER_WEEK * weeks, 1),
            "episodes": cohort.n_episodes,
            "open_episodes": int(cohort.is_open.sum()),
            "children": int(cohort.child_ids.size),
            "children_by_tier": {t: int((cohort.tier == t).sum()) for t in tiers},
            "children_in_care": int(cohort.in_care.sum()),
            "in_care_episodes": int(cohort.in_care[cohort.child].sum()),
            "exploited_children": int(cohort.exploited.sum()),
            "exploited_episodes": int(e_exploited.sum()),
            "expected_found_near_planted_venues": round(
                float(places.expected_found[:n_planted].sum()), 3
            ),
            "expected_found_at_displacement_sites": round(
                float(places.expected_found[n_planted:].sum()), 3
            ),
            "venue_reports": int(reports.venue.size),
            "venue_reports_planted": int(venues.planted[reports.venue].sum()),
            "disruptions": len(plan.disruptions),
            "effect_disruptions": len(effects),
            "placebo_disruptions": len(plan.disruptions) - len(effects),
        },
    }
