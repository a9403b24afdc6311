"""Hotspot frames: counts conserved, zeros kept, order fixed, methods pluggable."""

from __future__ import annotations

import math
import sys
import types
from typing import Any

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

import models.hotspots as hotspots_module
from geo.crs import bng_to_latlng, latlng_to_bng
from geo.errors import ValidationError
from geo.h3index import cells_area_m2, cells_to_latlng, latlng_to_cells
from models.hotspots import available_methods, hotspots, register_method
from models.weights import COUNT_COLUMNS

LAT0, LNG0 = 53.748, -2.482
AS_OF = pd.Timestamp("2024-06-03", tz="UTC")


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    """37 res-9 cells around Blackburn, with an extra column to pass through."""
    centre = h3.latlng_to_cell(LAT0, LNG0, 9)
    h = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, 3)), dtype=np.int64)
    lat, lng = cells_to_latlng(h)
    x, y = latlng_to_bng(lat, lng)
    return pd.DataFrame(
        {
            "h3": h,
            "x": x,
            "y": y,
            "lat": lat,
            "lng": lng,
            "area_m2": cells_area_m2(h),
            "ward": [f"W{i % 4}" for i in range(h.size)],
        }
    )


def _events_at(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    layer: str = "last_seen",
    child_ref: list[str | None] | None = None,
    episode_id: list[str | None] | None = None,
    at: pd.Timestamp = AS_OF,
) -> pd.DataFrame:
    xa = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ya = np.atleast_1d(np.asarray(y, dtype=np.float64))
    lat, lng = bng_to_latlng(xa, ya)
    n = xa.size
    return pd.DataFrame(
        {
            "layer": layer,
            "x": xa,
            "y": ya,
            "h3": latlng_to_cells(lat, lng, 12),
            "at": pd.Series([at] * n, dtype="datetime64[ns, UTC]"),
            "child_ref": child_ref if child_ref is not None else [None] * n,
            "episode_id": episode_id if episode_id is not None else [None] * n,
            "place_type": "public",
            "source_evaluation": None,
            "intelligence_assessment": None,
        }
    )


def _near(cells: pd.DataFrame, i: int, n: int, seed: int) -> tuple[npt.NDArray[Any], ...]:
    """``n`` points within 60 m of cell ``i``'s centre (well inside a res-9 cell)."""
    rng = np.random.default_rng(seed)
    r = 60 * np.sqrt(rng.uniform(0, 1, n))
    t = rng.uniform(0, 2 * math.pi, n)
    return cells["x"].iloc[i] + r * np.cos(t), cells["y"].iloc[i] + r * np.sin(t)


@pytest.fixture(scope="module")
def mixed(cells: pd.DataFrame) -> pd.DataFrame:
    """Events scattered over and beyond the cells, in every layer."""
    rng = np.random.default_rng(11)
    x0, y0 = cells["x"].mean(), cells["y"].mean()
    n = 500
    x = x0 + rng.normal(0, 700, n)
    y = y0 + rng.normal(0, 700, n)
    ev = _events_at(
        x,
        y,
        child_ref=[f"c{i % 40}" for i in range(n)],
        episode_id=[f"e{i % 300}" for i in range(n)],
    )
    ev["layer"] = rng.choice(["last_seen", "found", "incident"], n)
    return ev


# --- counts ---------------------------------------------------------------------------------


def test_counts_are_conserved(cells: pd.DataFrame, mixed: pd.DataFrame) -> None:
    frame, meta = hotspots(mixed, cells, method="count", quiet=True)
    # Independent reference: h3-py parent of every event, one by one.
    parents = [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), 9)) for c in mixed["h3"]]
    inside = np.isin(parents, cells["h3"].to_numpy())
    assert 0 < inside.sum() < len(mixed)  # some events fall outside the cells
    assert frame["n"].sum() == inside.sum()
    assert meta["n_events_in_cells"] == inside.sum()
    assert meta["n_events_outside_cells"] == len(mixed) - inside.sum()
    expected = pd.Series(parents)[inside].value_counts()
    got = frame.set_index("h3")["n"]
    assert (got.reindex(expected.index) == expected).all()
    layers = ("n_found", "n_last_seen", "n_reports", "n_incidents")
    assert (frame[list(layers)].sum(axis=1) == frame["n"]).all()


