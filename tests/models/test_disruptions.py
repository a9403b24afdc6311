"""Disruptions beside the weekly analysis: their places, the targets they touch, the notes.

Places are built in metres from a target cell's centre in British National
Grid, so each distance to the cell's edge is known to lie on one side of the
rule: a res-9 hexagon's edge is between 150 m and 200 m from its centre.
"""

from __future__ import annotations

import h3.api.numpy_int as h3i
import numpy as np
import pandas as pd
import pytest

from geo.calendar import uk_day
from geo.crs import bng_to_latlng, latlng_to_bng
from geo.errors import ValidationError
from models.disruptions import (
    DisruptionParams,
    analyse_disruptions,
    displacement_notes,
    locate,
    near_notes,
    relate,
    tactic_text,
)

AS_OF = pd.Timestamp("2026-04-05 23:00", tz="UTC")  # Monday 6 April 2026, 00:00 UK time
WINDOW_START = AS_OF - pd.Timedelta(weeks=52)
WINDOW_END = AS_OF + pd.Timedelta(weeks=1)
CELL = int(h3i.latlng_to_cell(53.7480, -2.4840, 9))
FAR_CELL = int(h3i.latlng_to_cell(53.7100, -2.4400, 9))


def _east_of(cell: int, metres: float) -> tuple[float, float]:
    """The point ``metres`` east of a cell's centre (lat, lng)."""
    lat, lng = h3i.cell_to_latlng(cell)
    e, n = latlng_to_bng([lat], [lng])
    la, ln = bng_to_latlng(e + metres, n)
    return float(la[0]), float(ln[0])


def _disruption(
    ident: str,
    *,
    at: str,
    metres: float | None = 20.0,
    cell: int = CELL,
    tactic: str = "closure_order",
    venue_id: str | None = None,
    public: bool | None = None,
    note: str | None = "premises checked",
) -> dict[str, object]:
    lat, lng = _east_of(cell, metres) if metres is not None else (np.nan, np.nan)
    return {
        "disruption_id": ident,
        "venue_id": venue_id,
        "disrupted_at": pd.Timestamp(at, tz="UTC"),
        "lat": lat,
        "lng": lng,
        "tactic": tactic,
        "note": note,
        "public": public,
    }


def _frame(*rows: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    frame["public"] = frame["public"].astype("boolean")
    return frame


def _targets(*, recent: int = 8, before: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": [1, 2],
            "h3": np.array([CELL, FAR_CELL], dtype=np.int64),
            "recent": [recent, 1],
            "before": [before, 1],
        }
    )


VENUES = pd.DataFrame(
    {
        "venue_id": ["V-1", "V-2"],
        "name": ["Open Market Cafe", "Mill Lane Snooker"],
        "venue_type": ["takeaway", "other"],
        "lat": [_east_of(CELL, 30.0)[0], _east_of(CELL, 500.0)[0]],
        "lng": [_east_of(CELL, 30.0)[1], _east_of(CELL, 500.0)[1]],
        "public": pd.array([True, False], dtype="boolean"),
    }
)


def test_uk_day_reads_the_uk_calendar_day() -> None:
    assert uk_day(pd.Timestamp("2026-03-17 10:00", tz="UTC")) == "17 Mar 2026"
    # 23:30 UTC on 31 March is 00:30 on 1 April in British Summer Time.
    assert uk_day(pd.Timestamp("2026-03-31 23:30", tz="UTC")) == "1 Apr 2026"
    assert uk_day(None) == "-"


def test_tactics_read_as_words() -> None:
    assert tactic_text("closure_order") == "closure order"
    assert tactic_text("cawn") == "CAWN"
    assert tactic_text("makesafe_visit") == "Makesafe visit"


def test_a_disruption_takes_its_venues_point_and_name_unless_it_has_its_own() -> None:
    rows = _frame(
        _disruption("D-1", at="2026-03-17", metres=None, venue_id="V-1"),
        _disruption("D-2", at="2026-03-18", metres=250.0, venue_id="V-2"),
        _disruption("D-3", at="2026-03-19", metres=None),
    )
    out = locate(rows, VENUES).set_index("disruption_id")
    assert out.loc["D-1", "lat"] == pytest.approx(VENUES.loc[0, "lat"])
    assert out.loc["D-1", "venue_name"] == "Open Market Cafe"
    assert bool(out.loc["D-1", "venue_public"]) is True
    assert out.loc["D-2", "lat"] == pytest.approx(_east_of(CELL, 250.0)[0])
    assert out.loc["D-2", "venue_name"] == "Mill Lane Snooker"
    assert bool(out.loc["D-2", "venue_public"]) is False
    assert np.isnan(out.loc["D-3", "lat"]) and out.loc["D-3", "venue_name"] is None
    assert pd.isna(out.loc["D-3", "h3"])
    assert int(h3i.cell_to_parent(int(out.loc["D-1", "h3"]), 9)) == CELL


def test_near_means_in_the_cell_or_within_150_m_of_its_edge() -> None:
    placed = locate(
        _frame(
            _disruption("IN", at="2026-03-17", metres=20.0),
            _disruption("EDGE", at="2026-03-10", metres=290.0),  # edge at most 200 m away
            _disruption("OUT", at="2026-03-03", metres=380.0),  # edge at least 180 m away
        ),
        None,
    )
    matches = relate(_targets(), placed, as_of=AS_OF, params=DisruptionParams())
    near = matches.loc[matches["relation"] == "near"]
    assert near["disruption_id"].tolist() == ["IN", "EDGE"]
    assert near["rank"].tolist() == [1, 1]
    assert near.loc[near["disruption_id"] == "IN", "distance_m"].item() == 0
    assert 0 < near.loc[near["disruption_id"] == "EDGE", "distance_m"].item() <= 150


