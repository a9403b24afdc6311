"""Target choice, ranking and explanations against hand-counted evidence."""

from __future__ import annotations

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import pytest

from geo.boundaries import find_ward, wards
from geo.errors import ValidationError
from geo.grid import area_cells
from models.targets import TargetParams, rank_targets

AS_OF = pd.Timestamp("2025-03-03", tz="UTC")  # a Monday


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    code, _ = find_ward("Blackburn Central")
    geom = wards().set_index("code").loc[code, "geometry"]
    return area_cells(geom, 9)


def _events(
    cell: int,
    n: int,
    *,
    layer: str = "found",
    children: int | None = None,
    place: str = "public",
    days_ago: float = 3.0,
    hour: int = 21,
) -> pd.DataFrame:
    child = h3i.cell_to_center_child(int(cell), 12)
    at = AS_OF - pd.Timedelta(days=days_ago) + pd.Timedelta(hours=hour - 24)
    kids = children or n
    return pd.DataFrame(
        {
            "layer": layer,
            "h3": np.full(n, child, dtype=np.int64),
            "at": pd.Series([at] * n),
            "child_ref": [f"c-{i % kids}" for i in range(n)],
            "episode_id": [f"E-{cell}-{layer}-{i}" for i in range(n)],
            "place_type": place,
            "source_evaluation": None,
            "intelligence_assessment": None,
            "weight": 1.0,
        }
    )


def _hotspots(
    cells: pd.DataFrame, scores: dict[int, float], counts: dict[int, int]
) -> pd.DataFrame:
    hs = cells.copy()
    hs["score"] = hs["h3"].map(scores).fillna(0.0)
    hs["n"] = hs["h3"].map(counts).fillna(0).astype(int)
    return hs


def test_ranking_separation_and_explanations(cells: pd.DataFrame) -> None:
    c = cells["h3"].to_numpy()
    a = int(c[0])
    neighbour = next(int(x) for x in h3i.grid_ring(a, 1) if int(x) in set(c.tolist()))
    far = max((int(x) for x in c), key=lambda x: h3i.grid_distance(a, x))
    events = pd.concat(
        [
            _events(a, 6, children=2),  # one child often, one once
            _events(a, 2, layer="last_seen", children=2),
            _events(neighbour, 3),
            _events(far, 4, days_ago=40),  # older: in the "before" period
        ],
        ignore_index=True,
    )
    hs = _hotspots(cells, {a: 10.0, neighbour: 9.0, far: 5.0}, {a: 8, neighbour: 3, far: 4})
    out = rank_targets(hs, events, as_of=AS_OF, params=TargetParams(top_n=5))
    # The neighbour of the top cell is passed over: the list names distinct places.
    assert out["h3"].tolist() == [a, far]
    top = out.iloc[0]
    assert (top["rank"], top["found"], top["last_seen"]) == (1, 6, 2)
    assert top["episodes"] == 8 and top["children"] == 2
    assert top["trend"] == "rising" and (top["recent"], top["before"]) == (8, 0)
    # Monday 3 Mar 2025 00:00 less 3 days and 3 hours: Thursday 27 Feb 21:00 GMT;
    # the earliest 4-hour window holding it starts at 18:00.
    assert top["patrol_window"] == "Thu 18:00-22:00"
    assert "8 episodes (2 children), 6 found here" in top["why"]
    assert out.iloc[1]["trend"] == "falling"
    assert sorted(out["visit_order"]) == [1, 2]


def test_homes_and_care_homes_never_become_targets(cells: pd.DataFrame) -> None:
    c = cells["h3"].to_numpy()
    home_cell, public_cell = int(c[0]), int(c[-1])
    events = pd.concat(
        [
            _events(home_cell, 20, place="home", children=1),
            _events(home_cell, 10, place="care_home", children=3),
            _events(public_cell, 2),
        ],
        ignore_index=True,
    )
    hs = _hotspots(cells, {home_cell: 100.0, public_cell: 1.0}, {home_cell: 30, public_cell: 2})
    out = rank_targets(hs, events, as_of=AS_OF, params=TargetParams(top_n=3, min_events=1))
    # The home cell leads the score it was given, but holds no evidence once
    # home and care-home events are dropped, so it is never chosen.
    assert out["h3"].tolist() == [public_cell]
    assert out["episodes"].tolist() == [2]


