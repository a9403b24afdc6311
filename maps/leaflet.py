"""The pieces of an offline Leaflet page: the map element, its layers, legends and style.

folium's element tree renders them; every piece takes data already escaped
(:func:`esc`) and passes it to JavaScript as JSON through Jinja's ``tojson``
filter, never as code. :mod:`maps.webmap` assembles them into the map.
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

import folium
from branca.element import MacroElement
from folium.map import Layer
from folium.template import Template
from markupsafe import Markup

from maps.audience import text_or_dash
from maps.style import (
    DISRUPTION_COLOUR,
    MAP_BACKGROUND,
    MARKING_BACKGROUND,
    MARKING_TEXT,
    TARGET_FILL,
    TARGET_TEXT,
    VENUE_COLOUR,
)

_TOP_PX = 50
_BOTTOM_PX = 22


def esc(value: Any) -> str:
    """HTML-escape text from data (quotes included); ``-`` for missing values.

    Also escapes the backtick and ``$`` so the text stays inert even inside a
    JavaScript template literal.
    """
    text = html.escape(text_or_dash(value), quote=True)
    return text.replace("`", "&#96;").replace("$", "&#36;")


class OfflineMap(folium.Map):
    """A folium map that links nothing: its assets are inlined by :func:`build_map`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.default_js = []
        self.default_css = []


def add_layer(m: folium.Map, layer: Layer) -> Layer:
    layer.add_to(m)
    return layer


class GeoJsonLayer(Layer):
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


class BaseLayerGeoJson(Layer):
    """A base layer (roads, buildings, landmarks) drawn in its own pane under the cells.

    ``geojson`` is FeatureCollection text made safe for a script block
    (:mod:`maps.baselayer`), its coordinates whole numbers of ``1 / scale``
    degree; each feature has an escaped ``tip`` and a
    ``major`` flag (roads). Landmarks are small circle markers.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        (function (map, group) {
            var pane = {{ this.pane|tojson }}, kind = {{ this.kind|tojson }};
            if (!map.getPane(pane)) {
                map.createPane(pane);
                map.getPane(pane).style.zIndex = {{ this.z_index|tojson }};
            }
            var styles = {{ this.styles|tojson }};
            var scale = {{ this.scale|tojson }};
            L.geoJSON({{ this.geojson }}, {
                pane: pane,
                coordsToLatLng: function (c) { return L.latLng(c[1] / scale, c[0] / scale); },
                style: function (f) { return f.properties.major ? styles.major : styles.plain; },
                pointToLayer: function (f, latlng) {
                    return L.circleMarker(latlng, Object.assign({pane: pane}, styles.point));
                },
                onEachFeature: function (f, layer) {
                    layer.bindTooltip(f.properties.tip,
                        {sticky: kind !== "landmarks", className: "engage-tip"});
                }
            }).addTo(group);
        })({{ this._parent.get_name() }}, {{ this.get_name() }});
        {% endmacro %}
        """
    )

    Z_INDEX: ClassVar[dict[str, int]] = {"buildings": 340, "roads": 350, "landmarks": 360}
    """Panes of the base layers: under Leaflet's overlay pane (400), where the cells are."""

    def __init__(
        self,
        name: str,
        kind: str,
        geojson: str,
        styles: dict[str, dict[str, Any]],
        scale: int,
    ) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "EngageBaseLayer"
        self.kind = kind
        self.pane = f"engage-{kind}"
        self.z_index = self.Z_INDEX[kind]
        self.geojson = Markup(geojson)
        self.styles = styles
        self.scale = scale


class ItemsLayer(Layer):
    """An overlay of one marker per item (a dict passed to the page as JSON).

    Subclasses give the ``_template`` that draws ``this.items`` and the
    element's ``element_name``.
    """

    element_name = ""

    def __init__(self, name: str, items: list[dict[str, Any]]) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = self.element_name
        self.items = items


class TargetLayer(ItemsLayer):
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


class VenueLayer(ItemsLayer):
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


class DisruptionMarkers(ItemsLayer):
    """Disruption diamonds (DivIcons) with escaped popups and tooltips; an item with an
    ``outline`` (a partner's area cell, ``[[lat, lng], ...]``) also draws it, dashed."""

    element_name = "EngageDisruptions"
    colour = DISRUPTION_COLOUR

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.featureGroup();
        {{ this.items|tojson }}.forEach(function (d) {
            if (d.outline) {
                L.polygon(d.outline, {
                    color: {{ this.colour|tojson }}, weight: 2, dashArray: "5 4",
                    fillColor: {{ this.colour|tojson }}, fillOpacity: 0.06
                }).bindPopup(d.popup, {maxWidth: 320, className: "engage-popup"})
                  .addTo({{ this.get_name() }});
            }
            var icon = L.divIcon({
                className: "engage-disruption",
                html: '<span class="engage-disruption-mark"></span>',
                iconSize: [16, 16],
                iconAnchor: [8, 8],
                popupAnchor: [0, -8],
                tooltipAnchor: [8, 0]
            });
            L.marker([d.lat, d.lng], {
                icon: icon, title: d.title, alt: d.title, zIndexOffset: -500,
                engageDisruptions: d.n
            }).bindPopup(d.popup, {maxWidth: 320, className: "engage-popup"})
              .bindTooltip(d.tip, {direction: "right", className: "engage-tip"})
              .addTo({{ this.get_name() }});
        });
        {% endmacro %}
        """
    )


class TileLayer(Layer):
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


class Legend(MacroElement):
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


class Expose(MacroElement):
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


def page_css() -> str:
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
  .engage-target-badge {{ position:absolute; top:-5px; right:-5px; width:8px; height:8px;
    background:{DISRUPTION_COLOUR}; border:1.5px solid #ffffff; transform:rotate(45deg); }}
  .engage-disruption {{ background:none; border:none; }}
  .engage-disruption-mark {{ display:block; width:10px; height:10px; margin:2px;
    background:{DISRUPTION_COLOUR}; border:1.5px solid #ffffff; transform:rotate(45deg);
    box-shadow:0 0 0 1px {DISRUPTION_COLOUR}, 0 1px 3px rgba(0,0,0,0.5); }}
  .engage-disruption-note {{ color:#444; font-size:11px; }}
  .engage-disruption-area {{ margin:6px 0 0 0; color:#444; font-size:11px; }}
  .engage-legend-row i.engage-legend-diamond {{ width:9px; height:9px; margin:0 10px 0 4px;
    transform:rotate(45deg); border:1px solid #ffffff; }}
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
