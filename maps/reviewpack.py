"""The partnership review pack: an A4 PDF a chair can read aloud, and the same as one HTML file.

Both print a :class:`maps.disclosure.review.ReviewShown` (the review as one
audience may see it) and decide nothing about disclosure: every count,
estimate and series value is printed as that view gives it. The series
charts read the view's ``shown`` texts only (never ``n``): a partner's
``<5`` or ``[c]`` is drawn as a hatched grey period carrying that text,
never as a bar, so no hidden count reaches a chart.

:func:`review_pdf` writes, in this order:

1. the cover: title, the run's facts, *The question* (did the events fall
   where we acted, move next door, or did the benefit spread?) and *The
   answer*, one sentence per disruption and per tactic, in the view's order;
   when no disruption could be reviewed, a line saying so (each sentence
   gives its reason);
2. one section per reviewed disruption, each from a new page: its answer,
   a map of its response area, buffer ring(s) and control blocks (British
   National Grid, with legend, OS grid, scale bar and north arrow; the place
   marked with its id, and its name only when the view gives one), the
   before/after series of each area with the disruption's week marked, and,
   for analysts only, the cumulative difference (response area minus control);
3. the table: the disruptions, their counts before and after, the WDD, the
   Bowers and Johnson measures, the readings and the controls;
4. *How to read it*: the view's paragraphs, and how the charts are drawn.

Every page carries the marking in its header and footer with "Page n of m"
(:func:`maps.pdf.build_pdf`). :func:`review_html` renders the same content
into one offline page (``templates/review.html``, Jinja2, autoescaped; inline
CSS, the map and charts as PNG data URIs, no external resource).

The map and charts are drawn with matplotlib's object API (no pyplot state)
and carry no timestamps, so the same view gives the same bytes.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.sax.saxutils import escape

import jinja2
import numpy as np
import pandas as pd
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Spacer, Table, TableStyle

from geo.errors import ValidationError
from maps.disclosure.review import PERIOD_WEEKS, ReviewShown, p_exact, tactic_text
from maps.pdf import (
    BAND_COLOUR,
    FRAME_W,
    build_pdf,
    bullets,
    clip,
    kv_table,
    para,
    paragraph_styles,
    product_text,
    table_commands,
    value_text,
)
from maps.reports import _plot_block, marking_text
from maps.reviewcharts import (
    CHART_WIDTH_MM,
    HTML_DPI,
    MAP_SIZE_MM,
    _area_key,
    _disruption_week,
    _metres,
    area_title,
    review_cumulative_png,
    review_map_png,
    review_series_png,
)
from maps.style import TARGET_FILL
from models.review import ALL_TACTICS

DEFAULT_TITLE = "Partnership review of disruptions"

QUESTION = (
    "Did the events fall where we acted, move next door, or did the benefit spread to the "
    "streets around?"
)
"""The question the pack answers, printed on its cover."""

PDF_DPI = 200
"""Resolution of the map and charts printed in the PDF (dots per inch)."""
SHARED_DPI = 150
"""Resolution of the images when the PDF and the HTML page share them (one drawing each)."""

ImageCache = dict[tuple[str, str], bytes | None]
"""Drawn images by (kind, disruption id): the PDF and the HTML page of one review
share them, so each map and chart is drawn once."""


def _image(
    cache: ImageCache | None, kind: str, shown: ReviewShown, did: str, dpi: int
) -> bytes | None:
    draw = {"map": review_map_png, "series": review_series_png, "cumulative": review_cumulative_png}
    if cache is None:
        return draw[kind](shown, did, dpi=dpi)
    if (kind, did) not in cache:
        cache[(kind, did)] = draw[kind](shown, did, dpi=dpi)
    return cache[(kind, did)]


CUMULATIVE_HEADING = "Cumulative difference: response area minus control"
"""Heading of the analysts' cumulative chart (partners never get it)."""
SERIES_HEADING = "Events before and after, by area"
MAP_HEADING = "The areas compared"

NO_FACTS: Mapping[str, Any] = MappingProxyType({})
RUNNING_FACTS = ("area", "data", "data window")
"""Facts printed, in the caller's order, at the right of every page's header."""


# --- what is printed ----------------------------------------------------------------------


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float | np.floating) and math.isnan(float(v))


