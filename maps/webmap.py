"""The interactive map: one self-contained HTML file that works with no internet.

Built with folium's element tree and templates, with Leaflet inlined from an
installed package (:mod:`maps.assets`) in place of folium's CDN links. Layers:
hotspot cells coloured by score class, Getis-Ord Gi* hot and cold spots and
emerging-hotspot trend classes (when given; off until switched on, each with
its own legend), DBSCAN cluster hulls, numbered targets, the pack's wards, the
surrounding ward and district boundaries, and, for the ``analyst`` audience
only, venues. A tile layer is added only when a tile URL
template is given; otherwise the background is plain.

Safety of text from data: every string from a frame or ``meta`` is
HTML-escaped in Python before it reaches the page, and all data reach the
JavaScript as JSON through Jinja's ``tojson`` filter (which also escapes
``<``, ``>``, ``&`` and ``'``), never through folium's template-literal popups
and tooltips (where ``${...}`` in data would run). Nothing from data is ever
inserted as JavaScript code.

For tests and tools, the page exposes ``window.ENGAGE`` with the Leaflet map,
its layers, and ``targets`` (rank, h3, lat, lng of every numbered marker);
each marker's icon also carries ``data-rank``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from folium.template import Template

from geo.boundaries import districts, wards
from geo.errors import ValidationError
from maps import significance as sig
from maps.assets import external_references, leaflet_assets
from maps.audience import OutputMeta, format_count, require_columns, require_view, text_or_dash
from maps.cells import (
    HOTSPOT_COLUMNS,
    cells_as_int,
    cells_to_polygons,
    checked_cells,
    first_resolution,
    polygon_lnglat,
)
from maps.style import (
    AREA_COLOUR,
    CONTEXT_COLOUR,
    HULL_COLOUR,
    MAP_BACKGROUND,
    MARKING_BACKGROUND,
    MARKING_TEXT,
    SCORE_CLASSES,
    TARGET_FILL,
    TARGET_TEXT,
    VENUE_COLOUR,
    CellClass,
    cell_class_lookup,
    drawn_classes,
)
from maps.targetrows import TARGET_COLUMNS, target_rows

VENUE_COLUMNS = ("name", "venue_type", "lat", "lng")

LAYER_CELLS = "Hotspot cells (score class)"
LAYER_GISTAR = "Gi* hot and cold spots (99/95/90%)"
LAYER_EMERGING = "Emerging trends"
LAYER_HULLS = "Clusters (DBSCAN hulls)"
LAYER_TARGETS = "Patrol targets (numbered)"
LAYER_AREA = "Wards of this pack"
LAYER_CONTEXT = "Other wards and district"
LAYER_VENUES = "Venues (analyst only)"
LAYER_TILES = "Base map (tiles)"

_TOP_PX = 50
_BOTTOM_PX = 22


def esc(value: Any) -> str:
    """HTML-escape text from data (quotes included); ``-`` for missing values.

    Also escapes the backtick and ``$`` so the text stays inert even inside a
    JavaScript template literal.
    """
    text = html.escape(text_or_dash(value), quote=True)
    return text.replace("`", "&#96;").replace("$", "&#36;")


class _OfflineMap(folium.Map):
    """A folium map that links nothing: its assets are inlined by :func:`build_map`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_js = []
        self.default_css = []


def _add(m: folium.Map, layer: Layer) -> Layer:
    layer.add_to(m)
    return layer


