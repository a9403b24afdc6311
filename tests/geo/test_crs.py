"""CRS conversion and coordinate-problem detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo import crs

# Blackburn Town Hall, from the OS grid reference SD 6840 2820 (1 m precision
# below is just the reference's own corner) and an independent transform.
TOWN_HALL_E, TOWN_HALL_N = 368400.0, 428200.0


def test_bng_round_trip_matches_pyproj_directly() -> None:
    lat, lng = crs.bng_to_latlng([TOWN_HALL_E], [TOWN_HALL_N])
    ref = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    rlng, rlat = ref.transform(TOWN_HALL_E, TOWN_HALL_N)
    np.testing.assert_allclose(lat, [rlat], atol=1e-9)
    np.testing.assert_allclose(lng, [rlng], atol=1e-9)
    e, n = crs.latlng_to_bng(lat, lng)
    np.testing.assert_allclose(e, [TOWN_HALL_E], atol=1e-3)
    np.testing.assert_allclose(n, [TOWN_HALL_N], atol=1e-3)


@settings(max_examples=50, deadline=None)
@given(
    lat=st.floats(min_value=50.0, max_value=58.5),
    lng=st.floats(min_value=-5.5, max_value=1.5),
)
def test_round_trip_anywhere_in_gb(lat: float, lng: float) -> None:
    e, n = crs.latlng_to_bng([lat], [lng])
    lat2, lng2 = crs.bng_to_latlng(e, n)
    # 1e-7 degrees is about a centimetre.
    assert abs(lat2[0] - lat) < 1e-7
    assert abs(lng2[0] - lng) < 1e-7


def test_classify_latlng_names_each_problem() -> None:
    lat = np.array([53.75, -2.48, 0.0, 428200.0, np.nan, 40.4, 53.75, 368400.0])
    lng = np.array([-2.48, 53.75, 0.0, 368400.0, -2.48, -3.7, np.nan, 428200.0])
    codes = crs.classify_latlng(lat, lng)
    assert codes.tolist() == [
        crs.COORD_OK,
        crs.COORD_SWAPPED,
        crs.COORD_ZERO,
        crs.COORD_BNG_AS_LATLNG,
        crs.COORD_MISSING,
        crs.COORD_OUTSIDE_GB,  # Madrid
        crs.COORD_MISSING,
        crs.COORD_BNG_AS_LATLNG,
    ]


def test_classify_bng_spots_degrees_in_grid_columns() -> None:
    codes = crs.classify_bng([TOWN_HALL_E, -2.48, 0.0, -50.0], [TOWN_HALL_N, 53.75, 0.0, 10.0])
    assert codes.tolist() == [
        crs.COORD_OK,
        crs.COORD_BNG_AS_LATLNG,
        crs.COORD_ZERO,
        crs.COORD_OUTSIDE_GB,
    ]


@pytest.mark.parametrize(
    ("e", "n", "digits", "expected"),
    [
        # Published examples: Ben Nevis NN 16667 71255 (OS), Blackburn SD 684 282.
        (216667, 771255, 10, "NN 16667 71255"),
        (368400, 428200, 6, "SD 684 282"),
        (368449, 428299, 8, "SD 6844 2829"),
        (651409, 313177, 10, "TG 51409 13177"),
    ],
)
def test_grid_reference(e: float, n: float, digits: int, expected: str) -> None:
    assert crs.bng_to_grid_reference([e], [n], digits=digits)[0] == expected


def test_grid_reference_outside_grid_is_blank() -> None:
    assert crs.bng_to_grid_reference([-1.0], [5.0])[0] == ""
    with pytest.raises(ValueError, match="digits"):
        crs.bng_to_grid_reference([1.0], [1.0], digits=7)