def test_near_notes_read_most_recent_first_with_since_or_on() -> None:
    placed = locate(
        _frame(
            _disruption("D-1", at="2026-03-17", venue_id="V-1", metres=None),
            _disruption("D-2", at="2026-03-24", tactic="patrol"),
            _disruption("D-3", at="2026-02-02", tactic="cawn"),
        ),
        VENUES,
    )
    notes = near_notes(relate(_targets(), placed, as_of=AS_OF, params=DisruptionParams()))
    assert notes == {
        1: "patrol on 24 Mar 2026; closure order at Open Market Cafe since 17 Mar 2026; "
        "CAWN since 2 Feb 2026"
    }


def test_a_long_list_says_how_many_more() -> None:
    rows = [_disruption(f"D-{i}", at=f"2026-03-{10 + i:02d}", tactic="patrol") for i in range(5)]
    notes = near_notes(
        relate(_targets(), locate(_frame(*rows), None), as_of=AS_OF, params=DisruptionParams())
    )
    assert notes[1] == (
        "patrol on 14 Mar 2026; patrol on 13 Mar 2026; patrol on 12 Mar 2026; and 2 earlier"
    )


def _flags(recent: int, before: int, *rows: dict[str, object]) -> dict[int, str]:
    params = DisruptionParams()
    matches = relate(
        _targets(recent=recent, before=before),
        locate(_frame(*rows), VENUES),
        as_of=AS_OF,
        params=params,
    )
    return displacement_notes(matches, params)


def test_a_rise_beside_a_recent_disruption_is_flagged() -> None:
    # 500 m east of the centre: outside the cell, its edge at most 350 m away.
    flags = _flags(8, 2, _disruption("D-9", at="2026-03-17", metres=None, venue_id="V-2"))
    assert flags == {
        1: "possible displacement from closure order D-9 at Mill Lane Snooker on 17 Mar 2026 "
        f"({_metres(flags[1])} m away)"
    }
    assert 300 <= int(_metres(flags[1])) <= 350


def _metres(text: str) -> str:
    return text.rsplit("(", 1)[1].split(" ")[0]


def test_no_flag_without_a_rise_or_a_recent_nearby_disruption_outside_the_cell() -> None:
    recent = _disruption("D-9", at="2026-03-17", metres=500.0)
    assert _flags(2, 8, recent) == {}  # falling
    assert _flags(3, 3, recent) == {}  # steady
    assert _flags(8, 2, _disruption("OLD", at="2025-12-29", metres=500.0)) == {}  # 14 weeks
    assert _flags(8, 2, _disruption("FAR", at="2026-03-17", metres=900.0)) == {}  # > 400 m
    assert _flags(8, 2, _disruption("OWN", at="2026-03-17", metres=20.0)) == {}  # its own cell
    after = _disruption("AFTER", at="2026-04-07", metres=500.0)  # in the patrol week
    assert _flags(8, 2, after) == {}


def test_several_qualifying_disruptions_name_the_latest_and_count_the_rest() -> None:
    flags = _flags(
        8,
        2,
        _disruption("D-1", at="2026-02-17", metres=450.0, tactic="patrol"),
        _disruption("D-2", at="2026-03-03", metres=480.0, tactic="cawn"),
    )
    assert flags[1].startswith("possible displacement from CAWN D-2 on 3 Mar 2026 (")
    assert flags[1].endswith("; 1 more disruption within 400 m in the 12 weeks before")


def test_the_analysis_keeps_the_window_counts_what_has_no_place_and_keeps_to_the_area() -> None:
    rows = _frame(
        _disruption("IN", at="2026-03-17", metres=20.0),
        _disruption("WEEK", at="2026-04-08", metres=20.0, tactic="patrol"),  # patrol week
        _disruption("BEFORE", at="2025-03-01", metres=20.0),  # before the window
        _disruption("LATER", at="2026-04-20", metres=20.0),  # after the patrol week
        _disruption("NOWHERE", at="2026-03-01", metres=None),  # no point, no venue
        _disruption("NOWHERE-OLD", at="2025-01-01", metres=None),  # and out of the window
        _disruption("AWAY", at="2026-03-01", metres=20.0, cell=FAR_CELL),
        _disruption("OUTSIDE", at="2026-03-01", metres=3000.0),  # not in the area's cells
    )
    area = np.array([CELL, *h3i.grid_disk(CELL, 1)], dtype=np.int64)
    found = analyse_disruptions(
        rows,
        VENUES,
        _targets(),
        area_cells=np.unique(area),
        window_start=WINDOW_START,
        window_end=WINDOW_END,
        as_of=AS_OF,
    )
    # "AWAY" is outside the area but in target 2's cell, so it is drawn with its note.
    assert found.drawn["disruption_id"].tolist() == ["WEEK", "IN", "AWAY"]
    assert found.left_off == 1
    notes = near_notes(found.matches)
    assert notes[1] == "patrol on 8 Apr 2026; closure order since 17 Mar 2026"
    assert notes[2] == "closure order since 1 Mar 2026"


def test_parameters_are_checked() -> None:
    with pytest.raises(ValidationError, match="near_m"):
        DisruptionParams(near_m=-1.0)
    with pytest.raises(ValidationError, match="displacement_weeks"):
        DisruptionParams(displacement_weeks=0)
