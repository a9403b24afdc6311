"""The partnership review as each audience may see it: part of the one disclosure rule set.

:func:`review_view` turns a :class:`models.review.ReviewResult` into what the
review files print (:mod:`maps.reviewfiles` decides nothing). The rules
(docs/disclosure.md, "The partnership review"):

``analyst``
    Every count, estimate and statistic exact; weekly series and the
    cumulative difference chart; venue names.
``partner``
    Counts from 1 to ``k - 1`` read ``<k``, others rounded to the nearest 5,
    with secondary suppression (``[c]``) where a hidden count could be
    worked out: a tactic's pooled count against its disruptions' counts,
    the whole buffer against its rings, a window's total against its
    4-week periods. Estimates and intervals (WDD, GE, TNE, MDE) are
    computed from the exact counts and shown rounded to the nearest 5;
    p-values are shown as bands (``< 0.01``, ``< 0.05``, ``< 0.1``,
    ``>= 0.1``); standard errors, z and the count ratios (NE, the success
    and buffer measures) are not shown, since each can give back a count;
    the WDQ (one decimal) only where every count behind it is at least
    ``k``. Series are 4-weekly totals under the same rule (never weekly
    counts), and there is no cumulative chart. Venues are named only where
    the venue or the disruption is marked public; notes are never shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from geo.calendar import uk_date
from geo.crs import metric_crs, metric_to_latlng
from maps.disclosure.disruptions import disruption_named
from maps.disclosure.rules import WITHHELD, Audience, protect
from models.review import ALL_TACTICS, ReviewResult

PERIOD_WEEKS = 4
"""Partners see series as totals of this many weeks."""

P_BANDS = ((0.01, "< 0.01"), (0.05, "< 0.05"), (0.1, "< 0.1"))

AREA_LABELS = {
    "response": "response area",
    "buffer": "buffer",
    "control": "control",
    "buffer_control": "buffer's control",
}

TACTIC_TEXT = {
    "patrol": "patrol",
    "cawn": "Child Abduction Warning Notice",
    "closure_order": "closure order",
    "licensing_review": "licensing review",
    "makesafe_visit": "Makesafe visit",
    "arrest": "arrest",
    "other": "other action",
}

ANALYST_ONLY = (
    "wdd_se",
    "wdd_z",
    "ne",
    "success_measure",
    "buffer_displacement_measure",
    "variance_factor",
)
ESTIMATES = ("wdd", "wdd_low", "wdd_high", "wdd_local", "wdd_displace", "ge", "tne", "mde")


@dataclass(frozen=True)
class ReviewShown:
    """What the review files print, for one audience."""

    audience: Audience
    rows: pd.DataFrame
    answers: list[tuple[str, str]]
    series: pd.DataFrame
    cumulative: pd.DataFrame | None
    areas: gpd.GeoDataFrame
    places: pd.DataFrame
    spec: dict[str, Any]
    how_to_read: list[str] = field(default_factory=list)


def tactic_text(tactic: str) -> str:
    return TACTIC_TEXT.get(str(tactic), str(tactic).replace("_", " "))


def p_band(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    for limit, text in P_BANDS:
        if p < limit:
            return text
    return ">= 0.1"


def round5(v: Any) -> Any:
    """An estimate rounded to the nearest 5 (halves away from zero); missing stays missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return int(math.copysign(math.floor(abs(float(v)) / 5 + 0.5) * 5, float(v))) or 0


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return str(v)


def _place_names(rows: pd.DataFrame, venues: pd.DataFrame | None, audience: Audience) -> pd.Series:
    """The disrupted venue's name; for partners only where :func:`disruption_named` allows
    (the rule of the weekly pack's disruptions layer: the disruption marked public, or not
    marked either way and its venue marked public)."""
    if venues is None or venues.empty or "venue_id" not in rows.columns:
        return pd.Series("", index=rows.index, dtype=object)
    v = venues.drop_duplicates("venue_id").set_index("venue_id")
    vid = rows["venue_id"]
    name = vid.map(v["name"]).fillna("").astype(str)
    if audience.partner:
        flags = pd.DataFrame(
            {
                "public": rows["public"] if "public" in rows.columns else None,
                "venue_public": vid.map(v["public"]),
            },
            index=rows.index,
        )
        name = name.where(disruption_named(flags), "")
    return name


