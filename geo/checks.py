"""Vectorised row checks: parse text cells and name every problem.

Each parser takes a column of text cells and returns parsed values plus a
mask of bad cells; :class:`Problems` collects (row, column, value, reason)
for the quarantine file. Reasons say what is wrong and how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo import crs
from geo.studyarea import StudyArea

BoolArray = npt.NDArray[np.bool_]
LOCAL_TZ = "Europe/London"
EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
CLOCK_SLACK = timedelta(minutes=10)

QUARANTINE_COLUMNS = ["file", "row", "column", "value", "reason"]

ID_MAX_CHARS = 200
"""Most characters an id cell may hold (``episode_id``, ``child_id``, ``venue_id``...)."""
TEXT_MAX_CHARS = 2_000
"""Most characters any other cell may hold (names, notes, categories, dates...)."""
NUL_REASON = (
    "the cell holds a NUL character (shown as \\x00), which is not text and cannot be "
    "stored; remove it (it often marks a damaged or binary export)"
)


@dataclass
class Problems:
    """Problems found in one chunk: parallel lists, one entry per bad cell.

    ``reasons`` are what the quarantine file says about each cell, with any
    per-row detail; ``summaries`` are the same reasons without that detail,
    by which problems are counted in a report.
    """

    rows: list[npt.NDArray[np.int64]] = field(default_factory=list)
    columns: list[npt.NDArray[np.object_]] = field(default_factory=list)
    values: list[npt.NDArray[np.object_]] = field(default_factory=list)
    reasons: list[npt.NDArray[np.object_]] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    bad_positions: list[npt.NDArray[np.int64]] = field(default_factory=list)

    def add(
        self,
        mask: BoolArray,
        rows: npt.NDArray[np.int64],
        column: str,
        values: pd.Series | npt.NDArray[np.object_] | str,
        reason: str | pd.Series | npt.NDArray[np.object_],
        *,
        summary: str | None = None,
    ) -> None:
        """Record ``reason`` for every position where ``mask`` is true.

        ``summary`` is the reason as counted in a report; required when
        ``reason`` differs from row to row (it then carries per-row detail,
        such as the row of a duplicate's first occurrence).
        """
        if summary is None:
            if not isinstance(reason, str):
                msg = "a per-row `reason` needs a `summary` to count it by."
                raise TypeError(msg)
            summary = reason
        mask = np.asarray(mask, dtype=bool)
        pos = np.flatnonzero(mask)
        if pos.size == 0:
            return
        n = pos.size
        self.bad_positions.append(pos)
        self.rows.append(rows[pos])
        self.columns.append(np.full(n, column, dtype=object))
        if isinstance(values, str):
            self.values.append(np.full(n, values, dtype=object))
        else:
            self.values.append(np.asarray(values, dtype=object)[pos])
        if isinstance(reason, str):
            self.reasons.append(np.full(n, reason, dtype=object))
        else:
            self.reasons.append(np.asarray(reason, dtype=object)[pos])
        self.summaries.append(summary)

    def bad_mask(self, n: int) -> BoolArray:
        """Positions (0..n-1) with at least one problem."""
        mask = np.zeros(n, dtype=bool)
        for pos in self.bad_positions:
            mask[pos] = True
        return mask

    def frame(self, file: str) -> pd.DataFrame:
        """One row per problem, ordered by file row."""
        if not self.rows:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in QUARANTINE_COLUMNS})
        out = pd.DataFrame(
            {
                "file": file,
                "row": np.concatenate(self.rows),
                "column": np.concatenate(self.columns),
                "value": np.concatenate(self.values),
                "reason": np.concatenate(self.reasons),
            }
        )
        return out.sort_values("row", kind="stable").reset_index(drop=True)


def _set_bits(word: int) -> list[int]:
    """Positions of the 1 bits of a 64-bit word, lowest first."""
    return [b for b in range(64) if (word >> b) & 1]


class ReasonTally:
    """Bad rows by reason over a whole file, counted a chunk at a time.

    Keeps, for each set of reasons that some bad row has, how many rows have
    exactly that set: from it come the rows per reason and the rows that have
    any of several reasons, each row counted once. Memory grows with the
    distinct sets, not with the rows.
    """

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._sets: dict[tuple[int, ...], int] = {}

    def add(self, problems: Problems) -> None:
        """Count the bad rows of one chunk (rows are distinct across chunks)."""
        if not problems.rows:
            return
        rows = np.concatenate(problems.rows)
        sizes = [r.size for r in problems.rows]
        ids = np.repeat(
            np.array([self._ids.setdefault(s, len(self._ids)) for s in problems.summaries]),
            sizes,
        )
        row_code, row_values = pd.factorize(rows)
        words = int(ids.max()) // 64 + 1
        masks = np.zeros((row_values.size, words), dtype=np.uint64)
        bits = np.left_shift(np.uint64(1), (ids % 64).astype(np.uint64))
        np.bitwise_or.at(masks, (row_code, ids // 64), bits)
        distinct, counts = np.unique(masks, axis=0, return_counts=True)
        for mask, n in zip(distinct.tolist(), counts.tolist(), strict=True):
            key = tuple(64 * w + b for w, word in enumerate(mask) for b in _set_bits(word))
            self._sets[key] = self._sets.get(key, 0) + n

    def sets(self) -> dict[tuple[str, ...], int]:
        """Rows by the exact set of reasons they have."""
        names = list(self._ids)
        return {tuple(names[i] for i in ids): n for ids, n in self._sets.items()}

    def counts(self) -> dict[str, int]:
        """Rows per reason, most rows first (then by reason)."""
        per = dict.fromkeys(self._ids, 0)
        for reasons, n in self.sets().items():
            for reason in reasons:
                per[reason] += n
        return dict(sorted(per.items(), key=lambda kv: (-kv[1], kv[0])))


def blank(cells: pd.Series) -> BoolArray:
    """Cells that are empty or only white space."""
    return np.asarray(cells.str.strip() == "", dtype=bool)


def norm_token(cells: pd.Series) -> pd.Series:
    """Lower case, trimmed, runs of space/hyphen/slash as one underscore."""
    return cells.str.strip().str.lower().str.replace(r"[\s\-/]+", "_", regex=True)


def check_cells(
    frame: pd.DataFrame,
    columns: list[str],
    rows: npt.NDArray[np.int64],
    problems: Problems,
    *,
    ids: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Record cells of ``columns`` that hold a NUL character or are too long.

    Id columns (``ids``) hold at most :data:`ID_MAX_CHARS` characters, any
    other cell :data:`TEXT_MAX_CHARS`, the same in every store. Returns
    ``frame`` with each over-long cell cut to its limit plus ``…`` (longer than
    any good cell, so it never matches one), so later checks of a bad row stay
    cheap; the problem keeps the whole value.
    """
    out = frame
    for column in columns:
        cells = frame[column].astype(str)
        nul = cells.str.contains("\x00", regex=False).to_numpy()
        problems.add(nul, rows, column, cells, NUL_REASON)
        is_id = column in ids
        limit = ID_MAX_CHARS if is_id else TEXT_MAX_CHARS
        long = (cells.str.len() > limit).to_numpy()
        if not long.any():
            continue
        what = "an id" if is_id else "a cell"
        problems.add(
            long,
            rows,
            column,
            cells,
            f"longer than {limit:,} characters, the most {what} may hold; check that the "
            "column holds what its name says and that no closing quote is missing",
        )
        if out is frame:
            out = frame.copy()
        out.loc[long, column] = cells[long].str.slice(0, limit) + "…"
    return out


# --- numbers and coordinates ---------------------------------------------


def parse_float(cells: pd.Series) -> tuple[npt.NDArray[np.float64], BoolArray]:
    """Numbers from text; returns (values with NaN for blank/bad, unparseable mask)."""
    text = cells.str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    bad = (text != "").to_numpy() & ~np.isfinite(values)
    return values, bad


_COORD_REASONS = {
    crs.COORD_ZERO: (
        "(0, 0) is a placeholder, not a location; geocode the row or leave the coordinates blank"
    ),
    crs.COORD_SWAPPED: "latitude and longitude appear swapped; swap the two columns",
    crs.COORD_BNG_AS_LATLNG: (
        "values look like British National Grid easting/northing in the lat/lng columns; "
        "put them in `{p}easting` and `{p}northing` columns instead"
    ),
    crs.COORD_OUTSIDE_GB: "the point is outside {region}; check the coordinates",
}
_BNG_REASONS = {
    crs.COORD_ZERO: _COORD_REASONS[crs.COORD_ZERO],
    crs.COORD_SWAPPED: "easting and northing appear swapped; swap the two columns",
    crs.COORD_BNG_AS_LATLNG: (
        "values look like degrees of latitude/longitude in the easting/northing columns; "
        "put them in `{p}lat` and `{p}lng` columns instead"
    ),
    crs.COORD_OUTSIDE_GB: "the point is outside the British National Grid; check the coordinates",
}


@dataclass
class PointColumns:
    """Which input columns hold one point (any may be None)."""

    prefix: str
    lat: str | None = None
    lng: str | None = None
    easting: str | None = None
    northing: str | None = None

    @property
    def has_latlng(self) -> bool:
        return self.lat is not None and self.lng is not None

    @property
    def has_bng(self) -> bool:
        return self.easting is not None and self.northing is not None

    @property
    def label(self) -> str:
        return self.lat or self.easting or f"{self.prefix}lat"

    @classmethod
    def find(cls, prefix: str, columns: list[str]) -> PointColumns:
        def pick(*names: str) -> str | None:
            for name in names:
                if prefix + name in columns:
                    return prefix + name
            return None

        return cls(
            prefix,
            lat=pick("lat", "latitude"),
            lng=pick("lng", "lon", "long", "longitude"),
            easting=pick("easting", "eastings", "east"),
            northing=pick("northing", "northings", "north"),
        )


def parse_point(
    frame: pd.DataFrame,
    cols: PointColumns,
    rows: npt.NDArray[np.int64],
    problems: Problems,
    *,
    required: bool,
    study_area: StudyArea,
    missing_reason: str | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], BoolArray]:
    """WGS84 (lat, lng) of one point per row, recording every coordinate problem.

    Returns lat, lng (NaN where absent or bad) and a mask of rows where the
    point is present and good. A wholly blank optional point is not a problem.
    """
    n = len(frame)
    lat = np.full(n, np.nan)
    lng = np.full(n, np.nan)
    empty = pd.Series([""] * n, index=frame.index, dtype=object)

    def cell(name: str | None) -> pd.Series:
        return frame[name].astype(str) if name is not None else empty

    la_t, ln_t = cell(cols.lat), cell(cols.lng)
    e_t, n_t = cell(cols.easting), cell(cols.northing)
    la_blank, ln_blank = blank(la_t), blank(ln_t)
    e_blank, n_blank = blank(e_t), blank(n_t)
    use_ll = ~(la_blank & ln_blank)
    use_bng = ~use_ll & ~(e_blank & n_blank)
    absent = ~use_ll & ~use_bng
    label = cols.label
    if required:
        problems.add(
            absent,
            rows,
            label,
            "",
            missing_reason
            or "missing coordinates; give latitude/longitude (WGS84) or easting/northing (OSGB36)",
        )
    # Latitude/longitude given.
    la, la_bad = parse_float(la_t)
    ln, ln_bad = parse_float(ln_t)
    half = use_ll & (la_blank ^ ln_blank)
    problems.add(
        half & la_blank, rows, cols.lat or label, "", "latitude is missing while longitude is given"
    )
    problems.add(
        half & ln_blank,
        rows,
        cols.lng or label,
        "",
        "longitude is missing while latitude is given",
    )
    problems.add(use_ll & la_bad, rows, cols.lat or label, la_t, "latitude is not a number")
    problems.add(use_ll & ln_bad, rows, cols.lng or label, ln_t, "longitude is not a number")
    ll_ok = use_ll & ~half & ~la_bad & ~ln_bad
    region = study_area.region
    codes = crs.classify_latlng(
        np.where(ll_ok, la, np.nan), np.where(ll_ok, ln, np.nan), (region.lat, region.lng)
    )
    shown = (la_t.str.strip() + ", " + ln_t.str.strip()).to_numpy(dtype=object)
    for code, reason in _COORD_REASONS.items():
        problems.add(
            ll_ok & (codes == code),
            rows,
            cols.lat or label,
            shown,
            reason.format(p=cols.prefix, region=region.name),
        )
    good_ll = ll_ok & (codes == crs.COORD_OK)
    lat[good_ll] = la[good_ll]
    lng[good_ll] = ln[good_ll]
    # Easting/northing given.
    e, e_bad = parse_float(e_t)
    nn, n_bad = parse_float(n_t)
    half_b = use_bng & (e_blank ^ n_blank)
    problems.add(half_b, rows, cols.easting or label, "", "easting and northing must both be given")
    problems.add(use_bng & e_bad, rows, cols.easting or label, e_t, "easting is not a number")
    problems.add(use_bng & n_bad, rows, cols.northing or label, n_t, "northing is not a number")
    b_ok = use_bng & ~half_b & ~e_bad & ~n_bad
    bcodes = crs.classify_bng(np.where(b_ok, e, np.nan), np.where(b_ok, nn, np.nan))
    bshown = (e_t.str.strip() + ", " + n_t.str.strip()).to_numpy(dtype=object)
    for code, reason in _BNG_REASONS.items():
        problems.add(
            b_ok & (bcodes == code),
            rows,
            cols.easting or label,
            bshown,
            reason.format(p=cols.prefix),
        )
    good_b = b_ok & (bcodes == crs.COORD_OK)
    if good_b.any():
        blat, blng = crs.bng_to_latlng(e[good_b], nn[good_b])
        lat[good_b] = blat
        lng[good_b] = blng
    good = good_ll | good_b
    # The study area.
    inside = np.zeros(n, dtype=bool)
    if good.any():
        inside[good] = study_area.contains(lat[good], lng[good])
    outside = good & ~inside
    where = np.where(use_ll, shown, bshown)
    problems.add(
        outside,
        rows,
        cols.lat if use_ll.any() and cols.lat else label,
        where,
        f"the point is outside the study area ({study_area.label}); check the coordinates, "
        "or widen the study area with --study-area / ENGAGE_STUDY_AREA",
    )
    good &= inside
    lat[~good] = np.nan
    lng[~good] = np.nan
    return lat, lng, good


