"""Tables at rest, shared by every store and by ingest.

One place defines each table's columns, its key, its points and its time
column. The GeoPackage and PostGIS stores build their DDL from these specs,
and ingest produces frames with exactly these columns, so the two stores can
never drift apart.

Conventions
-----------
* Points are held in frames as ``<prefix>lat`` / ``<prefix>lng`` (WGS84
  degrees), ``<prefix>h3`` (H3 cell at :data:`STORE_RES`, as a signed 64-bit
  integer), and the areas the point falls in: ``<prefix>district`` (local
  authority code), ``<prefix>ward``, ``<prefix>lsoa``, ``<prefix>neighbourhood`` and
  ``<prefix>beat`` (codes, where known; see :data:`AREA_KINDS`).
* Timestamps are timezone-aware UTC (``datetime64[ns, UTC]``) in frames.
* ``content_hash`` is a 64-bit hash of every content column. Re-ingesting a
  row whose hash is unchanged changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from geo.errors import ValidationError

AREA_KINDS = ("district", "ward", "lsoa", "neighbourhood", "beat")
"""The areas every stored point is assigned to (codes, where known): the local
authority from the shipped outlines, the others from imported boundaries."""

POINT_PARTS = ("lat", "lng", "h3", *AREA_KINDS)
"""The stored columns of one point, after its prefix."""

STORE_RES = 12
"""H3 resolution at which every point is stored (about 307 m2 a cell)."""

ColumnKind = Literal["text", "int", "float", "bool", "timestamp", "h3"]

PLACE_TYPES = ("home", "care_home", "school", "public", "venue", "unknown")
"""Where a location is. ``home`` and ``care_home`` are never patrol targets."""

PRIVATE_PLACE_TYPES = ("home", "care_home")

RISK_LEVELS = ("no_apparent_risk", "low", "medium", "high")

VENUE_TYPES = (
    "hotel",
    "takeaway",
    "taxi_rank",
    "taxi_firm",
    "licensed_premises",
    "park",
    "house",
    "car_park",
    "shop",
    "shisha_bar",
    "other",
)

SOURCE_EVALUATIONS = ("1", "2", "3")
"""3x5x2 source evaluation: 1 reliable, 2 untested, 3 not reliable."""

INTELLIGENCE_ASSESSMENTS = ("A", "B", "C", "D", "E")
"""3x5x2 intelligence assessment: A known directly ... E suspected to be false."""

HANDLING_CODES = ("P", "C")
"""3x5x2 handling code: P lawful sharing permitted, C conditions apply."""

TACTICS = (
    "patrol",
    "cawn",
    "closure_order",
    "licensing_review",
    "makesafe_visit",
    "arrest",
    "other",
)

TIME_PRECISIONS = ("exact", "day", "month")


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """A stored table.

    Parameters
    ----------
    name
        Table (and GeoPackage layer) name.
    key
        Source key column; unique, the upsert target.
    columns
        Every stored column, in order, excluding ``ingested_at``.
    points
        Column prefixes of the table's points, the first being the main one
        (the GeoPackage geometry, the one used for area and cell queries).
    time_column
        Column that time-window queries filter on.
    required_points
        How many of ``points`` must be present (the rest may be null).
    """

    name: str
    key: str
    columns: tuple[Column, ...]
    points: tuple[str, ...] = ("",)
    time_column: str = ""
    required_points: int = 1
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        msg = f"table `{self.name}` has no column `{name}`"
        raise KeyError(msg)


def point_columns(prefix: str, *, nullable: bool) -> tuple[Column, ...]:
    """The stored columns of one point: lat, lng, h3 and its areas."""
    return (
        Column(f"{prefix}lat", "float", nullable),
        Column(f"{prefix}lng", "float", nullable),
        Column(f"{prefix}h3", "h3", nullable),
        Column(f"{prefix}district", "text"),
        Column(f"{prefix}ward", "text"),
        Column(f"{prefix}lsoa", "text"),
        Column(f"{prefix}neighbourhood", "text"),
        Column(f"{prefix}beat", "text"),
    )


EPISODES = Table(
    name="episodes",
    key="episode_id",
    columns=(
        Column("episode_id", "text", False),
        Column("child_ref", "text", False),
        Column("reported_at", "timestamp"),
        Column("last_seen_at", "timestamp", False),
        *point_columns("last_seen_", nullable=False),
        Column("last_seen_place_type", "text", False),
        Column("found_at", "timestamp"),
        *point_columns("found_", nullable=True),
        Column("found_place_type", "text"),
        Column("in_care", "bool"),
        Column("risk_level", "text"),
        Column("source", "text", False),
        Column("content_hash", "int", False),
    ),
    points=("last_seen_", "found_"),
    time_column="last_seen_at",
    enums={
        "last_seen_place_type": PLACE_TYPES,
        "found_place_type": PLACE_TYPES,
        "risk_level": RISK_LEVELS,
    },
)

VENUES = Table(
    name="venues",
    key="venue_id",
    columns=(
        Column("venue_id", "text", False),
        Column("name", "text"),
        Column("venue_type", "text", False),
        *point_columns("", nullable=False),
        Column("public", "bool"),
        Column("source", "text", False),
        Column("content_hash", "int", False),
    ),
    enums={"venue_type": VENUE_TYPES},
)

VENUE_REPORTS = Table(
    name="venue_reports",
    key="report_id",
    columns=(
        Column("report_id", "text", False),
        Column("venue_id", "text", False),
        Column("reported_at", "timestamp", False),
        Column("source_evaluation", "text", False),
        Column("intelligence_assessment", "text", False),
        Column("handling_code", "text", False),
        Column("source", "text", False),
        Column("content_hash", "int", False),
    ),
    points=(),
    time_column="reported_at",
    required_points=0,
    enums={
        "source_evaluation": SOURCE_EVALUATIONS,
        "intelligence_assessment": INTELLIGENCE_ASSESSMENTS,
        "handling_code": HANDLING_CODES,
    },
)

DISRUPTIONS = Table(
    name="disruptions",
    key="disruption_id",
    columns=(
        Column("disruption_id", "text", False),
        Column("venue_id", "text"),
        Column("disrupted_at", "timestamp", False),
        *point_columns("", nullable=True),
        Column("tactic", "text", False),
        Column("note", "text"),
        Column("public", "bool"),
        Column("source", "text", False),
        Column("content_hash", "int", False),
    ),
    time_column="disrupted_at",
    required_points=0,
    enums={"tactic": TACTICS},
)

INCIDENTS = Table(
    name="incidents",
    key="incident_id",
    columns=(
        Column("incident_id", "text", False),
        Column("category", "text", False),
        Column("occurred_at", "timestamp", False),
        Column("time_precision", "text", False),
        *point_columns("", nullable=False),
        Column("source", "text", False),
        Column("content_hash", "int", False),
    ),
    time_column="occurred_at",
    enums={"time_precision": TIME_PRECISIONS},
)

TABLES: dict[str, Table] = {
    t.name: t for t in (EPISODES, VENUES, VENUE_REPORTS, DISRUPTIONS, INCIDENTS)
}


def table(name: str) -> Table:
    """The table spec called ``name``; a clear error for anything else."""
    try:
        return TABLES[name]
    except KeyError:
        msg = f"unknown table `{name}`; expected one of {', '.join(TABLES)}."
        raise ValidationError(msg) from None
