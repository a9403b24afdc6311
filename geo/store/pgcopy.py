"""PostgreSQL binary COPY data built from whole columns with numpy (no code per row).

The binary COPY format (PostgreSQL manual, "COPY", section "Binary Format")
is a signature and header, then per row a 16-bit field count and per field a
32-bit length (``-1`` for NULL) and that many bytes, all big-endian, then a
16-bit ``-1`` trailer. Every field's bytes are known from its column alone:

* fixed-width values (bigint, double precision, boolean, timestamptz as
  microseconds since 2000-01-01 UTC, a PostGIS point as 25 bytes of EWKB)
  come from a big-endian numpy view of the column;
* text comes from Arrow's UTF-8 data and offsets buffers.

:func:`encode` lays the rows out in one ``uint8`` buffer: per-field sizes give
every field's offset by a cumulative sum, and each column is then written at
its offsets by one fancy-indexed assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from geo.schemas import Column

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
"""The 11-byte signature, 32-bit flags (no OIDs) and a zero-length header extension."""

TRAILER = b"\xff\xff"
"""The end-of-data marker (a field count of -1)."""

PG_EPOCH_US = 946_684_800_000_000
"""Microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's timestamp epoch)."""

SRID = 4326
_EWKB_POINT = np.dtype(
    [("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"), ("y", "<f8")]
)
"""Little-endian EWKB of a 2D point with an SRID: 25 bytes, no padding."""
_EWKB_POINT_SRID = 0x2000_0001


@dataclass(frozen=True)
class Fixed:
    """A fixed-width field: ``data`` is ``(n, width)`` bytes; ``null`` marks NULLs."""

    data: npt.NDArray[np.uint8]
    null: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Text:
    """A text field: UTF-8 bytes of row ``i`` are ``data[offsets[i]:offsets[i + 1]]``."""

    offsets: npt.NDArray[np.int64]
    data: npt.NDArray[np.uint8]
    null: npt.NDArray[np.bool_]


Field = Fixed | Text


def _fixed(values: npt.NDArray[np.generic], null: npt.NDArray[np.bool_], be: str) -> Fixed:
    arr = np.ascontiguousarray(values.astype(be, copy=False))
    return Fixed(arr.view(np.uint8).reshape(len(arr), arr.dtype.itemsize), null)


def text_field(values: pd.Series) -> Text:
    """A text column (Python ``str`` or None; other objects as ``str``) as a :class:`Text`."""
    objects = values.to_numpy(dtype=object)
    try:
        arr = pa.array(objects, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        as_text = values.map(lambda v: v if v is None else str(v), na_action="ignore")
        arr = pa.array(as_text.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - one chunk for one array
        arr = arr.combine_chunks()
    n = len(arr)
    _, off_buf, data_buf = arr.buffers()
    assert off_buf is not None
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)
        if data_buf is not None and data_buf.size
        else np.zeros(0, dtype=np.uint8)
    )
    null = arr.is_null().to_numpy(zero_copy_only=False)
    return Text(offsets.astype(np.int64, copy=False), data, np.asarray(null, dtype=bool))