class _GeoJsonLayer(Layer):
    """Polygons with per-feature ``style`` and an escaped ``tip`` (HTML) in their properties.

    ``labels`` are permanent, centred text labels: ``{"lat", "lng", "html"}``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        L.geoJSON({{ this.data|tojson }}, {
            style: function (f) { return f.properties.style; },
            interactive: {{ this.interactive|tojson }},
            onEachFeature: function (f, layer) {
                if (f.properties.tip) {
                    layer.bindTooltip(f.properties.tip, {sticky: true, className: "engage-tip"});
                }
            }
        }).addTo({{ this.get_name() }});
        {{ this.labels|tojson }}.forEach(function (lab) {
            L.tooltip({permanent: true, direction: "center", className: "engage-label",
                       interactive: false})
                .setLatLng([lab.lat, lab.lng]).setContent(lab.html)
                .addTo({{ this.get_name() }});
        });
        {% endmacro %}
        """
    )

    def __init__(
        self,
        name: str,
        features: list[dict[str, Any]],
        *,
        labels: list[dict[str, Any]] | None = None,
        interactive: bool = True,
        show: bool = True,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "EngageGeoJson"
        self.data = {"type": "FeatureCollection", "features": features}
        self.labels = labels or []
        self.interactive = interactive


class _ItemsLayer(Layer):
    """An overlay of one marker per item (a dict passed to the page as JSON).

    Subclasses give the ``_template`` that draws ``this.items`` and the
    element's ``element_name``.
    """

    element_name = ""

    def __init__(self, name: str, items: list[dict[str, Any]]) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = self.element_name
        self.items = items


class _TargetLayer(_ItemsLayer):
    """Numbered target markers (DivIcons) with escaped popups and tooltips."""

    element_name = "EngageTargets"

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        {{ this.items|tojson }}.forEach(function (t) {
            var icon = L.divIcon({
                className: "engage-target",
                html: t.icon,
                iconSize: [28, 28],
                iconAnchor: [14, 14],
                popupAnchor: [0, -14],
                tooltipAnchor: [14, 0]
            });
            var marker = L.marker([t.lat, t.lng], {
                icon: icon, title: t.title, alt: t.title, riseOnHover: true,
                engageRank: t.rank, engageH3: t.h3
            });
            marker.bindPopup(t.popup, {maxWidth: 340, className: "engage-popup"});
            marker.bindTooltip(t.tooltip, {direction: "right", className: "engage-tip"});
            marker.addTo({{ this.get_name() }});
        });
        {% endmacro %}
        """
    )


class _VenueLayer(_ItemsLayer):
    """Venue points (analyst audience only) with escaped tooltips."""

    element_name = "EngageVenues"
    colour = VENUE_COLOUR

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        {{ this.items|tojson }}.forEach(function (v) {
            L.circleMarker([v.lat, v.lng], {
                radius: 6, color: "#ffffff", weight: 1.5,
                fillColor: {{ this.colour|tojson }}, fillOpacity: 0.95
            }).bindTooltip(v.tip, {className: "engage-tip"})
              .addTo({{ this.get_name() }});
        });
        {% endmacro %}
        """
    )


class _TileLayer(Layer):
    """A tile layer from a configured URL template (a local or agency tile server)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.tileLayer({{ this.url|tojson }}, {
            attribution: {{ this.attribution|tojson }},
            maxZoom: 19, minZoom: 8, crossOrigin: false
        });
        {% endmacro %}
        """
    )

    def __init__(self, name: str, url: str, attribution: str) -> None:
        super().__init__(name=name, overlay=False, control=True, show=True)
        self._name = "EngageTiles"
        self.url = url
        self.attribution = attribution


class _Legend(MacroElement):
    """A legend, a Leaflet control whose (escaped) HTML comes as JSON.

    Without ``layer``, the map's legend: always shown (bottom right); it also
    hides the ward names below :attr:`label_min_zoom`. With ``layer``, that
    overlay's legend (bottom left, its div also of class ``css_class``): shown
    while the overlay is on the map, hidden otherwise. Leaflet's layer control
    fires ``overlayadd``/``overlayremove`` on the map whenever one of its
    overlays is added or removed (by a click or by code).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
        {%- if this.layer is none %}
            var div = L.DomUtil.create("div", "engage-legend leaflet-bar");
        {%- else %}
            var div = L.DomUtil.create(
                "div", "engage-legend leaflet-bar " + {{ this.css_class|tojson }});
        {%- endif %}
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {%- if this.layer is none %}
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        (function (map) {
            function labels() {
                map.getContainer().classList.toggle(
                    "engage-zoomed-out", map.getZoom() < {{ this.label_min_zoom|tojson }});
            }
            map.on("zoomend", labels);
            map.whenReady(labels);
        })({{ this._parent.get_name() }});
        {%- else %}
        (function (map, layer, legend) {
            map.on("overlayadd", function (e) { if (e.layer === layer) { legend.addTo(map); } });
            map.on("overlayremove", function (e) { if (e.layer === layer) { legend.remove(); } });
            if (map.hasLayer(layer)) { legend.addTo(map); }
        })({{ this._parent.get_name() }}, {{ this.layer.get_name() }}, {{ this.get_name() }});
        {%- endif %}
        {% endmacro %}
        """
    )

    label_min_zoom = 12.5
    """Ward names are hidden below this zoom, where they would pile up."""

    def __init__(self, legend_html: str, layer: Layer | None = None, css_class: str = "") -> None:
        super().__init__()
        self._name = "EngageLegend" if layer is None else "EngageLayerLegend"
        self.position = "bottomright" if layer is None else "bottomleft"
        self.html = legend_html
        self.layer = layer
        self.css_class = css_class


