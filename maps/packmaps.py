"""The weekly pack's map pages: which targets each page holds, the static map sized to
the page, the road names printed on it and the key of its targets (grid reference,
patrol window, children). :mod:`maps.packsignificance` lays its pages out the same way.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias
from xml.sax.saxutils import escape

import geopandas as gpd
import pandas as pd
import shapely
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Image, PageBreak, Paragraph, Spacer, Table, TableStyle

from geo.areas import context_areas as all_wards
from geo.crs import metric_crs
from geo.errors import ValidationError
from maps.audience import OutputMeta, require_columns
from maps.pdf import FRAME_H, FRAME_W, clip, para, paragraph_styles, table_commands
from maps.staticmap import StaticMapSpec
from maps.targetrows import target_rows

MAP_MAX_MM = 200.0
MAP_MIN_MM = 120.0
STREETS_MM = 5.0
"""Room kept under a map for its line of road names."""

WardsArg: TypeAlias = Sequence[tuple[str, str]] | gpd.GeoDataFrame | None
"""Map pages: ``None`` for one map of the whole area, ``(code, name)`` pairs or a
GeoDataFrame for one page per ward."""

Render: TypeAlias = Callable[[StaticMapSpec, list[str]], bytes]
"""Draws a page's map at a size; appends the road names it printed to the list."""


def pages_of(wards_arg: WardsArg, area: gpd.GeoDataFrame) -> list[gpd.GeoDataFrame]:
    """One GeoDataFrame (code, name, geometry; WGS84) per map page."""
    if wards_arg is None:
        return [area]
    if isinstance(wards_arg, gpd.GeoDataFrame):
        frame = to_wgs84(wards_arg, "wards")
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


def to_wgs84(frame: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
        msg = f"`{name}` must be a GeoDataFrame with a CRS (WGS84 expected)."
        raise ValidationError(msg)
    return frame.to_crs("EPSG:4326") if frame.crs.to_epsg() != 4326 else frame


def assign_pages(targets: pd.DataFrame, pages: list[gpd.GeoDataFrame]) -> list[list[int]]:
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


def key_table(
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


def map_page(
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
    return map_with_key(head, key_table(page_targets, info, styles), render)


def map_with_key(head: list[Flowable], key: Table | None, render: Render) -> list[Flowable]:
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
