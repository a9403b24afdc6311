"""What every store checks and normalises before it queries.

Both stores take the same arguments (:class:`geo.store.base.Store`); this
module is the one place they are checked and turned into plain values: the
table spec, the columns to return, the time window, the area (and the point
it is tested on), the ward code, the H3 cells as merged res-12 ranges, the
resolution and point of a count, the chunk size of an export, and the rows
and the keep rule a writer stages. Each store then writes its own SQL from
the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_to_child_range, cells_valid, check_res
from geo.schemas import POINT_PARTS, STORE_RES, TABLES, Table
from geo.store.base import KEEP_RULES, Area, Keep, Window
from geo.store.frames import INGESTED_AT, conform

_RES_SHIFT = 52
"""Bit offset of an H3 index's resolution field."""

COUNT_MIN_RES = 7
"""Coarsest resolution :meth:`~geo.store.base.Store.counts_by_cell` counts at."""


# ------------------------------------------------------------------------- tables


def known_table(table: Table) -> Table:
    """``table`` if it is one of :data:`geo.schemas.TABLES`; a clear error for anything else."""
    spec = TABLES.get(getattr(table, "name", ""))
    if spec is None or spec != table:
        msg = f"unknown table {table!r}; pass one of geo.schemas.TABLES ({', '.join(TABLES)})."
        raise ValidationError(msg)
    return spec


def table_point(table: Table, point: str | None, *, needed_for: str) -> str:
    """The column prefix of ``point`` (default the main point) of ``table``.

    ``needed_for`` ends the message when the table has no points at all (what
    the caller wanted the point for, and the fix).
    """
    if not table.points:
        msg = f"table `{table.name}` has no points; {needed_for}."
        raise ValidationError(msg)
    if point is None:
        return table.points[0]
    if point not in table.points:
        msg = (
            f"table `{table.name}` has no point {point!r}; `point` must be one of "
            f"{list(table.points)} (column prefixes; '' is the plain `geom`)."
        )
        raise ValidationError(msg)
    return point


def read_columns(table: Table, columns: list[str] | None) -> list[str]:
    """The columns a read returns, in the asked order without repeats (default all)."""
    every = [*table.column_names, INGESTED_AT]
    if columns is None:
        return every
    if isinstance(columns, str):
        columns = [columns]
    unknown = [c for c in columns if c not in every]
    if unknown:
        msg = f"table `{table.name}` has no columns {unknown}; choose from {every}."
        raise ValidationError(msg)
    return list(dict.fromkeys(columns))