# --- dates and times -----------------------------------------------------

_OFFSET_RE = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"
"""A time followed by an offset: ``21:30Z``, ``21:30:00+01:00``, ``21:30-0500``.

The offset must follow a time, so the year of a day-first date (``14-03-2025``)
is never read as an offset of -20:25."""
_DAYFIRST_FORMATS = tuple(
    day + time
    for day in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")
    for time in (" %H:%M:%S", " %H:%M", "")
)
"""Day-first UK forms with ``/``, ``-`` or ``.``, each with a time to the second,
to the minute, or none."""
_DAYFIRST_OFFSET_FORMATS = tuple(f + "%z" for f in _DAYFIRST_FORMATS if "%H" in f)
_MONTH_RE = r"^\d{4}-\d{2}$"
_HAS_TIME_RE = r"(?:T|\s)\d{1,2}:\d{2}"

SKIPPED_HOUR_REASON = (
    "the time does not exist in UK time: clocks go forward from 01:00 to 02:00 on the last "
    "Sunday of March; check the time, or give it with its offset (+00:00 or +01:00)"
)


class ParsedTimes(NamedTuple):
    """What :func:`parse_timestamps` finds in a column of text cells."""

    ts: pd.Series
    """UTC timestamps (NaT where blank, unparseable or skipped)."""
    bad: BoolArray
    """Cells that are not a date in any accepted form."""
    future: BoolArray
    """Cells later than now (with :data:`CLOCK_SLACK`)."""
    precision: npt.NDArray[np.object_]
    """``exact``, ``day`` or ``month`` (None when blank)."""
    skipped: BoolArray
    """Local times in the hour skipped when UK clocks go forward (``2025-03-30T01:30``)."""


