"""The areas packs page by and points are assigned to: the user's own, or the shipped ones.

An :class:`AreaSet` holds one layer (``code``, ``name``, ``geometry`` WGS84)
per kind of area the store knows: the kinds the user imported with
``engage areas import`` (ward, neighbourhood, beat, lsoa) and, on a study
area that covers Blackburn with Darwen, the shipped wards and LSOAs for the
kinds not imported. Districts (local authorities) always come from the
shipped UK outlines.

One set is active in a process (:func:`use_areas`), set where the store and
its study area are opened; ingest assigns points with it, ``--area`` resolves
names against it and packs page by one of its kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo.boundaries import (
    BWD,
    DEFAULT_TOLERANCE_M,
    all_districts,
    lsoas,
    wards,
)
from geo.crs import WGS84, latlng_to_metric, metric_crs
from geo.errors import ValidationError

IMPORTED_KINDS = ("ward", "neighbourhood", "beat", "lsoa")
"""Kinds of area a user may import, in the order a pack prefers to page by them."""

PAGE_KINDS = (*IMPORTED_KINDS, "district")

KIND_LABELS = {
    "ward": "Ward",
    "neighbourhood": "Neighbourhood",
    "beat": "Beat",
    "lsoa": "LSOA",
    "district": "District",
}


def normalise_name(text: str) -> str:
    """Names compared case-, space- and punctuation-blind, ``&`` read as ``and``."""
    return "".join(ch for ch in str(text).lower().replace("&", "and") if ch.isalnum())


@dataclass(frozen=True)
class AreaSet:
    """Area layers by kind (code, name, geometry WGS84) and where each came from.

    ``sources[kind]`` is ``"imported"`` or ``"shipped"``.
    """

    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    district_codes: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, imported: dict[str, gpd.GeoDataFrame], *, district_codes: tuple[str, ...] = ()
    ) -> AreaSet:
        """Imported layers, plus shipped wards and LSOAs where the study area holds
        Blackburn with Darwen and the user has not imported that kind."""
        layers = {k: _clean(v) for k, v in imported.items() if k in IMPORTED_KINDS and len(v)}
        sources = dict.fromkeys(layers, "imported")
        if BWD in district_codes:
            for kind, shipped in (("ward", wards), ("lsoa", lsoas)):
                if kind not in layers:
                    layers[kind] = shipped()
                    sources[kind] = "shipped"
        ordered = {k: layers[k] for k in IMPORTED_KINDS if k in layers}
        return cls(ordered, {k: sources[k] for k in ordered}, tuple(district_codes))

    def kinds(self) -> list[str]:
        """Kinds held, in paging preference order."""
        return list(self.layers)

    def layer(self, kind: str) -> gpd.GeoDataFrame:
        """One kind's areas; ``district`` gives the shipped local authority outlines."""
        if kind == "district":
            return all_districts()
        if kind not in self.layers:
            held = ", ".join(self.kinds()) or "none"
            msg = (
                f"no {kind} boundaries are loaded (loaded: {held}). Import them with "
                f"`engage areas import FILE --kind {kind}`, or page by one that is loaded."
            )
            raise ValidationError(msg)
        return self.layers[kind]

    def page_kind(self, requested: str | None = None) -> str:
        """The kind a pack pages by: ``requested``, else the first held, else ``district``."""
        if requested is not None:
            if requested not in PAGE_KINDS:
                msg = f"`--page-by` must be one of {', '.join(PAGE_KINDS)}, got `{requested}`."
                raise ValidationError(msg)
            self.layer(requested)
            return requested
        return self.kinds()[0] if self.kinds() else "district"

    def find(self, text: str, kinds: list[str] | None = None) -> tuple[str, str, str]:
        """(kind, code, name) of the area named or coded ``text``.

        Codes match exactly (case-blind); names as :func:`normalise_name`. The
        kinds are searched in order (default: every kind held); a name held by
        two kinds resolves to the first.
        """
        key = normalise_name(text)
        code = str(text).strip().lower()
        for kind in kinds or self.kinds():
            frame = self.layer(kind)
            hit = frame[
                (frame["code"].astype(str).str.lower() == code)
                | (frame["name"].astype(str).map(normalise_name) == key)
            ]
            if len(hit):
                row = hit.iloc[0]
                return kind, str(row["code"]), str(row["name"])
        names = []
        for kind in kinds or self.kinds():
            names += [f"{n} ({kind})" for n in self.layer(kind)["name"].astype(str)]
        listed = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
        msg = (
            f"no area called `{text}`. Known areas: {listed or 'none are loaded'}. "
            "Import more with `engage areas import`."
        )
        raise ValidationError(msg)

    def assign(
        self,
        lat: npt.ArrayLike,
        lng: npt.ArrayLike,
        *,
        tolerance_m: float = DEFAULT_TOLERANCE_M,
        kinds: tuple[str, ...] | None = None,
    ) -> pd.DataFrame:
        """Codes of the district and every held kind for each point (None outside)."""
        la = np.asarray(lat, dtype=np.float64)
        ln = np.asarray(lng, dtype=np.float64)
        result = pd.DataFrame(
            {k: pd.Series(np.full(la.size, None, dtype=object), dtype=object) for k in PAGE_KINDS}
        )[["district", "ward", "lsoa", "neighbourhood", "beat"]]
        ok = np.flatnonzero(np.isfinite(la) & np.isfinite(ln))
        if ok.size == 0:
            return result
        x, y = latlng_to_metric(la[ok], ln[ok])
        todo = kinds if kinds is not None else ("district", *self.kinds())
        for kind in todo:
            frame = _districts_near(self.district_codes) if kind == "district" else self.layer(kind)
            layer = _metric_layer(frame, metric_crs().code)
            result.loc[ok, kind] = assign_points(layer, x, y, tolerance_m=tolerance_m)
        return result


