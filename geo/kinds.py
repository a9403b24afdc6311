"""What each kind of input holds, and how its rows are checked and built.

:data:`SPECS` says, for each kind, the table it fills, its required columns,
its points, its aliases and its ids. :func:`check_chunk` checks one chunk of
an input (vectorised, no per-row Python) and returns the rows to store, in the
table's columns, and the problems of the others. :mod:`geo.ingest` runs a
whole file through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo import schemas
from geo.areas import assign_areas
from geo.checks import (
    PointColumns,
    Problems,
    SeenKeys,
    blank,
    check_bool,
    check_cells,
    check_enum,
    check_timestamp,
    content_hash,
    norm_token,
    normalise_ids,
    parse_point,
    split_grading,
    stable_hash,
)
from geo.h3index import latlng_to_cells
from geo.pseudonym import pseudonymise
from geo.readers import Chunk, Source
from geo.schemas import AREA_KINDS
from geo.store import Keep
from geo.store.frames import conform
from geo.studyarea import StudyArea

KINDS = ("episodes", "venues", "venue-reports", "disruptions", "incidents", "police-uk")

PLACE_SYNONYMS = {
    "carehome": "care_home",
    "care": "care_home",
    "childrens_home": "care_home",
    "children_s_home": "care_home",
    "residential_home": "care_home",
    "placement": "care_home",
    "family_home": "home",
    "home_address": "home",
    "street": "public",
    "public_place": "public",
    "school_college": "school",
    "college": "school",
    "": "unknown",
}
RISK_SYNONYMS = {
    "none": "no_apparent_risk",
    "no_risk": "no_apparent_risk",
    "nar": "no_apparent_risk",
}
VENUE_SYNONYMS = {
    "fast_food": "takeaway",
    "take_away": "takeaway",
    "pub": "licensed_premises",
    "bar": "licensed_premises",
    "club": "licensed_premises",
    "nightclub": "licensed_premises",
    "taxi": "taxi_firm",
    "taxi_office": "taxi_firm",
    "b_b": "hotel",
    "guest_house": "hotel",
    "shisha": "shisha_bar",
    "carpark": "car_park",
}
TACTIC_SYNONYMS = {
    "child_abduction_warning_notice": "cawn",
    "closure": "closure_order",
    "licensing": "licensing_review",
    "makesafe": "makesafe_visit",
    "operation_makesafe": "makesafe_visit",
    "visit": "makesafe_visit",
}
POLICE_UK_NO_LOCATION = (
    "no location: data.police.uk publishes some crimes without coordinates "
    '("No Location"); such a row cannot be mapped and is left out'
)
POLICE_UK_COLUMNS = ("crime_id", "month", "longitude", "latitude", "crime_type")


@dataclass(frozen=True)
class InputSpec:
    """What one kind of input file must and may hold.

    ``keep`` is the rule for a key that is stored already or given twice
    (:meth:`geo.store.base.Writer.stage`): ``"last"``, a corrected file
    ingested again replaces what it changes; ``"earliest"``, a key's earliest
    publication is stored whatever order the files come in. ``ids`` are the
    input columns that hold identifiers (at most
    :data:`geo.checks.ID_MAX_CHARS` characters; any other cell at most
    :data:`geo.checks.TEXT_MAX_CHARS`).
    """

    kind: str
    table: schemas.Table
    required: tuple[str, ...]
    points: tuple[tuple[str, bool], ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    allowed_identifying: tuple[str, ...] = ()
    keep: Keep = "last"
    ids: tuple[str, ...] = ()


SPECS: dict[str, InputSpec] = {
    "episodes": InputSpec(
        "episodes",
        schemas.EPISODES,
        required=("episode_id", "child_id", "last_seen_at"),
        points=(("last_seen_", True), ("found_", False)),
        aliases={
            "episode_id": ("id", "episode", "episode_ref", "mfh_id"),
            "child_id": ("person_id", "child", "child_ref_source", "subject_id"),
        },
        ids=("episode_id", "child_id"),
    ),
    "venues": InputSpec(
        "venues",
        schemas.VENUES,
        required=("venue_id", "venue_type"),
        points=(("", True),),
        aliases={"venue_id": ("id",), "venue_type": ("type",), "name": ("venue_name",)},
        allowed_identifying=("name",),
        ids=("venue_id",),
    ),
    "venue-reports": InputSpec(
        "venue-reports",
        schemas.VENUE_REPORTS,
        required=("report_id", "venue_id", "reported_at"),
        aliases={"report_id": ("id",), "reported_at": ("date", "report_date")},
        ids=("report_id", "venue_id"),
    ),
    "disruptions": InputSpec(
        "disruptions",
        schemas.DISRUPTIONS,
        required=("disruption_id", "disrupted_at", "tactic"),
        points=(("", False),),
        aliases={"disruption_id": ("id",), "disrupted_at": ("date", "disruption_date")},
        ids=("disruption_id", "venue_id"),
    ),
    "incidents": InputSpec(
        "incidents",
        schemas.INCIDENTS,
        required=("incident_id", "category", "occurred_at"),
        points=(("", True),),
        aliases={"incident_id": ("id",), "occurred_at": ("date", "datetime")},
        ids=("incident_id",),
    ),
}
SPECS["police-uk"] = InputSpec(
    "police-uk",
    schemas.INCIDENTS,
    required=POLICE_UK_COLUMNS,
    points=(("", True),),
    keep="earliest",
    ids=("crime_id",),
)
"""data.police.uk republishes some crimes in a later month's file under the same
Crime ID; the earliest month's publication is stored (docs/data-formats.md)."""


