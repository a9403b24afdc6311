"""The canonical in-memory form of a table's rows, shared by ingest and stores.

| column kind | pandas dtype | null |
|---|---|---|
| text | object (str) | None |
| int | int64 | never null |
| float | float64 | NaN |
| bool | boolean (nullable) | <NA> |
| timestamp | datetime64[ns, UTC] | NaT |
| h3 | Int64 (nullable) | <NA> |

Frames read from a store carry one more column, ``ingested_at`` (timestamp).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from geo.errors import ValidationError
from geo.schemas import Column, Table

INGESTED_AT = "ingested_at"


def _conform_column(col: Column, values: pd.Series) -> pd.Series:
    if col.kind == "text":
        out = values.astype(object)
        return out.where(pd.notna(out), None)
    if col.kind == "int":
        return pd.to_numeric(values).astype(np.int64)
    if col.kind == "float":
        return pd.to_numeric(values).astype(np.float64)
    if col.kind == "bool":
        return values.astype("boolean")
    if col.kind == "timestamp":
        if pd.api.types.is_datetime64_any_dtype(values):
            ts = values
        else:
            ts = pd.to_datetime(values, utc=True, format="ISO8601")
        if getattr(ts.dt, "tz", None) is None:
            ts = ts.dt.tz_localize("UTC")
        return ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if col.kind == "h3":
        return pd.to_numeric(values).astype("Int64")
    msg = f"unknown column kind {col.kind!r}"
    raise AssertionError(msg)


def conform(table: Table, frame: pd.DataFrame, *, with_ingested_at: bool = False) -> pd.DataFrame:
    """Return ``frame`` with exactly the table's columns, in order, in canonical dtypes."""
    names = table.column_names + ([INGESTED_AT] if with_ingested_at else [])
    missing = [c for c in names if c not in frame.columns]
    if missing:
        msg = f"frame for `{table.name}` lacks columns {missing}"
        raise ValidationError(msg)
    out = {}
    for col in table.columns:
        out[col.name] = _conform_column(col, frame[col.name])
    if with_ingested_at:
        out[INGESTED_AT] = _conform_column(Column(INGESTED_AT, "timestamp"), frame[INGESTED_AT])
    return pd.DataFrame(out, index=frame.index)


def empty(table: Table, *, with_ingested_at: bool = True) -> pd.DataFrame:
    """An empty frame with the table's columns and dtypes."""
    cols = {c.name: pd.Series([], dtype=object) for c in table.columns}
    if with_ingested_at:
        cols[INGESTED_AT] = pd.Series([], dtype=object)
    return conform(table, pd.DataFrame(cols), with_ingested_at=with_ingested_at)


def conform_columns(table: Table, frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """A frame of some of the table's columns (perhaps ``ingested_at``), conformed, as ``names``."""
    sub = dataclasses.replace(table, columns=tuple(c for c in table.columns if c.name in names))
    out = conform(sub, frame, with_ingested_at=INGESTED_AT in names)
    return out[names].reset_index(drop=True)