def _count_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c.endswith(("_before", "_after")) and c != "window_note"]


def _partner_counts(rows: pd.DataFrame, audience: Audience, rings: tuple[str, ...]) -> pd.DataFrame:
    cols = _count_columns(rows)
    out = rows.copy()
    n = len(rows)
    if not cols or not n:
        return out
    exact = np.column_stack(
        [pd.to_numeric(rows[c], errors="coerce").fillna(0).to_numpy(float) for c in cols]
    ).ravel(order="F")
    missing = np.column_stack([rows[c].isna().to_numpy() for c in cols]).ravel(order="F")
    hidden = audience.suppressed(exact)
    pos = {c: np.arange(n) + i * n for i, c in enumerate(cols)}
    groups: list[np.ndarray] = []
    # a tactic's pooled row against its disruptions
    per = rows["disruption_id"] != ""
    done = per & rows["reviewed"].astype(bool)
    everything = ~per & (rows["tactic"] == ALL_TACTICS)
    for tactic in rows.loc[~per, "tactic"]:
        if tactic == ALL_TACTICS:
            # every reviewed disruption, and the tactics' pooled rows, add up to it
            members = np.flatnonzero(done.to_numpy())
            tactics = np.flatnonzero((~per & ~everything).to_numpy())
            total = np.flatnonzero(everything.to_numpy())
            for c in cols:
                groups.append(np.concatenate([pos[c][total], pos[c][tactics]]))
        else:
            members = np.flatnonzero((done & (rows["tactic"] == tactic)).to_numpy())
            total = np.flatnonzero((~per & (rows["tactic"] == tactic)).to_numpy())
        for c in cols:
            groups.append(np.concatenate([pos[c][total], pos[c][members]]))
    # the whole buffer against its rings
    if len(rings) > 1:
        for side in ("before", "after"):
            parts = [f"{r}_{side}" for r in rings if f"{r}_{side}" in pos]
            if f"buffer_{side}" in pos:
                groups += [
                    np.array([pos[f"buffer_{side}"][r]] + [pos[p][r] for p in parts])
                    for r in range(n)
                ]
    withheld = protect(exact, hidden, groups)
    for c in cols:
        text = audience.counts(exact[pos[c]])
        text[withheld[pos[c]]] = WITHHELD
        text[missing[pos[c]]] = "-"
        out[c] = text
    return out


def _rows(result: ReviewResult, audience: Audience, names: pd.Series) -> pd.DataFrame:
    rows = result.rows.copy()
    for c in (
        *CSV_COLUMNS,
        *STAT_COLUMNS,
        "wdd_local_se",
        "reason_public",
        "control_rule_public",
        "buffer_control_rule_public",
    ):
        if c not in rows.columns:
            rows[c] = None
    rows["place"] = names
    rows["date"] = [uk_date(t) if isinstance(t, pd.Timestamp) else "" for t in rows["disrupted_at"]]
    rows["wdd_p_exact"] = rows["wdd_p"]
    rows["wdd_exact"] = rows["wdd"]
    rows["mde_detectable"] = [
        None
        if not isinstance(n, str)
        else ("no" if n.startswith(("could not", "no events")) else "yes")
        for n in rows["mde_note"]
    ]
    if audience.partner:
        low_counts = _any_small(rows, audience)
        rows = _partner_counts(rows, audience, result.spec.ring_names())
        for c in ESTIMATES:
            rows[c] = [round5(v) for v in rows[c]]
        for c in ("wdd_p", "etest_p"):
            rows[c] = [p_band(v) for v in rows[c]]
        for c in ("phi", "rho"):
            rows[c] = [None if v is None or pd.isna(v) else round(float(v), 2) for v in rows[c]]
        rows["wdq"] = [
            WITHHELD
            if small and v is not None and not pd.isna(v)
            else (None if v is None or pd.isna(v) else round(float(v), 1))
            for v, small in zip(rows["wdq"], low_counts, strict=True)
        ]
        # The reading would place a withheld WDQ in its band: withheld with it.
        rows["wdq_reading"] = rows["wdq_reading"].where(rows["wdq"] != WITHHELD, WITHHELD)
        for c in ANALYST_ONLY:
            rows[c] = None
        rows["mde_note"] = None
        # Rules and reasons without counts: a control's size or level would tell them.
        for c in ("reason", "control_rule", "buffer_control_rule"):
            public = f"{c}_public" if c != "reason" else "reason_public"
            if public in rows.columns:
                rows[c] = rows[public].fillna("")
    return rows


