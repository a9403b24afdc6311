"""Disruptions beside the weekly analysis: where each one is, and which targets it touches.

A disruption (a patrol, a Child Abduction Warning Notice, a closure order, a
licensing review, a Makesafe visit...) is stored with a venue, with its own
point, or with both. Pure functions on frames:

- :func:`locate` gives each disruption its place: its own point, else its
  venue's, with the venue's name and whether the venue is marked public. A
  disruption with neither has no place: it is never drawn, only counted.
- :func:`analyse_disruptions` takes the disruptions of a window and the
  ranked targets and returns the disruptions to draw, how many of the window
  had no place, and one row per relation between a target and a disruption:

  ``near``
      the disruption lies in the target's cell or within ``near_m``
      (default :data:`NEAR_M`, 150 m) of the cell's edge;
  ``displacement``
      the disruption is dated in the ``displacement_weeks`` (default
      :data:`DISPLACEMENT_WEEKS`, 12) before the patrol week, lies outside
      the target's cell but within ``displacement_m`` (default
      :data:`DISPLACEMENT_M`, 400 m, the review's buffer) of its edge, and
      the target's events of the last ``trend_weeks`` weeks outnumber those
      of the weeks before (its ``recent`` against its ``before``): activity
      that rose beside a place soon after it was disrupted, a possible
      displacement.

- :func:`near_notes` and :func:`displacement_notes` write those relations as
  each target's notes, most recent first.

Who may read which relation, and with which venue names, is decided by
``maps.disclosure``. Distances are British National Grid metres from the
disruption's point to the target's hexagon (0 inside it).
"""

from __future__ import annotations

from dataclasses import dataclass

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import shapely

from geo.calendar import uk_day
from geo.crs import latlng_to_metric
from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_to_parent, latlng_to_cells

NEAR_M = 150.0
"""A disruption this close to a target's cell (metres from its edge) is noted on the target."""
DISPLACEMENT_M = 400.0
"""A target cell this close to a recent disruption (metres from its edge) may show displacement:
the partnership review's default buffer around a disrupted place."""
DISPLACEMENT_WEEKS = 12
"""Weeks before the patrol week in which a disruption may explain a nearby rise."""
MAX_LISTED = 3
"""Disruptions a target's note names before it says how many more there were."""

TACTIC_TEXT = {
    "patrol": "patrol",
    "cawn": "CAWN",
    "closure_order": "closure order",
    "licensing_review": "licensing review",
    "makesafe_visit": "Makesafe visit",
    "arrest": "arrest",
    "other": "disruption",
}
"""How each stored tactic reads in a sentence."""
LASTING_TACTICS = frozenset({"closure_order", "cawn"})
"""Tactics in force from their date on: their notes read "since", the others "on"."""

LOCATED_COLUMNS = (
    "disruption_id",
    "venue_id",
    "disrupted_at",
    "lat",
    "lng",
    "h3",
    "tactic",
    "note",
    "public",
    "venue_name",
    "venue_public",
)
MATCH_COLUMNS = (
    "rank",
    "h3",
    "relation",
    "disruption_id",
    "disrupted_at",
    "tactic",
    "venue_name",
    "public",
    "venue_public",
    "distance_m",
)
"""One relation between a target (``rank``, ``h3``: its cell) and a disruption."""