def _parse_forms(text: pd.Series, formats: tuple[str, ...], *, utc: bool) -> pd.Series:
    """Parse with ISO 8601 first, then each of ``formats`` for the cells still unparsed."""
    dtype: Literal["datetime64[ns, UTC]", "datetime64[ns]"] = (
        "datetime64[ns, UTC]" if utc else "datetime64[ns]"
    )
    out = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=utc).astype(dtype)
    for fmt in formats:
        todo = out.isna()
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce", utc=utc)
        out[todo] = parsed.astype(dtype)
    return out


def parse_timestamps(cells: pd.Series, *, now: datetime | None = None) -> ParsedTimes:
    """UTC timestamps from text, local UK time unless an offset is given.

    Accepts ISO 8601 (``2025-03-14T21:30``, ``2025-03-14``, ``2022-10``) and
    day-first UK forms with ``/``, ``-`` or ``.`` (``14/03/2025``,
    ``14-03-2025 21:30``, ``14.03.2025 21:30:15``), each with or without an
    offset after the time. A local time in the hour skipped when clocks go
    forward does not exist and is returned as ``skipped`` (not moved); one in
    the hour repeated when clocks go back is read as the first (BST) one.
    """
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    text = cells.astype(str).str.strip()
    is_blank = (text == "").to_numpy()
    has_offset = text.str.contains(_OFFSET_RE, regex=True).to_numpy() & ~is_blank
    out = pd.Series(pd.NaT, index=cells.index, dtype="datetime64[ns, UTC]")
    skipped = np.zeros(len(text), dtype=bool)
    if has_offset.any():
        out[has_offset] = _parse_forms(text[has_offset], _DAYFIRST_OFFSET_FORMATS, utc=True)
    naive_mask = ~has_offset & ~is_blank
    if naive_mask.any():
        naive = _parse_forms(text[naive_mask], _DAYFIRST_FORMATS, utc=False)
        local = naive.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="NaT")
        unresolved = local.isna() & naive.notna()
        if unresolved.any():
            # The repeated hour when clocks go back: take the first (BST) reading. What
            # stays unresolved is the hour skipped when they go forward.
            local[unresolved] = naive[unresolved].dt.tz_localize(
                LOCAL_TZ, ambiguous=True, nonexistent="NaT"
            )
            skipped[naive_mask] = (local.isna() & naive.notna()).to_numpy()
        out[naive_mask] = local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    bad = ~is_blank & out.isna().to_numpy() & ~skipped
    future = (out > now_ts + CLOCK_SLACK).to_numpy()
    precision = np.full(len(text), None, dtype=object)
    month = text.str.match(_MONTH_RE).to_numpy()
    with_time = text.str.contains(_HAS_TIME_RE, regex=True).to_numpy()
    precision[~is_blank] = "day"
    precision[~is_blank & with_time] = "exact"
    precision[~is_blank & month] = "month"
    return ParsedTimes(out, bad, future, precision, skipped)


