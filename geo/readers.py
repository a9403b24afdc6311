"""Readers that stream input files as chunks of text cells.

Every reader yields :class:`Chunk` objects: a frame of strings (empty string
for a blank cell) with normalised column names, and the file row number of
each record, so checks can name the row a person would find in a spreadsheet
(the header is row 1). Nothing here interprets values; :mod:`geo.ingest` does.

Formats: CSV (any of ``, ; tab |`` as delimiter, UTF-8 with or without BOM,
or Latin-1/Windows-1252, optionally gzip-compressed), GeoJSON and GeoPackage
(point geometries become ``lat``/``lng`` columns, or ``easting``/``northing``
when the layer is in British National Grid).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely

from geo.crs import WGS84
from geo.errors import InputFileError

DEFAULT_CHUNK_ROWS = 100_000
_SAMPLE_BYTES = 1 << 20


@dataclass
class Chunk:
    """A block of records: text cells and the file row number of each."""

    frame: pd.DataFrame
    rows: npt.NDArray[np.int64]


@dataclass
class Source:
    """An opened input: its columns and a chunk iterator.

    ``position`` reports progress in bytes read of ``size`` (for progress bars).
    """

    path: Path
    columns: list[str]
    original_columns: dict[str, str]
    chunks: Iterator[Chunk]
    size: int
    notes: list[str] = field(default_factory=list)
    position: object = None


def normalise_column(name: str) -> str:
    """``"Last Seen Lat "`` -> ``"last_seen_lat"``; BOMs and quotes removed."""
    text = name.replace("\ufeff", "").strip().strip('"').strip().lower()
    text = re.sub(r"[^0-9a-z]+", "_", text)
    return text.strip("_")


def _open_binary(path: Path) -> IO[bytes]:
    with path.open("rb") as probe:
        head = probe.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def detect_encoding(sample: bytes) -> str:
    """``utf-8-sig`` for a BOM, ``utf-8`` when the sample decodes, else ``cp1252``.

    Windows-1252 is the superset of Latin-1 that spreadsheet exports use.
    A sample cut inside a multi-byte character still counts as UTF-8.
    """
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
        return "cp1252"
    return "utf-8"


def detect_delimiter(header_line: str) -> str:
    """The delimiter of a CSV header: the most frequent of ``, ; tab |``."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


class _CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts bytes read, for progress bars."""

    def __init__(self, inner: IO[bytes] | None) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        assert self.inner is not None
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n


def read_csv(path: Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Source:
    """Open a delimited text file for streaming; raise on an unusable file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(str(path), "file not found.", "Check the path.")
    with _open_binary(path) as fh:
        try:
            sample = fh.read(_SAMPLE_BYTES)
        except (OSError, EOFError) as exc:
            raise InputFileError(str(path), f"cannot be read ({exc}).") from exc
    if not sample.strip(b"\xef\xbb\xbf \r\n\t"):
        raise InputFileError(
            str(path), "the file is empty.", "Export the data again with a header row and rows."
        )
    encoding = detect_encoding(sample)
    first_line = sample.decode(encoding, errors="replace").splitlines()[0]
    delimiter = detect_delimiter(first_line)
    header = next(csv.reader([first_line], delimiter=delimiter))
    columns = [normalise_column(c) for c in header]
    dupes = sorted({c for c in columns if columns.count(c) > 1 and c})
    if dupes:
        raise InputFileError(
            str(path),
            f"the header repeats column(s) {', '.join(dupes)}.",
            "Give every column a distinct name.",
        )
    original = dict(zip(columns, header, strict=True))
    size = path.stat().st_size
    notes = []
    if encoding == "cp1252":
        notes.append("read as Latin-1 (Windows-1252): the file is not UTF-8")
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r}")
    counter = _CountingReader(None)

    def chunks() -> Iterator[Chunk]:
        counter.inner = _open_binary(path)
        text = io.TextIOWrapper(
            io.BufferedReader(counter, buffer_size=1 << 16), encoding=encoding, newline=""
        )
        try:
            reader = pd.read_csv(
                text,
                sep=delimiter,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                chunksize=chunk_rows,
                header=0,
                names=columns,
                engine="c",
                skip_blank_lines=True,
                on_bad_lines="error",
            )
            start = 2
            for frame in reader:
                n = len(frame)
                rows = np.arange(start, start + n, dtype=np.int64)
                start += n
                yield Chunk(frame.reset_index(drop=True), rows)
        except UnicodeDecodeError as exc:
            raise InputFileError(
                str(path),
                f"is not valid {encoding} text ({exc.reason} near byte {counter.count}).",
                "Save the file as UTF-8.",
            ) from exc
        except pd.errors.ParserError as exc:
            raise InputFileError(
                str(path),
                f"is not well-formed {delimiter!r}-delimited text: {exc}",
                "Check quoting and that every row has the header's number of fields.",
            ) from exc
        finally:
            text.close()
            counter.inner.close()

    return Source(path, columns, original, chunks(), size, notes, counter)


