"""What each audience may see: the one rule set every output passes through.

Every output of a run (map.html, pack.pdf, targets.csv, hotspots.geojson,
run.json, and the per-cell tables of ``engage hotspots`` and ``engage
trends``) is built from the *views* this module makes; the builders in
``maps`` print what a view holds and decide nothing themselves. The rules
(docs/disclosure.md):

``analyst``
    Everything.
``neighbourhood``
    No child-level points, no home or care-home location, no child refs or
    episode ids; intelligence gradings allowed. (No output draws event points
    or home locations for any audience; the neighbourhood views carry no
    identifier column.)
``partner``
    Areas, not children. Cells of resolution 8. A count of children,
    episodes or events from 1 to ``k - 1`` is shown only as ``<k`` (``k``
    default 5, never below 3) in every field and sentence; 0 is shown as 0;
    counts of ``k`` or more are rounded to the nearest 5. Totals are summed
    from the exact values, then rounded. Where one suppressed value could be
    worked out by subtracting shown values from a shown total (a cell's
    events against their parts, an area's total against its cells), a
    second value is withheld too, shown as ``[c]``. No scores or statistics
    that are functions of a cell's counts; no gradings, handling codes or
    report counts by grading; intelligence with handling code ``C`` is left
    out before anything is analysed; venues named only where the venue is
    marked public. Gi* classes and trend patterns only where at least ``k``
    children stand behind the cell's neighbourhood.

The leak test (tests/maps/test_leaks.py) builds every output for every
audience and scans all of its text for anything these rules forbid.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from geo.errors import ValidationError
from geo.h3index import cells_to_latlng, cells_to_parent
from maps.style import score_class_index
from models.disruptions import DisruptionAnalysis, displacement_notes, near_notes
from models.gistar import neighbour_matrix
from models.params import AnalysisParams
from models.targets import drop_private

AUDIENCES = ("analyst", "neighbourhood", "partner")
DEFAULT_AUDIENCE = "analyst"
DEFAULT_K = 5
MIN_K = 3
PARTNER_RES = 8
"""Partner outputs use cells of this resolution (about 0.74 km2)."""
WITHHELD = "[c]"
"""A value withheld so that a small count elsewhere cannot be worked out (secondary)."""
NEIGHBOURHOOD_K = 1
"""Gi* neighbourhood (rings) whose children a partner class must rest on."""

CELL_COUNTS = ("n", "n_last_seen", "n_found", "n_reports", "n_incidents")
"""A cell's events and their parts by layer: ``n`` is the sum of the others."""
CELL_DISTINCT = ("n_episodes", "n_children")
TARGET_COUNTS = {
    "episodes": "n_episodes",
    "children": "n_children",
    "last_seen": "n_last_seen",
    "found": "n_found",
    "venue_reports": "n_reports",
}
"""Target table counts and the cell counts they are (partners see the cells' values)."""

IDENTIFIERS = ("child_ref", "episode_id", "record", "report_id", "venue_id")
"""Columns that point at one child, episode or report: never in a neighbourhood or partner view."""
PARTNER_TARGET_COLUMNS = (
    "rank",
    "visit_order",
    "h3",
    "ward_name",
    "grid_ref",
    "lat",
    "lng",
    "score_class",
    *TARGET_COUNTS,
    "trend",
    "patrol_window",
    "nearest_venue",
    "why",
)
PARTNER_CELL_COLUMNS = (
    "h3",
    "lat",
    "lng",
    "ward",
    "ward_name",
    "score_class",
    "cluster",
    *CELL_COUNTS,
    *CELL_DISTINCT,
)