def test_distinct_children_versus_episodes(cells: pd.DataFrame) -> None:
    xa, ya = _near(cells, 3, 70, seed=1)
    one_child = _events_at(
        xa, ya, child_ref=["child-1"] * 70, episode_id=[f"e{i}" for i in range(70)]
    )
    xb, yb = _near(cells, 20, 10, seed=2)
    ten_children = _events_at(
        xb,
        yb,
        layer="found",
        child_ref=[f"k{i}" for i in range(10)],
        episode_id=[f"f{i}" for i in range(10)],
    )
    events = pd.concat([one_child, ten_children], ignore_index=True)
    frame, _ = hotspots(events, cells, method="count", quiet=True)
    by = frame.set_index("h3")
    a, b = cells["h3"].iloc[3], cells["h3"].iloc[20]
    assert (by.loc[a, "n"], by.loc[a, "n_episodes"], by.loc[a, "n_children"]) == (70, 70, 1)
    assert (by.loc[b, "n"], by.loc[b, "n_episodes"], by.loc[b, "n_children"]) == (10, 10, 10)
    assert (by.loc[a, "n_last_seen"], by.loc[b, "n_found"]) == (70, 10)


def test_zero_cells_are_included_and_cell_columns_pass_through(
    cells: pd.DataFrame,
) -> None:
    x, y = _near(cells, 5, 4, seed=3)
    frame, _ = hotspots(_events_at(x, y), cells, method="count", quiet=True)
    assert len(frame) == len(cells)
    assert set(frame["h3"]) == set(cells["h3"])
    assert list(frame.columns[: len(cells.columns)]) == list(cells.columns)
    merged = frame.merge(cells, on="h3", suffixes=("", "_in"))
    for c in ("x", "y", "lat", "lng", "area_m2", "ward"):
        assert (merged[c] == merged[f"{c}_in"]).all()
    empty = frame.loc[frame["h3"] != cells["h3"].iloc[5]]
    assert (empty[list(COUNT_COLUMNS)] == 0).all().all()
    assert frame["n"].dtype == np.int64


# --- ordering and method columns ---------------------------------------------------------------


def test_order_is_score_then_h3_and_deterministic(cells: pd.DataFrame, mixed: pd.DataFrame) -> None:
    for method in ("count", "kde"):
        opts: dict[str, Any] = {"bandwidth_m": 400.0} if method == "kde" else {}
        frame, _ = hotspots(mixed, cells, method=method, quiet=True, **opts)
        s = frame["score"].to_numpy()
        assert (np.diff(s) <= 0).all()
        ties = frame.groupby("score")["h3"].apply(lambda h: h.is_monotonic_increasing)
        assert ties.all()
        shuffled, _ = hotspots(
            mixed.sample(frac=1.0, random_state=4),
            cells.sample(frac=1.0, random_state=5),
            method=method,
            quiet=True,
            **opts,
        )
        pd.testing.assert_frame_equal(shuffled, frame, check_exact=False, rtol=1e-9)
    # With only four events, count has many zero ties: they run by h3.
    x, y = _near(cells, 0, 4, seed=6)
    frame, _ = hotspots(_events_at(x, y), cells, method="count", quiet=True)
    zeros = frame.loc[frame["score"] == 0, "h3"]
    assert len(zeros) == len(cells) - 1 and zeros.is_monotonic_increasing


def test_kde_columns_match_brute_force(cells: pd.DataFrame, mixed: pd.DataFrame) -> None:
    h = 350.0
    frame, meta = hotspots(mixed, cells, method="kde", bandwidth_m=h, quiet=True)
    assert {"density_per_km2", "score"} <= set(frame.columns)
    assert (frame["score"] == frame["density_per_km2"]).all()
    assert meta["bandwidth_m"] == h and meta["kernel"] == "quartic"
    assert meta["density_unit"] == "weighted events per km^2"
    # Exact quartic KDE per km2 at the cell centres, over every event (outside ones too).
    dx = frame["x"].to_numpy()[:, None] - mixed["x"].to_numpy()[None, :]
    dy = frame["y"].to_numpy()[:, None] - mixed["y"].to_numpy()[None, :]
    u = np.clip(1 - (dx * dx + dy * dy) / (h * h), 0, None)
    exact = (3 / (math.pi * h * h) * u * u).sum(axis=1) * 1e6
    assert np.abs(frame["density_per_km2"] - exact).sum() / exact.sum() < 0.01


