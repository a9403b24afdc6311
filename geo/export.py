"""Exports of stored tables for QGIS and spreadsheets.

``gpkg`` writes one layer per table, ``geojson`` one FeatureCollection (RFC
7946, WGS84) of one table's main points, ``csv`` one table's rows with every
cell that a spreadsheet would run as a formula neutralised.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import schemas
from geo.errors import ValidationError
from geo.h3index import cells_to_str_array
from geo.store import Store
from geo.store.frames import empty

FORMATS = ("gpkg", "geojson", "csv")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def _frame_for_output(table: schemas.Table, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in table.columns:
        if col.kind == "h3":
            out[col.name] = cells_to_str_array(out[col.name])
        elif col.kind == "timestamp":
            out[col.name] = out[col.name].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    if "ingested_at" in out.columns:
        out["ingested_at"] = out["ingested_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out.drop(columns=["content_hash"], errors="ignore")


def _geo(table: schemas.Table, frame: pd.DataFrame) -> gpd.GeoDataFrame:
    prefix = table.points[0]
    lat = frame[f"{prefix}lat"].to_numpy(dtype=float)
    lng = frame[f"{prefix}lng"].to_numpy(dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lng)
    geom = np.full(len(frame), None, dtype=object)
    geom[ok] = shapely.points(lng[ok], lat[ok])
    return gpd.GeoDataFrame(_frame_for_output(table, frame), geometry=geom, crs="EPSG:4326")


def _at_least_one(chunks: Iterator[pd.DataFrame], spec: schemas.Table) -> Iterator[pd.DataFrame]:
    """The chunks, or one empty frame so an empty table still becomes a layer."""
    any_rows = False
    for chunk in chunks:
        any_rows = True
        yield chunk
    if not any_rows:
        yield empty(spec)


def export(store: Store, fmt: str, out: Path, *, tables: list[str] | None = None) -> dict[str, int]:
    """Write stored tables to ``out``; returns rows written per table."""
    if fmt not in FORMATS:
        msg = f"`format` must be one of {', '.join(FORMATS)}, got {fmt!r}."
        raise ValidationError(msg)
    names = tables or list(schemas.TABLES)
    specs = [schemas.table(n) for n in names]
    if fmt in ("geojson", "csv") and len(specs) != 1:
        msg = f"`{fmt}` export takes one table; pass --table (one of {', '.join(schemas.TABLES)})."
        raise ValidationError(msg)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    if fmt == "gpkg" and out.exists():
        out.unlink()
    for spec in specs:
        n = 0
        first = True
        chunks = store.iter_rows(spec)
        if fmt != "csv":
            chunks = _at_least_one(chunks, spec)
        for chunk in chunks:
            if fmt == "csv":
                frame = _frame_for_output(spec, chunk)
                for c in frame.columns:
                    if frame[c].dtype == object:
                        frame[c] = neutralise_formulas(frame[c])
                frame.to_csv(out, mode="w" if first else "a", header=first, index=False)
            elif fmt == "geojson" or spec.points:
                gdf = _geo(spec, chunk)
                if fmt == "geojson":
                    if not first:
                        msg = "geojson export holds one chunk at most; use gpkg for large tables."
                        raise ValidationError(msg)
                    gdf.to_file(out, driver="GeoJSON")
                else:
                    gdf.to_file(out, layer=spec.name, driver="GPKG", mode="w" if first else "a")
            else:
                frame = _frame_for_output(spec, chunk)
                gpd.GeoDataFrame(frame).to_file(
                    out, layer=spec.name, driver="GPKG", mode="w" if first else "a"
                )
            n += len(chunk)
            first = False
        if first and fmt == "csv":
            pd.DataFrame(columns=spec.column_names).to_csv(out, index=False)
        written[spec.name] = n
    return written
