"""Reading gazetteer files: OS Open Names CSV, police.uk street crime, any named points.

The formats and the rules are described in :mod:`geo.gazetteer`; this module
reads them in chunks, checks each row and keeps the places of the study area.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.checks import PointColumns
from geo.crs import (
    COORD_BNG_AS_LATLNG,
    COORD_MISSING,
    COORD_OK,
    COORD_OUTSIDE_GB,
    COORD_SWAPPED,
    COORD_ZERO,
    bng_to_latlng,
    classify_bng,
    classify_latlng,
)
from geo.errors import InputFileError, ValidationError
from geo.gazetteer import (
    DEFAULT_MARGIN_M,
    FILE,
    OS_OPEN_NAMES,
    PLACE_COLUMNS,
    POLICE_UK,
    choose_snap_names,
    empty_places,
    point_codes,
    snap_points,
    tidy_names,
)
from geo.readers import (
    detect_delimiter,
    detect_encoding,
    normalise_column,
    open_binary,
    open_source,
)
from geo.studyarea import StudyArea

BAD_ROWS_SHOWN = 5

CHUNK_ROWS = 250_000

OS_OPEN_NAMES_COLUMNS = (
    "ID",
    "NAMES_URI",
    "NAME1",
    "NAME1_LANG",
    "NAME2",
    "NAME2_LANG",
    "TYPE",
    "LOCAL_TYPE",
    "GEOMETRY_X",
    "GEOMETRY_Y",
    "MOST_DETAIL_VIEW_RES",
    "LEAST_DETAIL_VIEW_RES",
    "MBR_XMIN",
    "MBR_YMIN",
    "MBR_XMAX",
    "MBR_YMAX",
    "POSTCODE_DISTRICT",
    "POSTCODE_DISTRICT_URI",
    "POPULATED_PLACE",
    "POPULATED_PLACE_URI",
    "POPULATED_PLACE_TYPE",
    "DISTRICT_BOROUGH",
    "DISTRICT_BOROUGH_URI",
    "DISTRICT_BOROUGH_TYPE",
    "COUNTY_UNITARY",
    "COUNTY_UNITARY_URI",
    "COUNTY_UNITARY_TYPE",
    "REGION",
    "REGION_URI",
    "COUNTRY",
    "COUNTRY_URI",
    "RELATED_SPATIAL_OBJECT",
    "SAME_AS_DBPEDIA",
    "SAME_AS_GEONAMES",
)
"""OS Open Names' columns in their documented order (Doc/OS_Open_Names_Header.csv)."""

_OS_USED = ("id", "name1", "local_type", "geometry_x", "geometry_y")

NAME_FIELDS = (
    "name",
    "name1",
    "place_name",
    "street",
    "street_name",
    "road_name",
    "location",
    "label",
)
"""Columns taken as a point file's name when ``name_field`` is not given (first found)."""

CODE_FIELDS = ("code", "id", "fid", "uid", "ref")
"""Columns taken as a point file's code (first found); without one, the point's ``lat,lng``."""

TYPE_FIELDS = ("type", "local_type", "kind", "category")

POLICE_UK_FIELDS = ("crime_id", "longitude", "latitude", "location")

_COORD_REASONS = {
    COORD_MISSING: "coordinates missing or not numbers",
    COORD_ZERO: "coordinates are (0, 0)",
    COORD_BNG_AS_LATLNG: "coordinates look like the other system (lat/lng vs easting/northing)",
    COORD_SWAPPED: "coordinates swapped (lat and lng, or easting and northing)",
    COORD_OUTSIDE_GB: "coordinates outside Great Britain",
}

EMPTY_NAME = "name is empty"


@dataclass
class GazetteerRead:
    """What reading one or more gazetteer files gave.

    ``places`` (:data:`PLACE_COLUMNS`, one row per code) are inside the study
    area plus the margin. ``bad`` rows (no usable point, empty name) are
    counted by reason, the first few named by file and row in ``bad_rows``;
    ``outside`` rows had a good point outside the area; ``duplicates`` rows
    repeated a code already read (the first is kept).
    """

    kind: str
    formats: list[str] = field(default_factory=list)
    places: pd.DataFrame = field(default_factory=empty_places)
    rows_read: int = 0
    bad: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    bad_rows: list[str] = field(default_factory=list)
    outside: int = 0
    duplicates: int = 0


@dataclass
class _Chunk:
    """Text cells of one chunk in canonical columns: code, name, type and one point."""

    rows: npt.NDArray[np.int64]
    code: pd.Series | None
    name: pd.Series
    type: pd.Series | None
    a: pd.Series
    b: pd.Series
    bng: bool