@cache
def _districts_near(codes: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The districts whose box is within 0.2 degrees of the study area's (all, without codes).

    Points further out are outside the study area and never stored, so
    assignment need not search the whole UK.
    """
    every = all_districts()
    if not codes:
        return every
    own = every[every["code"].isin(codes)]
    if own.empty:
        return every
    x0, y0, x1, y1 = own.total_bounds
    b = every.bounds
    near = (
        (b["maxx"] >= x0 - 0.2)
        & (b["minx"] <= x1 + 0.2)
        & (b["maxy"] >= y0 - 0.2)
        & (b["miny"] <= y1 + 0.2)
    )
    return every.loc[near.to_numpy()].reset_index(drop=True)


def _clean(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame(
        {
            "code": frame["code"].astype(str).to_numpy(dtype=object),
            "name": frame["name"].astype(object).to_numpy(dtype=object),
        },
        geometry=gpd.GeoSeries(frame.geometry.to_numpy(), crs=frame.crs or WGS84),
    ).to_crs(WGS84)
    return out.sort_values("code").reset_index(drop=True)


_METRIC: dict[tuple[int, str], tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]] = {}


def _metric_layer(frame: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """The layer in metres, sorted by code, cached while the frame lives."""
    key = (id(frame), crs)
    hit = _METRIC.get(key)
    if hit is None or hit[0] is not frame:
        if len(_METRIC) > 32:
            _METRIC.clear()
        metric = frame.to_crs(crs).sort_values("code").reset_index(drop=True)
        _METRIC[key] = (frame, metric)
        return metric
    return hit[1]


_TREES: dict[int, tuple[gpd.GeoDataFrame, shapely.STRtree]] = {}


def assign_points(
    layer: gpd.GeoDataFrame,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> npt.NDArray[np.object_]:
    """Code of the polygon holding each point (x, y in the layer's metres).

    A point on a shared edge or in overlapping polygons takes the lowest
    code; a point in none takes the nearest polygon within ``tolerance_m``
    (generalised boundaries leave slivers), else None. Vectorised: identical
    points are tested once, through one spatial-index query.
    """
    out = np.full(x.size, None, dtype=object)
    if x.size == 0 or len(layer) == 0:
        return out
    hit = _TREES.get(id(layer))
    if hit is None or hit[0] is not layer:
        if len(_TREES) > 32:
            _TREES.clear()
        tree = shapely.STRtree(layer.geometry.to_numpy())
        _TREES[id(layer)] = (layer, tree)
    else:
        tree = hit[1]
    codes = layer["code"].to_numpy(dtype=object)
    order = np.argsort(codes.astype(str), kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    xy = np.column_stack([x, y])
    uniq, inverse = np.unique(xy, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    pts = shapely.points(uniq[:, 0], uniq[:, 1])
    pi, gi = tree.query(pts, predicate="intersects")
    best = np.full(uniq.shape[0], np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, pi, rank[gi])
    found = best != np.iinfo(np.int64).max
    ucode = np.full(uniq.shape[0], None, dtype=object)
    ucode[found] = codes[order[best[found]]]
    missing = np.flatnonzero(~found)
    if missing.size and tolerance_m > 0:
        near_pt, near_poly = tree.query_nearest(
            pts[missing], max_distance=tolerance_m, all_matches=False
        )
        ucode[missing[near_pt]] = codes[near_poly]
    out[:] = ucode[inverse]
    return out


_active: list[AreaSet | None] = [None]
_page_kind: list[str | None] = [None]


def use_areas(areas: AreaSet | None) -> None:
    """Make ``areas`` the set this process assigns, resolves and pages by (None: the default)."""
    _active[0] = areas
    _page_kind[0] = None


def use_page_kind(kind: str | None) -> None:
    """The kind of area this run's pack pages by and labels (None: the first held)."""
    _page_kind[0] = None if kind is None else active_areas().page_kind(kind)


def active_areas() -> AreaSet:
    """The areas in use: those of the opened store (the shipped Blackburn with Darwen
    wards and LSOAs until a store is opened)."""
    current = _active[0]
    if current is None:
        current = _active[0] = AreaSet.build({}, district_codes=(BWD,))
    return current


def context_areas() -> gpd.GeoDataFrame:
    """The areas maps draw for orientation: the first kind held (wards where loaded),
    else the local authority outlines."""
    areas = active_areas()
    return areas.layer(_page_kind[0] or areas.page_kind())


def context_label() -> str:
    """What :func:`context_areas` are called on a map (``Ward``, ``Neighbourhood`` ...)."""
    return KIND_LABELS[_page_kind[0] or active_areas().page_kind()]
