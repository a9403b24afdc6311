"""Checked, pseudonymised, place-typed ingest into a store.

``ingest_file`` streams a file in chunks, checks every row (vectorised, by
:func:`geo.kinds.check_chunk`), writes bad rows to the file's quarantine file
(:mod:`geo.quarantine`), and stores the good rows in one transaction: all of a
file's good rows become visible at once, or none do. With ``strict=True``
nothing is stored when any row is bad. Re-ingesting the same file changes
nothing; a column the file lacks leaves the stored values alone.
``ingest_or_refuse`` and ``ingest_exit_code`` serve a call of several files.

Input kinds: ``episodes``, ``venues``, ``venue-reports``, ``disruptions``,
``incidents`` (CSV, GeoJSON or GeoPackage) and ``police-uk`` (the
data.police.uk street-crime CSV, stored as incidents with month precision).

A police.uk file's distinct map points with their ``Location`` text ("On or
near Whalley Range") are kept too, in the same transaction, as gazetteer
features of kind ``police.uk`` merged by code (:mod:`geo.gazetteer`): the
public street and place names that tell a patrol where a target is. A point
published under two names keeps the one its file gives most often; a later
file's name replaces an earlier one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from geo import schemas
from geo.checks import PointColumns, Problems, ReasonTally
from geo.errors import InputFileError, StoreError, ValidationError
from geo.gazetteer import FAMILY, POLICE_UK, as_features, choose_snap_names, snap_points
from geo.kinds import KINDS, POLICE_UK_COLUMNS, SPECS, BuildContext, InputSpec, check_chunk
from geo.pseudonym import identifying_columns
from geo.quarantine import QuarantineFile
from geo.readers import DEFAULT_CHUNK_ROWS, Source, open_source
from geo.store import Store, UpsertResult
from geo.studyarea import StudyArea

__all__ = [
    "KINDS",
    "SPECS",
    "IngestReport",
    "InputSpec",
    "StrictRefusal",
    "ingest_exit_code",
    "ingest_file",
    "ingest_or_refuse",
    "refusal",
]


@dataclass
class IngestReport:
    """What one file's ingest did.

    ``reasons`` counts quarantined rows by reason, most first; a reason is
    counted without per-row detail (the quarantine file has it, row by row),
    and a row with several reasons counts once under each. ``reason_sets``
    counts rows by the exact set of reasons they have. ``kept_columns`` are
    stored columns the file does not have: rows already stored keep their
    values of them. ``refused`` is the
    reason a whole file was refused (nothing from it stored), None otherwise;
    see :func:`ingest_or_refuse`.
    """

    kind: str
    path: str
    rows_read: int = 0
    rows_stored: int = 0
    rows_quarantined: int = 0
    result: UpsertResult = field(default_factory=UpsertResult)
    dropped_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    kept_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    reason_sets: dict[tuple[str, ...], int] = field(default_factory=dict)
    quarantine_path: str | None = None
    stored: bool = False
    refused: str | None = None
    places: int = 0
    """Police.uk map points with a name kept in the gazetteer (police.uk files only)."""

    @property
    def exit_code(self) -> int:
        """0 every row stored, 1 some quarantined and the rest stored, 2 nothing stored."""
        if self.refused is not None or not self.stored:
            return 2
        return 1 if self.rows_quarantined else 0

    def reason_lines(self, limit: int = 8) -> list[str]:
        """The ``limit`` most common reasons as lines, and a line for the rest.

        Each line is ``"  <rows, 7 wide> x <reason>"``; when more reasons
        exist, a last line ``"  and N more reasons (M rows); see <quarantine
        file>"`` counts them and the rows that have any of them (each row
        once). No lines when nothing was quarantined.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            msg = f"`limit` must be a whole number >= 0, got {limit!r}. Pass 8 to show eight."
            raise ValidationError(msg)
        items = list(self.reasons.items())
        lines = [f"  {n:>7} x {reason}" for reason, n in items[:limit]]
        rest = {reason for reason, _ in items[limit:]}
        if rest:
            rows = sum(n for reasons, n in self.reason_sets.items() if rest.intersection(reasons))
            more = f"  and {len(rest)} more reason{'s' if len(rest) != 1 else ''}"
            more += f" ({rows} row{'s' if rows != 1 else ''})"
            if self.quarantine_path:
                more += f"; see {self.quarantine_path}"
            lines.append(more)
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.path,
            "rows_read": self.rows_read,
            "rows_stored": self.rows_stored,
            "rows_quarantined": self.rows_quarantined,
            "inserted": self.result.inserted,
            "updated": self.result.updated,
            "unchanged": self.result.unchanged,
            "dropped_columns": self.dropped_columns,
            "ignored_columns": self.ignored_columns,
            "kept_columns": self.kept_columns,
            "reasons": self.reasons,
            "quarantine": self.quarantine_path,
            "stored": self.stored,
            "refused": self.refused,
            "places": self.places,
        }


