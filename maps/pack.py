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
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias
from xml.sax.saxutils import escape

import geopandas as gpd
import pandas as pd
import shapely
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from geo.areas import context_areas as all_wards
from geo.areas import context_label
from geo.crs import metric_crs
from geo.errors import ValidationError
from maps import significance as sig
from maps.audience import OutputMeta, require_columns, require_view
from maps.cells import HOTSPOT_COLUMNS, cells_as_int, checked_cells, first_resolution
from maps.disruptions import DisruptionLayer, about_text
from maps.pdf import (
    BAND_COLOUR,
    FRAME_H,
    FRAME_W,
    PRODUCT,
    build_pdf,
    bullets,
    clip,
    kv_table,
    para,
    paragraph_styles,
    product_text,
    register_fonts,
    table_commands,
    value_text,
)
from maps.staticmap import ClassLayer, StaticMapSpec, render_static_map
from maps.style import CellClass, cell_class_lookup
from maps.targetrows import TARGET_COLUMNS, target_rows

MAP_MAX_MM = 200.0
MAP_MIN_MM = 120.0

TARGET_TABLE_COLUMNS = (
    "#",
    "Visit",
    "Ward",
    "Grid ref",
    "Episodes",
    "Children",
    "Found",
    "Venue reports",
    "Patrol window",
    "Nearest venue",
)
"""Header of the target table's first row per target (the second row is *Why*)."""

_COL_WIDTHS_MM = (8, 9, 34, 28, 15, 15, 12, 15, 24, 24)
FIELD_CHARS = 80
"""Longest ward or venue name a table cell prints (longer ones end in an ellipsis)."""
WHY_CHARS = 600
"""Longest reason a target's *Why* row prints."""

WardsArg: TypeAlias = Sequence[tuple[str, str]] | gpd.GeoDataFrame | None


_UNIT_SUFFIXES = (
    ("_m2", "m²"),
    ("_km2", "km²"),
    ("_m", "m"),
    ("_days", "days"),
    ("_weeks", "weeks"),
)


def _label(key: str) -> str:
    """``bandwidth_m`` -> ``Bandwidth (m)``: units from the name's suffix."""
    for suffix, unit in _UNIT_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ').capitalize()} ({unit})"
    return key.replace("_", " ").capitalize()


def _cover(
    info: OutputMeta,
    styles: dict[str, ParagraphStyle],
    *,
    n_targets: int,
    n_maps: int,
    res: int | None,
    omitted: Sequence[str] = (),
) -> list[Flowable]:
    story: list[Flowable] = [
        Spacer(1, 4 * mm),
        para(info.title, styles["title"]),
        Paragraph(f"Patrol week: <b>{escape(info.period or '-')}</b>", styles["subtitle"]),
        Spacer(1, 4 * mm),
    ]
    facts = [
        ("Area", info.area_name),
        ("Audience", info.audience),
        ("Data window", info.data_window),
        ("Targets", str(n_targets)),
        ("Map pages", str(n_maps)),
        ("Generated", info.generated_at),
        ("Version", info.version),
    ]
    half = (FRAME_W - 8 * mm) / 2
    summary_rows = [(_label(k), info.count_text(v)) for k, v in info.summary.items()]
    param_rows = [(_label(k), value_text(v, ".4g")) for k, v in info.parameters.items()]
    widths = (half * 0.42, half * 0.58)
    left: list[Flowable] = [para("This pack", styles["h2"]), kv_table(facts, styles, widths)]
    if summary_rows:
        left += [
            Spacer(1, 4 * mm),
            para("Summary of the data window", styles["h2"]),
            kv_table(summary_rows, styles, widths),
        ]
    right: list[Flowable] = [para("Method and parameters", styles["h2"])]
    right.append(kv_table(param_rows or [("Parameters", "-")], styles, widths))
    columns = Table([[left, right]], colWidths=[half + 8 * mm, half])
    columns.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (0, -1), 8 * mm),
            ]
        )
    )
    story += [columns, Spacer(1, 6 * mm), para("How to read this pack", styles["h2"])]
    cell_size = {8: "about 0.74 km²", 9: "about 0.1 km², edge about 200 m", 10: "about 0.015 km²"}
    size = f" (H3 resolution {res}, {cell_size.get(res, 'hexagonal')})" if res else ""
    notes = [
        f"The map pages show hexagonal cells{escape(size)} coloured by hotspot score as a "
        "share of the area's top score: dark red cells score at least half the top; each "
        "lighter colour half the one before; pale yellow under a sixteenth. Uncoloured "
        "places had no recent activity.",
        "Numbered navy circles are <b>patrol targets</b>; number 1 is the highest priority. "
        "The numbers are the same on every map page and in the target table.",
        "Grid references are OS National Grid. Map grid lines are OS grid squares: 1 km, or "
        "500 m on a map of a small area (the top corner of each map says which); the scale "
        "bar is in metres and the arrow points to grid north.",
        "<b>Where</b>: the named street or public place nearest the target's centre, with its "
        "distance (police.uk map points or an imported gazetteer); none is given when no "
        "named place is close. "
        "<b>Patrol window</b>: the day and hours when most episodes near the target began. "
        "<b>Episodes</b>: missing-from-home reports last seen or found in the cell. "
        "<b>Children</b>: different children among them. <b>Found</b>: episodes that ended "
        "with the child found there. <b>Venue reports</b>: graded intelligence about venues in "
        "the cell.",
        "Cells and targets are places, not people. Homes and care homes are never shown and "
        "never become targets.",
    ]
    if info.suppressing:
        notes.append(
            "Disclosure control, so that no child can be recognised: "
            + escape(info.rules.legend_note())
        )
    notes += [escape(text) for text in omitted]
    notes.append(
        f"Handle as <b>{escape(info.marking)}</b>: do not leave unattended or copy beyond the "
        "briefing, and destroy securely at the end of the patrol week."
    )
    story += bullets(notes, styles)
    return story


