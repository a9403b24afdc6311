"""The partnership review pack (PDF and HTML), read back.

A hand-built :class:`models.review.ReviewResult` (two reviewed disruptions,
one without a location, a pooled row per reviewed tactic, eight weeks each
side) goes through :func:`maps.disclosure.review.review_view` for an analyst
and a partner, and both packs are read back: every PDF page is marked above
and below with its number; the answers are on the cover, in order; each
reviewed disruption has its map and charts, the analyst's also the
cumulative chart, the partner's never; the partner's charts draw 4-weekly
shown values only; the HTML page is offline and escapes a hostile place
name, which the PDF prints literally; a review with nothing reviewed still
makes a pack that says why. Coordinates are synthetic points inside the
shipped ward outlines; place names are made up.
"""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path
from typing import Any

import h3
import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from geo.boundaries import wards
from geo.crs import BNG, bng_to_latlng
from geo.errors import ValidationError
from maps.disclosure import Audience
from maps.disclosure.review import ReviewShown, review_view
from maps.reviewcharts import series_bars
from maps.reviewpack import (
    CUMULATIVE_HEADING,
    QUESTION,
    review_html,
    review_pdf,
    review_tables,
    reviewed_ids,
)
from models.review import AREA_COLUMNS, ReviewResult
from models.review_areas import ReviewSpec

from .conftest import HOSTILE, MARKING

A4_PT = (595.276, 841.89)
WEEK1 = pd.Timestamp("2025-03-03", tz="UTC")  # Monday of the disruptions' week
WEEKS = [k for k in range(-8, 9) if k != 0]
EXACT = 37
"""D1's response-area count before: exact for analysts, ``35`` for partners."""
PLANTED = 7
"""A weekly control count of D1 that only the analyst's weekly series holds."""
FACTS = {
    "data window": "2024-11-04 to 2025-06-02",
    "layer": "mfh",
    "area": "Blackburn with Darwen",
    "generated at": "2025-06-02 09:00",
}
NO_CONTROL = "no control: no candidate block passed the level check"
COUNTS = ("response", "buffer", "control", "buffer_control")


def _centre() -> tuple[float, float]:
    """A synthetic point inside the first shipped ward (BNG metres)."""
    pt = wards().to_crs(BNG).geometry.iloc[0].representative_point()
    return float(pt.x), float(pt.y)


def _blocks(x: float, y: float, dx: float, dy: float) -> list[int]:
    lat, lng = bng_to_latlng([x + dx], [y + dy])
    cell = h3.latlng_to_cell(float(lat[0]), float(lng[0]), 9)
    return [h3.str_to_int(c) for c in sorted(h3.grid_disk(cell, 1))[:3]]


def _part(did: str, area: str, kind: str, x: float, y: float, **more: Any) -> dict[str, Any]:
    base = {"radius_m": None, "inner_m": None, "h3": None}
    return {"disruption_id": did, "area": area, "kind": kind, "x": x, "y": y, **base, **more}


def _parts(
    did: str, x: float, y: float, rings: tuple[tuple[str, float], ...] = (("buffer", 400.0),)
) -> list[dict[str, Any]]:
    """Area parts as models.review makes them: a disc, its ring(s), control and buffer-control
    blocks."""
    out = [_part(did, "response", "disc", x, y, radius_m=150.0, inner_m=0.0)]
    inner = 150.0
    for name, outer in rings:
        out.append(_part(did, name, "ring", x, y, radius_m=outer, inner_m=inner))
        inner = outer
    for area, dx in (("control", 1200.0), ("buffer_control", -1200.0)):
        out += [_part(did, area, "block", x + dx, y, h3=c) for c in _blocks(x, y, dx, 300.0)]
    return out


def _areas_frame(parts: list[dict[str, Any]]) -> pd.DataFrame:
    """The parts as models.review stores them: ``h3`` exact (nullable int64), never as floats."""
    frame = pd.DataFrame({c: [p[c] for p in parts] for c in AREA_COLUMNS}, columns=AREA_COLUMNS)
    frame["h3"] = pd.array([p["h3"] for p in parts], dtype="Int64")
    return frame


