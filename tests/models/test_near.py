"""The nearest named place to each target, against a brute-force distance matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geo.errors import ValidationError
from geo.gazetteer import places_xy
from models.near import DEFAULT_NEAR_M, add_near, nearest

TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def test_nearest_name_matches_brute_force_over_projected_points() -> None:
    rng = np.random.default_rng(11)
    # 400 places and 60 targets over central Blackburn, in WGS84.
    plat = rng.uniform(53.735, 53.760, 400)
    plng = rng.uniform(-2.50, -2.46, 400)
    places = pd.DataFrame(
        {"code": [f"p{i}" for i in range(400)], "name": [f"Place {i}" for i in range(400)]}
    )
    places["lat"], places["lng"] = plat, plng
    tlat = rng.uniform(53.735, 53.760, 60)
    tlng = rng.uniform(-2.50, -2.46, 60)
    tx, ty = TO_BNG.transform(tlng, tlat)
    targets = pd.DataFrame({"rank": np.arange(1, 61), "x": tx, "y": ty})

    got = add_near(targets, places_xy(places), max_m=DEFAULT_NEAR_M)

    px, py = TO_BNG.transform(plng, plat)
    d = np.hypot(np.subtract.outer(np.asarray(tx), px), np.subtract.outer(np.asarray(ty), py))
    best = d.argmin(axis=1)
    best_d = d[np.arange(60), best]
    within = best_d <= 150
    assert 5 < within.sum() < 60  # both outcomes are exercised
    want_names = np.where(within, places["name"].to_numpy()[best], None)
    assert got["near"].tolist() == want_names.tolist()
    want_m = pd.array(np.where(within, np.rint(best_d), np.nan), dtype="Int64")
    assert got["near_m"].tolist() == list(want_m)
    assert got["rank"].tolist() == targets["rank"].tolist()  # nothing else changed


def test_the_cutoff_is_inclusive_at_max_m() -> None:
    targets = pd.DataFrame({"x": [0.0, 1000.0, 5000.0], "y": [0.0, 0.0, 0.0]})
    places = pd.DataFrame({"name": ["On The Edge", "Just Beyond"], "x": [150.0, 1150.01], "y": 0.0})
    got = add_near(targets, places, max_m=150)
    assert got["near"].tolist() == ["On The Edge", None, None]
    assert got["near_m"].tolist() == [150, pd.NA, pd.NA]
    wider = add_near(targets, places, max_m=151)
    assert wider["near"].tolist() == ["On The Edge", "Just Beyond", None]
    assert wider["near_m"].tolist() == [150, 150, pd.NA]


def test_nearest_wins_whatever_the_name_and_ties_go_to_the_first_place() -> None:
    targets = pd.DataFrame({"x": [0.0, 100.0], "y": [0.0, 0.0]})
    places = pd.DataFrame(
        {
            "name": ["Supermarket", "Mill Street", "Second Equal", "First Equal"],
            "x": [3.0, 4.0, 100.0, 100.0],
            "y": [0.0, 0.0, 30.0, -30.0],
        }
    )
    got = add_near(targets, places)
    assert got["near"].tolist() == ["Supermarket", "Second Equal"]
    assert got["near_m"].tolist() == [3, 30]
    reordered = add_near(targets, places.iloc[[0, 1, 3, 2]].reset_index(drop=True))
    assert reordered["near"].tolist() == ["Supermarket", "First Equal"]


def test_no_places_or_no_point_names_nothing() -> None:
    targets = pd.DataFrame({"x": [0.0, np.nan], "y": [0.0, 1.0]})
    empty = pd.DataFrame({"name": pd.Series(dtype=object), "x": [], "y": []})
    got = add_near(targets, empty)
    assert got["near"].tolist() == [None, None]
    assert got["near_m"].isna().all()
    idx, dist = nearest([np.nan], [0.0], [0.0], [0.0], max_m=100)
    assert idx.tolist() == [-1] and np.isnan(dist[0])


@pytest.mark.parametrize("bad", [0, -5, float("nan"), 1e9])
def test_a_bad_distance_is_refused(bad: float) -> None:
    targets = pd.DataFrame({"x": [0.0], "y": [0.0]})
    places = pd.DataFrame({"name": ["A"], "x": [1.0], "y": [1.0]})
    with pytest.raises(ValidationError, match="near_m"):
        add_near(targets, places, max_m=bad)


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValidationError, match="`places` lacks column"):
        add_near(pd.DataFrame({"x": [0.0], "y": [0.0]}), pd.DataFrame({"x": [1.0], "y": [1.0]}))
