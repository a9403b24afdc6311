"""Base layers (roads, buildings, landmarks) on the web map and the printed maps.

The layers come as a view of :func:`maps.disclosure.base_layers_view` (every
audience sees them: public reference data). Each output takes only what it
can show: the web map the features meeting its extent, simplified to about
5 m with coordinates rounded to 5 decimals (about 1 m) and roads merged by
name, so map.html stays small; a printed map the features of its page,
simplified to a quarter of a printed point, with the names of a few of the
longest named roads along them. Every step is an array call (shapely,
numpy, pandas); no Python loop runs over the features.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.patheffects import withStroke

from geo.crs import WGS84, metric_crs, metric_to_latlng

WEB_TOLERANCE_DEG = 0.00005
"""Simplification on the web map: 0.00005 degrees, about 5 m north-south (3 m east-west)."""
WEB_SCALE = 100_000
"""Coordinates on the web map are whole numbers of 0.00001 degree (5 decimals, about 1 m):
the page carries ``-251998`` for -2.51998 and Leaflet divides by this scale."""

ROAD_COLOUR = "#8f8f8f"
MAJOR_ROAD_COLOUR = "#6f6f6f"
MAJOR_ROAD_FILL = "#fff1b8"
BUILDING_FILL = "#dcdcdc"
BUILDING_EDGE = "#c4c4c4"
LANDMARK_COLOUR = "#2f6f4f"
LABEL_COLOUR = "#303030"

LABEL_PT = 5.5
"""Size of the road names on a printed map, in points."""

DETAIL_M_PER_PT = 12.0
"""Above this many metres per printed point (about 1:34,000), minor roads are hairlines."""

MAX_ROAD_LABELS = 8
"""Road names printed on one map page, at most (the longest named roads in view)."""

_MAJOR = ("motorway", "trunk", "primary", "secondary", "a road", "b road", "a_road", "b_road")

LAYER_TITLES = {"roads": "Roads", "buildings": "Buildings", "landmarks": "Landmarks"}
"""Names of the base layers in the web map's layer control."""


def _of_kind(view: gpd.GeoDataFrame | None, kind: str) -> gpd.GeoDataFrame | None:
    if view is None or len(view) == 0:
        return None
    part = view[view["kind"] == kind]
    return part if len(part) else None


def _major(types: pd.Series) -> npt.NDArray[np.bool_]:
    text = types.fillna("").astype(str).str.lower()
    return np.asarray(text.str.contains("|".join(_MAJOR), regex=True), dtype=bool)


def _merged_by_name(
    geoms: npt.NDArray[np.object_], names: pd.Series, dim: int
) -> tuple[list[str | None], npt.NDArray[np.object_]]:
    """One multi-geometry (lines ``dim`` 1, polygons 2) per distinct name, unnamed together."""
    key = names.fillna("\x00").astype(str).to_numpy()
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_dimensions(parts) == dim
    parts, owner = parts[keep], owner[keep]
    uniq, group = np.unique(key[owner], return_inverse=True)
    order = np.argsort(group, kind="stable")
    parts, group = parts[order], group[order]
    maker = shapely.multilinestrings if dim == 1 else shapely.multipolygons
    merged = np.asarray(maker(parts, indices=group), dtype=object)
    labels = [None if u == "\x00" else str(u) for u in uniq]
    return labels, merged


def _web_geoms(
    frame: gpd.GeoDataFrame, bounds: tuple[float, float, float, float]
) -> tuple[gpd.GeoDataFrame, npt.NDArray[np.object_]]:
    """The features meeting ``bounds`` (lng/lat), cut to it, simplified and rounded."""
    geoms = frame.to_crs(WGS84).geometry.to_numpy()
    w, s, e, n = bounds
    keep = shapely.intersects(geoms, shapely.box(w, s, e, n))
    frame, geoms = frame[keep], geoms[keep]
    geoms = shapely.clip_by_rect(geoms, w, s, e, n)
    geoms = shapely.simplify(geoms, WEB_TOLERANCE_DEG, preserve_topology=True)
    ok = ~shapely.is_empty(geoms) & ~pd.isna(geoms)
    return frame[ok], geoms[ok]