def check_chunk_size(chunk_size: int) -> int:
    """Rows per chunk of :meth:`~geo.store.base.Store.iter_rows`: a whole number >= 1."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        msg = f"`chunk_size` must be a positive whole number (>= 1), got {chunk_size!r}."
        raise ValidationError(msg)
    return chunk_size


def check_keep(table: Table, keep: str, staged: str | None = None) -> Keep:
    """``keep`` checked for staging ``table``; ``staged`` is the rule it was staged under so far.

    ``"earliest"`` needs a time column that is never empty, to order versions by.
    """
    if keep not in KEEP_RULES:
        msg = f"`keep` must be one of {', '.join(KEEP_RULES)}, got {keep!r}."
        raise ValidationError(msg)
    if keep == "earliest" and (not table.time_column or table.column(table.time_column).nullable):
        msg = (
            f"`keep='earliest'` orders versions by a required time column, and table "
            f"`{table.name}` has none; stage it with keep='last'."
        )
        raise ValidationError(msg)
    if staged is not None and staged != keep:
        msg = (
            f"`{table.name}` is already staged with keep={staged!r} in this writer, got "
            f"keep={keep!r}; stage a table under one rule, or use another `store.writer()`."
        )
        raise ValidationError(msg)
    return keep


UNKEPT_COLUMNS = ("content_hash", "source")
"""Columns every staged row writes (besides the key): what it is and where it came from."""


def check_kept(
    table: Table, kept_columns: Iterable[str], staged: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """``kept_columns`` checked for staging ``table``, in the table's column order.

    ``staged`` is what the table was staged with so far in the writer. A
    point's columns go together: its lat, lng, h3 and areas are kept all or
    none (``geom`` follows its lat and lng in every store).
    """
    given = [kept_columns] if isinstance(kept_columns, str) else list(kept_columns)
    wrong = [c for c in given if c not in table.column_names or c in (table.key, *UNKEPT_COLUMNS)]
    if wrong:
        msg = (
            f"`kept_columns` must name columns of `{table.name}` other than its key "
            f"`{table.key}`, `content_hash` and `source`; got {wrong}."
        )
        raise ValidationError(msg)
    for prefix in table.points:
        point = [f"{prefix}{part}" for part in POINT_PARTS]
        some = [c for c in point if c in given]
        if some and len(some) != len(point):
            msg = (
                f"`kept_columns` must keep all of a point's columns or none; got {some} of {point}."
            )
            raise ValidationError(msg)
    kept = tuple(c for c in table.column_names if c in given)
    if staged is not None and staged != kept:
        msg = (
            f"`kept_columns` of `{table.name}` must be the same for every stage of one writer; "
            f"got {list(kept)} after {list(staged)}. Use another `store.writer()`."
        )
        raise ValidationError(msg)
    return kept


def compared_columns(table: Table, kept: tuple[str, ...]) -> list[str]:
    """The content columns a row staged with ``kept`` columns is compared on (no key or hash)."""
    return [c for c in table.column_names if c not in (table.key, "content_hash", *kept)]


def staged_rows(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` conformed to ``table`` for staging; every required column filled."""
    rows = conform(table, frame)
    for col in table.columns:
        if col.nullable:
            continue
        bad = rows[col.name].isna().to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            msg = (
                f"`{table.name}.{col.name}` is required but empty in {int(bad.sum())} staged "
                f"row(s) (first at position {first}). Quarantine those rows before storing."
            )
            raise ValidationError(msg)
    return rows


# ------------------------------------------------------------------ time and area