def _reviewed_row(
    did: str, tactic: str, venue: str, xy: tuple[float, float], counts: tuple[int, ...], **est: Any
) -> dict[str, Any]:
    names = [f"{a}_{s}" for a in COUNTS for s in ("before", "after")]
    values = dict(zip(names, counts, strict=True))
    wdd = est["wdd"]
    return {
        "disruption_id": did,
        "tactic": tactic,
        "disrupted_at": WEEK1 + pd.Timedelta(days=2),
        "venue_id": venue,
        "x": xy[0],
        "y": xy[1],
        "overlaps": "",
        "reviewed": True,
        "reason": "",
        **values,
        "week_start": WEEK1,
        "before_start": WEEK1 - pd.Timedelta(weeks=8),
        "after_end": WEEK1 + pd.Timedelta(weeks=9),
        "before_weeks": 8,
        "after_weeks": 8,
        "window_note": "",
        "wdd": wdd,
        "wdd_se": 6.2,
        "wdd_z": wdd / 6.2,
        "wdd_p": est["p"],
        "wdd_low": wdd - 10.2,
        "wdd_high": wdd + 10.2,
        "wdd_local": wdd * 0.75,
        "wdd_local_se": 5.0,
        "wdd_displace": wdd * 0.25,
        "wdd_displace_se": 3.0,
        "wdd_note": None,
        "phi": 1.31,
        "phi_note": "",
        "etest_p": 0.04,
        "small_counts": False,
        "mde": 9.1,
        "mde_note": "could detect a fall of 40% or more of the expected count",
        "ge": values["response_before"] - values["response_after"],
        "ne": 0.21,
        "success_measure": -0.21,
        "buffer_displacement_measure": 0.05,
        "wdq": -0.24,
        "wdq_reading": "displacement smaller than the direct benefit",
        "tne": 3.0,
        "control_rule": "matched: 3 blocks nearest first, level and trend checks passed",
        "buffer_control_rule": "matched: 3 blocks nearest first, level and trend checks passed",
        "local_reading": est["local"],
        "buffer_reading": est["buffer"],
    }


def _series(did: str, weekly: dict[str, tuple[list[int], list[int]]]) -> list[dict[str, Any]]:
    """Weekly rows of each area from its counts (before, after), as models.review makes them."""
    return [
        {
            "disruption_id": did,
            "area": area,
            "week": k,
            "week_start": WEEK1 + pd.Timedelta(weeks=k),
            "n": n,
        }
        for area, (before, after) in weekly.items()
        for k, n in zip(WEEKS, [*before, *after], strict=True)
    ]


def make_result() -> ReviewResult:
    """Two reviewed disruptions (closure order, Makesafe visit), one without a location."""
    x, y = _centre()
    second = (x + 1500.0, y - 900.0)
    per = pd.DataFrame(
        [
            _reviewed_row(
                "D1",
                "closure_order",
                "V-A",
                (x, y),
                (EXACT, 11, 30, 28, 42, 38, 35, 36),
                wdd=-14.0,
                p=0.02,
                local="fell",
                buffer="no clear change",
            ),
            _reviewed_row(
                "D2",
                "makesafe_visit",
                "V-B",
                second,
                (4, 2, 9, 12, 6, 7, 10, 9),
                wdd=-3.0,
                p=0.4,
                local="no clear change",
                buffer="displacement",
            ),
            {
                "disruption_id": "D3",
                "tactic": "closure_order",
                "disrupted_at": WEEK1,
                "venue_id": None,
                "x": None,
                "y": None,
                "overlaps": "",
                "reviewed": False,
                "reason": "the disruption has no location (no venue and no coordinates)",
            },
        ]
    )
    d1 = per.iloc[0]
    pooled = pd.DataFrame(
        [
            {
                "disruption_id": "",
                "tactic": "closure_order",
                "reviewed": True,
                "reason": "",
                "pooled": 1,
                **{c: d1[c] for c in per.columns if c.endswith(("_before", "_after"))},
                "wdd": -14.0,
                "wdd_se": 6.2,
                "wdd_z": -2.26,
                "wdd_p": 0.02,
                "wdd_low": -24.2,
                "wdd_high": -3.8,
                "local_reading": "fell",
            }
        ]
    )
    series = pd.DataFrame(
        _series(
            "D1",
            {
                "response": ([5, 4, 5, 5, 4, 5, 5, 4], [1, 2, 1, 2, 1, 2, 1, 1]),
                "buffer": ([4] * 8, [3, 4, 3, 4, 4, 3, 4, 3]),
                "control": ([5, 6, 5, 6, 5, PLANTED, 4, 4], [5, 5, 4, 5, 5, 4, 5, 5]),
                "buffer_control": ([4, 5, 4, 5, 4, 5, 4, 4], [4, 5, 4, 5, 4, 5, 4, 5]),
            },
        )
        + _series(
            "D2",
            {
                "response": ([1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 0, 0, 1, 0, 0, 0]),
                "buffer": ([1, 1, 1, 1, 1, 2, 1, 1], [2, 1, 2, 1, 2, 1, 2, 1]),
                "control": ([1, 1, 0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1, 0, 1]),
                "buffer_control": ([1, 2, 1, 1, 2, 1, 1, 1], [1, 1, 1, 1, 2, 1, 1, 1]),
            },
        )
    )
    return ReviewResult(
        rows=pd.concat([per, pooled], ignore_index=True),
        series=series,
        areas=_areas_frame(_parts("D1", x, y) + _parts("D2", *second)),
        spec=ReviewSpec.make(response_m=150, buffer_m=(400,), before_weeks=8, after_weeks=8),
    )


