"""The analyst pack's significance pages: Getis-Ord Gi* hot and cold spots and the
emerging-hotspot trend classes over the whole area, each a map with its legend and a key
of cells per class, and the cover notes for a page left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import pandas as pd
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from maps import significance as sig
from maps.audience import OutputMeta
from maps.cells import cells_as_int
from maps.packmaps import map_with_key
from maps.pdf import para, table_commands
from maps.staticmap import ClassLayer, StaticMapSpec, render_static_map
from maps.style import CellClass, cell_class_lookup

GISTAR_PAGE_TITLE = "Gi* hot and cold spots"
EMERGING_PAGE_TITLE = "Emerging hot and cold spots"


def class_key(
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


def significance_pages(
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
            key = class_key(
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
            key = class_key(
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
        story += map_with_key(head, key, render)
    return story


def omitted_notes(frame: pd.DataFrame | None, notes: Mapping[str, Any]) -> list[str]:
    """Cover notes for the analyst pages left out, with the reason the service gave."""
    out = []
    for group, page in ((sig.GISTAR, GISTAR_PAGE_TITLE), (sig.EMERGING, EMERGING_PAGE_TITLE)):
        if sig.has_group(frame, group):
            continue
        reason = str(dict(notes.get(group.name) or {}).get("reason") or "not computed")
        out.append(f"{page}: no page this week, {reason}")
    return out
