"""Tests for models.gistar: Getis-Ord Gi* against esda on the same weights."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from h3.api import numpy_int as h3n
from scipy import stats

from geo.errors import ValidationError
from models.gistar import benjamini_hochberg, gistar, neighbour_matrix

BLACKBURN = (53.75, -2.48)


def _area(res: int = 9, rings: int = 10) -> np.ndarray:
    """A hexagonal study area of 1 + 3 rings (rings + 1) cells around Blackburn."""
    centre = h3n.latlng_to_cell(*BLACKBURN, res)
    return np.sort(np.asarray(h3n.grid_disk(centre, rings), dtype=np.int64))


def _esda_z(cells: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    """esda's Gi* z on a libpysal W built independently from h3-py's grid_disk."""
    from esda.getisord import G_Local
    from libpysal.weights import W

    index = {int(c): i for i, c in enumerate(cells)}
    neighbours = {
        i: [index[int(d)] for d in h3n.grid_disk(int(c), k) if int(d) in index]
        for i, c in enumerate(cells)
    }
    w = W(neighbours, silence_warnings=True)  # self included: a non-zero diagonal
    assert (w.sparse.diagonal() == 1).all()
    g = G_Local(values, w, transform="B", star=True, permutations=0)
    return np.asarray(g.Zs, dtype=np.float64)


def test_matches_esda_random_counts() -> None:
    cells = _area()  # 331 res-9 cells
    rng = np.random.default_rng(20261125)
    values = rng.poisson(1.5, cells.size).astype(float)
    frame, meta = gistar(cells, values)
    np.testing.assert_allclose(frame["gi_z"], _esda_z(cells, values, 1), rtol=1e-6, atol=1e-12)
    assert meta["n"] == cells.size
    np.testing.assert_allclose(meta["mean"], values.mean())
    np.testing.assert_allclose(meta["sd"], np.sqrt((values**2).mean() - values.mean() ** 2))


@pytest.mark.parametrize("k", [1, 2])
def test_matches_esda_planted_hotspot(k: int) -> None:
    cells = _area()
    rng = np.random.default_rng(7)
    values = rng.poisson(0.5, cells.size).astype(float)
    centre = h3n.latlng_to_cell(*BLACKBURN, 9)
    hot = np.isin(cells, np.asarray(h3n.grid_disk(centre, 1), dtype=np.int64))
    values[hot] += 12
    frame, _ = gistar(cells, values, k=k)
    np.testing.assert_allclose(frame["gi_z"], _esda_z(cells, values, k), rtol=1e-6, atol=1e-12)
    assert frame.loc[cells == centre, "gi_class"].item() == "hot_99"
    if k == 1:
        assert frame.loc[cells == centre, "gi_z"].item() == frame["gi_z"].max()


def test_formula_by_hand_on_small_area() -> None:
    """z of the centre of a 7-cell area, from the formula written out."""
    cells = _area(rings=1)
    values = np.arange(7, dtype=float)
    frame, _ = gistar(cells, values)
    centre = h3n.latlng_to_cell(*BLACKBURN, 9)
    i = int(np.flatnonzero(cells == centre)[0])
    n, mean, s = 7, values.mean(), values.std()
    # The centre's disk is the whole area: W_i = n, so z is defined as 0.
    assert frame["gi_z"].iloc[i] == 0.0
    assert frame["p"].iloc[i] == 1.0
    # An outer cell sees itself, the centre and two ring neighbours: W_j = 4.
    j = (i + 1) % 7
    disk = np.isin(cells, np.asarray(h3n.grid_disk(int(cells[j]), 1), dtype=np.int64))
    wj = disk.sum()
    z = (values[disk].sum() - mean * wj) / (s * np.sqrt((n * wj - wj**2) / (n - 1)))
    np.testing.assert_allclose(frame["gi_z"].iloc[j], z, rtol=1e-12)
    assert frame["n_neighbours"].iloc[j] == 3


def test_output_shape_and_p_values() -> None:
    cells = _area()
    rng = np.random.default_rng(3)
    values = rng.poisson(1.0, cells.size).astype(float)
    order = rng.permutation(cells.size)
    frame, meta = gistar(cells[order], values[order], fdr=False)
    assert list(frame.columns) == [
        "h3", "value", "gi_z", "p", "p_adj", "gi_class", "n_neighbours",
    ]  # fmt: skip
    np.testing.assert_array_equal(frame["h3"], cells[order])  # input order kept
    np.testing.assert_allclose(frame["p"], 2 * stats.norm.sf(np.abs(frame["gi_z"])))
    np.testing.assert_array_equal(frame["p_adj"], frame["p"])
    assert meta["correction"] == "none"
    frame_fdr, meta_fdr = gistar(cells[order], values[order])
    np.testing.assert_allclose(frame_fdr["p_adj"], benjamini_hochberg(frame_fdr["p"]))
    assert (frame_fdr["p_adj"] >= frame_fdr["p"]).all()
    assert meta_fdr["correction"] == "benjamini-hochberg"


def test_classes_for_planted_hot_and_cold_spots() -> None:
    cells = _area()
    values = np.full(cells.size, 10.0)
    centre = h3n.latlng_to_cell(*BLACKBURN, 9)
    ring = np.asarray(h3n.grid_ring(centre, 5), dtype=np.int64)
    hot_centre, cold_centre = int(ring[0]), int(ring[ring.size // 2])  # opposite sides
    hot = np.isin(cells, np.asarray(h3n.grid_disk(hot_centre, 1), dtype=np.int64))
    cold = np.isin(cells, np.asarray(h3n.grid_disk(cold_centre, 1), dtype=np.int64))
    values[hot] = 20.0
    values[cold] = 0.0
    frame, meta = gistar(cells, values)
    assert frame.loc[cells == hot_centre, "gi_class"].item() == "hot_99"
    assert frame.loc[cells == cold_centre, "gi_class"].item() == "cold_99"
    assert set(frame["gi_class"]) <= set(meta["classes"])
    assert meta["classes"] == [
        "hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant",
    ]  # fmt: skip
    # Classes follow p_adj and the sign of z.
    sig = frame["p_adj"] <= 0.10
    assert (frame.loc[~sig, "gi_class"] == "not_significant").all()
    assert frame.loc[sig & (frame["gi_z"] > 0), "gi_class"].str.startswith("hot_").all()
    assert frame.loc[sig & (frame["gi_z"] < 0), "gi_class"].str.startswith("cold_").all()
    p99 = frame["p_adj"] <= 0.01
    assert frame.loc[p99, "gi_class"].str.endswith("_99").all()


def test_edge_cells_have_fewer_neighbours() -> None:
    cells = _area(rings=5)
    centre = h3n.latlng_to_cell(*BLACKBURN, 9)
    rng = np.random.default_rng(1)
    values = rng.poisson(2.0, cells.size).astype(float)
    for k, full in [(1, 6), (2, 18)]:
        frame, _ = gistar(cells, values, k=k)
        nn = frame.set_index("h3")["n_neighbours"]
        assert nn[centre] == full
        edge = np.asarray(h3n.grid_ring(centre, 5), dtype=np.int64)
        assert (nn[edge] < full).all()
        corner_like = nn[edge].min()
        assert corner_like == (3 if k == 1 else 8)


def test_zero_variance_refused() -> None:
    cells = _area(rings=2)
    with pytest.raises(ValidationError, match=r"`values` have zero variance"):
        gistar(cells, np.full(cells.size, 3.0))


@pytest.mark.parametrize(
    ("cells_fn", "values_fn", "kwargs", "match"),
    [
        (lambda c: c, lambda c: np.ones(c.size - 1), {}, "same length"),
        (lambda c: c[:2], lambda c: np.array([1.0, 2.0]), {}, "at least 3"),
        (lambda c: np.r_[c, c[:1]], lambda c: np.arange(c.size + 1.0), {}, "unique"),
        (lambda c: np.r_[c[:-1], 12345], lambda c: np.arange(c.size * 1.0), {}, "valid H3"),
        (
            lambda c: np.r_[c[:-1], h3n.cell_to_parent(int(c[-1]), 8)],
            lambda c: np.arange(c.size * 1.0),
            {},
            "one resolution",
        ),
        (lambda c: c, lambda c: np.r_[-1.0, np.arange(c.size - 1.0)], {}, "non-negative"),
        (lambda c: c, lambda c: np.r_[np.nan, np.arange(c.size - 1.0)], {}, "finite"),
        (lambda c: c, lambda c: np.arange(c.size * 1.0), {"k": 0}, "`k`"),
        (lambda c: c, lambda c: np.arange(c.size * 1.0), {"k": 11}, "`k`"),
        (lambda c: c, lambda c: np.arange(c.size * 1.0), {"k": True}, "`k`"),
        (
            lambda c: c,
            lambda c: np.arange(c.size * 1.0),
            {"alpha_levels": (0.05, 0.01)},
            "`alpha_levels`",
        ),
    ],
)
def test_validation(
    cells_fn: Callable[[np.ndarray], np.ndarray],
    values_fn: Callable[[np.ndarray], np.ndarray],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    cells = _area(rings=2)
    with pytest.raises(ValidationError, match=match):
        gistar(cells_fn(cells), values_fn(cells), **kwargs)


def test_benjamini_hochberg_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5])
    # Sorted: 0.01, 0.03, 0.04, 0.5 -> x 4/rank: 0.04, 0.06, 0.05333, 0.5;
    # running minimum from the top: 0.04, 0.05333, 0.05333, 0.5.
    expected = np.array([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12)


def test_benjamini_hochberg_matches_scipy_and_is_monotone() -> None:
    rng = np.random.default_rng(11)
    p = np.r_[rng.uniform(size=500), rng.uniform(0, 1e-3, 50), 1.0, 0.0, 0.0]
    adj = benjamini_hochberg(p)
    np.testing.assert_allclose(adj, stats.false_discovery_control(p, method="bh"), rtol=1e-12)
    order = np.argsort(p)
    assert (np.diff(adj[order]) >= 0).all()
    assert (adj >= p).all() and (adj <= 1).all()
    assert benjamini_hochberg(np.array([0.9, 0.95])).max() <= 1.0
    assert benjamini_hochberg(np.empty(0)).size == 0
    with pytest.raises(ValidationError, match="`p`"):
        benjamini_hochberg(np.array([0.1, 1.5]))


def test_neighbour_matrix_fast_for_100k_cells() -> None:
    cells = _area(rings=183)  # 100,651 cells
    t0 = time.perf_counter()
    w = neighbour_matrix(cells, k=1)
    elapsed = time.perf_counter() - t0
    assert w.shape == (cells.size, cells.size)
    assert (w.diagonal() == 1).all()
    assert (w != w.T).nnz == 0  # grid_disk is symmetric
    assert elapsed < 5.0


def test_pentagon_has_five_neighbours() -> None:
    pentagon = int(h3n.get_pentagons(9)[0])
    cells = np.asarray(h3n.grid_disk(pentagon, 3), dtype=np.int64)
    values = np.arange(cells.size, dtype=float)
    frame, _ = gistar(cells, values)
    assert frame.loc[frame["h3"] == pentagon, "n_neighbours"].item() == 5
    np.testing.assert_allclose(frame["gi_z"], _esda_z(cells, values, 1), rtol=1e-6, atol=1e-12)
