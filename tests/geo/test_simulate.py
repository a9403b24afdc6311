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

from geo.boundaries import BWD, districts
from geo.crs import BNG, latlng_to_bng
from geo.errors import ValidationError
from geo.ingest import ingest_file
from geo.pseudonym import check_key
from geo.schemas import (
    HANDLING_CODES,
    INTELLIGENCE_ASSESSMENTS,
    PLACE_TYPES,
    PRIVATE_PLACE_TYPES,
    RISK_LEVELS,
    SOURCE_EVALUATIONS,
    TACTICS,
    VENUE_TYPES,
)
from geo.simulate import (
    DISRUPTIONS,
    PLACEBOS,
    ScenarioFiles,
    default_start,
    simulate,
    window_weeks,
)
from geo.store import open_store
from geo.studyarea import StudyArea

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


@pytest.fixture(scope="module")
def two_years(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Two years (seed 7, 104 weeks) from 2025-01-06: full 26-week review windows."""
    return _read(simulate(tmp_path_factory.mktemp("two_years"), weeks=104, start=START))


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
    assert f.n_disruptions == len(scen.disruptions) == len(scen.truth["disruptions"])
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
            [x["displacement_lat"] for x in t["disruptions"] if x["effect"]],
            [h["lat"] for h in t["care_homes"]],
        ]
    )
    lng = np.concatenate(
        [
            _floats(e["last_seen_lng"]),
            _floats(e.loc[e["found_lng"] != "", "found_lng"]),
            _floats(v["lng"]),
            _floats(d["lng"]),
            [x["displacement_lng"] for x in t["disruptions"] if x["effect"]],
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
    effects = [x for x in truth["disruptions"] if x["effect"]]
    sites = _bng([x["displacement_lat"] for x in effects], [x["displacement_lng"] for x in effects])
    centres = np.vstack([_planted_bng(scen), sites])
    d = np.hypot(found[:, None, 0] - centres[None, :, 0], found[:, None, 1] - centres[None, :, 1])
    near = d.min(axis=1) <= 150
    expected = (
        truth["totals"]["expected_found_near_planted_venues"]
        + truth["totals"]["expected_found_at_displacement_sites"]
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
    core = [x for x in t["planted_venues"] if not x["moderate"]]
    innocent = {x["venue_id"] for x in t["innocent_venues"]}
    assert 12 <= len(core) <= 18 and innocent and not planted & innocent
    assert planted | innocent == set(v["venue_id"])
    assert {"hotel", "takeaway", "taxi_rank", "licensed_premises", "park", "house"} <= set(
        v.loc[v["venue_id"].isin(sorted(planted)), "venue_type"]
    )
    # Venues are distinct places.
    xy = _bng(_floats(v["lat"]), _floats(v["lng"]))
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    assert d[np.triu_indices(len(v), 1)].min() > 250
    # Every disruption is at a venue of its own.
    assert scen.disruptions["venue_id"].is_unique
    assert set(scen.disruptions["venue_id"]) <= set(v["venue_id"])

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


# ----------------------------------------------------------------------------- disruptions


def _week_of(scen: Scenario, times: pd.Series) -> npt.NDArray[np.float64]:
    """Week index (from the scenario's start Monday) of local times; NaN where missing."""
    days = (_times(times) - pd.Timestamp(scen.truth["start"])).dt.days
    return (days // 7).to_numpy(dtype=np.float64)


def _observed(scen: Scenario, x: dict, area: str, when: str) -> dict[str, int]:
    """Found and last-seen points of exploited children away from homes and care homes
    (as the weekly targets count events), and reports, in a disruption's response area
    (or buffer ring) and window, as the truth's expected counts count them."""
    win, week = x["window_weeks"], x["week_index"]
    lo, hi = (week - win, week) if when == "before" else (week + 1, week + 1 + win)
    r0, r1 = (0.0, 150.0) if area == "response" else (150.0, 400.0)
    place = _bng([x["lat"]], [x["lng"]])[0]
    e = scen.episodes[scen.episodes["child_id"].isin(scen.truth["exploited_child_ids"])]
    in_window = (_week_of(scen, e["last_seen_at"]) >= lo) & (_week_of(scen, e["last_seen_at"]) < hi)
    out = {}
    for kind in ("found", "last_seen"):
        private = e[f"{kind}_place_type"].isin(PRIVATE_PLACE_TYPES)
        pts = e[in_window & (e[f"{kind}_lat"] != "") & ~private]
        d = np.hypot(*(_bng(_floats(pts[f"{kind}_lat"]), _floats(pts[f"{kind}_lng"])) - place).T)
        out[kind] = int(((d <= r1) & ((d > r0) | (r0 == 0))).sum())
    r = scen.reports
    rw = _week_of(scen, r["reported_at"])
    about = (r["venue_id"] == x["venue_id"]).to_numpy() & (rw >= lo) & (rw < hi)
    out["reports"] = int(about.sum()) if area == "response" else 0
    out["events"] = out["found"] + out["last_seen"] + out["reports"]
    return out


def _pooled(scen: Scenario, rows: list[dict], area: str, when: str, kind: str) -> tuple[int, float]:
    """Observed and expected counts of one kind, summed over disruptions."""
    obs = sum(_observed(scen, x, area, when)[kind] for x in rows)
    exp = sum(x[f"expected_{area}_{when}"][kind] for x in rows)
    return obs, exp


def _poisson_close(observed: int, expected: float) -> bool:
    """Within four Poisson standard deviations, with room for the points that the truth
    leaves out (exploited children found or last seen near home or in public by chance)."""
    return abs(observed - expected) <= 4 * np.sqrt(expected) + 2


def test_default_disruptions_counts_tactics_and_files(two_years: Scenario) -> None:
    t, d = two_years.truth, two_years.disruptions
    rows = t["disruptions"]
    effects = [x for x in rows if x["effect"]]
    placebos = [x for x in rows if not x["effect"]]
    assert len(effects) == DISRUPTIONS >= 8 and len(placebos) == PLACEBOS >= 10
    assert t["totals"]["effect_disruptions"] == len(effects)
    assert t["totals"]["placebo_disruptions"] == len(placebos)
    # The file holds every disruption of the truth, at its venue's point.
    assert d["disruption_id"].is_unique and d["disruption_id"].str.fullmatch(r"D-\d{4}").all()
    assert list(d["disruption_id"]) == [x["disruption_id"] for x in rows]
    venues = two_years.venues.set_index("venue_id")
    for x, (_, row) in zip(rows, d.iterrows(), strict=True):
        assert row["venue_id"] == x["venue_id"] and row["tactic"] == x["tactic"] in TACTICS
        assert ISO.fullmatch(row["disrupted_at"]) and row["disrupted_at"] == x["disrupted_at"]
        assert row["disrupted_at"][:10] == x["date"]
        v = venues.loc[row["venue_id"]]
        assert (row["lat"], row["lng"]) == (v["lat"], v["lng"])
        assert (row["lat"], row["lng"]) == (f"{x['lat']:.6f}", f"{x['lng']:.6f}")
        assert row["public"] == {True: "true", False: "false", None: ""}[x["public"]]
        assert row["note"] and not re.search(r"\d{3,}", row["note"])
    # Ids in date order.
    assert list(d["disrupted_at"]) == sorted(d["disrupted_at"])
    # Some may be named to partners, others not.
    assert {"true", "false"} <= set(d["public"])
    # Every tactic has effects and placebos, so a review can pool by tactic.
    tactics = {x["tactic"] for x in rows}
    assert len(tactics) >= 4
    for tactic in tactics:
        assert sum(x["tactic"] == tactic for x in effects) >= 1, tactic
        assert sum(x["tactic"] == tactic for x in placebos) >= 1, tactic
    # Placebos at moderate planted venues and at innocent venues.
    assert {x["place"] for x in placebos} == {"planted", "innocent"}
    assert {x["place"] for x in effects} == {"planted"}


def test_disruptions_never_at_the_ten_strongest_venues(two_years: Scenario) -> None:
    t = two_years.truth
    by_rank = sorted(t["planted_venues"], key=lambda v: v["rank"])
    top = {v["venue_id"] for v in by_rank[:10]}
    tenth = by_rank[9]["intensity"]
    planted = {v["venue_id"]: v for v in t["planted_venues"]}
    innocent = {v["venue_id"] for v in t["innocent_venues"]}
    for x in t["disruptions"]:
        assert x["venue_id"] not in top
        if x["place"] == "planted":
            v = planted[x["venue_id"]]
            assert v["moderate"] and v["disruption_id"] == x["disruption_id"]
            assert 0 < v["intensity"] == x["intensity_before"] < tenth
        else:
            assert x["venue_id"] in innocent and x["intensity_before"] == 0
    # The core venues are left alone.
    assert all(v["disruption_id"] is None for v in t["planted_venues"] if not v["moderate"])


def test_effects_and_placebos(two_years: Scenario) -> None:
    for x in two_years.truth["disruptions"]:
        if x["effect"]:
            assert 0 < x["cut"] < 1 and 0 < x["displaced_share"] < 1
            assert x["intensity_after"] == pytest.approx(
                x["intensity_before"] * (1 - x["cut"]), rel=1e-3
            )
            assert x["displacement_intensity"] == pytest.approx(
                x["intensity_before"] * x["cut"] * x["displaced_share"], rel=1e-3
            )
        else:
            assert x["cut"] == 0 and x["displaced_share"] == 0
            assert x["intensity_after"] == x["intensity_before"]
            for key in ("displacement_lat", "displacement_lng", "displacement_intensity"):
                assert x[key] is None, key


def test_disruption_windows_lie_inside_the_period(two_years: Scenario) -> None:
    t = two_years.truth
    start = date.fromisoformat(t["start"])
    end = date.fromisoformat(t["end"])
    for x in t["disruptions"]:
        assert x["window_weeks"] == window_weeks(104) == 26
        when = date.fromisoformat(x["date"])
        assert (when - start).days // 7 == x["week_index"]
        assert start <= date.fromisoformat(x["before_start"])
        assert date.fromisoformat(x["after_end"]) <= end
        # 26 whole weeks before the disruption's own week and 26 after it.
        own_week = start + timedelta(weeks=x["week_index"])
        assert own_week - date.fromisoformat(x["before_start"]) == timedelta(weeks=26)
        assert date.fromisoformat(x["after_end"]) - own_week == timedelta(weeks=27)
        assert x["week_index"] - 26 >= 0 and x["week_index"] + 1 + 26 <= 104


@pytest.mark.parametrize(("weeks", "window"), [(1, 0), (2, 0), (3, 1), (52, 25), (53, 26)])
def test_window_weeks_shrink_with_the_period(weeks: int, window: int) -> None:
    assert window_weeks(weeks) == window
    assert 2 * window + 1 <= weeks


def test_displacement_sites_lie_in_the_buffer(two_years: Scenario) -> None:
    for x in two_years.truth["disruptions"]:
        if not x["effect"]:
            continue
        v_xy = _bng([x["lat"]], [x["lng"]])
        s_xy = _bng([x["displacement_lat"]], [x["displacement_lng"]])
        dist = float(np.hypot(*(s_xy - v_xy)[0]))
        assert 150 < dist < 400
        assert dist == pytest.approx(x["displacement_distance_m"], abs=1.0)


def test_disruption_areas_do_not_overlap(two_years: Scenario) -> None:
    t = two_years.truth
    xy = _bng([x["lat"] for x in t["disruptions"]], [x["lng"] for x in t["disruptions"]])
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    gaps = d[np.triu_indices(len(xy), 1)]
    areas = t["disruption_areas"]
    assert (areas["response_m"], areas["buffer_m"]) == (150, 400)
    assert gaps.min() > 2 * areas["buffer_m"]
    assert areas["overlapping_pairs"] == []
    assert areas["closest_pair_m"] == pytest.approx(gaps.min(), abs=1.0)
    # No other venue (nor a care home) in a disruption's 400 m area.
    others = two_years.venues[~two_years.venues["venue_id"].isin(two_years.disruptions["venue_id"])]
    around = np.vstack(
        [
            _bng(_floats(others["lat"]), _floats(others["lng"])),
            _bng([h["lat"] for h in t["care_homes"]], [h["lng"] for h in t["care_homes"]]),
        ]
    )
    assert _min_dist_m(xy, around).min() > areas["buffer_m"]


def test_the_planted_effects_show_in_the_data(two_years: Scenario) -> None:
    """Pooled over the effect disruptions, events in the response areas fall after the
    disruption as the truth expects."""
    rows = [x for x in two_years.truth["disruptions"] if x["effect"]]
    before, e_before = _pooled(two_years, rows, "response", "before", "events")
    after, e_after = _pooled(two_years, rows, "response", "after", "events")
    assert _poisson_close(before, e_before), (before, e_before)
    assert _poisson_close(after, e_after), (after, e_after)
    # The expected fall is 2.5 standard deviations of the difference or more (the
    # truth's counts), so the fall must show.
    assert e_before - e_after >= 2.5 * np.sqrt(e_before + e_after)
    assert after < before
    for kind in ("found", "last_seen", "reports"):
        for when in ("before", "after"):
            obs, exp = _pooled(two_years, rows, "response", when, kind)
            assert _poisson_close(obs, exp), (kind, when, obs, exp)
    # Displacement puts found episodes in each buffer ring that it did not hold before.
    # (Pooled over the sites they are a handful in two years, below what the ring's
    # other events let a count show, so the data check is test_found_counts_follow_intensity.)
    for x in rows:
        assert x["expected_buffer_after"]["found"] > x["expected_buffer_before"]["found"]


def test_placebos_change_nothing_beyond_chance(two_years: Scenario) -> None:
    rows = [x for x in two_years.truth["disruptions"] if not x["effect"]]
    planted = [x for x in rows if x["place"] == "planted"]
    before, e_before = _pooled(two_years, planted, "response", "before", "events")
    after, e_after = _pooled(two_years, planted, "response", "after", "events")
    assert _poisson_close(before, e_before) and _poisson_close(after, e_after)
    # Expected counts differ only as the number of episodes does from window to window.
    assert e_after == pytest.approx(e_before, rel=0.35)
    assert abs(after - before) <= abs(e_after - e_before) + 4 * np.sqrt(e_before + e_after)
    # At innocent venues, reports keep their pace (other children's found episodes
    # there are not counted by _observed, which follows exploited children).
    for when in ("before", "after"):
        obs, exp = _pooled(two_years, rows, "response", when, "reports")
        assert _poisson_close(obs, exp), (when, obs, exp)


def test_disruption_counts_can_be_chosen(tmp_path: Path) -> None:
    s = _read(simulate(tmp_path / "a", weeks=6, seed=2, start=START, disruptions=2, placebos=3))
    rows = s.truth["disruptions"]
    assert len(s.disruptions) == len(rows) == 5
    assert sum(x["effect"] for x in rows) == 2
    assert all(2 <= x["week_index"] <= 3 for x in rows)  # window_weeks(6) == 2


def test_disruptions_leave_the_childrens_episodes_as_they_are(
    scen: Scenario, tmp_path: Path
) -> None:
    """The disruptions draw from their own generator: fewer of them change where children
    are found, not who went missing when."""
    other = _read(simulate(tmp_path / "few", start=START, disruptions=1, placebos=0))
    cols = ["episode_id", "child_id", "reported_at", "last_seen_at", "found_at", "in_care"]
    pd.testing.assert_frame_equal(scen.episodes[cols], other.episodes[cols])
    assert len(other.disruptions) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"disruptions": -1}, "`disruptions` must be a whole number"),
        ({"placebos": 2.5}, "`placebos` must be a whole number"),
        ({"disruptions": True}, "`disruptions` must be a whole number"),
        ({"disruptions": 0, "placebos": 0}, "add up to 1-24"),
        ({"disruptions": 20, "placebos": 5}, "add up to 1-24"),
    ],
)
def test_disruption_counts_are_checked(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        simulate(tmp_path / "x", weeks=4, start=START, **kwargs)
    assert not (tmp_path / "x").exists()


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
    by_rank = sorted(t["planted_venues"], key=lambda x: x["rank"])
    inten = np.array([v["intensity"] for v in by_rank])
    assert (inten > 0).all() and (np.diff(inten) <= 0).all()
    core = np.array([v["intensity"] for v in by_rank if not v["moderate"]])
    assert core[:3].sum() / core.sum() > 0.35  # a few dominant venues
    # The moderate venues rank below the ten strongest, all of them core venues.
    assert not any(v["moderate"] for v in by_rank[:10])
    assert t["totals"]["disruptions"] == len(t["disruptions"])
    assert t["family_homes"] + t["totals"]["children_in_care"] == t["totals"]["children"]
    assert isinstance(t["family_homes"], int)  # a count, never coordinates
    assert t["totals"]["target_episodes"] == pytest.approx(16.3 * 52)


# ----------------------------------------------------------------------------- arguments


def test_four_weeks(tmp_path: Path) -> None:
    s = _read(simulate(tmp_path, weeks=4, seed=3, start=START))
    assert 30 <= len(s.episodes) <= 110
    assert s.truth["weeks"] == 4
    # One whole week before and after each disruption's own week: weeks 1 and 2.
    assert len(s.truth["disruptions"]) == len(s.disruptions) == DISRUPTIONS + PLACEBOS
    for x in s.truth["disruptions"]:
        assert x["window_weeks"] == window_weeks(4) == 1
        assert x["week_index"] in (1, 2)
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
