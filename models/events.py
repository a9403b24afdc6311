"""The located events of a window as one frame: what every analysis reads.

A stored episode gives up to two events (its last-seen and its found
location), a venue report one event at its venue, an incident one event. The
frame has :data:`EVENT_COLUMNS`; ``record`` is the key of the event's stored
row. ``x`` and ``y`` are British National Grid metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.crs import latlng_to_metric
from geo.errors import ValidationError
from models.params import LAYERS

FOUND_WITHIN = pd.Timedelta(days=90)
"""Longest missing episode whose found location still counts in a later window."""

EVENT_COLUMNS = [
    "layer",
    "x",
    "y",
    "lat",
    "lng",
    "h3",
    "at",
    "child_ref",
    "episode_id",
    "place_type",
    "venue_id",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
    "category",
    "record",
]
"""Columns of an events frame."""


@dataclass(frozen=True)
class Span:
    """A half-open time window ``[start, end)`` in UTC; ``None`` is open."""

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    def contains(self, ts: pd.Series) -> pd.Series:
        ok = ts.notna()
        if self.start is not None:
            ok &= ts >= pd.Timestamp(self.start)
        if self.end is not None:
            ok &= ts < pd.Timestamp(self.end)
        return ok


def tables_for(layer: str) -> set[str]:
    """Which stored tables a layer needs: episodes, venue_reports, incidents."""
    check_layer(layer)
    wanted = {"last_seen", "found", "venues"} if layer == "all" else {layer}
    out = set()
    if wanted & {"last_seen", "found"}:
        out.add("episodes")
    if "venues" in wanted:
        out.add("venue_reports")
    if "incidents" in wanted:
        out.add("incidents")
    return out


def check_layer(layer: str) -> None:
    if layer not in LAYERS:
        msg = f"`layer` must be one of {', '.join(LAYERS)}, got {layer!r}."
        raise ValidationError(msg)


def _project(frame: pd.DataFrame, lat: str, lng: str) -> pd.DataFrame:
    x, y = latlng_to_metric(frame[lat].to_numpy(), frame[lng].to_numpy())
    return frame.assign(x=x, y=y)


def events_from_tables(
    span: Span,
    *,
    layer: str = "all",
    episodes: pd.DataFrame | None = None,
    reports: pd.DataFrame | None = None,
    venues: pd.DataFrame | None = None,
    incidents: pd.DataFrame | None = None,
    category: str | None = None,
) -> pd.DataFrame:
    """The events of ``span`` from the stored tables the layer needs (:func:`tables_for`).

    ``episodes`` must hold every episode last seen from ``FOUND_WITHIN``
    before the span's start (a child found in the span was last seen at most
    that long before it). ``all`` means the MFH and intelligence layers (last
    seen, found, venue reports); incidents come only when asked for.

    Raises
    ------
    ValidationError
        For an unknown layer, a table the layer needs that is missing, or an
        incident category the incidents do not have (naming the ones they do).
    """
    check_layer(layer)
    wanted = {"last_seen", "found", "venues"} if layer == "all" else {layer}
    parts: list[pd.DataFrame] = []
    if wanted & {"last_seen", "found"}:
        if episodes is None:
            raise ValidationError("`episodes` is needed for the last-seen and found layers.")
        for name, stamp in (("last_seen", "last_seen_at"), ("found", "found_at")):
            if name not in wanted:
                continue
            rows = episodes.loc[span.contains(episodes[stamp]) & episodes[f"{name}_lat"].notna()]
            parts.append(
                _project(rows, f"{name}_lat", f"{name}_lng").assign(
                    layer=name,
                    lat=rows[f"{name}_lat"],
                    lng=rows[f"{name}_lng"],
                    h3=rows[f"{name}_h3"].astype(np.int64),
                    at=rows[stamp],
                    place_type=rows[f"{name}_place_type"],
                    record=rows["episode_id"],
                )
            )
    if "venues" in wanted:
        if reports is None or venues is None:
            raise ValidationError("`reports` and `venues` are needed for the venues layer.")
        joined = reports.merge(venues[["venue_id", "lat", "lng", "h3"]], on="venue_id", how="inner")
        parts.append(
            _project(joined, "lat", "lng").assign(
                layer="venue_report",
                at=joined["reported_at"],
                place_type="venue",
                h3=joined["h3"].astype(np.int64),
                record=joined["report_id"],
            )
        )
    if "incidents" in wanted:
        if incidents is None:
            raise ValidationError("`incidents` is needed for the incidents layer.")
        incidents = _of_category(incidents, category)
        parts.append(
            _project(incidents, "lat", "lng").assign(
                layer="incident",
                at=incidents["occurred_at"],
                place_type="public",
                h3=incidents["h3"].astype(np.int64),
                record=incidents["incident_id"],
            )
        )
    frames = [p.reindex(columns=EVENT_COLUMNS) for p in parts if len(p)]
    if not frames:
        return empty_events()
    return pd.concat(frames, ignore_index=True)


def _of_category(incidents: pd.DataFrame, category: str | None) -> pd.DataFrame:
    if not category:
        return incidents
    known = sorted(incidents["category"].unique())
    picked = incidents.loc[incidents["category"].str.lower() == category.lower()]
    if picked.empty and category.lower() not in [k.lower() for k in known]:
        msg = f"no incidents of category {category!r}; categories are: {', '.join(known)}."
        raise ValidationError(msg)
    return picked


def empty_events() -> pd.DataFrame:
    """An events frame with no rows and the right dtypes."""
    empty = pd.DataFrame({c: pd.Series([], dtype=object) for c in EVENT_COLUMNS})
    empty[["x", "y", "lat", "lng"]] = empty[["x", "y", "lat", "lng"]].astype(float)
    empty["h3"] = empty["h3"].astype(np.int64)
    empty["at"] = pd.to_datetime(empty["at"], utc=True)
    return empty