VENUES = pd.DataFrame(
    {
        "venue_id": ["V-A", "V-B"],
        "name": [f"{HOSTILE} Venue A", "Venue B not public"],
        "public": [True, False],
    }
)


def make_nothing_reviewed() -> ReviewResult:
    """Two disruptions, neither reviewed: one without a location, one without a control."""
    x, y = _centre()
    counts = {f"{a}_{s}": None for a in COUNTS for s in ("before", "after")}
    counts.update({"response_before": 3, "response_after": 1, "buffer_before": 6})
    counts["buffer_after"] = 4
    rows = pd.DataFrame(
        [
            {
                "disruption_id": "N1",
                "tactic": "cawn",
                "disrupted_at": WEEK1,
                "venue_id": None,
                "x": None,
                "y": None,
                "overlaps": "",
                "reviewed": False,
                "reason": "the disruption has no location (no venue and no coordinates)",
                "reason_public": "the disruption has no location (no venue and no coordinates)",
            },
            {
                "disruption_id": "N2",
                "tactic": "closure_order",
                "disrupted_at": WEEK1,
                "venue_id": None,
                "x": x,
                "y": y,
                "overlaps": "",
                "reviewed": False,
                "reason": NO_CONTROL,
                "reason_public": NO_CONTROL,
                **counts,
                "control_rule": NO_CONTROL,
                "control_rule_public": NO_CONTROL,
            },
        ]
    )
    return ReviewResult(
        rows=rows,
        series=pd.DataFrame(
            {"disruption_id": [], "area": [], "week": [], "week_start": [], "n": []}
        ).astype({"week": np.int64, "n": np.int64}),
        areas=_areas_frame([]),
        spec=ReviewSpec.make(response_m=150, buffer_m=(400,), before_weeks=8, after_weeks=8),
    )


def make_rings() -> ReviewResult:
    """One reviewed disruption with a buffer in two rings (150-250 m and 250-400 m)."""
    x, y = _centre()
    names = ("response", "buffer", "buffer_250", "buffer_400", "control", "buffer_control")
    counts = dict(
        zip(names, ((20, 9), (26, 31), (11, 14), (15, 17), (30, 29), (28, 27)), strict=True)
    )
    row = _reviewed_row(
        "R1",
        "licensing_review",
        "",
        (x, y),
        (20, 9, 26, 31, 30, 29, 28, 27),
        wdd=-8.0,
        p=0.2,
        local="no clear change",
        buffer="no clear change",
    )
    row.update(
        {
            f"{a}_{s}": n
            for a, pair in counts.items()
            for s, n in zip(("before", "after"), pair, strict=True)
        }
    )
    weekly = {a: ([round(b / 8)] * 8, [round(c / 8)] * 8) for a, (b, c) in counts.items()}
    return ReviewResult(
        rows=pd.DataFrame([row]),
        series=pd.DataFrame(_series("R1", weekly)),
        areas=_areas_frame(_parts("R1", x, y, (("buffer_250", 250.0), ("buffer_400", 400.0)))),
        spec=ReviewSpec.make(response_m=150, buffer_m=(250, 400), before_weeks=8, after_weeks=8),
    )


