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

from geo.areaindex import AreaIndex
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
        finite = np.isfinite(x) & np.isfinite(y)
        if not finite.all():
            ok, x, y = ok[finite], x[finite], y[finite]
        # Each distinct point is looked up once, in every layer.
        inverse, ux, uy = _unique_points(x, y)
        every = ok.size == la.size
        todo = kinds if kinds is not None else ("district", *self.kinds())
        for kind in todo:
            frame = _districts_near(self.district_codes) if kind == "district" else self.layer(kind)
            layer = _metric_layer(frame, metric_crs().code)
            codes = _assign_distinct(layer, ux, uy, tolerance_m)[inverse]
            if every:
                result[kind] = pd.Series(codes, dtype=object)
            else:
                result.loc[ok, kind] = codes
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


class _Layer:
    """A layer's codes, code order, point-in-polygon index and (when needed) STRtree."""

    def __init__(self, layer: gpd.GeoDataFrame) -> None:
        self.codes = layer["code"].to_numpy(dtype=object)
        self.geoms = layer.geometry.to_numpy()
        order = np.argsort(self.codes.astype(str), kind="stable")
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        self.index = AreaIndex(self.geoms, rank)
        self._tree: shapely.STRtree | None = None

    @property
    def tree(self) -> shapely.STRtree:
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree


_LAYERS: dict[int, tuple[gpd.GeoDataFrame, _Layer]] = {}


def _indexed(layer: gpd.GeoDataFrame) -> _Layer:
    """The layer's index, cached while the frame lives and its codes are unchanged."""
    hit = _LAYERS.get(id(layer))
    if hit is not None and hit[0] is layer:
        codes = layer["code"].to_numpy(dtype=object)
        if codes.size == hit[1].codes.size and bool(np.all(codes == hit[1].codes)):
            return hit[1]
    if len(_LAYERS) > 32:
        _LAYERS.clear()
    indexed = _Layer(layer)
    _LAYERS[id(layer)] = (layer, indexed)
    return indexed


def _unique_points(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each point's place among the distinct points, and their x and y (one hash pass)."""
    xy = np.empty(x.size, dtype=np.complex128)
    xy.real = x
    xy.imag = y
    inverse, uniq = pd.factorize(xy)
    return inverse, np.ascontiguousarray(uniq.real), np.ascontiguousarray(uniq.imag)


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
    (generalised boundaries leave slivers; equally near several, the lowest
    code), else None, as does a point with
    a non-finite coordinate. Vectorised: identical points are tested once,
    through a grid index of the polygons' boxes and one ``intersects_xy``
    call (:mod:`geo.areaindex`); only points in no polygon become shapely
    points, for the nearest-polygon query. The layer is indexed once and
    cached while the frame lives: change a cached layer's geometries by
    making a new frame.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    out = np.full(x.size, None, dtype=object)
    if x.size == 0 or len(layer) == 0:
        return out
    ok = np.isfinite(x) & np.isfinite(y)
    every = bool(ok.all())
    inverse, ux, uy = _unique_points(x, y) if every else _unique_points(x[ok], y[ok])
    ucode = _assign_distinct(layer, ux, uy, tolerance_m)
    if every:
        out[:] = ucode[inverse]
    else:
        out[ok] = ucode[inverse]
    return out


def _assign_distinct(
    layer: gpd.GeoDataFrame,
    ux: npt.NDArray[np.float64],
    uy: npt.NDArray[np.float64],
    tolerance_m: float,
) -> npt.NDArray[np.object_]:
    """:func:`assign_points` of distinct finite points."""
    ucode = np.full(ux.size, None, dtype=object)
    if ux.size == 0 or len(layer) == 0:
        return ucode
    indexed = _indexed(layer)
    poly = indexed.index.holding(ux, uy)
    found = poly >= 0
    ucode[found] = indexed.codes[poly[found]]
    missing = np.flatnonzero(~found)
    if missing.size and tolerance_m > 0:
        near_pt, near_poly = indexed.tree.query_nearest(
            shapely.points(ux[missing], uy[missing]),
            max_distance=tolerance_m,
            all_matches=True,
        )
        if near_pt.size:
            # Equally near several areas: the lowest code, as on a shared edge.
            rank = np.argsort(np.argsort(indexed.codes.astype(str), kind="stable"))
            order = np.lexsort((rank[near_poly], near_pt))
            first = np.r_[True, near_pt[order][1:] != near_pt[order][:-1]]
            pick = order[first]
            ucode[missing[near_pt[pick]]] = indexed.codes[near_poly[pick]]
    return ucode


_active: list[AreaSet | None] = [None]
_page_kind: list[str | None] = [None]


def use_areas(areas: AreaSet | None) -> None:
    """Make ``areas`` the set this process assigns, resolves and pages by (None: the default).

    The page kind chosen for the run (:func:`use_page_kind`) stays while the
    new set holds it: a command opens its store more than once.
    """
    _active[0] = areas
    if areas is None or _page_kind[0] not in (*areas.kinds(), "district"):
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


def assign_areas(
    lat: npt.ArrayLike,
    lng: npt.ArrayLike,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> pd.DataFrame:
    """District, ward, LSOA, neighbourhood and beat codes of each point (None outside).

    The areas are those in use (:func:`active_areas`): the store's imported
    boundaries, or the shipped ones. Points with NaN coordinates get None
    everywhere.
    """
    return active_areas().assign(lat, lng, tolerance_m=tolerance_m)


def forget_boundaries() -> None:
    """Drop what was built from the boundary files (after the folder changes)."""
    _districts_near.cache_clear()
    use_areas(None)
