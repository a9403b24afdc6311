"""The one protocol every store implements, and the query types it takes.

A store holds the tables of :mod:`geo.schemas`. Writers are transactional:
everything written through one :meth:`Store.writer` becomes visible at once
when the block exits cleanly, and nothing does if it raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import ValidationError
from geo.schemas import Table


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[start, end)`` in UTC; either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                msg = (
                    f"`{name}` must be timezone-aware, got {value!r}. "
                    "Use datetime(..., tzinfo=UTC)."
                )
                raise ValidationError(msg)
        if self.start is not None and self.end is not None and self.end <= self.start:
            msg = f"window `end` ({self.end}) must be after `start` ({self.start})."
            raise ValidationError(msg)


@dataclass(frozen=True)
class Area:
    """Where to look: exactly one of a ward, a polygon or a bounding box.

    ``ward`` is a ward code (``E05011511``) or name (``Blackburn Central``),
    matched against the ward assigned at ingest. ``polygon`` is a shapely
    polygon in WGS84 (x=lng, y=lat). ``bbox`` is ``(min_lng, min_lat,
    max_lng, max_lat)``.
    """

    ward: str | None = None
    polygon: BaseGeometry | None = None
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.ward, self.polygon, self.bbox)]
        if sum(given) != 1:
            msg = "an `Area` takes exactly one of `ward`, `polygon` or `bbox`."
            raise ValidationError(msg)
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            if not (x0 < x1 and y0 < y1):
                msg = (
                    f"`bbox` must be (min_lng, min_lat, max_lng, max_lat) with min < max, "
                    f"got {self.bbox}."
                )
                raise ValidationError(msg)
        if self.polygon is not None and (
            self.polygon.is_empty or self.polygon.geom_type not in ("Polygon", "MultiPolygon")
        ):
            msg = (
                "`polygon` must be a non-empty Polygon or MultiPolygon, "
                f"got {self.polygon.geom_type}."
            )
            raise ValidationError(msg)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """The bounding box of a polygon or bbox area; None for a ward."""
        if self.bbox is not None:
            return self.bbox
        if self.polygon is not None:
            b = self.polygon.bounds
            return (b[0], b[1], b[2], b[3])
        return None

    def contains(self, lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Vectorised exact test for polygon and bbox areas (boundary included)."""
        if self.bbox is not None:
            x0, y0, x1, y1 = self.bbox
            return (lng >= x0) & (lng <= x1) & (lat >= y0) & (lat <= y1)
        assert self.polygon is not None
        shapely.prepare(self.polygon)
        return np.asarray(shapely.intersects_xy(self.polygon, lng, lat), dtype=bool)


Keep = Literal["last", "earliest"]
"""Which of several versions of a key a writer stores; see :meth:`Writer.stage`."""

KEEP_RULES: tuple[Keep, ...] = ("last", "earliest")


