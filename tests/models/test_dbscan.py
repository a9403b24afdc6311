"""DBSCAN against scikit-learn and brute force: cores, partition, noise, border rule, hulls."""

from __future__ import annotations

import logging

import h3
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

import models.dbscan as mod
from geo.crs import bng_to_latlng
from geo.errors import ValidationError
from geo.h3index import cells_to_parent, latlng_to_cells
from models.dbscan import cluster_hulls, dbscan, dbscan_hotspots, suggest_eps

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Integer coordinates and eps = 25 m: (15, 20), (7, 24) and (0, 25) steps are exactly
# eps long and exact in float64, so the `<= eps` boundary is exercised.
EPS = 25.0
ORIGIN = np.array([360_000.0, 425_000.0])  # somewhere in Lancashire, BNG metres
EXACT_STEPS = np.array([[15, 20], [-20, 15], [7, 24], [24, -7], [0, 25], [-25, 0]], dtype=float)


def clustered(seed: int, n: int = 1500) -> tuple[FloatArray, FloatArray]:
    """Blobs plus uniform noise in BNG-sized metres, with duplicates and exact-eps pairs."""
    rng = np.random.default_rng(seed)
    n_blobs = int(rng.integers(4, 9))
    centres = rng.uniform(0, 2000, (n_blobs, 2)) + ORIGIN
    sd = rng.uniform(8, 40, n_blobs)
    which = rng.integers(0, n_blobs, int(n * 0.7))
    blob = centres[which] + rng.normal(size=(which.size, 2)) * sd[which, None]
    noise = rng.uniform(0, 2000, (n - which.size, 2)) + ORIGIN
    xy = np.round(np.vstack([blob, noise]))
    dups = xy[rng.integers(0, len(xy), n // 10)]
    base = xy[rng.integers(0, len(xy), n // 10)]
    exact = base + EXACT_STEPS[rng.integers(0, len(EXACT_STEPS), base.shape[0])]
    xy = np.vstack([xy, dups, exact])
    xy = xy[rng.permutation(len(xy))].astype(np.float64)
    return xy[:, 0], xy[:, 1]


def sklearn_fit(
    x: FloatArray, y: FloatArray, eps: float, ms: int, w: FloatArray | None = None
) -> tuple[IntArray, BoolArray]:
    """scikit-learn's labels and core mask (KD-tree: `auto` picks it for 2-D data)."""
    fit = DBSCAN(eps=eps, min_samples=ms, algorithm="kd_tree").fit(np.c_[x, y], sample_weight=w)
    core = np.zeros(x.size, dtype=bool)
    core[fit.core_sample_indices_] = True
    return fit.labels_.astype(np.int64), core


def same_partition(a: IntArray, b: IntArray) -> bool:
    """Whether two labelings split the points into the same groups (ids may differ)."""
    pairs = np.unique(np.c_[a, b], axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def brute_border(
    x: FloatArray, y: FloatArray, core: BoolArray, label: IntArray, eps: float
) -> IntArray:
    """Expected label of every non-core point: nearest core, ties to the lowest id."""
    ci = np.flatnonzero(core)
    qi = np.flatnonzero(~core)
    dx = x[qi, None] - x[None, ci]
    dy = y[qi, None] - y[None, ci]
    d2 = dx * dx + dy * dy
    best = d2.min(axis=1, initial=np.inf)
    tied = (d2 == best[:, None]) & (d2 <= eps * eps)
    big = np.iinfo(np.int64).max
    lab = np.where(tied, label[ci][None, :], big).min(axis=1, initial=big)
    return np.where(tied.any(axis=1), lab, -1)


def check_against_references(
    x: FloatArray,
    y: FloatArray,
    eps: float,
    ms: int,
    w: FloatArray | None = None,
    *,
    border: bool = True,
) -> pd.DataFrame:
    """Assert every agreement the module promises; return our result.

    ``border=False`` leaves out the quadratic brute-force border check.
    """
    ours = dbscan(x, y, eps_m=eps, min_samples=ms, weights=w)
    lab = ours["cluster"].to_numpy()
    core = ours["core"].to_numpy()
    sk_lab, sk_core = sklearn_fit(x, y, eps, ms, w)
    np.testing.assert_array_equal(core, sk_core)
    assert same_partition(lab[core], sk_lab[core])
    np.testing.assert_array_equal(lab < 0, sk_lab < 0)
    if border:
        np.testing.assert_array_equal(lab[~core], brute_border(x, y, core, lab, eps))
    if core.any():  # ids are 0..c-1, in the order of each cluster's smallest (x, y) core point
        first = (
            pd.DataFrame({"c": lab[core], "x": x[core], "y": y[core]})
            .sort_values(["x", "y"])
            .drop_duplicates("c")["c"]
            .to_numpy()
        )
        np.testing.assert_array_equal(first, np.arange(lab.max() + 1))
    return ours


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("ms", [4, 12])
def test_matches_sklearn_and_border_rule(seed: int, ms: int) -> None:
    x, y = clustered(seed)
    ours = check_against_references(x, y, EPS, ms)
    assert 1 < ours["cluster"].max() + 1 < x.size // 4  # several clusters: not a trivial case
    assert ((ours["cluster"] >= 0) & ~ours["core"]).any()  # border points exist


def test_matches_sklearn_on_larger_data_and_many_settings() -> None:
    x, y = clustered(12, n=20_000)
    for eps, ms in [(10.0, 3), (EPS, 5), (EPS, 40), (60.0, 8)]:
        check_against_references(x, y, eps, ms, border=False)


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_matches_sklearn_with_sample_weight(seed: int) -> None:
    x, y = clustered(seed)
    rng = np.random.default_rng(seed)
    w = (
        rng.integers(0, 5, x.size).astype(np.float64) * 0.5
    )  # dyadic, so sums are exact; zeros included
    ours = check_against_references(x, y, EPS, 6, w)
    unweighted = dbscan(x, y, eps_m=EPS, min_samples=6)
    assert (ours["core"] != unweighted["core"]).any()  # the weights really matter here


def test_small_pair_budget_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = clustered(7, n=800)
    expected = dbscan(x, y, eps_m=EPS, min_samples=5)
    monkeypatch.setattr(mod, "PAIR_BUDGET", 7)  # forces every chunking and splitting path
    got = check_against_references(x, y, EPS, 5)
    pd.testing.assert_frame_equal(got, expected)


def test_input_order_does_not_change_the_result() -> None:
    x, y = clustered(8)
    rng = np.random.default_rng(8)
    w = rng.integers(1, 3, x.size).astype(float)
    base = dbscan(x, y, eps_m=EPS, min_samples=7, weights=w)
    for _ in range(3):
        p = rng.permutation(x.size)
        again = dbscan(x[p], y[p], eps_m=EPS, min_samples=7, weights=w[p])
        np.testing.assert_array_equal(again["cluster"].to_numpy(), base["cluster"].to_numpy()[p])
        np.testing.assert_array_equal(again["core"].to_numpy(), base["core"].to_numpy()[p])


def _arms(arms: list[tuple[float, float]], border: tuple[float, float]) -> pd.DataFrame:
    """Clusters whose core points sit at `arms`, each with 4 points 1 m further out."""
    rows = []
    for ax, ay in arms:
        norm = np.hypot(ax - border[0], ay - border[1])
        ux, uy = (ax - border[0]) / norm, (ay - border[1]) / norm
        rows += [(ax, ay)] + [(ax + ux, ay + uy)] * 4
    rows.append(border)
    return pd.DataFrame(rows, columns=["x", "y"])


def test_tie_goes_to_the_lowest_cluster_id() -> None:
    # Four clusters whose core points are each exactly 5 m from the border point
    # at (100, 100); the cluster of (95, 100) holds the smallest core point, so id 0.
    arms = [(100.0, 105.0), (105.0, 100.0), (100.0, 95.0), (95.0, 100.0)]
    pts = _arms(arms, (100.0, 100.0))
    out = check_against_references(pts["x"].to_numpy(), pts["y"].to_numpy(), 5.0, 6)
    assert out["cluster"].max() == 3
    assert not out["core"].iloc[-1]
    assert out["cluster"].iloc[-1] == 0
    assert out["cluster"].iloc[15] == 0  # the (95, 100) core, listed last
    # two clusters only, the lower id listed second: still id 0 wins
    pts = _arms([(110.0, 100.0), (90.0, 100.0)], (100.0, 100.0))
    out = check_against_references(pts["x"].to_numpy(), pts["y"].to_numpy(), 10.0, 6)
    assert list(out["cluster"]) == [1] * 5 + [0] * 5 + [0]


def test_nearest_core_beats_lower_cluster_id() -> None:
    # the border point is 4.75 m from cluster 0's core and 4.25 m from cluster 1's
    pts = _arms([(0.0, 0.0), (9.0, 0.0)], (4.75, 0.0))
    out = check_against_references(pts["x"].to_numpy(), pts["y"].to_numpy(), 5.0, 6)
    assert not out["core"].iloc[-1]
    assert out["cluster"].iloc[0] == 0
    assert out["cluster"].iloc[-1] == 1


@settings(max_examples=300, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 3)),
        min_size=1,
        max_size=40,
    ),
    eps=st.integers(1, 10),
    ms=st.integers(1, 7),
    weighted=st.booleans(),
)
@example(pts=[(0, 0, 0), (3, 4, 0)], eps=5, ms=1, weighted=True)
def test_property_matches_sklearn(
    pts: list[tuple[int, int, int]], eps: int, ms: int, weighted: bool
) -> None:
    arr = np.array(pts, dtype=float)
    w = arr[:, 2] if weighted else None
    if w is not None and not w.any():  # scikit-learn refuses all-zero weights; nothing is core
        out = dbscan(arr[:, 0], arr[:, 1], eps_m=float(eps), min_samples=ms, weights=w)
        assert (out["cluster"] == -1).all()
        assert not out["core"].any()
        return
    check_against_references(arr[:, 0], arr[:, 1], float(eps), ms, w)


def test_frame_shape_index_and_empty_input() -> None:
    x = pd.Series([0.0, 1.0, 2.0, 50.0], index=[10, 11, 12, 13])
    y = pd.Series([0.0, 0.0, 0.0, 0.0], index=[10, 11, 12, 13])
    out = dbscan(x, y, eps_m=1.0, min_samples=2)
    assert list(out.index) == [10, 11, 12, 13]
    assert out["cluster"].dtype == np.int64
    assert out["core"].dtype == bool
    assert list(out["cluster"]) == [0, 0, 0, -1]
    empty = dbscan([], [], eps_m=1.0, min_samples=2)
    assert empty.shape == (0, 2)
    assert list(empty.columns) == ["cluster", "core"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps_m": -5}, r"`eps_m` must be > 0, got -5\. Pass a distance in metres\."),
        ({"eps_m": 0.0}, r"`eps_m` must be > 0, got 0\.0"),
        ({"eps_m": float("nan")}, r"`eps_m` must be finite, got nan"),
        ({"eps_m": "10"}, r"`eps_m` must be a number of metres"),
        ({"min_samples": 0}, r"`min_samples` must be a whole number >= 1, got 0"),
        ({"min_samples": 2.5}, r"`min_samples` must be a whole number >= 1, got 2\.5"),
        ({"min_samples": True}, r"`min_samples` must be a whole number >= 1, got True"),
        ({"weights": [1.0, -1.0, 1.0]}, r"`weights` must be finite and >= 0, got -1\.0 at"),
        ({"weights": [1.0, 1.0]}, r"`weights` must have one value per point, got 2 for 3"),
        ({"y": [0.0, 1.0]}, r"`x` and `y` must have the same length, got 3 and 2"),
        ({"x": [0.0, np.nan, 1.0]}, r"`x` and `y` must be finite; 1 points .* position 1"),
        ({"eps_m": 1e-12}, r"`eps_m` = 1e-12 is too small for coordinates"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "x": [360_000.0, 360_001.0, 360_002.0],
        "y": [425_000.0, 425_000.0, 425_000.0],
        "eps_m": 5.0,
        "min_samples": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        dbscan(args.pop("x"), args.pop("y"), **args)  # type: ignore[arg-type]


def test_hulls_cover_points_and_areas_agree_with_shapely() -> None:
    x, y = clustered(9)
    lab = dbscan(x, y, eps_m=EPS, min_samples=5)["cluster"].to_numpy()
    hulls = cluster_hulls(x, y, lab)
    ids = np.unique(lab[lab >= 0])
    np.testing.assert_array_equal(hulls["cluster"].to_numpy(), ids)
    np.testing.assert_array_equal(hulls["n_points"].to_numpy(), np.bincount(lab[lab >= 0]))
    geoms = hulls["geometry"].to_numpy()
    assert (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON).all()
    idx = np.searchsorted(ids, lab[lab >= 0])
    assert shapely.covers(geoms[idx], shapely.points(x[lab >= 0], y[lab >= 0])).all()
    for c, geom, area in zip(ids, geoms, hulls["area_m2"], strict=True):
        pts = np.c_[x[lab == c], y[lab == c]]
        expected = shapely.MultiPoint(pts).convex_hull
        if expected.geom_type == "Polygon":
            assert geom.equals(expected)
            np.testing.assert_allclose(area, expected.area, rtol=1e-12)
    concave = cluster_hulls(x, y, lab, kind="concave")
    cgeoms = concave["geometry"].to_numpy()
    assert shapely.covers(cgeoms[idx], shapely.points(x[lab >= 0], y[lab >= 0])).all()
    assert (concave["area_m2"].to_numpy() <= hulls["area_m2"].to_numpy() * (1 + 1e-9)).all()
    assert (concave["area_m2"].to_numpy() < hulls["area_m2"].to_numpy()).any()


def test_degenerate_hulls_are_buffered_polygons() -> None:
    x = np.array([0.0, 100.0, 100.0, 200.0, 201.0, 202.0, 500.0, 600.0])
    y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0])
    lab = np.array([0, 1, 1, 2, 2, 2, -1, 3])
    hulls = cluster_hulls(x, y, lab)
    assert list(hulls["cluster"]) == [0, 1, 2, 3]
    assert list(hulls["n_points"]) == [1, 2, 3, 1]
    geoms = hulls["geometry"].to_numpy()
    assert (shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON).all()
    disc = np.pi * mod.HULL_BUFFER_M**2
    np.testing.assert_allclose(hulls["area_m2"].to_numpy()[[0, 1, 3]], disc, rtol=0.02)
    line = np.hypot(2.0, 2.0) * 2 * mod.HULL_BUFFER_M + disc  # collinear: a buffered segment
    np.testing.assert_allclose(hulls["area_m2"].iloc[2], line, rtol=0.02)
    keep = lab >= 0
    assert shapely.covers(geoms[lab[keep]], shapely.points(x[keep], y[keep])).all()
    with pytest.raises(ValidationError, match=r"`kind` must be 'convex' or 'concave'"):
        cluster_hulls(x, y, lab, kind="round")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"`cluster` must hold whole-number ids"):
        cluster_hulls(x, y, lab.astype(float))
    assert cluster_hulls(x, y, np.full(x.size, -1)).shape == (0, 4)


def knee_data(seed: int) -> tuple[FloatArray, FloatArray, int]:
    """1,600 points in 8 tight blobs (sd 15 m) and 400 spread over 5 km: a clear knee."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 5000, (8, 2))
    blob = centres[rng.integers(0, 8, 1600)] + rng.normal(0, 15, (1600, 2))
    noise = rng.uniform(0, 5000, (400, 2))
    xy = np.vstack([blob, noise]) + ORIGIN
    return xy[:, 0], xy[:, 1], 1600


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_suggest_eps_finds_the_knee(seed: int, caplog: pytest.LogCaptureFixture) -> None:
    x, y, n_blob = knee_data(seed)
    k = 5
    kdist = NearestNeighbors(n_neighbors=k).fit(np.c_[x, y]).kneighbors()[0][:, k - 2]
    # kneighbors() without X leaves each point out, so column k-2 is the k-th point
    # counting the point itself.
    with caplog.at_level(logging.INFO, logger="models.dbscan"):
        eps, meta = suggest_eps(x, y, k=k)
    # stated range: above 90% of the blob points' k-distances, below 95% of the noise's
    assert np.quantile(kdist[:n_blob], 0.9) <= eps <= np.quantile(kdist[n_blob:], 0.05)
    assert np.isclose(kdist, eps, rtol=1e-12).any()  # a value on the curve
    assert 0.7 <= meta["knee_quantile"] <= 0.85  # where blobs (80%) give way to noise
    assert meta["k"] == k
    assert meta["units"] == "m"
    assert "Kneedle" in meta["rule"]
    np.testing.assert_allclose(meta["curve_quantiles"][0.5], np.median(kdist), rtol=1e-12)
    np.testing.assert_allclose(meta["curve_quantiles"][1.0], kdist.max(), rtol=1e-12)
    assert any("eps_m" in r.getMessage() and r.name == "models.dbscan" for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="models.dbscan"):
        assert suggest_eps(x, y, k=k, quiet=True)[0] == eps
    assert not caplog.records


def test_suggest_eps_leaves_out_stacked_points_and_checks_arguments() -> None:
    x, y, _ = knee_data(3)
    stacked_x = np.concatenate([x, np.repeat(x[:50], 10)])
    stacked_y = np.concatenate([y, np.repeat(y[:50], 10)])
    eps, meta = suggest_eps(stacked_x, stacked_y, k=5, quiet=True)
    assert eps > 0
    assert meta["n_zero"] == 50 * 11  # 50 spots with 11 events each: k-distance 0
    with pytest.raises(ValidationError, match=r"`k` must be a whole number >= 2, got 1"):
        suggest_eps(x, y, k=1)
    with pytest.raises(ValidationError, match=r"needs at least k = 5"):
        suggest_eps(x[:3], y[:3], k=5)
    with pytest.raises(ValidationError, match=r"Pass `eps_m`"):
        suggest_eps(np.zeros(10), np.zeros(10), k=5)


def _events_and_cells(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = clustered(seed, n=1000)
    lat, lng = bng_to_latlng(x, y)
    rng = np.random.default_rng(seed)
    events = pd.DataFrame(
        {
            "x": x,
            "y": y,
            "h3": latlng_to_cells(lat, lng, 12),
            "child_ref": rng.integers(0, 50, x.size).astype(str),
        }
    )
    used = np.unique(cells_to_parent(events["h3"].to_numpy(), 10))
    ring = {int(h3.str_to_int(c)) for u in used[:20] for c in h3.grid_disk(h3.int_to_str(u), 2)}
    all_cells = np.union1d(used, np.fromiter(ring, dtype=np.int64))
    cells = pd.DataFrame({"h3": all_cells, "ward": "E05000001"})
    return events, cells


def test_dbscan_hotspots_summarises_clusters_on_cells(caplog: pytest.LogCaptureFixture) -> None:
    events, cells = _events_and_cells(10)
    frame, meta = dbscan_hotspots(events, cells, eps_m=EPS, min_samples=5)
    labels = dbscan(events["x"], events["y"], eps_m=EPS, min_samples=5)["cluster"].to_numpy()
    parent = cells_to_parent(events["h3"].to_numpy(), 10)
    assert len(frame) == len(cells)
    assert set(frame["h3"]) == set(cells["h3"])
    assert (frame["ward"] == "E05000001").all()
    assert (frame["n"] == 0).any()  # empty cells are kept
    got = frame.set_index("h3")
    expected_n = pd.Series(parent).value_counts()
    pd.testing.assert_series_equal(
        got.loc[expected_n.index, "n"], expected_n, check_names=False, check_index=False
    )
    assert got["n_clustered"].sum() == (labels >= 0).sum()
    np.testing.assert_array_equal(got["score"].to_numpy(), got["n_clustered"].to_numpy())
    sizes = np.bincount(labels[labels >= 0])
    got_cluster, got_size = got["cluster"], got["cluster_size"]
    for cell, grp in pd.DataFrame({"h3": parent, "c": labels}).groupby("h3"):
        counts = grp.loc[grp["c"] >= 0, "c"].value_counts()
        want = -1 if counts.empty else int(counts[counts == counts.max()].index.min())
        assert got_cluster[cell] == want
        assert got_size[cell] == (0 if want < 0 else sizes[want])
    ordered = frame.sort_values(["score", "h3"], ascending=[False, True]).reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, ordered)
    assert meta["eps_m"] == EPS
    assert meta["eps_rule"] == "given by the caller"
    assert meta["n_clusters"] == labels.max() + 1
    assert meta["n_noise"] == (labels < 0).sum()
    assert len(meta["hulls"]) == meta["n_clusters"]
    assert meta["n_events_outside_cells"] == 0
    # eps suggested and announced when not given
    with caplog.at_level(logging.INFO, logger="models.dbscan"):
        _, meta2 = dbscan_hotspots(events, cells, min_samples=5)
    eps2, _ = suggest_eps(events["x"], events["y"], k=5, quiet=True)
    assert meta2["eps_m"] == eps2
    assert "Kneedle" in meta2["eps_rule"]
    assert any("eps_m" in r.getMessage() for r in caplog.records)


def test_dbscan_hotspots_weights_score_and_bad_frames() -> None:
    events, cells = _events_and_cells(11)
    events["weight"] = np.random.default_rng(11).integers(0, 4, len(events)) * 0.5
    frame, meta = dbscan_hotspots(events, cells, eps_m=EPS, min_samples=4, quiet=True)
    labels = dbscan(events["x"], events["y"], eps_m=EPS, min_samples=4, weights=events["weight"])[
        "cluster"
    ].to_numpy()
    parent = cells_to_parent(events["h3"].to_numpy(), 10)
    w = events["weight"].to_numpy()
    expected = pd.Series(np.where(labels >= 0, w, 0.0)).groupby(parent).sum()
    got = frame.set_index("h3")["score"]
    np.testing.assert_allclose(got.loc[expected.index].to_numpy(), expected.to_numpy())
    assert meta["weighted"]
    with pytest.raises(ValidationError, match=r"`events` is missing column\(s\) \['h3'\]"):
        dbscan_hotspots(events.drop(columns="h3"), cells, eps_m=EPS)
    mixed = pd.concat([cells, pd.DataFrame({"h3": [int(h3.str_to_int("8928308280fffff"))]})])
    with pytest.raises(ValidationError, match=r"`cells.h3` must all share one resolution"):
        dbscan_hotspots(events, mixed, eps_m=EPS)
    with pytest.raises(ValidationError, match=r"`eps_m` must be > 0, got -5"):
        dbscan_hotspots(events, cells, eps_m=-5)


def test_dbscan_hotspots_without_events_or_with_events_outside() -> None:
    events, cells = _events_and_cells(12)
    frame, meta = dbscan_hotspots(events.iloc[:0], cells, min_samples=5, quiet=True)
    assert len(frame) == len(cells)
    assert (frame[["n", "n_clustered", "cluster_size"]] == 0).all().all()
    assert (frame["cluster"] == -1).all()
    assert meta["eps_m"] is None
    assert meta["n_clusters"] == 0
    assert list(frame["h3"]) == sorted(cells["h3"])  # all scores 0: h3 ascending
    inner = cells.iloc[: len(cells) // 2]
    frame, meta = dbscan_hotspots(events, inner, eps_m=EPS, min_samples=5)
    parent = cells_to_parent(events["h3"].to_numpy(), 10)
    outside = int((~np.isin(parent, inner["h3"])).sum())
    assert outside > 0
    assert meta["n_events_outside_cells"] == outside
    assert frame["n"].sum() == len(events) - outside
    assert len(frame) == len(inner)


def test_a_labeller_that_loses_events_is_refused() -> None:
    from models.dbscan import dbscan_hotspots

    rng = np.random.default_rng(3)
    xy = rng.normal(0, 50, size=(40, 2)) + np.array([368_300.0, 428_100.0])
    from geo.crs import bng_to_latlng
    from geo.h3index import latlng_to_cells

    lat, lng = bng_to_latlng(xy[:, 0], xy[:, 1])
    h3 = latlng_to_cells(lat, lng, 12)
    events = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "h3": h3})
    from geo.h3index import cells_to_parent

    cells = pd.DataFrame({"h3": np.unique(cells_to_parent(h3, 9))})

    def short(ev: pd.DataFrame, eps: float, ms: int) -> pd.DataFrame:
        return pd.DataFrame({"cluster": np.zeros(len(ev) - 1, dtype=np.int64), "core": True})

    with pytest.raises(ValidationError, match="for each of the 40 events"):
        dbscan_hotspots(events, cells, eps_m=60.0, min_samples=3, labeller=short)

    def same(ev: pd.DataFrame, eps: float, ms: int) -> pd.DataFrame:
        return dbscan(ev["x"].to_numpy(), ev["y"].to_numpy(), eps_m=eps, min_samples=ms)

    a, meta_a = dbscan_hotspots(events, cells, eps_m=60.0, min_samples=3, labeller=same)
    b, meta_b = dbscan_hotspots(events, cells, eps_m=60.0, min_samples=3)
    pd.testing.assert_frame_equal(a, b)
    assert (meta_a["engine"], meta_b["engine"]) == ("external", "python")


def test_canonical_labels_restore_this_modules_ids_from_any_numbering() -> None:
    from models.dbscan import canonical_labels

    rng = np.random.default_rng(8)
    centres = rng.uniform(0, 2_000, size=(6, 2))
    xy = np.concatenate([c + rng.normal(0, 40, size=(60, 2)) for c in centres])
    xy = np.concatenate([xy, rng.uniform(0, 2_000, size=(80, 2))])
    w = rng.uniform(0.3, 1.5, len(xy))
    ref = dbscan(xy[:, 0], xy[:, 1], eps_m=45.0, min_samples=4, weights=w)
    core = ref["core"].to_numpy()
    cluster = ref["cluster"].to_numpy()
    assert ((cluster >= 0) & ~core).any() and (cluster < 0).any()
    # Another engine's ids: shuffled, sparse, and nothing for the non-core points.
    ids = np.unique(cluster[cluster >= 0])
    other = dict(zip(ids, rng.permutation(ids) * 7 + 3, strict=True))
    raw = np.array([other[c] if k else -5 for c, k in zip(cluster, core, strict=True)])
    got = canonical_labels(xy[:, 0], xy[:, 1], core, raw, 45.0)
    np.testing.assert_array_equal(got, cluster)
    with pytest.raises(ValidationError, match="cluster id >= 0"):
        canonical_labels(xy[:, 0], xy[:, 1], core, np.where(core, -1, 0), 45.0)
    with pytest.raises(ValidationError, match="one value per point"):
        canonical_labels(xy[:, 0], xy[:, 1], core[:-1], raw[:-1], 45.0)
