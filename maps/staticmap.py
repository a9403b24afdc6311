"""The static map of the printed pack: matplotlib, drawn in British National Grid.

Everything is projected once to EPSG:27700 (metres), so the scale bar is exact
and the grid lines (1 km, 500 m on a small map) are the OS grid squares a printed grid reference is
read against. The figure is drawn with matplotlib's object API (no pyplot
state) and returned as PNG bytes held in memory.
"""

from __future__ import annotations

import io
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrow, Patch, Rectangle
from matplotlib.patheffects import withStroke
from shapely.geometry.base import BaseGeometry

from geo.areas import context_areas, context_label
from geo.boundaries import all_districts
from geo.crs import grid_reference, latlng_to_metric, metric_crs
from geo.errors import ValidationError
from maps.cells import cells_as_int, cells_to_polygons
from maps.disruptions import draw_disruptions, draw_target_badges, noted
from maps.style import (
    AREA_COLOUR,
    CONTEXT_COLOUR,
    HULL_COLOUR,
    MAP_BACKGROUND,
    OTHER_TARGET_FILL,
    SCORE_CLASSES,
    TARGET_FILL,
    TARGET_TEXT,
    CellClass,
    cell_class_lookup,
    drawn_classes,
)

MM_PER_INCH = 25.4
_NICE_LENGTHS_M = (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000)


@dataclass(frozen=True)
class StaticMapSpec:
    """Size of the printed map.

    Parameters
    ----------
    width_mm, height_mm
        Printed size in millimetres.
    dpi
        Raster resolution; 200 dpi is sharp on paper and keeps the PDF small.
    """

    width_mm: float = 180.0
    height_mm: float = 190.0
    dpi: int = 200


@dataclass(frozen=True)
class ClassLayer:
    """Cells coloured by class in place of the hotspot score (the Gi* and trend pages).

    Parameters
    ----------
    cells
        H3 cells (int64) to draw.
    keys
        The class key of each cell, one of ``classes``.
    classes
        The layer's classes (:data:`maps.style.GISTAR_CLASSES` or
        :data:`maps.style.EMERGING_CLASSES`).
    title
        Legend title.
    legend_all
        List every class in the legend (default); ``False`` lists only the
        classes drawn, for long class lists.
    """

    cells: np.ndarray
    keys: Sequence[str]
    classes: tuple[CellClass, ...]
    title: str
    legend_all: bool = True


