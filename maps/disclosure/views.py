"""The weekly outputs' views: cells, targets, cover summary, Gi* and trend layers, run records."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from geo.errors import ValidationError
from geo.h3index import cells_to_parent
from maps.disclosure.rules import (
    CELL_COUNTS,
    CELL_DISTINCT,
    IDENTIFIERS,
    NEIGHBOURHOOD_K,
    PARTNER_CELL_COLUMNS,
    PARTNER_TARGET_COLUMNS,
    TARGET_COUNTS,
    WITHHELD,
    Audience,
    disclose_table,
)
from maps.style import score_class_index
from models.gistar import neighbour_matrix
from models.params import AnalysisParams
from models.targets import drop_private

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
    Every audience keeps ``near`` and ``near_m`` (:data:`~maps.disclosure.rules.PLACE_COLUMNS`).
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