def _scaled(geoms: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Coordinates as whole numbers of 1 / :data:`WEB_SCALE` degree."""
    return np.asarray(shapely.transform(geoms, lambda c: np.round(c * WEB_SCALE)), dtype=object)


def _safe_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` block, as Jinja's ``tojson`` (``<>&'`` escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


def _collection(tips: list[str], geoms: npt.NDArray[np.object_], major: Any = None) -> str:
    """A GeoJSON FeatureCollection as JSON text: geometry from shapely, ``tip`` and ``major``."""
    # Whole numbers print as ``-251998.0``: the ``.0`` goes.
    geo_text = (
        pd.Series(shapely.to_geojson(_scaled(geoms)), dtype=object)
        .str.replace(".0,", ",", regex=False)
        .str.replace(".0]", "]", regex=False)
    )
    tips_json = pd.Series([_safe_json(t) for t in tips], dtype=object)
    flags = (
        pd.Series(np.where(np.asarray(major, dtype=bool), "1", "0"), dtype=object)
        if major is not None
        else pd.Series(["0"] * len(tips), dtype=object)
    )
    features = (
        '{"type":"Feature","properties":{"tip":'
        + tips_json
        + ',"major":'
        + flags
        + '},"geometry":'
        + geo_text
        + "}"
    )
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


@dataclass(frozen=True)
class WebLayer:
    """One base layer for the web map: its key, title and GeoJSON text (safe in a script)."""

    kind: str
    title: str
    geojson: str
    n_features: int


def web_layers(
    view: gpd.GeoDataFrame | None, bounds: tuple[float, float, float, float], escape: Any
) -> list[WebLayer]:
    """The web map's base layers within ``bounds`` (min lng, min lat, max lng, max lat).

    Roads and buildings are merged by name (one path each on the page; a
    tooltip names the road); landmarks stay one marker each. ``escape`` is
    the map's HTML escape for names (tooltips are HTML).
    """
    out: list[WebLayer] = []
    for kind in ("buildings", "roads", "landmarks"):
        frame = _of_kind(view, kind)
        if frame is None:
            continue
        frame, geoms = _web_geoms(frame, bounds)
        if len(frame) == 0:
            continue
        if kind == "landmarks":
            pts = shapely.point_on_surface(geoms)
            tips = [escape(v) for v in frame["name"].fillna("Landmark")]
            text = _collection(tips, pts)
            n = len(pts)
        else:
            names = frame["name"]
            if kind == "roads":
                major = _major(frame["type"])
                # Major and minor roads apart, each merged by name.
                parts_tips: list[str] = []
                parts_geoms: list[Any] = []
                flags: list[bool] = []
                for is_major in (False, True):
                    sel = major == is_major
                    if not sel.any():
                        continue
                    labels, merged = _merged_by_name(geoms[sel], names[sel], 1)
                    parts_tips += ["Road" if v is None else escape(v) for v in labels]
                    parts_geoms += list(merged)
                    flags += [is_major] * len(labels)
                text = _collection(parts_tips, np.asarray(parts_geoms, dtype=object), flags)
                n = len(parts_tips)
            else:
                labels, merged = _merged_by_name(geoms, names, 2)
                tips = ["Building" if v is None else escape(v) for v in labels]
                text = _collection(tips, merged)
                n = len(tips)
        out.append(WebLayer(kind, LAYER_TITLES[kind], text, n))
    return out


BASE_STYLES: dict[str, dict[str, dict[str, Any]]] = {
    "roads": {
        "plain": {"color": ROAD_COLOUR, "weight": 2, "opacity": 0.85},
        "major": {"color": MAJOR_ROAD_COLOUR, "weight": 3.5, "opacity": 0.9},
    },
    "buildings": {
        "plain": {
            "color": BUILDING_EDGE,
            "weight": 0.5,
            "fillColor": BUILDING_FILL,
            "fillOpacity": 0.85,
        },
        "major": {},
    },
    "landmarks": {
        "point": {
            "radius": 4,
            "color": "#ffffff",
            "weight": 1,
            "fillColor": LANDMARK_COLOUR,
            "fillOpacity": 0.95,
        },
        "plain": {},
        "major": {},
    },
}
"""How the web map draws the base layers (roads grey, buildings light grey, landmarks dots)."""


def legend_rows(kinds: list[str]) -> tuple[str, ...]:
    """The web map legend's rows for the base layers drawn."""
    rows = {
        "roads": f'<div class="engage-legend-row"><i class="engage-legend-area" '
        f'style="border-color:{ROAD_COLOUR}"></i>Road (name on hover)</div>',
        "buildings": f'<div class="engage-legend-row"><i style="background:{BUILDING_FILL}">'
        "</i>Building</div>",
        "landmarks": f'<div class="engage-legend-row"><i class="engage-legend-dot" '
        f'style="background:{LANDMARK_COLOUR}"></i>Landmark</div>',
    }
    return tuple(rows[k] for k in ("roads", "buildings", "landmarks") if k in kinds)


# --- printed maps ------------------------------------------------------------------------------


def _page_geoms(
    frame: gpd.GeoDataFrame, extent: tuple[float, float, float, float], tolerance_m: float
) -> tuple[gpd.GeoDataFrame, npt.NDArray[np.object_]]:
    """The features of a page (extent in the metric CRS), cut to it and simplified for the
    print scale."""
    x0, y0, x1, y1 = extent
    lat, lng = metric_to_latlng([x0, x0, x1, x1], [y0, y1, y0, y1])
    pad = 0.002
    geoms = frame.geometry.to_numpy()
    near = shapely.intersects(
        geoms, shapely.box(lng.min() - pad, lat.min() - pad, lng.max() + pad, lat.max() + pad)
    )
    frame = frame[near]
    if len(frame) == 0:
        return frame, np.empty(0, dtype=object)
    geoms = frame.set_crs(WGS84, allow_override=True).to_crs(metric_crs().code).geometry.to_numpy()
    geoms = shapely.clip_by_rect(geoms, x0, y0, x1, y1)
    geoms = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    ok = ~shapely.is_empty(geoms) & ~pd.isna(geoms)
    return frame[ok], geoms[ok]


def _compound_path(geoms: npt.NDArray[np.object_], *, closed: bool = False) -> Path | None:
    """Every line (``closed``: every polygon's outer ring) of ``geoms`` as one matplotlib path.

    One path of many pieces draws and builds far faster than a collection of
    one path per piece (tens of thousands of road links on a page).
    """
    parts = shapely.get_parts(geoms)
    if closed:
        parts = shapely.get_exterior_ring(parts[shapely.get_type_id(parts) == 3])
    else:
        parts = parts[shapely.get_dimensions(parts) == 1]
    coords, which = shapely.get_coordinates(parts, return_index=True)
    if len(coords) == 0:
        return None
    codes = np.full(len(coords), Path.LINETO, dtype=Path.code_type)
    starts = np.r_[0, np.flatnonzero(np.diff(which)) + 1]
    codes[starts] = Path.MOVETO
    if closed:
        codes[np.r_[starts[1:] - 1, len(coords) - 1]] = Path.CLOSEPOLY
    return Path(coords, codes)


@dataclass(frozen=True)
class RoadLabel:
    """A road name printed on a map: where (metric CRS), the angle (degrees) and the text."""

    name: str
    x: float
    y: float
    angle: float


def road_labels(
    frame: gpd.GeoDataFrame,
    geoms: npt.NDArray[np.object_],
    *,
    metres_per_pt: float,
    avoid: npt.NDArray[np.float64] | None = None,
    limit: int = MAX_ROAD_LABELS,
    fontsize: float = LABEL_PT,
) -> list[RoadLabel]:
    """Names for the longest named roads in view, one label each, clear of the targets.

    A road's pieces (links are cut at every junction) are merged into
    continuous lines by name; the roads are ranked by their length in view
    and each is labelled at the middle of its longest line, along it, kept
    upright, when the name fits that line. A label closer than 14 points to
    a point of ``avoid`` (target circles, metric CRS) or 40 points to another label
    is left out.
    """
    named = frame["name"].notna().to_numpy()
    if not named.any():
        return []
    names, merged = _merged_by_name(geoms[named], frame["name"][named], 1)
    merged = shapely.line_merge(merged)
    order = np.argsort(-shapely.length(merged), kind="stable")
    placed: list[RoadLabel] = []
    clear_target = 14.0 * metres_per_pt
    clear_label = 40.0 * metres_per_pt
    for j in order[: limit * 4]:
        if len(placed) >= limit:
            break
        name = names[j]
        parts = shapely.get_parts(merged[j])
        line = parts[int(np.argmax(shapely.length(parts)))]
        if shapely.length(line) < 0.62 * fontsize * len(str(name)) * metres_per_pt * 1.3:
            continue
        mid = shapely.line_interpolate_point(line, 0.5, normalized=True)
        x, y = float(shapely.get_x(mid)), float(shapely.get_y(mid))
        near_target = (
            avoid is not None
            and len(avoid) > 0
            and float(np.min(np.hypot(avoid[:, 0] - x, avoid[:, 1] - y))) < clear_target
        )
        if near_target or any(np.hypot(p.x - x, p.y - y) < clear_label for p in placed):
            continue
        step = 3.0 * metres_per_pt
        at = shapely.line_locate_point(line, mid)
        a = shapely.line_interpolate_point(line, max(at - step, 0.0))
        b = shapely.line_interpolate_point(line, at + step)
        angle = float(
            np.degrees(
                np.arctan2(shapely.get_y(b) - shapely.get_y(a), shapely.get_x(b) - shapely.get_x(a))
            )
        )
        if angle > 90:
            angle -= 180
        elif angle < -90:
            angle += 180
        placed.append(RoadLabel(str(name), x, y, angle))
    return placed


def draw_base_layers(
    ax: Axes,
    view: gpd.GeoDataFrame | None,
    extent: tuple[float, float, float, float],
    *,
    metres_per_pt: float,
    avoid: npt.NDArray[np.float64] | None = None,
    text: Any = str,
) -> tuple[list[Patch | Line2D], list[str]]:
    """Draw the base layers of a printed map under its cells (axes in the metric CRS).

    Returns the legend handles and the road names printed. ``text`` makes
    data safe for matplotlib (``$`` starts mathtext).
    """
    handles: list[Patch | Line2D] = []
    named: list[str] = []
    tolerance = 0.25 * metres_per_pt
    buildings = _of_kind(view, "buildings")
    if buildings is not None:
        _, geoms = _page_geoms(buildings, extent, tolerance)
        outlines = _compound_path(geoms, closed=True)
        if outlines is not None:
            ax.add_collection(
                PathCollection(
                    [outlines],
                    facecolors=BUILDING_FILL,
                    edgecolors=BUILDING_EDGE,
                    linewidths=0.2,
                    zorder=1.4,
                ),
                autolim=False,
            )
            handles.append(
                Patch(facecolor=BUILDING_FILL, edgecolor=BUILDING_EDGE, label="Building")
            )
    roads = _of_kind(view, "roads")
    if roads is not None:
        frame, geoms = _page_geoms(roads, extent, tolerance)
        if len(frame):
            major = _major(frame["type"])
            # A grey casing under a white (major roads: pale yellow) line, as on a street
            # map, so roads do not read as the OS grid's thin grey lines. On a map of a
            # whole district (over DETAIL_M_PER_PT) the minor roads are hairlines.
            detail = metres_per_pt <= DETAIL_M_PER_PT
            styles = (
                (False, 1.7, 1.0, "#ffffff") if detail else (False, 0.0, 0.3, ROAD_COLOUR),
                (True, 2.6, 1.8, MAJOR_ROAD_FILL) if detail else (True, 1.6, 1.0, MAJOR_ROAD_FILL),
            )
            for is_major, casing, inner, fill in styles:
                path = _compound_path(geoms[major == is_major])
                if path is None:
                    continue
                strokes = ((casing, ROAD_COLOUR, 1.55), (inner, fill, 1.6))
                for width, colour, z in (s for s in strokes if s[0] > 0):
                    ax.add_collection(
                        PathCollection(
                            [path],
                            facecolors="none",
                            edgecolors=colour,
                            linewidths=width,
                            capstyle="round",
                            joinstyle="round",
                            zorder=z + (0.01 if is_major else 0.0),
                        ),
                        autolim=False,
                    )
            handles.append(
                Line2D(
                    [],
                    [],
                    color="#ffffff",
                    linewidth=1.2,
                    path_effects=[withStroke(linewidth=2.0, foreground=ROAD_COLOUR)],
                    label="Road",
                )
            )
            for lab in road_labels(frame, geoms, metres_per_pt=metres_per_pt, avoid=avoid):
                ax.text(
                    lab.x,
                    lab.y,
                    text(lab.name),
                    rotation=lab.angle,
                    rotation_mode="anchor",
                    ha="center",
                    va="center",
                    fontsize=LABEL_PT,
                    color=LABEL_COLOUR,
                    zorder=9.5,
                    clip_on=True,
                    path_effects=[withStroke(linewidth=1.8, foreground="white")],
                )
                named.append(lab.name)
    landmarks = _of_kind(view, "landmarks")
    if landmarks is not None:
        _, geoms = _page_geoms(landmarks, extent, tolerance)
        if len(geoms):
            pts = shapely.get_coordinates(shapely.point_on_surface(geoms))
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=9,
                marker="s",
                c=LANDMARK_COLOUR,
                edgecolors="white",
                linewidths=0.4,
                zorder=1.8,
            )
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="s",
                    linestyle="none",
                    markersize=3.5,
                    markerfacecolor=LANDMARK_COLOUR,
                    markeredgecolor="white",
                    label="Landmark",
                )
            )
    return handles, named
