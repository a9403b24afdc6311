"""The weekly pack's target table: one row of fixed fields per target (so it prints, and
extracts from the PDF, as one line) and under it the *Where*, *Why*, disruptions and,
for analysts, displacement row.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import pandas as pd
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Table, TableStyle

from geo.areas import context_label
from maps.audience import OutputMeta
from maps.pdf import (
    BAND_COLOUR,
    FRAME_W,
    clip,
    para,
    paragraph_styles,
    register_fonts,
    table_commands,
)
from maps.targetrows import target_rows

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