class _Expose(MacroElement):
    """``window.ENGAGE``: the map, its layers and the targets, for tests and tools."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        window.ENGAGE = {
            map: {{ this._parent.get_name() }},
            layers: {
            {%- for key, layer in this.layers.items() %}
                {{ key|tojson }}: {{ layer.get_name() }},
            {%- endfor %}
            },
            targets: {{ this.targets|tojson }},
            audience: {{ this.audience|tojson }},
            tiles: {{ this.tiles|tojson }}
        };
        {% endmacro %}
        """
    )

    def __init__(
        self,
        layers: dict[str, Layer],
        targets: list[dict[str, Any]],
        audience: str,
        tiles: bool,
    ) -> None:
        super().__init__()
        self._name = "EngageExpose"
        self.layers = layers
        self.targets = targets
        self.audience = audience
        self.tiles = tiles


def _to_wgs84(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        msg = f"`{name}` must be a GeoDataFrame in WGS84, got {type(frame).__name__}."
        raise ValidationError(msg)
    if frame.crs is None:
        msg = f"`{name}` has no CRS; set it, e.g. frame.set_crs('EPSG:4326')."
        raise ValidationError(msg)
    return frame.to_crs("EPSG:4326") if frame.crs.to_epsg() != 4326 else frame


def _check_tiles(tiles: str | None) -> str | None:
    if tiles is None or not str(tiles).strip():
        return None
    url = str(tiles).strip()
    if not all(part in url for part in ("{z}", "{x}", "{y}")):
        msg = (
            f"`tiles` must be a URL template with {{z}}, {{x}} and {{y}}, got {url!r}; "
            "for example http://127.0.0.1:8080/{z}/{x}/{y}.png (set ENGAGE_TILES)."
        )
        raise ValidationError(msg)
    return url


def _score_text(score: Any) -> str:
    value = float(score)
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _cell_features(hotspots: pd.DataFrame, info: OutputMeta) -> list[dict[str, Any]]:
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
            parts = [f"<b>Score {esc(_score_text(scores[i]))}</b> ({esc(sc.label)})"]
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


def _significance_features(
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


def _gistar_legend(counts: Mapping[str, int], info: OutputMeta, notes: Mapping[str, Any]) -> str:
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


def _emerging_legend(counts: Mapping[str, int], info: OutputMeta, notes: Mapping[str, Any]) -> str:
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


def _polygon_features(
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


def _labels(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    out = []
    for name, geom in zip(frame["name"], frame.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        pt = geom.representative_point()
        out.append({"lat": pt.y, "lng": pt.x, "html": esc(name)})
    return out


def _target_items(targets: pd.DataFrame, info: OutputMeta) -> list[dict[str, Any]]:
    items = []
    scores = targets["score"].tolist() if "score" in targets.columns else [None] * len(targets)
    for row, cell, lat, lng, score in zip(
        target_rows(targets, info),
        cells_as_int(targets["h3"]).tolist(),
        targets["lat"].to_numpy(dtype=float).tolist(),
        targets["lng"].to_numpy(dtype=float).tolist(),
        scores,
        strict=True,
    ):
        r = row.rank
        table = [
            ("Visit order", row.visit_order),
            ("Ward", row.ward),
            ("Grid ref", row.grid_ref),
            ("Patrol window", row.patrol_window),
            ("Episodes", row.episodes),
            ("Children", row.children),
            ("Found here", row.found),
            ("Venue reports", row.venue_reports),
            ("Nearest venue", row.nearest_venue),
        ]
        if score is not None:
            table.append(("Score", _score_text(score)))
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
                "icon": f'<span class="engage-rank" data-rank="{r}">{r}</span>',
                "popup": popup,
                "tooltip": tooltip,
            }
        )
    return items


def _venue_items(venues: pd.DataFrame) -> list[dict[str, Any]]:
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


def _legend_html(info: OutputMeta, *, has_hulls: bool, has_venues: bool, res: int | None) -> str:
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
    cell_note = f"H3 cells, resolution {res}" if res is not None else "H3 cells"
    note = f"{cell_note}. Homes and care homes are never shown."
    if info.suppressing:
        note += f" {esc(info.rules.legend_note())}"
    return (
        '<div class="engage-legend-title">Hotspot score</div>'
        + "".join(rows)
        + f'<div class="engage-legend-note">{note}</div>'
    )


def _page_css() -> str:
    banner = (
        f"position:fixed;left:0;right:0;z-index:2000;background:{MARKING_BACKGROUND};"
        f"color:{MARKING_TEXT};font:bold 13px/20px Arial,Helvetica,sans-serif;"
        "text-align:center;letter-spacing:0.12em;"
    )
    return f"""
<style>
  html, body {{ margin:0; padding:0; height:100%; background:{MAP_BACKGROUND}; }}
  .folium-map {{ position:absolute !important; top:{_TOP_PX}px !important;
    bottom:{_BOTTOM_PX}px !important; left:0 !important; right:0 !important;
    width:auto !important; height:auto !important; }}
  .folium-map.leaflet-container {{ background:{MAP_BACKGROUND};
    font:12px/1.4 Arial,Helvetica,sans-serif; }}
  .engage-marking {{ {banner} }}
  .engage-marking-top {{ top:0; }}
  .engage-marking-bottom {{ bottom:0; font-weight:bold; }}
  .engage-titlebar {{ position:fixed; top:20px; left:0; right:0; height:30px; z-index:2000;
    background:#ffffff; border-bottom:1px solid #999; font:13px/30px Arial,Helvetica,sans-serif;
    padding:0 10px; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }}
  .engage-titlebar b {{ font-size:14px; }}
  .engage-footer-meta {{ font-weight:normal; letter-spacing:0; opacity:0.85;
    margin-left:1.5em; }}
  .engage-target {{ background:{TARGET_FILL}; color:{TARGET_TEXT}; border:2px solid #ffffff;
    border-radius:50%; box-shadow:0 0 0 1.5px {TARGET_FILL}, 0 1px 4px rgba(0,0,0,0.5);
    text-align:center; font:bold 13px/24px Arial,Helvetica,sans-serif; }}
  .engage-tip {{ white-space:normal; width:max-content; max-width:300px; }}
  .engage-label {{ background:rgba(255,255,255,0.75); border:none; box-shadow:none;
    color:#222; font:bold 11px Arial,Helvetica,sans-serif; padding:1px 4px; }}
  .engage-label::before {{ display:none; }}
  .engage-zoomed-out .engage-label {{ display:none; }}
  .engage-popup-body h4 {{ margin:0 0 4px 0; font-size:14px; }}
  .engage-popup-body table {{ border-collapse:collapse; }}
  .engage-popup-body th {{ text-align:left; padding:1px 8px 1px 0; color:#444;
    font-weight:normal; }}
  .engage-popup-body td {{ padding:1px 0; font-weight:bold; }}
  .engage-why {{ margin:6px 0 0 0; }}
  .engage-legend {{ background:#ffffff; padding:6px 8px; max-width:210px;
    font:12px/1.35 Arial,Helvetica,sans-serif; }}
  .engage-legend-title {{ font-weight:bold; margin-bottom:3px; }}
  .engage-legend-row {{ display:flex; align-items:center; margin:2px 0; }}
  .engage-legend-row i {{ display:inline-block; width:16px; height:12px; margin-right:6px;
    border:1px solid #888; flex:none; }}
  .engage-legend-row i.engage-legend-line {{ background:none; border:2px dashed; height:8px; }}
  .engage-legend-row i.engage-legend-area {{ background:none; border:2.5px solid; height:8px; }}
  .engage-legend-row i.engage-legend-dot {{ border-radius:50%; width:10px; height:10px;
    margin:0 9px 0 3px; }}
  .engage-legend-target {{ display:inline-block; width:16px; height:16px; border-radius:50%;
    background:{TARGET_FILL}; color:{TARGET_TEXT}; font:bold 10px/16px Arial,sans-serif;
    text-align:center; margin-right:6px; flex:none; }}
  .engage-legend-note {{ margin-top:4px; color:#444; font-size:11px; }}
  .engage-legend-row i.engage-swatch {{ width:14px; height:11px; margin-right:4px; }}
  .engage-legend-pair {{ display:inline-flex; width:42px; flex:none; margin-right:2px; }}
  .engage-legend-head {{ color:#444; font-size:11px; }}
  .engage-legend-n {{ color:#444; margin-left:3px; }}
  @media print {{ .leaflet-control-layers {{ display:none; }} }}
</style>
"""


def build_map(
    hotspots: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    area: gpd.GeoDataFrame,
    meta: Mapping[str, Any],
    hulls: gpd.GeoDataFrame | None = None,
    venues: pd.DataFrame | None = None,
    tiles: str | None = None,
    significance: pd.DataFrame | None = None,
    significance_meta: Mapping[str, Any] | None = None,
) -> str:
    """The interactive map as one self-contained HTML document.

    Parameters
    ----------
    hotspots
        One row per H3 cell: ``h3`` (int64), ``lat``, ``lng``, ``score``
        (higher hotter), optional ``n`` (events), ``n_children`` and
        ``cluster``. Cells with a score of 0 or less are not drawn.
    targets
        Ranked targets: ``rank``, ``h3``, ``lat``, ``lng``, ``score`` and the
        explanation columns (``ward_name``, ``grid_ref``, ``episodes``,
        ``children``, ``found``, ``venue_reports``, ``patrol_window``,
        ``nearest_venue``, ``why``); missing explanation columns show ``-``.
    area
        The pack's ward(s) (``code``, ``name``, polygons), any CRS with one set.
    meta
        ``title``, ``period``, ``data_window``, ``area_name``, ``audience``,
        ``marking`` (default ``OFFICIAL-SENSITIVE``), ``generated_at``,
        ``version``, optional ``suppress_below`` (default 5) and
        ``tiles_attribution``; see :class:`maps.audience.OutputMeta`.
    hulls
        DBSCAN cluster polygons with ``cluster`` and ``n_points``.
    venues
        ``name``, ``venue_type``, ``lat``, ``lng``: drawn for the ``analyst``
        audience only, ignored for every other audience.
    tiles
        A tile URL template (``http://host:port/{z}/{x}/{y}.png``); ``None``
        (default) gives a plain background and no network request at all.
    significance
        Optional, one row per cell (a subset of ``hotspots``' cells): the Gi*
        columns (``gi_z``, ``gi_p``, ``gi_p_adj``, ``gi_class``) and/or the
        emerging-pattern columns (``pattern``, ``mk_z``, ``mk_p``,
        ``mk_trend``); see :mod:`maps.significance`. Each group present
        becomes a layer (:data:`LAYER_GISTAR`, :data:`LAYER_EMERGING`) of its
        significant cells only, off until switched on; a group absent is no
        layer. Partner maps also need ``disclosable``.
    significance_meta
        Optional ``{"gistar": {"k", "fdr"}, "emerging": {"n_weeks"}}`` for
        the legends' notes.

    Returns
    -------
    str
        The HTML text.

    Raises
    ------
    ValidationError
        For missing columns, an unknown audience, partner cells finer than
        resolution 8, a tile template without ``{z}``, ``{x}``, ``{y}``, or
        significance cells that are not hotspot cells.
    """
    info = OutputMeta.from_mapping(meta)
    require_columns(hotspots, "hotspots", HOTSPOT_COLUMNS)
    require_columns(targets, "targets", TARGET_COLUMNS)
    require_view(hotspots, "hotspots", info)
    require_view(targets, "targets", info)
    require_view(hulls, "hulls", info)
    tile_url = _check_tiles(tiles)
    area = _to_wgs84(area, "area")
    cells = checked_cells(hotspots["h3"], info.audience)
    res = first_resolution(cells)
    targets = targets.sort_values("rank", kind="stable").reset_index(drop=True)
    shown_sig = sig.for_audience(significance, info)
    if shown_sig is not None:
        sig.check_cells(shown_sig, cells, info.audience)

    assets = leaflet_assets()
    if len(area) and not area.geometry.is_empty.all():
        w, s, e, n = (float(v) for v in area.total_bounds)
    elif len(hotspots):
        s, n = float(hotspots["lat"].min()), float(hotspots["lat"].max())
        w, e = float(hotspots["lng"].min()), float(hotspots["lng"].max())
    else:
        msg = "nothing to map: `area` and `hotspots` are both empty."
        raise ValidationError(msg)

    m = _OfflineMap(
        location=[(s + n) / 2, (w + e) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        prefer_canvas=False,
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    root = cast(Figure, m.get_root())
    root.header.add_child(
        Element(f"<!-- {assets.provenance}. -->\n<title>{esc(info.title)}</title>"),
        name="engage_provenance",
    )
    root.header.add_child(Element(f"<style>{assets.css}</style>"), name="leaflet_css")
    root.header.add_child(Element(f"<script>{assets.js}</script>"), name="leaflet_js")
    root.header.add_child(Element(_page_css()), name="engage_css")

    layers: dict[str, Layer] = {}
    if tile_url is not None:
        attribution = esc(meta.get("tiles_attribution") or "Map tiles: configured tile server")
        layers["tiles"] = _add(m, _TileLayer(LAYER_TILES, tile_url, attribution))

    # Context: other wards (and the district outline) around the pack's area.
    pad = 0.02
    bbox = shapely.box(w - pad, s - pad, e + pad, n + pad)
    context_wards = wards()
    context_wards = context_wards[
        context_wards.intersects(bbox) & ~context_wards["code"].isin(area.get("code", []))
    ]
    context_district = districts()
    context_district = context_district[context_district.intersects(bbox)]
    context_style = {"color": CONTEXT_COLOUR, "weight": 1, "fill": False, "dashArray": "4 3"}
    district_style = {"color": "#555555", "weight": 2, "fill": False}
    context_features = _polygon_features(
        context_wards,
        tips=[f"Ward: {esc(v)}" for v in context_wards["name"]],
        style=context_style,
        simplify_deg=0.00005,
    ) + _polygon_features(
        context_district,
        tips=[f"District: {esc(v)}" for v in context_district["name"]],
        style=district_style,
        simplify_deg=0.00005,
    )
    layers["context"] = _add(
        m,
        _GeoJsonLayer(
            LAYER_CONTEXT, context_features, labels=_labels(context_wards), interactive=False
        ),
    )

    layers["cells"] = _add(m, _GeoJsonLayer(LAYER_CELLS, _cell_features(hotspots, info)))

    # The Gi* and trend layers start switched off. They colour the same
    # hexagons as the hotspot score, and two fills on one hexagon read as
    # neither; the score layer is the patrol picture every audience opens the
    # map for. An analyst switches Gi* on to ask "is this concentration beyond
    # chance?" and the trends to ask "is it new, growing or fading?"; each
    # brings its own legend (bottom left) and takes it away again when off.
    notes = dict(significance_meta or {})
    layer_legends: list[tuple[Layer, str, str]] = []
    for key, group, name in (
        ("gistar", sig.GISTAR, LAYER_GISTAR),
        ("emerging", sig.EMERGING, LAYER_EMERGING),
    ):
        rows = sig.drawn(shown_sig, group)
        if rows is None:
            continue
        group_notes = dict(notes.get(key) or {})
        features = _significance_features(rows, group, fdr=bool(group_notes.get("fdr", True)))
        layers[key] = _add(m, _GeoJsonLayer(name, features, show=False))
        legend_fn = _gistar_legend if group is sig.GISTAR else _emerging_legend
        layer_legends.append(
            (
                layers[key],
                legend_fn(sig.class_counts(rows, group), info, group_notes),
                f"engage-legend-{key}",
            )
        )

    if hulls is not None and len(hulls):
        hulls = _to_wgs84(hulls, "hulls")
        hull_tips = []
        for cid, npts in zip(
            hulls["cluster"] if "cluster" in hulls.columns else [None] * len(hulls),
            hulls["n_points"] if "n_points" in hulls.columns else [None] * len(hulls),
            strict=True,
        ):
            hull_tips.append(
                f"Cluster {esc(format_count(cid))} ({esc(info.count_text(npts))} points)"
            )
        hull_style = {
            "color": HULL_COLOUR,
            "weight": 2.5,
            "dashArray": "6 4",
            "fillColor": HULL_COLOUR,
            "fillOpacity": 0.05,
        }
        layers["hulls"] = _add(
            m,
            _GeoJsonLayer(LAYER_HULLS, _polygon_features(hulls, tips=hull_tips, style=hull_style)),
        )

    area_style = {"color": AREA_COLOUR, "weight": 3, "fill": False}
    area_names = area["name"] if "name" in area.columns else pd.Series(["-"] * len(area))
    layers["area"] = _add(
        m,
        _GeoJsonLayer(
            LAYER_AREA,
            _polygon_features(
                area, tips=[f"Ward: <b>{esc(v)}</b>" for v in area_names], style=area_style
            ),
            labels=_labels(area.assign(name=area_names.to_numpy())),
        ),
    )

    has_venues = bool(info.shows_venues and venues is not None and len(venues))
    if has_venues and venues is not None:
        layers["venues"] = _add(m, _VenueLayer(LAYER_VENUES, _venue_items(venues)))

    items = _target_items(targets, info)
    layers["targets"] = _add(m, _TargetLayer(LAYER_TARGETS, items))

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    legend = _legend_html(info, has_hulls="hulls" in layers, has_venues=has_venues, res=res)
    _Legend(legend).add_to(m)
    for layer, html_text, css_class in layer_legends:
        _Legend(html_text, layer, css_class).add_to(m)
    m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    _Expose(
        layers,
        [{k: t[k] for k in ("rank", "h3", "lat", "lng")} for t in items],
        info.audience,
        tile_url is not None,
    ).add_to(m)

    title = " &middot; ".join(
        part
        for part in (
            f"<b>{esc(info.title)}</b>",
            esc(info.area_name) if info.area_name else "",
            f"Patrol week {esc(info.period)}" if info.period else "",
            f"Data {esc(info.data_window)}" if info.data_window else "",
            f"Audience: {esc(info.audience)}",
        )
        if part
    )
    footer_meta = " &middot; ".join(
        p
        for p in (
            f"Generated {esc(info.generated_at)}" if info.generated_at else "",
            f"version {esc(info.version)}" if info.version else "",
        )
        if p
    )
    root.html.add_child(
        Element(
            f'<div class="engage-marking engage-marking-top" role="banner">'
            f"{esc(info.marking)}</div>\n"
            f'<div class="engage-titlebar">{title}</div>\n'
            f'<div class="engage-marking engage-marking-bottom" role="contentinfo">'
            f'{esc(info.marking)}<span class="engage-footer-meta">{footer_meta}</span></div>'
        ),
        name="engage_banners",
    )
    page = root.render()
    leaks = external_references(page)
    if leaks:  # pragma: no cover - guards against a future folium adding links
        msg = f"the map would load external resources: {leaks[:3]}"
        raise RuntimeError(msg)
    return str(page)


def write_map(
    path: str | Path,
    hotspots: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    area: gpd.GeoDataFrame,
    meta: Mapping[str, Any],
    hulls: gpd.GeoDataFrame | None = None,
    venues: pd.DataFrame | None = None,
    tiles: str | None = None,
    significance: pd.DataFrame | None = None,
    significance_meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write :func:`build_map`'s HTML to ``path`` (UTF-8); returns the path."""
    page = build_map(
        hotspots,
        targets,
        area=area,
        meta=meta,
        hulls=hulls,
        venues=venues,
        tiles=tiles,
        significance=significance,
        significance_meta=significance_meta,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
