"""Vectorised H3 against h3-py, the reference implementation."""

from __future__ import annotations

import h3.api.numpy_int as h3i
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import h3index
from geo.errors import ValidationError

RNG = np.random.default_rng(3)
LAT = RNG.uniform(53.6, 53.8, 500)
LNG = RNG.uniform(-2.6, -2.4, 500)


@pytest.mark.parametrize("res", [7, 9, 12, 15])
def test_latlng_to_cells_matches_h3py(res: int) -> None:
    cells = h3index.latlng_to_cells(LAT, LNG, res)
    expected = [h3i.latlng_to_cell(a, b, res) for a, b in zip(LAT, LNG, strict=True)]
    assert cells.dtype == np.int64
    assert cells.tolist() == [int(x) for x in expected]


@pytest.mark.parametrize("res", [0, 5, 8, 9, 11, 12])
def test_parent_matches_h3py(res: int) -> None:
    cells = h3index.latlng_to_cells(LAT, LNG, 12)
    parents = h3index.cells_to_parent(cells, res)
    assert parents.tolist() == [int(h3i.cell_to_parent(int(c), res)) for c in cells]
    assert (h3index.cells_resolution(parents) == res).all()


@settings(max_examples=40, deadline=None)
@given(
    lat=st.floats(min_value=-80, max_value=80),
    lng=st.floats(min_value=-179, max_value=179),
    res=st.integers(min_value=0, max_value=11),
)
def test_child_range_holds_exactly_the_children(lat: float, lng: float, res: int) -> None:
    own = h3index.latlng_to_cells([lat], [lng], 12)
    # H3 is not geometrically nested: take the res-12 cell's own ancestor.
    cell = h3index.cells_to_parent(own, res)
    lo, hi = h3index.cells_to_child_range(cell, 12)
    if res >= 9:  # enumerating children is cheap only near res 12
        children = np.array(h3i.cell_to_children(int(cell[0]), 12), dtype=np.int64)
        assert children.min() == lo[0]
        assert children.max() == hi[0]
    assert lo[0] <= own[0] <= hi[0]
    assert (h3index.cells_resolution(np.array([lo[0], hi[0]])) == 12).all()


def test_child_range_excludes_neighbours() -> None:
    cells = h3index.latlng_to_cells(LAT, LNG, 12)
    parent = h3index.cells_to_parent(cells[:1], 9)
    lo, hi = h3index.cells_to_child_range(parent, 12)
    inside = (cells >= lo[0]) & (cells <= hi[0])
    truly = h3index.cells_to_parent(cells, 9) == parent[0]
    assert (inside == truly).all()
    assert truly.sum() < len(cells)


def test_counts_are_conserved_when_rolling_up() -> None:
    cells = h3index.latlng_to_cells(LAT, LNG, 12)
    for res in (11, 9, 7):
        parents = h3index.cells_to_parent(cells, res)
        _, counts = np.unique(parents, return_counts=True)
        assert counts.sum() == cells.size


def test_centres_and_areas_match_h3py() -> None:
    cells = h3index.latlng_to_cells(LAT[:20], LNG[:20], 9)
    lat, lng = h3index.cells_to_latlng(cells)
    ref = np.array([h3i.cell_to_latlng(int(c)) for c in cells])
    np.testing.assert_allclose(lat, ref[:, 0], atol=1e-9)
    np.testing.assert_allclose(lng, ref[:, 1], atol=1e-9)
    area = h3index.cells_area_m2(cells)
    np.testing.assert_allclose(area, [h3i.cell_area(int(c), "m^2") for c in cells], rtol=1e-9)


def test_strings_round_trip() -> None:
    cells = h3index.latlng_to_cells(LAT[:5], LNG[:5], 12)
    text = h3index.cells_to_str_array(cells)
    assert [h3index.str_to_cell(t) for t in text] == cells.tolist()
    with pytest.raises(ValidationError, match="not a valid H3 cell"):
        h3index.str_to_cell("zzz")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValidationError, match="`res` must be a whole number from 0 to 15"):
        h3index.latlng_to_cells([53.7], [-2.4], 16)
    with pytest.raises(ValidationError, match="finite"):
        h3index.latlng_to_cells([np.nan], [-2.4], 9)
    cells = h3index.latlng_to_cells([53.7], [-2.4], 9)
    with pytest.raises(ValidationError, match="coarser"):
        h3index.cells_to_parent(cells, 10)
    assert h3index.cells_valid(np.array([cells[0], 12345])).tolist() == [True, False]


def test_threaded_indexing_gives_the_cells_of_one_thread_and_of_h3py() -> None:
    # Enough points for three threads; an odd count so the slices are uneven.
    n = 3 * h3index.MIN_POINTS_PER_THREAD + 7
    rng = np.random.default_rng(12)
    lat = 53.6 + rng.random(n) * 0.2
    lng = -2.6 + rng.random(n) * 0.3
    assert h3index.index_threads(n, 3) == 3
    assert h3index.index_threads(n, 1) == 1
    one = h3index.latlng_to_cells(lat, lng, 12, threads=1)
    three = h3index.latlng_to_cells(lat, lng, 12, threads=3)
    default = h3index.latlng_to_cells(lat, lng, 12)
    np.testing.assert_array_equal(three, one)
    np.testing.assert_array_equal(default, one)
    # Each slice boundary, and a sample, against h3-py's own function.
    cuts = np.linspace(0, n, 4).astype(int)
    picks = np.unique(np.concatenate([cuts[1:-1] - 1, cuts[1:-1], rng.integers(0, n, 200)]))
    expected = [int(h3i.latlng_to_cell(lat[i], lng[i], 12)) for i in picks]
    assert one[picks].tolist() == expected


def test_thread_count_is_checked_and_small_inputs_stay_on_one_thread() -> None:
    assert h3index.index_threads(h3index.MIN_POINTS_PER_THREAD - 1, 8) == 1
    assert h3index.index_threads(10 * h3index.MIN_POINTS_PER_THREAD, 2) == 2
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValidationError, match="threads"):
            h3index.index_threads(10, bad)  # type: ignore[arg-type]
