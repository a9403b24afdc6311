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
import pyarrow as pa
import pyarrow.compute as pc

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
            self.values.append(_take(values, pos))
        if isinstance(reason, str):
            self.reasons.append(np.full(n, reason, dtype=object))
        else:
            self.reasons.append(_take(reason, pos))
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


def _take(
    values: pd.Series | npt.NDArray[np.object_] | pa.Array | pa.ChunkedArray,
    pos: npt.NDArray[np.int64],
) -> npt.NDArray[np.object_]:
    """``values`` at positions ``pos`` as Python objects (only those cells are converted)."""
    if isinstance(values, pd.Series):
        return values.iloc[pos].to_numpy(dtype=object)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        taken = values.take(pa.array(pos))
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)
    return np.asarray(values, dtype=object)[pos]


def text_array(cells: pd.Series | npt.NDArray[np.object_]) -> pa.Array:
    """The cells as one Arrow text array, as ``cells.astype(str)`` holds them.

    A missing cell (NaN in a ``str`` column) is null. Columns read from a file
    are Arrow-backed already, so this copies nothing.
    """
    series = cells if isinstance(cells, pd.Series) else pd.Series(cells, dtype=object)
    dtype = series.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        series = series.astype(pd.StringDtype("pyarrow", na_value=np.nan))
    arr = pa.array(series)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _is_true(mask: pa.Array | pa.ChunkedArray, *, null: bool = False) -> BoolArray:
    """An Arrow boolean array as a numpy mask, null counted as ``null``."""
    filled = pc.fill_null(mask, null)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


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
    """Numbers from text; returns (values with NaN for blank/bad, unparseable mask).

    Cells are trimmed, then read by Arrow's number parser; a column with any
    cell Arrow cannot read (``1,5``, ``12 m``) is read again by pandas
    (``pd.to_numeric``, which makes such a cell NaN), so both give the same
    values and the same bad cells: a bad cell is one that is not blank and not
    a finite number (``nan`` and ``inf`` are bad).
    """
    text = pc.utf8_trim_whitespace(text_array(cells))
    given = _is_true(pc.not_equal(text, ""), null=True)
    try:
        numbers = pc.cast(
            pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text), pa.float64()
        )
        values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        trimmed = pd.Series(text, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
        coerced = pd.to_numeric(trimmed.where(given & trimmed.notna(), None), errors="coerce")
        values = np.asarray(coerced.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    bad = given & ~np.isfinite(values)
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


class _Coordinate:
    """One coordinate column of a chunk: its cells, trimmed text, blanks and numbers.

    An absent column (``name`` None) is blank in every row and is never parsed.
    """

    def __init__(self, frame: pd.DataFrame, name: str | None) -> None:
        n = len(frame)
        self.name = name
        if name is None:
            self.cells: pd.Series | str = ""
            self.trimmed: pa.Array | None = None
            self.blank = np.ones(n, dtype=bool)
            self.values = np.full(n, np.nan)
            self.bad = np.zeros(n, dtype=bool)
            return
        self.cells = frame[name]
        self.trimmed = pc.utf8_trim_whitespace(text_array(self.cells))
        self.blank = _is_true(pc.equal(self.trimmed, ""))
        self.values, self.bad = parse_float(self.cells)

    def text(self) -> pa.Array | str:
        """Trimmed cells (null for a missing cell), or ``""`` for an absent column."""
        return "" if self.trimmed is None else self.trimmed


def _shown(a: _Coordinate, b: _Coordinate, n: int) -> npt.NDArray[np.object_]:
    """``"<a>, <b>"`` of the trimmed cells of each row, as a quarantine file shows a point."""
    ta, tb = a.text(), b.text()
    if isinstance(ta, str) and isinstance(tb, str):
        return np.full(n, f"{ta}, {tb}", dtype=object)
    kind = ta.type if not isinstance(ta, str) else tb.type  # type: ignore[union-attr]
    joined = pc.binary_join_element_wise(
        pa.scalar(ta, kind) if isinstance(ta, str) else ta,
        pa.scalar(tb, kind) if isinstance(tb, str) else tb,
        pa.scalar(", ", kind),
    )
    return np.asarray(joined.to_numpy(zero_copy_only=False), dtype=object)


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
    Columns the file lacks are never parsed; the quarantine text of a point
    is built only when some row has a problem with it.
    """
    n = len(frame)
    lat = np.full(n, np.nan)
    lng = np.full(n, np.nan)
    la_c, ln_c = _Coordinate(frame, cols.lat), _Coordinate(frame, cols.lng)
    e_c, n_c = _Coordinate(frame, cols.easting), _Coordinate(frame, cols.northing)
    la_blank, ln_blank = la_c.blank, ln_c.blank
    e_blank, n_blank = e_c.blank, n_c.blank
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
    la, la_bad = la_c.values, la_c.bad
    ln, ln_bad = ln_c.values, ln_c.bad
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
    problems.add(use_ll & la_bad, rows, cols.lat or label, la_c.cells, "latitude is not a number")
    problems.add(use_ll & ln_bad, rows, cols.lng or label, ln_c.cells, "longitude is not a number")
    ll_ok = use_ll & ~half & ~la_bad & ~ln_bad
    region = study_area.region
    codes = crs.classify_latlng(
        np.where(ll_ok, la, np.nan), np.where(ll_ok, ln, np.nan), (region.lat, region.lng)
    )
    ll_wrong = ll_ok & (codes != crs.COORD_OK)
    shown = _shown(la_c, ln_c, n) if ll_wrong.any() else ""
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
    good_b = np.zeros(n, dtype=bool)
    b_wrong = good_b
    e, nn = e_c.values, n_c.values
    if use_bng.any():
        half_b = use_bng & (e_blank ^ n_blank)
        problems.add(
            half_b, rows, cols.easting or label, "", "easting and northing must both be given"
        )
        problems.add(
            use_bng & e_c.bad, rows, cols.easting or label, e_c.cells, "easting is not a number"
        )
        problems.add(
            use_bng & n_c.bad, rows, cols.northing or label, n_c.cells, "northing is not a number"
        )
        b_ok = use_bng & ~half_b & ~e_c.bad & ~n_c.bad
        bcodes = crs.classify_bng(np.where(b_ok, e, np.nan), np.where(b_ok, nn, np.nan))
        b_wrong = b_ok & (bcodes != crs.COORD_OK)
        bshown = _shown(e_c, n_c, n) if b_wrong.any() else ""
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
    if outside.any():
        ll_shown = _shown(la_c, ln_c, n)
        b_shown = _shown(e_c, n_c, n) if (outside & ~use_ll).any() else ll_shown
        where = np.where(use_ll, ll_shown, b_shown)
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
    # Each distinct text is parsed once: a column of dates repeats its values.
    encoded = pc.dictionary_encode(
        pc.utf8_trim_whitespace(text_array(cells)), null_encoding="encode"
    )
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.intp)
    distinct = pd.Series(encoded.dictionary, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    ts, bad, future, precision, skipped = _parse_distinct(distinct, now)
    out = ts.take(codes)
    out.index = cells.index
    return ParsedTimes(out, bad[codes], future[codes], precision[codes], skipped[codes])


def _parse_distinct(text: pd.Series, now: datetime | None) -> ParsedTimes:
    """:func:`parse_timestamps` of trimmed text cells, one per row."""
    now_ts = pd.Timestamp(now or datetime.now(UTC))
    is_blank = (text == "").to_numpy()
    has_offset = text.str.contains(_OFFSET_RE, regex=True).to_numpy() & ~is_blank
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
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

    A missing string hashes as ``nan``, and trailing NUL characters are not
    hashed. Vectorised over rows: one pass per byte position over the Arrow
    text's bytes, masked by each string's length, so padding never changes a
    hash.
    """
    text = pc.fill_null(text_array(strings), "nan")
    text = pc.utf8_rtrim(text, characters="\x00").cast(pa.large_string())
    n = len(text)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    _, offsets_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[text.offset : text.offset + n + 1]
    data = np.zeros(1, dtype=np.uint8)
    if data_buf is not None and data_buf.size:
        data = np.frombuffer(data_buf, dtype=np.uint8)
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    h = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    width = int(lengths.max())
    with np.errstate(over="ignore"):
        for j in range(width):
            live = np.flatnonzero(lengths > j)
            if live.size == n:
                h = (h ^ data[starts + j].astype(np.uint64)) * _FNV_PRIME
            else:
                h[live] = (h[live] ^ data[starts[live] + j].astype(np.uint64)) * _FNV_PRIME
    return h


def content_hash(frame: pd.DataFrame) -> npt.NDArray[np.int64]:
    """A 64-bit hash of every column of each row (for change detection)."""
    if frame.empty:
        return np.empty(0, dtype=np.int64)
    hashed = pd.util.hash_pandas_object(frame, index=False)
    return hashed.to_numpy(dtype=np.uint64).view(np.int64)


MAX_RUN_KEYS = 1 << 20
"""Most keys in one sorted run of :class:`SeenKeys` (a merge copies at most two runs)."""


class SeenKeys:
    """Keys seen so far in a file, as sorted 64-bit hashes with their first rows.

    Memory is 16 bytes a key, so a file of millions of rows streams in
    bounded memory. The keys are held as sorted runs, each at least twice
    the size of the next (a chunk's new keys are a run; equal runs merge)
    up to :data:`MAX_RUN_KEYS`, so adding a chunk costs time for its own
    keys, not for every key seen, and a merge copies at most 32 MiB.
    """

    def __init__(self) -> None:
        self.runs: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []

    def __len__(self) -> int:
        return sum(int(h.size) for h, _ in self.runs)

    def check(
        self, keys: pd.Series, rows: npt.NDArray[np.int64]
    ) -> tuple[BoolArray, npt.NDArray[np.int64]]:
        """Mark rows whose key appeared earlier (in this chunk or before); remember the rest.

        Returns the duplicate mask and, for each row, the row of the key's first
        occurrence.
        """
        h = stable_hash(keys).view(np.int64)
        # Each key's first row in the chunk: the least row of its group of equal hashes.
        order = np.argsort(h, kind="stable")
        sorted_h = h[order]
        starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
        first_in_chunk = np.empty(h.size, dtype=np.int64)
        if h.size:
            least = np.minimum.reduceat(rows[order], starts)
            first_in_chunk[order] = np.repeat(least, np.diff(np.r_[starts, h.size]))
        before = np.zeros(h.size, dtype=bool)
        first = first_in_chunk.copy()
        for hashes, firsts in self.runs:
            # A key is in one run at most. Sorted needles: searchsorted walks the run once.
            pos = np.minimum(np.searchsorted(hashes, sorted_h), hashes.size - 1)
            hit = hashes[pos] == sorted_h
            before[order[hit]] = True
            first[order[hit]] = firsts[pos[hit]]
        dup = before | (first_in_chunk != rows)
        new = ~before & (first_in_chunk == rows)
        if new.any():
            fresh = order[new[order]]  # in hash order
            self.runs.append((h[fresh], rows[fresh]))
            while (
                len(self.runs) > 1
                and self.runs[-2][0].size <= 2 * self.runs[-1][0].size
                and self.runs[-2][0].size + self.runs[-1][0].size <= MAX_RUN_KEYS
            ):
                b = self.runs.pop()
                a = self.runs.pop()
                self.runs.append(_merge_runs(a, b))
        return dup, first.astype(np.int64)


def _merge_runs(
    a: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    b: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Two sorted runs of distinct keys as one sorted run."""
    (ah, ar), (bh, br) = a, b
    at = np.searchsorted(ah, bh) + np.arange(bh.size)
    hashes = np.empty(ah.size + bh.size, dtype=np.int64)
    firsts = np.empty_like(hashes)
    from_b = np.zeros(hashes.size, dtype=bool)
    from_b[at] = True
    hashes[at], firsts[at] = bh, br
    hashes[~from_b], firsts[~from_b] = ah, ar
    return hashes, firsts


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
