"""The review pack's pictures: the map of the areas compared, the before/after series
and the cumulative difference, drawn offline with matplotlib as PNG bytes.

They draw only what a :class:`maps.disclosure.review.ReviewShown` holds: partners'
series are the view's 4-weekly shown values, never a hidden count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.patheffects import withStroke
from matplotlib.ticker import MaxNLocator, MultipleLocator
from matplotlib.transforms import blended_transform_factory
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from geo.areas import context_areas
from geo.calendar import uk_date
from geo.crs import latlng_to_metric, metric_crs
from maps.disclosure.review import PERIOD_WEEKS, ReviewShown
from maps.plots import _png
from maps.staticmap import (
    _extent,
    _grid,
    _north_arrow,
    _plot_outline,
    _scale_bar,
    grid_note,
    mpl_text,
)
from maps.style import CONTEXT_COLOUR, MAP_BACKGROUND, OTHER_TARGET_FILL, TARGET_FILL

HTML_DPI = 110
"""Resolution of the map and charts embedded in the HTML page."""


MAP_SIZE_MM = (176.0, 90.0)
"""Printed width and height of each disruption's map."""


CHART_WIDTH_MM = 176.0
"""Printed width of the series and cumulative charts."""


AREA_ORDER = ("response", "buffer", "control", "buffer_control")
"""Areas in the order the charts, tables and legend list them (rings after ``buffer``)."""


HIDDEN_FILL = "#d9d9d9"
"""Fill of a period whose count is withheld (partners)."""


_AREA_STYLE: dict[str, dict[str, Any]] = {
    "response": {"facecolor": "#d7301f", "edgecolor": "#7f0000", "alpha": 0.55, "zorder": 7},
    "control": {
        "facecolor": "#4575b4",
        "edgecolor": "#313695",
        "alpha": 0.4,
        "hatch": "///",
        "zorder": 5,
    },
    "buffer_control": {
        "facecolor": "#1a9850",
        "edgecolor": "#00441b",
        "alpha": 0.35,
        "hatch": "\\\\\\",
        "zorder": 5,
    },
}


_LINE_COLOUR = {
    "response": "#b2182b",
    "control": "#2166ac",
    "buffer_control": "#1a7837",
}


def _metres(v: float) -> str:
    return f"{v:g} m"


def area_title(area: str, spec: Mapping[str, Any]) -> str:
    """A series area as a chart or table heading: ``Response area (within 150 m)``."""
    r = float(spec.get("response_m", 0))
    rings = [float(b) for b in spec.get("buffer_m", [])]
    if area == "response":
        return f"Response area (within {_metres(r)})"
    if area == "buffer":
        outer = rings[-1] if rings else r
        return f"Buffer ({r:g} to {_metres(outer)})"
    if area == "control":
        return "Control"
    if area == "buffer_control":
        return "Buffer's control"
    if area.startswith("buffer_"):
        outer = float(area.split("_", 1)[1])
        inner = max([r, *[b for b in rings if b < outer - 0.5]])
        return f"Buffer ring {inner:g} to {_metres(outer)}"
    return area.replace("_", " ")


def _area_key(area: str) -> tuple[int, float]:
    """Sort key of an area name: :data:`AREA_ORDER`, rings after the whole buffer by radius."""
    if area in AREA_ORDER:
        return (AREA_ORDER.index(area) * 2, 0.0)
    if area.startswith("buffer_"):
        try:
            return (AREA_ORDER.index("buffer") * 2 + 1, float(area.split("_", 1)[1]))
        except ValueError:
            pass
    return (len(AREA_ORDER) * 2, 0.0)


def series_bars(shown: ReviewShown, disruption_id: str) -> pd.DataFrame:
    """What the series chart of ``disruption_id`` draws, one row per area and week (or period).

    Columns ``area``, ``x`` (the week, or for partners the 4-week period,
    counted from the disruption: negative before, positive after),
    ``value`` (the shown count as a number; NaN where the view shows text
    such as ``<5`` or ``[c]``), ``label`` (the shown text) and ``hidden``
    (drawn as a hatched grey period, never as a bar). Read from the view's
    ``shown`` column only.
    """
    s = shown.series
    if s.empty or "disruption_id" not in s.columns:
        return pd.DataFrame({"area": [], "x": [], "value": [], "label": [], "hidden": []}).astype(
            {"x": np.int64, "value": np.float64, "hidden": bool}
        )
    part = s.loc[s["disruption_id"].astype(str) == str(disruption_id)]
    label = part["shown"].astype(str).to_numpy()
    value = pd.to_numeric(pd.Series(label), errors="coerce").to_numpy(np.float64)
    out = pd.DataFrame(
        {
            "area": part["area"].astype(str).to_numpy(),
            "x": part["week"].astype(np.int64).to_numpy(),
            "value": value,
            "label": label,
            "hidden": np.isnan(value),
        }
    )
    order = out["area"].map(_area_key)
    return (
        out.assign(_k=order)
        .sort_values(["_k", "x"], kind="stable")
        .drop(columns="_k")
        .reset_index(drop=True)
    )


