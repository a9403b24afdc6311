"""Exports of stored tables for QGIS and spreadsheets.

``gpkg``
    A GeoPackage with one layer per table, in the store's own types: times
    are ``DATETIME`` (UTC, to the millisecond, the GeoPackage's precision),
    H3 cells 64-bit integers with their hex text beside them as
    ``<name>_hex``, yes/no columns ``BOOLEAN``. Each point of a table is a
    point layer QGIS can style: ``episodes`` (geometry: the last-seen point,
    every episode) and ``episodes_found`` (geometry: the found point, episodes
    that have one), each with all the episode's columns. ``venue_reports``,
    which has no point, is an attribute table.
``geojson``
    One FeatureCollection (RFC 7946: WGS84, no ``crs`` member) of one
    table. A feature has one geometry, so ``point`` picks which of an
    episode's points it is (``last_seen``, the default, or ``found``: then
    only episodes with a found point). JSON has no time type: times are
    ISO 8601 UTC text (``2025-03-14T21:30:00Z``). H3 cells are their 15-digit
    hex text (``8c194ad30d067ff``), as h3-py and h3-js write them: a 64-bit
    integer as a JSON number is rounded by JavaScript and many JSON readers.
``csv``
    One table's rows. Cells that a spreadsheet would run as a formula are
    neutralised; times are ISO 8601 UTC text with ``Z``; H3 cells hex text (a
    spreadsheet keeps only 15 significant digits of a number).

Every export is written to ``<name>.part<suffix>`` beside ``out`` and
renamed when complete, so a failed export never leaves a half-written file or
replaces a good one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo import schemas
from geo.errors import ValidationError
from geo.h3index import cells_to_str_array
from geo.store import Store
from geo.store.frames import INGESTED_AT, empty

FORMATS = ("gpkg", "geojson", "csv")
POINTS = ("last_seen", "found")
"""Points of an episode a GeoJSON feature can take as its geometry."""

TEXT_TIME = "%Y-%m-%dT%H:%M:%SZ"
"""Times in GeoJSON and CSV: ISO 8601, UTC, to the second."""

HEX_SUFFIX = "_hex"
"""Suffix of the hex text column written beside each H3 column of a GeoPackage."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NOT_EXPORTED = ("content_hash",)
_DESCRIPTIONS = {
    "episodes": "Missing-from-home episodes; geometry: the last-seen point.",
    "episodes_found": ("Missing-from-home episodes with a found point; geometry: the found point."),
    "venues": "Venues linked to exploitation intelligence; geometry: the venue.",
    "venue_reports": "Dated, 3x5x2-graded intelligence reports about venues (no geometry).",
    "disruptions": "Disruption actions; geometry: where (empty when none was given).",
    "incidents": "Other geocoded events used as context; geometry: the event.",
}


def neutralise_formulas(cells: pd.Series) -> pd.Series:
    """Prefix ``'`` to text that a spreadsheet would treat as a formula.

    Cells starting with ``= + - @`` (or tab/carriage return) are neutralised,
    as OWASP advises for CSV injection; numbers stay numbers.
    """
    text = cells.astype(object)
    is_text = np.array([isinstance(v, str) for v in text], dtype=bool)
    as_str = text.astype(str)
    risky = is_text & as_str.str.startswith(_FORMULA_START).to_numpy()
    numeric = pd.to_numeric(as_str.where(risky, ""), errors="coerce").notna().to_numpy()
    risky &= ~numeric
    out = text.copy()
    out[risky] = "'" + as_str[risky]
    return out


# ----------------------------------------------------------------------- frames


def _exported(table: schemas.Table) -> list[schemas.Column]:
    """The columns an export writes, in order, with ``ingested_at`` last."""
    cols = [c for c in table.columns if c.name not in _NOT_EXPORTED]
    return [*cols, schemas.Column(INGESTED_AT, "timestamp", False)]


def _typed_frame(table: schemas.Table, chunk: pd.DataFrame) -> pd.DataFrame:
    """Rows in the store's types for a GeoPackage, each H3 column with its hex text."""
    out: dict[str, pd.Series | np.ndarray] = {}
    for col in _exported(table):
        values = chunk[col.name]
        if col.kind == "timestamp":
            values = values.dt.floor("ms")
        out[col.name] = values
        if col.kind == "h3":
            out[col.name + HEX_SUFFIX] = cells_to_str_array(values)
    return pd.DataFrame(out, index=chunk.index)