def sniff_format(path: Path) -> tuple[str, bool]:
    """The format of a gazetteer file: (``os_open_names``/``police.uk``/``file``, has header).

    A CSV of 34 fields whose 9th and 10th are numbers, with no header, is OS
    Open Names as published; a header naming ``NAME1``, ``GEOMETRY_X`` and
    ``GEOMETRY_Y`` is OS Open Names with its header; one naming the
    police.uk columns is a police.uk street-crime file.
    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] in ([".geojson"], [".json"], [".gpkg"]):
        return FILE, True
    if not path.exists():
        raise InputFileError(str(path), "file not found.", "Check the path.")
    with open_binary(path) as fh:
        try:
            sample = fh.read(1 << 16)
        except (OSError, EOFError) as exc:
            raise InputFileError(str(path), f"cannot be read ({exc}).") from exc
    text = sample.decode(detect_encoding(sample), errors="replace").lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or not text.strip():
        raise InputFileError(str(path), "the file is empty.", "Give a file with rows.")
    cells = next(csv.reader([lines[0]], delimiter=detect_delimiter(lines[0])))
    names = {normalise_column(c) for c in cells}
    if {"name1", "geometry_x", "geometry_y"} <= names:
        return OS_OPEN_NAMES, True
    if len(cells) == len(OS_OPEN_NAMES_COLUMNS) and all(_is_number(cells[i]) for i in (8, 9)):
        return OS_OPEN_NAMES, False
    if set(POLICE_UK_FIELDS) <= names:
        return POLICE_UK, True
    return FILE, True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _os_chunks(path: Path, header: bool, chunk_rows: int) -> Iterator[_Chunk]:
    with open_binary(path) as fh:
        encoding = detect_encoding(fh.read(1 << 16))
    options: dict[str, object] = {
        "dtype": str,
        "keep_default_na": False,
        "na_filter": False,
        "chunksize": chunk_rows,
        "encoding": encoding,
        "compression": "gzip" if path.suffix.lower() == ".gz" else None,
    }
    if header:
        reader = pd.read_csv(path, usecols=lambda c: normalise_column(c) in _OS_USED, **options)  # type: ignore[call-overload]
    else:
        names = [c.lower() for c in OS_OPEN_NAMES_COLUMNS]
        reader = pd.read_csv(path, header=None, names=names, usecols=list(_OS_USED), **options)  # type: ignore[call-overload]
    start = 2 if header else 1
    try:
        for frame in reader:
            frame.columns = [normalise_column(c) for c in frame.columns]
            rows = np.arange(start, start + len(frame), dtype=np.int64)
            start += len(frame)
            # A unit postcode is a handful of homes, not a public place: never a target's name.
            place = (frame["local_type"].str.strip().str.lower() != "postcode").to_numpy()
            frame = frame.loc[place]
            rows = rows[place]
            yield _Chunk(
                rows,
                frame["id"],
                frame["name1"],
                frame["local_type"],
                frame["geometry_x"],
                frame["geometry_y"],
                bng=True,
            )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputFileError(
            str(path),
            f"is not a well-formed OS Open Names CSV near row {start:,} ({exc}).",
            "Give the product's CSV files as downloaded (34 columns).",
        ) from exc


def _pick(columns: list[str], wanted: Sequence[str]) -> str | None:
    return next((c for c in wanted if c in columns), None)


def _source_chunks(
    path: Path, fmt: str, name_field: str | None, layer: str | None, chunk_rows: int
) -> Iterator[_Chunk]:
    source = open_source(path, layer=layer, chunk_rows=chunk_rows)
    columns = list(source.columns)
    shown = ", ".join(source.original_columns.get(c, c) for c in columns) or "(none)"
    if fmt == POLICE_UK:
        name_col: str | None = "location"
        code_col = type_col = None
        pts = PointColumns("", lat="latitude", lng="longitude")
    else:
        if name_field is not None:
            name_col = normalise_column(name_field)
            if name_col not in columns:
                raise InputFileError(
                    str(path),
                    f"has no column `{name_field}` for the place names; its columns are {shown}.",
                    "Pass one of them with --name-field.",
                )
        else:
            name_col = _pick(columns, NAME_FIELDS)
            if name_col is None:
                raise InputFileError(
                    str(path),
                    f"has no name column (looked for {', '.join(NAME_FIELDS)}); "
                    f"its columns are {shown}.",
                    "Pass the column that holds the place names with --name-field.",
                )
        code_col = _pick([c for c in columns if c != name_col], CODE_FIELDS)
        type_col = _pick([c for c in columns if c != name_col], TYPE_FIELDS)
        pts = PointColumns.find("", columns)
        if not (pts.has_latlng or pts.has_bng):
            raise InputFileError(
                str(path),
                f"has no point: no geometry and no lat/lng or easting/northing columns; "
                f"its columns are {shown}.",
                "Give a point layer, or add the coordinate columns.",
            )
    bng = not pts.has_latlng
    a_col, b_col = (pts.easting, pts.northing) if bng else (pts.lat, pts.lng)
    assert a_col is not None and b_col is not None and name_col is not None
    for chunk in source.chunks:
        f = chunk.frame
        yield _Chunk(
            chunk.rows,
            f[code_col] if code_col else None,
            f[name_col],
            f[type_col] if type_col else None,
            f[a_col],
            f[b_col],
            bng=bng,
        )


def _numbers(text: pd.Series) -> npt.NDArray[np.float64]:
    return pd.to_numeric(text.astype(str).str.strip(), errors="coerce").to_numpy(dtype=np.float64)


def read_gazetteer(
    paths: Sequence[Path],
    *,
    name_field: str | None = None,
    layer: str | None = None,
    kind: str | None = None,
    area: StudyArea | None = None,
    margin_m: float = DEFAULT_MARGIN_M,
    chunk_rows: int = CHUNK_ROWS,
) -> GazetteerRead:
    """Read gazetteer files into one set of places (see the module docstring).

    ``kind`` defaults to the format of the files (``os_open_names``,
    ``police.uk`` or ``file``); files of different formats need it given.
    Points further than ``margin_m`` outside ``area`` (default Blackburn with
    Darwen) are left out and counted.

    Raises
    ------
    InputFileError
        A file cannot be read, or has no name column or no point.
    ValidationError
        No file, a bad margin, or files of several formats without ``kind``.
    """
    if not paths:
        raise ValidationError("no gazetteer file given.")
    if not (np.isfinite(margin_m) and margin_m >= 0):
        raise ValidationError(f"`margin_m` must be 0 or more metres, got {margin_m!r}.")
    sniffed = [(Path(p), *sniff_format(Path(p))) for p in paths]
    formats = sorted({fmt for _, fmt, _ in sniffed})
    if kind is None and len(formats) > 1:
        msg = (
            f"the files are of several formats ({', '.join(formats)}); import each format "
            "on its own, or pass --kind to store them under one kind."
        )
        raise ValidationError(msg)
    kind = kind or formats[0]
    wide = replace(area or StudyArea(), tolerance_m=margin_m)
    x0, y0, x1, y1 = wide.outline().bounds
    pad_lat = margin_m / 111_000 + 0.01
    pad_lng = pad_lat / np.cos(np.radians(max(abs(y0), abs(y1))))
    box = (x0 - pad_lng, y0 - pad_lat, x1 + pad_lng, y1 + pad_lat)
    out = GazetteerRead(kind=kind, formats=formats)
    parts: list[pd.DataFrame] = []
    snaps: list[pd.DataFrame] = []
    for path, fmt, header in sniffed:
        if fmt == OS_OPEN_NAMES:
            chunks = _os_chunks(path, header, chunk_rows)
        else:
            chunks = _source_chunks(path, fmt, name_field, layer, chunk_rows)
        for chunk in chunks:
            places = _check(chunk, path, out, wide, box)
            if fmt == POLICE_UK:
                snaps.append(snap_points(places["lat"], places["lng"], places["name"]))
            else:
                parts.append(places)
    if snaps:
        parts.append(choose_snap_names(snaps))
    places = pd.concat(parts, ignore_index=True) if parts else empty_places()
    first = ~places["code"].duplicated(keep="first")
    out.duplicates = int((~first).sum())
    kept = places.loc[first, list(PLACE_COLUMNS)].reset_index(drop=True)
    out.places = kept.astype({"code": object, "name": object, "type": object})
    return out


def _check(
    chunk: _Chunk,
    path: Path,
    out: GazetteerRead,
    area: StudyArea,
    box: tuple[float, float, float, float],
) -> pd.DataFrame:
    """The good places of a chunk inside the area; counts the bad and outside rows in ``out``."""
    n = len(chunk.rows)
    out.rows_read += n
    a, b = _numbers(chunk.a), _numbers(chunk.b)
    status = classify_bng(a, b) if chunk.bng else classify_latlng(a, b)
    if chunk.bng:
        lat, lng = bng_to_latlng(a, b)
    else:
        lat, lng = a, b
    names = tidy_names(chunk.name).to_numpy(dtype=object)
    reasons = np.where(status != COORD_OK, status, np.where(names == "", EMPTY_NAME, ""))
    bad = reasons != ""
    if bad.any():
        out.bad += int(bad.sum())
        texts = pd.Series(reasons[bad]).map(lambda r: _COORD_REASONS.get(r, r))
        out.reasons.update({str(k): int(v) for k, v in texts.value_counts().items()})
        room = BAD_ROWS_SHOWN - len(out.bad_rows)
        if room > 0:
            out.bad_rows += [
                f"{path.name} row {row}: {why}"
                for row, why in zip(chunk.rows[bad][:room], texts[:room], strict=True)
            ]
    good = ~bad
    in_box = good & (lng >= box[0]) & (lng <= box[2]) & (lat >= box[1]) & (lat <= box[3])
    inside = np.zeros(n, dtype=bool)
    if in_box.any():
        inside[in_box] = area.contains(lat[in_box], lng[in_box])
    out.outside += int((good & ~inside).sum())
    code = (
        chunk.code.astype(str).str.strip().to_numpy(dtype=object)
        if chunk.code is not None
        else np.full(n, "", dtype=object)
    )
    missing = code == ""
    if missing.any():
        code[missing] = point_codes(lat[missing], lng[missing])
    kind = (
        tidy_names(chunk.type).replace("", None).to_numpy(dtype=object)
        if chunk.type is not None
        else np.full(n, None, dtype=object)
    )
    return pd.DataFrame(
        {
            "code": code[inside],
            "name": names[inside],
            "type": kind[inside],
            "lat": lat[inside],
            "lng": lng[inside],
        }
    )


# --- the shipped gazetteer ----------------------------------------------------------------