def _any_small(rows: pd.DataFrame, audience: Audience) -> np.ndarray:
    cols = [f"{a}_{s}" for a in ("response", "buffer", "control") for s in ("before", "after")]
    if not any(c in rows for c in cols):
        return np.ones(len(rows), dtype=bool)
    vals = np.column_stack(
        [
            pd.to_numeric(rows[c], errors="coerce").fillna(0).to_numpy(float)
            for c in cols
            if c in rows
        ]
    )
    return np.asarray((vals < audience.k).any(axis=1))


CSV_COLUMNS = (
    "disruption_id",
    "tactic",
    "date",
    "place",
    "reviewed",
    "reason",
    "pooled",
    "before_weeks",
    "after_weeks",
    "window_note",
)
STAT_COLUMNS = (
    "wdd",
    "wdd_se",
    "wdd_z",
    "wdd_p",
    "wdd_low",
    "wdd_high",
    "wdd_local",
    "wdd_displace",
    "phi",
    "rho",
    "variance_factor",
    "etest_p",
    "mde",
    "mde_note",
    "mde_detectable",
    "ge",
    "ne",
    "success_measure",
    "buffer_displacement_measure",
    "wdq",
    "wdq_reading",
    "tne",
    "local_reading",
    "buffer_reading",
    "control_rule",
    "buffer_control_rule",
    "overlaps",
)


def csv_columns(rows: pd.DataFrame) -> list[str]:
    counts = [c for c in rows.columns if c.endswith(("_before", "_after"))]
    order = ["response", "buffer", "control", "buffer_control"]
    counts.sort(
        key=lambda c: (
            order.index(c.rsplit("_", 1)[0]) if c.rsplit("_", 1)[0] in order else 1.5,
            c.endswith("_after"),
        )
    )
    return [*CSV_COLUMNS, *counts, *STAT_COLUMNS]


def _day_text(value: Any) -> str:
    """A day as a meeting reads it aloud: ``7 Jul 2026`` (UK date)."""
    if not isinstance(value, pd.Timestamp) or pd.isna(value):
        return "an unknown date"
    local = value.tz_convert("Europe/London")
    return f"{local.day} {local:%b %Y}"


def _answer(row: pd.Series, audience: Audience, spec: Any) -> str:
    """One sentence: the question and the answer for one disruption or tactic."""
    tactic = tactic_text(row["tactic"])
    if row["disruption_id"] == "":
        n = int(row["pooled"])
        if row["tactic"] == ALL_TACTICS:
            head = f"All {n} reviewed disruptions together, every tactic"
        elif n == 1:
            head = f"The one reviewed {tactic}"
        else:
            head = f"All {n} reviewed {tactic}s together"
        if not row.get("reviewed"):
            return f"{head}: none could be reviewed."
        local, buffer = _area_words(row, spec, "their matched controls")
        return (
            f"{head}: {local}; {buffer}. Both areas together: {_overall(row, spec.alpha)} "
            f"({_est_text(row, audience, spec.alpha)})."
        )
    where = f" at {row['place']}" if row.get("place") else ""
    head = f"{row['disruption_id']}, {tactic} on {_day_text(row['disrupted_at'])}{where}"
    if not row["reviewed"]:
        return f"{head}: not reviewed, because {row['reason']}."
    local, buffer = _area_words(row, spec, "the matched control")
    weeks = int(row["after_weeks"])
    overall = _overall(row, spec.alpha)
    text = (
        f"{head}: in the {weeks} weeks after, {local}; {buffer}. Both areas together: "
        f"{overall} ({_est_text(row, audience, spec.alpha)})."
    )
    if row.get("mde_detectable") == "no":
        text += (
            " Too few events for this review to detect a fall: read it as no evidence either way."
        )
    return text