@dataclass(frozen=True)
class DisruptionParams:
    """How disruptions are related to targets (see the module docstring).

    Parameters
    ----------
    near_m
        Metres from a target cell's edge within which a disruption is noted.
    displacement_m
        Metres from a target cell's edge within which a disruption outside the
        cell may explain its rise.
    displacement_weeks
        Weeks before the patrol week a disruption must fall in to explain a rise.
    """

    near_m: float = NEAR_M
    displacement_m: float = DISPLACEMENT_M
    displacement_weeks: int = DISPLACEMENT_WEEKS

    def __post_init__(self) -> None:
        for name in ("near_m", "displacement_m"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                msg = f"`{name}` must be a distance of 0 metres or more, got {value!r}."
                raise ValidationError(msg)
        if self.displacement_weeks < 1:
            msg = f"`displacement_weeks` must be at least 1, got {self.displacement_weeks}."
            raise ValidationError(msg)


@dataclass(frozen=True)
class DisruptionAnalysis:
    """The disruptions of a pack's window and how they relate to its targets."""

    drawn: pd.DataFrame
    """Disruptions of the window with a place, in the area or related to a target, most
    recent first: :data:`LOCATED_COLUMNS`."""
    left_off: int
    """Disruptions of the window with no place (no point and no venue with one)."""
    matches: pd.DataFrame
    """:data:`MATCH_COLUMNS`, one row per relation, most recent first within a target."""
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    params: DisruptionParams


def tactic_text(tactic: object) -> str:
    """A stored tactic as it reads in a sentence (``closure_order``: ``closure order``)."""
    key = str(tactic)
    return TACTIC_TEXT.get(key, key.replace("_", " "))


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _flag(values: pd.Series) -> pd.Series:
    """A stored true/false column as nullable booleans (missing stays missing)."""
    return values.astype("boolean")


def locate(disruptions: pd.DataFrame, venues: pd.DataFrame | None) -> pd.DataFrame:
    """Each disruption with its place and its venue's name: :data:`LOCATED_COLUMNS`.

    The point is the disruption's own, else its venue's (a venue without a
    point, or a disruption naming no venue and giving no point, leaves
    ``lat``, ``lng`` and ``h3`` missing). ``h3`` is the point's res-12 cell.
    ``venue_name`` and ``venue_public`` are the venue's, missing without one.
    """
    d = disruptions.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "disruption_id": _column(d, "disruption_id").astype(object).to_numpy(),
            "venue_id": _column(d, "venue_id").astype(object).to_numpy(),
            "disrupted_at": pd.to_datetime(_column(d, "disrupted_at"), utc=True).to_numpy(),
            "lat": pd.to_numeric(_column(d, "lat"), errors="coerce").to_numpy(np.float64),
            "lng": pd.to_numeric(_column(d, "lng"), errors="coerce").to_numpy(np.float64),
            "tactic": _column(d, "tactic").astype(object).to_numpy(),
            "note": _column(d, "note").astype(object).to_numpy(),
            "public": _flag(_column(d, "public")).to_numpy(),
        }
    )
    out["disrupted_at"] = pd.to_datetime(out["disrupted_at"], utc=True)
    out["public"] = out["public"].astype("boolean")
    v = venues if venues is not None else pd.DataFrame()
    known = (
        v.drop_duplicates("venue_id").set_index("venue_id")
        if len(v) and "venue_id" in v.columns
        else pd.DataFrame(index=pd.Index([], dtype=object))
    )
    ids = out["venue_id"]
    out["venue_name"] = ids.map(_column(known, "name")).astype(object)
    out["venue_name"] = out["venue_name"].where(out["venue_name"].notna(), None)
    out["venue_public"] = _flag(ids.map(_column(known, "public")))
    own = out["lat"].notna() & out["lng"].notna()
    for c in ("lat", "lng"):
        theirs = pd.to_numeric(ids.map(_column(known, c)), errors="coerce")
        out[c] = out[c].where(own, theirs)
    placed = (out["lat"].notna() & out["lng"].notna()).to_numpy()
    h3 = np.zeros(len(out), dtype=np.int64)
    if placed.any():
        h3[placed] = latlng_to_cells(
            out.loc[placed, "lat"].to_numpy(), out.loc[placed, "lng"].to_numpy()
        )
    out["h3"] = pd.array(h3, dtype="Int64")
    out.loc[~placed, "h3"] = pd.NA
    return out[list(LOCATED_COLUMNS)]


def _cells_bng(cells: np.ndarray) -> np.ndarray:
    """Each cell's hexagon as a shapely polygon in British National Grid metres."""
    polygons = []
    for cell in cells:
        ring = np.asarray(h3i.cell_to_boundary(int(cell)), dtype=np.float64)
        e, n = latlng_to_metric(ring[:, 0], ring[:, 1])
        polygons.append(shapely.polygons(np.c_[e, n]))
    return np.asarray(polygons, dtype=object)


def _empty_matches() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in MATCH_COLUMNS})


def relate(
    targets: pd.DataFrame,
    placed: pd.DataFrame,
    *,
    as_of: pd.Timestamp,
    params: DisruptionParams,
) -> pd.DataFrame:
    """The ``near`` and ``displacement`` relations of targets and placed disruptions.

    ``targets``: ``rank``, ``h3`` (the analysis cells) and, for
    displacement, ``recent`` and ``before``. ``placed``: located disruptions
    with a point. ``as_of``: the patrol week's start. Returns
    :data:`MATCH_COLUMNS`, by rank, then most recent first.
    """
    if targets.empty or placed.empty:
        return _empty_matches()
    cells = targets["h3"].to_numpy(dtype=np.int64)
    res = int(cells_resolution(cells[:1])[0])
    x, y = latlng_to_metric(placed["lat"].to_numpy(np.float64), placed["lng"].to_numpy(np.float64))
    dist = shapely.distance(_cells_bng(cells)[:, None], shapely.points(x, y)[None, :])
    point_cells = cells_to_parent(placed["h3"].to_numpy(dtype=np.int64), res)
    inside = point_cells[None, :] == cells[:, None]
    dist = np.where(inside, 0.0, dist)
    near = dist <= params.near_m
    if {"recent", "before"} <= set(targets.columns):
        rose = targets["recent"].to_numpy(np.float64) > targets["before"].to_numpy(np.float64)
    else:
        rose = np.zeros(len(targets), dtype=bool)
    at = placed["disrupted_at"]
    since = as_of - pd.Timedelta(weeks=params.displacement_weeks)
    lately = ((at >= since) & (at < as_of)).to_numpy()
    displaced = ~inside & (dist <= params.displacement_m) & lately[None, :] & rose[:, None]
    frames = []
    for relation, mask in (("near", near), ("displacement", displaced)):
        t, d = np.nonzero(mask)
        if t.size == 0:
            continue
        rows = placed.iloc[d]
        frames.append(
            pd.DataFrame(
                {
                    "rank": targets["rank"].to_numpy()[t],
                    "h3": cells[t],
                    "relation": relation,
                    "disruption_id": rows["disruption_id"].to_numpy(),
                    "disrupted_at": rows["disrupted_at"].to_numpy(),
                    "tactic": rows["tactic"].to_numpy(),
                    "venue_name": rows["venue_name"].to_numpy(),
                    "public": rows["public"].to_numpy(),
                    "venue_public": rows["venue_public"].to_numpy(),
                    "distance_m": np.round(dist[t, d]),
                }
            )
        )
    if not frames:
        return _empty_matches()
    out = pd.concat(frames, ignore_index=True)
    out["disrupted_at"] = pd.to_datetime(out["disrupted_at"], utc=True)
    return out.sort_values(
        ["rank", "relation", "disrupted_at", "distance_m", "disruption_id"],
        ascending=[True, True, False, True, True],
        kind="stable",
    ).reset_index(drop=True)