class StrictRefusal(ValidationError):
    """``--strict`` and some rows were bad: nothing was stored."""

    def __init__(self, report: IngestReport) -> None:
        self.report = report
        super().__init__(
            f"{report.path}: {report.rows_quarantined} of {report.rows_read} rows are bad and "
            f"--strict was given, so nothing was stored; see {report.quarantine_path}."
        )


def ingest_exit_code(reports: list[IngestReport]) -> int:
    """The exit code of one call that ingested ``reports``' files.

    0 every row of every file stored; 2 nothing stored (no file stored a row,
    or there were no files); 1 otherwise (some rows or files stored, others
    quarantined or refused).
    """
    if not any(r.stored for r in reports):
        return 2
    return 0 if all(r.exit_code == 0 for r in reports) else 1


def refusal(kind: str, path: Path | str, error: ValidationError | StoreError) -> IngestReport:
    """The report of a file refused as a whole: nothing from it stored, exit code 2.

    ``refused`` is the error's one-line reason. A ``--strict`` refusal keeps
    its counts and quarantine file. A :class:`geo.errors.StoreError` (the
    store could not take the file's rows, which were rolled back) may be
    reported the same way by a caller that stops there.
    """
    if isinstance(error, StrictRefusal):
        report = dataclasses.replace(error.report, rows_stored=0, stored=False)
        report.result = UpsertResult()
    else:
        report = IngestReport(kind=kind, path=str(path))
    report.refused = str(error)
    return report


def _rename_aliases(columns: list[str], spec: InputSpec) -> dict[str, str]:
    """Map input column names onto the spec's canonical names (first alias wins)."""
    mapping: dict[str, str] = {}
    for canonical, aliases in spec.aliases.items():
        if canonical in columns:
            continue
        for alias in aliases:
            if alias in columns and alias not in mapping:
                mapping[alias] = canonical
                break
    return mapping


def _check_header(spec: InputSpec, columns: list[str], path: str, source: Source) -> None:
    if spec.kind == "police-uk":
        missing = [c for c in POLICE_UK_COLUMNS if c not in columns]
        if missing:
            raise InputFileError(
                path,
                "is not a data.police.uk street-crime file: "
                f"missing column(s) {', '.join(missing)}.",
                "Use `engage ingest incidents` for other incident files.",
            )
        return
    missing = [c for c in spec.required if c not in columns]
    if spec.kind == "venue-reports" and "grading" in columns:
        missing = [c for c in missing if c not in ("source_evaluation",)]
    elif spec.kind == "venue-reports":
        missing += [
            c
            for c in ("source_evaluation", "intelligence_assessment", "handling_code")
            if c not in columns
        ]
    no_point = False
    for prefix, required in spec.points:
        pc = PointColumns.find(prefix, columns)
        if required and not (pc.has_latlng or pc.has_bng):
            missing.append(f"{prefix}lat and {prefix}lng (or {prefix}easting and {prefix}northing)")
            no_point = True
    if no_point and source.layer is not None and not source.has_geometry:
        raise InputFileError(
            path,
            f"layer `{source.layer}` has no geometry (it is an attribute table) and no "
            f"columns for a point, but {spec.kind} need one: missing {'; '.join(missing)}.",
            "Export the layer with its points, or add the coordinate columns; "
            "see docs/data-formats.md.",
        )
    if missing:
        raise InputFileError(
            path,
            f"missing required column(s): {'; '.join(missing)}.",
            f"Found columns: {', '.join(columns) or '(none)'}. Rename or add the column(s); "
            f"see docs/data-formats.md for the {spec.kind} format.",
        )


def _now() -> datetime:
    return datetime.now(UTC)


