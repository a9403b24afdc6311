"""Readers that stream input files as chunks of text cells.

Every reader yields :class:`Chunk` objects: a frame of strings (empty string
for a blank cell) with normalised column names, and the file row number of
each record, so checks can name the row a person would find in a spreadsheet
(the header is row 1). Nothing here interprets values; :mod:`geo.ingest` does.

Formats: CSV (any of ``, ; tab |`` as delimiter, UTF-8 with or without BOM,
or Latin-1/Windows-1252, optionally gzip-compressed), GeoJSON and GeoPackage
(point geometries become ``lat``/``lng`` columns, or ``easting``/``northing``
when the layer is in British National Grid; a GeoPackage attribute table,
without geometry, gives its fields alone).

Every value is read as text, never through a number: an integer id ``101``
stays ``101`` even when another feature lacks it, a GeoJSON ``true`` is
``true``. A CSV header cell with no name (spreadsheets write a run of them
after the last column) is not a column: its cells are ignored and
:attr:`Source.ignored` names it by position.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyogrio
import pyogrio.errors
import shapely
import shapely.errors
from pyproj import CRS, Transformer

from geo.crs import WGS84
from geo.errors import InputFileError

DEFAULT_CHUNK_ROWS = 100_000
_SAMPLE_BYTES = 1 << 20
_ARROW_BLOCK_BYTES = 1 << 20
"""Bytes Arrow's CSV reader parses at a time (a chunk's records may span several blocks;
the reader parses a few blocks ahead, so larger blocks hold more memory)."""


@dataclass
class Chunk:
    """A block of records: text cells and the file row number of each."""

    frame: pd.DataFrame
    rows: npt.NDArray[np.int64]


@dataclass
class Source:
    """An opened input: its columns and a chunk iterator.

    ``position`` reports progress in bytes read of ``size`` (for progress bars).
    ``ignored`` names the columns that are not read (header cells without a
    name, by position). ``has_geometry`` is False for a GeoPackage attribute
    table and for delimited text; ``layer`` is the layer read, if any.
    """

    path: Path
    columns: list[str]
    original_columns: dict[str, str]
    chunks: Iterator[Chunk]
    size: int
    notes: list[str] = field(default_factory=list)
    position: object = None
    ignored: list[str] = field(default_factory=list)
    has_geometry: bool = False
    layer: str | None = None


def normalise_column(name: str) -> str:
    """``"Last Seen Lat "`` -> ``"last_seen_lat"``; BOMs and quotes removed."""
    text = name.replace("\ufeff", "").strip().strip('"').strip().lower()
    text = re.sub(r"[^0-9a-z]+", "_", text)
    return text.strip("_")


def open_binary(path: Path) -> IO[bytes]:
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

    def __init__(self, inner: IO[bytes] | None, *, also: _CountingReader | None = None) -> None:
        self.inner = inner
        self.count = 0
        self.also = also
        self.quotes = 0
        """Double-quote bytes read (counted only for Arrow's reader, see :func:`_arrow_chunks`)."""

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        assert self.inner is not None
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        if self.also is not None:
            self.also.count += n
            self.quotes += data.count(b'"')
        return n


_BROKEN_STREAM = (EOFError, zlib.error, gzip.BadGzipFile)
"""What a gzip stream raises when it is cut short or its bytes are damaged."""


def _broken(path: Path, exc: BaseException, at: int | None = None) -> InputFileError:
    where = f" after {at:,} bytes" if at else ""
    return InputFileError(
        str(path),
        f"is truncated or corrupt: the compressed data breaks off or is damaged{where} ({exc}).",
        "Copy or download the file again; nothing from it was stored.",
    )


def _header(path: Path, first_line: str, delimiter: str) -> tuple[list[str], list[str], list[str]]:
    """Names of a CSV header: every cell's name, the named columns, and the unnamed ones.

    A cell with no name gets the placeholder ``_unnamed_<position>`` so the
    parser can skip it; the third list names it for the report.
    """
    header = next(csv.reader([first_line], delimiter=delimiter))
    names = [normalise_column(c) for c in header]
    dupes = sorted({c for c in names if names.count(c) > 1 and c})
    if dupes:
        raise InputFileError(
            str(path),
            f"the header repeats column(s) {', '.join(dupes)}.",
            "Give every column a distinct name.",
        )
    cells = [name or f"_unnamed_{i}" for i, name in enumerate(names, start=1)]
    unnamed = [f"(column {i}, no name)" for i, name in enumerate(names, start=1) if not name]
    if len(unnamed) == len(names):
        raise InputFileError(
            str(path),
            "the header row has no column names.",
            "Put the column names in the first row.",
        )
    return header, cells, unnamed


class _ArrowRefused(Exception):
    """Arrow's reader read the file, but not surely as pandas' reader would."""


_ARROW_CANNOT = (_ArrowRefused, pa.ArrowException, UnicodeDecodeError, OSError, *_BROKEN_STREAM)
"""What stops Arrow's CSV reader; pandas' reader then reads the file (and names any fault)."""
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def _arrow_chunks(
    path: Path,
    counter: _CountingReader,
    cells: list[str],
    columns: list[str],
    delimiter: str,
    chunk_rows: int,
) -> Iterator[Chunk]:
    """Chunks of a UTF-8 delimited file read by Arrow's CSV parser (on both cores).

    The same records and cells as pandas' parser gives with the options of
    :func:`read_csv`: every cell text, as written; quoted fields may hold
    delimiters, doubled quotes and line breaks; empty lines are skipped. A
    record Arrow cannot read raises (one of :data:`_ARROW_CANNOT`), and the
    caller reads on with pandas. Chunks hold ``chunk_rows`` records, as
    pandas' do.
    """
    counter.count = 0
    raw = _CountingReader(open_binary(path), also=counter)
    source = io.BufferedReader(raw, buffer_size=1 << 16)
    try:
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(
                column_names=cells, skip_rows=1, block_size=_ARROW_BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.large_string()),
                include_columns=columns,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        held: list[pa.RecordBatch] = []
        held_rows = 0
        start = 2

        def emit(table: pa.Table) -> Chunk:
            nonlocal start
            n = table.num_rows
            frame = table.to_pandas(types_mapper={pa.large_string(): _TEXT}.get)
            rows = np.arange(start, start + n, dtype=np.int64)
            start += n
            return Chunk(frame[columns], rows)

        for batch in reader:
            held.append(batch)
            held_rows += batch.num_rows
            # The last record is held back until the end of the file is seen (below).
            while held_rows > chunk_rows:
                table = pa.Table.from_batches(held)
                yield emit(table.slice(0, chunk_rows))
                rest = table.slice(chunk_rows)
                held = rest.to_batches()
                held_rows = rest.num_rows
        if raw.quotes % 2:
            # An odd number of quotes: perhaps a quoted field never closed, which Arrow
            # ends at the end of the file and pandas refuses. Pandas reads the rest.
            raise _ArrowRefused
        if held_rows or start == 2:
            # A file of a header alone gives one empty chunk, as pandas' reader does.
            table = pa.Table.from_batches(held, schema=reader.schema)
            yield emit(table.slice(0, chunk_rows))
            table = table.slice(chunk_rows)
            while table.num_rows:
                yield emit(table.slice(0, chunk_rows))
                table = table.slice(chunk_rows)
    finally:
        source.close()
        assert raw.inner is not None
        raw.inner.close()


def read_csv(path: Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Source:
    """Open a delimited text file for streaming; raise on an unusable file."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(str(path), "file not found.", "Check the path.")
    with open_binary(path) as fh:
        try:
            sample = fh.read(_SAMPLE_BYTES)
        except _BROKEN_STREAM as exc:
            raise _broken(path, exc) from exc
        except OSError as exc:
            raise InputFileError(str(path), f"cannot be read ({exc}).") from exc
    if not sample.strip(b"\xef\xbb\xbf \r\n\t"):
        raise InputFileError(
            str(path), "the file is empty.", "Export the data again with a header row and rows."
        )
    encoding = detect_encoding(sample)
    first_line = sample.decode(encoding, errors="replace").splitlines()[0]
    delimiter = detect_delimiter(first_line)
    header, cells, unnamed = _header(path, first_line, delimiter)
    columns = [c for c in cells if not c.startswith("_unnamed_")]
    original = {c: h for c, h in zip(cells, header, strict=True) if c in columns}
    size = path.stat().st_size
    notes = []
    if encoding == "cp1252":
        notes.append("read as Latin-1 (Windows-1252): the file is not UTF-8")
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r}")
    counter = _CountingReader(None)

    def pandas_chunks(skip: int) -> Iterator[Chunk]:
        """Chunks read by pandas' parser, leaving out the first ``skip`` records."""
        counter.inner = open_binary(path)
        counter.count = 0
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
                names=cells,
                usecols=columns,
                engine="c",
                skip_blank_lines=True,
                on_bad_lines="error",
            )
            start = 2
            for frame in reader:
                n = len(frame)
                rows = np.arange(start, start + n, dtype=np.int64)
                start += n
                drop = min(max(skip - (start - n - 2), 0), n)
                if drop == n:
                    continue
                frame = frame.iloc[drop:]
                yield Chunk(frame[columns].reset_index(drop=True), rows[drop:])
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
        except _BROKEN_STREAM as exc:
            raise _broken(path, exc, counter.count) from exc
        finally:
            text.close()
            counter.inner.close()

    def chunks() -> Iterator[Chunk]:
        if encoding not in ("utf-8", "utf-8-sig"):
            yield from pandas_chunks(0)
            return
        done = 0
        try:
            for chunk in _arrow_chunks(path, counter, cells, columns, delimiter, chunk_rows):
                done += len(chunk.rows)
                yield chunk
            return
        except _ARROW_CANNOT:
            pass
        # Arrow's parser refuses what pandas' reads (a short row, a line of spaces) or
        # explains (bad UTF-8, broken quoting): pandas reads the rest, or says what is wrong.
        yield from pandas_chunks(done)

    return Source(path, columns, original, chunks(), size, notes, counter, ignored=unnamed)


_UNREADABLE_FEATURES = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.CRSError,
    pa.ArrowException,
    shapely.errors.ShapelyError,
    OSError,
)
"""What reading a damaged or unusual GeoJSON or GeoPackage raises."""


