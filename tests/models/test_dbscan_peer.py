"""``models.dbscan.dbscan`` against the ``dbscan`` package and scikit-learn.

The ``dbscan`` package (Wang, Gu and Shun 2020, an exact grid DBSCAN) is a
test dependency, so its comparisons run everywhere the suite runs, beside
the scikit-learn comparisons and the brute-force border check.
"""

from __future__ import annotations

import dbscan as dbscan_package
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

import models.dbscan as mod
from models.dbscan import dbscan
from tests.models.test_dbscan import (
    EPS,
    EXACT_STEPS,
    ORIGIN,
    check_against_references,
    clustered,
    same_partition,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def package_fit(x: FloatArray, y: FloatArray, eps: float, ms: int) -> tuple[IntArray, BoolArray]:
    """The ``dbscan`` package's labels and core mask (a test dependency)."""
    label, core = dbscan_package.DBSCAN(np.ascontiguousarray(np.c_[x, y]), eps=eps, min_samples=ms)
    return np.asarray(label, dtype=np.int64), np.asarray(core, dtype=bool)


def assert_same_as_package(x: FloatArray, y: FloatArray, eps: float, ms: int) -> pd.DataFrame:
    """Same core points, partition of them and noise as the package; our frame."""
    ours = dbscan(x, y, eps_m=eps, min_samples=ms)
    lab = ours["cluster"].to_numpy()
    core = ours["core"].to_numpy()
    pk_lab, pk_core = package_fit(x, y, eps, ms)
    np.testing.assert_array_equal(core, pk_core)
    assert same_partition(lab[core], pk_lab[core])
    np.testing.assert_array_equal(lab < 0, pk_lab < 0)
    return ours


def dense_clustered(seed: int, n: int) -> tuple[FloatArray, FloatArray]:
    """Tight blobs (cells far heavier than min_samples) with duplicates and exact-eps steps."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3000, (12, 2)) + ORIGIN
    which = rng.integers(0, 12, int(n * 0.8))
    blob = centres[which] + rng.normal(size=(which.size, 2)) * rng.uniform(20, 120, 12)[which, None]
    noise = rng.uniform(0, 3000, (n - which.size, 2)) + ORIGIN
    xy = np.round(np.vstack([blob, noise]), 1)
    base = xy[rng.integers(0, len(xy), n // 20)]
    exact = base + EXACT_STEPS[rng.integers(0, len(EXACT_STEPS), base.shape[0])]
    xy = np.vstack([xy, xy[rng.integers(0, len(xy), n // 10)], exact])
    xy = xy[rng.permutation(len(xy))]
    return xy[:, 0].copy(), xy[:, 1].copy()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ms", [2, 5, 9])
def test_same_core_points_clusters_and_noise_as_the_package(seed: int, ms: int) -> None:
    x, y = clustered(seed, n=3000)
    ours = assert_same_as_package(x, y, EPS, ms)
    check_against_references(x, y, EPS, ms)  # scikit-learn and the brute-force border rule
    assert 1 < ours["cluster"].max() + 1 < x.size // 4


@pytest.mark.parametrize("seed", [3, 4])
def test_same_as_the_package_on_dense_blobs_with_threads(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = dense_clustered(seed, n=30_000)
    monkeypatch.setattr(mod, "PARALLEL_MIN_POINTS", 0)
    monkeypatch.setattr(mod, "THREADS", 2)
    ours = assert_same_as_package(x, y, EPS, 5)
    check_against_references(x, y, EPS, 5, border=False)
    monkeypatch.setattr(mod, "THREADS", 1)
    pd.testing.assert_frame_equal(dbscan(x, y, eps_m=EPS, min_samples=5), ours)


def test_exact_eps_ties_match_the_package_and_sklearn() -> None:
    # a lattice of points exactly eps apart: each point's neighbours sit at exactly eps
    g = np.arange(0, 10) * EPS
    gx, gy = np.meshgrid(g, g)
    x = gx.ravel() + ORIGIN[0]
    y = gy.ravel() + ORIGIN[1]
    for ms in (3, 4, 5, 6):  # corners have 3 within eps, edges 4, inner points 5
        ours = assert_same_as_package(x, y, EPS, ms)
        check_against_references(x, y, EPS, ms)
    assert ours["cluster"].max() == -1  # min_samples 6: nothing is core
    # a hair under eps: the lattice falls apart; exactly eps: one cluster
    ours = assert_same_as_package(x, y, EPS * (1 - 1e-12), 2)
    assert ours["cluster"].max() == -1
    assert (assert_same_as_package(x, y, EPS, 2)["cluster"] == 0).all()


def test_edge_cases_against_both_references() -> None:
    one = np.array([ORIGIN[0]]), np.array([ORIGIN[1]])
    out = assert_same_as_package(*one, EPS, 1)
    assert out["core"].tolist() == [True]
    assert out["cluster"].tolist() == [0]
    assert_same_as_package(*one, EPS, 2)
    check_against_references(*one, EPS, 1)
    # all noise: points 3 eps apart
    far = np.arange(50) * 3 * EPS + ORIGIN[0], np.full(50, ORIGIN[1])
    out = assert_same_as_package(*far, EPS, 2)
    assert (out["cluster"] == -1).all()
    check_against_references(*far, EPS, 2)
    # min_samples 1: every point core, clusters are the eps-connected groups
    x, y = clustered(9, n=1000)
    out = assert_same_as_package(x, y, EPS, 1)
    assert out["core"].all()
    check_against_references(x, y, EPS, 1)
    # every point at one spot
    same = np.full(20, ORIGIN[0]), np.full(20, ORIGIN[1])
    out = assert_same_as_package(*same, EPS, 5)
    assert out["core"].all()
    assert (out["cluster"] == 0).all()


@pytest.mark.parametrize("seed", [5, 6])
def test_weighted_points_against_sklearn(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the package has no weights: scikit-learn's sample_weight is the reference
    x, y = dense_clustered(seed, n=4000)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 6, x.size).astype(np.float64) * 0.25  # dyadic: exact sums; zeros in
    monkeypatch.setattr(mod, "PARALLEL_MIN_POINTS", 0)
    ours = check_against_references(x, y, EPS, 7, w)
    monkeypatch.setattr(mod, "THREADS", 1)
    pd.testing.assert_frame_equal(dbscan(x, y, eps_m=EPS, min_samples=7, weights=w), ours)


def test_sparse_grid_lookup_gives_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    # two groups 400 km apart: the grid is far too sparse for a direct table
    x, y = clustered(10, n=1500)
    x2, y2 = clustered(11, n=1500)
    x = np.concatenate([x, x2 + 400_000.0])
    y = np.concatenate([y, y2 - 300_000.0])
    grid = mod._Grid(x, y, EPS)
    assert grid.table is None
    sparse = check_against_references(x, y, EPS, 5)
    assert_same_as_package(x, y, EPS, 5)
    # and a small grid forced onto binary search agrees with its table
    x, y = clustered(12, n=1500)
    table = dbscan(x, y, eps_m=EPS, min_samples=5)
    monkeypatch.setattr(mod, "DENSE_GRID_CELLS", 0)
    monkeypatch.setattr(mod, "DENSE_GRID_PER_CELL", 0)
    assert mod._Grid(x, y, EPS).table is None
    pd.testing.assert_frame_equal(dbscan(x, y, eps_m=EPS, min_samples=5), table)
    assert sparse["cluster"].max() > 2


def snapped(seed: int, n: int, spots: int) -> tuple[FloatArray, FloatArray]:
    """``n`` events snapped onto ``spots`` places (as police data snaps them), whole metres."""
    x, y = dense_clustered(seed, spots)
    pick = np.random.default_rng(seed).integers(0, x.size, n)
    return x[pick], y[pick]


@pytest.mark.parametrize("seed", [7, 8])
def test_snapped_events_collapse_to_the_same_answer(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = snapped(seed, 20_000, 1_500)
    assert np.unique(np.c_[x, y], axis=0).shape[0] < x.size // 5  # mostly copies
    monkeypatch.setattr(mod, "PARALLEL_MIN_POINTS", 0)
    ours = assert_same_as_package(x, y, EPS, 12)
    check_against_references(x, y, EPS, 12, border=False)
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 4, x.size).astype(np.float64) * 0.5
    weighted = check_against_references(x, y, EPS, 30, w, border=False)
    # every hash equal: copies are no longer grouped, the answer must not move
    monkeypatch.setattr(mod, "_coordinate_hash", lambda a, b: np.zeros(a.size, np.uint64))
    pd.testing.assert_frame_equal(dbscan(x, y, eps_m=EPS, min_samples=12), ours)
    pd.testing.assert_frame_equal(dbscan(x, y, eps_m=EPS, min_samples=30, weights=w), weighted)


def test_signed_zero_is_the_same_spot() -> None:
    x = np.array([0.0, -0.0, 0.0, -0.0, 30.0])
    y = np.array([-0.0, 0.0, 0.0, -0.0, 0.0])
    out = check_against_references(x, y, 5.0, 4)
    assert out["core"].tolist() == [True] * 4 + [False]
    assert out["cluster"].tolist() == [0] * 4 + [-1]
    assert_same_as_package(x, y, 5.0, 4)