def check_timestamp(
    frame: pd.DataFrame,
    column: str,
    rows: npt.NDArray[np.int64],
    problems: Problems,
    *,
    required: bool,
    now: datetime | None = None,
) -> tuple[pd.Series, npt.NDArray[np.object_]]:
    """Parse one date/time column and record blank, bad, future and too-early cells."""
    cells = (
        frame[column].astype(str)
        if column in frame.columns
        else pd.Series([""] * len(frame), index=frame.index, dtype=object)
    )
    ts, bad, future, precision, skipped = parse_timestamps(cells, now=now)
    if required:
        problems.add(
            blank(cells),
            rows,
            column,
            "",
            f"`{column}` is missing; give a date and time such as 2025-03-14T21:30",
        )
    problems.add(
        bad,
        rows,
        column,
        cells,
        "unparseable date; use ISO 8601 (2025-03-14T21:30) or day-first UK (14/03/2025 21:30)",
    )
    problems.add(skipped, rows, column, cells, SKIPPED_HOUR_REASON)
    problems.add(
        future, rows, column, cells, "the date is in the future; check the year and format"
    )
    early = (ts < EARLIEST).to_numpy()
    problems.add(early, rows, column, cells, "the date is before 1990; check the year and format")
    ts = ts.mask(future | early)
    return ts, precision


