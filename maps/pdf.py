"""The A4 page furniture of every printed output: the weekly pack and the analysts' reports.

:mod:`maps.pack` and :mod:`api.reports` build their PDFs from these parts, so
the pack and the reports look alike and mark every page the same way:

- the page: A4, one body frame between the running header and footer
  (:data:`MARGIN_X`, :data:`MARGIN_TOP`, :data:`MARGIN_BOTTOM`,
  :data:`FRAME_W` and :data:`FRAME_H`);
- fonts: DejaVu Sans, shipped with matplotlib, so any Unicode in place names
  prints (:func:`register_fonts`), and the paragraph styles
  (:func:`paragraph_styles`);
- text from data as a paragraph escaped for reportlab's markup, so ``<b>``
  prints as itself (:func:`para`), bullet lists and values as printed;
- tables: the key/value table (:func:`kv_table`) and the style commands of the
  tables with a coloured header row (:func:`table_commands`);
- the document (:func:`build_pdf`): the security marking centred in the header
  and the footer of every page, a running title under the top one, a footer
  line and "Page n of m"; written whole or not at all.

This module is part of :mod:`maps`, which never imports :mod:`api`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import matplotlib
import numpy as np
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    PageTemplate,
    Paragraph,
    Table,
    TableStyle,
)

from maps.audience import text_or_dash
from maps.style import TARGET_FILL

PAGE_W, PAGE_H = A4
MARGIN_X = 15 * mm
MARGIN_TOP = 24 * mm
MARGIN_BOTTOM = 19 * mm
FRAME_W = PAGE_W - 2 * MARGIN_X
FRAME_H = PAGE_H - MARGIN_TOP - MARGIN_BOTTOM

FONT = "EngageSans"
FONT_BOLD = "EngageSans-Bold"

RULE_COLOUR = "#cccccc"
"""The thin rule under table rows."""
BAND_COLOUR = "#eef2f7"
"""The background of every other row (or target) of a long table."""

PRODUCT = "Engage Hotspots"


@cache
def register_fonts() -> None:
    """Register :data:`FONT` and :data:`FONT_BOLD` (DejaVu Sans) with reportlab, once."""
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT)


def paragraph_styles(*, head_size: float = 7.0) -> dict[str, ParagraphStyle]:
    """The paragraph styles by name; registers the fonts they use.

    ``head_size`` is the font size of ``head``, the white bold text of a
    table's header row (its leading is 1.5 points more).
    """
    register_fonts()
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=11.5)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "cellb": ParagraphStyle("cellb", parent=base, fontName=FONT_BOLD, fontSize=7.5, leading=9),
        "head": ParagraphStyle(
            "head",
            parent=base,
            fontName=FONT_BOLD,
            fontSize=head_size,
            leading=head_size + 1.5,
            textColor=colors.white,
        ),
        "title": ParagraphStyle(
            "title", parent=base, fontName=FONT_BOLD, fontSize=20, leading=24, spaceAfter=4
        ),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=12, leading=15),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=FONT_BOLD, fontSize=12, leading=15, spaceAfter=3
        ),
        "bullet": ParagraphStyle(
            "bullet", parent=base, fontSize=8.8, leading=11.2, leftIndent=10, bulletIndent=0
        ),
        "marking": ParagraphStyle(
            "marking", parent=base, fontName=FONT_BOLD, fontSize=11, alignment=TA_CENTER
        ),
    }


def para(text: Any, style: ParagraphStyle) -> Paragraph:
    """A paragraph of text from data: escaped, so markup in it prints literally."""
    return Paragraph(escape(text_or_dash(text)), style)


def bullets(notes: Sequence[str], styles: Mapping[str, ParagraphStyle]) -> list[Flowable]:
    """One bulleted paragraph per note (paragraph markup: escape data in them first)."""
    return [Paragraph(n, styles["bullet"], bulletText="•") for n in notes]


def clip(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters, the last an ellipsis when it was longer."""
    return text if len(text) <= n else text[: n - 1] + "…"


