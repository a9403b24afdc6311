"""Opening the store for a use case, and the inputs every analysis shares.

:func:`opened_store` opens (and by default creates or migrates) a store and
closes it afterwards. :func:`load_events` reads the tables a layer needs for
a window and turns them into the events frame of :mod:`models.events`.
:func:`analysis_area` and :func:`grid_for` give the area a run covers and its
H3 cells.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import shapely

from api.settings import Settings
from geo import schemas
from geo.boundaries import assign_areas, find_ward, wards
from geo.grid import area_cells
from geo.store import Store, Window, open_store
from models.events import FOUND_WITHIN, Span, events_from_tables, tables_for


@contextmanager
def opened_store(location: str, *, init: bool = False) -> Iterator[Store]:
    """Open a store and close it afterwards.

    Only ``init`` (``engage init`` and ``engage ingest``) creates or migrates
    the store; every other use case opens an existing one, so a mistyped
    ``--store`` is a clear error and never an empty new store.
    """
    store = open_store(location)
    try:
        if init:
            store.init()
        yield store
    finally:
        store.close()


def init_store(location: str) -> str:
    """Create or migrate the store's tables; returns its location."""
    with opened_store(location, init=True):
        return location


def load_events(
    store: Store,
    window: Window,
    *,
    layer: str | tuple[str, ...] = "all",
    category: str | None = None,
    venues: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The located events of a window (:func:`models.events.events_from_tables`).

    ``venues``: the venues table when the caller has read it already (else
    read here when the layer needs it). ``layer`` may be several layers
    (``("last_seen", "found")``): each table is read once for all of them.
    """
    layers = (layer,) if isinstance(layer, str) else tuple(layer)
    needed = set().union(*(tables_for(one) for one in layers))
    tables: dict[str, Any] = {}
    if "episodes" in needed:
        # Episodes are stored by last-seen time; a child found in the window
        # was last seen at most FOUND_WITHIN before it.
        widened = Window(None if window.start is None else window.start - FOUND_WITHIN, window.end)
        tables["episodes"] = store.read(schemas.EPISODES, window=widened)
    if "venue_reports" in needed:
        tables["reports"] = store.read(schemas.VENUE_REPORTS, window=window)
        tables["venues"] = store.read(schemas.VENUES) if venues is None else venues
    if "incidents" in needed:
        tables["incidents"] = store.read(schemas.INCIDENTS, window=window)
    span = Span(
        None if window.start is None else pd.Timestamp(window.start),
        None if window.end is None else pd.Timestamp(window.end),
    )
    parts = [events_from_tables(span, layer=one, category=category, **tables) for one in layers]
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def analysis_area(
    settings: Settings, wards_wanted: list[str] | None
) -> tuple[Any, str, list[tuple[str, str]]]:
    """The polygon (WGS84) to analyse, its name, and the (code, name) of its wards.

    With ``wards_wanted`` (names or codes), their union; else the study area.
    """
    w = wards()
    if wards_wanted:
        picked = [find_ward(text) for text in wards_wanted]
        codes = [c for c, _ in picked]
        geom = shapely.union_all(w.loc[w["code"].isin(codes)].geometry.to_numpy())
        return geom, ", ".join(n for _, n in picked), picked
    area = settings.area()
    listed = list(zip(w["code"], w["name"], strict=True))
    return area.outline(), area.label, listed


def grid_for(polygon: Any, res: int) -> pd.DataFrame:
    """Cells of the area with their ward code and name."""
    cells = area_cells(polygon, res)
    areas = assign_areas(cells["lat"].to_numpy(), cells["lng"].to_numpy())
    names = dict(zip(wards()["code"], wards()["name"], strict=True))
    cells["ward"] = areas["ward"].to_numpy()
    cells["ward_name"] = cells["ward"].map(names)
    return cells