def read_features(
    path: Path, *, layer: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Source:
    """Open a GeoJSON or GeoPackage layer of points for chunked reading.

    Point geometries become text columns ``lat``/``lng`` (WGS84); a layer in
    British National Grid gives ``easting``/``northing`` instead, and any
    other CRS is transformed to WGS84. A feature whose geometry is not a
    point keeps blank coordinates and a ``_geometry_problem`` note.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(str(path), "file not found.", "Check the path.")
    if path.stat().st_size == 0:
        raise InputFileError(str(path), "the file is empty.", "Export the layer again.")
    try:
        info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise InputFileError(
            str(path),
            f"cannot be read as GeoJSON or GeoPackage ({exc}).",
            "Check the file and, for a GeoPackage with several layers, pass --layer.",
        ) from exc
    total = int(info.get("features") or 0)
    crs = info.get("crs") or WGS84
    bng = "27700" in str(crs)
    fields = [normalise_column(str(f)) for f in info["fields"]]
    coord_cols = ["easting", "northing"] if bng else ["lat", "lng"]
    columns = [*fields, *[c for c in coord_cols if c not in fields]]
    original = dict(zip(fields, [str(f) for f in info["fields"]], strict=True))

    def chunks() -> Iterator[Chunk]:
        skip = 0
        while skip < total or (total == 0 and skip == 0):
            frame = pyogrio.read_dataframe(
                path, layer=layer, skip_features=skip, max_features=chunk_rows
            )
            n = len(frame)
            if n == 0:
                break
            if not bng and frame.crs is not None and not frame.crs.equals(WGS84):
                frame = frame.to_crs(WGS84)
            geom = frame.geometry.to_numpy()
            is_point = shapely.get_type_id(geom) == 0
            x = np.where(is_point, shapely.get_x(geom), np.nan)
            y = np.where(is_point, shapely.get_y(geom), np.nan)
            out = pd.DataFrame(frame.drop(columns=frame.geometry.name))
            out.columns = [normalise_column(str(c)) for c in out.columns]
            out = out.astype(object).where(pd.notna(out), "").astype(str)
            a, b = (x, y) if bng else (y, x)
            out[coord_cols[0]] = np.where(np.isfinite(a), np.char.mod("%.9f", a), "")
            out[coord_cols[1]] = np.where(np.isfinite(b), np.char.mod("%.9f", b), "")
            kinds = shapely.get_type_id(geom)
            problem = np.where(
                pd.isna(geom),
                "",
                np.where(is_point, "", np.array(shapely.geometry.base.GEOMETRY_TYPES)[kinds]),
            )
            out["_geometry_problem"] = problem
            rows = np.arange(skip + 1, skip + n + 1, dtype=np.int64)
            yield Chunk(out.reset_index(drop=True), rows)
            skip += n
            if total == 0:
                break

    return Source(path, columns, original, chunks(), total)


def open_source(
    path: Path, *, layer: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Source:
    """Open any supported input by its extension."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] in ([".geojson"], [".json"], [".gpkg"]):
        return read_features(path, layer=layer, chunk_rows=chunk_rows)
    if suffixes[-1:] in ([".csv"], [".txt"], [".tsv"]) or suffixes[-2:] in (
        [".csv", ".gz"],
        [".tsv", ".gz"],
    ):
        return read_csv(path, chunk_rows=chunk_rows)
    raise InputFileError(
        str(path),
        f"unsupported file type {''.join(path.suffixes) or '(none)'}.",
        "Use .csv (or .csv.gz), .geojson or .gpkg.",
    )
