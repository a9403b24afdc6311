"""The study area of a run: asked for, or stored with the data, and what follows from it.

The one place that settles which study area a command works on:

1. ``--study-area`` (``override``), else ``ENGAGE_STUDY_AREA``: the area asked for;
2. the area the store records (``engage init --study-area`` or the first ingest);
3. Blackburn with Darwen.

An area asked for that differs from the store's is used for that command,
and a notice says so. Opening the area makes its metric CRS (British National
Grid in Great Britain, a UTM zone elsewhere) and the store's imported areas
the ones this process uses, and announces the CRS where it is not the
British National Grid.
"""

from __future__ import annotations

from api.settings import Settings
from geo.areas import AreaSet, use_areas
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


def open_area(
    store: Store,
    settings: Settings,
    override: str | StudyArea | None = None,
    *,
    record: bool = False,
) -> StudyArea:
    """Settle the study area (see the module), activate it, and record it when asked.

    ``record`` (``engage init`` and ingest): a store with no study area yet
    keeps this one.
    """
    asked = override if isinstance(override, StudyArea) else settings.requested_area(override)
    stored = stored_area(store, settings)
    area = asked or stored or StudyArea(tolerance_m=settings.area_tolerance_m)
    if asked is not None and asked.note:
        notice(f"study area file: {asked.note}.")
    if asked is not None and stored is not None and not asked.same_as(stored):
        notice(
            f"this command works on {asked.label} ({asked.spec}), but the store holds data for "
            f"{stored.label} ({stored.spec}); leave out --study-area and ENGAGE_STUDY_AREA to "
            "use the store's."
        )
    if record and stored is None:
        with store.writer() as w:
            w.set_meta("study_area", area.spec)
            w.set_meta("study_area_label", area.label)
            w.set_meta("metric_crs", area.metric.code)
            if area.wkt is not None:
                w.set_meta("study_area_wkt", area.wkt)
        notice(f"study area stored with the data: {area.label}; {area.metric.announcement}.")
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