def check_window(table: Table, window: Window | None) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` of a half-open window on ``table``'s time column.

    ``(None, None)`` (no time condition) for no window or one open at both ends.
    """
    if window is None:
        return None, None
    if not isinstance(window, Window):
        msg = f"`window` must be a geo.store.Window, got {type(window).__name__}."
        raise ValidationError(msg)
    if window.start is None and window.end is None:
        return None, None
    if not table.time_column:
        msg = f"table `{table.name}` has no time column; drop `window` for it."
        raise ValidationError(msg)
    return window.start, window.end


def ward_code(text: str) -> str:
    """A stored ward code from a code (any GSS code) or a Blackburn with Darwen ward name."""
    stripped = text.strip()
    if re.fullmatch(r"[EWSN]\d{8}", stripped.upper()):
        return stripped.upper()
    from geo.boundaries import find_ward

    return find_ward(stripped)[0]


def _cannot_filter(table: Table, name: str) -> ValidationError:
    msg = (
        f"table `{table.name}` has no points, so it cannot be filtered by `{name}`; "
        f"drop `{name}` for it."
    )
    return ValidationError(msg)


@dataclass(frozen=True)
class Filters:
    """The window and area of a read or a count, checked against the table.

    ``point`` is the column prefix the area (and a read's cells) are tested
    on, None for a table without points. ``ward`` is the stored code of a
    ward area; ``area`` is kept for a bbox or polygon.
    """

    table: Table
    point: str | None
    start: datetime | None = None
    end: datetime | None = None
    ward: str | None = None
    area: Area | None = None


def check_filters(
    table: Table, window: Window | None, area: Area | None, point: str | None
) -> Filters:
    """Check a window and an area tested on ``point`` (None: the table has no points)."""
    start, end = check_window(table, window)
    if area is None:
        return Filters(table, point, start, end)
    if not isinstance(area, Area):
        msg = f"`area` must be a geo.store.Area, got {type(area).__name__}."
        raise ValidationError(msg)
    if point is None:
        raise _cannot_filter(table, "area")
    if area.ward is not None:
        return Filters(table, point, start, end, ward=ward_code(area.ward))
    return Filters(table, point, start, end, area=area)


# -------------------------------------------------------------------------- cells


def merge_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge inclusive int64 ranges into sorted, disjoint ones.

    Cells of one resolution give disjoint ranges already; a cell and its
    ancestor (mixed resolutions) overlap, and a cell join would count such
    rows twice without this.
    """
    order = np.argsort(lo, kind="stable")
    lo, hi = lo[order], hi[order]
    if lo.size < 2:
        return lo, hi
    reach = np.maximum.accumulate(hi)
    starts = np.concatenate(([True], lo[1:] > reach[:-1]))
    group = np.cumsum(starts) - 1
    out_hi = np.full(int(group[-1]) + 1, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(out_hi, group, hi)
    return lo[starts], out_hi


def cell_ranges(cells: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, disjoint inclusive res-12 ranges ``(lo, hi)`` holding the descendants of ``cells``.

    Empty arrays for no cells (which match nothing).
    """
    try:
        c = np.unique(np.asarray(list(cells), dtype=np.int64).ravel())
    except (TypeError, ValueError, OverflowError) as exc:
        msg = f"`cells` must be H3 cells as int64, got an unusable value ({exc})."
        raise ValidationError(msg) from exc
    if c.size == 0:
        return c, c.copy()
    bad = c[~cells_valid(c)]
    if bad.size:
        msg = (
            f"`cells` holds {bad.size} value(s) that are not valid H3 cells, e.g. {int(bad[0])}. "
            "Pass int64 H3 indexes (geo.h3index.str_to_cell converts hex strings)."
        )
        raise ValidationError(msg)
    if int(cells_resolution(c).max()) > STORE_RES:
        msg = (
            f"`cells` must be at resolution {STORE_RES} or coarser (points are stored at "
            f"res {STORE_RES}); pass coarser cells or their res-{STORE_RES} parents."
        )
        raise ValidationError(msg)
    return merge_ranges(*cells_to_child_range(c, STORE_RES))


# ------------------------------------------------------------------------- counts


def parent_bits(res: int) -> tuple[int, int]:
    """``(clear, set)`` with ``parent = (cell & clear) | set`` at resolution ``res``.

    The same bit operation as :func:`geo.h3index.cells_to_parent`: replace the
    resolution field and set digits ``res+1..15`` to 7.
    """
    digits = 0
    for r in range(res + 1, 16):
        digits |= 0b111 << ((15 - r) * 3)
    clear = ~(0xF << _RES_SHIFT)
    return clear, (res << _RES_SHIFT) | digits


def check_count(
    table: Table,
    res: int,
    *,
    window: Window | None,
    area: Area | None,
    point: str | None,
) -> tuple[int, str, Filters]:
    """``(res, point, filters)`` of :meth:`~geo.store.base.Store.counts_by_cell`.

    ``point`` is the column prefix counted (default the main point); ``area``
    is tested on that same point.
    """
    res = check_res(res, name="res", low=COUNT_MIN_RES, high=STORE_RES)
    prefix = table_point(table, point, needed_for="it cannot be counted by H3 cell")
    return res, prefix, check_filters(table, window, area, prefix)


# -------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Read:
    """The checked arguments of :meth:`~geo.store.base.Store.read`.

    ``ranges`` are the merged res-12 ranges ``(lo, hi)`` of ``cells``, None
    when the read has no ``cells``.
    """

    columns: list[str]
    filters: Filters
    ranges: tuple[np.ndarray, np.ndarray] | None

    @property
    def matches_nothing(self) -> bool:
        """Whether ``cells`` was given but empty, so no row can match."""
        return self.ranges is not None and self.ranges[0].size == 0


def check_read(
    table: Table,
    *,
    window: Window | None,
    area: Area | None,
    cells: Iterable[int] | None,
    columns: list[str] | None,
) -> Read:
    """Check a read's columns, window, area and cells, all tested on the main point."""
    names = read_columns(table, columns)
    point = table.points[0] if table.points else None
    filters = check_filters(table, window, area, point)
    if cells is None:
        return Read(names, filters, None)
    if point is None:
        raise _cannot_filter(table, "cells")
    return Read(names, filters, cell_ranges(cells))