def mpl_text(text: str) -> str:
    """Text from data made literal for matplotlib (``$`` would start mathtext)."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def nice_scale_length(width_m: float) -> int:
    """A round scale-bar length in metres, about a quarter of the map width."""
    goal = width_m / 4.0
    fitting = [v for v in _NICE_LENGTHS_M if v <= goal]
    return fitting[-1] if fitting else _NICE_LENGTHS_M[0]


def _to_bng(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(metric_crs().code)


def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    """Exterior and interior rings of a (multi)polygon as arrays of (x, y)."""
    out: list[np.ndarray] = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        out.append(shapely.get_coordinates(poly.exterior))
        out.extend(shapely.get_coordinates(r) for r in poly.interiors)
    return out


def _plot_outline(ax: Axes, geom: BaseGeometry, **kwargs: object) -> None:
    for ring in _rings(geom):
        ax.plot(ring[:, 0], ring[:, 1], **kwargs)  # type: ignore[arg-type]


def _extent(
    focus: BaseGeometry, aspect: float, *, pad_frac: float = 0.08, min_pad_m: float = 150.0
) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = focus.bounds
    pad = max(min_pad_m, pad_frac * max(x1 - x0, y1 - y0))
    x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
    w, h = x1 - x0, y1 - y0
    if w / h > aspect:  # too wide: grow height
        extra = (w / aspect - h) / 2
        y0, y1 = y0 - extra, y1 + extra
    else:
        extra = (h * aspect - w) / 2
        x0, x1 = x0 - extra, x1 + extra
    return x0, y0, x1, y1


def _grid(ax: Axes, extent: tuple[float, float, float, float]) -> tuple[str, float]:
    """1 km OS grid lines (500 m when the map is small); returns the 100 km square letters
    and the spacing in metres."""
    x0, y0, x1, y1 = extent
    step = 1000.0 if (x1 - x0) > 2500 else 500.0
    xs = np.arange(math.ceil(x0 / step) * step, x1, step)
    ys = np.arange(math.ceil(y0 / step) * step, y1, step)
    ax.set_xticks(xs)
    ax.set_yticks(ys)

    def label(v: float) -> str:
        km = (v % 100_000) / 1000
        return f"{km:02.0f}" if step >= 1000 or km.is_integer() else f"{km:04.1f}"

    ax.set_xticklabels([label(v) for v in xs], fontsize=6, color="#555555")
    ax.set_yticklabels([label(v) for v in ys], fontsize=6, color="#555555")
    ax.tick_params(length=2, pad=1.5, top=True, right=True, labeltop=True, labelright=True)
    ax.grid(True, color="#9aa0a6", linewidth=0.35, alpha=0.7, zorder=1)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return str(grid_reference([cx], [cy], digits=6)[0]).split(" ")[0], step


def grid_note(
    ax: Axes, extent: tuple[float, float, float, float], square: str, step: float
) -> None:
    """The grid's note in the map's top right corner: ``Grid: OS SD, 1 km squares``."""
    x0, y0, x1, y1 = extent
    ax.text(
        x1 - (x1 - x0) * 0.01,
        y1 - (y1 - y0) * 0.01,
        f"Grid: OS {square}, {'1 km' if step >= 1000 else f'{step:.0f} m'} squares",
        ha="right",
        va="top",
        fontsize=6,
        color="#333333",
        zorder=25,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
    )


def _backing(ax: Axes, x: float, y: float, width: float, height: float) -> None:
    """The white box behind a piece of map furniture (scale bar, north arrow)."""
    ax.add_patch(
        Rectangle(
            (x, y),
            width,
            height,
            facecolor="white",
            edgecolor="#666666",
            linewidth=0.5,
            alpha=0.9,
            zorder=20,
        )
    )


def _scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = extent
    length = nice_scale_length(x1 - x0)
    h = (y1 - y0) * 0.012
    bx, by = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.045
    _backing(ax, bx - (x1 - x0) * 0.015, by - h * 1.6, length + (x1 - x0) * 0.05, h * 5.2)
    half = length / 2
    for i, colour in enumerate(("black", "white", "black", "white")):
        ax.add_patch(
            Rectangle(
                (bx + i * half / 2, by),
                half / 2,
                h,
                facecolor=colour,
                edgecolor="black",
                linewidth=0.6,
                zorder=21,
            )
        )
    for frac, text in ((0.0, "0"), (0.5, f"{half:g}"), (1.0, f"{length:g} m")):
        ax.text(
            bx + frac * length,
            by + h * 1.5,
            text,
            ha="center",
            va="bottom",
            fontsize=6.5,
            zorder=22,
        )


def _north_arrow(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    x0, y0, x1, y1 = extent
    size = (y1 - y0) * 0.06
    ax_, ay = x0 + (x1 - x0) * 0.06, y1 - (y1 - y0) * 0.17
    _backing(ax, ax_ - size * 0.55, ay - size * 0.25, size * 1.1, size * 1.95)
    ax.add_patch(
        FancyArrow(
            ax_,
            ay,
            0,
            size,
            width=size * 0.12,
            head_width=size * 0.45,
            head_length=size * 0.4,
            length_includes_head=True,
            color="black",
            zorder=21,
        )
    )
    ax.text(
        ax_, ay + size * 1.05, "N", ha="center", va="bottom", fontsize=9, weight="bold", zorder=22
    )
    ax.text(ax_, ay - size * 0.08, "grid", ha="center", va="top", fontsize=5, zorder=22)


def _cell_verts(cells: np.ndarray) -> list[np.ndarray]:
    """Each cell's hexagon as an array of BNG (easting, northing) vertices."""
    verts = []
    for poly in cells_to_polygons(cells):
        ring = shapely.get_coordinates(poly.exterior)
        e, n = latlng_to_metric(ring[:, 1], ring[:, 0])
        verts.append(np.c_[e, n])
    return verts


