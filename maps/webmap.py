"""The interactive map: one self-contained HTML file that works with no internet.

Built with folium's element tree and templates, with Leaflet inlined from an
installed package (:mod:`maps.assets`) in place of folium's CDN links. Layers:
hotspot cells coloured by score class, Getis-Ord Gi* hot and cold spots and
emerging-hotspot trend classes (when given; off until switched on, each with
its own legend), DBSCAN cluster hulls, numbered targets, the disruptions of
the window (:mod:`maps.disruptions`), the pack's wards, the surrounding ward
and district boundaries, and, for the ``analyst`` audience only, venues. A
tile layer is added only when a tile URL template is given; otherwise the
background is plain.

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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import folium
import geopandas as gpd
import pandas as pd
import shapely
from branca.element import Element, Figure
from folium.map import Layer

from geo.areas import context_areas, context_label
from geo.boundaries import all_districts
from geo.errors import ValidationError
from maps import significance as sig
from maps.assets import external_references, leaflet_assets
from maps.audience import OutputMeta, format_count, require_columns, require_view
from maps.cells import (
    HOTSPOT_COLUMNS,
    checked_cells,
    first_resolution,
)
from maps.disruptions import (
    LAYER_DISRUPTIONS,
    DisruptionLayer,
    disruption_items,
    legend_note,
    legend_row,
)
from maps.leaflet import (
    DisruptionMarkers,
    Expose,
    GeoJsonLayer,
    Legend,
    OfflineMap,
    TargetLayer,
    TileLayer,
    VenueLayer,
    add_layer,
    esc,
    page_css,
)
from maps.mapcontent import (
    cell_features,
    emerging_legend,
    gistar_legend,
    labels,
    polygon_features,
    score_legend_html,
    significance_features,
    target_items,
    venue_items,
)
from maps.style import (
    AREA_COLOUR,
    CONTEXT_COLOUR,
    HULL_COLOUR,
)
from maps.targetrows import TARGET_COLUMNS

LAYER_CELLS = "Hotspot cells (score class)"
LAYER_GISTAR = "Gi* hot and cold spots (99/95/90%)"
LAYER_EMERGING = "Emerging trends"
LAYER_HULLS = "Clusters (DBSCAN hulls)"
LAYER_TARGETS = "Patrol targets (numbered)"
LAYER_AREA = "Wards of this pack"
LAYER_CONTEXT = "Other wards and district"
LAYER_VENUES = "Venues (analyst only)"
LAYER_TILES = "Base map (tiles)"


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
    disruptions: DisruptionLayer | None = None,
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
    disruptions
        Optional disruptions of the window (a view of
        :func:`maps.disclosure.disruptions_view`): the layer
        :data:`maps.disruptions.LAYER_DISRUPTIONS`, a legend row, and a note
        of how many had no place to draw.

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
    if disruptions is not None:
        disruptions = disruptions.checked(info)
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

    m = OfflineMap(
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
    root.header.add_child(Element(page_css()), name="engage_css")

    layers: dict[str, Layer] = {}
    if tile_url is not None:
        attribution = esc(meta.get("tiles_attribution") or "Map tiles: configured tile server")
        layers["tiles"] = add_layer(m, TileLayer(LAYER_TILES, tile_url, attribution))

    # Context: other wards (and the district outline) around the pack's area.
    pad = 0.02
    bbox = shapely.box(w - pad, s - pad, e + pad, n + pad)
    context_wards = context_areas()
    context_wards = context_wards[
        context_wards.intersects(bbox) & ~context_wards["code"].isin(area.get("code", []))
    ]
    context_district = all_districts()
    context_district = context_district[context_district.intersects(bbox)]
    context_style = {"color": CONTEXT_COLOUR, "weight": 1, "fill": False, "dashArray": "4 3"}
    district_style = {"color": "#555555", "weight": 2, "fill": False}
    context_features = polygon_features(
        context_wards,
        tips=[f"{context_label()}: {esc(v)}" for v in context_wards["name"]],
        style=context_style,
        simplify_deg=0.00005,
    ) + polygon_features(
        context_district,
        tips=[f"District: {esc(v)}" for v in context_district["name"]],
        style=district_style,
        simplify_deg=0.00005,
    )
    layers["context"] = add_layer(
        m,
        GeoJsonLayer(
            LAYER_CONTEXT, context_features, labels=labels(context_wards), interactive=False
        ),
    )

    layers["cells"] = add_layer(m, GeoJsonLayer(LAYER_CELLS, cell_features(hotspots, info)))

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
        features = significance_features(rows, group, fdr=bool(group_notes.get("fdr", True)))
        layers[key] = add_layer(m, GeoJsonLayer(name, features, show=False))
        legend_fn = gistar_legend if group is sig.GISTAR else emerging_legend
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
        layers["hulls"] = add_layer(
            m,
            GeoJsonLayer(LAYER_HULLS, polygon_features(hulls, tips=hull_tips, style=hull_style)),
        )

    area_style = {"color": AREA_COLOUR, "weight": 3, "fill": False}
    area_names = area["name"] if "name" in area.columns else pd.Series(["-"] * len(area))
    layers["area"] = add_layer(
        m,
        GeoJsonLayer(
            LAYER_AREA,
            polygon_features(
                area,
                tips=[f"{context_label()}: <b>{esc(v)}</b>" for v in area_names],
                style=area_style,
            ),
            labels=labels(area.assign(name=area_names.to_numpy())),
        ),
    )

    has_venues = bool(info.shows_venues and venues is not None and len(venues))
    if has_venues and venues is not None:
        layers["venues"] = add_layer(m, VenueLayer(LAYER_VENUES, venue_items(venues)))

    if disruptions is not None:
        layers["disruptions"] = add_layer(
            m,
            DisruptionMarkers(LAYER_DISRUPTIONS, disruption_items(disruptions.frame, info)),
        )

    items = target_items(targets, info)
    layers["targets"] = add_layer(m, TargetLayer(LAYER_TARGETS, items))

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    legend = score_legend_html(
        info,
        has_hulls="hulls" in layers,
        has_venues=has_venues,
        res=res,
        extra_rows=(legend_row(info),) if disruptions is not None else (),
        extra_note=legend_note(disruptions) if disruptions is not None else "",
    )
    Legend(legend).add_to(m)
    for layer, html_text, css_class in layer_legends:
        Legend(html_text, layer, css_class).add_to(m)
    m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    Expose(
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
    disruptions: DisruptionLayer | None = None,
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
        disruptions=disruptions,
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
