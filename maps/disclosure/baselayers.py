"""Base layers (roads, buildings, landmarks) as each audience may see them.

Base layers are public reference data (OS OpenData, OpenStreetMap, a
council's published mapping): they say nothing about a child, an episode or
intelligence. The rule, decided here and nowhere else: **every audience**
(analyst, neighbourhood, partner) sees them, with their name and type only;
the stored code (a source identifier) is not printed.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geo.errors import ValidationError
from maps.disclosure.rules import AUDIENCES, Audience

BASE_LAYER_KINDS = ("roads", "buildings", "landmarks")
"""The base layers an output may draw."""

BASE_LAYER_COLUMNS = ("kind", "name", "type")
"""What an output may show of a base layer feature, besides its geometry."""

BASE_LAYER_AUDIENCES = AUDIENCES
"""Who sees base layers: every audience (public reference data)."""


def shows_base_layers(audience: Audience) -> bool:
    """Whether ``audience``'s outputs draw the base layers: always (public data)."""
    return audience.name in BASE_LAYER_AUDIENCES


def base_layers_view(features: pd.DataFrame | None, audience: Audience) -> gpd.GeoDataFrame | None:
    """The stored base layer features as ``audience``'s outputs may draw them.

    ``features``: ``kind``, ``name``, ``type`` and a WGS84 geometry (the
    store's ``features("layer")``). Returns None when there is nothing to
    draw or the audience is not shown base layers.
    """
    if features is None or len(features) == 0 or not shows_base_layers(audience):
        return None
    if not isinstance(features, gpd.GeoDataFrame) or features.crs is None:
        msg = "base layer features must be a GeoDataFrame with a CRS (WGS84)."
        raise ValidationError(msg)
    missing = [c for c in ("kind",) if c not in features.columns]
    if missing:
        msg = f"base layer features lack the column(s) {missing}."
        raise ValidationError(msg)
    kept = features[features["kind"].isin(BASE_LAYER_KINDS)]
    out = gpd.GeoDataFrame(
        {c: (kept[c] if c in kept.columns else None) for c in BASE_LAYER_COLUMNS},
        geometry=kept.geometry.to_numpy(),
        crs=features.crs,
    ).reset_index(drop=True)
    out.attrs["audience"] = audience.name
    return out