def test_venue_reports_and_nearest_venue(cells: pd.DataFrame) -> None:
    a = int(cells["h3"].iloc[3])
    reports = _events(a, 3, layer="venue_report")
    reports["source_evaluation"] = ["1", "1", "2"]
    reports["intelligence_assessment"] = ["A", "A", "B"]
    row = cells.set_index("h3").loc[a]
    venues = pd.DataFrame(
        {
            "venue_id": ["V1"],
            "name": ["Hotel 1"],
            "venue_type": ["hotel"],
            "x": [row["x"] + 30.0],
            "y": [row["y"] + 40.0],
        }
    )
    hs = _hotspots(cells, {a: 3.0}, {a: 3})
    out = rank_targets(hs, reports, as_of=AS_OF, venues=venues, params=TargetParams(top_n=1))
    t = out.iloc[0]
    assert t["venue_reports"] == 3
    assert t["reports_by_grading"] == "1A:2 2B:1"
    assert t["nearest_venue"] == "Hotel 1 (hotel)" and t["nearest_venue_m"] == 50
    assert "3 intelligence reports (1A:2 2B:1)" in t["why"]


def test_bad_input(cells: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="lacks columns"):
        rank_targets(cells, _events(int(cells["h3"].iloc[0]), 1), as_of=AS_OF)
    with pytest.raises(ValidationError, match="`top_n`"):
        TargetParams(top_n=0)


def test_a_peak_is_placed_on_the_evidence_beside_it(cells: pd.DataFrame) -> None:
    c = set(int(x) for x in cells["h3"])
    peak = next(int(x) for x in cells["h3"] if all(int(v) in c for v in h3i.grid_disk(int(x), 1)))
    ring = sorted(int(v) for v in h3i.grid_ring(peak, 1))
    events = pd.concat(
        [_events(peak, 1), _events(ring[0], 2), _events(ring[1], 5)], ignore_index=True
    )
    # The smooth surface peaks at `peak`, but most events lie in ring[1].
    hs = _hotspots(cells, {peak: 9.0, ring[0]: 8.0, ring[1]: 7.0}, {})
    placed = rank_targets(hs, events, as_of=AS_OF, params=TargetParams(top_n=1))
    assert placed["h3"].tolist() == [ring[1]]
    assert placed["found"].tolist() == [5]
    kept = rank_targets(hs, events, as_of=AS_OF, params=TargetParams(top_n=1, snap_k=0))
    assert kept["h3"].tolist() == [peak]


def test_a_window_needs_several_events(cells: pd.DataFrame) -> None:
    """One episode's time is no busiest window: the row says the evidence is too thin.
    Three events, two of them on Friday evening, name that window."""
    from models.targets import THIN_WINDOW, THIN_WINDOW_WHY

    a, b = (int(c) for c in cells["h3"].iloc[[0, len(cells) // 2]])
    events = pd.concat(
        [
            _events(a, 1, hour=21),
            _events(b, 2, hour=21, days_ago=3.0),
            _events(b, 1, hour=9, days_ago=5.0),
        ],
        ignore_index=True,
    )
    hs = _hotspots(cells, {a: 5.0, b: 4.0}, {a: 1, b: 3})
    out = rank_targets(hs, events, as_of=AS_OF, params=TargetParams(top_n=2)).set_index("h3")
    assert out.loc[a, "patrol_window"] == THIN_WINDOW
    assert np.isnan(out.loc[a, "window_share"])
    assert THIN_WINDOW_WHY in out.loc[a, "why"] and "busiest Thu" not in out.loc[a, "why"]
    # AS_OF is Monday 3 March; three days before, less three hours, is Thursday 21:00 (UTC = UK).
    assert out.loc[b, "patrol_window"].startswith("Thu ")
    assert "busiest Thu" in out.loc[b, "why"]