def _draw_classes(ax: Axes, layer: ClassLayer) -> list[Patch | Line2D]:
    """Draw a :class:`ClassLayer`'s cells; returns its legend handles."""
    lookup = cell_class_lookup(layer.classes)
    keys = [str(k) for k in layer.keys]
    unknown = sorted(set(keys) - set(lookup))
    if unknown:
        msg = f"`class_layer.keys` holds classes {unknown[:5]} not in its `classes`."
        raise ValidationError(msg)
    if keys:
        picked = [lookup[k] for k in keys]
        ax.add_collection(
            PolyCollection(
                _cell_verts(np.asarray(layer.cells, dtype=np.int64)),
                facecolors=[c.colour for c in picked],
                edgecolors=[c.edge for c in picked],
                linestyles=["--" if c.dashed else "-" for c in picked],
                linewidths=0.6,
                alpha=0.85,
                zorder=4,
            )
        )
    listed = [c for c in layer.classes if layer.legend_all or c.key in set(keys)]
    handles: list[Patch | Line2D] = [
        Patch(
            facecolor=c.colour,
            edgecolor=c.edge,
            linestyle="--" if c.dashed else "-",
            linewidth=0.8,
            label=c.label,
        )
        for c in listed
    ]
    if not listed:
        handles.append(Patch(facecolor="none", edgecolor="none", label="No cells this period"))
    return handles


def _target_handle(fill: str, size: float, label: str) -> Line2D:
    """A legend entry for target circles of colour ``fill``."""
    return Line2D(
        [],
        [],
        marker="o",
        linestyle="none",
        markersize=size,
        markerfacecolor=fill,
        markeredgecolor="white",
        label=label,
    )


