"""Row checks, one problem at a time, against hand-worked expectations."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from geo.checks import (
    PointColumns,
    Problems,
    ReasonTally,
    SeenKeys,
    check_bool,
    check_enum,
    check_timestamp,
    parse_point,
    parse_timestamps,
    split_grading,
    stable_hash,
)
from geo.studyarea import StudyArea

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _cells(*values: str) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def test_timestamps_are_uk_local_unless_an_offset_is_given() -> None:
    ts, bad, future, precision, _ = parse_timestamps(
        _cells(
            "2025-07-01T21:30",  # BST: 20:30 UTC
            "2025-01-15 21:30",  # GMT: 21:30 UTC
            "14/03/2025 21:30",  # day-first UK
            "2025-07-01T21:30+00:00",
            "2022-10",
            "",
            "not a date",
            "2027-01-01",
            "31/02/2025",
        ),
        now=NOW,
    )
    assert ts.iloc[0] == pd.Timestamp("2025-07-01 20:30", tz="UTC")
    assert ts.iloc[1] == pd.Timestamp("2025-01-15 21:30", tz="UTC")
    assert ts.iloc[2] == pd.Timestamp("2025-03-14 21:30", tz="UTC")
    assert ts.iloc[3] == pd.Timestamp("2025-07-01 21:30", tz="UTC")
    assert ts.iloc[4] == pd.Timestamp("2022-09-30 23:00", tz="UTC")  # 1 Oct 00:00 BST
    assert pd.isna(ts.iloc[5])
    assert bad.tolist() == [False] * 6 + [True, False, True]
    assert future.tolist() == [False] * 7 + [True, False]
    assert precision.tolist() == [
        "exact",
        "exact",
        "exact",
        "exact",
        "month",
        None,
        "day",
        "day",
        "day",
    ]


def test_the_repeated_hour_when_clocks_go_back_is_read_as_bst() -> None:
    ts, bad, _, _, missing = parse_timestamps(_cells("2025-10-26T01:30"), now=NOW)
    assert not bad[0] and not missing[0]
    assert ts.iloc[0] == pd.Timestamp("2025-10-26 00:30", tz="UTC")


def test_the_hour_skipped_when_clocks_go_forward_is_named_not_moved() -> None:
    # UK clocks went from 01:00 GMT to 02:00 BST on 30 March 2025: 01:30 never happened.
    cells = _cells("2025-03-30T00:59", "2025-03-30T01:30", "30/03/2025 01:00", "2025-03-30T02:00")
    ts, bad, _, _, missing = parse_timestamps(cells, now=NOW)
    assert missing.tolist() == [False, True, True, False]
    assert not bad.any()
    assert ts.iloc[0] == pd.Timestamp("2025-03-30 00:59", tz="UTC")
    assert pd.isna(ts.iloc[1]) and pd.isna(ts.iloc[2])
    assert ts.iloc[3] == pd.Timestamp("2025-03-30 01:00", tz="UTC")
    problems = Problems()
    frame = pd.DataFrame({"when": cells})
    check_timestamp(frame, "when", np.arange(2, 6), problems, required=True, now=NOW)
    q = problems.frame("f")
    assert q["row"].tolist() == [3, 4]
    assert q["value"].tolist() == ["2025-03-30T01:30", "30/03/2025 01:00"]
    assert (q["reason"].str.contains("does not exist in UK time")).all()


DAY_FIRST = [
    ("14/03/2025", "2025-03-14 00:00", "day"),
    ("14-03-2025", "2025-03-14 00:00", "day"),
    ("14.03.2025", "2025-03-14 00:00", "day"),
    ("14/03/2025 21:30", "2025-03-14 21:30", "exact"),
    ("14-03-2025 21:30", "2025-03-14 21:30", "exact"),
    ("14.03.2025 21:30", "2025-03-14 21:30", "exact"),
    ("14/03/2025 21:30:15", "2025-03-14 21:30:15", "exact"),
    ("14-03-2025 21:30:15", "2025-03-14 21:30:15", "exact"),
    ("14.03.2025 21:30:15", "2025-03-14 21:30:15", "exact"),
    ("01-07-2025", "2025-06-30 23:00", "day"),  # 1 July, midnight BST
    ("01-07-2025 21:30", "2025-07-01 20:30", "exact"),
]


@pytest.mark.parametrize(("text", "utc", "precision"), DAY_FIRST)
@pytest.mark.parametrize("among", [False, True])
def test_day_first_dates_with_and_without_a_time(
    text: str, utc: str, precision: str, among: bool
) -> None:
    # Alone, and among ISO dates (each form parsed the same way whatever its neighbours).
    cells = _cells("2025-03-14T21:30", text, "2025-03-14") if among else _cells(text)
    ts, bad, _, got, missing = parse_timestamps(cells, now=NOW)
    i = 1 if among else 0
    assert not bad.any() and not missing.any(), (text, bad, missing)
    assert ts.iloc[i] == pd.Timestamp(utc, tz="UTC")
    assert got[i] == precision


def _point(lat: list[str], lng: list[str], **kw: object) -> tuple[np.ndarray, Problems]:
    frame = pd.DataFrame({"lat": lat, "lng": lng})
    problems = Problems()
    rows = np.arange(2, 2 + len(frame))
    _, _, good = parse_point(
        frame,
        PointColumns.find("", list(frame.columns)),
        rows,
        problems,
        required=True,
        study_area=StudyArea(),
        **kw,  # type: ignore[arg-type]
    )
    return good, problems


def test_each_coordinate_problem_has_its_own_reason() -> None:
    good, problems = _point(
        ["53.748", "", "abc", "0", "-2.482", "428200", "51.5", "53.748"],
        ["-2.482", "", "-2.4", "0", "53.748", "368400", "-0.12", ""],
    )
    assert good.tolist() == [True] + [False] * 7
    q = problems.frame("f.csv")
    by_row = q.groupby("row")["reason"].first()
    assert "missing coordinates" in by_row[3]
    assert "not a number" in by_row[4]
    assert "placeholder" in by_row[5]
    assert "swapped" in by_row[6]
    assert "British National Grid" in by_row[7]
    assert "outside the study area" in by_row[8]  # London
    assert "longitude is missing" in by_row[9]


def test_bng_columns_are_converted() -> None:
    frame = pd.DataFrame({"easting": ["368400"], "northing": ["428200"]})
    problems = Problems()
    lat, lng, good = parse_point(
        frame,
        PointColumns.find("", ["easting", "northing"]),
        np.array([2]),
        problems,
        required=True,
        study_area=StudyArea(),
    )
    assert good.tolist() == [True]
    assert 53.74 < lat[0] < 53.76 and -2.49 < lng[0] < -2.47


def test_enums_forgive_case_and_synonyms_but_name_unknowns() -> None:
    frame = pd.DataFrame({"t": ["Care Home", "HOME", "", "castle", "carehome"]})
    problems = Problems()
    values = check_enum(
        frame,
        "t",
        np.arange(2, 7),
        problems,
        allowed=("home", "care_home", "unknown"),
        default="unknown",
        synonyms={"carehome": "care_home"},
    )
    assert values.tolist() == ["care_home", "home", "unknown", "unknown", "care_home"]
    q = problems.frame("f")
    assert q["row"].tolist() == [5]
    assert "expected one of home, care_home, unknown" in q["reason"].iloc[0]


def test_bools() -> None:
    frame = pd.DataFrame({"b": ["yes", "N", "", "maybe", "1"]})
    problems = Problems()
    out = check_bool(frame, "b", np.arange(2, 7), problems)
    assert out.tolist()[:2] == [True, False]
    assert pd.isna(out.iloc[2])
    assert out.iloc[4]
    assert problems.frame("f")["row"].tolist() == [5]


def test_gradings_split() -> None:
    parts = split_grading(_cells("1AP", "2/b/c", "3-E-P", "4AP", ""))
    assert parts.iloc[0].tolist() == ["1", "A", "P"]
    assert parts.iloc[1].tolist() == ["2", "B", "C"]
    assert parts.iloc[2].tolist() == ["3", "E", "P"]
    assert parts.iloc[3].tolist() == ["", "", ""]


def test_stable_hash_is_fnv1a() -> None:
    # Published FNV-1a 64-bit test vectors.
    h = stable_hash(_cells("", "a", "foobar"))
    assert h.tolist() == [0xCBF29CE484222325, 0xAF63DC4C8601EC8C, 0x85944171F73967E8]
    # Independent of the other strings in the batch (padding never leaks in).
    assert stable_hash(_cells("a", "a much longer string"))[0] == h[1]


def test_seen_keys_across_chunks() -> None:
    seen = SeenKeys()
    dup, first = seen.check(_cells("a", "b", "a"), np.array([2, 3, 4]))
    assert dup.tolist() == [False, False, True]
    assert first.tolist() == [2, 3, 2]
    dup, first = seen.check(_cells("c", "b", "c"), np.array([5, 6, 7]))
    assert dup.tolist() == [False, True, True]
    assert first.tolist() == [5, 3, 5]
    assert len(seen) == 3


@pytest.mark.parametrize("n", [1, 1000])
def test_problems_frame_is_sorted_by_row(n: int) -> None:
    p = Problems()
    rows = np.arange(2, 2 + n)
    p.add(np.ones(n, dtype=bool), rows, "x", "v", "r1")
    p.add(np.ones(n, dtype=bool), rows, "y", "v", "r2")
    q = p.frame("f")
    assert len(q) == 2 * n
    assert q["row"].is_monotonic_increasing
    assert p.bad_mask(n).all()


def test_reason_tally_counts_each_row_once_per_reason_over_many_reasons() -> None:
    """70 reasons (more than one 64-bit word) over three chunks, against plain sets."""
    rng = np.random.default_rng(5)
    tally = ReasonTally()
    truth: dict[int, set[str]] = {}
    for chunk in range(3):
        rows = np.arange(2 + 50 * chunk, 2 + 50 * (chunk + 1))
        p = Problems()
        for k in range(70):
            mask = rng.random(50) < 0.05
            p.add(mask, rows, "c", "v", f"reason {k}")
            if k == 3:  # the same reason in a second column of the same rows
                p.add(mask, rows, "d", "v", f"reason {k}")
            for r in rows[mask].tolist():
                truth.setdefault(r, set()).add(f"reason {k}")
        detail = np.array([f"first at row {r - 1}" for r in rows], dtype=object)
        dup = np.zeros(50, dtype=bool)
        dup[::7] = True
        p.add(dup, rows, "id", "v", detail, summary="duplicate id")
        for r in rows[dup].tolist():
            truth.setdefault(r, set()).add("duplicate id")
        tally.add(p)
    want_sets: dict[frozenset[str], int] = {}
    for reasons in truth.values():
        want_sets[frozenset(reasons)] = want_sets.get(frozenset(reasons), 0) + 1
    assert {frozenset(k): n for k, n in tally.sets().items()} == want_sets
    assert sum(tally.sets().values()) == len(truth)
    per = {r: sum(r in s for s in truth.values()) for r in {r for s in truth.values() for r in s}}
    assert tally.counts() == dict(sorted(per.items(), key=lambda kv: (-kv[1], kv[0])))
    assert list(tally.counts().values()) == sorted(per.values(), reverse=True)


def test_a_per_row_reason_needs_a_summary() -> None:
    rows = np.array([2, 3])
    with pytest.raises(TypeError, match="`summary`"):
        Problems().add(np.ones(2, dtype=bool), rows, "id", "v", np.array(["a", "b"], dtype=object))