def _text(v: Any) -> str:
    """A value from data as printed: ``-`` when missing, yes/no for booleans."""
    if _missing(v):
        return "-"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _number(v: Any, digits: int) -> str:
    """A number with ``digits`` decimals; text (a partner's ``[c]``) as it is; ``-`` missing."""
    if _missing(v):
        return "-"
    if isinstance(v, str):
        return v or "-"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    return f"{float(v):.{digits}f}"


def _count(v: Any) -> str:
    """A count as the view gives it: text for partners, a whole number for analysts."""
    if _missing(v):
        return "-"
    if isinstance(v, str):
        return v or "-"
    return str(round(float(v)))


def _p(v: Any, partner: bool) -> str:
    if partner or isinstance(v, str):
        return _text(v)
    return "-" if _missing(v) else p_exact(float(v))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as dicts keyed by column name."""
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def _is_per(row: Mapping[str, Any]) -> bool:
    return str(row.get("disruption_id") or "") != ""


def _reviewed(row: Mapping[str, Any]) -> bool:
    v = row.get("reviewed")
    return False if _missing(v) else bool(v)


def row_label(row: Mapping[str, Any]) -> str:
    """How a row of the review is named: its disruption id, or ``All closure orders (3)``."""
    if _is_per(row):
        return str(row["disruption_id"])
    pooled = row.get("pooled")
    n = "" if pooled is None or _missing(pooled) else f" ({int(pooled)})"
    if str(row.get("tactic")) == ALL_TACTICS:
        return f"All disruptions{n}"
    return f"All {tactic_text(str(row.get('tactic', '')))}s{n}"


def reviewed_ids(shown: ReviewShown) -> list[str]:
    """The disruptions that were reviewed, in the view's order: one pack section each."""
    rows = shown.rows
    out: list[str] = []
    for r in _records(rows):
        did = str(r.get("disruption_id") or "")
        if did and _reviewed(r) and did not in out:
            out.append(did)
    return out


def _answer_of(shown: ReviewShown, key: str) -> str:
    return next((text for k, text in shown.answers if k == key), "")


def _row_of(shown: ReviewShown, did: str) -> dict[str, Any]:
    match = shown.rows.loc[shown.rows["disruption_id"].astype(str) == did]
    return _records(match)[0] if len(match) else {}


def section_title(shown: ReviewShown, did: str) -> str:
    """``D1: closure order on 2025-03-05 at <place>`` (the place only when the view names it)."""
    row = _row_of(shown, did)
    place = str(row.get("place") or "")
    text = f"{did}: {tactic_text(row.get('tactic', ''))} on {_text(row.get('date'))}"
    return f"{text} at {place}" if place else text


def _not_reviewed_note(shown: ReviewShown) -> str:
    per = [r for r in _records(shown.rows) if _is_per(r)]
    if not per:
        return "There were no disruptions to review in this run."
    n = len(per)
    return (
        f"None of the {n} disruption{'s' if n != 1 else ''} could be reviewed: each sentence "
        "above gives the reason. There are no maps, charts or estimates in this pack."
    )