def choose_layer(path: Path, layer: str | None, *, verb: str = "ingest") -> str | None:
    """The layer to read: ``layer``, or a file's only layer; refuse a choice that is not clear.

    ``verb`` says what the command does with it, in the message (``ingest``, ``import``).
    """
    try:
        listed = pyogrio.list_layers(path)
    except _UNREADABLE_FEATURES as exc:
        raise InputFileError(
            str(path),
            f"cannot be read as GeoJSON or GeoPackage ({exc}).",
            "Check that the file is complete and of the type its name says.",
        ) from exc
    names = [str(name) for name, _ in listed]
    shown = ", ".join(
        f"`{name}` ({'no geometry' if kind is None else str(kind).lower()})"
        for name, kind in listed
    )
    if layer is not None:
        if layer not in names:
            raise InputFileError(
                str(path),
                f"has no layer `{layer}`; its layers are {shown or '(none)'}.",
                "Pass one of them with --layer.",
            )
        return layer
    if len(names) > 1:
        raise InputFileError(
            str(path),
            f"holds several layers: {shown}.",
            f"Pass the one to {verb} with --layer NAME.",
        )
    return names[0] if names else None


def _geometry_field(schema: pa.Schema, meta: dict[str, Any]) -> str | None:
    """The name of the WKB geometry column of an Arrow stream from pyogrio, if any."""
    for f in schema:
        ext = (f.metadata or {}).get(b"ARROW:extension:name", b"")
        if ext in (b"geoarrow.wkb", b"ogc.wkb"):
            return str(f.name)
    name = meta.get("geometry_name") or "wkb_geometry"
    return name if name in schema.names else None


