"""The bad-input corpus: every documented check and refusal, run against both stores.

Each case is a small input written by hand, with what docs/data-formats.md
says must happen to it: the call's exit code (0 every row of every file stored,
1 some stored and others quarantined or refused, 2 nothing stored), how many
rows the table holds afterwards and how many were quarantined (counted by hand
from the input), and the text of the reason the quarantine file or the refusal
gives. Nothing may escape but the documented refusals: files are ingested the
way ``engage ingest`` does (:func:`geo.ingest.ingest_or_refuse`, one report per
file), and only a :class:`geo.errors.ValidationError` with a message (a
missing pseudonym key) may end a call early.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo import schemas
from geo.errors import ValidationError
from geo.ingest import IngestReport, ingest_exit_code, ingest_file, ingest_or_refuse
from geo.pseudonym import check_key, pseudonymise
from geo.store import Store

KEY = check_key("test-key-0123456789-abcdefghijklmnop")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TABLE = {
    "episodes": schemas.EPISODES,
    "venues": schemas.VENUES,
    "venue-reports": schemas.VENUE_REPORTS,
    "disruptions": schemas.DISRUPTIONS,
    "incidents": schemas.INCIDENTS,
    "police-uk": schemas.INCIDENTS,
}

# Inputs, one row per line, all points inside Blackburn with Darwen unless a case says not.
INC = "incident_id,category,occurred_at,lat,lng"
I_OK = "I0,Other,2025-01-01T10:00,53.748,-2.482"
BNG = "incident_id,category,occurred_at,easting,northing"
EPI = (
    "episode_id,child_id,reported_at,last_seen_at,last_seen_lat,last_seen_lng,"
    "last_seen_place_type,found_at,found_lat,found_lng,risk_level,in_care"
)
E_OK = (
    "E0,C1,2025-03-01T23:00,2025-03-01T21:30,53.745,-2.482,public,"
    "2025-03-02T02:00,53.75,-2.47,low,no"
)
VEN = "venue_id,name,venue_type,lat,lng,public"
V_OK = "V0,Hotel 0,hotel,53.748,-2.482,yes"
REP = (
    "report_id,venue_id,reported_at,grading,source_evaluation,intelligence_assessment,handling_code"
)
R_OK = "R0,V1,2025-01-02,1AP,,,"
DIS = "disruption_id,venue_id,disrupted_at,tactic,lat,lng,note"
D_OK = "D0,V1,2025-02-01,patrol,,,"
POL = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,"
    "LSOA name,Crime type,Last outcome category,Context"
)
P_OK = "c0,2022-10,Force,Force,-2.482,53.748,On or near Park,E01000001,Area 001A,Burglary,,"
LAST_SEEN = {"last_seen_at": "2025-03-03T21:30", "last_seen_lat": 53.745, "last_seen_lng": -2.482}


def csv(*lines: str) -> Callable[[Path], list[Path]]:
    """One CSV file of these lines (a header first)."""

    def write(folder: Path) -> list[Path]:
        path = folder / "input.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [path]

    return write


def raw(name: str, content: bytes) -> Callable[[Path], list[Path]]:
    def write(folder: Path) -> list[Path]:
        path = folder / name
        path.write_bytes(content)
        return [path]

    return write


def geojson(
    *features: tuple[dict[str, Any] | None, dict[str, Any]],
) -> Callable[[Path], list[Path]]:
    """A GeoJSON file of (geometry, properties) features."""

    def write(folder: Path) -> list[Path]:
        doc = {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
        }
        path = folder / "input.geojson"
        path.write_text(json.dumps(doc))
        return [path]

    return write


def point(lng: float = -2.482, lat: float = 53.748) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lng, lat]}


def several_layers(folder: Path) -> list[Path]:
    frame = gpd.GeoDataFrame(
        {"venue_id": ["V1"], "venue_type": ["hotel"]},
        geometry=[shapely.Point(-2.482, 53.748)],
        crs="EPSG:4326",
    )
    path = folder / "input.gpkg"
    frame.to_file(path, layer="venues", driver="GPKG")
    frame.to_file(path, layer="venues_2024", driver="GPKG")
    return [path]


def attribute_table(kind_rows: dict[str, list[str]]) -> Callable[[Path], list[Path]]:
    def write(folder: Path) -> list[Path]:
        path = folder / "input.gpkg"
        pyogrio.write_dataframe(pd.DataFrame(kind_rows), path, layer="table", driver="GPKG")
        return [path]

    return write


def truncated_gzip(folder: Path) -> list[Path]:
    body = "\n".join([INC] + [f"I{i},Other,2025-01-01T10:00,53.748,-2.482" for i in range(50_000)])
    packed = gzip.compress(body.encode())
    path = folder / "input.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    return [path]


def files(*writers: Callable[[Path], list[Path]]) -> Callable[[Path], list[Path]]:
    """Several files in one call, each in its own folder (so names may repeat)."""

    def write(folder: Path) -> list[Path]:
        out: list[Path] = []
        for i, writer in enumerate(writers):
            sub = folder / f"part{i}"
            sub.mkdir()
            out += writer(sub)
        return out

    return write


@dataclass(frozen=True)
class Case:
    """One input and what must come of it."""

    name: str
    kind: str
    inputs: Callable[[Path], list[Path]]
    expect: tuple[int, int, int]
    """Exit code of the call, rows in the kind's table afterwards, rows quarantined."""
    reason: str = ""
    column: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    venues: bool = False
    check: Callable[[Store, list[IngestReport]], None] | None = None