def _facts(shown: ReviewShown, facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [(str(k), value_text(v)) for k, v in facts.items()]
    keys = {k.lower() for k, _ in out}
    if "audience" not in keys:
        out.append(("audience", shown.audience.name))
    spec = shown.spec
    r = float(spec.get("response_m", 0))
    rings = [float(b) for b in spec.get("buffer_m", [])]
    out.append(("response area", f"within {_metres(r)} of the disrupted place"))
    if rings:
        ring_text = f"{r:g} to {_metres(rings[-1])}"
        if len(rings) > 1:
            ring_text += f", in rings to {', '.join(_metres(b) for b in rings)}"
        out.append(("buffer", ring_text))
    per = [row for row in _records(shown.rows) if _is_per(row)]
    done = sum(_reviewed(row) for row in per)
    out.append(("disruptions", f"{done} reviewed of {len(per)}"))
    return out


# --- the tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewTable:
    """One printed table of the review: texts only, shared by the PDF and the HTML page.

    ``groups`` names each column's group (``""`` for none): columns of one
    group (an area's before and after) sit under a spanning header.
    ``widths`` are relative column widths.
    """

    heading: str
    note: str
    groups: tuple[str, ...]
    columns: tuple[str, ...]
    widths: tuple[float, ...]
    rows: tuple[tuple[str, ...], ...]

    def header_rows(self) -> list[list[tuple[str, int, int]]]:
        """The header as rows of (text, colspan, rowspan): one row, or two when grouped."""
        if not any(self.groups):
            return [[(c, 1, 1) for c in self.columns]]
        top: list[tuple[str, int, int]] = []
        bottom: list[tuple[str, int, int]] = []
        i = 0
        while i < len(self.columns):
            g = self.groups[i]
            if not g:
                top.append((self.columns[i], 1, 2))
                i += 1
                continue
            j = i
            while j < len(self.columns) and self.groups[j] == g:
                bottom.append((self.columns[j], 1, 1))
                j += 1
            top.append((g, j - i, 1))
            i = j
        return [top, bottom]


def _drop_empty(table: ReviewTable, keep: int = 1) -> ReviewTable | None:
    """The table without the columns (after the first ``keep``) that are ``-`` in every row;
    ``None`` when no such column is left or there are no rows."""
    if not table.rows:
        return None
    cols = [
        i
        for i in range(len(table.columns))
        if i < keep or any(r[i] not in ("-", "") for r in table.rows)
    ]
    if len(cols) <= keep:
        return None
    return ReviewTable(
        table.heading,
        table.note,
        tuple(table.groups[i] for i in cols),
        tuple(table.columns[i] for i in cols),
        tuple(table.widths[i] for i in cols),
        tuple(tuple(r[i] for i in cols) for r in table.rows),
    )


def _notes(row: Mapping[str, Any]) -> str:
    if _is_per(row) and not _reviewed(row):
        return f"not reviewed: {_text(row.get('reason'))}"
    parts = []
    note = row.get("window_note")
    if not _missing(note) and str(note):
        parts.append(str(note))
    overlaps = row.get("overlaps")
    if not _missing(overlaps) and str(overlaps):
        parts.append(f"overlaps {overlaps}")
    if not _is_per(row):
        parts.append("pooled: the sum of its reviewed disruptions' WDDs")
    return "; ".join(parts) or "-"


def review_tables(shown: ReviewShown) -> list[ReviewTable]:
    """The review's rows as printed tables (columns empty for this audience left out)."""
    partner = shown.audience.partner
    records = _records(shown.rows)
    labels = [row_label(r) for r in records]
    tables: list[ReviewTable] = []

    tables.append(
        ReviewTable(
            "The disruptions",
            "One row per disruption, then one per tactic (its reviewed disruptions together).",
            ("",) * 7,
            ("Disruption", "Tactic", "Date", "Place", "Reviewed", "Weeks before / after", "Notes"),
            (16, 20, 15, 24, 13, 14, 50),
            tuple(
                (
                    label,
                    tactic_text(r.get("tactic", "")),
                    _text(r.get("date")) if _is_per(r) else "-",
                    str(r.get("place") or "-") if _is_per(r) else "-",
                    _text(_reviewed(r)),
                    "-"
                    if _missing(r.get("before_weeks"))
                    else f"{_text(r.get('before_weeks'))} / {_text(r.get('after_weeks'))}",
                    _notes(r),
                )
                for label, r in zip(labels, records, strict=True)
            ),
        )
    )

    areas = sorted(
        {c.rsplit("_", 1)[0] for c in shown.rows.columns if c.endswith(("_before", "_after"))},
        key=_area_key,
    )
    groups: list[str] = [""]
    columns: list[str] = ["Disruption"]
    for a in areas:
        groups += [area_title(a, shown.spec)] * 2
        columns += ["before", "after"]
    counts = ReviewTable(
        "Events before and after",
        "Events in each area in the weeks before and the weeks after the disruption "
        "(its own week belongs to neither). " + shown.audience.legend_note(),
        tuple(groups),
        tuple(columns),
        (16, *[10.0] * (len(columns) - 1)),
        tuple(
            (
                label,
                *[_count(r.get(f"{a}_{side}")) for a in areas for side in ("before", "after")],
            )
            for label, r in zip(labels, records, strict=True)
        ),
    )
    tables.append(_drop_empty(counts) or counts)

    def interval(r: Mapping[str, Any]) -> str:
        low, high = r.get("wdd_low"), r.get("wdd_high")
        if _missing(low) and _missing(high):
            return "-"
        return f"{_number(low, 1)} to {_number(high, 1)}"

    level = 1 - float(shown.spec.get("alpha", 0.1))
    wdd = ReviewTable(
        "The WDD (weighted displacement difference)",
        "Below 0: events prevented. The response area and buffer parts add up to the WDD.",
        ("",) * 11,
        (
            "Disruption",
            "WDD",
            f"{level:.0%} interval",
            "SE",
            "z",
            "p",
            "E-test p",
            "phi",
            "Response area part",
            "Buffer part",
            "MDE",
        ),
        (16, 10, 18, 9, 9, 10, 10, 8, 13, 11, 9),
        tuple(
            (
                label,
                _number(r.get("wdd"), 1),
                interval(r),
                _number(r.get("wdd_se"), 2),
                _number(r.get("wdd_z"), 2),
                _p(r.get("wdd_p"), partner),
                _p(r.get("etest_p"), partner),
                _number(r.get("phi"), 2 if not partner else 1),
                _number(r.get("wdd_local"), 1),
                _number(r.get("wdd_displace"), 1),
                _number(r.get("mde"), 1),
            )
            for label, r in zip(labels, records, strict=True)
        ),
    )
    bj = ReviewTable(
        "Bowers and Johnson measures",
        "GE: the response area's fall (above 0 a fall). WDQ: above 0 the benefit spread, "
        "below 0 the problem moved; it means nothing unless the response area improved "
        "against its control. TNE: events prevented overall (above 0).",
        ("",) * 8,
        (
            "Disruption",
            "GE",
            "NE",
            "Success measure",
            "Buffer measure",
            "WDQ",
            "WDQ reading",
            "TNE",
        ),
        (16, 9, 9, 12, 12, 9, 34, 9),
        tuple(
            (
                label,
                _number(r.get("ge"), 1),
                _number(r.get("ne"), 3),
                _number(r.get("success_measure"), 3),
                _number(r.get("buffer_displacement_measure"), 3),
                _number(r.get("wdq"), 2 if not partner else 1),
                _text(r.get("wdq_reading")),
                _number(r.get("tne"), 1),
            )
            for label, r in zip(labels, records, strict=True)
        ),
    )
    readings = ReviewTable(
        "Readings and controls",
        "The plain reading of each area, how its control was chosen, and what the review "
        "could detect.",
        ("",) * 6,
        (
            "Disruption",
            "Response area",
            "Buffer",
            "Control",
            "Buffer's control",
            "Detectable effect",
        ),
        (16, 16, 18, 34, 34, 30),
        tuple(
            (
                label,
                _text(r.get("local_reading")),
                _text(r.get("buffer_reading")),
                _text(r.get("control_rule")),
                _text(r.get("buffer_control_rule")),
                _text(r.get("mde_note")),
            )
            for label, r in zip(labels, records, strict=True)
        ),
    )
    for t in (wdd, bj, readings):
        kept = _drop_empty(t)
        if kept is not None:
            tables.append(kept)
    return tables


# --- the series chart ---------------------------------------------------------------------


# --- the map ------------------------------------------------------------------------------


# --- captions -----------------------------------------------------------------------------


def _map_caption(shown: ReviewShown) -> str:
    spec = shown.spec
    r = float(spec.get("response_m", 0))
    rings = [float(b) for b in spec.get("buffer_m", [])]
    outer = rings[-1] if rings else r
    return (
        f"Response area: within {_metres(r)} of the place. Buffer: {r:g} to {_metres(outer)}, "
        "where displacement or diffusion would show. Control: blocks chosen to match the "
        "response area's events before the disruption; the buffer's control matches the "
        "buffer's."
    )


def _series_caption(shown: ReviewShown, did: str) -> str:
    week = _disruption_week(shown, did)
    when = f" (the week of {week})" if week else ""
    if shown.audience.partner:
        return (
            f"Events in each {PERIOD_WEEKS}-week period before and after the disruption, whose "
            f"week{when} is the line at 0 and belongs to neither. "
            + shown.audience.legend_note()
            + " A hatched grey period is one whose count is not shown; its label says why."
        )
    return (
        f"Events each week before and after the disruption, whose week{when} is the line at 0 "
        "and belongs to neither. Dashed: the mean per week before and after."
    )


CUMULATIVE_CAPTION = (
    "Each week's events in the response area minus those in its control, added up from the "
    "first week before. A line that turns down after the disruption means the response area "
    "fell relative to its control; a steady slope means no change."
)


def _chart_note(shown: ReviewShown) -> str:
    if shown.audience.partner:
        return (
            f"The charts show {PERIOD_WEEKS}-week totals, never weekly counts. A hatched grey "
            "period is one whose count is withheld (shown as its label); no bar is drawn for it."
        )
    return (
        "The charts show weekly counts; the dashed lines are the mean per week before and after. "
        "The cumulative chart adds up the response area's events minus its control's, week "
        "by week."
    )


# --- the PDF --------------------------------------------------------------------------------


def _table_flowable(table: ReviewTable, styles: Mapping[str, Any]) -> Table:
    """A :class:`ReviewTable` as a reportlab table: every text escaped, header repeated."""
    header = table.header_rows()
    n = len(table.columns)
    data: list[list[Any]] = [[""] * n for _ in header]
    spans: list[tuple[Any, ...]] = []
    taken: set[tuple[int, int]] = set()
    for r, row in enumerate(header):
        c = 0
        for text, colspan, rowspan in row:
            while (r, c) in taken:
                c += 1
            data[r][c] = para(text, styles["head"])
            taken |= {(r + i, c + j) for i in range(rowspan) for j in range(colspan)}
            if colspan > 1 or rowspan > 1:
                spans.append(("SPAN", (c, r), (c + colspan - 1, r + rowspan - 1)))
            c += colspan
    first = [styles["cellb"]] + [styles["cell"]] * (n - 1)
    data += [[para(v, first[i]) for i, v in enumerate(row)] for row in table.rows]
    scale = FRAME_W / sum(table.widths)
    t = Table(
        data,
        colWidths=[w * scale for w in table.widths],
        repeatRows=len(header),
        hAlign="LEFT",
    )
    commands = table_commands(header=False, pad_h=2.5, rules_from=len(header))
    commands.append(("BACKGROUND", (0, 0), (-1, len(header) - 1), colors.HexColor(TARGET_FILL)))
    if len(header) > 1:
        commands.append(("LINEBELOW", (0, 0), (-1, 0), 0.25, colors.white))
    commands += spans
    commands += [
        ("BACKGROUND", (0, r), (-1, r), colors.HexColor(BAND_COLOUR))
        for r in range(len(header) + 1, len(data), 2)
    ]
    t.setStyle(TableStyle(commands))
    return t


def _check(shown: Any) -> ReviewShown:
    if not isinstance(shown, ReviewShown):
        msg = (
            f"`shown` must be the review as an audience may see it (ReviewShown from "
            f"maps.disclosure.review.review_view), got {type(shown).__name__}."
        )
        raise ValidationError(msg)
    return shown


def review_pdf(
    shown: ReviewShown,
    path: Path,
    *,
    marking: str,
    title: str = DEFAULT_TITLE,
    facts: Mapping[str, Any] = NO_FACTS,
    images: ImageCache | None = None,
    dpi: int = PDF_DPI,
) -> None:
    """Write the partnership review pack as an A4 PDF at ``path`` (whole or not at all).

    ``images`` (with ``dpi``) shares the drawn maps and charts with
    :func:`review_html`, so a review folder draws each once.

    Parameters
    ----------
    shown
        The review as one audience may see it
        (:func:`maps.disclosure.review.review_view`); printed as it is.
    path
        Output file (``.pdf``).
    marking
        Security marking printed in the header and footer of every page
        (empty means :data:`maps.audience.DEFAULT_MARKING`).
    title
        The pack's title, on the cover and in every page's header.
    facts
        The run's facts for the cover, in order (data window, layer, area,
        audience, generated at...); the audience, the areas' radii and how
        many disruptions were reviewed are added.
    """
    from geo import __version__

    shown = _check(shown)
    marking = marking_text(marking)
    styles = paragraph_styles(head_size=7.0)
    partner = shown.audience.partner
    version = "partner version" if partner else f"{shown.audience.name} version"
    ids = reviewed_ids(shown)
    section = ParagraphStyle("section", parent=styles["h2"], fontSize=15, leading=18, spaceAfter=4)

    story: list[Flowable] = [
        para(title, styles["title"]),
        para(f"For the partnership meeting ({version})", styles["subtitle"]),
        Spacer(1, 4 * mm),
        kv_table(_facts(shown, facts), styles, (FRAME_W * 0.28, FRAME_W * 0.72)),
        Spacer(1, 5 * mm),
        para("The question", styles["h2"]),
        para(QUESTION, styles["body"]),
        Spacer(1, 4 * mm),
        para("The answer", styles["h2"]),
        *bullets([escape(text) for _, text in shown.answers], styles),
    ]
    if not ids:
        story += [Spacer(1, 3 * mm), para(_not_reviewed_note(shown), styles["body"])]

    for did in ids:
        story += [PageBreak(), para(section_title(shown, did), section)]
        answer = _answer_of(shown, did)
        if answer:
            story += [para(answer, styles["body"]), Spacer(1, 4 * mm)]
        png = _image(images, "map", shown, did, dpi)
        if png is not None:
            story.append(
                _plot_block(MAP_HEADING, escape(_map_caption(shown)), png, MAP_SIZE_MM[0], styles)
            )
        story.append(
            _plot_block(
                SERIES_HEADING,
                escape(_series_caption(shown, did)),
                _image(images, "series", shown, did, dpi) or b"",
                CHART_WIDTH_MM,
                styles,
            )
        )
        cumulative = _image(images, "cumulative", shown, did, dpi)
        if cumulative is not None:
            story.append(
                _plot_block(
                    CUMULATIVE_HEADING,
                    escape(CUMULATIVE_CAPTION),
                    cumulative,
                    CHART_WIDTH_MM,
                    styles,
                )
            )

    story += [PageBreak(), para("The table", styles["title"])]
    for table in review_tables(shown):
        story += [
            KeepTogether(
                [
                    para(table.heading, styles["h2"]),
                    para(table.note, styles["small"]),
                    Spacer(1, 1.5 * mm),
                ]
            ),
            _table_flowable(table, styles),
            Spacer(1, 5 * mm),
        ]
    notes = bullets([escape(p) for p in [*shown.how_to_read, _chart_note(shown)]], styles)
    story += [
        KeepTogether([para("How to read it", styles["h2"]), Spacer(1, 1 * mm), notes[0]]),
        *notes[1:],
    ]
    running = " · ".join(str(v) for k, v in facts.items() if k.lower() in RUNNING_FACTS and v)
    build_pdf(
        path,
        story,
        marking=marking,
        header=(clip(title, 60), clip(running or version, 70)),
        footer=product_text(__version__),
        title=title,
        subject=f"{marking} - {title}",
        creator=product_text(__version__),
        invariant=True,
    )


# --- the HTML page --------------------------------------------------------------------------


def _data_uri(png: bytes | None) -> str:
    return "" if png is None else base64.b64encode(png).decode("ascii")


def review_html(
    shown: ReviewShown,
    *,
    marking: str,
    title: str = DEFAULT_TITLE,
    facts: Mapping[str, Any] = NO_FACTS,
    images: ImageCache | None = None,
    dpi: int = HTML_DPI,
) -> str:
    """The partnership review as one offline HTML page (the PDF's content; see the module doc).

    Jinja2 with autoescape (``templates/review.html``): every text from data
    is escaped; the CSS is inline and the map and charts are PNG data URIs,
    so the page makes no request. ``marking``, ``title`` and ``facts`` are as
    for :func:`review_pdf`; the marking is printed at the top and the bottom.
    """
    shown = _check(shown)
    partner = shown.audience.partner
    sections = []
    for did in reviewed_ids(shown):
        cumulative = _image(images, "cumulative", shown, did, dpi)
        sections.append(
            {
                "id": did,
                "title": section_title(shown, did),
                "answer": _answer_of(shown, did),
                "map": _data_uri(_image(images, "map", shown, did, dpi)),
                "map_caption": _map_caption(shown),
                "series": _data_uri(_image(images, "series", shown, did, dpi)),
                "series_caption": _series_caption(shown, did),
                "cumulative": _data_uri(cumulative),
            }
        )
    tables = [
        {
            "heading": t.heading,
            "note": t.note,
            "header": t.header_rows(),
            "rows": [list(r) for r in t.rows],
        }
        for t in review_tables(shown)
    ]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("maps", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("review.html").render(
        title=title,
        marking=marking_text(marking),
        version="partner version" if partner else f"{shown.audience.name} version",
        facts=_facts(shown, facts),
        question=QUESTION,
        answers=[text for _, text in shown.answers],
        none_reviewed=_not_reviewed_note(shown) if not sections else "",
        sections=sections,
        map_heading=MAP_HEADING,
        series_heading=SERIES_HEADING,
        cumulative_heading=CUMULATIVE_HEADING,
        cumulative_caption=CUMULATIVE_CAPTION,
        tables=tables,
        how_to_read=[*shown.how_to_read, _chart_note(shown)],
    )