def ingest_file(
    store: Store,
    kind: str,
    path: Path,
    *,
    strict: bool = False,
    study_area: StudyArea | None = None,
    key: bytes | None = None,
    quarantine_dir: Path = Path("quarantine"),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    layer: str | None = None,
    progress: bool = False,
    now: datetime | None = None,
    after_chunk: Callable[[int], None] | None = None,
) -> IngestReport:
    """Check and store one file; see the module docstring.

    Parameters
    ----------
    kind
        One of :data:`KINDS`.
    key
        Pseudonym key bytes (from :func:`geo.pseudonym.check_key` of the settings' key); required
        for episodes, which carry children's ids.
    quarantine_dir
        Where the file's quarantine, ``<file name>.<8 hex>.quarantine.csv``, is
        written when rows are bad (:func:`geo.quarantine.quarantine_path`).
    after_chunk
        Called with the number of rows staged so far after each chunk (used
        by tests that interrupt an ingest part-way).

    Raises
    ------
    InputFileError
        The file is unusable (empty, unreadable, required columns missing).
    StrictRefusal
        ``strict`` and at least one row was bad.
    """
    if kind not in SPECS:
        msg = f"unknown input kind `{kind}`; expected one of {', '.join(KINDS)}."
        raise ValidationError(msg)
    spec = SPECS[kind]
    if kind == "episodes" and key is None:
        from geo.pseudonym import check_key

        key = check_key(None)  # refuses, saying how to set ENGAGE_PSEUDONYM_KEY
    path = Path(path)
    source = open_source(path, layer=layer, chunk_rows=chunk_rows)
    columns = list(source.columns)
    report = IngestReport(kind=kind, path=str(path), notes=list(source.notes))
    rename = _rename_aliases(columns, spec)
    columns = [rename.get(c, c) for c in columns]
    dropped = identifying_columns(columns, allowed=spec.allowed_identifying)
    if kind == "police-uk":
        dropped = []
    report.dropped_columns = [source.original_columns.get(c, c) for c in dropped]
    _check_header(spec, columns, str(path), source)
    known = set(_expected_columns(spec))
    report.ignored_columns = [
        source.original_columns.get(c, c)
        for c in columns
        if c not in known and c not in dropped and not c.startswith("_")
    ] + list(source.ignored)
    venues = None
    if kind in ("venue-reports", "disruptions"):
        venues = store.read(schemas.VENUES)
    ctx = BuildContext(spec, source, study_area or StudyArea(), key, now or _now(), venues)
    # The cells that are stored (or become a stored id): checked for characters and length.
    used = POLICE_UK_COLUMNS if kind == "police-uk" else known
    ctx.checked = [c for c in columns if c in used and c not in dropped]
    ctx.kept, absent = _kept_columns(spec, columns)
    report.kept_columns = list(ctx.kept)
    if ctx.kept:
        new_rows = "new rows have them empty"
        if "last_seen_place_type" in ctx.kept:
            new_rows += " (the last-seen place type unknown)"
        report.notes.append(
            f"not in the file: {', '.join(absent)}; rows already stored keep their values of "
            f"these, {new_rows}"
        )
    quarantine = QuarantineFile(Path(quarantine_dir), path)
    tally = ReasonTally()
    total = source.size if not str(path).endswith(".gz") and source.position is not None else None
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc=f"{kind} {path.name}",
        disable=not progress,
        leave=False,
    )
    snaps: list[pd.DataFrame] = []
    try:
        with store.writer() as writer:
            staged = 0
            for chunk in source.chunks:
                chunk.frame = chunk.frame.rename(columns=rename).drop(columns=dropped)
                good, problems = check_chunk(ctx, chunk)
                report.rows_read += len(chunk.frame)
                bad_rows = int(problems.bad_mask(len(chunk.frame)).sum())
                report.rows_quarantined += bad_rows
                if bad_rows:
                    tally.add(problems)
                    quarantine.write(problems.frame(quarantine.source))
                if len(good):
                    writer.stage(spec.table, good, keep=spec.keep, kept_columns=ctx.kept)
                    staged += len(good)
                    if kind == "police-uk" and "location" in chunk.frame.columns:
                        snaps.append(_snap_points(chunk.frame, problems))
                if after_chunk is not None:
                    after_chunk(staged)
                if source.position is not None and total is not None:
                    bar.update(getattr(source.position, "count", 0) - bar.n)
            report.reasons = tally.counts()
            report.reason_sets = tally.sets()
            report.quarantine_path = quarantine.commit()
            if report.rows_read == 0:
                raise InputFileError(
                    str(path),
                    "has a header but no data rows.",
                    "Export the data again with its rows.",
                )
            if strict and report.rows_quarantined:
                raise StrictRefusal(report)
            places = choose_snap_names(snaps)
            if len(places):
                report.places = writer.put_features(
                    FAMILY, POLICE_UK, as_features(places), replace=False
                )
            results = writer.finish()
    finally:
        bar.close()
        quarantine.discard()
    report.result = results.get(spec.table.name, UpsertResult())
    if report.result.kept_earlier:
        report.notes.append(
            f"{report.result.kept_earlier} crimes were stored already from an earlier month's "
            "publication, which is kept: a Crime ID's earliest publication is stored"
        )
    report.rows_stored = report.rows_read - report.rows_quarantined
    report.stored = report.rows_stored > 0
    return report