@dataclass
class BuildContext:
    """What the builders of one file's rows share: its spec and source, and state across chunks.

    ``checked`` are the input columns whose cells are checked for NUL
    characters and length (those stored or turned into stored values);
    ``kept`` the stored columns the file lacks (see
    :meth:`geo.store.base.Writer.stage`); ``seen`` the ids met so far.
    """

    spec: InputSpec
    source: Source
    study_area: StudyArea
    key: bytes | None
    now: datetime
    venues: pd.DataFrame | None
    checked: list[str] = field(default_factory=list)
    kept: tuple[str, ...] = ()
    seen: SeenKeys = field(default_factory=SeenKeys)
    police_occurrences: pd.Series | None = None


def _points(
    ctx: BuildContext, frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for prefix, required in ctx.spec.points:
        cols = PointColumns.find(prefix, list(frame.columns))
        lat, lng, good = parse_point(
            frame,
            cols,
            rows,
            problems,
            required=required,
            study_area=ctx.study_area,
            missing_reason=POLICE_UK_NO_LOCATION if ctx.spec.kind == "police-uk" else None,
        )
        cells = np.zeros(len(frame), dtype=np.int64)
        if good.any():
            cells[good] = latlng_to_cells(lat[good], lng[good])
        h3 = pd.arrays.IntegerArray(cells, ~good)
        areas = assign_areas(lat, lng, tolerance_m=ctx.study_area.tolerance_m)
        out[prefix] = pd.DataFrame(
            {
                f"{prefix}lat": lat,
                f"{prefix}lng": lng,
                f"{prefix}h3": h3,
                f"{prefix}district": areas["district"].to_numpy(),
                f"{prefix}ward": areas["ward"].to_numpy(),
                f"{prefix}lsoa": areas["lsoa"].to_numpy(),
                f"{prefix}neighbourhood": areas["neighbourhood"].to_numpy(),
                f"{prefix}beat": areas["beat"].to_numpy(),
            },
            index=frame.index,
        )
    return out


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    text = frame[column].astype(str).str.strip()
    return text.where(text != "", None).astype(object)


def _ids(
    ctx: BuildContext,
    frame: pd.DataFrame,
    column: str,
    rows: npt.NDArray[np.int64],
    problems: Problems,
    *,
    within: pd.Series | None = None,
) -> pd.Series:
    """The trimmed ids; a blank id, or one seen before in the file, is a problem.

    ``within``: ids repeat only within the same value of this column (the
    month of a data.police.uk row, since a crime published in two months is
    one crime published twice, not a duplicate row).
    """
    ids = normalise_ids(frame[column])
    missing = blank(ids)
    problems.add(missing, rows, column, "", f"`{column}` is missing; every row needs a unique id")
    keys = ids.where(~missing, "")
    if within is not None:
        keys = keys + "\x1f" + normalise_ids(within)
    dup, first = ctx.seen.check(keys, rows)
    dup &= ~missing
    police = ctx.spec.kind == "police-uk"
    why = (
        "data.police.uk sometimes lists a crime twice in a month, the first is kept"
        if police
        else "ids must be unique, the first is kept"
    )
    label = "Crime ID" if police else f"`{column}`"
    if dup.any():
        reasons = np.full(len(ids), None, dtype=object)
        at = pd.Series(first[dup]).astype(str)
        reasons[dup] = (f"duplicate {label} (first at row " + at + f"); {why}").to_numpy(
            dtype=object
        )
        problems.add(dup, rows, column, ids, reasons, summary=f"duplicate {label}; {why}")
    return ids


def _venue_lookup(
    ctx: BuildContext, venue_ids: pd.Series
) -> tuple[npt.NDArray[np.bool_], pd.DataFrame]:
    """Which venue ids are known, and the stored venue rows aligned to them."""
    venues = ctx.venues if ctx.venues is not None else pd.DataFrame({"venue_id": []})
    known = venue_ids.isin(venues["venue_id"]).to_numpy()
    aligned = venues.set_index("venue_id").reindex(venue_ids.to_numpy())
    aligned.index = venue_ids.index
    return known, aligned


def _episodes(
    ctx: BuildContext, frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> pd.DataFrame:
    ids = _ids(ctx, frame, "episode_id", rows, problems)
    child = normalise_ids(frame["child_id"])
    problems.add(
        blank(child),
        rows,
        "child_id",
        "",
        "`child_id` is missing; every episode needs the child's id",
    )
    reported, _ = check_timestamp(frame, "reported_at", rows, problems, required=False, now=ctx.now)
    last_seen, _ = check_timestamp(
        frame, "last_seen_at", rows, problems, required=True, now=ctx.now
    )
    found, _ = check_timestamp(frame, "found_at", rows, problems, required=False, now=ctx.now)
    before = (found < last_seen).to_numpy()
    problems.add(
        before,
        rows,
        "found_at",
        frame.get("found_at", ""),
        "found_at is before last_seen_at; check both times",
    )
    early_report = (reported < last_seen).to_numpy()
    problems.add(
        early_report,
        rows,
        "reported_at",
        frame.get("reported_at", ""),
        "reported_at is before last_seen_at; a child is reported missing after being last seen",
    )
    pts = _points(ctx, frame, rows, problems)
    ls_type = check_enum(
        frame,
        "last_seen_place_type",
        rows,
        problems,
        allowed=schemas.PLACE_TYPES,
        default="unknown",
        synonyms=PLACE_SYNONYMS,
    )
    found_type = check_enum(
        frame,
        "found_place_type",
        rows,
        problems,
        allowed=schemas.PLACE_TYPES,
        default="unknown",
        synonyms=PLACE_SYNONYMS,
    )
    has_found_point = pts["found_"]["found_lat"].notna().to_numpy()
    found_type[~has_found_point] = None
    risk = check_enum(
        frame, "risk_level", rows, problems, allowed=schemas.RISK_LEVELS, synonyms=RISK_SYNONYMS
    )
    in_care = check_bool(frame, "in_care", rows, problems)
    assert ctx.key is not None
    out = pd.DataFrame(
        {
            "episode_id": ids,
            "child_ref": pseudonymise(child, ctx.key),
            "reported_at": reported,
            "last_seen_at": last_seen,
            **{c: pts["last_seen_"][c] for c in pts["last_seen_"].columns},
            "last_seen_place_type": ls_type,
            "found_at": found,
            **{c: pts["found_"][c] for c in pts["found_"].columns},
            "found_place_type": found_type,
            "in_care": in_care.to_numpy(),
            "risk_level": risk,
        },
        index=frame.index,
    )
    return out


def _venues(
    ctx: BuildContext, frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> pd.DataFrame:
    ids = _ids(ctx, frame, "venue_id", rows, problems)
    vtype = check_enum(
        frame,
        "venue_type",
        rows,
        problems,
        allowed=schemas.VENUE_TYPES,
        required=True,
        synonyms=VENUE_SYNONYMS,
    )
    pts = _points(ctx, frame, rows, problems)[""]
    public = check_bool(frame, "public", rows, problems)
    return pd.DataFrame(
        {
            "venue_id": ids,
            "name": _text(frame, "name"),
            "venue_type": vtype,
            **{c: pts[c] for c in pts.columns},
            "public": public.to_numpy(),
        },
        index=frame.index,
    )


GRADING_PARTS = ("source_evaluation", "intelligence_assessment", "handling_code")
UNKNOWN_GRADING = (
    "not a 3x5x2 grading; give source evaluation 1-3, intelligence assessment A-E and "
    "handling code P or C, as in 1AP or 2/B/C"
)


def _grading_parts(
    frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> tuple[pd.DataFrame, npt.NDArray[np.bool_]]:
    """The three grading columns, from themselves or from one ``grading`` column.

    A ``grading`` that is not a 3x5x2 grading, or that disagrees with a part
    given in its own column, is one problem on the ``grading`` column (per
    part in conflict). Returns the frame with the parts filled in and the rows
    whose grading problem is already named, so the parts are not reported
    again as missing.
    """
    named = np.zeros(len(frame), dtype=bool)
    if "grading" not in frame.columns:
        return frame, named
    cells = frame["grading"].astype(str)
    parts = split_grading(cells)
    unknown = ~blank(cells) & (parts["source_evaluation"] == "").to_numpy()
    problems.add(unknown, rows, "grading", cells, UNKNOWN_GRADING)
    named |= unknown
    out = frame.copy()
    for column in GRADING_PARTS:
        part = parts[column]
        if column not in frame.columns:
            out[column] = part
            continue
        own = frame[column].astype(str)
        own_blank = blank(own)
        own_token = norm_token(own).str.upper()
        conflict = ~own_blank & (part != "").to_numpy() & (own_token != part).to_numpy()
        reasons = (
            "`grading` "
            + cells.str.strip()
            + f" disagrees with `{column}` "
            + own.str.strip()
            + "; give one of them, or make them agree"
        )
        problems.add(
            conflict,
            rows,
            "grading",
            cells,
            reasons.to_numpy(dtype=object),
            summary=f"`grading` disagrees with `{column}`; give one of them, or make them agree",
        )
        named |= conflict
        out[column] = own.where(~own_blank, part)
    return out, named


def _venue_reports(
    ctx: BuildContext, frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> pd.DataFrame:
    ids = _ids(ctx, frame, "report_id", rows, problems)
    venue_ids = normalise_ids(frame["venue_id"])
    known, _ = _venue_lookup(ctx, venue_ids)
    problems.add(
        blank(venue_ids), rows, "venue_id", "", "`venue_id` is missing; a report is about a venue"
    )
    problems.add(
        ~blank(venue_ids) & ~known,
        rows,
        "venue_id",
        venue_ids,
        "unknown venue_id; ingest the venue first (engage ingest venues FILE)",
    )
    reported, _ = check_timestamp(frame, "reported_at", rows, problems, required=True, now=ctx.now)
    grading, named = _grading_parts(frame, rows, problems)
    se = check_enum(
        grading,
        "source_evaluation",
        rows,
        problems,
        allowed=schemas.SOURCE_EVALUATIONS,
        required=True,
        skip=named,
    )
    ia = check_enum(
        grading,
        "intelligence_assessment",
        rows,
        problems,
        allowed=schemas.INTELLIGENCE_ASSESSMENTS,
        required=True,
        upper=True,
        skip=named,
    )
    hc = check_enum(
        grading,
        "handling_code",
        rows,
        problems,
        allowed=schemas.HANDLING_CODES,
        required=True,
        upper=True,
        skip=named,
    )
    return pd.DataFrame(
        {
            "report_id": ids,
            "venue_id": venue_ids,
            "reported_at": reported,
            "source_evaluation": se,
            "intelligence_assessment": ia,
            "handling_code": hc,
        },
        index=frame.index,
    )


def _disruptions(
    ctx: BuildContext, frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> pd.DataFrame:
    ids = _ids(ctx, frame, "disruption_id", rows, problems)
    venue_ids = _text(frame, "venue_id")
    has_venue = venue_ids.notna().to_numpy()
    known, venue_rows = _venue_lookup(ctx, venue_ids.fillna(""))
    problems.add(
        has_venue & ~known,
        rows,
        "venue_id",
        venue_ids.fillna(""),
        "unknown venue_id; ingest the venue first, or give the disruption's own coordinates",
    )
    when, _ = check_timestamp(frame, "disrupted_at", rows, problems, required=True, now=ctx.now)
    tactic = check_enum(
        frame,
        "tactic",
        rows,
        problems,
        allowed=schemas.TACTICS,
        required=True,
        synonyms=TACTIC_SYNONYMS,
    )
    pts = _points(ctx, frame, rows, problems)[""]
    # A disruption at a known venue without its own point takes the venue's.
    take = has_venue & known & pts["lat"].isna().to_numpy()
    for c in pts.columns:
        pts.loc[take, c] = venue_rows.loc[take, c].to_numpy()
    cols = PointColumns.find("", list(frame.columns))
    no_point = ~has_venue & pts["lat"].isna().to_numpy()
    given = ~(
        blank(_text(frame, cols.lat or "lat").fillna(""))
        & blank(_text(frame, cols.easting or "easting").fillna(""))
    )
    problems.add(
        no_point & ~given,
        rows,
        "venue_id",
        "",
        "a disruption needs a venue_id or its own coordinates",
    )
    public = check_bool(frame, "public", rows, problems)
    return pd.DataFrame(
        {
            "disruption_id": ids,
            "venue_id": venue_ids,
            "disrupted_at": when,
            **{c: pts[c] for c in pts.columns},
            "tactic": tactic,
            "note": _text(frame, "note"),
            "public": public.to_numpy(),
        },
        index=frame.index,
    )


def _incidents(
    ctx: BuildContext, frame: pd.DataFrame, rows: npt.NDArray[np.int64], problems: Problems
) -> pd.DataFrame:
    within = frame["occurred_at"] if ctx.spec.kind == "police-uk" else None
    ids = _ids(ctx, frame, "incident_id", rows, problems, within=within)
    category = _text(frame, "category")
    problems.add(category.isna().to_numpy(), rows, "category", "", "`category` is missing")
    when, precision = check_timestamp(
        frame, "occurred_at", rows, problems, required=True, now=ctx.now
    )
    given = check_enum(frame, "time_precision", rows, problems, allowed=schemas.TIME_PRECISIONS)
    precision = np.where(pd.isna(given), precision, given)
    pts = _points(ctx, frame, rows, problems)[""]
    return pd.DataFrame(
        {
            "incident_id": ids,
            "category": category,
            "occurred_at": when,
            "time_precision": precision,
            **{c: pts[c] for c in pts.columns},
        },
        index=frame.index,
    )


def _police_uk_to_incidents(ctx: BuildContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Map a data.police.uk chunk onto incident input columns.

    Crimes keep their published ``Crime ID``. Anti-social behaviour rows have
    none, so they get ``pu-<hash>-<n>``: a stable hash of the row's published
    fields and its occurrence number among identical rows of the file, so the
    same file always gives the same ids.
    """
    crime_id = frame["crime_id"].astype(str).str.strip()
    no_id = (crime_id == "").to_numpy()
    derived = crime_id.copy()
    if no_id.any():
        fields = [
            "month",
            "longitude",
            "latitude",
            "location",
            "lsoa_code",
            "crime_type",
            "context",
        ]
        present = [f for f in fields if f in frame.columns]
        parts = frame.loc[no_id, present].astype(str)
        signature = parts[present[0]]
        for name in present[1:]:
            signature = signature + "|" + parts[name]
        h = pd.Series(stable_hash(signature).view(np.int64), index=signature.index)
        occ = h.groupby(h).cumcount()
        if ctx.police_occurrences is not None and len(ctx.police_occurrences):
            occ = occ + h.map(ctx.police_occurrences).fillna(0).astype(np.int64)
        counts = h.value_counts()
        prior = (
            ctx.police_occurrences
            if ctx.police_occurrences is not None
            else pd.Series(dtype=np.int64)
        )
        ctx.police_occurrences = prior.add(counts, fill_value=0).astype(np.int64)
        hexes = pd.Series(np.char.mod("%016x", h.to_numpy().view(np.uint64)), index=h.index)
        derived.loc[no_id] = "pu-" + hexes + "-" + occ.astype(str)
    return pd.DataFrame(
        {
            "incident_id": derived,
            "category": frame["crime_type"],
            "occurred_at": frame["month"],
            "time_precision": "month",
            "lat": frame["latitude"],
            "lng": frame["longitude"],
        },
        index=frame.index,
    )


_BUILDERS: dict[
    str, Callable[[BuildContext, pd.DataFrame, npt.NDArray[np.int64], Problems], pd.DataFrame]
] = {
    "episodes": _episodes,
    "venues": _venues,
    "venue-reports": _venue_reports,
    "disruptions": _disruptions,
    "incidents": _incidents,
}


def check_chunk(ctx: BuildContext, chunk: Chunk) -> tuple[pd.DataFrame, Problems]:
    """Check one chunk; returns the good rows (table columns) and the problems."""
    rows = chunk.rows
    problems = Problems()
    frame = check_cells(chunk.frame, ctx.checked, rows, problems, ids=ctx.spec.ids)
    kind = ctx.spec.kind
    if kind == "police-uk":
        frame = _police_uk_to_incidents(ctx, frame)
        kind = "incidents"
    if "_geometry_problem" in frame.columns:
        geom = frame["_geometry_problem"].astype(str)
        problems.add(
            (geom != "").to_numpy(),
            rows,
            "geometry",
            geom,
            "the geometry is not a point; give one point per row",
        )
    built = _BUILDERS[kind](ctx, frame, rows, problems)
    bad = problems.bad_mask(len(frame))
    good = built.loc[~bad].copy()
    source = "police.uk" if ctx.spec.kind == "police-uk" else ctx.source.path.name
    good["source"] = source
    table = ctx.spec.table
    # Area codes follow from the point and the imported boundaries (which
    # `engage areas import` may change later), so they are not content.
    derived = {f"{p}{kind}" for p in table.points for kind in AREA_KINDS}
    content = [
        c for c in table.column_names if c not in ("content_hash", *ctx.kept) and c not in derived
    ]
    hashes = content_hash(good[content])
    if ctx.kept:
        # Which columns a row was written without is part of what it says.
        signature = stable_hash(pd.Series([",".join(ctx.kept)])).view(np.int64)[0]
        hashes = hashes ^ signature
    good["content_hash"] = hashes
    return conform(table, good), problems