def pdf_pages(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(path).pages]


def flat(text: str) -> str:
    """Text with every run of whitespace as one space (PDF lines wrap anywhere)."""
    return " ".join(text.split())


def html_text(html: str) -> str:
    """The page's text: images and tags out, entities unescaped, whitespace flattened."""
    no_images = re.sub(r'src="data:image/png;base64,[^"]*"', "", html)
    return flat(htmllib.unescape(re.sub(r"<[^>]+>", " ", no_images)))


@pytest.fixture(scope="module")
def views() -> dict[str, ReviewShown]:
    result = make_result()
    return {
        name: review_view(result, Audience.make(name), venues=VENUES)
        for name in ("analyst", "partner")
    }


@pytest.fixture(scope="module")
def packs(
    views: dict[str, ReviewShown], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("review-pack")
    out: dict[str, dict[str, Any]] = {}
    for name, shown in views.items():
        path = folder / f"{name}.pdf"
        review_pdf(shown, path, marking=MARKING, facts=FACTS)
        html = review_html(shown, marking=MARKING, facts=FACTS)
        out[name] = {"path": path, "pages": pdf_pages(path), "html": html}
    return out


@pytest.fixture(scope="module")
def empty_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("review-empty")
    result = make_nothing_reviewed()
    out: dict[str, dict[str, Any]] = {}
    for name in ("analyst", "partner"):
        shown = review_view(result, Audience.make(name))
        path = folder / f"{name}.pdf"
        review_pdf(shown, path, marking=MARKING, facts=FACTS)
        out[name] = {
            "shown": shown,
            "path": path,
            "pages": pdf_pages(path),
            "html": review_html(shown, marking=MARKING, facts=FACTS),
        }
    return out


# --- the PDF ------------------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_every_page_is_a4_marked_above_and_below_and_numbered(
    packs: dict[str, dict[str, Any]], audience: str
) -> None:
    reader = PdfReader(packs[audience]["path"])
    pages = packs[audience]["pages"]
    assert len(pages) >= 4  # cover, one section per disruption, the table
    for i, (page, text) in enumerate(zip(reader.pages, pages, strict=True), start=1):
        box = page.mediabox
        assert (float(box.width), float(box.height)) == pytest.approx(A4_PT, abs=0.5)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert lines.count(MARKING) >= 2, (i, lines[:3], lines[-3:])
        assert f"Page {i} of {len(pages)}" in text


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_the_cover_asks_the_question_and_answers_it_in_order(
    views: dict[str, ReviewShown], packs: dict[str, dict[str, Any]], audience: str
) -> None:
    cover = flat(packs[audience]["pages"][0])
    assert "The question" in cover and flat(QUESTION) in cover
    assert "The answer" in cover
    for key in ("data window", "layer", "generated at", "audience"):
        assert key in cover
    where = [cover.find(flat(text)) for _, text in views[audience].answers]
    assert all(w >= 0 for w in where), views[audience].answers
    assert where == sorted(where)
    assert len(where) == 4  # D1, D2, D3 and the closure orders together


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_each_reviewed_disruption_has_its_map_and_charts(
    views: dict[str, ReviewShown], packs: dict[str, dict[str, Any]], audience: str
) -> None:
    shown = views[audience]
    assert reviewed_ids(shown) == ["D1", "D2"]
    text = flat(" ".join(packs[audience]["pages"]))
    assert "D1: closure order on 2025-03-05" in text
    assert "D2: Makesafe visit on 2025-03-05" in text
    assert "D3: closure order" not in text  # not reviewed: its sentence says why
    assert "The areas compared" in text and "Events before and after, by area" in text
    images = sum(len(p.images) for p in PdfReader(packs[audience]["path"]).pages)
    per = 3 if audience == "analyst" else 2  # map, series (and cumulative for analysts)
    assert images == per * 2