def column_field(col: Column, values: pd.Series) -> Field:
    """One conformed column (:mod:`geo.store.frames` dtypes) as a binary COPY field.

    Timestamps are sent as ``timestamptz`` (or a UTC ``timestamp``: the same
    bytes), rounded half to even to the microsecond as the server stores them.
    """
    if col.kind == "text":
        return text_field(values)
    if col.kind == "int":
        data = values.to_numpy(dtype=np.int64)
        return _fixed(data, np.zeros(len(data), dtype=bool), ">i8")
    if col.kind == "float":
        data = values.to_numpy(dtype=np.float64)
        return _fixed(data, np.isnan(data), ">f8")
    if col.kind == "h3":
        null = values.isna().to_numpy()
        data = values.to_numpy(dtype=np.int64, na_value=0)
        return _fixed(data, null, ">i8")
    if col.kind == "bool":
        null = values.isna().to_numpy()
        data = values.to_numpy(dtype=bool, na_value=False).astype(np.uint8)
        return Fixed(data.reshape(-1, 1), null)
    if col.kind == "timestamp":
        us = values.dt.round("us")
        null = us.isna().to_numpy()
        ns = us.to_numpy(dtype="datetime64[ns]").view(np.int64)
        data = np.where(null, 0, ns // 1000 - PG_EPOCH_US)
        return _fixed(data, null, ">i8")
    msg = f"unknown column kind {col.kind!r}"  # pragma: no cover - schema contract
    raise AssertionError(msg)


def point_field(lat: npt.ArrayLike, lng: npt.ArrayLike) -> Fixed:
    """EWKB points (SRID 4326, x = lng, y = lat); NULL where either coordinate is missing."""
    la = np.asarray(lat, dtype=np.float64)
    ln = np.asarray(lng, dtype=np.float64)
    rec = np.empty(len(la), dtype=_EWKB_POINT)
    rec["order"] = 1
    rec["type"] = _EWKB_POINT_SRID
    rec["srid"] = SRID
    rec["x"] = ln
    rec["y"] = la
    null = np.isnan(la) | np.isnan(ln)
    return Fixed(rec.view(np.uint8).reshape(len(la), _EWKB_POINT.itemsize), null)


def encode(fields: Sequence[Field], n: int) -> npt.NDArray[np.uint8]:
    """The rows (without signature or trailer) of ``n`` rows of ``fields``, as bytes.

    Each run of adjacent fixed-width fields without NULLs becomes one record
    per row (a numpy structured array, length words included); every other
    field is a length word and a stretch of its column's bytes. The output is
    one gather from those sources, by an index built with ``np.repeat``.
    """
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    # Segments per row, in field order: (bytes of all rows, start of each row's piece,
    # length of each row's piece).
    segments: list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    run: list[Fixed] = []
    rows = np.arange(n, dtype=np.int64)

    def close_run(first: bool) -> None:
        layout: list[tuple[str, Any]] = [("count", ">i2")] if first else []
        for j, f in enumerate(run):
            layout += [(f"l{j}", ">i4"), (f"v{j}", f"V{f.data.shape[1]}")]
        if not layout:
            return
        rec = np.empty(n, dtype=np.dtype(layout))
        if first:
            rec["count"] = len(fields)
        for j, f in enumerate(run):
            width = f.data.shape[1]
            rec[f"l{j}"] = width
            rec[f"v{j}"] = np.ascontiguousarray(f.data).view(f"V{width}").ravel()
        size = rec.dtype.itemsize
        segments.append((rec.view(np.uint8), rows * size, np.full(n, size, dtype=np.int64)))
        run.clear()

    close_first = True
    for f in fields:
        if isinstance(f, Fixed) and not f.null.any():
            run.append(f)
            continue
        close_run(close_first)
        close_first = False
        if isinstance(f, Fixed):
            lens = np.where(f.null, 0, f.data.shape[1]).astype(np.int64)
            data = np.ascontiguousarray(f.data[~f.null]).reshape(-1)
            starts = np.zeros(n, dtype=np.int64)
            np.cumsum(lens[:-1], out=starts[1:])
        else:
            lens = np.diff(f.offsets)
            first, last = int(f.offsets[0]), int(f.offsets[-1])
            if lens[f.null].any():  # pragma: no cover - Arrow contract
                msg = "a NULL text value has bytes in its Arrow buffer"
                raise AssertionError(msg)
            data = f.data[first:last]
            starts = f.offsets[:-1] - first
        word = np.where(f.null, -1, lens).astype(">i4")
        segments.append((word.view(np.uint8), rows * 4, np.full(n, 4, dtype=np.int64)))
        segments.append((data, starts, lens))
    close_run(close_first)
    # One source buffer; each segment's starts shifted to its place in it.
    bases = np.cumsum([0] + [len(data) for data, _, _ in segments])
    src = np.concatenate([data for data, _, _ in segments])
    seg_src = np.stack(
        [starts + base for (_, starts, _), base in zip(segments, bases, strict=False)], axis=1
    )
    seg_len = np.stack([lens for _, _, lens in segments], axis=1)
    flat_len = seg_len.reshape(-1)
    dst = np.zeros(flat_len.size, dtype=np.int64)
    np.cumsum(flat_len[:-1], out=dst[1:])
    total = int(dst[-1] + flat_len[-1])
    kind = np.int32 if max(total, len(src)) < 2**31 else np.int64
    index = np.repeat((seg_src.reshape(-1) - dst).astype(kind), flat_len)
    index += np.arange(total, dtype=kind)
    return np.take(src, index)