@dataclass(frozen=True)
class Audience:
    """An audience and its threshold ``k``: the rules of the module docstring.

    Build it with :meth:`make`, which checks both.
    """

    name: str = DEFAULT_AUDIENCE
    k: int = DEFAULT_K

    @classmethod
    def make(cls, name: str | None = None, k: int | None = None) -> Audience:
        """Checked: ``name`` one of :data:`AUDIENCES`, ``k`` a whole number of at least 3."""
        name = name or DEFAULT_AUDIENCE
        if name not in AUDIENCES:
            msg = f"`audience` must be one of {', '.join(AUDIENCES)}, got {name!r}."
            raise ValidationError(msg)
        k = DEFAULT_K if k is None else k
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < MIN_K:
            msg = (
                f"`k` must be a whole number of at least {MIN_K}, got {k!r}: partner outputs "
                f"never show counts below {MIN_K} apart."
            )
            raise ValidationError(msg)
        return cls(name, int(k))

    @property
    def partner(self) -> bool:
        return self.name == "partner"

    @property
    def analyst(self) -> bool:
        return self.name == "analyst"

    @property
    def shows_venues_layer(self) -> bool:
        """Whether the venues layer may be drawn (analysts only)."""
        return self.analyst

    @property
    def shows_significance_pages(self) -> bool:
        """Whether the printed pack carries the Gi* and trend pages (analysts only).

        The neighbourhood pack is a patrol briefing: its map already ranks the
        same cells, and each target row says whether it is rising or falling.
        A second colouring of the same hexagons by statistical confidence
        invites "which red do we patrol?". The web map keeps both layers,
        switched off, for anyone who wants to look.
        """
        return self.analyst

    @property
    def shows_gradings(self) -> bool:
        return not self.partner

    @property
    def res(self) -> int | None:
        """The only resolution this audience's cells may have (None: any)."""
        return PARTNER_RES if self.partner else None

    @property
    def small(self) -> str:
        """How a suppressed small count reads: ``<5``."""
        return f"<{self.k}"

    def legend_note(self) -> str:
        """One sentence for legends and covers on how counts are shown."""
        if not self.partner:
            return "Counts are exact."
        return (
            f"Counts from 1 to {self.k - 1} are shown as {self.small}, others rounded to the "
            f"nearest 5; {WITHHELD} is withheld so that a small count cannot be worked out."
        )

    # --- counts ---------------------------------------------------------------------------

    def count(self, value: Any) -> str:
        """One count as this audience reads it (``-`` when missing)."""
        return str(self.counts(np.array([value], dtype=object))[0])

    def counts(self, values: Any) -> np.ndarray:
        """Counts as text: exact for analysts and neighbourhood teams; for partners ``0``,
        ``<k`` or rounded to the nearest 5. Missing values read ``-``."""
        raw = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
        out = np.full(len(raw), "-", dtype=object)
        ok = raw.notna().to_numpy()
        v = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        if not self.partner:
            out[ok] = [_number(x) for x in v[ok]]
            return out
        whole = np.where(ok, np.round(v), 0).astype(np.int64)
        rounded = (np.floor(whole / 5 + 0.5) * 5).astype(np.int64)
        text = np.where(
            whole <= 0, "0", np.where(whole < self.k, self.small, rounded.astype(str))
        ).astype(object)
        out[ok] = text[ok]
        return out

    def suppressed(self, values: Any) -> np.ndarray:
        """Whether each count is a primary suppression (from 1 to ``k - 1``) for this audience."""
        numbers = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
        v = numbers.fillna(0).to_numpy(dtype=np.float64)
        if not self.partner:
            return np.zeros(v.size, dtype=bool)
        return np.asarray((v >= 1) & (v < self.k))

    def total(self, values: Any) -> str:
        """The total of exact ``values``, as this audience reads it (summed first, then shown)."""
        exact = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
        return self.count(int(exact.fillna(0).sum()))

    # --- events ---------------------------------------------------------------------------

    def events(self, events: pd.DataFrame) -> pd.DataFrame:
        """The events this audience's outputs may rest on.

        Partners: intelligence with handling code ``C`` (sharing with
        conditions) is left out before anything is analysed, so nothing of it
        reaches a partner output, not even through a score.
        """
        if not self.partner or "handling_code" not in events.columns:
            return events
        conditional = events["handling_code"].astype(str).str.upper().eq("C")
        return events.loc[~conditional.to_numpy()].reset_index(drop=True)