def test_only_the_analyst_pack_has_the_cumulative_chart(
    views: dict[str, ReviewShown], packs: dict[str, dict[str, Any]]
) -> None:
    assert views["analyst"].cumulative is not None
    assert views["partner"].cumulative is None
    assert CUMULATIVE_HEADING in flat(" ".join(packs["analyst"]["pages"]))
    assert CUMULATIVE_HEADING in html_text(packs["analyst"]["html"])
    assert "Cumulative" not in flat(" ".join(packs["partner"]["pages"]))
    assert "umulative" not in html_text(packs["partner"]["html"])


def test_partner_charts_draw_four_weekly_shown_values_only(views: dict[str, ReviewShown]) -> None:
    analyst = series_bars(views["analyst"], "D1")
    control = analyst.loc[analyst["area"] == "control"]
    assert PLANTED in control["value"].to_numpy()  # the analyst sees the weekly count
    assert set(analyst["x"]) == set(WEEKS)
    # The exact 4-week totals (worked out here from the analyst's weekly series) that
    # partners may not see; the partner view keeps only the shown text.
    assert "n" not in views["partner"].series.columns
    weekly = views["analyst"].series
    period = np.where(
        weekly["week"] > 0, (weekly["week"] - 1) // 4 + 1, -((-weekly["week"] - 1) // 4 + 1)
    )
    totals = weekly.groupby([weekly["disruption_id"], weekly["area"], period])["n"].sum()
    exact_periods = {int(n) for n in totals if int(n) % 5 != 0}
    for did in ("D1", "D2"):
        bars = series_bars(views["partner"], did)
        assert len(bars)
        assert set(bars["x"]) <= {-2, -1, 1, 2}, "4-week periods, never weeks"
        assert set(bars["label"]) == set(
            views["partner"].series.loc[views["partner"].series["disruption_id"] == did, "shown"]
        )
        drawn = bars.loc[~bars["hidden"], "value"].to_numpy()
        assert np.all(drawn % 5 == 0), drawn
        assert not set(drawn.astype(int)) & exact_periods
        hidden = bars.loc[bars["hidden"]]
        assert hidden["value"].isna().all()
        assert set(hidden["label"]) <= {"<5", "[c]"}
    assert series_bars(views["partner"], "D2")["hidden"].any(), "D2's small counts are hidden"
    assert PLANTED not in series_bars(views["partner"], "D1")["value"].to_numpy()


def test_tables_print_each_audiences_counts(packs: dict[str, dict[str, Any]]) -> None:
    analyst = flat(" ".join(packs["analyst"]["pages"]))
    partner = flat(" ".join(packs["partner"]["pages"]))
    assert re.search(rf"\b{EXACT}\b", analyst)
    assert not re.search(rf"\b{EXACT}\b", partner)
    assert re.search(r"\b35\b", partner) and "<5" in partner
    # partners get no standard error, z or count ratios
    assert "SE" in analyst.split("The table", 1)[1]
    assert "Success measure" in analyst and "Success measure" not in partner
    html = html_text(packs["partner"]["html"])
    assert not re.search(rf"\b{EXACT}\b", html)
    assert "Success measure" not in html


def test_review_tables_group_before_and_after_under_each_area(
    views: dict[str, ReviewShown],
) -> None:
    tables = {t.heading: t for t in review_tables(views["partner"])}
    counts = tables["Events before and after"]
    header = counts.header_rows()
    assert [h[0] for h in header[0]] == [
        "Disruption",
        "Response area (within 150 m)",
        "Buffer (150 to 400 m)",
        "Control",
        "Buffer's control",
    ]
    assert [h[0] for h in header[1]] == ["before", "after"] * 4
    assert counts.rows[0][:3] == ("D1", "35", "10")
    assert counts.rows[-1][0] == "All closure orders (1)"
    wdd = tables["The WDD (weighted displacement difference)"]
    assert "SE" not in wdd.columns and "z" not in wdd.columns