def _text_frame(table: schemas.Table, chunk: pd.DataFrame) -> pd.DataFrame:
    """Rows for JSON and CSV: times as ISO 8601 UTC text, H3 cells as hex text."""
    out: dict[str, pd.Series | np.ndarray] = {}
    for col in _exported(table):
        values = chunk[col.name]
        if col.kind == "timestamp":
            text = values.dt.strftime(TEXT_TIME).astype(object)
            out[col.name] = text.where(values.notna(), None)
        elif col.kind == "h3":
            out[col.name] = cells_to_str_array(values)
        else:
            out[col.name] = values
    return pd.DataFrame(out, index=chunk.index)


def _points(chunk: pd.DataFrame, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Shapely points (x=lng, y=lat) of one point of each row, None where absent; and the mask."""
    lat = chunk[f"{prefix}lat"].to_numpy(dtype=float)
    lng = chunk[f"{prefix}lng"].to_numpy(dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lng)
    geom = np.full(len(chunk), None, dtype=object)
    geom[ok] = shapely.points(lng[ok], lat[ok])
    return geom, ok


def _features(frame: pd.DataFrame, geometry: np.ndarray) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _at_least_one(chunks: Iterator[pd.DataFrame], spec: schemas.Table) -> Iterator[pd.DataFrame]:
    """The chunks, or one empty frame so an empty table still becomes a layer or a header."""
    any_rows = False
    for chunk in chunks:
        any_rows = True
        yield chunk
    if not any_rows:
        yield empty(spec)


# ----------------------------------------------------------------------- layers


@dataclass(frozen=True)
class Layer:
    """One layer of a GeoPackage export.

    ``frames`` yields the layer's rows a chunk at a time, ready to write: a
    GeoDataFrame of points for a feature layer (``geometry`` true), a plain
    frame for an attribute table. Layers that are not stored tables (for
    example analysis results) are added to an export as more ``Layer``
    values.
    """

    name: str
    description: str
    geometry: bool
    frames: Callable[[], Iterator[pd.DataFrame]]
    geometry_type: str = "Point"


def table_layers(store: Store, table: schemas.Table) -> list[Layer]:
    """The layers of one stored table: one per point (the main one named as the table)."""
    description = _DESCRIPTIONS.get(table.name, table.name)
    if not table.points:

        def rows() -> Iterator[pd.DataFrame]:
            for chunk in _at_least_one(store.iter_rows(table), table):
                yield _typed_frame(table, chunk)

        return [Layer(table.name, description, False, rows)]

    layers = []
    for i, prefix in enumerate(table.points):
        name = table.name if i == 0 else f"{table.name}_{prefix.rstrip('_')}"

        def features(prefix: str = prefix, main: bool = i == 0) -> Iterator[pd.DataFrame]:
            for chunk in _at_least_one(store.iter_rows(table), table):
                geom, ok = _points(chunk, prefix)
                keep = np.ones(len(chunk), dtype=bool) if main else ok
                yield _features(_typed_frame(table, chunk[keep]), geom[keep])

        layers.append(Layer(name, _DESCRIPTIONS.get(name, description), True, features))
    return layers


def _write_gpkg(path: Path, layers: list[Layer]) -> dict[str, int]:
    written: dict[str, int] = {}
    for layer in layers:
        n = 0
        for i, frame in enumerate(layer.frames()):
            options: dict[str, object] = {}
            if i == 0:
                options["layer_options"] = {"DESCRIPTION": layer.description}
            if layer.geometry:
                options["geometry_type"] = layer.geometry_type
            pyogrio.write_dataframe(
                frame, path, layer=layer.name, driver="GPKG", append=i > 0, **options
            )
            n += len(frame)
        written[layer.name] = n
    return written


# ----------------------------------------------------------------------- export


def _point_prefix(table: schemas.Table, point: str) -> str:
    """The column prefix of ``point`` for a GeoJSON export of ``table``."""
    if point not in POINTS:
        msg = f"`point` must be one of {', '.join(POINTS)}, got {point!r}."
        raise ValidationError(msg)
    if not table.points:
        msg = (
            f"table `{table.name}` has no points, so it cannot be GeoJSON; "
            "export it as csv or gpkg."
        )
        raise ValidationError(msg)
    if table.points == ("",):
        if point != POINTS[0]:
            msg = (
                f"`point` {point!r} is a point of episodes; table `{table.name}` has one "
                "point. Leave `point` out."
            )
            raise ValidationError(msg)
        return ""
    return f"{point}_"


def export(
    store: Store,
    fmt: str,
    out: Path,
    *,
    tables: list[str] | None = None,
    point: str = "last_seen",
    extra: list[Layer] | None = None,
) -> dict[str, int]:
    """Write stored tables to ``out``; see the module docstring for each format.

    Parameters
    ----------
    fmt
        ``gpkg`` (every table, or ``tables``), ``geojson`` or ``csv`` (one table).
    tables
        Names of :data:`geo.schemas.TABLES` to export (default all; one for
        geojson and csv).
    point
        The geometry of a GeoJSON export of episodes: ``last_seen`` (default,
        every episode) or ``found`` (episodes with a found point). A
        GeoPackage export writes a layer for each point instead.
    extra
        More layers of a GeoPackage export that are not stored tables (the
        analysis results the caller adds, such as hotspot cells).

    Returns
    -------
    dict
        Rows written per layer (gpkg) or table (geojson, csv).
    """
    if fmt not in FORMATS:
        msg = f"`format` must be one of {', '.join(FORMATS)}, got {fmt!r}."
        raise ValidationError(msg)
    names = tables or list(schemas.TABLES)
    specs = [schemas.table(n) for n in names]
    if fmt in ("geojson", "csv") and len(specs) != 1:
        msg = f"`{fmt}` export takes one table; pass --table (one of {', '.join(schemas.TABLES)})."
        raise ValidationError(msg)
    if fmt == "geojson":
        prefix = _point_prefix(specs[0], point)
    elif point != POINTS[0]:
        msg = (
            f"`point` {point!r} picks the geometry of a GeoJSON export; a {fmt} export "
            "holds every point (GeoPackage: a layer for each). Leave `point` out."
        )
        raise ValidationError(msg)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(f"{out.stem}.part{out.suffix}")
    part.unlink(missing_ok=True)
    try:
        if fmt == "gpkg":
            layers = [layer for spec in specs for layer in table_layers(store, spec)]
            written = _write_gpkg(part, [*layers, *(extra or [])])
        elif fmt == "geojson":
            written = {specs[0].name: _write_geojson(store, specs[0], prefix, part)}
        else:
            written = {specs[0].name: _write_csv(store, specs[0], part)}
        part.replace(out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    return written


def _write_geojson(store: Store, table: schemas.Table, prefix: str, path: Path) -> int:
    """Every row as one FeatureCollection, streamed a chunk at a time.

    Each chunk is written by GDAL's GeoJSON driver (RFC 7946) to a scratch
    file beside ``path`` and its features are copied into ``path`` between
    one collection header and footer, so the memory held is one chunk's.
    """
    import tempfile

    n = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('{"type": "FeatureCollection", "features": [\n')
        for chunk in _at_least_one(store.iter_rows(table), table):
            geom, ok = _points(chunk, prefix)
            keep = np.ones(len(chunk), dtype=bool) if prefix == table.points[0] else ok
            gdf = _features(_text_frame(table, chunk[keep]), geom[keep])
            if gdf.empty:
                continue
            fd, scratch = tempfile.mkstemp(suffix=".geojson", dir=path.parent)
            os.close(fd)
            try:
                pyogrio.write_dataframe(
                    gdf,
                    scratch,
                    driver="GeoJSON",
                    geometry_type="Point",
                    layer_options={"RFC7946": "YES"},
                )
                text = Path(scratch).read_text(encoding="utf-8")
            finally:
                Path(scratch).unlink(missing_ok=True)
            start = text.index("[", text.index('"features"')) + 1
            end = text.rindex("]")
            features = text[start:end].strip()
            if features:
                out.write((",\n" if n else "") + features)
                n += len(gdf)
        out.write("\n]}\n")
    return n


def _write_csv(store: Store, table: schemas.Table, path: Path) -> int:
    n = 0
    for i, chunk in enumerate(_at_least_one(store.iter_rows(table), table)):
        frame = _text_frame(table, chunk)
        for c in frame.columns:
            if frame[c].dtype == object:
                frame[c] = neutralise_formulas(frame[c])
        frame.to_csv(path, mode="a" if i else "w", header=i == 0, index=False)
        n += len(frame)
    return n