def _snap_points(frame: pd.DataFrame, problems: Problems) -> pd.DataFrame:
    """The named map points of a police.uk chunk's good rows (:func:`geo.gazetteer.snap_points`)."""
    good = ~problems.bad_mask(len(frame))
    rows = frame.loc[good]
    lat = pd.to_numeric(rows["latitude"].astype(str).str.strip(), errors="coerce")
    lng = pd.to_numeric(rows["longitude"].astype(str).str.strip(), errors="coerce")
    return snap_points(lat.to_numpy(), lng.to_numpy(), rows["location"])


def ingest_or_refuse(store: Store, kind: str, path: Path, **options: Any) -> IngestReport:
    """:func:`ingest_file`, with a refused file given as a report instead of raised.

    For a call that ingests several files: every file gets a report, whether
    stored, partly quarantined or refused (:attr:`IngestReport.refused`), and
    :func:`ingest_exit_code` gives the call's exit code. An unusable file
    (:class:`geo.errors.InputFileError`) and a ``--strict`` refusal become
    reports; anything that stops every file (an unknown kind, a missing
    pseudonym key, a store that cannot be written) is still raised.
    """
    try:
        return ingest_file(store, kind, path, **options)
    except (InputFileError, StrictRefusal) as error:
        return refusal(kind, path, error)


OPTIONAL_INPUTS: dict[str, dict[str, str]] = {
    "episodes": {
        "reported_at": "reported_at",
        "last_seen_place_type": "last_seen_place_type",
        "found_at": "found_at",
        "in_care": "in_care",
        "risk_level": "risk_level",
    },
    "venues": {"name": "name", "public": "public"},
    "disruptions": {"venue_id": "venue_id", "note": "note", "public": "public"},
}
"""For each kind, the stored columns that come from one optional input column."""


def _kept_columns(spec: InputSpec, columns: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Stored columns the file has no input for, and those inputs, named for the report.

    An optional point (the found point of an episode) is absent when none of
    its coordinate columns is given; its place type goes with it. A
    disruption's point is never kept: it comes from its own columns or its
    venue.
    """
    optional = OPTIONAL_INPUTS.get(spec.kind, {})
    kept = [stored for stored, given in optional.items() if given not in columns]
    absent = [optional[c] for c in kept]
    for prefix, required in spec.points:
        if required or spec.kind == "disruptions":
            continue
        pc = PointColumns.find(prefix, columns)
        if any((pc.lat, pc.lng, pc.easting, pc.northing)):
            continue
        point = [c.name for c in schemas.point_columns(prefix, nullable=True)]
        kept += point
        absent.append(f"the {prefix.rstrip('_')} point ({prefix}lat/{prefix}lng)")
        place = f"{prefix}place_type"
        if place in spec.table.column_names and place not in kept:
            kept.append(place)
            if place in columns:
                absent.append(f"{place} (it goes with the point)")
            else:
                absent.append(place)
    order = {name: i for i, name in enumerate(spec.table.column_names)}
    return tuple(sorted(kept, key=order.__getitem__)), absent


def _expected_columns(spec: InputSpec) -> list[str]:
    if spec.kind == "police-uk":
        return [
            "crime_id",
            "month",
            "reported_by",
            "falls_within",
            "longitude",
            "latitude",
            "location",
            "lsoa_code",
            "lsoa_name",
            "crime_type",
            "last_outcome_category",
            "context",
        ]
    names = [c.name for c in spec.table.columns]
    extra = ["child_id", "grading", "lat", "lng", "latitude", "longitude", "easting", "northing"]
    for prefix, _ in spec.points:
        for suffix in (
            "lat",
            "latitude",
            "lng",
            "lon",
            "long",
            "longitude",
            "easting",
            "northing",
            "eastings",
            "northings",
            "east",
            "north",
        ):
            extra.append(prefix + suffix)
    return names + extra