def test_events_outside_the_cells_add_density_but_not_counts(cells: pd.DataFrame) -> None:
    # One event 250 m beyond the outermost cell centre (outside every cell).
    edge = cells.iloc[int(np.argmax(cells["x"]))]
    ev = _events_at([edge["x"] + 250.0], [edge["y"]])
    frame, meta = hotspots(ev, cells, method="kde", bandwidth_m=400.0, quiet=True)
    assert meta["n_events_outside_cells"] == 1
    assert frame["n"].sum() == 0
    row = frame.set_index("h3").loc[edge["h3"]]
    c = 3 / (math.pi * 400.0**2)
    assert row["density_per_km2"] == pytest.approx(c * (1 - (250 / 400) ** 2) ** 2 * 1e6)


def test_count_score_is_the_weighted_count(cells: pd.DataFrame) -> None:
    x, y = _near(cells, 8, 2, seed=7)
    ev = _events_at(x, y)
    ev["layer"] = ["last_seen", "found"]
    ev["at"] = [AS_OF, AS_OF - pd.Timedelta(days=28)]
    frame, meta = hotspots(ev, cells, method="count", weights_as_of=AS_OF, quiet=True)
    row = frame.iloc[0]
    assert row["h3"] == cells["h3"].iloc[8]
    # Last seen today weighs 1; found one half-life (28 days) ago weighs 1.5 * 0.5.
    assert row["score"] == pytest.approx(1.0 + 0.75)
    assert row["weighted"] == row["score"]
    assert meta["weights"]["half_life_days"] == 28.0 and meta["score_unit"] == "weighted events"


def test_default_bandwidth_is_reported(cells: pd.DataFrame, mixed: pd.DataFrame) -> None:
    _, meta = hotspots(mixed, cells, quiet=True)
    assert meta["method"] == "kde"
    assert meta["bandwidth_m"] > 0 and "Silverman" in meta["bandwidth_rule"]
    assert meta["bin_res"] == "square" and meta["cells_res"] == 9
    assert meta["bin_side_m"] == pytest.approx(meta["bandwidth_m"] / 8)


# --- empty input and bad arguments ----------------------------------------------------------


def test_no_events_give_an_all_zero_frame(cells: pd.DataFrame) -> None:
    empty = _events_at([], [])
    for method in ("kde", "count"):
        frame, meta = hotspots(empty, cells, method=method, quiet=True)
        assert len(frame) == len(cells)
        assert (frame["score"] == 0).all() and (frame["n"] == 0).all()
        assert meta["n_events"] == 0
        assert frame["h3"].is_monotonic_increasing
    _, meta = hotspots(empty, cells, method="count", weights_as_of=AS_OF, quiet=True)
    assert meta["weights"]["as_of"] == AS_OF.isoformat()


def test_bandwidth_must_be_positive(cells: pd.DataFrame, mixed: pd.DataFrame) -> None:
    with pytest.raises(ValidationError) as err:
        hotspots(mixed, cells, bandwidth_m=-5)
    assert str(err.value) == "`bandwidth_m` must be > 0, got -5. Pass a distance in metres."


def test_bad_arguments_are_named(cells: pd.DataFrame, mixed: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"`method` must be one of .*'count'.*got 'kmeans'"):
        hotspots(mixed, cells, method="kmeans")
    with pytest.raises(ValidationError, match=r"`bandwidth_m` applies to method 'kde' only"):
        hotspots(mixed, cells, method="count", bandwidth_m=300)
    with pytest.raises(ValidationError, match=r"takes no options \['eps_m'\]"):
        hotspots(mixed, cells, method="count", eps_m=100)
    with pytest.raises(ValidationError, match=r"`weight_params` needs `weights_as_of`"):
        from models.weights import WeightParams

        hotspots(mixed, cells, method="count", weight_params=WeightParams())
    with pytest.raises(ValidationError, match=r"`events` lacks columns \['x'\]"):
        hotspots(mixed.drop(columns=["x"]), cells)
    with pytest.raises(ValidationError, match=r"`cells` mixes H3 resolutions \[8, 9\]"):
        mixed_res = cells.copy()
        mixed_res.loc[0, "h3"] = h3.str_to_int(
            h3.cell_to_parent(h3.int_to_str(int(cells["h3"][0])), 8)
        )
        hotspots(mixed, mixed_res)
    with pytest.raises(ValidationError, match=r"duplicated"):
        hotspots(mixed, pd.concat([cells, cells.iloc[:1]]))
    with pytest.raises(ValidationError, match=r"coarser \(res 8\)"):
        coarse = mixed.assign(
            h3=[h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), 8)) for c in mixed["h3"]]
        )
        hotspots(coarse, cells)
    with pytest.raises(ValidationError, match=r"already has output columns \['score'\]"):
        hotspots(mixed, cells.assign(score=1.0))