def render_static_map(
    hotspots: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    focus: gpd.GeoDataFrame,
    area: gpd.GeoDataFrame,
    hulls: gpd.GeoDataFrame | None = None,
    highlight: Collection[int] | None = None,
    spec: StaticMapSpec | None = None,
    class_layer: ClassLayer | None = None,
    disruptions: pd.DataFrame | None = None,
) -> bytes:
    """One printed map as PNG bytes.

    Parameters
    ----------
    hotspots
        ``h3``, ``score`` (cells with score <= 0 are not drawn).
    targets
        ``rank``, ``lat``, ``lng``: each drawn as a numbered circle.
    focus
        The polygon(s) the map zooms to (a ward), any CRS with one set.
    area
        All wards of the pack, outlined in black.
    hulls
        DBSCAN cluster polygons, outlined dashed.
    highlight
        Ranks drawn in the strong target colour; others are greyed. ``None``
        highlights every target.
    spec
        Printed size and resolution; default 180 x 190 mm at 200 dpi.
    class_layer
        Draw these classed cells (Gi* classes, emerging patterns) with their
        legend instead of the hotspot score classes.
    disruptions
        A disruptions view (``lat``, ``lng``, ``h3``) drawn as magenta
        diamonds under the targets (:func:`maps.disruptions.draw_disruptions`);
        a target whose ``disruption`` notes one gets a diamond badge.
    """
    spec = spec or StaticMapSpec()
    focus_bng = shapely.union_all(_to_bng(focus).geometry.to_numpy())
    area_bng = _to_bng(area)
    # Axes fill the figure less room for the grid labels on each side.
    left, bottom, right, top = 0.035, 0.03, 0.965, 0.97
    aspect = (spec.width_mm * (right - left)) / (spec.height_mm * (top - bottom))
    extent = _extent(focus_bng, aspect)
    x0, y0, x1, y1 = extent
    view = shapely.box(x0, y0, x1, y1)

    fig = Figure(figsize=(spec.width_mm / MM_PER_INCH, spec.height_mm / MM_PER_INCH), dpi=spec.dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left, bottom, right - left, top - bottom))
    ax.set_facecolor(MAP_BACKGROUND)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    square, step = _grid(ax, extent)

    # Context: every ward and district boundary in view, with ward names.
    context = _to_bng(context_areas())
    context = context[context.intersects(view)]
    for geom in context.geometry:
        _plot_outline(ax, geom, color=CONTEXT_COLOUR, linewidth=0.6, linestyle=(0, (4, 3)))
    # Names of the wards in view other than the focus (the pack's own names win).
    labelled = pd.concat(
        [area_bng[["code", "name", "geometry"]], context[~context["code"].isin(area_bng["code"])]]
    )
    for name, geom in zip(labelled["name"], labelled.geometry, strict=True):
        if geom.intersection(focus_bng).area > 0.5 * geom.area:
            continue
        pt = geom.intersection(view).representative_point()
        near_edge = pt.is_empty or not (
            x0 + 0.12 * (x1 - x0) < pt.x < x1 - 0.12 * (x1 - x0)
            and y0 + 0.03 * (y1 - y0) < pt.y < y1 - 0.03 * (y1 - y0)
        )
        if not near_edge:
            ax.text(
                pt.x,
                pt.y,
                mpl_text(str(name)),
                ha="center",
                va="center",
                fontsize=6.5,
                color="#333333",
                style="italic",
                zorder=12,
                clip_on=True,
                path_effects=[withStroke(linewidth=2.2, foreground="white")],
            )
    for geom in _to_bng(all_districts()).geometry:
        if geom.intersects(view):
            _plot_outline(ax, geom, color="#555555", linewidth=1.2, zorder=2)

    # Hotspot cells by score class, or the classed cells of a Gi* / trend page.
    handles: list[Patch | Line2D]
    if class_layer is None:
        drawn, classes = drawn_classes(hotspots)
        shown = hotspots.loc[drawn]
        if len(shown):
            ax.add_collection(
                PolyCollection(
                    _cell_verts(cells_as_int(shown["h3"])),
                    facecolors=[SCORE_CLASSES[int(c)].colour for c in classes],
                    edgecolors="#b35806",
                    linewidths=0.25,
                    alpha=0.78,
                    zorder=4,
                )
            )
        handles = [
            Patch(facecolor=c.colour, edgecolor="#b35806", linewidth=0.4, label=c.label)
            for c in SCORE_CLASSES
        ]
        legend_title = "Hotspot score"
    else:
        handles = _draw_classes(ax, class_layer)
        legend_title = class_layer.title

    if hulls is not None and len(hulls):
        for geom in _to_bng(hulls).geometry:
            _plot_outline(
                ax, geom, color=HULL_COLOUR, linewidth=1.3, linestyle=(0, (5, 3)), zorder=6
            )

    for geom in area_bng.geometry:
        _plot_outline(ax, geom, color=AREA_COLOUR, linewidth=1.0, zorder=7)
    _plot_outline(ax, focus_bng, color=AREA_COLOUR, linewidth=2.2, zorder=8)

    disruption_handles = draw_disruptions(ax, disruptions, extent)

    # Numbered targets; those of other pages greyed.
    if len(targets):
        te, tn = latlng_to_metric(targets["lat"], targets["lng"])
        ranks = targets["rank"].astype(int).to_numpy()
        strong = (
            np.ones(len(ranks), dtype=bool)
            if highlight is None
            else np.isin(ranks, np.fromiter(highlight, dtype=np.int64))
        )
        inside = (te >= x0) & (te <= x1) & (tn >= y0) & (tn <= y1)
        for e, n, r, s in zip(te[inside], tn[inside], ranks[inside], strong[inside], strict=True):
            ax.scatter(
                [e],
                [n],
                s=190 if s else 120,
                c=TARGET_FILL if s else OTHER_TARGET_FILL,
                edgecolors="white",
                linewidths=1.2,
                zorder=10 if s else 9,
            )
            ax.text(
                e,
                n,
                str(r),
                ha="center",
                va="center_baseline",
                fontsize=7 if s else 6,
                color=TARGET_TEXT,
                weight="bold",
                zorder=11,
            )
        if disruptions is not None:
            badged = inside & noted(targets)
            metres_per_pt = (x1 - x0) / (spec.width_mm / MM_PER_INCH * 72 * (right - left))
            draw_target_badges(ax, te[badged], tn[badged], metres_per_pt)

    _scale_bar(ax, extent)
    _north_arrow(ax, extent)
    handles.append(_target_handle(TARGET_FILL, 9, "Patrol target (rank)"))
    if highlight is not None:
        handles.append(_target_handle(OTHER_TARGET_FILL, 7, "Target in another ward"))
    handles += disruption_handles
    if hulls is not None and len(hulls):
        handles.append(Line2D([], [], color=HULL_COLOUR, linestyle=(0, (5, 3)), label="Cluster"))
    handles.append(
        Line2D([], [], color=AREA_COLOUR, linewidth=2.2, label=f"{context_label()} of this page")
    )
    handles.append(
        Line2D([], [], color=CONTEXT_COLOUR, linestyle=(0, (4, 3)), label="Other ward boundary")
    )
    legend = ax.legend(
        handles=handles,
        loc="lower right",
        ncol=2 if len(handles) > 12 else 1,
        fontsize=6.5,
        title=mpl_text(legend_title),
        title_fontsize=7,
        framealpha=0.92,
        edgecolor="#666666",
        fancybox=False,
    )
    legend.set_zorder(30)
    grid_note(ax, extent, square, step)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=spec.dpi, facecolor="white")
    return buf.getvalue()