def analyse_disruptions(
    disruptions: pd.DataFrame,
    venues: pd.DataFrame | None,
    targets: pd.DataFrame,
    *,
    area_cells: np.ndarray,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    as_of: pd.Timestamp,
    params: DisruptionParams | None = None,
) -> DisruptionAnalysis:
    """The disruptions dated in ``[window_start, window_end)`` and their relations to targets.

    ``area_cells``: the analysis cells of the pack's area. A disruption is
    drawn when it has a place and lies in those cells or is related to a
    target (a target near the area's edge may be noted with one just
    outside). Only drawn disruptions are related, so every note names a
    disruption on the map.
    """
    params = params or DisruptionParams()
    located = locate(disruptions, venues)
    at = located["disrupted_at"]
    located = located.loc[((at >= window_start) & (at < window_end)).to_numpy()]
    placed_mask = (located["lat"].notna() & located["lng"].notna()).to_numpy()
    left_off = int((~placed_mask).sum())
    placed = located.loc[placed_mask].sort_values(
        ["disrupted_at", "disruption_id"], ascending=[False, True], kind="stable"
    )
    placed = placed.reset_index(drop=True)
    matches = relate(targets, placed, as_of=as_of, params=params)
    cells = np.asarray(area_cells, dtype=np.int64)
    if len(placed) and cells.size:
        res = int(cells_resolution(cells[:1])[0])
        own = cells_to_parent(placed["h3"].to_numpy(dtype=np.int64), res)
        keep = np.isin(own, cells) | placed["disruption_id"].isin(matches["disruption_id"])
        placed = placed.loc[np.asarray(keep)].reset_index(drop=True)
    return DisruptionAnalysis(placed, left_off, matches, window_start, window_end, params)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _at(name: object) -> str:
    return f" at {name}" if isinstance(name, str) and name.strip() else ""


def near_notes(matches: pd.DataFrame) -> dict[int, str]:
    """Each target's note of the disruptions at or near it, by rank, most recent first.

    ``closure order at Moonlight Hotel since 17 Mar 2026; patrol on 3 Mar
    2026; and 4 earlier``. ``matches``: ``near`` relations whose
    ``venue_name`` is already what the note's reader may see (missing: no name).
    """
    out: dict[int, str] = {}
    near = matches.loc[matches["relation"] == "near"] if len(matches) else matches
    for _, group in near.groupby("rank", sort=True):
        group = group.sort_values(["disrupted_at", "distance_m"], ascending=[False, True])
        phrases = _dedupe(
            [
                f"{tactic_text(t)}{_at(name)} "
                f"{'since' if str(t) in LASTING_TACTICS else 'on'} {uk_day(when)}"
                for t, name, when in zip(
                    group["tactic"], group["venue_name"], group["disrupted_at"], strict=True
                )
            ]
        )
        text = "; ".join(phrases[:MAX_LISTED])
        if len(phrases) > MAX_LISTED:
            text += f"; and {len(phrases) - MAX_LISTED} earlier"
        out[int(group["rank"].iloc[0])] = text
    return out


def displacement_notes(matches: pd.DataFrame, params: DisruptionParams) -> dict[int, str]:
    """Each flagged target's displacement note, by rank: the most recent disruption behind it.

    ``possible displacement from closure order D-0001 at Moonlight Hotel on
    17 Mar 2026 (250 m away)``, and how many more disruptions qualify.
    """
    out: dict[int, str] = {}
    flagged = matches.loc[matches["relation"] == "displacement"] if len(matches) else matches
    for _, group in flagged.groupby("rank", sort=True):
        group = group.sort_values(["disrupted_at", "distance_m"], ascending=[False, True])
        first = group.iloc[0]
        text = (
            f"possible displacement from {tactic_text(first['tactic'])} "
            f"{first['disruption_id']}{_at(first['venue_name'])} on "
            f"{uk_day(first['disrupted_at'])} ({int(first['distance_m'])} m away)"
        )
        more = len(group) - 1
        if more:
            text += (
                f"; {more} more disruption{'s' if more != 1 else ''} within "
                f"{params.displacement_m:g} m in the {params.displacement_weeks} weeks before"
            )
        out[int(group["rank"].iloc[0])] = text
    return out
