"""The printable weekly pack: an A4 PDF a neighbourhood sergeant can brief from.

Pages, in order:

1. Cover: title, patrol week, area, audience, data window, summary counts,
   method parameters and how to read the pack.
2. One map page per ward asked for (or one for the whole area): a static map
   (:mod:`maps.staticmap`) zoomed to the ward, with its numbered targets, a
   legend, a scale bar in metres, a north arrow and the 1 km OS grid, and a
   key giving each target's grid reference and patrol window; the window's
   disruptions are magenta diamonds (:mod:`maps.disruptions`).
3. Analyst packs only: a page of Getis-Ord Gi* hot and cold spots and a page of
   emerging-hotspot trend classes over the whole area, each with its legend, a
   key of cells per class and the targets numbered (when the weekly service
   computed them; otherwise the cover says why they are missing).
4. The target table, split over pages as needed, its header repeated. Each
   target is one row of fixed fields (so it prints, and extracts from the PDF,
   as one line) and a second row with the explanation and the disruptions
   near it (and, for analysts, a possible displacement).

The security marking is printed in the header and the footer of every page,
with "Page n of m". Text from data is escaped for reportlab's paragraph
markup, so ``<script>`` prints as itself. Fonts are DejaVu Sans, shipped with
matplotlib, so any Unicode in place names prints. The page furniture (fonts,
styles, marked header and footer, document) is :mod:`maps.pdf`'s, shared with
the analysts' reports.

This module puts the pages together; each kind of page is drawn in its own
module: the cover in :mod:`maps.packcover`, the map pages and their key tables
in :mod:`maps.packmaps`, the Gi* and trend pages in :mod:`maps.packsignificance`
and the target table in :mod:`maps.packtable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Paragraph, Spacer

from maps import significance as sig
from maps.audience import OutputMeta, require_columns, require_view
from maps.cells import HOTSPOT_COLUMNS, checked_cells, first_resolution
from maps.disruptions import DisruptionLayer, about_text
from maps.packcover import cover
from maps.packmaps import (
    MAP_MAX_MM,
    MAP_MIN_MM,
    STREETS_MM,
    Render,
    WardsArg,
    assign_pages,
    map_page,
    pages_of,
    to_wgs84,
)
from maps.packsignificance import (
    EMERGING_PAGE_TITLE,
    GISTAR_PAGE_TITLE,
    omitted_notes,
    significance_pages,
)
from maps.packtable import FIELD_CHARS, TARGET_TABLE_COLUMNS, WHY_CHARS, target_table
from maps.pdf import PRODUCT, build_pdf, clip, paragraph_styles, product_text
from maps.staticmap import StaticMapSpec, render_static_map
from maps.targetrows import TARGET_COLUMNS

__all__ = [
    "EMERGING_PAGE_TITLE",
    "FIELD_CHARS",
    "GISTAR_PAGE_TITLE",
    "MAP_MAX_MM",
    "MAP_MIN_MM",
    "STREETS_MM",
    "TARGET_TABLE_COLUMNS",
    "WHY_CHARS",
    "Render",
    "WardsArg",
    "build_pack",
    "target_table",
]


def build_pack(
    path: str | Path,
    hotspots: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    area: gpd.GeoDataFrame,
    meta: Mapping[str, Any],
    hulls: gpd.GeoDataFrame | None = None,
    wards: WardsArg = None,
    significance: pd.DataFrame | None = None,
    significance_meta: Mapping[str, Any] | None = None,
    disruptions: DisruptionLayer | None = None,
    base: gpd.GeoDataFrame | None = None,
) -> Path:
    """Write the A4 PDF pack; returns its path.

    Parameters
    ----------
    path
        Output file (``.pdf``); written whole or not at all.
    hotspots
        One row per H3 cell: ``h3`` (int64), ``lat``, ``lng``, ``score``.
    targets
        Ranked targets: ``rank``, ``h3``, ``lat``, ``lng``, ``score`` and the
        table's columns (``ward_name``, ``grid_ref``, ``episodes``,
        ``children``, ``found``, ``venue_reports``, ``patrol_window``,
        ``nearest_venue``, ``why``, and ``near``/``near_m`` printed as "Where: on or near
        <name>, <metres> m" above the reason); missing ones print ``-``.
    area
        The pack's ward(s) (``code``, ``name``, polygons), WGS84.
    meta
        See :class:`maps.audience.OutputMeta`.
    hulls
        Optional DBSCAN cluster polygons (WGS84).
    wards
        Map pages: ``None`` for one map of the whole ``area``, or a list of
        ``(code, name)`` pairs or a GeoDataFrame for one page per ward, each
        zoomed to its ward and numbering its own targets.
    significance
        Optional Gi* and emerging-pattern columns per cell (see
        :mod:`maps.significance`). Analyst packs get a page for each group
        present, after the map pages; other audiences get none.
    significance_meta
        Optional ``{"gistar": {...}, "emerging": {...}}``: ``k``, ``fdr`` and
        ``n_weeks`` for the pages' text, and ``reason`` for a layer that was not
        computed (printed on an analyst pack's cover).
    disruptions
        Optional disruptions of the window (:mod:`maps.disruptions`): drawn on
        the map pages, described on the cover with how many had no place.
        Each target's ``disruption`` (and, for analysts, ``displacement``)
        prints under its reason in the table.
    base
        Optional base layers (a view of
        :func:`maps.disclosure.base_layers_view`): drawn under the cells of
        every map, with a few road names on the map and, as text under it,
        the list of the roads named.

    Raises
    ------
    ValidationError
        For missing columns, an unknown audience, partner cells finer than
        resolution 8, or a ward that cannot be found.
    """
    info = OutputMeta.from_mapping(meta)
    require_columns(hotspots, "hotspots", HOTSPOT_COLUMNS)
    require_columns(targets, "targets", TARGET_COLUMNS)
    require_view(hotspots, "hotspots", info)
    require_view(targets, "targets", info)
    require_view(hulls, "hulls", info)
    require_view(base, "base", info)
    if disruptions is not None:
        disruptions = disruptions.checked(info)
        disruption_notes = [about_text(disruptions, info)]
    else:
        disruption_notes = []
    area = to_wgs84(area, "area")
    cells = checked_cells(hotspots["h3"], info.audience)
    res = first_resolution(cells)
    targets = targets.sort_values("rank", kind="stable").reset_index(drop=True)
    styles = paragraph_styles()
    pages = pages_of(wards, area)
    ranks_per_page = assign_pages(targets, pages)

    notes = dict(significance_meta or {})
    shown_sig = sig.for_audience(significance, info) if info.shows_significance_pages else None
    omitted: list[str] = []
    if info.shows_significance_pages:
        omitted = omitted_notes(shown_sig, notes)
        if shown_sig is not None:
            sig.check_cells(shown_sig, cells, info.audience)
    n_sig = sum(sig.has_group(shown_sig, g) for g in sig.GROUPS)
    story: list[Flowable] = cover(
        info,
        styles,
        n_targets=len(targets),
        n_maps=len(pages) + n_sig,
        res=res,
        omitted=[*disruption_notes, *omitted],
    )
    story.append(PageBreak())
    for i, (page, ranks) in enumerate(zip(pages, ranks_per_page, strict=True)):
        page_targets = targets[targets["rank"].astype(int).isin(ranks)]
        if wards is None:
            title = f"Map: {info.area_name or 'pack area'}"
        else:
            code = str(page["code"].iloc[0]) if "code" in page.columns else ""
            title = f"Map {i + 1} of {len(pages)}: {page['name'].iloc[0]} ({code})"

        def render(
            spec: StaticMapSpec,
            named: list[str],
            page: gpd.GeoDataFrame = page,
            ranks: list[int] = ranks,
        ) -> bytes:
            return render_static_map(
                hotspots,
                targets,
                focus=page,
                area=area,
                hulls=hulls,
                highlight=ranks if wards is not None else None,
                spec=spec,
                disruptions=disruptions.frame if disruptions is not None else None,
                base=base,
                named=named,
            )

        story += map_page(title, page_targets, render, info, styles)
    if shown_sig is not None:
        story += significance_pages(
            shown_sig,
            notes,
            hotspots,
            targets,
            area=area,
            hulls=hulls,
            info=info,
            styles=styles,
            base=base,
        )
    story.append(
        KeepTogether(
            [
                Paragraph("Target list", styles["h2"]),
                Paragraph(
                    "Ranked by score; 1 is the highest priority. Numbers match the maps.",
                    styles["small"],
                ),
                Spacer(1, 2 * mm),
            ]
        )
    )
    story.append(target_table(targets, info, styles))

    provenance = (
        f"Generated {info.generated_at}" if info.generated_at else "",
        f"{PRODUCT} {info.version}" if info.version else PRODUCT,
    )
    return build_pdf(
        path,
        story,
        marking=info.marking,
        header=(clip(info.title, 70), clip(f"Patrol week {info.period}", 60)),
        footer=clip(" · ".join(p for p in provenance if p), 70),
        title=info.title,
        subject=f"{info.marking} - patrol week {info.period}",
        creator=product_text(info.version),
    )