def _found_points_kept(store: Store, reports: list[IngestReport]) -> None:
    stored = store.read(schemas.EPISODES)
    assert stored["found_lat"].notna().sum() == 2  # both episodes of the first file
    assert stored["risk_level"].notna().sum() == 2
    assert reports[1].kept_columns and reports[1].result.updated == 0


def _one_child(store: Store, reports: list[IngestReport]) -> None:
    # The CSV's child 1 and the GeoJSON's child 1 are one child.
    one = pseudonymise(pd.Series(["1"]), KEY).iloc[0]
    assert store.read(schemas.EPISODES)["child_ref"].tolist() == [one, one]


def _own_quarantine_each(store: Store, reports: list[IngestReport]) -> None:
    paths = [r.quarantine_path for r in reports]
    assert None not in paths and len(set(paths)) == 2
    for r in reports:
        q = pd.read_csv(r.quarantine_path or "", dtype=str)
        assert set(q["file"]) == {str(Path(r.path).resolve())}


def _public_flags(store: Store, reports: list[IngestReport]) -> None:
    public = store.read(schemas.VENUES).set_index("venue_id")["public"]
    assert public.loc[["V1", "V2"]].tolist() == [True, False]


# (exit code of the call, rows in the table afterwards, rows quarantined), counted by hand.
# fmt: off
CASES = [
    # --- coordinates --------------------------------------------------------------------
    Case("missing coordinates", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,,"),
         (1, 1, 1), "missing coordinates", "lat"),
    Case("unparseable latitude", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,north,-2.48"),
         (1, 1, 1), "latitude is not a number", "lat"),
    Case("only one of a pair", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,53.748,"),
         (1, 1, 1), "longitude is missing while latitude is given", "lng"),
    Case("(0, 0)", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,0,0"),
         (1, 1, 1), "placeholder", "lat"),
    Case("lat and lng swapped", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,-2.482,53.748"),
         (1, 1, 1), "appear swapped", "lat"),
    Case("BNG in lat/lng", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,428200,368400"),
         (1, 1, 1), "British National Grid", "lat"),
    Case("degrees in easting/northing", "incidents",
         csv(BNG, "I0,Other,2025-01-01,368400,428200", "I1,Other,2025-01-01,-2.482,53.748"),
         (1, 1, 1), "degrees of latitude/longitude", "easting"),
    Case("outside Great Britain", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,48.85,2.35"),
         (1, 1, 1), "outside Great Britain", "lat"),
    Case("outside the study area", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,51.5,-0.12"),
         (1, 1, 1), "outside the study area", "lat"),
    Case("a feature that is not a point", "venues",
         geojson((point(), {"venue_id": "V1", "venue_type": "hotel"}),
                 ({"type": "LineString", "coordinates": [[-2.48, 53.74], [-2.47, 53.75]]},
                  {"venue_id": "V2", "venue_type": "park"})),
         (1, 1, 1), "not a point", "geometry"),
    # --- dates --------------------------------------------------------------------------
    Case("missing date", "incidents", csv(INC, I_OK, "I1,Other,,53.748,-2.482"),
         (1, 1, 1), "`occurred_at` is missing", "occurred_at"),
    Case("unparseable date", "incidents", csv(INC, I_OK, "I1,Other,yesterday,53.748,-2.482"),
         (1, 1, 1), "unparseable date", "occurred_at"),
    Case("future date", "incidents", csv(INC, I_OK, "I1,Other,2031-01-01,53.748,-2.482"),
         (1, 1, 1), "in the future", "occurred_at"),
    Case("date before 1990", "incidents", csv(INC, I_OK, "I1,Other,1989-12-31,53.748,-2.482"),
         (1, 1, 1), "before 1990", "occurred_at"),
    Case("the hour skipped when clocks go forward", "incidents",
         csv(INC, I_OK, "I1,Other,2025-03-30T01:30,53.748,-2.482"),
         (1, 1, 1), "does not exist in UK time", "occurred_at"),
    Case("day-first dates with dashes, with and without a time", "incidents",
         csv(INC, "I1,Other,14-03-2025,53.748,-2.482", "I2,Other,14-03-2025 21:30,53.748,-2.482"),
         (0, 2, 0)),
    Case("found before last seen", "episodes",
         csv(EPI, E_OK, E_OK.replace("E0,", "E1,").replace("03-02T02:00", "02-01T10:00")),
         (1, 1, 1), "found_at is before last_seen_at", "found_at"),
    Case("reported before last seen", "episodes",
         csv(EPI, E_OK, E_OK.replace("E0,", "E1,").replace("03-01T23:00", "03-01T20:00")),
         (1, 1, 1), "reported_at is before last_seen_at", "reported_at"),
    # --- ids ----------------------------------------------------------------------------
    Case("missing id", "incidents", csv(INC, I_OK, ",Other,2025-01-01,53.748,-2.482"),
         (1, 1, 1), "`incident_id` is missing", "incident_id"),
    Case("duplicate id", "incidents", csv(INC, I_OK, I_OK),
         (1, 1, 1), "duplicate `incident_id` (first at row 2)", "incident_id"),
    Case("police.uk Crime ID twice in a month", "police-uk", csv(POL, P_OK, P_OK),
         (1, 1, 1), "duplicate Crime ID", "incident_id"),
    Case("police.uk No Location", "police-uk",
         csv(POL, P_OK, "c1,2022-10,Force,Force,,,No Location,,,Burglary,,"),
         (1, 1, 1), "no location", "lat"),
    Case("integer ids with a gap stay whole numbers", "episodes",
         files(csv(EPI, E_OK.replace("E0,C1,", "E0,1,")),
               geojson((point(), {"episode_id": 101, "child_id": 1, **LAST_SEEN}),
                       (point(), {"episode_id": None, "child_id": None, **LAST_SEEN}))),
         (1, 2, 1), "`episode_id` is missing", "episode_id", check=_one_child),
    # --- closed sets --------------------------------------------------------------------
    Case("unknown place type", "episodes", csv(EPI, E_OK.replace("public", "castle")),
         (2, 0, 1), "unknown value; expected one of home", "last_seen_place_type"),
    Case("unknown venue type", "venues", csv(VEN, V_OK, "V1,Hotel 1,castle,53.748,-2.482,"),
         (1, 1, 1), "unknown value; expected one of hotel", "venue_type"),
    Case("unknown risk level", "episodes", csv(EPI, E_OK.replace(",low,", ",extreme,")),
         (2, 0, 1), "unknown value; expected one of no_apparent_risk", "risk_level"),
    Case("unknown tactic", "disruptions", csv(DIS, D_OK, "D1,V1,2025-02-01,shout,,,"),
         (1, 1, 1), "unknown value; expected one of patrol", "tactic", venues=True),
    Case("unknown yes/no", "venues", csv(VEN, V_OK, "V1,Hotel 1,hotel,53.748,-2.482,perhaps"),
         (1, 1, 1), "not a yes/no value", "public"),
    Case("GeoJSON booleans with a gap", "venues",
         geojson((point(), {"venue_id": "V1", "venue_type": "hotel", "public": True}),
                 (point(), {"venue_id": "V2", "venue_type": "hotel", "public": False}),
                 (point(), {"venue_id": "V3", "venue_type": "hotel"})),
         (0, 3, 0), check=_public_flags),
    Case("unknown grading", "venue-reports", csv(REP, R_OK, "R1,V1,2025-01-02,4AP,,,"),
         (1, 1, 1), "not a 3x5x2 grading", "grading", venues=True),
    Case("grading in conflict with its part", "venue-reports",
         csv(REP, R_OK, "R1,V1,2025-01-02,1AP,3,,"),
         (1, 1, 1), "disagrees with `source_evaluation`", "grading", venues=True),
    # --- references ---------------------------------------------------------------------
    Case("report on a venue not stored", "venue-reports",
         csv(REP, R_OK, "R1,V9,2025-01-02,1AP,,,"),
         (1, 1, 1), "unknown venue_id", "venue_id", venues=True),
    Case("disruption at a venue not stored", "disruptions",
         csv(DIS, D_OK, "D1,V9,2025-02-01,patrol,,,"),
         (1, 1, 1), "unknown venue_id", "venue_id", venues=True),
    Case("disruption with neither venue nor point", "disruptions",
         csv(DIS, D_OK, "D1,,2025-02-01,patrol,,,"),
         (1, 1, 1), "needs a venue_id or its own coordinates", "venue_id", venues=True),
    # --- characters and lengths ---------------------------------------------------------
    Case("NUL character", "incidents",
         raw("input.csv", f"{INC}\n{I_OK}\nI1,Oth\x00er,2025-01-01,53.748,-2.482\n".encode()),
         (1, 1, 1), "NUL character", "category"),
    Case("id over 200 characters", "incidents",
         csv(INC, I_OK, "I" * 201 + ",Other,2025-01-01,53.748,-2.482"),
         (1, 1, 1), "longer than 200 characters", "incident_id"),
    Case("cell over 2,000 characters", "incidents",
         csv(INC, I_OK, "I1," + "O" * 2001 + ",2025-01-01,53.748,-2.482"),
         (1, 1, 1), "longer than 2,000 characters", "category"),
    # --- headers ------------------------------------------------------------------------
    Case("empty header cells after the last column", "incidents", csv(INC + ",,", I_OK + ",,"),
         (0, 1, 0), "(column 6, no name)"),
    # --- whole files refused ------------------------------------------------------------
    Case("empty file", "incidents", raw("input.csv", b""),
         (2, 0, 0), "the file is empty"),
    Case("header and no rows", "incidents", csv(INC),
         (2, 0, 0), "no data rows"),
    Case("cannot be decoded", "incidents",
         raw("input.csv", f"{INC}\nI1,Caf\xe9\x81,2025-01-01,53.748,-2.482\n".encode("latin-1")),
         (2, 0, 0), "is not valid cp1252 text"),
    Case("cannot be parsed", "incidents",
         raw("input.csv", f'{INC}\nI1,"Other,2025-01-01\n'.encode()),
         (2, 0, 0), "is not well-formed"),
    Case("header repeats a column", "incidents", csv(INC + ",LAT", I_OK + ",1"),
         (2, 0, 0), "repeats column(s) lat"),
    Case("required column missing", "incidents",
         csv("incident_id,occurred_at,lat,lng", "I1,2025-01-01,53.7,-2.4"),
         (2, 0, 0), "missing required column(s): category"),
    Case("not a data.police.uk file", "police-uk", csv(INC, I_OK),
         (2, 0, 0), "is not a data.police.uk street-crime file"),
    Case("unsupported file type", "incidents", raw("input.xlsx", b"PK\x03\x04"),
         (2, 0, 0), "unsupported file type"),
    Case("not GeoJSON", "venues", raw("input.geojson", b"{not json"),
         (2, 0, 0), "cannot be read as GeoJSON or GeoPackage"),
    Case("GeoPackage of several layers", "venues", several_layers,
         (2, 0, 0), "several layers"),
    Case("attribute table for a kind that needs a point", "venues",
         attribute_table({"venue_id": ["V1"], "venue_type": ["hotel"]}),
         (2, 0, 0), "no geometry"),
    Case("attribute table for a kind without points", "venue-reports",
         attribute_table({"report_id": ["R1"], "venue_id": ["V1"], "reported_at": ["2025-01-02"],
                          "grading": ["1AP"]}),
         (0, 1, 0), venues=True),
    Case("truncated .csv.gz", "incidents", truncated_gzip,
         (2, 0, 0), "truncated or corrupt"),
    Case("--strict with a bad row", "incidents", csv(INC, I_OK, "I1,Other,2025-01-01,0,0"),
         (2, 0, 1), "--strict was given", options={"strict": True}),
    Case("every row bad", "incidents", csv(INC, "I1,Other,2025-01-01,0,0"),
         (2, 0, 1), "placeholder", "lat"),
    Case("episodes without a pseudonym key", "episodes", csv(EPI, E_OK),
         (2, 0, 0), "ENGAGE_PSEUDONYM_KEY", options={"key": None}),
    # --- several files in one call, and ingesting again ---------------------------------
    Case("a later file refused", "incidents", files(csv(INC, I_OK), raw("input.csv", b"")),
         (1, 1, 0), "the file is empty"),
    Case("a later file with every row bad", "incidents",
         files(csv(INC, I_OK), csv(INC, "I1,Other,2025-01-01,0,0")),
         (1, 1, 1), "placeholder"),
    Case("two files of one name in two folders", "incidents",
         files(csv(INC, I_OK, "I1,Other,2025-01-01,0,0"), csv(INC, "I2,Other,2025-01-01,0,0")),
         (1, 1, 2), "placeholder", check=_own_quarantine_each),
    Case("a narrower file again", "episodes",
         files(csv(EPI, E_OK, E_OK.replace("E0,", "E1,")),
               csv("episode_id,child_id,last_seen_at,last_seen_lat,last_seen_lng",
                   "E0,C1,2025-03-01T21:30,53.745,-2.482", "E1,C1,2025-03-01T21:30,53.745,-2.482")),
         (0, 2, 0), "not in the file", check=_found_points_kept),
]
# fmt: on


