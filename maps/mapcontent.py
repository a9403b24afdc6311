"""What the interactive map shows, as escaped HTML and GeoJSON ready for :mod:`maps.leaflet`.

Cell features with their tooltips, the Gi* and trend layers' features and
legends, boundary polygons and labels, target and venue markers, and the
score legend. Every text from data is escaped with :func:`maps.leaflet.esc`;
the values are as :mod:`maps.disclosure` made them for the audience.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from geo.areas import context_label
from maps import significance as sig
from maps.audience import OutputMeta, require_columns
from maps.cells import (
    cells_as_int,
    cells_to_polygons,
    polygon_lnglat,
)
from maps.leaflet import esc
from maps.style import (
    AREA_COLOUR,
    HULL_COLOUR,
    SCORE_CLASSES,
    VENUE_COLOUR,
    CellClass,
    cell_class_lookup,
    drawn_classes,
)
from maps.targetrows import target_rows

VENUE_COLUMNS = ("name", "venue_type", "lat", "lng")


def score_text(score: Any) -> str:
    value = float(score)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def cell_features(hotspots: pd.DataFrame, info: OutputMeta) -> list[dict[str, Any]]:
    """Drawn cells (a score class) as GeoJSON features with style and escaped tip."""
    drawn, classes = drawn_classes(hotspots)
    shown = hotspots.loc[drawn]
    if shown.empty:
        return []
    cells = cells_as_int(shown["h3"])
    scores = shown["score"].to_numpy(dtype=float) if "score" in shown.columns else None
    polygons = cells_to_polygons(cells)
    n_texts = info.count_texts(shown["n"]) if "n" in shown.columns else None
    child_texts = info.count_texts(shown["n_children"]) if "n_children" in shown.columns else None
    clusters = shown["cluster"].to_numpy() if "cluster" in shown.columns else None
    features = []
    for i, (cell, poly, cls) in enumerate(zip(cells, polygons, classes, strict=True)):
        sc = SCORE_CLASSES[int(cls)]
        if scores is not None:
            parts = [f"<b>Score {esc(score_text(scores[i]))}</b> ({esc(sc.label)})"]
        else:
            parts = [f"<b>{esc(sc.label)}</b>"]
        if n_texts is not None:
            parts.append(f"{esc(n_texts[i])} events")
        if child_texts is not None:
            parts.append(f"{esc(child_texts[i])} children")
        if clusters is not None and pd.notna(clusters[i]) and int(clusters[i]) >= 0:
            parts.append(f"cluster {esc(int(clusters[i]))}")
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [polygon_lnglat(poly)]},
                "properties": {
                    "h3": h3.int_to_str(int(cell)),
                    "cls": int(cls),
                    "style": {
                        "color": "#7f2704" if cls == 0 else "#b35806",
                        "weight": 0.6,
                        "opacity": 0.7,
                        "fillColor": sc.colour,
                        "fillOpacity": 0.62,
                    },
                    "tip": " &middot; ".join(parts),
                },
            }
        )
    return features


def _stat(value: Any, spec: str) -> str:
    """A statistic as text (``-`` when missing), e.g. ``_stat(2.5, ".2f")``."""
    v = float(value) if value is not None else float("nan")
    return "-" if not np.isfinite(v) else format(v, spec)


def _p_text(value: Any) -> str:
    v = float(value) if value is not None else float("nan")
    if not np.isfinite(v):
        return "-"
    return "&lt; 0.0001" if v < 1e-4 else f"{v:.4f}"


def _significance_tips(rows: pd.DataFrame, group: sig.Group, fdr: bool) -> list[str]:
    """Escaped tooltip HTML of each drawn cell of ``group``."""
    lookup = cell_class_lookup(group.classes)
    labels = [lookup[k].label for k in rows[group.class_column].astype(str)]
    if group is sig.GISTAR:
        adj = "p adjusted (FDR)" if fdr else "p (no FDR adjustment)"
        return [
            f"<b>{esc(label)}</b><br>Gi* z {esc(_stat(z, '.2f'))} &middot; p {_p_text(p)}"
            f" &middot; {adj} {_p_text(p_adj)}"
            for label, z, p, p_adj in zip(
                labels, rows["gi_z"], rows["gi_p"], rows["gi_p_adj"], strict=True
            )
        ]
    return [
        f"<b>{esc(label)}</b><br>Mann-Kendall z {esc(_stat(z, '.2f'))}, p {_p_text(p)}"
        f" ({esc(trend)})"
        for label, z, p, trend in zip(
            labels, rows["mk_z"], rows["mk_p"], rows["mk_trend"], strict=True
        )
    ]


def significance_features(
    rows: pd.DataFrame, group: sig.Group, *, fdr: bool = True
) -> list[dict[str, Any]]:
    """Drawn cells of one significance layer as GeoJSON features with style and tip."""
    if rows.empty:
        return []
    lookup = cell_class_lookup(group.classes)
    cells = cells_as_int(rows["h3"])
    keys = rows[group.class_column].astype(str).tolist()
    tips = _significance_tips(rows, group, fdr)
    features = []
    for cell, poly, key, tip in zip(cells, cells_to_polygons(cells), keys, tips, strict=True):
        cls = lookup[key]
        style: dict[str, Any] = {
            "color": cls.edge,
            "weight": 1.4,
            "opacity": 0.9,
            "fillColor": cls.colour,
            "fillOpacity": 0.75,
        }
        if cls.dashed:
            style["dashArray"] = "4 3"
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [polygon_lnglat(poly)]},
                "properties": {
                    "h3": h3.int_to_str(int(cell)),
                    "cls": key,
                    "style": style,
                    "tip": tip,
                },
            }
        )
    return features


def _swatch(cls: CellClass) -> str:
    border = "dashed" if cls.dashed else "solid"
    return (
        f'<i class="engage-swatch" data-class="{esc(cls.key)}" '
        f'style="background:{cls.colour};border:1.5px {border} {cls.edge}"></i>'
    )


def _partner_note(info: OutputMeta) -> str:
    return (
        f" Cells whose neighbourhood holds fewer than {info.suppress_below} children are not shown."
    )


def gistar_legend(counts: Mapping[str, int], info: OutputMeta, notes: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<div class="engage-legend-row" data-class="{esc(c.key)}">{_swatch(c)}'
        f'{esc(c.label)} <span class="engage-legend-n">({int(counts.get(c.key, 0))})</span></div>'
        for c in sig.GISTAR.classes
    )
    k = int(notes.get("k", 1))
    fdr = bool(notes.get("fdr", True))
    note = (
        f"Getis-Ord Gi* of the weighted events per cell; neighbours within {k} ring"
        f"{'s' if k != 1 else ''}, the cell included. "
        + (
            "Significance after the false discovery rate correction (Benjamini-Hochberg). "
            if fdr
            else "Significance without correction for the many cells tested. "
        )
        + "Cells that are not significant are not drawn; (n) counts cells."
    )
    if info.suppressing:
        note += _partner_note(info)
    return (
        '<div class="engage-legend-title">Gi* hot and cold spots</div>'
        + rows
        + f'<div class="engage-legend-note">{note}</div>'
    )


def emerging_legend(counts: Mapping[str, int], info: OutputMeta, notes: Mapping[str, Any]) -> str:
    lookup = cell_class_lookup(sig.EMERGING.classes)
    head = (
        '<div class="engage-legend-row engage-legend-head"><span class="engage-legend-pair">'
        "hot cold</span>pattern (cells)</div>"
    )
    rows = []
    for c in sig.EMERGING.classes[: len(sig.EMERGING.classes) // 2]:
        name = c.key.removesuffix("_hot")
        cold = lookup[f"{name}_cold"]
        n_hot, n_cold = int(counts.get(c.key, 0)), int(counts.get(cold.key, 0))
        rows.append(
            f'<div class="engage-legend-row" data-pattern="{esc(name)}">'
            f'<span class="engage-legend-pair">{_swatch(c)}{_swatch(cold)}</span>'
            f"{esc(c.label.removesuffix(' hot spot'))} ({n_hot} / {n_cold})</div>"
        )
    weeks = notes.get("n_weeks")
    title = "Emerging trends" + (f" ({int(weeks)} weeks)" if weeks else "")
    note = (
        "Gi* in each week, then the Mann-Kendall trend of each cell's weekly z-scores; "
        "patterns after ArcGIS Pro's Emerging Hot Spot Analysis. Hot spots solid outline, "
        "cold spots dashed. Cells with no pattern are not drawn."
    )
    if info.suppressing:
        note += _partner_note(info)
    return (
        f'<div class="engage-legend-title">{esc(title)}</div>'
        + head
        + "".join(rows)
        + f'<div class="engage-legend-note">{note}</div>'
    )


def polygon_features(
    frame: gpd.GeoDataFrame,
    *,
    tips: list[str],
    style: dict[str, Any],
    simplify_deg: float = 0.0,
) -> list[dict[str, Any]]:
    geoms = frame.geometry.to_numpy()
    if simplify_deg > 0:
        geoms = shapely.simplify(geoms, simplify_deg, preserve_topology=True)
    features = []
    for geom, tip in zip(geoms, tips, strict=True):
        if geom is None or geom.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(geom),
                "properties": {"style": style, "tip": tip},
            }
        )
    return features


def labels(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    out = []
    for name, geom in zip(frame["name"], frame.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        pt = geom.representative_point()
        out.append({"lat": pt.y, "lng": pt.x, "html": esc(name)})
    return out


def target_items(targets: pd.DataFrame, info: OutputMeta) -> list[dict[str, Any]]:
    items = []
    scores = targets["score"].tolist() if "score" in targets.columns else [None] * len(targets)
    noted = "disruption" in targets.columns
    badge = '<i class="engage-target-badge" title="Disruption near this target"></i>'
    for row, cell, lat, lng, score in zip(
        target_rows(targets, info),
        cells_as_int(targets["h3"]).tolist(),
        targets["lat"].to_numpy(dtype=float).tolist(),
        targets["lng"].to_numpy(dtype=float).tolist(),
        scores,
        strict=True,
    ):
        r = row.rank
        table = [("Where", row.near)] if row.near != "-" else []
        table += [
            ("Visit order", row.visit_order),
            (context_label(), row.ward),
            ("Grid ref", row.grid_ref),
            ("Patrol window", row.patrol_window),
            ("Episodes", row.episodes),
            ("Children", row.children),
            ("Found here", row.found),
            ("Venue reports", row.venue_reports),
            ("Nearest venue", row.nearest_venue),
        ]
        if score is not None:
            table.append(("Score", score_text(score)))
        # Last, so no number of the notes runs into a count's label.
        if noted:
            table.append(("Disruptions near", row.disruption))
        if row.displacement != "-":
            table.append(("Displacement", row.displacement))
        rows_html = "".join(f"<tr><th>{k}</th><td>{esc(v)}</td></tr>" for k, v in table)
        popup = (
            f'<div class="engage-popup-body" data-rank="{r}"><h4>Target {r}</h4>'
            f'<table>{rows_html}</table><p class="engage-why">{esc(row.why)}</p></div>'
        )
        tooltip = f"<b>Target {r}</b> &middot; {esc(row.patrol_window)}<br>{esc(row.why)}"
        items.append(
            {
                "rank": r,
                "h3": h3.int_to_str(int(cell)),
                "lat": lat,
                "lng": lng,
                "title": f"Target {r}",
                "icon": f'<span class="engage-rank" data-rank="{r}">{r}</span>'
                + (badge if row.disruption != "-" else ""),
                "popup": popup,
                "tooltip": tooltip,
            }
        )
    return items


def venue_items(venues: pd.DataFrame) -> list[dict[str, Any]]:
    require_columns(venues, "venues", VENUE_COLUMNS)
    items = []
    for name, kind, lat, lng in zip(
        venues["name"], venues["venue_type"], venues["lat"], venues["lng"], strict=True
    ):
        if not (np.isfinite(lat) and np.isfinite(lng)):
            continue
        tip = f"<b>{esc(name)}</b><br>{esc(kind)}"
        items.append({"lat": float(lat), "lng": float(lng), "tip": tip})
    return items


def score_legend_html(
    info: OutputMeta,
    *,
    has_hulls: bool,
    has_venues: bool,
    res: int | None,
    extra_rows: tuple[str, ...] = (),
    extra_note: str = "",
) -> str:
    """The map's own legend; ``extra_rows`` (HTML) after the venues row, ``extra_note``
    (escaped here) at the end of its note."""
    rows = [
        f'<div class="engage-legend-row"><i style="background:{c.colour}"></i>{esc(c.label)}</div>'
        for c in SCORE_CLASSES
    ]
    rows.append(
        '<div class="engage-legend-row"><span class="engage-legend-target">1</span>'
        "Patrol target (rank)</div>"
    )
    if has_hulls:
        rows.append(
            f'<div class="engage-legend-row"><i class="engage-legend-line" '
            f'style="border-color:{HULL_COLOUR}"></i>Cluster outline</div>'
        )
    rows.append(
        f'<div class="engage-legend-row"><i class="engage-legend-area" '
        f'style="border-color:{AREA_COLOUR}"></i>Ward of this pack</div>'
    )
    if has_venues:
        rows.append(
            f'<div class="engage-legend-row"><i class="engage-legend-dot" '
            f'style="background:{VENUE_COLOUR}"></i>Venue (restricted)</div>'
        )
    rows.extend(extra_rows)
    cell_note = f"H3 cells, resolution {res}" if res is not None else "H3 cells"
    note = f"{cell_note}. Homes and care homes are never shown."
    if info.suppressing:
        note += f" {esc(info.rules.legend_note())}"
    if extra_note:
        note += f" {esc(extra_note)}"
    return (
        '<div class="engage-legend-title">Hotspot score</div>'
        + "".join(rows)
        + f'<div class="engage-legend-note">{note}</div>'
    )
