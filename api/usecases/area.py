"""The study area of a run: asked for, or stored with the data, and what follows from it.

The one place that settles which study area a command works on:

1. ``--study-area`` (``override``), else ``ENGAGE_STUDY_AREA``: the area asked for;
2. the area the store records (``engage init --study-area``, or the first ingest
   that stores rows; ``engage init --change-study-area`` changes it);
3. for a store written before areas were recorded, the local authorities its
   points were assigned to;
4. Blackburn with Darwen.

An area asked for that differs from the store's is used for that command,
and a notice says so. Opening the area makes its metric CRS (British National
Grid in Great Britain, a UTM zone elsewhere) and the store's imported areas
the ones this process uses, and announces the CRS where it is not the
British National Grid.
"""

from __future__ import annotations

from api.settings import Settings
from geo.areas import AreaSet, use_areas
from geo.boundaries import all_districts
from geo.errors import ValidationError
from geo.schemas import TABLES
from geo.store import Store
from geo.studyarea import StudyArea, use_study_area

NOTICES: list[str] = []
"""Notices for the user, printed by the command line after the command."""


def notice(text: str) -> None:
    if text not in NOTICES:
        NOTICES.append(text)


def stored_area(store: Store, settings: Settings) -> StudyArea | None:
    """The study area the store records, None when it records none."""
    spec = store.meta("study_area")
    if not spec:
        return None
    return StudyArea.stored(
        spec, store.meta("study_area_wkt"), tolerance_m=settings.area_tolerance_m
    )


def infer_area(store: Store, settings: Settings) -> StudyArea | None:
    """For a store holding data but no recorded study area (one written before areas were
    recorded): the local authorities its points were assigned to, None when it is empty."""
    codes: set[str] = set()
    for table in TABLES.values():
        if not table.points:
            continue
        column = f"{table.points[0]}district"
        if store.count(table):
            values = store.read(table, columns=[column])[column].dropna().astype(str)
            codes |= set(values.unique())
    known = [c for c in sorted(codes) if c in set(all_districts()["code"])]
    if not known:
        return None
    return StudyArea(tuple(known), settings.area_tolerance_m)


def record_area(store: Store, area: StudyArea) -> None:
    """Record ``area`` as the store's study area (one transaction) and say so."""
    with store.writer() as w:
        w.set_meta("study_area", area.spec)
        w.set_meta("study_area_label", area.label)
        w.set_meta("metric_crs", area.metric.code)
        w.set_meta("study_area_wkt", area.wkt or "")
    notice(f"study area stored with the data: {area.label}; {area.metric.announcement}.")


def open_area(
    store: Store,
    settings: Settings,
    override: str | StudyArea | None = None,
    *,
    record: bool = False,
    change: bool = False,
) -> StudyArea:
    """Settle the study area (see the module) and activate it.

    ``record`` (``engage init``): record the area asked for, or the one the
    stored points show (a store from before areas were recorded), when the
    store records none. ``change``: record the area asked for in place of the
    store's. Ingest records its area after it has stored rows
    (:func:`record_area`).
    """
    asked = override if isinstance(override, StudyArea) else settings.requested_area(override)
    stored = stored_area(store, settings)
    inferred = infer_area(store, settings) if stored is None and asked is None else None
    area = asked or stored or inferred or StudyArea(tolerance_m=settings.area_tolerance_m)
    if asked is not None and asked.note:
        notice(f"study area file: {asked.note}.")
    differs = asked is not None and stored is not None and not asked.same_as(stored)
    if differs and record and not change:
        assert asked is not None and stored is not None
        msg = (
            f"the store already records its study area as {stored.label} ({stored.spec}). "
            f"To record {asked.label} instead, add --change-study-area (rows already stored "
            "stay as they are); to work on it for one command, give --study-area to that command."
        )
        raise ValidationError(msg)
    if differs and not record:
        assert asked is not None and stored is not None
        notice(
            f"this command works on {asked.label} ({asked.spec}), but the store holds data for "
            f"{stored.label} ({stored.spec}); leave out --study-area and ENGAGE_STUDY_AREA to "
            "use the store's."
        )
    if record and (
        (stored is None and (asked is not None or inferred is not None)) or (differs and change)
    ):
        record_area(store, area)
    elif area.metric.grid != "os":
        notice(f"study area {area.label}: {area.metric.announcement}.")
    activate(store, area)
    return area


def activate(store: Store, area: StudyArea) -> None:
    """Make the area, its metric CRS and the store's imported areas this process's."""
    use_study_area(area)
    imported = store.features("area")
    layers = {
        str(kind): frame.drop(columns=["family", "kind", "type"]).reset_index(drop=True)
        for kind, frame in imported.groupby("kind")
    }
    use_areas(AreaSet.build(layers, district_codes=area.district_codes))