def _disruption_week(shown: ReviewShown, did: str) -> str:
    """The UK date of the Monday of the disruption's week, from its series (``""`` if none)."""
    s = shown.series
    if s.empty or "week_start" not in s.columns:
        return ""
    part = s.loc[(s["disruption_id"].astype(str) == did) & (s["week"] == 1), "week_start"]
    if not len(part):
        return ""
    return uk_date(pd.Timestamp(part.min()) - pd.Timedelta(days=7))


def _mark_disruption(ax: Axes) -> None:
    """The disruption's week: a vertical line at 0, labelled along it."""
    ax.axvline(0, color="black", linewidth=1.1, linestyle="-", zorder=6)
    ax.text(
        0,
        0.97,
        "disruption ",
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        rotation=90,
        ha="right",
        va="top",
        fontsize=5.5,
        zorder=7,
        path_effects=[withStroke(linewidth=1.5, foreground="white")],
    )


def review_series_png(shown: ReviewShown, disruption_id: str, *, dpi: int = HTML_DPI) -> bytes:
    """PNG of the before/after series of each area of ``disruption_id``, one panel per area.

    Analysts: weekly counts as a step line, with the mean per week before and
    after dashed. Partners: 4-weekly totals as bars labelled with their
    shown values; a period shown as ``<5`` or ``[c]`` is a hatched grey band
    carrying that text. The disruption's week is the vertical line at 0.
    """
    bars = series_bars(shown, disruption_id)
    partner = shown.audience.partner
    areas = list(dict.fromkeys(bars["area"])) or ["response"]
    ncols = 1 if len(areas) == 1 else 2 if len(areas) <= 4 else 3
    nrows = math.ceil(len(areas) / ncols)
    width_in = CHART_WIDTH_MM / 25.4
    row_in = 1.55 if partner else 1.65
    fig = Figure(figsize=(width_in, 0.45 + row_in * nrows), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax in axes.ravel()[len(areas) :]:
        ax.set_visible(False)
    for ax, area in zip(axes.ravel(), areas, strict=False):
        part = bars.loc[bars["area"] == area]
        colour = _LINE_COLOUR.get(area, "#b35806")
        x = part["x"].to_numpy(np.int64)
        v = part["value"].to_numpy(np.float64)
        top = float(np.nanmax(v)) if np.isfinite(v).any() else 0.0
        top = max(top * 1.25, 5.0 if partner else 2.0)
        title = area_title(area, shown.spec)
        if partner:
            shown_bars = ~part["hidden"].to_numpy(bool)
            ax.bar(x[shown_bars], v[shown_bars], width=0.8, color=colour, alpha=0.8, zorder=3)
            for xi, vi, text in zip(
                x[shown_bars], v[shown_bars], part["label"].to_numpy()[shown_bars], strict=True
            ):
                ax.text(xi, vi, mpl_text(text), ha="center", va="bottom", fontsize=6.5, zorder=4)
            for xi, text in zip(x[~shown_bars], part["label"].to_numpy()[~shown_bars], strict=True):
                ax.axvspan(
                    xi - 0.4,
                    xi + 0.4,
                    facecolor=HIDDEN_FILL,
                    edgecolor="#737373",
                    hatch="xx",
                    linewidth=0.5,
                    zorder=2,
                )
                ax.text(
                    xi,
                    0.04,
                    mpl_text(text),
                    transform=blended_transform_factory(ax.transData, ax.transAxes),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    weight="bold",
                    zorder=4,
                    path_effects=[withStroke(linewidth=2, foreground="white")],
                )
            ax.set_xticks(x, [f"{k:+d}" for k in x])
            # partners' counts are multiples of 5: so are the ticks
            ax.yaxis.set_major_locator(MultipleLocator(5 * math.ceil(top / 25)))
        else:
            means = []
            for side in (x < 0, x > 0):
                if side.any():
                    ax.step(x[side], v[side], where="mid", color=colour, linewidth=1.3, zorder=3)
                    mean = float(np.nanmean(v[side]))
                    lo, hi = x[side].min() - 0.5, x[side].max() + 0.5
                    ax.hlines(mean, lo, hi, colors=colour, linestyles="--", linewidth=0.9)
                    means.append(f"{mean:.1f}")
            if len(means) == 2:
                title += f"\nmean {means[0]} a week before, {means[1]} after"
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _mark_disruption(ax)
        ax.set_ylim(0, top)
        ax.set_title(mpl_text(title), fontsize=7, loc="left")
        ax.tick_params(labelsize=6.5)
        ax.grid(True, axis="y", alpha=0.3)
    unit = f"{PERIOD_WEEKS}-week periods" if partner else "weeks"
    fig.supxlabel(f"{unit} before (-) and after (+) the disruption", fontsize=7.5, y=0.01)
    fig.supylabel(f"events per {'period' if partner else 'week'}", fontsize=7.5, x=0.005)
    # fixed margins (in inches) rather than tight_layout, which measures every label twice
    height = fig.get_figheight()
    fig.subplots_adjust(
        left=0.075,
        right=0.985,
        bottom=0.42 / height,
        top=1 - (0.25 if partner else 0.36) / height,
        wspace=0.18 if ncols == 3 else 0.12,
        hspace=(0.45 if partner else 0.62) / (row_in - 0.5),
    )
    return _png(fig, dpi)


def review_cumulative_png(
    shown: ReviewShown, disruption_id: str, *, dpi: int = HTML_DPI
) -> bytes | None:
    """PNG of the weekly difference, response area minus control, added up week by week.

    Analysts only: ``None`` when the view has no cumulative frame (partners)
    or no weeks for ``disruption_id``.
    """
    c = shown.cumulative
    if c is None or shown.audience.partner or c.empty:
        return None
    part = c.loc[c["disruption_id"].astype(str) == str(disruption_id)].sort_values("week")
    if part.empty:
        return None
    fig = Figure(figsize=(CHART_WIDTH_MM / 25.4, 2.3), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = part["week"].to_numpy(np.int64)
    y = part["cumulative"].to_numpy(np.float64)
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.plot(x, y, marker="o", markersize=2.5, color="#542788", linewidth=1.3, zorder=3)
    _mark_disruption(ax)
    ax.set_xlabel("weeks before (-) and after (+) the disruption", fontsize=7.5)
    ax.set_ylabel("response minus control,\nadded up", fontsize=7.5)
    ax.tick_params(labelsize=6.5)
    ax.grid(True, alpha=0.3)
    fig.subplots_adjust(left=0.1, right=0.985, bottom=0.2, top=0.95)
    return _png(fig, dpi)


def _patches(geom: BaseGeometry, **style: Any) -> list[PathPatch]:
    """A (multi)polygon as matplotlib patches, holes kept (a buffer ring is a disc with a hole)."""
    out = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        p = orient(poly, 1.0)
        rings = [np.asarray(p.exterior.coords)] + [np.asarray(r.coords) for r in p.interiors]
        path = MplPath.make_compound_path(*[MplPath(r, closed=True) for r in rings])
        out.append(PathPatch(path, **style))
    return out


def _ring_style(area: str, rings: Sequence[str]) -> dict[str, Any]:
    """Buffer rings in oranges, the inner ones darker."""
    cmap = colormaps["Oranges"]
    i = rings.index(area) if area in rings else 0
    shade = 0.55 - 0.3 * (i / max(1, len(rings) - 1)) if len(rings) > 1 else 0.45
    return {"facecolor": cmap(shade), "edgecolor": "#b35806", "alpha": 0.55, "zorder": 6}


def _map_areas(shown: ReviewShown, did: str) -> gpd.GeoDataFrame:
    a = shown.areas
    if a.empty:
        return a
    keep = a["disruption_id"].astype(str).isin([did, "*"])
    part = a.loc[keep].copy()
    part = part.assign(_k=part["area"].astype(str).map(_area_key))
    part = part.sort_values("_k", kind="stable").drop(columns="_k")
    return part.to_crs(metric_crs().code)


def _context(
    ax: Axes,
    view: BaseGeometry,
    extent: tuple[float, float, float, float],
    drawn: BaseGeometry,
) -> None:
    """Ward outlines and names in view, for orientation (no name over the ``drawn`` areas)."""
    x0, y0, x1, y1 = extent
    context = context_areas().to_crs(metric_crs().code)
    context = context[context.intersects(view)]
    for name, geom in zip(context["name"], context.geometry, strict=True):
        _plot_outline(
            ax, geom, color=CONTEXT_COLOUR, linewidth=0.7, linestyle=(0, (4, 3)), zorder=2
        )
        pt = geom.intersection(view).representative_point()
        if pt.is_empty:
            continue
        fx, fy = (pt.x - x0) / (x1 - x0), (pt.y - y0) / (y1 - y0)
        inside = (
            0.15 < fx < 0.85
            and 0.1 < fy < 0.9
            and not (fx > 0.6 and fy < 0.4)  # the legend's corner
            and not drawn.buffer(80).contains(pt)
        )
        if inside:
            ax.text(
                pt.x,
                pt.y,
                mpl_text(str(name)),
                ha="center",
                va="center",
                fontsize=6.5,
                color="#555555",
                style="italic",
                zorder=3,
                clip_on=True,
                path_effects=[withStroke(linewidth=2, foreground="white")],
            )


def review_map_png(shown: ReviewShown, disruption_id: str, *, dpi: int = HTML_DPI) -> bytes | None:
    """PNG map of ``disruption_id``'s response area, buffer ring(s) and control blocks.

    Drawn in British National Grid (OS grid lines, scale bar, north arrow),
    with ward outlines for orientation, a legend, and the disrupted place
    marked with its id (and its name when the view gives one). Other
    disruptions in view are grey markers. ``None`` when the view holds no
    areas for it.
    """
    did = str(disruption_id)
    areas = _map_areas(shown, did)
    if areas.empty:
        return None
    geoms = [g for g in areas.geometry if g is not None and not g.is_empty]
    if not geoms:
        return None
    w_mm, h_mm = MAP_SIZE_MM
    left, bottom, right, top = 0.04, 0.04, 0.96, 0.96
    aspect = (w_mm * (right - left)) / (h_mm * (top - bottom))
    drawn = shapely.union_all(geoms)
    extent = _extent(drawn, aspect, pad_frac=0.08, min_pad_m=120.0)
    x0, y0, x1, y1 = extent
    view = shapely.box(x0, y0, x1, y1)

    fig = Figure(figsize=(w_mm / 25.4, h_mm / 25.4), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((left, bottom, right - left, top - bottom))
    ax.set_facecolor(MAP_BACKGROUND)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    square, step = _grid(ax, extent)
    _context(ax, view, extent, drawn)

    rings = [str(a) for a in areas["area"] if str(a).startswith("buffer") and a != "buffer_control"]
    handles: list[Patch | Line2D] = []
    for area, label, geom in zip(
        areas["area"].astype(str), areas["label"].astype(str), areas.geometry, strict=True
    ):
        style = _AREA_STYLE.get(area) or _ring_style(area, rings)
        for patch in _patches(geom, linewidth=0.9, **style):
            ax.add_patch(patch)
        handles.append(
            Patch(
                facecolor=style["facecolor"],
                edgecolor=style["edgecolor"],
                alpha=style["alpha"],
                hatch=style.get("hatch"),
                label=mpl_text(label),
            )
        )

    places = shown.places
    if len(places):
        e, n = latlng_to_metric(places["lat"].to_numpy(float), places["lng"].to_numpy(float))
        others = False
        for pe, pn, pid, name in zip(
            e, n, places["disruption_id"].astype(str), places["place"], strict=True
        ):
            if not (x0 <= pe <= x1 and y0 <= pn <= y1):
                continue
            mine = pid == did
            others |= not mine
            ax.scatter(
                [pe],
                [pn],
                s=110 if mine else 45,
                marker="*" if mine else "o",
                c=TARGET_FILL if mine else OTHER_TARGET_FILL,
                edgecolors="white",
                linewidths=1.0,
                zorder=12 if mine else 11,
            )
            text = pid
            if mine and isinstance(name, str) and name:
                text = f"{pid}: {name}"
            ax.annotate(
                mpl_text(text),
                (pe, pn),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=7.5 if mine else 6.5,
                weight="bold" if mine else "normal",
                color=TARGET_FILL if mine else OTHER_TARGET_FILL,
                zorder=13,
                annotation_clip=True,
                path_effects=[withStroke(linewidth=2.2, foreground="white")],
            )
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                linestyle="none",
                markersize=10,
                markerfacecolor=TARGET_FILL,
                markeredgecolor="white",
                label="Disrupted place",
            )
        )
        if others:
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="none",
                    markersize=6,
                    markerfacecolor=OTHER_TARGET_FILL,
                    markeredgecolor="white",
                    label="Another disruption",
                )
            )
    handles.append(
        Line2D([], [], color=CONTEXT_COLOUR, linestyle=(0, (4, 3)), label="Ward boundary")
    )
    _scale_bar(ax, extent)
    _north_arrow(ax, extent)
    legend = ax.legend(
        handles=handles,
        loc="lower right",
        fontsize=6.5,
        framealpha=0.92,
        edgecolor="#666666",
        fancybox=False,
    )
    legend.set_zorder(30)
    grid_note(ax, extent, square, step)
    return _png(fig, dpi)