def test_pdf_prints_a_hostile_place_name_literally(packs: dict[str, dict[str, Any]]) -> None:
    for audience in ("analyst", "partner"):
        text = flat(" ".join(packs[audience]["pages"]))
        assert f"D1: closure order on 2025-03-05 at {HOSTILE} Venue A" in text
    # a venue that is not public is named to analysts only
    assert "Venue B not public" in flat(" ".join(packs["analyst"]["pages"]))
    assert "Venue B not public" not in flat(" ".join(packs["partner"]["pages"]))
    assert "Venue B not public" not in packs["partner"]["html"]


# --- the HTML page --------------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_html_is_one_offline_page_with_everything_escaped(
    views: dict[str, ReviewShown], packs: dict[str, dict[str, Any]], audience: str
) -> None:
    html = packs[audience]["html"]
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Venue A" in html
    for pattern in (r"<link\b", r"@import", r"url\(", r"<iframe\b"):
        assert not re.search(pattern, html, re.IGNORECASE), pattern
    sources = re.findall(r'src="([^"]*)"', html)
    per = 3 if audience == "analyst" else 2
    assert len(sources) == per * 2
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    marks = [m.start() for m in re.finditer(rf'<div class="marking">{MARKING}</div>', html)]
    assert len(marks) == 2
    assert marks[0] < html.index("<h1>") and marks[1] > html.index("How to read it")
    text = html_text(html)
    for _, sentence in views[audience].answers:
        assert flat(sentence) in text
    for paragraph in views[audience].how_to_read:
        assert flat(paragraph) in text


def test_pack_refuses_anything_but_the_audiences_view(tmp_path: Path) -> None:
    result = make_result()
    with pytest.raises(ValidationError, match="review_view"):
        review_pdf(result, tmp_path / "x.pdf", marking=MARKING)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="review_view"):
        review_html(result, marking=MARKING)  # type: ignore[arg-type]
    assert not (tmp_path / "x.pdf").exists()


# --- nothing reviewed -----------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_a_review_with_nothing_reviewed_still_says_why(
    empty_packs: dict[str, dict[str, Any]], audience: str
) -> None:
    pack = empty_packs[audience]
    assert pack["path"].stat().st_size > 1000
    assert reviewed_ids(pack["shown"]) == []
    pages = pack["pages"]
    assert pages and all(text.count(MARKING) >= 2 for text in pages)
    text = flat(" ".join(pages))
    assert "None of the 2 disruptions could be reviewed" in text
    assert "no location (no venue and no coordinates)" in text
    assert NO_CONTROL in text
    assert "The areas compared" not in text
    html = html_text(pack["html"])
    assert "None of the 2 disruptions could be reviewed" in html and NO_CONTROL in html
    assert "data:image/png" not in pack["html"]


# --- a buffer in rings ----------------------------------------------------------------------


@pytest.mark.parametrize("audience", ["analyst", "partner"])
def test_a_buffer_in_rings_has_a_panel_and_columns_per_ring(audience: str) -> None:
    shown = review_view(make_rings(), Audience.make(audience))
    assert list(dict.fromkeys(series_bars(shown, "R1")["area"])) == [
        "response",
        "buffer",
        "buffer_250",
        "buffer_400",
        "control",
        "buffer_control",
    ]
    counts = next(t for t in review_tables(shown) if t.heading == "Events before and after")
    assert [h[0] for h in counts.header_rows()[0]] == [
        "Disruption",
        "Response area (within 150 m)",
        "Buffer (150 to 400 m)",
        "Buffer ring 150 to 250 m",
        "Buffer ring 250 to 400 m",
        "Control",
        "Buffer's control",
    ]
    html = review_html(shown, marking=MARKING)
    assert len(re.findall(r'src="data:image/png;base64,', html)) == (
        3 if audience == "analyst" else 2
    )
    text = html_text(html)
    assert "R1: licensing review on 2025-03-05" in text
    assert "buffer 150 to 400 m, in rings to 250 m, 400 m" in text.replace(
        "buffer 150", "buffer 150"
    )