def _number(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.1f}"


def protect(exact: np.ndarray, hidden: np.ndarray, groups: Sequence[np.ndarray]) -> np.ndarray:
    """Secondary suppression: values to withhold so no hidden value can be had by subtraction.

    ``exact`` and ``hidden`` (True where a value is suppressed as small) are
    flat arrays of a table's values. Each group is an array of positions
    whose values add up to a published total (the total one of them, or
    shown elsewhere). A group with exactly one hidden non-zero value and a
    shown non-zero value would give the hidden one away (total minus the
    rest), so its smallest shown non-zero value is withheld too (ties: the
    first); repeated over all groups until none gives anything away.
    Returns the mask of withheld values.
    """
    exact = np.asarray(exact, dtype=np.float64)
    hid = np.asarray(hidden, dtype=bool).copy()
    extra = np.zeros(hid.size, dtype=bool)
    nonzero = exact > 0
    changed = True
    while changed:
        changed = False
        for group in groups:
            g = np.asarray(group, dtype=np.int64)
            if ((hid[g] & nonzero[g]).sum() != 1) or not (~hid[g] & nonzero[g]).any():
                continue
            shown = g[~hid[g] & nonzero[g]]
            pick = shown[np.argmin(exact[shown])]
            hid[pick] = extra[pick] = True
            changed = True
    return extra


def _shown(audience: Audience, exact: np.ndarray, withheld: np.ndarray) -> np.ndarray:
    text = audience.counts(exact)
    text[np.asarray(withheld, dtype=bool)] = WITHHELD
    return text


def disclose_table(
    frame: pd.DataFrame,
    audience: Audience,
    columns: Sequence[str],
    *,
    row_sums: Mapping[str, Sequence[str]] | None = None,
    column_totals: Sequence[str] = (),
) -> pd.DataFrame:
    """Counts of ``columns`` as ``audience`` may see them, with secondary suppression.

    ``row_sums`` maps a total column to its part columns (``n`` to the
    layers' counts); ``column_totals`` names the columns whose sum over the
    rows is shown elsewhere (an area total on the cover). Returns a copy
    with those columns as text.
    """
    out = frame.copy()
    present = [c for c in columns if c in out.columns]
    if not present or not audience.partner:
        for c in present:
            out[c] = audience.counts(out[c].to_numpy())
        return out
    n_rows = len(out)
    exact = np.column_stack(
        [pd.to_numeric(out[c], errors="coerce").fillna(0).to_numpy(np.float64) for c in present]
    ).ravel(order="F")
    hidden = audience.suppressed(exact)
    pos = {c: np.arange(n_rows) + i * n_rows for i, c in enumerate(present)}
    groups: list[np.ndarray] = []
    for total, parts in (row_sums or {}).items():
        members = [c for c in (total, *parts) if c in pos]
        if total in pos and len(members) > 1:
            groups += [np.array([pos[c][r] for c in members]) for r in range(n_rows)]
    groups += [pos[c] for c in column_totals if c in pos]
    withheld = protect(exact, hidden, groups)
    for c in present:
        out[c] = _shown(audience, exact[pos[c]], withheld[pos[c]])
    return out


# --- cells -------------------------------------------------------------------------------------


def cells_view(
    cells: pd.DataFrame, audience: Audience, *, totals_shown: bool = True
) -> pd.DataFrame:
    """The per-cell table (the hotspot frame, the trends table) as ``audience`` may see it.

    Every audience gets ``score_class`` (1 hottest) and no identifier
    column. Partners get :data:`PARTNER_CELL_COLUMNS` only (no score or
    statistic computed from a cell's counts), counts as text: ``n`` against
    its parts by layer and, with ``totals_shown``, each additive count
    against the area total, with secondary suppression.
    """
    out = cells.copy()
    if "score" in out.columns and "score_class" not in out.columns:
        out["score_class"] = score_class_index(out["score"].to_numpy(dtype=np.float64)) + 1
    out = out.drop(columns=[c for c in IDENTIFIERS if c in out.columns])
    if audience.partner:
        out = out[[c for c in PARTNER_CELL_COLUMNS if c in out.columns]]
        out = disclose_table(
            out,
            audience,
            (*CELL_COUNTS, *CELL_DISTINCT),
            row_sums={"n": CELL_COUNTS[1:]},
            column_totals=CELL_COUNTS if totals_shown else (),
        )
    out.attrs["audience"] = audience.name
    return out


