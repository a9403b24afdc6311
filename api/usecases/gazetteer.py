"""The gazetteer: importing named places, and finding those near a run's targets.

:func:`import_gazetteer` reads gazetteer files (:func:`geo.gazetteerfiles.read_gazetteer`)
and replaces the stored places of their kind in one transaction.
:func:`places_near` reads the places around a set of targets: the stored
gazetteer (every kind), or, where none is stored and the study area is
Blackburn with Darwen, the shipped one (``data/gazetteer``), as if imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.settings import Settings
from api.usecases.store import opened_store
from geo.boundaries import BWD
from geo.gazetteer import (
    DEFAULT_MARGIN_M,
    FAMILY,
    POLICE_UK,
    SHIPPED_BWD,
    as_features,
    places_xy,
    shipped_places,
)
from geo.gazetteerfiles import GazetteerRead, read_gazetteer
from geo.store import Store
from geo.studyarea import StudyArea, active_study_area

SHIPPED_SOURCE = f"shipped: data/gazetteer/{SHIPPED_BWD.name} (data.police.uk, OGL v3.0)"


@dataclass(frozen=True)
class GazetteerImport:
    """What ``engage gazetteer import`` did: what was read, and how many places were stored."""

    read: GazetteerRead
    files: list[str]
    area: str
    stored: int

    @property
    def exit_code(self) -> int:
        """0 every row stored or left out as outside the area; 1 some rows bad; 2 none stored."""
        if self.stored == 0:
            return 2
        return 1 if self.read.bad else 0


def import_gazetteer(
    location: str,
    files: Sequence[Path],
    *,
    settings: Settings,
    kind: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
    study_area: str | StudyArea | None = None,
    margin_m: float = DEFAULT_MARGIN_M,
) -> GazetteerImport:
    """Read gazetteer ``files`` and store their places as kind ``kind``, replacing that kind.

    Places further than ``margin_m`` outside the store's study area (as
    :func:`api.usecases.store.opened_store` settles it from ``study_area``,
    the store and the settings) are left out and counted. When no place is
    left, nothing is written and the stored places of the kind stay as they
    were. Like ``engage ingest``, this creates the store when it does not exist.
    """
    with opened_store(location, init=True, settings=settings, study_area=study_area) as store:
        area = active_study_area()
        read = read_gazetteer(
            list(files),
            name_field=name_field,
            layer=layer,
            kind=kind,
            area=area,
            margin_m=margin_m,
        )
        stored = 0
        if len(read.places):
            with store.writer() as w:
                # police.uk places gather month by month (ingest adds them too): merge.
                stored = w.put_features(
                    FAMILY,
                    read.kind,
                    as_features(read.places),
                    replace=read.kind != POLICE_UK,
                )
    return GazetteerImport(read, [str(f) for f in files], area.label, stored)


def _bbox(lat: np.ndarray, lng: np.ndarray, pad_m: float) -> tuple[float, float, float, float]:
    """The box of the points widened by ``pad_m`` metres (generously, in degrees)."""
    pad_lat = 1.1 * pad_m / 111_000 + 1e-6
    pad_lng = pad_lat / np.cos(np.radians(min(89.0, float(np.abs(lat).max()))))
    return (
        float(lng.min() - pad_lng),
        float(lat.min() - pad_lat),
        float(lng.max() + pad_lng),
        float(lat.max() + pad_lat),
    )


def _is_bwd(area: StudyArea) -> bool:
    return area.file is None and tuple(area.codes) == (BWD,)


def places_near(store: Store, targets: pd.DataFrame, *, max_m: float) -> tuple[pd.DataFrame, str]:
    """Gazetteer places (``name``, ``x``, ``y`` in metric metres) around ``targets``, and where
    from.

    Reads only the places whose box meets the targets' box widened by
    ``max_m``. Where the store holds no gazetteer and its study area (opened
    by :func:`api.usecases.store.opened_store`) is Blackburn with Darwen, the
    shipped gazetteer is used; elsewhere none.
    """
    empty = pd.DataFrame({"name": pd.Series(dtype=object), "x": [], "y": []})
    lat = targets["lat"].to_numpy(dtype=np.float64) if "lat" in targets.columns else np.array([])
    lng = targets["lng"].to_numpy(dtype=np.float64) if "lng" in targets.columns else np.array([])
    ok = np.isfinite(lat) & np.isfinite(lng)
    kinds = store.feature_kinds()
    stored = kinds.loc[kinds["family"] == FAMILY]
    if len(stored):
        source = "stored: " + ", ".join(
            f"{k} ({int(n)} places)" for k, n in zip(stored["kind"], stored["n"], strict=True)
        )
    elif _is_bwd(active_study_area()):
        source = SHIPPED_SOURCE
    else:
        return empty, "none"
    if not ok.any():
        return empty, source
    box = _bbox(lat[ok], lng[ok], max_m)
    if len(stored):
        features: gpd.GeoDataFrame = store.features(FAMILY, bbox=box)
    else:
        features = shipped_places()
        geoms = np.asarray(features.geometry.values, dtype=object)
        features = features.loc[shapely.intersects(geoms, shapely.box(*box))]
    return places_xy(features), source
