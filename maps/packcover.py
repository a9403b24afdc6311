"""The weekly pack's cover: title, patrol week, the pack's facts, the summary of the data
window, the method's parameters and the notes on how to read the pack (with the
disclosure rule, the disruptions and any analyst page left out). :mod:`maps.pack`
puts it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from maps.audience import OutputMeta
from maps.pdf import FRAME_W, bullets, kv_table, para, value_text

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


def cover(
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