def value_text(value: Any, float_format: str = "g") -> str:
    """A parameter's value as printed: yes/no, floats by ``float_format``, lists joined."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return "-" if math.isnan(float(value)) else format(float(value), float_format)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={value_text(v, float_format)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v, float_format) for v in value)
    return text_or_dash(value)


def table_commands(
    *,
    header: bool = True,
    valign: str = "TOP",
    rules_from: int | None = 1,
    pad_v: float = 1.5,
    pad_h: float | None = None,
) -> list[tuple[Any, ...]]:
    """The ``TableStyle`` commands the printed tables share.

    ``header``: the first row on the targets' navy (its text white, by the
    ``head`` style); ``rules_from``: a thin grey rule under every row from this
    one (``None`` for none); ``pad_v`` and ``pad_h``: cell padding in points,
    top and bottom and (unless ``None``, reportlab's default) left and right.
    """
    commands: list[tuple[Any, ...]] = []
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(TARGET_FILL)))
    commands.append(("VALIGN", (0, 0), (-1, -1), valign))
    if rules_from is not None:
        commands.append(
            ("LINEBELOW", (0, rules_from), (-1, -1), 0.25, colors.HexColor(RULE_COLOUR))
        )
    commands += [
        ("TOPPADDING", (0, 0), (-1, -1), pad_v),
        ("BOTTOMPADDING", (0, 0), (-1, -1), pad_v),
    ]
    if pad_h is not None:
        commands += [
            ("LEFTPADDING", (0, 0), (-1, -1), pad_h),
            ("RIGHTPADDING", (0, 0), (-1, -1), pad_h),
        ]
    return commands


def kv_table(
    rows: Sequence[tuple[str, str]],
    styles: Mapping[str, ParagraphStyle],
    col_widths: Sequence[float],
) -> Table:
    """Two columns, the name bold and the value plain, a thin rule under each row."""
    data = [[para(k, styles["cellb"]), para(v, styles["cell"])] for k, v in rows]
    t = Table(data, colWidths=list(col_widths), hAlign="LEFT")
    t.setStyle(TableStyle(table_commands(header=False, rules_from=0)))
    return t


def product_text(version: str) -> str:
    """``Engage Hotspots 1.2.0``, or the name alone without a version."""
    return f"{PRODUCT} {version}".strip()


class MarkedCanvas(Canvas):
    """Draws the marking header and footer, with "Page n of m", once all pages are known.

    The header: the marking centred, then ``header_left`` and ``header_right``
    over a rule. The footer: a rule, ``footer_left`` and the page number, then
    the marking centred. The texts are printed as given (clip them first).
    """

    def __init__(
        self,
        *args: Any,
        marking: str,
        header_left: str,
        header_right: str,
        footer_left: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._marking = marking
        self._header_left = header_left
        self._header_right = header_right
        self._footer_left = footer_left
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # reportlab's method name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._decorate(total)
            super().showPage()
        super().save()

    def _decorate(self, total: int) -> None:
        w, h = self._pagesize
        self.saveState()
        # Header: marking, then the running title under it.
        self.setFont(FONT_BOLD, 11)
        self.drawCentredString(w / 2, h - 11 * mm, self._marking)
        self.setFont(FONT, 7.5)
        self.setFillColor(colors.HexColor("#333333"))
        self.drawString(MARGIN_X, h - 17 * mm, self._header_left)
        self.drawRightString(w - MARGIN_X, h - 17 * mm, self._header_right)
        self.setStrokeColor(colors.HexColor("#888888"))
        self.setLineWidth(0.5)
        self.line(MARGIN_X, h - 18.8 * mm, w - MARGIN_X, h - 18.8 * mm)
        # Footer: rule, provenance left, page right, marking centred below.
        self.line(MARGIN_X, 15 * mm, w - MARGIN_X, 15 * mm)
        self.drawString(MARGIN_X, 11.5 * mm, self._footer_left)
        self.drawRightString(w - MARGIN_X, 11.5 * mm, f"Page {self._pageNumber} of {total}")
        self.setFillColor(colors.black)
        self.setFont(FONT_BOLD, 11)
        self.drawCentredString(w / 2, 6 * mm, self._marking)
        self.restoreState()


def build_pdf(
    path: str | Path,
    story: list[Flowable],
    *,
    marking: str,
    header: tuple[str, str],
    footer: str,
    title: str,
    subject: str,
    creator: str,
    invariant: bool | None = None,
) -> Path:
    """Write ``story`` as an A4 PDF at ``path``, whole or not at all; returns the path.

    Every page is marked by :class:`MarkedCanvas`: ``marking`` above and
    below, ``header`` (left and right texts) under the top marking and
    ``footer`` left of the page number. ``title``, ``subject`` and ``creator``
    go into the document's properties; ``invariant`` leaves out the creation
    time and document id, so the same story gives the same bytes (``None``:
    reportlab's setting).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    doc = BaseDocTemplate(
        str(tmp),
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        author=PRODUCT,
        subject=subject,
        creator=creator,
        invariant=invariant,
    )
    frame = Frame(
        MARGIN_X,
        MARGIN_BOTTOM,
        FRAME_W,
        FRAME_H,
        id="body",
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )
    doc.addPageTemplates([PageTemplate(id="page", frames=[frame])])
    maker: Callable[..., Canvas] = partial(
        MarkedCanvas,
        marking=marking,
        header_left=header[0],
        header_right=header[1],
        footer_left=footer,
    )
    register_fonts()
    try:
        doc.build(story, canvasmaker=maker)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
