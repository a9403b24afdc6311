"""Disruptions on the weekly map and pack, and the notes and flags of targets near them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from geo.h3index import cells_to_latlng, cells_to_parent
from maps.disclosure.rules import (
    PARTNER_RES,
    Audience,
)
from models.disruptions import DisruptionAnalysis, displacement_notes, near_notes

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