# --- closed sets ---------------------------------------------------------


def check_enum(
    frame: pd.DataFrame,
    column: str,
    rows: npt.NDArray[np.int64],
    problems: Problems,
    *,
    allowed: tuple[str, ...],
    default: str | None = None,
    required: bool = False,
    synonyms: dict[str, str] | None = None,
    upper: bool = False,
    skip: BoolArray | None = None,
) -> npt.NDArray[np.object_]:
    """Values of a closed set, forgiving case, spaces and known synonyms.

    ``skip`` marks rows whose problem with this value is already recorded
    elsewhere (for example on a combined column); they are not reported again.
    """
    n = len(frame)
    if column not in frame.columns:
        return np.full(n, default, dtype=object)
    checked = np.ones(n, dtype=bool) if skip is None else ~np.asarray(skip, dtype=bool)
    cells = frame[column].astype(str)
    token = norm_token(cells)
    if upper:
        token = token.str.upper()
    if synonyms:
        token = token.replace(synonyms)
    is_blank = (token == "").to_numpy()
    known = token.isin(allowed).to_numpy()
    values = token.to_numpy(dtype=object).copy()
    values[~known] = default
    if required and default is None:
        problems.add(
            is_blank & checked,
            rows,
            column,
            "",
            f"`{column}` is missing; expected one of {', '.join(allowed)}",
        )
    problems.add(
        ~is_blank & ~known & checked,
        rows,
        column,
        cells,
        f"unknown value; expected one of {', '.join(allowed)}",
    )
    return values