def _as_text(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[np.object_]:
    """Any Arrow column as text cells ("" for null), without passing through floats.

    Integers keep their digits (``101``, never ``101.0``), booleans read
    ``true``/``false``, dates and times are ISO 8601 text as written.
    """
    try:
        text = pc.cast(column, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Binary or nested fields: their Python text form.
        text = pa.array(
            [None if v is None else str(v) for v in column.to_pylist()], type=pa.string()
        )
    filled = pc.fill_null(text, "")
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=object)


def read_features(
    path: Path, *, layer: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Source:
    """Open a GeoJSON file or a GeoPackage layer for chunked reading.

    Point geometries become text columns ``lat``/``lng`` (WGS84); a layer in
    British National Grid gives ``easting``/``northing`` instead, and any
    other CRS is transformed to WGS84. A feature whose geometry is not a
    point keeps blank coordinates and a ``_geometry_problem`` note. A
    GeoPackage attribute table (no geometry) gives its fields alone. A
    GeoPackage of several layers needs ``layer``. Fields are read as text
    (:func:`_as_text`), through Arrow, a batch of ``chunk_rows`` at a time.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(str(path), "file not found.", "Check the path.")
    if path.stat().st_size == 0:
        raise InputFileError(str(path), "the file is empty.", "Export the layer again.")
    layer = choose_layer(path, layer)
    try:
        info = pyogrio.read_info(path, layer=layer)
    except _UNREADABLE_FEATURES as exc:
        raise InputFileError(
            str(path),
            f"cannot be read as GeoJSON or GeoPackage ({exc}).",
            "Check that the file is complete and of the type its name says.",
        ) from exc
    total = int(info.get("features") or 0)
    has_geometry = info.get("geometry_type") is not None
    crs = info.get("crs") or WGS84
    bng = has_geometry and "27700" in str(crs)
    names = [str(f) for f in info["fields"]]
    fields = [normalise_column(f) for f in names]
    dupes = sorted({c for c in fields if fields.count(c) > 1 and c})
    if dupes:
        raise InputFileError(
            str(path),
            f"repeats the field(s) {', '.join(dupes)} (names compared in lower case, "
            "with spaces and punctuation as _).",
            "Give every field a distinct name.",
        )
    coord_cols = (["easting", "northing"] if bng else ["lat", "lng"]) if has_geometry else []
    to_wgs84 = None
    if has_geometry and not bng and not CRS.from_user_input(crs).equals(CRS.from_user_input(WGS84)):
        to_wgs84 = Transformer.from_crs(crs, WGS84, always_xy=True)
    columns = [*fields, *[c for c in coord_cols if c not in fields]]
    original = dict(zip(fields, names, strict=True))

    def chunks() -> Iterator[Chunk]:
        start = 1
        try:
            with pyogrio.open_arrow(
                path,
                layer=layer,
                batch_size=chunk_rows,
                datetime_as_string=True,
                use_pyarrow=True,
            ) as (meta, reader):
                geom_name = _geometry_field(reader.schema, meta) if has_geometry else None
                for batch in reader:
                    n = batch.num_rows
                    if n == 0:
                        continue
                    out = pd.DataFrame(
                        {
                            normalise_column(name): _as_text(batch.column(name))
                            for name in batch.schema.names
                            if name != geom_name and normalise_column(name) in original
                        }
                    )
                    if geom_name is not None:
                        _add_points(out, batch.column(geom_name), to_wgs84, bng, coord_cols)
                    rows = np.arange(start, start + n, dtype=np.int64)
                    start += n
                    yield Chunk(out[[c for c in columns if c in out.columns] + _extra(out)], rows)
        except _UNREADABLE_FEATURES as exc:
            raise InputFileError(
                str(path),
                f"cannot be read past feature {start - 1:,} ({exc}).",
                "Check that the file is complete; export it again if it was cut short.",
            ) from exc

    return Source(
        path,
        columns,
        original,
        chunks(),
        total,
        has_geometry=has_geometry,
        layer=layer,
    )


def _extra(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("_")]


def _add_points(
    out: pd.DataFrame,
    wkb: pa.Array,
    to_wgs84: Transformer | None,
    bng: bool,
    coord_cols: list[str],
) -> None:
    """Coordinates of point geometries as text columns, and a note for any other geometry.

    ``to_wgs84`` transforms (x, y) of a layer in another CRS than WGS84 or
    British National Grid.
    """
    geom = shapely.from_wkb(np.asarray(wkb.to_numpy(zero_copy_only=False), dtype=object))
    kinds = shapely.get_type_id(geom)
    missing = pd.isna(geom) | shapely.is_empty(geom)
    is_point = (kinds == 0) & ~missing
    x = np.where(is_point, shapely.get_x(geom), np.nan)
    y = np.where(is_point, shapely.get_y(geom), np.nan)
    if to_wgs84 is not None:
        x, y = to_wgs84.transform(x, y)
    a, b = (x, y) if bng else (y, x)
    out[coord_cols[0]] = np.where(np.isfinite(a), np.char.mod("%.9f", a), "")
    out[coord_cols[1]] = np.where(np.isfinite(b), np.char.mod("%.9f", b), "")
    type_names = np.array(shapely.geometry.base.GEOMETRY_TYPES, dtype=object)
    out["_geometry_problem"] = np.where(
        missing | is_point, "", type_names[np.clip(kinds, 0, len(type_names) - 1)]
    )


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