def _texts(reports: list[IngestReport]) -> list[tuple[str, str | None]]:
    """Every reason given: (text, column) of each quarantine line, refusal and note."""
    out: list[tuple[str, str | None]] = []
    for r in reports:
        if r.refused:
            out.append((r.refused, None))
        out += [(note, None) for note in r.notes]
        out += [(c, None) for c in r.ignored_columns]
        if r.quarantine_path:
            q = pd.read_csv(r.quarantine_path, dtype=str, keep_default_na=False)
            out += list(zip(q["reason"], q["column"], strict=True))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(store: Store, tmp_path: Path, case: Case) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    if case.venues:
        venues = tmp_path / "venues.csv"
        venues.write_text("venue_id,venue_type,lat,lng\nV1,hotel,53.748,-2.482\n")
        assert ingest_file(store, "venues", venues, quarantine_dir=tmp_path / "qv").exit_code == 0
    paths = case.inputs(folder)
    options: dict[str, Any] = {"key": KEY, "quarantine_dir": tmp_path / "q", "now": NOW}
    options.update(case.options)
    reports: list[IngestReport] = []
    try:
        for path in paths:
            reports.append(ingest_or_refuse(store, case.kind, path, **options))
    except ValidationError as refused:  # a refusal of the whole call, with its reason
        assert str(refused)
        reports.append(IngestReport(case.kind, str(paths[0]), refused=str(refused)))
    assert len(reports) == len(paths)
    exit_code, stored, quarantined = case.expect
    assert ingest_exit_code(reports) == exit_code
    assert store.count(TABLE[case.kind]) == stored
    assert sum(r.rows_quarantined for r in reports) == quarantined
    for r in reports:
        if r.refused:
            assert Path(r.path).name in r.refused or "ENGAGE_PSEUDONYM_KEY" in r.refused
            assert r.exit_code == 2 and r.rows_stored == 0
    texts = _texts(reports)
    if case.reason:
        found = [column for text, column in texts if case.reason in text]
        assert found, (case.reason, texts)
        if case.column is not None:
            assert case.column in found, (case.column, texts)
    if case.check is not None:
        case.check(store, reports)
