"""The synthetic scenario: determinism, realism targets, geography and truth.

Every expectation is checked against the generated files with a tolerance;
random baselines are computed here, not assumed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from geo.boundaries import BWD, StudyArea, districts
from geo.crs import BNG, latlng_to_bng
from geo.errors import ValidationError
from geo.ingest import ingest_file
from geo.pseudonym import check_key
from geo.schemas import (
    HANDLING_CODES,
    INTELLIGENCE_ASSESSMENTS,
    PLACE_TYPES,
    RISK_LEVELS,
    SOURCE_EVALUATIONS,
    TACTICS,
    VENUE_TYPES,
)
from geo.simulate import ScenarioFiles, default_start, simulate
from geo.store import open_store

START = date(2025, 1, 6)
"""The fixed first Monday of the scenarios these tests describe."""
FILES = ("episodes.csv", "venues.csv", "venue_reports.csv", "disruptions.csv", "truth.json")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
COORD = re.compile(r"^-?\d+\.\d{6}$")


@dataclass(frozen=True)
class Scenario:
    files: ScenarioFiles
    episodes: pd.DataFrame  # as text, exactly as written
    venues: pd.DataFrame
    reports: pd.DataFrame
    disruptions: pd.DataFrame
    truth: dict

    @property
    def weeks(self) -> int:
        return int(self.truth["weeks"])


def _read(files: ScenarioFiles) -> Scenario:
    def text(path: Path) -> pd.DataFrame:
        return pd.read_csv(path, dtype=str, keep_default_na=False)

    return Scenario(
        files=files,
        episodes=text(files.episodes),
        venues=text(files.venues),
        reports=text(files.venue_reports),
        disruptions=text(files.disruptions),
        truth=json.loads(files.truth.read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def scen(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """The default scenario (seed 7, 52 weeks) from 2025-01-06."""
    return _read(simulate(tmp_path_factory.mktemp("default"), start=START))


def _floats(s: pd.Series) -> npt.NDArray[np.float64]:
    return pd.to_numeric(s.replace("", np.nan)).to_numpy(dtype=np.float64)


def _times(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.replace("", None), format="%Y-%m-%dT%H:%M:%S")


def _bng(lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.float64]:
    e, n = latlng_to_bng(lat, lng)
    return np.column_stack([e, n])


def _min_dist_m(
    points: npt.NDArray[np.float64], centres: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    d = np.hypot(points[:, None, 0] - centres[None, :, 0], points[:, None, 1] - centres[None, :, 1])
    return d.min(axis=1)


def _outline_bng() -> shapely.Geometry:
    d = districts().to_crs(BNG)
    return shapely.union_all(d[d["code"] == BWD].geometry.to_numpy())


def _planted_bng(scen: Scenario) -> npt.NDArray[np.float64]:
    v = scen.truth["planted_venues"]
    return _bng([x["lat"] for x in v], [x["lng"] for x in v])


def _exploited_found(scen: Scenario) -> pd.DataFrame:
    e = scen.episodes
    ex = set(scen.truth["exploited_child_ids"])
    return e[e["child_id"].isin(ex) & (e["found_lat"] != "")]


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes(scen: Scenario, tmp_path: Path) -> None:
    again = simulate(tmp_path / "again", start=START)
    for name in FILES:
        assert (scen.files.out_dir / name).read_bytes() == (again.out_dir / name).read_bytes(), name
    assert not list(tmp_path.glob("again/*.tmp"))


def test_different_seed_gives_different_files(scen: Scenario, tmp_path: Path) -> None:
    other = simulate(tmp_path / "other", seed=8, start=START)
    for name in FILES:
        assert (scen.files.out_dir / name).read_bytes() != (other.out_dir / name).read_bytes(), name


def test_row_counts_match_files(scen: Scenario) -> None:
    f = scen.files
    assert f.n_episodes == len(scen.episodes)
    assert f.n_venues == len(scen.venues)
    assert f.n_venue_reports == len(scen.reports)
    assert f.n_disruptions == len(scen.disruptions) == 1
    assert f.n_children == scen.episodes["child_id"].nunique()
    assert scen.truth["totals"]["episodes"] == f.n_episodes


# ----------------------------------------------------------------------------- realism


def test_annual_episode_rate(scen: Scenario) -> None:
    per_year = len(scen.episodes) * 52 / scen.weeks
    assert 750 <= per_year <= 950


def test_long_tailed_repeats(scen: Scenario) -> None:
    counts = scen.episodes["child_id"].value_counts()
    assert 250 <= counts.size <= 600  # a few hundred distinct children
    assert 55 <= counts.iloc[0] <= 85  # the most-reported child
    assert (counts <= 2).mean() > 0.6  # most children once or twice
    assert (counts == 1).mean() > 0.45
    # The top 5% of children account for a large share of the episodes.
    top = counts.iloc[: max(1, counts.size // 20)].sum()
    assert top / counts.sum() > 0.2


def test_in_care_share_and_care_homes(scen: Scenario) -> None:
    e = scen.episodes
    assert set(e["in_care"]) <= {"true", "false"}
    care = e["in_care"] == "true"
    assert 0.15 <= care.mean() <= 0.25
    # In care is a child's attribute.
    assert len(e[["child_id", "in_care"]].drop_duplicates()) == e["child_id"].nunique()
    # Children in care are last seen at care homes, others never are.
    assert e.loc[care, "last_seen_place_type"].value_counts().index[0] == "care_home"
    assert not (e.loc[~care, "last_seen_place_type"] == "care_home").any()
    assert not (e.loc[care, "last_seen_place_type"] == "home").any()
    homes = scen.truth["care_homes"]
    assert 6 <= len(homes) <= 10
    at_home = e[care & (e["last_seen_place_type"] == "care_home")]
    pts = _bng(_floats(at_home["last_seen_lat"]), _floats(at_home["last_seen_lng"]))
    hub = _bng([h["lat"] for h in homes], [h["lng"] for h in homes])
    assert _min_dist_m(pts, hub).max() < 1.0
    assert sum(h["children"] for h in homes) == scen.truth["totals"]["children_in_care"]
    # Repeat runners are over-represented in care.
    per_child = e.groupby("child_id").agg(n=("episode_id", "size"), care=("in_care", "first"))
    assert (
        per_child.loc[per_child["care"] == "true", "n"].mean()
        > per_child.loc[per_child["care"] == "false", "n"].mean()
    )


def test_evening_and_weekend_timing(scen: Scenario) -> None:
    seen = _times(scen.episodes["last_seen_at"])
    evening = (seen.dt.hour >= 15).mean()
    assert evening > 0.6  # uniform would give 9/24 = 0.375
    fri_sat = seen.dt.day_of_week.isin([4, 5]).mean()
    assert fri_sat > 2 / 7 + 0.02


def test_exploited_cohort(scen: Scenario) -> None:
    e = scen.episodes
    ex = set(scen.truth["exploited_child_ids"])
    children = e.groupby("child_id")["in_care"].first()
    assert ex <= set(children.index)
    share = len(ex) / children.size
    assert 0.10 <= share <= 0.15
    is_ex = children.index.isin(sorted(ex))
    care = (children == "true").to_numpy()
    assert is_ex[care].mean() > is_ex[~care].mean()  # over-represented in care
    assert scen.truth["totals"]["exploited_children"] == len(ex)


# ----------------------------------------------------------------------------- geography


def test_every_point_inside_study_area(scen: Scenario) -> None:
    area = StudyArea()
    e, v, d, t = scen.episodes, scen.venues, scen.disruptions, scen.truth
    lat = np.concatenate(
        [
            _floats(e["last_seen_lat"]),
            _floats(e.loc[e["found_lat"] != "", "found_lat"]),
            _floats(v["lat"]),
            _floats(d["lat"]),
            [t["displacement"]["lat"]],
            [h["lat"] for h in t["care_homes"]],
        ]
    )
    lng = np.concatenate(
        [
            _floats(e["last_seen_lng"]),
            _floats(e.loc[e["found_lng"] != "", "found_lng"]),
            _floats(v["lng"]),
            _floats(d["lng"]),
            [t["displacement"]["lng"]],
            [h["lng"] for h in t["care_homes"]],
        ]
    )
    assert np.isfinite(lat).all() and np.isfinite(lng).all()
    assert (np.abs(lat) > 1).all() and (np.abs(lng) > 1).all()  # away from (0, 0)
    assert area.contains(lat, lng).all()
    # Strictly inside the district, not only within the tolerance.
    outline = _outline_bng()
    xy = _bng(lat, lng)
    assert shapely.contains_xy(outline, xy[:, 0], xy[:, 1]).mean() > 0.995


def test_exploited_found_points_concentrate_near_planted_venues(scen: Scenario) -> None:
    venues = _planted_bng(scen)
    ef = _exploited_found(scen)
    found = _bng(_floats(ef["found_lat"]), _floats(ef["found_lng"]))
    share = (_min_dist_m(found, venues) <= 200).mean()
    # Baseline: points uniform over the district.
    rng = np.random.default_rng(0)
    outline = _outline_bng()
    x0, y0, x1, y1 = outline.bounds
    cand = np.column_stack([rng.uniform(x0, x1, 40_000), rng.uniform(y0, y1, 40_000)])
    uniform = cand[shapely.contains_xy(outline, cand[:, 0], cand[:, 1])]
    baseline = (_min_dist_m(uniform, venues) <= 200).mean()
    assert share > 0.4
    assert share > 10 * baseline
    # Other children are found near planted venues far less often.
    others = scen.episodes[
        ~scen.episodes["child_id"].isin(scen.truth["exploited_child_ids"])
        & (scen.episodes["found_lat"] != "")
    ]
    other_pts = _bng(_floats(others["found_lat"]), _floats(others["found_lng"]))
    assert share > 3 * (_min_dist_m(other_pts, venues) <= 200).mean()


def test_found_counts_follow_intensity(scen: Scenario) -> None:
    truth = scen.truth
    planted = truth["planted_venues"]
    ef = _exploited_found(scen)
    found = _bng(_floats(ef["found_lat"]), _floats(ef["found_lng"]))
    site = _bng([truth["displacement"]["lat"]], [truth["displacement"]["lng"]])
    centres = np.vstack([_planted_bng(scen), site])
    d = np.hypot(found[:, None, 0] - centres[None, :, 0], found[:, None, 1] - centres[None, :, 1])
    near = d.min(axis=1) <= 150
    expected = (
        truth["totals"]["expected_found_near_planted_venues"]
        + truth["totals"]["expected_found_at_displacement_site"]
    )
    observed = int(near.sum())
    assert abs(observed - expected) <= 4 * np.sqrt(expected) + 0.1 * expected
    # Stronger venues see more found episodes (rank correlation).
    counts = np.bincount(d[near].argmin(axis=1), minlength=centres.shape[0])[: len(planted)]
    intensity = np.array([v["intensity"] for v in planted])
    rho = np.corrcoef(np.argsort(np.argsort(intensity)), np.argsort(np.argsort(counts)))[0, 1]
    assert rho > 0.4
    # Intensity is expected found-episodes a week.
    assert intensity.sum() * scen.weeks == pytest.approx(
        sum(v["expected_found"] for v in planted), rel=0.35
    )


# ----------------------------------------------------------------------------- episode rows


def test_episode_values_and_formats(scen: Scenario) -> None:
    e = scen.episodes
    assert e["episode_id"].is_unique
    assert e["episode_id"].str.fullmatch(r"EP-\d{6}").all()
    assert e["child_id"].str.fullmatch(r"SYN-C\d{4,}").all()
    assert set(e["last_seen_place_type"]) <= set(PLACE_TYPES)
    assert set(e["found_place_type"]) - {""} <= set(PLACE_TYPES)
    assert set(e["risk_level"]) <= set(RISK_LEVELS)
    for col in ("reported_at", "last_seen_at"):
        assert e[col].str.fullmatch(ISO).all(), col
    closed = e["found_at"] != ""
    assert e.loc[closed, "found_at"].str.fullmatch(ISO).all()
    for col in ("last_seen_lat", "last_seen_lng"):
        assert e[col].str.fullmatch(COORD).all(), col
    for col in ("found_lat", "found_lng", "found_place_type"):
        assert ((e[col] != "") == closed).all(), col
        if col != "found_place_type":
            assert e.loc[closed, col].str.fullmatch(COORD).all()
    # Exploited children are the ones found at venues and rated high risk more often.
    ex = e["child_id"].isin(scen.truth["exploited_child_ids"])
    assert (e.loc[ex, "found_place_type"] == "venue").mean() > 0.2
    assert not (e.loc[~ex, "found_place_type"] == "venue").any()
    assert (e.loc[ex, "risk_level"] == "high").mean() > (e.loc[~ex, "risk_level"] == "high").mean()


def test_episode_times_are_consistent(scen: Scenario) -> None:
    e = scen.episodes
    seen, reported, found = (_times(e[c]) for c in ("last_seen_at", "reported_at", "found_at"))
    start = pd.Timestamp(scen.truth["start"])
    end = pd.Timestamp(scen.truth["end"])
    assert (seen >= start).all() and (seen < end).all()
    assert (reported >= seen).all()
    assert (reported - seen <= pd.Timedelta(hours=12)).all()
    closed = found.notna()
    assert (found[closed] > seen[closed]).all()
    assert (found[closed] >= reported[closed]).all()
    hours = (found[closed] - seen[closed]).dt.total_seconds() / 3600
    assert 2 <= hours.median() <= 24  # hours ...
    assert hours.max() > 72  # ... with a long tail of days
    # A child's episodes do not overlap.
    frame = pd.DataFrame({"child": e["child_id"], "seen": seen, "found": found}).sort_values(
        ["child", "seen"]
    )
    nxt = frame.groupby("child")["seen"].shift(-1)
    has_next = nxt.notna()
    assert frame.loc[has_next, "found"].notna().all()
    assert (frame.loc[has_next, "found"] < nxt[has_next]).all()
    # Open episodes are few and near the end.
    assert 1 <= (~closed).sum() <= 0.02 * len(e)
    assert (seen[~closed] >= end - pd.Timedelta(days=21)).all()
    # Every local time exists and is unambiguous in UK time.
    for t in (seen, reported, found[closed]):
        t.dt.tz_localize("Europe/London", ambiguous="raise", nonexistent="raise")


def test_no_personal_columns(scen: Scenario) -> None:
    personal = re.compile(r"name|dob|birth|address|street|postcode|phone|mobile|email", re.I)
    for frame, allowed in (
        (scen.episodes, set()),
        (scen.venues, {"name"}),  # a venue's neutral name
        (scen.reports, set()),
        (scen.disruptions, set()),
    ):
        assert [c for c in frame.columns if personal.search(c) and c not in allowed] == []
    labels = "Hotel|Takeaway|Taxi rank|Licensed premises|Park|House|Car park|Shisha bar|Shop"
    assert scen.venues["name"].str.fullmatch(rf"(?:{labels}) \d+").all()
    assert scen.venues["name"].is_unique


# ----------------------------------------------------------------------------- venues, reports


def test_venues_and_reports(scen: Scenario) -> None:
    v, r, t = scen.venues, scen.reports, scen.truth
    assert v["venue_id"].is_unique and set(v["venue_type"]) <= set(VENUE_TYPES)
    assert set(v["public"]) <= {"true", "false"}
    for col in ("lat", "lng"):
        assert v[col].str.fullmatch(COORD).all()
    planted = {x["venue_id"] for x in t["planted_venues"]}
    innocent = {x["venue_id"] for x in t["innocent_venues"]}
    assert 12 <= len(planted) <= 18 and innocent and not planted & innocent
    assert planted | innocent == set(v["venue_id"])
    assert {"hotel", "takeaway", "taxi_rank", "licensed_premises", "park", "house"} <= set(
        v.loc[v["venue_id"].isin(sorted(planted)), "venue_type"]
    )
    # Venues are distinct places.
    xy = _bng(_floats(v["lat"]), _floats(v["lng"]))
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    assert d[np.triu_indices(len(v), 1)].min() > 250

    assert r["report_id"].is_unique and set(r["venue_id"]) <= set(v["venue_id"])
    assert set(r["source_evaluation"]) <= set(SOURCE_EVALUATIONS)
    assert set(r["intelligence_assessment"]) <= set(INTELLIGENCE_ASSESSMENTS)
    assert set(r["handling_code"]) <= set(HANDLING_CODES)
    assert r["reported_at"].str.fullmatch(ISO).all()
    is_p = r["venue_id"].isin(sorted(planted))
    assert is_p.sum() > 0 and (~is_p).sum() > 0  # reports about both kinds of place
    # Better gradings on average about exploitation venues.
    src = r["source_evaluation"].astype(int)
    ia = r["intelligence_assessment"].map({k: i for i, k in enumerate("ABCDE")})
    assert src[is_p].mean() < src[~is_p].mean()
    assert ia[is_p].mean() < ia[~is_p].mean() - 0.5
    # Reports arrive in proportion to intensity.
    per = r[is_p].groupby("venue_id").size()
    inten = pd.Series({x["venue_id"]: x["intensity"] for x in t["planted_venues"]})
    per = per.reindex(inten.index, fill_value=0)
    assert np.corrcoef(inten.rank(), per.rank())[0, 1] > 0.5


# ----------------------------------------------------------------------------- disruption


def test_one_disruption_and_displacement(scen: Scenario) -> None:
    d, t = scen.disruptions, scen.truth
    assert len(d) == 1
    row = d.iloc[0]
    dis = t["disruption"]
    assert row["venue_id"] == dis["venue_id"] and row["tactic"] in TACTICS
    assert row["disrupted_at"] == dis["disrupted_at"] and ISO.fullmatch(row["disrupted_at"])
    planted = sorted(t["planted_venues"], key=lambda x: x["rank"])
    assert dis["venue_id"] in [x["venue_id"] for x in planted[:4]]  # one of the strongest
    venue = scen.venues.set_index("venue_id").loc[row["venue_id"]]
    assert (row["lat"], row["lng"], row["public"]) == (venue["lat"], venue["lng"], venue["public"])
    assert row["note"] and not re.search(r"\d{3,}", row["note"])
    # At the known week, default 60% through the period.
    start = date.fromisoformat(t["start"])
    when = date.fromisoformat(dis["date"])
    assert (when - start).days // 7 == dis["week_index"] == round(0.6 * scen.weeks)
    assert 0 < dis["intensity_cut_factor"] < 1
    # The displacement site is 150-400 m from the venue.
    v_xy = _bng([float(row["lat"])], [float(row["lng"])])
    s_xy = _bng([t["displacement"]["lat"]], [t["displacement"]["lng"]])
    dist = float(np.hypot(*(s_xy - v_xy)[0]))
    assert 150 - 1 <= dist <= 400
    assert dist == pytest.approx(t["displacement"]["distance_m"], abs=1.0)
    assert 0 < t["displacement"]["share_of_cut"] < 1
    # Found episodes near the venue fall after the disruption; some appear at the site.
    ef = _exploited_found(scen)
    found = _bng(_floats(ef["found_lat"]), _floats(ef["found_lng"]))
    after = (_times(ef["last_seen_at"]) >= pd.Timestamp(dis["disrupted_at"])).to_numpy()
    weeks_before = dis["week_index"] + 1 / 7
    weeks_after = scen.weeks - weeks_before
    to_venue = np.hypot(*(found - v_xy).T)
    to_site = np.hypot(*(found - s_xy).T)
    # (The disrupted venue is indoor premises, so children found there are at a `venue`.)
    at_a_venue = (ef["found_place_type"] == "venue").to_numpy()
    at_venue = at_a_venue & (to_venue <= 150) & (to_venue < to_site)
    at_site = at_a_venue & (to_site <= 150) & (to_site < to_venue)
    # The direction of each change is asserted where the expected counts give the
    # comparison power (they do for the default scenario).
    if dis["intensity_before"] * weeks_before >= 8:
        assert at_venue[after].sum() / weeks_after < at_venue[~after].sum() / weeks_before
    core = at_a_venue & (to_site <= 75)  # the site's core, clear of the venue's scatter
    if t["displacement"]["intensity"] * weeks_after >= 2:
        assert core[after].sum() / weeks_after >= core[~after].sum() / weeks_before
    # Counts agree with the truth's intensities (Poisson tolerance).
    for observed, rate, span in (
        (at_venue[~after].sum(), dis["intensity_before"], weeks_before),
        (at_venue[after].sum(), dis["intensity_after"], weeks_after),
        (at_site[after].sum(), t["displacement"]["intensity"], weeks_after),
    ):
        expected = rate * span
        assert abs(observed - expected) <= 4 * np.sqrt(expected) + 0.25 * expected + 2
    assert dis["intensity_after"] == pytest.approx(
        dis["intensity_before"] * (1 - dis["intensity_cut_factor"]), rel=1e-3
    )
    assert t["displacement"]["intensity"] == pytest.approx(
        dis["intensity_before"] * dis["intensity_cut_factor"] * t["displacement"]["share_of_cut"],
        rel=1e-3,
    )


# ----------------------------------------------------------------------------- truth


def test_truth_json(scen: Scenario) -> None:
    t = scen.truth
    text = scen.files.truth.read_text(encoding="utf-8")
    assert text == json.dumps(t, sort_keys=True, indent=2) + "\n"
    assert (t["seed"], t["weeks"], t["start"]) == (7, 52, "2025-01-06")
    ids = set(scen.venues["venue_id"])
    for v in t["planted_venues"] + t["innocent_venues"]:
        assert v["venue_id"] in ids
        row = scen.venues.set_index("venue_id").loc[v["venue_id"]]
        assert (f"{v['lat']:.6f}", f"{v['lng']:.6f}", v["venue_type"]) == (
            row["lat"],
            row["lng"],
            row["venue_type"],
        )
    ranks = [v["rank"] for v in t["planted_venues"]]
    assert sorted(ranks) == list(range(1, len(ranks) + 1))
    inten = np.array([v["intensity"] for v in sorted(t["planted_venues"], key=lambda x: x["rank"])])
    assert (inten > 0).all() and (np.diff(inten) <= 0).all()
    assert inten[:3].sum() / inten.sum() > 0.35  # a few dominant venues
    assert t["family_homes"] + t["totals"]["children_in_care"] == t["totals"]["children"]
    assert isinstance(t["family_homes"], int)  # a count, never coordinates
    assert t["totals"]["target_episodes"] == pytest.approx(16.3 * 52)


# ----------------------------------------------------------------------------- arguments


def test_four_weeks(tmp_path: Path) -> None:
    s = _read(simulate(tmp_path, weeks=4, seed=3, start=START))
    assert 30 <= len(s.episodes) <= 110
    assert s.truth["weeks"] == 4 and 1 <= s.truth["disruption"]["week_index"] <= 3
    seen = _times(s.episodes["last_seen_at"])
    assert (seen < pd.Timestamp("2025-02-03")).all()
    lat = np.concatenate([_floats(s.episodes["last_seen_lat"]), _floats(s.venues["lat"])])
    lng = np.concatenate([_floats(s.episodes["last_seen_lng"]), _floats(s.venues["lng"])])
    assert StudyArea().contains(lat, lng).all()


def test_other_start_monday_shifts_dates(tmp_path: Path) -> None:
    s = _read(simulate(tmp_path, weeks=2, start=date(2024, 3, 18)))
    seen = _times(s.episodes["last_seen_at"])
    assert (seen >= pd.Timestamp("2024-03-18")).all() and (seen < pd.Timestamp("2024-04-01")).all()


@pytest.mark.parametrize("start", [date(2025, 1, 7), date(2025, 1, 5)])
def test_start_not_monday_raises(tmp_path: Path, start: date) -> None:
    with pytest.raises(ValidationError, match="Monday"):
        simulate(tmp_path, start=start)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("weeks", [0, 521, -3])
def test_weeks_out_of_range_raises(tmp_path: Path, weeks: int) -> None:
    with pytest.raises(ValidationError, match="`weeks`"):
        simulate(tmp_path, weeks=weeks)


def test_start_monday_check_names_the_fix(tmp_path: Path) -> None:
    wed = date(2025, 1, 8)
    with pytest.raises(ValidationError, match=(wed - timedelta(days=2)).isoformat()):
        simulate(tmp_path, start=wed)


# ----------------------------------------------------------------------------- default start


def _uk_today() -> date:
    return pd.Timestamp.now(tz="Europe/London").date()


@pytest.mark.parametrize(
    ("today", "weeks", "first"),
    [
        # Worked by hand: 2026-03-09 is a Monday (2026-01-05 is the year's first Monday).
        (date(2026, 3, 11), 1, date(2026, 3, 2)),  # Wednesday: ends Monday 9 March
        (date(2026, 3, 15), 1, date(2026, 3, 2)),  # Sunday: ends Monday 9 March
        (date(2026, 3, 9), 1, date(2026, 2, 23)),  # a Monday: ends the Monday before, 2 March
        (date(2026, 3, 10), 104, date(2024, 3, 11)),  # 9 March 2026 less 728 days
        (date(2026, 1, 1), 52, date(2024, 12, 30)),  # 29 December 2025 less 364 days
    ],
)
def test_default_start_ends_on_the_last_monday_before_today(
    today: date, weeks: int, first: date
) -> None:
    assert default_start(weeks, today=today) == first


@given(
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    weeks=st.integers(min_value=1, max_value=520),
)
def test_default_start_is_the_latest_monday_that_ends_before_today(today: date, weeks: int) -> None:
    first = default_start(weeks, today=today)
    end = first + timedelta(weeks=weeks)
    assert first.weekday() == 0
    assert end < today  # over by the day before today, UK time
    assert end + timedelta(weeks=1) >= today  # and no week earlier than needed


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weeks": 0}, "`weeks`"),
        ({"weeks": 10, "today": datetime(2026, 3, 11, 12, 0)}, "`today` must be a date"),
        ({"weeks": 10, "today": "2026-03-11"}, "`today` must be a date"),
    ],
)
def test_default_start_refuses_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        default_start(**kwargs)


def test_scenario_without_start_ends_before_today_and_ingests_without_future_dates(
    tmp_path: Path,
) -> None:
    before = _uk_today()
    s = _read(simulate(tmp_path / "s", weeks=104, seed=3))
    after = _uk_today()
    # Every time written, including reports made hours after a last sighting, is before
    # today's midnight (UK wall-clock time, as the files hold it).
    midnight = pd.Timestamp(before)
    times = pd.concat(
        [_times(s.episodes[c]).dropna() for c in ("reported_at", "last_seen_at", "found_at")]
        + [_times(s.reports["reported_at"]), _times(s.disruptions["disrupted_at"])]
    )
    assert len(times) > 1000
    assert (times < midnight).all(), times.max()
    first = date.fromisoformat(s.truth["start"])
    assert first in {default_start(104, today=before), default_start(104, today=after)}
    assert date.fromisoformat(s.truth["end"]) == first + timedelta(weeks=104)
    # So ingest quarantines none of them as a future date.
    store = open_store(str(tmp_path / "engage.gpkg"))
    store.init()
    try:
        report = ingest_file(
            store,
            "episodes",
            s.files.episodes,
            key=check_key("simulate-test-key-0123456789-abcdefgh"),
            quarantine_dir=tmp_path / "q",
        )
    finally:
        store.close()
    assert report.rows_read == len(s.episodes)
    assert not [r for r in report.reasons if "future" in r], report.reasons
    assert report.rows_quarantined == 0, report.reasons