_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def check_bool(
    frame: pd.DataFrame, column: str, rows: npt.NDArray[np.int64], problems: Problems
) -> pd.Series:
    """Nullable booleans from true/false, yes/no, y/n, 1/0 (blank is unknown)."""
    n = len(frame)
    if column not in frame.columns:
        return pd.Series(pd.array([pd.NA] * n, dtype="boolean"))
    cells = frame[column].astype(str)
    token = cells.str.strip().str.lower()
    is_true = token.isin(_TRUE).to_numpy()
    is_false = token.isin(_FALSE).to_numpy()
    is_blank = (token == "").to_numpy()
    problems.add(
        ~(is_true | is_false | is_blank),
        rows,
        column,
        cells,
        "not a yes/no value; use true/false, yes/no or 1/0",
    )
    out = pd.array([pd.NA] * n, dtype="boolean")
    out[is_true] = True
    out[is_false] = False
    return pd.Series(out)


# --- hashing -------------------------------------------------------------

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def stable_hash(strings: pd.Series | npt.NDArray[np.object_]) -> npt.NDArray[np.uint64]:
    """64-bit FNV-1a of each string's UTF-8 bytes: the same on every machine and version.

    Vectorised over rows: one pass per byte position, masked by each string's
    length, so padding never changes a hash.
    """
    values = np.asarray(pd.Series(strings).astype(str).to_numpy(dtype=str))
    if values.size == 0:
        return np.empty(0, dtype=np.uint64)
    encoded = np.char.encode(values, "utf-8")
    width = max(encoded.dtype.itemsize, 1)
    lengths = np.char.str_len(encoded)
    matrix = np.frombuffer(encoded.tobytes(), dtype=np.uint8).reshape(values.size, width)
    h = np.full(values.size, _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            live = lengths > j
            mixed = (h ^ matrix[:, j].astype(np.uint64)) * _FNV_PRIME
            h = np.where(live, mixed, h)
    return h


def content_hash(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """A 64-bit hash of every column of each row (for change detection)."""
    if frame.empty:
        return np.empty(0, dtype=np.int64)
    hashed = pd.util.hash_pandas_object(frame, index=False)
    return hashed.to_numpy(dtype=np.uint64).view(np.int64)


class SeenKeys:
    """Keys seen so far in a file, as sorted 64-bit hashes with their first rows.

    Memory is 16 bytes a key, so a file of millions of rows streams in
    bounded memory.
    """

    def __init__(self) -> None:
        self.hashes = np.empty(0, dtype=np.int64)
        self.rows = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.hashes.size)

    def check(
        self, keys: pd.Series, rows: npt.NDArray[np.int64]
    ) -> tuple[BoolArray, npt.NDArray[np.int64]]:
        """Mark rows whose key appeared earlier (in this chunk or before); remember the rest.

        Returns the duplicate mask and, for each row, the row of the key's first
        occurrence.
        """
        h = stable_hash(keys).view(np.int64)
        first_in_chunk = pd.Series(rows).groupby(h).transform("min").to_numpy()
        pos = np.searchsorted(self.hashes, h)
        pos_c = np.minimum(pos, max(self.hashes.size - 1, 0))
        before = (
            (self.hashes.size > 0) & (self.hashes[pos_c] == h)
            if self.hashes.size
            else np.zeros(h.size, dtype=bool)
        )
        first = np.where(before, self.rows[pos_c] if self.hashes.size else 0, first_in_chunk)
        dup = before | (first_in_chunk != rows)
        new = ~before & (first_in_chunk == rows)
        if new.any():
            hashes = np.concatenate([self.hashes, h[new]])
            firsts = np.concatenate([self.rows, rows[new]])
            order = np.argsort(hashes, kind="stable")
            self.hashes, self.rows = hashes[order], firsts[order]
        return dup, first.astype(np.int64)


def normalise_ids(cells: pd.Series) -> pd.Series:
    """Trimmed id text."""
    return cells.astype(str).str.strip()


_GRADING_RE = re.compile(r"^\s*([123])\s*[/\-\s,]?\s*([A-Ea-e])\s*[/\-\s,]?\s*([PCpc])\s*$")


def split_grading(cells: pd.Series) -> pd.DataFrame:
    """``1AP``, ``1/A/P`` or ``2-B-C`` into three columns (blank where unparseable)."""
    parts = cells.astype(str).str.extract(_GRADING_RE)
    parts = parts.fillna("")
    parts.columns = ["source_evaluation", "intelligence_assessment", "handling_code"]
    parts["intelligence_assessment"] = parts["intelligence_assessment"].str.upper()
    parts["handling_code"] = parts["handling_code"].str.upper()
    return parts