def _area_words(row: pd.Series, spec: Any, control: str) -> tuple[str, str]:
    """The response area's and the buffer's readings in words."""
    r = spec.response_m
    outer = spec.buffer_m[-1]
    local = {
        "fell": f"events within {r:g} m fell relative to {control}",
        "rose": f"events within {r:g} m rose relative to {control}",
        "no events to compare": f"there were no events within {r:g} m or in {control} to compare",
    }.get(
        str(row["local_reading"]),
        f"events within {r:g} m showed no clear change relative to {control}",
    )
    buffer = {
        "displacement": f"between {r:g} and {outer:g} m they rose: a sign the problem moved "
        "next door",
        "diffusion of benefit": f"between {r:g} and {outer:g} m they fell too: the benefit spread",
        "not tested": f"the ring {r:g}-{outer:g} m could not be tested (no control matched it)",
        "no events to compare": f"there were no events between {r:g} and {outer:g} m to compare",
    }.get(
        str(row["buffer_reading"]),
        f"between {r:g} and {outer:g} m there was no clear change: no sign the problem moved",
    )
    return local, buffer


def _overall(row: pd.Series, alpha: float) -> str:
    """The total WDD read in words (its p, exact for the reading, whoever reads it)."""
    p, est = row.get("wdd_p_exact"), row.get("wdd_exact")
    if p is None or est is None or pd.isna(p) or pd.isna(est):
        return "no test (no events to compare)"
    if p < alpha:
        return (
            "fewer events than the controls suggest"
            if est < 0
            else ("more events than the controls suggest")
        )
    return "no clear difference from the controls"


def _est_text(row: pd.Series, audience: Audience, alpha: float) -> str:
    if row["wdd"] is None or pd.isna(row["wdd"]):
        return "no estimate"
    p = row["wdd_p"] if audience.partner else p_exact(row["wdd_p"])
    low, high = row["wdd_low"], row["wdd_high"]
    lo = _fmt(low, 1)
    hi = _fmt(high, 1)
    est = _fmt(row["wdd"], 1)
    return f"WDD {est}, {1 - alpha:.0%} interval {lo} to {hi}, p {p}"


def p_exact(p: Any) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "not defined"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _series(result: ReviewResult, audience: Audience) -> pd.DataFrame:
    s = result.series.copy()
    if s.empty:
        return s.assign(period="", shown="")
    if not audience.partner:
        s["period"] = s["week"].astype(int)
        s["shown"] = s["n"].astype(int).astype(str)
        return s
    # 4-weekly totals, counted outward from the disruption's week
    s["period"] = np.where(
        s["week"] > 0, (s["week"] - 1) // PERIOD_WEEKS + 1, -((-s["week"] - 1) // PERIOD_WEEKS + 1)
    )
    g = (
        s.groupby(["disruption_id", "area", "period"], sort=True)
        .agg(n=("n", "sum"), week_start=("week_start", "min"), weeks=("n", "size"))
        .reset_index()
    )
    exact = g["n"].to_numpy(float)
    hidden = audience.suppressed(exact)
    groups = []
    for _, part in g.groupby(["disruption_id", "area", np.sign(g["period"])]):
        groups.append(part.index.to_numpy())
    withheld = protect(exact, hidden, groups)
    text = audience.counts(exact)
    text[withheld] = WITHHELD
    g["shown"] = text
    g["week"] = g["period"]
    return g.drop(columns=["n"])  # the exact totals stay behind: partners get `shown` only


def _cumulative(result: ReviewResult) -> pd.DataFrame:
    s = result.series
    if s.empty:
        return s
    wide = s.pivot_table(
        index=["disruption_id", "week"], columns="area", values="n", aggfunc="sum"
    ).fillna(0)
    out = wide.reset_index()
    out["difference"] = out.get("response", 0) - out.get("control", 0)
    out["cumulative"] = out.groupby("disruption_id")["difference"].cumsum()
    return out[["disruption_id", "week", "difference", "cumulative"]]


def _areas(result: ReviewResult) -> gpd.GeoDataFrame:
    parts = result.areas
    geoms = []
    rows = []
    for (did, area), g in parts.groupby(["disruption_id", "area"], sort=False):
        first = g.iloc[0]
        if first["kind"] == "disc":
            geom = shapely.Point(first["x"], first["y"]).buffer(first["radius_m"], quad_segs=32)
        elif first["kind"] == "ring":
            outer = shapely.Point(first["x"], first["y"]).buffer(first["radius_m"], quad_segs=32)
            inner = shapely.Point(first["x"], first["y"]).buffer(first["inner_m"], quad_segs=32)
            geom = outer.difference(inner)
        elif first["kind"] == "block":
            polys = [
                shapely.Polygon(
                    [(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(c)))]
                )
                for c in g["h3"]
            ]
            geom = gpd.GeoSeries(polys, crs="EPSG:4326").to_crs(metric_crs().code).union_all()
        else:
            continue
        geoms.append(geom)
        rows.append(
            {
                "disruption_id": did,
                "area": area,
                "label": AREA_LABELS.get(str(area), str(area).replace("_", " ") + " m"),
            }
        )
    frame = (
        gpd.GeoDataFrame(rows, geometry=geoms, crs=metric_crs().code)
        if rows
        else gpd.GeoDataFrame(
            {"disruption_id": [], "area": [], "label": []}, geometry=[], crs=metric_crs().code
        )
    )
    return frame.to_crs("EPSG:4326")