# --- plug-in methods -----------------------------------------------------------------------------


def test_registered_method_plugs_in(
    cells: pd.DataFrame, mixed: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hotspots_module, "_METHODS", dict(hotspots_module._METHODS))
    seen: dict[str, Any] = {}

    def by_children(
        events: pd.DataFrame, cells: pd.DataFrame, *, top: int, quiet: bool
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        seen.update(top=top, quiet=quiet, has_weight="weight" in events.columns)
        picked = cells["h3"].iloc[:top].to_numpy()
        return (
            pd.DataFrame({"h3": picked, "score": np.arange(top, 0, -1.0), "cluster": 7}),
            {"score": "made up", "score_unit": "points"},
        )

    register_method("made_up", by_children)
    assert "made_up" in available_methods() and "dbscan" in available_methods()
    with pytest.raises(ValidationError, match=r"already registered"):
        register_method("made_up", by_children)
    frame, meta = hotspots(mixed, cells, method="made_up", top=3, quiet=True)
    assert seen == {"top": 3, "quiet": True, "has_weight": True}
    assert len(frame) == len(cells) and frame["score"].iloc[:3].tolist() == [3.0, 2.0, 1.0]
    assert frame["h3"].iloc[:3].tolist() == cells["h3"].iloc[:3].tolist()
    assert (frame["score"].iloc[3:] == 0).all() and frame["cluster"].iloc[3:].isna().all()
    assert frame["n"].sum() == meta["n_events_in_cells"]
    assert meta["score_unit"] == "points"


def test_lazy_method_imports_when_first_asked(
    cells: pd.DataFrame, mixed: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hotspots_module, "_METHODS", dict(hotspots_module._METHODS))
    module = types.ModuleType("fake_dbscan_for_test")

    def fake(
        events: pd.DataFrame, cells: pd.DataFrame, *, eps_m: float, min_samples: int
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        return pd.DataFrame({"h3": cells["h3"], "score": eps_m * min_samples}), {"eps_m": eps_m}

    module.fake = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_dbscan_for_test", module)
    monkeypatch.setattr(
        hotspots_module,
        "_LAZY_METHODS",
        {"fake": ("fake_dbscan_for_test", "fake"), "gone": ("no_such_module_here", "f")},
    )
    frame, meta = hotspots(mixed, cells, method="fake", eps_m=2.0, min_samples=3)
    assert (frame["score"] == 6.0).all() and meta["eps_m"] == 2.0
    with pytest.raises(ValidationError, match=r"'gone' is not available"):
        hotspots(mixed, cells, method="gone")


def test_plug_in_frames_are_checked(
    cells: pd.DataFrame, mixed: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hotspots_module, "_METHODS", dict(hotspots_module._METHODS))
    register_method("stray", lambda e, c: (pd.DataFrame({"h3": [1], "score": [1.0]}), {}))
    with pytest.raises(ValidationError, match=r"scored 1 cells that are not in `cells`"):
        hotspots(mixed, cells, method="stray")
    register_method("bare", lambda e, c: (pd.DataFrame({"h3": c["h3"]}), {}))
    with pytest.raises(ValidationError, match=r"`h3` and `score` columns"):
        hotspots(mixed, cells, method="bare")


def test_built_in_methods_cannot_be_replaced() -> None:
    with pytest.raises(ValidationError, match=r"'kde' is built in"):
        register_method("kde", lambda e, c: (e, {}))
    assert available_methods()[:2] == ("kde", "count")
