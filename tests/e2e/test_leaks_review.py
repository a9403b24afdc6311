"""The leak test for the partnership review: every review output, for analyst and partner.

A synthetic scenario (the simulator's episodes and venues) is ingested with
disruptions written here: at venues that are public and not, with public
and non-public disruptions, and each with a note that must never reach a
partner. ``engage review`` writes its folder for both audiences; the test
reads every file back (review.csv, review.geojson, run.json, the PDF's
text, the HTML raw, unescaped and without tags) and asserts, with the rules
written out here (docs/disclosure.md, "The partnership review"):

- both audiences: no home or care-home coordinate;
- partner: no child id or pseudonym, no episode id, no disruption note, no
  name of a venue that is neither public nor disrupted publicly; every count
  field reads 0, ``<k``, ``[c]`` or a multiple of 5 of at least k, and each
  equals the rule applied to the exact count worked out here from the input
  rows with pyproj (or ``[c]``); estimates and intervals are multiples of 5;
  no standard error, z or count ratio; p-values only as bands; no relation
  (a tactic against its disruptions) with exactly one hidden value; every
  number beside a count word in a sentence keeps the rule;
- analyst: the same counts exact.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry
from pyproj import Transformer
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from api.usecases.ingest import ingest_files
from api.usecases.store import opened_store
from geo import schemas
from geo.simulate import simulate
from tests.e2e.test_leaks import GRADING, NUMBER_BEFORE_COUNT, _has_point, expected, shown_ok
from tests.e2e.test_leaks import _texts as _all_texts

KEY = "leak-test-review-key-0123456789abcdefgh"
K = 5
START = date(2025, 1, 6)  # a Monday
WEEKS = 70
runner = CliRunner()
NOTE = "NOTE-SENTINEL-must-not-reach-partners"
COUNT_FIELDS = ("response", "buffer", "control", "buffer_control")
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def _disruptions(venues: pd.DataFrame) -> list[dict[str, Any]]:
    """Six disruptions at venues spread over the area, two tactics, mixed public flags."""
    picked = venues.iloc[:: max(1, len(venues) // 6)].head(6).reset_index(drop=True)
    tactics = ["closure_order", "cawn", "closure_order", "cawn", "closure_order", "cawn"]
    rows = []
    for i, v in picked.iterrows():
        day = START + timedelta(weeks=32 + 2 * int(i), days=2)
        rows.append(
            {
                "disruption_id": f"LEAKD-{i + 1:02d}",
                "venue_id": v["venue_id"],
                "disrupted_at": f"{day.isoformat()}T11:00:00",
                "tactic": tactics[int(i)],
                "note": f"{NOTE} {i}",
                "public": "true" if i in (0, 3) else "false",
            }
        )
    return rows


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("review-leaks")
    files = simulate(root / "scenario", seed=11, weeks=WEEKS, start=START)
    location = str(root / "review.gpkg")
    settings = Settings(store=location, quarantine_dir=root / "q", pseudonym_key=KEY)
    venues = pd.read_csv(files.venues)
    disruptions = _disruptions(venues)
    for kind, path in (
        ("venues", files.venues),
        ("episodes", files.episodes),
        ("disruptions", _write(root / "disruptions.csv", disruptions)),
    ):
        (report,) = ingest_files(location, kind, [Path(path)], settings=settings)
        assert report.rows_quarantined == 0, (kind, report.reasons)
    outs = {}
    for audience in ("analyst", "partner"):
        out = root / f"review-{audience}"
        result = runner.invoke(
            app,
            [
                "review",
                "--store",
                location,
                "--audience",
                audience,
                "--k",
                str(K),
                "--out",
                str(out),
            ],
            env={"ENGAGE_PSEUDONYM_KEY": KEY},
        )
        assert result.exit_code in (0, 1), result.output
        outs[audience] = out
    with opened_store(location) as store:
        refs = set(store.read(schemas.EPISODES)["child_ref"].astype(str))
    episodes = pd.read_csv(files.episodes)
    return {
        "outs": outs,
        "episodes": episodes,
        "venues": venues,
        "disruptions": disruptions,
        "refs": refs,
    }


def _uk_monday(ts: pd.Timestamp) -> pd.Timestamp:
    local = ts.tz_convert("Europe/London").tz_localize(None).normalize()
    return local - pd.Timedelta(days=local.weekday())


def exact_counts(sc: dict[str, Any], row: dict[str, str]) -> dict[str, int]:
    """Response and buffer counts of one reviewed disruption, from the input rows alone."""
    d = next(x for x in sc["disruptions"] if x["disruption_id"] == row["disruption_id"])
    v = sc["venues"].set_index("venue_id").loc[d["venue_id"]]
    vx, vy = TO_BNG.transform(float(v["lng"]), float(v["lat"]))
    monday = _uk_monday(pd.Timestamp(d["disrupted_at"]).tz_localize("Europe/London"))
    before = int(float(row["before_weeks"]))
    after = int(float(row["after_weeks"]))
    b0, b1 = monday - pd.Timedelta(weeks=before), monday
    a0, a1 = monday + pd.Timedelta(weeks=1), monday + pd.Timedelta(weeks=1 + after)
    out = {f"{a}_{s}": 0 for a in ("response", "buffer") for s in ("before", "after")}
    e = sc["episodes"]
    for point in ("last_seen", "found"):
        keep = e[f"{point}_lat"].notna() & ~e[f"{point}_place_type"].isin(["home", "care_home"])
        rows = e.loc[keep]
        x, y = TO_BNG.transform(rows[f"{point}_lng"].to_numpy(), rows[f"{point}_lat"].to_numpy())
        dist = np.hypot(np.asarray(x) - vx, np.asarray(y) - vy)
        local = pd.to_datetime(rows[f"{point}_at"]).to_numpy()
        for side, lo, hi in (("before", b0, b1), ("after", a0, a1)):
            inside = (local >= lo.to_datetime64()) & (local < hi.to_datetime64())
            out[f"response_{side}"] += int((inside & (dist < 150)).sum())
            out[f"buffer_{side}"] += int((inside & (dist >= 150) & (dist < 400)).sum())
    return out


def _texts(path: Path) -> list[str]:
    """The file's texts without embedded images (base64 is not text a reader sees; the
    charts are drawn from the views checked elsewhere), and for review.geojson without the
    outlines' vertices: discs, rings and H3 blocks, which
    :func:`test_partner_run_json_and_geojson_hold_no_counts` checks are built from the
    disruption places and the H3 grid alone (their thousands of vertices would match
    some home to four decimals by chance)."""
    if path.name == "review.geojson":
        data = json.loads(path.read_text())
        for f in data["features"]:
            if f["geometry"]["type"] != "Point":
                f["geometry"] = None
        return [json.dumps(data)]
    return [re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", t) for t in _all_texts(path)]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _files(out: Path) -> list[Path]:
    return [
        out / n for n in ("review.csv", "review.pdf", "review.html", "review.geojson", "run.json")
    ]


def test_the_review_reviewed_disruptions_for_both_audiences(scenario: dict[str, Any]) -> None:
    for audience, out in scenario["outs"].items():
        rows = _rows(out / "review.csv")
        per = [r for r in rows if r["disruption_id"]]
        assert len(per) == len(scenario["disruptions"]), audience
        assert any(r["reviewed"] in ("True", "true", "yes") for r in per), audience
        assert any(not r["disruption_id"] for r in rows), "a pooled row per tactic"


def test_analyst_counts_are_exact(scenario: dict[str, Any]) -> None:
    rows = _rows(scenario["outs"]["analyst"] / "review.csv")
    checked = 0
    for row in rows:
        if not row["disruption_id"] or not row["before_weeks"]:
            continue
        want = exact_counts(scenario, row)
        for name, value in want.items():
            assert int(float(row[name])) == value, (row["disruption_id"], name)
        checked += 1
    assert checked >= 3


def test_no_partner_output_leaks(scenario: dict[str, Any]) -> None:
    out = scenario["outs"]["partner"]
    venues = scenario["venues"].set_index("venue_id")
    public_disrupted = {d["venue_id"] for d in scenario["disruptions"] if d["public"] == "true"}
    secret = [
        str(venues.loc[d["venue_id"], "name"])
        for d in scenario["disruptions"]
        if not bool(venues.loc[d["venue_id"], "public"]) and d["venue_id"] not in public_disrupted
    ]
    assert secret, "the scenario must hold a venue that may not be named"
    homes = (
        scenario["episodes"]
        .loc[
            scenario["episodes"]["found_place_type"].isin(["home", "care_home"]),
            ["found_lat", "found_lng"],
        ]
        .drop_duplicates()
        .head(40)
    )
    for path in _files(out):
        for text in _texts(path):
            assert NOTE not in text, (path.name, "a disruption note")
            for name in secret:
                assert not re.search(rf"{re.escape(name)}(?!\d)", text), (path.name, name)
            for child in scenario["episodes"]["child_id"].unique()[:200]:
                assert child not in text, (path.name, child)
            for ref in list(scenario["refs"])[:200]:
                assert ref not in text, (path.name, "pseudonym")
            assert not re.search(r"EP-\d{6}", text), (path.name, "episode id")
            for lat, lng in homes.itertuples(index=False):
                assert not _has_point(text, lat, lng), (path.name, "home")
            assert not GRADING.search(text), path.name
            for m in NUMBER_BEFORE_COUNT.finditer(text):
                assert shown_ok(m.group(1)), (path.name, m.group(0))
            # Counts inside a rule or reason: "before count 12 against 10", "7 blocks".
            for pattern in (
                r"\bcount (\d+)",
                r"(\d+) against \d+",
                r"\bagainst (\d+)",
                r"(\d+) blocks?\b",
            ):
                for m in re.finditer(pattern, text):
                    assert shown_ok(m.group(1)), (path.name, m.group(0))


def test_partner_counts_follow_the_rule_and_match_the_exact_counts(
    scenario: dict[str, Any],
) -> None:
    rows = _rows(scenario["outs"]["partner"] / "review.csv")
    for row in rows:
        for area in COUNT_FIELDS:
            for side in ("before", "after"):
                assert shown_ok(row[f"{area}_{side}"]), (row["disruption_id"], area, side)
        for name in ("wdd", "wdd_low", "wdd_high", "wdd_local", "wdd_displace", "ge", "tne", "mde"):
            if row[name] not in ("", "-"):
                assert int(float(row[name])) % 5 == 0, (name, row[name])
        for name in ("wdd_se", "wdd_z", "ne", "success_measure", "buffer_displacement_measure"):
            assert row[name] in ("", "-"), (name, row[name])
        for name in ("wdd_p", "etest_p"):
            assert row[name] in ("", "-", "< 0.01", "< 0.05", "< 0.1", ">= 0.1"), row[name]
        if row["disruption_id"] and row["before_weeks"]:
            want = exact_counts(scenario, row)
            for name, value in want.items():
                assert row[name] in (expected(value, K), "[c]"), (row["disruption_id"], name)
                if row[name] == "[c]":
                    assert value >= K
    # a tactic's pooled counts against its disruptions: never exactly one hidden value
    for pooled in (r for r in rows if not r["disruption_id"]):
        members = [
            r
            for r in rows
            if r["disruption_id"]
            and pooled["tactic"] in (r["tactic"], "all")
            and r["reviewed"] in ("True", "yes")
        ]
        for area in COUNT_FIELDS:
            for side in ("before", "after"):
                col = f"{area}_{side}"
                texts = [pooled[col], *(m[col] for m in members)]
                hidden = [t for t in texts if t in (f"<{K}", "[c]")]
                assert not (len(hidden) == 1 and any(t.isdigit() and int(t) > 0 for t in texts)), (
                    col
                )


def test_partner_run_json_and_geojson_hold_no_counts(scenario: dict[str, Any]) -> None:
    out = scenario["outs"]["partner"]
    run = json.loads((out / "run.json").read_text())
    assert run["audience"] == "partner"
    features = json.loads((out / "review.geojson").read_text())["features"]
    assert features
    places = {}
    for f in features:
        assert set(f["properties"]) <= {"disruption_id", "area", "label"}
        # A matched control's blocks are few where counts are small: never drawn for partners.
        assert "control" not in f["properties"]["area"], f["properties"]
        if f["properties"]["area"] == "place":
            lng, lat = f["geometry"]["coordinates"]
            places[f["properties"]["disruption_id"]] = TO_BNG.transform(lng, lat)
    venues = scenario["venues"].set_index("venue_id")
    for d in scenario["disruptions"]:
        if d["disruption_id"] in places:
            v = venues.loc[d["venue_id"]]
            want = TO_BNG.transform(float(v["lng"]), float(v["lat"]))
            assert np.hypot(*np.subtract(places[d["disruption_id"]], want)) < 1.0
    # Each outline is a disc or ring about its disruption's place, or a union of H3 cells.
    for f in features:
        area = f["properties"]["area"]
        if area == "place":
            continue
        geom = shapely.geometry.shape(f["geometry"])
        bng = shapely.transform(
            geom, lambda xy: np.column_stack(TO_BNG.transform(xy[:, 0], xy[:, 1]))
        )
        if area.startswith(("response", "buffer")) and "control" not in area:
            cx, cy = bng.centroid.x, bng.centroid.y
            px, py = places[f["properties"]["disruption_id"]]
            assert np.hypot(cx - px, cy - py) < 2.0, (area, "centred on its place")
        else:
            cells = h3.geo_to_cells(shapely.geometry.mapping(geom.buffer(-1e-5)), 9)
            assert cells, (area, "made of H3 cells")