# --- targets -----------------------------------------------------------------------------------


def _plural(count: str, one: str, many: str) -> str:
    return f"{count} {one if count == '1' else many}"


def partner_why(row: Mapping[str, Any]) -> str:
    """A partner target's one-line reason, from its shown (already disclosed) values only."""
    parts = [
        f"{_plural(str(row['episodes']), 'episode', 'episodes')} "
        f"({_plural(str(row['children']), 'child', 'children')})",
        f"{row['found']} found here",
    ]
    if str(row.get("venue_reports", "0")) not in ("0", "-"):
        parts.append(
            _plural(str(row["venue_reports"]), "intelligence report", "intelligence reports")
        )
    if row.get("trend"):
        parts.append(str(row["trend"]))
    window = str(row.get("patrol_window") or "")
    if window and window[0].isupper() and window[:3].isalpha():
        parts.append(f"busiest {window}")
    if row.get("nearest_venue"):
        parts.append(f"near {row['nearest_venue']}")
    return ", ".join(parts)


def targets_view(
    targets: pd.DataFrame, audience: Audience, *, cells: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The ranked targets as ``audience`` may see them (every target output reads this).

    Analysts: everything. Neighbourhood teams: no identifier columns.
    Partners: :data:`PARTNER_TARGET_COLUMNS`; the counts are the cells'
    disclosed values (``cells``: this run's :func:`cells_view` for partners,
    so a target row and its cell read the same and share one secondary
    suppression); the nearest venue named only when it is marked public;
    the reason rebuilt from those values alone (:func:`partner_why`).
    """
    out = targets.sort_values("rank", kind="stable").reset_index(drop=True)
    out = out.drop(columns=[c for c in IDENTIFIERS if c in out.columns])
    if not audience.partner:
        out.attrs["audience"] = audience.name
        return out
    if cells is None or cells.attrs.get("audience") != audience.name:
        msg = "partner targets need this run's partner cells (maps.disclosure.cells_view)."
        raise ValidationError(msg)
    shown = cells.set_index("h3")
    for col, cell_col in TARGET_COUNTS.items():
        if cell_col in shown.columns:
            out[col] = out["h3"].map(shown[cell_col]).fillna("0").to_numpy()
        else:
            out[col] = "0"
    if "score_class" in shown.columns:
        out["score_class"] = out["h3"].map(shown["score_class"]).to_numpy()
    public = out.get("nearest_venue_public", pd.Series(False, index=out.index))
    public = public.fillna(False).astype(bool)
    if "nearest_venue" in out.columns:
        names = out["nearest_venue"].where(public & out["nearest_venue"].notna(), None)
        out["nearest_venue"] = names
    out["why"] = [partner_why({str(k): v for k, v in r.items()}) for r in out.to_dict("records")]
    out = out[[c for c in PARTNER_TARGET_COLUMNS if c in out.columns]]
    out.attrs["audience"] = audience.name
    return out


# --- summary, layers and run record ------------------------------------------------------------


SUMMARY_COUNTS = ("episodes", "children", "found_locations", "intelligence_reports")


def summary_view(summary: Mapping[str, Any], audience: Audience) -> dict[str, Any]:
    """The cover's counts of the pack's area as ``audience`` may see them.

    Partners: each count of children, episodes or events disclosed
    (``targets``, the number of targets, is not a count of anyone).
    """
    out = dict(summary)
    for key in SUMMARY_COUNTS:
        if key in out:
            out[key] = audience.count(out[key]) if audience.partner else out[key]
    return out


def is_shown_count(value: Any, audience: Audience) -> bool:
    """Whether ``value`` reads as a count this audience may be shown (partners: ``0``,
    ``<k``, ``[c]`` or a multiple of 5 from ``k`` up, as text)."""
    if not audience.partner:
        return True
    if not isinstance(value, str):
        return False
    if value in ("0", "-", audience.small, WITHHELD):
        return True
    return value.isdigit() and int(value) % 5 == 0 and int(value) >= audience.k


def disclosable(
    cells: np.ndarray, events: pd.DataFrame, *, res: int, k: int, threshold: int
) -> np.ndarray:
    """Whether each cell's ``grid_disk(k)`` neighbourhood holds ``threshold`` or more children.

    Distinct ``child_ref`` of the non-private events in the cell and its
    neighbours among ``cells``: a sparse cells x children presence matrix
    multiplied by the Gi* neighbour matrix, so a child seen in two cells of
    one neighbourhood counts once.
    """
    kept = drop_private(events)
    kept = kept.loc[kept["child_ref"].notna()]
    cell = cells_to_parent(kept["h3"].to_numpy(dtype=np.int64), res)
    order = np.argsort(cells, kind="stable")
    pos = np.minimum(np.searchsorted(cells[order], cell), cells.size - 1)
    inside = cells[order][pos] == cell
    rows = order[pos[inside]]
    child, _ = pd.factorize(kept["child_ref"].to_numpy()[inside])
    presence = sparse.csr_matrix(
        (np.ones(rows.size), (rows, child)), shape=(cells.size, int(child.max(initial=-1)) + 1)
    )
    reach = neighbour_matrix(cells, k=k) @ presence
    distinct = np.asarray((reach > 0).sum(axis=1)).ravel()
    return np.asarray(distinct >= threshold)


def layers_view(
    layers: pd.DataFrame | None,
    meta: Mapping[str, Any],
    audience: Audience,
    *,
    events: pd.DataFrame | None = None,
    res: int | None = None,
    shown: np.ndarray | None = None,
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """The Gi* and trend layers and their metadata as ``audience`` may see them.

    Partners: a cell's class or pattern is shown only where at least ``k``
    children stand behind its neighbourhood (``disclosable``; others read
    ``suppressed``, with no statistics); class counts count the hidden cells
    as suppressed; the event counts and reasons of the metadata are
    disclosed or left out. ``shown`` (one flag per row of ``layers``) is
    :func:`disclosable` of the run's ``events`` at ``res`` unless given.
    """
    out_meta = copy.deepcopy(dict(meta))
    if not audience.partner:
        return layers, out_meta
    if layers is not None:
        if shown is None:
            if events is None or res is None:
                msg = "partner layers need the run's `events` and `res` (or `shown`)."
                raise ValidationError(msg)
            shown = disclosable(
                layers["h3"].to_numpy(dtype=np.int64),
                events,
                res=res,
                k=NEIGHBOURHOOD_K,
                threshold=audience.k,
            )
        shown = np.asarray(shown, dtype=bool)
        layers = layers.assign(disclosable=shown)
        for class_column, stats in (
            ("gi_class", ("gi_z", "gi_p", "gi_p_adj")),
            ("pattern", ("mk_z", "mk_p", "mk_trend")),
        ):
            if class_column in layers.columns:
                layers[class_column] = np.where(shown, layers[class_column], "suppressed")
                for col in stats:
                    if col in layers.columns:
                        layers[col] = layers[col].where(shown, np.nan)
        for key, column, counts in (
            ("gistar", "gi_class", "class_counts"),
            ("emerging", "pattern", "pattern_counts"),
        ):
            if column in layers.columns and counts in out_meta.get(key, {}):
                seen = pd.Series(np.where(shown, layers[column].astype(str), "suppressed"))
                tally = seen.value_counts()
                classes = [*out_meta[key][counts], "suppressed"]
                out_meta[key][counts] = {c: int(tally.get(c, 0)) for c in classes}
    for key in ("gistar", "emerging"):
        part = out_meta.get(key)
        if not isinstance(part, dict):
            continue
        if "n_events" in part:
            part["n_events"] = audience.count(part["n_events"])
        if part.get("status") == "absent":
            part["reason"] = (
                "too few events, weeks or varying counts in the lookback for this layer"
            )
    return layers, out_meta


RUN_PARAMETER_KEYS = (
    "method",
    "res",
    "bandwidth_m",
    "bin_res",
    "half_life_days",
    "found_weight",
    "lookback_weeks",
    "eps_m",
    "min_samples",
    "top_n",
)
"""Parameters a partner's run record and cover may show. The methods' notes on how a
bandwidth or eps was chosen are left out: they quote the number of events (``n = ...``)."""


def parameters_view(parameters: Mapping[str, Any], audience: Audience) -> dict[str, Any]:
    """Run parameters as ``audience`` may see them: partners get :data:`RUN_PARAMETER_KEYS` only.

    A method's metadata can carry counts (events outside the cells, points
    per cluster); partners never see those.
    """
    if not audience.partner:
        return dict(parameters)
    return {k: v for k, v in parameters.items() if k in RUN_PARAMETER_KEYS}


def hulls_view(hulls: pd.DataFrame, audience: Audience) -> pd.DataFrame:
    """DBSCAN cluster outlines as ``audience`` may see them: partners get ``n_points`` disclosed."""
    out = hulls.copy()
    if audience.partner and "n_points" in out.columns:
        out["n_points"] = audience.counts(out["n_points"].to_numpy())
    out.attrs["audience"] = audience.name
    return out


def with_layers(cells: pd.DataFrame, layers: pd.DataFrame | None) -> pd.DataFrame:
    """A cells view with the (already disclosed) Gi* and trend columns of ``layers`` joined on.

    The layers' columns replace any of the same name (method ``gistar`` has
    ``gi_z`` too); the result keeps the view's audience stamp.
    """
    if layers is None:
        return cells
    clash = [c for c in layers.columns if c != "h3" and c in cells.columns]
    out = cells.drop(columns=clash).merge(layers, on="h3", how="left")
    if "disclosable" in out.columns:
        out = out.drop(columns="disclosable")
    out.attrs["audience"] = cells.attrs.get("audience")
    return out


def params_for(params: AnalysisParams, audience: Audience) -> AnalysisParams:
    """The analysis parameters an audience's outputs are made with.

    Partners: resolution 8, and no ``gistar`` method (its per-cell z and
    p-values are statistics of cells with few children).
    """
    if audience.partner and params.method == "gistar":
        msg = (
            "partner packs do not offer --method gistar, nor do partner tables: its per-cell z "
            "and p-values are "
            "statistics of cells with few children. Use --method count or kde; the partner map "
            "still carries the Gi* layer, suppressed where children are few."
        )
        raise ValidationError(msg)
    if audience.res is not None and params.res != audience.res:
        return params.replace(res=audience.res)
    return params


TREND_PARTNER_COLUMNS = ("h3", "lat", "lng", "ward", "ward_name", "pattern")


def trends_view(
    frame: pd.DataFrame,
    events: pd.DataFrame,
    audience: Audience,
    *,
    res: int,
    k_rings: int,
) -> pd.DataFrame:
    """The ``engage trends`` table as ``audience`` may see it.

    Partners: the pattern only, and only where at least ``k`` children stand
    behind the cell's neighbourhood (``k_rings`` rings) in the window; other
    cells read ``suppressed``. No statistics (their values follow from a few
    children's weekly counts).
    """
    out = frame.drop(columns=[c for c in IDENTIFIERS if c in frame.columns])
    if audience.partner:
        shown = disclosable(
            out["h3"].to_numpy(dtype=np.int64), events, res=res, k=k_rings, threshold=audience.k
        )
        out = out[[c for c in TREND_PARTNER_COLUMNS if c in out.columns]].copy()
        out["pattern"] = np.where(shown, out["pattern"].astype(object), "suppressed")
    out.attrs["audience"] = audience.name
    return out


# --- disruptions: the weekly pack's layer and its targets' notes -------------------------------
#
# A disruption is an action at a place (tactic and date), not a record about a child. Every
# audience sees its tactic and date. Analysts see everything, the free-text note included
# (notes may hold personal text). Neighbourhood teams see the point and the venue's name, no
# note and no id. Partners see it at its res-8 cell (the cell's centre, never the point), the
# venue named only where the disruption is marked public (or, not marked either way, where
# its venue is), no note and no id. The displacement flag of a target is for analysts only.

DISRUPTION_VIEW_COLUMNS = ("disrupted_at", "lat", "lng", "h3", "tactic", "venue_name")
"""Columns of a neighbourhood or partner disruptions view (partners: ``h3`` the res-8 cell,
``lat``/``lng`` its centre)."""


def disruption_named(frame: pd.DataFrame) -> np.ndarray:
    """Whether each disruption's venue may be named to partners.

    The disruption is marked public; or it is not marked either way and its
    venue is marked public. Anything else (marked not public, or nothing
    known) keeps the name back.
    """
    n = len(frame)

    def flag(name: str) -> pd.Series:
        if name not in frame.columns:
            return pd.Series(pd.array([pd.NA] * n, dtype="boolean"), index=frame.index)
        return frame[name].astype("boolean")

    return np.asarray(flag("public").fillna(flag("venue_public")).fillna(False), dtype=bool)


def _partner_names(frame: pd.DataFrame) -> list[Any]:
    """Each row's ``venue_name`` where :func:`disruption_named`, else None."""
    named = disruption_named(frame)
    return [v if ok else None for v, ok in zip(frame["venue_name"], named, strict=True)]


def disruptions_view(frame: pd.DataFrame, audience: Audience) -> pd.DataFrame:
    """The disruptions to draw (``drawn`` of :class:`models.disruptions.DisruptionAnalysis`)
    as ``audience`` may see them.

    Analysts: every column (id, venue, note, ``public``). Neighbourhood teams:
    :data:`DISRUPTION_VIEW_COLUMNS` (the point, tactic, date and venue name).
    Partners: the same columns with the point replaced by its res-8 cell and
    that cell's centre, and the venue's name only where
    :func:`disruption_named`.
    """
    out = frame.copy()
    if not audience.analyst:
        if audience.partner and len(out):
            cells = cells_to_parent(out["h3"].to_numpy(dtype=np.int64), PARTNER_RES)
            lat, lng = cells_to_latlng(cells)
            out = out.assign(h3=cells, lat=lat, lng=lng, venue_name=_partner_names(out))
        out = out[[c for c in DISRUPTION_VIEW_COLUMNS if c in out.columns]].copy()
    out.attrs["audience"] = audience.name
    return out


def target_disruptions_view(
    targets: pd.DataFrame, found: DisruptionAnalysis | None, audience: Audience
) -> pd.DataFrame:
    """``targets`` (this audience's :func:`targets_view`) with their disruption notes.

    ``disruption``, for every audience: the disruptions in the target's cell
    or near it, most recent first (tactic, venue where this audience may read
    its name, date; :func:`models.disruptions.near_notes`). ``displacement``,
    for analysts only: the possible displacement flag
    (:func:`models.disruptions.displacement_notes`). Missing where there is
    none.
    """
    out = targets.drop(columns=[] if audience.analyst else ["displacement"], errors="ignore")
    matches = found.matches if found is not None else pd.DataFrame(columns=["relation"])
    near = matches.loc[matches["relation"] == "near"]
    if audience.partner and len(near):
        near = near.assign(venue_name=_partner_names(near))
    ranks = out["rank"].astype(int)
    out["disruption"] = ranks.map(near_notes(near)).astype(object).to_numpy()
    if audience.analyst:
        flags = displacement_notes(matches, found.params) if found is not None else {}
        out["displacement"] = ranks.map(flags).astype(object).to_numpy()
    out.attrs["audience"] = audience.name
    return out