@dataclass(frozen=True)
class UpsertResult:
    """What one upsert did, counted in distinct keys.

    ``inserted`` keys were new to the store, ``updated`` rows changed and
    ``unchanged`` rows were left as stored. ``kept_earlier`` counts the
    unchanged rows that were left because the store holds an earlier version
    of the key (staged with ``keep="earliest"``); it is part of ``unchanged``.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_earlier: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.kept_earlier + other.kept_earlier,
        )

    @property
    def stored(self) -> int:
        return self.inserted + self.updated + self.unchanged


class Writer(Protocol):
    """Stages frames inside one transaction; :meth:`finish` upserts them all."""

    def stage(
        self,
        table: Table,
        frame: pd.DataFrame,
        *,
        keep: Keep = "last",
        kept_columns: Sequence[str] = (),
    ) -> None:
        """Stage rows (columns exactly ``table.column_names``) for upsert.

        ``keep`` says which version of a key is stored when the key is staged
        more than once or is already stored, the same way in every store:

        * ``"last"``: the last staged row, which replaces a stored row whose
          ``content_hash`` differs (a corrected file ingested again).
        * ``"earliest"``: the row with the earliest value of the table's time
          column, among the staged rows and the stored one; at an equal time
          the last staged row, as for ``"last"``. A row later than the stored
          one changes nothing and is counted in ``kept_earlier``. The result
          does not depend on the order rows or files are written in.

        ``kept_columns`` are columns the rows do not really carry (an input
        file without them): a stored row keeps its values of them, and a new
        row takes the staged ones (empty, or a default). A stored row is then
        updated only when its ``content_hash`` differs *and* one of the other
        columns does, so rows staged again change nothing. A point's columns
        are kept all or none.

        One writer stages a table under one rule and one set of kept columns.
        """

    def finish(self) -> dict[str, UpsertResult]:
        """Upsert everything staged; commit happens when the context exits."""

    def put_features(
        self, family: str, kind: str, frame: pd.DataFrame, *, replace: bool = True
    ) -> int:
        """Store reference features of (family, kind) with this transaction.

        ``frame``: ``code`` (unique text), ``name``, ``type`` (text or None) and
        ``geometry`` (WGS84, or a GeoDataFrame in any CRS). ``replace`` replaces
        every stored feature of the kind; else features merge by code. See
        :mod:`geo.store.features`. Returns the rows written.
        """

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting (:data:`geo.store.features.META_KEYS`) with this transaction."""

    def set_areas(
        self, table: Table, column: str, keys: Sequence[str], codes: Sequence[Any]
    ) -> None:
        """Set one area column (``<prefix><kind>``) of stored rows by key, in this transaction."""


@runtime_checkable
class Store(Protocol):
    """A place the tables live: a GeoPackage file or a PostGIS schema."""

    url: str

    def init(self) -> None:
        """Create or migrate the tables; safe to call again."""

    def writer(self) -> AbstractContextManager[Writer]:
        """A transaction: commit on clean exit, roll back on any exception."""

    def count(self, table: Table) -> int:
        """Rows in ``table``."""

    def time_bounds(self, table: Table) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        """Earliest and latest value (UTC) of the table's time column; None when empty."""

    def existing_keys(self, table: Table, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are already stored in ``table``."""

    def read(
        self,
        table: Table,
        *,
        window: Window | None = None,
        area: Area | None = None,
        cells: Iterable[int] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of ``table`` in a time window, an area and a set of H3 cells.

        ``cells`` may be at any resolution from 0 to 12 (all one resolution);
        a row matches when its main point's stored res-12 cell lies in one
        of them. Frames come back with the columns of the table spec, timestamps
        as UTC, H3 as int64, ordered by key.
        """

    def counts_by_cell(
        self,
        table: Table,
        res: int,
        *,
        window: Window | None = None,
        area: Area | None = None,
        point: str | None = None,
    ) -> pd.DataFrame:
        """Counts of rows by H3 cell at resolution ``res`` (7-12).

        Columns ``h3`` (int64) and ``n`` (int64), ordered by ``h3``. ``point``
        selects which of the table's points to count (default the main one).
        """

    def record_run(self, kind: str, params: dict[str, Any], outputs: dict[str, Any]) -> int:
        """Record an analysis or ingest run; returns its id."""

    def runs(self) -> pd.DataFrame:
        """Every recorded run, oldest first."""

    def iter_rows(self, table: Table, *, chunk_size: int = 100_000) -> Iterator[pd.DataFrame]:
        """Every row of ``table`` in key order, a chunk at a time (for export)."""

    def features(
        self,
        family: str,
        kind: str | None = None,
        *,
        bbox: tuple[float, float, float, float] | None = None,
    ) -> pd.DataFrame:
        """Stored features (a GeoDataFrame: family, kind, code, name, type, geometry WGS84).

        Ordered by kind and code; ``bbox`` (min_lng, min_lat, max_lng, max_lat)
        keeps the features whose bounding box meets it.
        """

    def feature_kinds(self) -> pd.DataFrame:
        """``family, kind, n, updated_at``: one row per stored kind of feature."""

    def meta(self, key: str) -> str | None:
        """A store setting, None when unset."""

    def close(self) -> None:
        """Release connections and file handles."""