def review_view(
    result: ReviewResult,
    audience: Audience,
    *,
    venues: pd.DataFrame | None = None,
    given_control: Any = None,
) -> ReviewShown:
    """The review as ``audience`` may see it (see the module docstring)."""
    raw = result.rows
    names = _place_names(raw, venues, audience)
    rows = _rows(result, audience, names)
    answers = [
        (str(r["disruption_id"] or r["tactic"]), _answer(r, audience, result.spec))
        for _, r in rows.iterrows()
    ]
    areas = _areas(result)
    if audience.partner:
        # The blocks of a matched control are few and small where counts are small:
        # counting them on a map would tell the counts. Partners see the areas compared
        # at the place; the control is described in words.
        areas = areas.loc[~areas["area"].astype(str).str.contains("control")].reset_index(drop=True)
    if given_control is not None:
        extra = gpd.GeoDataFrame(
            {"disruption_id": ["*"], "area": ["control"], "label": ["control (given)"]},
            geometry=[given_control],
            crs=metric_crs().code,
        ).to_crs("EPSG:4326")
        areas = pd.concat([areas, extra], ignore_index=True)
    per = raw.loc[(raw["disruption_id"] != "") & raw["x"].notna()]

    lat, lng = (
        metric_to_latlng(per["x"].to_numpy(float), per["y"].to_numpy(float))
        if len(per)
        else (np.zeros(0), np.zeros(0))
    )
    places = pd.DataFrame(
        {
            "disruption_id": per["disruption_id"].to_numpy(),
            "tactic": [tactic_text(t) for t in per["tactic"]],
            "date": rows.loc[per.index, "date"].to_numpy(),
            "place": rows.loc[per.index, "place"].to_numpy(),
            "lat": lat,
            "lng": lng,
        }
    )
    spec = {
        "response_m": result.spec.response_m,
        "buffer_m": list(result.spec.buffer_m),
        "alpha": result.spec.alpha,
    }
    return ReviewShown(
        audience=audience,
        rows=rows[csv_columns(rows)],
        answers=answers,
        series=_series(result, audience),
        cumulative=None if audience.partner else _cumulative(result),
        areas=areas,
        places=places,
        spec=spec,
        how_to_read=how_to_read(result.spec, audience),
    )


def how_to_read(spec: Any, audience: Audience) -> list[str]:
    r, outer = spec.response_m, spec.buffer_m[-1]
    lines = [
        f"Response area: within {r:g} m of the disrupted place. Buffer: from {r:g} to {outer:g} m. "
        "Control: nearby blocks (about 0.1 km2 each) outside the buffer and away from other "
        "disruptions, chosen so that their events before the disruption match the response "
        "area's in number and trend; no block holds more than a fifth of them.",
        "WDD (weighted displacement difference, Wheeler and Ratcliffe 2018): the change in the "
        "response area minus the change in its control, plus the change in the buffer minus the "
        "change in the buffer's control. Below 0 means events prevented overall; the interval "
        f"is {1 - spec.alpha:.0%}.",
        "The WDQ (Bowers and Johnson 2003) reads the buffer against the response area: above 0 "
        "the benefit spread, below 0 the problem moved; it has no meaning unless the response "
        "area improved against its control.",
        "Counts of events are usually more variable than chance alone; the p-values allow for "
        "this (phi, estimated from the blocks before the disruption). Where counts are small the "
        "E-test p is the one to read. A review with few events before cannot detect a fall: "
        "it is no evidence either way.",
    ]
    if audience.partner:
        lines.append(
            audience.legend_note() + " Estimates are rounded to the nearest 5 and p-values "
            "shown in bands; series are 4-weekly totals."
        )
    return lines
