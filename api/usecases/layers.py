"""Import a base layer (roads, buildings, landmarks) into the store, and read it for the maps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from api.settings import Settings
from api.usecases.store import opened_store
from geo.baselayers import FAMILY, KINDS, BaseLayer, read_base_layer
from geo.crs import metric_crs
from geo.store import Store
from geo.studyarea import active_study_area


@dataclass(frozen=True)
class LayerImport:
    """What ``engage layers import`` did: the layer read and how many features were stored."""

    layer: BaseLayer
    stored: int
    store: str

    def lines(self) -> list[str]:
        lay = self.layer
        named = int(lay.frame["name"].notna().sum()) if len(lay.frame) else 0
        out = [
            f"{lay.path}: {lay.in_file} feature(s) in the file ({lay.crs}), "
            f"{lay.read} near the study area, {self.stored} stored as {lay.kind} "
            f"({named} named) in {self.store}",
            f"  name field: {lay.name_field or '(none)'}; type field: {lay.type_field or '(none)'}",
        ]
        out += [f"  note: {n}" for n in lay.notes]
        return out


def import_layer(
    location: str,
    path: Path,
    kind: str,
    *,
    settings: Settings,
    layer: str | None = None,
    name_field: str | None = None,
    study_area: str | None = None,
) -> LayerImport:
    """Read ``path`` as base layer ``kind`` and store it, replacing the stored one.

    The file is read, checked, clipped to the store's study area (with a 1 km
    margin; ``study_area`` overrides it as for every command) and simplified
    in its metric CRS; the layer then replaces the stored one of its kind in
    one transaction, so a refused or failed import leaves the old layer as it
    was.
    """
    with opened_store(location, init=True, settings=settings, study_area=study_area) as store:
        base = read_base_layer(
            path,
            kind,
            layer=layer,
            name_field=name_field,
            study_area=active_study_area().outline(),
            metric=metric_crs().code,
        )
        with store.writer() as w:
            stored = w.put_features(FAMILY, kind, base.frame, replace=True)
        store.record_run(
            "layers import",
            {"kind": kind, "file": str(path), "layer": layer, "name_field": base.name_field},
            {"in_file": base.in_file, "read": base.read, "stored": stored, "notes": base.notes},
        )
    return LayerImport(base, stored, location)


def stored_layers(store: Store, *, bbox: tuple[float, float, float, float] | None = None) -> Any:
    """Every stored base layer feature (``kind``, ``name``, ``type``, geometry; WGS84).

    ``bbox`` (min_lng, min_lat, max_lng, max_lat) keeps the features that
    meet it. An empty frame when none is stored.
    """
    frame = store.features(FAMILY, None, bbox=bbox)
    if frame is None or len(frame) == 0:
        return empty_layers()
    return frame[frame["kind"].isin(KINDS)].reset_index(drop=True)


def around(bounds: Any, pad_deg: float = 0.03) -> tuple[float, float, float, float]:
    """A (min_lng, min_lat, max_lng, max_lat) box around ``bounds``, grown by ``pad_deg``
    (about 2-3 km: the web map's margin and a printed page's corners)."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    return (x0 - pad_deg, y0 - pad_deg, x1 + pad_deg, y1 + pad_deg)


def empty_layers() -> gpd.GeoDataFrame:
    """A base layer frame with no features."""
    return gpd.GeoDataFrame(
        {
            "kind": pd.Series(dtype=object),
            "code": pd.Series(dtype=object),
            "name": pd.Series(dtype=object),
            "type": pd.Series(dtype=object),
        },
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        crs="EPSG:4326",
    )
