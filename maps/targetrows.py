"""The fields each target shows, read once from the ranked targets frame.

The web map's popups and tooltips and the pack's key and target tables show
the same explanation columns of the same targets. :func:`target_rows` turns
the frame into those fields, as plain text: a missing column or value is
``-`` and child counts are suppressed for partners. Each output escapes the
text for its own markup (HTML on the map, reportlab's paragraph markup in the
pack) and lays the fields out its own way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from maps.audience import OutputMeta, text_or_dash

TARGET_COLUMNS = ("rank", "h3", "lat", "lng")
"""Columns every targets frame needs; the explanation columns are optional."""


@dataclass(frozen=True)
class TargetRow:
    """One target's fields as shown, unescaped.

    Free text (``ward``, ``grid_ref``, ``patrol_window``, ``nearest_venue``,
    ``why``) is stripped, ``-`` when missing. Counts (``episodes``,
    ``children``, ``found``, ``venue_reports``) are as
    :meth:`OutputMeta.count_text` gives them: ``<5`` for partners' small child
    counts, ``-`` when missing, text that was sent as text kept as it is.
    ``visit_order`` is the target's place in the suggested route.
    ``disruption`` notes the disruptions at or near the target and
    ``displacement`` flags a possible displacement (analysts' views only);
    both ``-`` when there is none. ``near`` is where to find the target on
    the street, ``on or near Whalley Range, 40 m`` (:func:`near_text`), ``-``
    when no named place is close enough.
    """

    rank: int
    visit_order: str
    ward: str
    grid_ref: str
    patrol_window: str
    episodes: str
    children: str
    found: str
    venue_reports: str
    nearest_venue: str
    why: str
    disruption: str = "-"
    displacement: str = "-"
    near: str = "-"


def near_text(name: Any, metres: Any) -> str:
    """``on or near <name>, <metres> m``; ``-`` without a name (no distance: the name alone)."""
    place = text_or_dash(name)
    if place == "-":
        return "-"
    if metres is None or metres is pd.NA or pd.isna(metres):
        return f"on or near {place}"
    return f"on or near {place}, {round(float(metres))} m"


def target_rows(targets: pd.DataFrame, info: OutputMeta) -> list[TargetRow]:
    """The fields of each target, in the frame's order (``rank`` is required).

    Parameters
    ----------
    targets
        Ranked targets with any of ``ward_name``, ``grid_ref``, ``episodes``,
        ``children``, ``found``, ``venue_reports``, ``patrol_window``,
        ``nearest_venue``, ``why``, ``disruption``, ``displacement``, ``near``
        and ``near_m``; a missing column shows ``-``.
    info
        The checked ``meta``: its audience decides which counts are suppressed.
    """

    def col(name: str) -> list[Any]:
        return targets[name].tolist() if name in targets.columns else [None] * len(targets)

    return [
        TargetRow(
            rank=int(rank),
            visit_order=text_or_dash(visit),
            ward=text_or_dash(ward),
            grid_ref=text_or_dash(grid),
            patrol_window=text_or_dash(window),
            episodes=info.count_text(episodes),
            children=info.count_text(children),
            found=info.count_text(found),
            venue_reports=info.count_text(venue_reports),
            nearest_venue=text_or_dash(venue),
            why=text_or_dash(why),
            disruption=text_or_dash(disruption),
            displacement=text_or_dash(displacement),
            near=near_text(near, near_m),
        )
        for (
            rank,
            visit,
            ward,
            grid,
            window,
            episodes,
            children,
            found,
            venue_reports,
            venue,
            why,
            disruption,
            displacement,
            near,
            near_m,
        ) in zip(
            targets["rank"].tolist(),
            col("visit_order"),
            col("ward_name"),
            col("grid_ref"),
            col("patrol_window"),
            col("episodes"),
            col("children"),
            col("found"),
            col("venue_reports"),
            col("nearest_venue"),
            col("why"),
            col("disruption"),
            col("displacement"),
            col("near"),
            col("near_m"),
            strict=True,
        )
    ]
