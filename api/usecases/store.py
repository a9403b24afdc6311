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
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.settings import Settings
from api.usecases.area import open_area
from geo import schemas
from geo.areas import active_areas, use_page_kind
from geo.grid import area_cells
from geo.store import Store, Window, open_store
from geo.studyarea import StudyArea, active_study_area
from models.events import FOUND_WITHIN, Span, events_from_tables, tables_for


@contextmanager
def opened_store(
    location: str,
    *,
    init: bool = False,
    settings: Settings | None = None,
    study_area: str | StudyArea | None = None,
    record_area: bool = False,
    change_area: bool = False,
) -> Iterator[Store]:
    """Open a store, settle its study area (:func:`api.usecases.area.open_area`), close it after.

    Only ``init`` (``engage init`` and ``engage ingest``) creates or migrates
    the store (``record_area``: ``engage init`` records the study area, see
    :func:`api.usecases.area.open_area`); every other
    use case opens an existing one, so a mistyped ``--store`` is a clear error
    and never an empty new store.
    """
    store = open_store(location)
    try:
        if init:
            store.init()
        open_area(
            store,
            settings or Settings.from_env(),
            study_area,
            record=record_area,
            change=change_area,
        )
        yield store
    finally:
        store.close()


def init_store(
    location: str,
    *,
    settings: Settings | None = None,
    study_area: str | None = None,
    change_area: bool = False,
) -> str:
    """Create or migrate the store's tables and record its study area; returns its location."""
    with opened_store(
        location,
        init=True,
        settings=settings,
        study_area=study_area,
        record_area=True,
        change_area=change_area,
    ):
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


@dataclass(frozen=True)
class AnalysisArea:
    """The area a run covers, and the areas its pack pages by.

    ``polygon`` (WGS84) and ``name``; ``listed`` the (code, name) of the
    areas of ``kind`` inside it; ``pages`` one row (code, name, geometry) per
    map page when ``--area`` or ``--page-by`` asks for pages, else None.
    """

    polygon: Any
    name: str
    kind: str
    listed: list[tuple[str, str]]
    frame: gpd.GeoDataFrame
    pages: gpd.GeoDataFrame | None


def area_for(
    location: str,
    settings: Settings,
    wanted: list[str] | None,
    *,
    page_by: str | None = None,
) -> AnalysisArea:
    """The area of a run: the named areas (``--area``, any imported kind), else the study area.

    Opens the store to settle its study area and imported areas. ``page_by``
    asks for one page per area of that kind (those the area overlaps).
    """
    with opened_store(location, settings=settings):
        pass
    areas = active_areas()
    study = active_study_area()
    use_page_kind(page_by)
    if wanted:
        picked = [areas.find(text, [*areas.kinds(), "district"]) for text in wanted]
        parts = [areas.layer(k) for k, _, _ in picked]
        rows = pd.concat(
            [p.loc[p["code"] == c] for p, (_, c, _) in zip(parts, picked, strict=True)]
        )
        frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
        frame = frame.drop_duplicates("code").reset_index(drop=True)
        geom = shapely.union_all(frame.geometry.to_numpy())
        kind = picked[0][0]
        listed = [(c, n) for _, c, n in picked]
        name = ", ".join(n for _, _, n in picked)
        pages = (
            frame if page_by is None else _overlapping(areas.layer(areas.page_kind(page_by)), geom)
        )
        return AnalysisArea(
            geom, name, areas.page_kind(page_by) if page_by else kind, listed, frame, pages
        )
    kind = areas.page_kind(page_by)
    outline = study.outline()
    frame = _overlapping(areas.layer(kind), outline)
    listed = list(zip(frame["code"], frame["name"], strict=True))
    return AnalysisArea(
        outline, study.label, kind, listed, frame, frame if page_by is not None else None
    )


def _overlapping(layer: gpd.GeoDataFrame, geom: Any) -> gpd.GeoDataFrame:
    """The areas of ``layer`` that overlap ``geom`` by more than a sliver (1% of either)."""
    geoms = layer.geometry.to_numpy()
    inter = shapely.area(shapely.intersection(geoms, geom))
    whole = shapely.area(geoms)
    share = inter / np.where(whole > 0, whole, 1.0)
    keep = (share > 0.01) | (inter > 0.01 * max(float(shapely.area(geom)), 1e-12))
    return layer.loc[keep].reset_index(drop=True)


def analysis_area(
    settings: Settings, wards_wanted: list[str] | None, location: str | None = None
) -> tuple[Any, str, list[tuple[str, str]]]:
    """The polygon (WGS84) to analyse, its name, and the (code, name) of its areas.

    With ``wards_wanted`` (names or codes of any imported kind), their union;
    else the study area. ``location``: the store whose study area and areas
    to use (else those already opened).
    """
    if location is not None:
        a = area_for(location, settings, wards_wanted)
        return a.polygon, a.name, a.listed
    areas = active_areas()
    if wards_wanted:
        picked = [areas.find(text, [*areas.kinds(), "district"]) for text in wards_wanted]
        geoms = [
            areas.layer(k).loc[lambda f, c=c: f["code"] == c].geometry.union_all()
            for k, c, _ in picked
        ]
        return (
            shapely.union_all(geoms),
            ", ".join(n for _, _, n in picked),
            [(c, n) for _, c, n in picked],
        )
    study = active_study_area()
    frame = _overlapping(areas.layer(areas.page_kind()), study.outline())
    return study.outline(), study.label, list(zip(frame["code"], frame["name"], strict=True))


def grid_for(polygon: Any, res: int, *, kind: str | None = None) -> pd.DataFrame:
    """Cells of the area with the code and name of their page area (``ward``, ``ward_name``).

    ``kind``: the kind of area pages are by (default the first held: wards
    where they are loaded, else districts). The columns keep the name
    ``ward`` whatever the kind.
    """
    cells = area_cells(polygon, res)
    areas = active_areas()
    kind = kind or areas.page_kind()
    got = areas.assign(cells["lat"].to_numpy(), cells["lng"].to_numpy(), kinds=(kind,))
    layer = areas.layer(kind)
    names = dict(zip(layer["code"], layer["name"], strict=True))
    cells["ward"] = got[kind].to_numpy()
    cells["ward_name"] = cells["ward"].map(names)
    return cells