def _pages_of(wards_arg: WardsArg, area: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """One GeoDataFrame (code, name, geometry; WGS84) per map page."""
    if wards_arg is None:
        return [area]
    if isinstance(wards_arg, gpd.GeoDataFrame):
        frame = _to_wgs84(wards_arg, "wards")
        require_columns(frame, "wards", ("code", "name"))
        return [frame.iloc[[i]] for i in range(len(frame))]
    known = pd.concat([area, all_wards()[~all_wards()["code"].isin(area["code"])]])
    pages = []
    for item in wards_arg:
        try:
            code, name = item
        except (TypeError, ValueError):
            msg = f"`wards` must hold (code, name) pairs, got {item!r}."
            raise ValidationError(msg) from None
        hit = known[known["code"] == code]
        if hit.empty:
            msg = f"ward `{code}` ({name}) is neither in `area` nor a Blackburn with Darwen ward."
            raise ValidationError(msg)
        page = hit.iloc[[0]].copy()
        page["name"] = name
        pages.append(gpd.GeoDataFrame(page, geometry="geometry", crs="EPSG:4326"))
    return pages or [area]


def _to_wgs84(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
        msg = f"`{name}` must be a GeoDataFrame with a CRS (WGS84 expected)."
        raise ValidationError(msg)
    return frame.to_crs("EPSG:4326") if frame.crs.to_epsg() != 4326 else frame


def _assign_pages(targets: pd.DataFrame, pages: list[gpd.GeoDataFrame]) -> list[list[int]]:
    """Ranks of the targets of each page: by ward name, else by location (30 m slack)."""
    out: list[list[int]] = [[] for _ in pages]
    if targets.empty:
        return out
    names = [set(p["name"].astype(str)) if "name" in p.columns else set() for p in pages]
    geoms = [
        shapely.union_all(p.to_crs(metric_crs().code).geometry.to_numpy()).buffer(30.0)
        for p in pages
    ]
    pts = gpd.GeoSeries(
        shapely.points(targets["lng"].to_numpy(float), targets["lat"].to_numpy(float)),
        crs="EPSG:4326",
    ).to_crs(metric_crs().code)
    ward_col = targets["ward_name"] if "ward_name" in targets.columns else [None] * len(targets)
    for rank, ward, pt in zip(targets["rank"].astype(int), ward_col, pts, strict=True):
        page = next((i for i, nm in enumerate(names) if ward is not None and str(ward) in nm), None)
        if page is None:
            page = next((i for i, g in enumerate(geoms) if g.contains(pt)), None)
        if page is not None:
            out[page].append(int(rank))
    return out


def _key_table(
    targets: pd.DataFrame, info: OutputMeta, styles: dict[str, ParagraphStyle]
) -> Table | None:
    """Rank, grid ref and patrol window of a page's targets (two blocks when long)."""
    if targets.empty:
        return None
    head = ["#", "Grid ref", "Patrol window", "Children"]
    rows = [
        [str(row.rank), clip(row.grid_ref, 20), clip(row.patrol_window, 40), row.children]
        for row in target_rows(targets, info)
    ]
    blocks = 2 if len(rows) > 6 else 1
    per = math.ceil(len(rows) / blocks)
    data = []
    for i in range(per):
        line: list[Any] = []
        for b in range(blocks):
            j = b * per + i
            cells = rows[j] if j < len(rows) else ["", "", "", ""]
            line += [para(c, styles["small"]) if c else "" for c in cells]
        data.append(line)
    header = [para(h, styles["head"]) for h in head] * blocks
    widths_mm = (7, 30, 29, 18) * blocks
    scale = (FRAME_W / mm) / sum(widths_mm) if blocks == 2 else 1.0
    t = Table(
        [header, *data], colWidths=[w * mm * scale for w in widths_mm], hAlign="LEFT", repeatRows=1
    )
    t.setStyle(TableStyle(table_commands(pad_v=1, pad_h=3)))
    return t


def _map_page(
    title: str,
    page_targets: pd.DataFrame,
    render: Render,
    info: OutputMeta,
    styles: dict[str, ParagraphStyle],
) -> list[Flowable]:
    """A ward's map page: title, the targets on it, the static map and the key table."""
    ranks = ", ".join(str(int(r)) for r in page_targets["rank"]) or "none"
    head: list[Flowable] = [
        Paragraph(escape(title), styles["h2"]),
        Paragraph(f"Targets on this map: {escape(ranks)}", styles["small"]),
        Spacer(1, 1.5 * mm),
    ]
    return _map_with_key(head, _key_table(page_targets, info, styles), render)


Render: TypeAlias = Callable[[StaticMapSpec, list[str]], bytes]
"""Draws a page's map at a size; appends the road names it printed to the list."""

STREETS_MM = 5.0
"""Room kept under a map for its line of road names."""


def _map_with_key(head: list[Flowable], key: Table | None, render: Render) -> list[Flowable]:
    """A map page: ``head``, the static map sized to leave room for the key, the road names
    printed on the map (as text, so the PDF can be searched for a street), and the key."""
    used = sum(f.wrap(FRAME_W, FRAME_H)[1] + f.getSpaceBefore() + f.getSpaceAfter() for f in head)
    key_h = key.wrap(FRAME_W, FRAME_H)[1] + 2 * mm if key is not None else 0.0
    # Between 120 and 200 mm tall; a very long key flows on to the next page.
    height_mm = min(MAP_MAX_MM, max(MAP_MIN_MM, (FRAME_H - used - key_h) / mm - 2 - STREETS_MM))
    spec = StaticMapSpec(width_mm=FRAME_W / mm, height_mm=height_mm)
    named: list[str] = []
    png = render(spec, named)
    story = [*head, Image(io.BytesIO(png), width=spec.width_mm * mm, height=spec.height_mm * mm)]
    if named:
        styles = paragraph_styles()
        story.append(
            Paragraph(
                f"<b>Roads named on the map:</b> {escape(', '.join(sorted(set(named))))}",
                styles["small"],
            )
        )
    if key is not None:
        story += [Spacer(1, 2 * mm), key]
    story.append(PageBreak())
    return story


GISTAR_PAGE_TITLE = "Gi* hot and cold spots"
EMERGING_PAGE_TITLE = "Emerging hot and cold spots"


def _class_key(
    rows: list[tuple[list[CellClass], str, list[int]]],
    head: list[str],
    styles: dict[str, ParagraphStyle],
) -> Table:
    """A key table: colour swatch(es), class name, cells; one row per class."""
    n_swatches = len(rows[0][0]) if rows else 1
    data: list[list[Any]] = [[para(h, styles["head"]) for h in head]]
    commands = table_commands(valign="MIDDLE", pad_v=1)
    for i, (swatches, label, counts) in enumerate(rows, start=1):
        cells_text = [str(c) for c in counts]
        data.append(["" for _ in swatches] + [para(label, styles["small"]), *cells_text])
        for j, cls in enumerate(swatches):
            commands += [
                ("BACKGROUND", (j, i), (j, i), colors.HexColor(cls.colour)),
                ("BOX", (j, i), (j, i), 0.8, colors.HexColor(cls.edge)),
            ]
    n_counts = len(head) - n_swatches - 1
    widths = [12 * mm] * n_swatches + [60 * mm] + [20 * mm] * n_counts
    table = Table(data, colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table


def _significance_pages(
    frame: pd.DataFrame,
    notes: Mapping[str, Any],
    hotspots: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    area: gpd.GeoDataFrame,
    hulls: gpd.GeoDataFrame | None,
    info: OutputMeta,
    styles: dict[str, ParagraphStyle],
    base: gpd.GeoDataFrame | None = None,
) -> list[Flowable]:
    """The Gi* page and the trend page (each only when its columns are present)."""
    story: list[Flowable] = []
    where = info.area_name or "pack area"
    for group in sig.GROUPS:
        rows = sig.drawn(frame, group)
        if rows is None:
            continue
        group_notes = dict(notes.get(group.name) or {})
        counts = sig.class_counts(rows, group)
        lookup = cell_class_lookup(group.classes)
        if group is sig.GISTAR:
            title = f"{GISTAR_PAGE_TITLE}: {where}"
            k = int(group_notes.get("k", 1))
            fdr = bool(group_notes.get("fdr", True))
            intro = (
                "Getis-Ord Gi* of each cell's weighted events (the same weights as the hotspot "
                f"score) against the whole area, neighbours within {k} ring"
                f"{'s' if k != 1 else ''}. A hot spot is a cell whose neighbourhood holds more "
                "than chance would put there; a cold spot, less. "
                + (
                    "Confidence is after the false discovery rate correction "
                    "(Benjamini-Hochberg) for the many cells tested. "
                    if fdr
                    else "Confidence is not corrected for the many cells tested. "
                )
                + "Cells that are not significant are left blank."
            )
            key = _class_key(
                [([c], c.label, [counts[c.key]]) for c in group.classes],
                ["Key", "Class", "Cells"],
                styles,
            )
            layer_title = "Gi* hot and cold spots"
            legend_all = True
        else:
            weeks = group_notes.get("n_weeks")
            span = f"the {int(weeks)} weeks" if weeks else "the weeks"
            title = f"{EMERGING_PAGE_TITLE}: {where}"
            intro = (
                f"Gi* of each week's events, then the Mann-Kendall trend of each cell's weekly "
                f"z-scores over {span} of the data window; patterns after ArcGIS Pro's Emerging "
                "Hot Spot Analysis (new, consecutive, intensifying, persistent, diminishing, "
                "sporadic, oscillating, historical). Hot spots have solid outlines, cold spots "
                "dashed. Cells with no pattern are left blank."
            )
            half = group.classes[: len(group.classes) // 2]
            key = _class_key(
                [
                    (
                        [c, lookup[c.key.replace("_hot", "_cold")]],
                        c.label.removesuffix(" hot spot"),
                        [counts[c.key], counts[c.key.replace("_hot", "_cold")]],
                    )
                    for c in half
                ],
                ["Hot", "Cold", "Pattern", "Hot cells", "Cold cells"],
                styles,
            )
            layer_title = "Emerging hot and cold spots"
            legend_all = False
        layer = ClassLayer(
            cells=cells_as_int(rows["h3"]),
            keys=rows[group.class_column].astype(str).tolist(),
            classes=group.classes,
            title=layer_title,
            legend_all=legend_all,
        )

        def render(spec: StaticMapSpec, named: list[str], layer: ClassLayer = layer) -> bytes:
            return render_static_map(
                hotspots,
                targets,
                focus=area,
                area=area,
                hulls=hulls,
                spec=spec,
                class_layer=layer,
                base=base,
                named=named,
            )

        head: list[Flowable] = [
            Paragraph(escape(title), styles["h2"]),
            Paragraph(escape(intro), styles["small"]),
            Spacer(1, 1.5 * mm),
        ]
        story += _map_with_key(head, key, render)
    return story


def _omitted_notes(frame: pd.DataFrame | None, notes: Mapping[str, Any]) -> list[str]:
    """Cover notes for the analyst pages left out, with the reason the service gave."""
    out = []
    for group, page in ((sig.GISTAR, GISTAR_PAGE_TITLE), (sig.EMERGING, EMERGING_PAGE_TITLE)):
        if sig.has_group(frame, group):
            continue
        reason = str(dict(notes.get(group.name) or {}).get("reason") or "not computed")
        out.append(f"{page}: no page this week, {reason}")
    return out


def target_table(
    targets: pd.DataFrame, info: OutputMeta, styles: dict[str, ParagraphStyle] | None = None
) -> Table:
    """The target table: one row of fixed fields per target, then a *Why* row.

    Columns are :data:`TARGET_TABLE_COLUMNS`. Rows of one target never split
    across pages; the header repeats on every page.
    """
    register_fonts()
    styles = styles or paragraph_styles()
    # The "Ward" column holds the area of the kind the pack pages by.
    header = [
        para(context_label() if h == "Ward" else h, styles["head"]) for h in TARGET_TABLE_COLUMNS
    ]
    data: list[list[Any]] = [header]
    commands = table_commands(rules_from=None, pad_h=2.5)
    for i, row in enumerate(target_rows(targets, info)):
        r = 1 + 2 * i
        # Free text from data is cut to what a table row can hold, with an ellipsis: a row
        # taller than the page would stop the whole pack.
        fields = (
            row.visit_order,
            clip(row.ward, FIELD_CHARS),
            clip(row.grid_ref, 20),
            row.episodes,
            row.children,
            row.found,
            row.venue_reports,
            clip(row.patrol_window, 40),
            clip(row.nearest_venue, FIELD_CHARS),
        )
        data.append(
            [para(row.rank, styles["cellb"])] + [para(text, styles["cell"]) for text in fields]
        )
        why = f"<b>Why:</b> {escape(clip(row.why, WHY_CHARS))}"
        if row.near != "-":
            why = f"<b>Where:</b> {escape(clip(row.near, FIELD_CHARS))}<br/>" + why
        if row.disruption != "-":
            why += f"<br/><b>Disruptions near:</b> {escape(clip(row.disruption, WHY_CHARS))}"
        if row.displacement != "-":
            why += f"<br/><b>Displacement:</b> {escape(clip(row.displacement, WHY_CHARS))}"
        why_par = Paragraph(why, styles["cell"])
        data.append(["", why_par] + [""] * (len(TARGET_TABLE_COLUMNS) - 2))
        commands += [
            ("SPAN", (1, r + 1), (-1, r + 1)),
            ("NOSPLIT", (0, r), (-1, r + 1)),
            ("LINEBELOW", (0, r + 1), (-1, r + 1), 0.4, colors.HexColor("#999999")),
            ("TOPPADDING", (0, r + 1), (-1, r + 1), 0),
            ("BOTTOMPADDING", (0, r + 1), (-1, r + 1), 3),
        ]
        if i % 2 == 1:
            commands.append(("BACKGROUND", (0, r), (-1, r + 1), colors.HexColor(BAND_COLOUR)))
    widths = [w * mm * (FRAME_W / mm) / sum(_COL_WIDTHS_MM) for w in _COL_WIDTHS_MM]
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table


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
    area = _to_wgs84(area, "area")
    cells = checked_cells(hotspots["h3"], info.audience)
    res = first_resolution(cells)
    targets = targets.sort_values("rank", kind="stable").reset_index(drop=True)
    styles = paragraph_styles()
    pages = _pages_of(wards, area)
    ranks_per_page = _assign_pages(targets, pages)

    notes = dict(significance_meta or {})
    shown_sig = sig.for_audience(significance, info) if info.shows_significance_pages else None
    omitted: list[str] = []
    if info.shows_significance_pages:
        omitted = _omitted_notes(shown_sig, notes)
        if shown_sig is not None:
            sig.check_cells(shown_sig, cells, info.audience)
    n_sig = sum(sig.has_group(shown_sig, g) for g in sig.GROUPS)
    story: list[Flowable] = _cover(
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

        story += _map_page(title, page_targets, render, info, styles)
    if shown_sig is not None:
        story += _significance_pages(
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
