"""Quartic KDE on cell centres: hand calculations, mass, and the binning error bound.

The exact references here are brute force over every point-cell pair in numpy,
written out independently of ``models.kde``.
"""

from __future__ import annotations

import logging
import math

import h3
import numpy as np
import numpy.typing as npt
import pytest
from scipy import integrate

import models.kde as kde_module
from geo.crs import bng_to_latlng, latlng_to_bng
from geo.errors import ValidationError
from geo.h3index import cells_area_m2, cells_to_latlng, latlng_to_cells
from models.kde import (
    Bins,
    default_bandwidth_m,
    kde_on_cells,
    kernel_sum,
    quartic_kernel,
)

FloatArray = npt.NDArray[np.float64]

# Blackburn town centre.
LAT0, LNG0 = 53.748, -2.482


def _exact_kde(
    px: FloatArray, py: FloatArray, qx: FloatArray, qy: FloatArray, h: float, w: FloatArray
) -> FloatArray:
    """Brute-force quartic KDE, every point against every query point."""
    d2 = (qx[:, None] - px[None, :]) ** 2 + (qy[:, None] - py[None, :]) ** 2
    u = np.clip(1.0 - d2 / (h * h), 0.0, None)
    return np.asarray((3.0 / (math.pi * h * h) * u * u * w[None, :]).sum(axis=1))


def _disk_cells(res: int, k: int) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Cells of a k-ring around Blackburn at ``res``, with BNG centres."""
    centre = h3.latlng_to_cell(LAT0, LNG0, res)
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, k)), dtype=np.int64)
    lat, lng = cells_to_latlng(cells)
    x, y = latlng_to_bng(lat, lng)
    return cells, x, y


def _clustered_points(
    seed: int, n: int = 3000, background: int = 600
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Eight Gaussian clusters (SD 40-250 m) plus a uniform background, in BNG metres."""
    rng = np.random.default_rng(seed)
    x0, y0 = (float(v) for v in latlng_to_bng(LAT0, LNG0))
    centres = rng.uniform(-1500, 1500, size=(8, 2))
    sds = rng.uniform(40, 250, size=8)
    k = rng.integers(0, 8, size=n)
    x = x0 + centres[k, 0] + rng.normal(0, 1, n) * sds[k]
    y = y0 + centres[k, 1] + rng.normal(0, 1, n) * sds[k]
    x = np.concatenate([x, x0 + rng.uniform(-2000, 2000, background)])
    y = np.concatenate([y, y0 + rng.uniform(-2000, 2000, background)])
    lat, lng = bng_to_latlng(x, y)
    return x, y, latlng_to_cells(lat, lng, 12)


def _rel_l1(got: FloatArray, exact: FloatArray) -> float:
    return float(np.abs(got - exact).sum() / np.abs(exact).sum())


# --- the kernel -------------------------------------------------------------------------------


@pytest.mark.parametrize("h", [1.0, 150.0, 2500.0])
def test_kernel_integrates_to_one(h: float) -> None:
    radial, _ = integrate.quad(lambda r: float(quartic_kernel(r, h)) * 2 * math.pi * r, 0, h)
    assert radial == pytest.approx(1.0, rel=1e-10)
    # And as a plain 2-D Riemann sum on a fine square grid.
    step = h / 200
    g = np.arange(-h, h + step / 2, step)
    gx, gy = np.meshgrid(g, g)
    assert float(quartic_kernel(np.hypot(gx, gy), h).sum() * step * step) == pytest.approx(
        1.0, rel=1e-4
    )


def test_one_point_by_hand() -> None:
    h = 250.0
    c = 3.0 / (math.pi * h * h)
    # Cell centres at 0, 75, 125, 200, 250 and 375 m from the point, in various directions.
    qx = np.array([0.0, 75.0, 0.0, -120.0, 0.0, 375.0])
    qy = np.array([0.0, 0.0, -125.0, 160.0, 250.0, 0.0])
    by_hand = np.array([c, c * (1 - 0.09) ** 2, c * (1 - 0.25) ** 2, c * (1 - 0.64) ** 2, 0.0, 0.0])
    x0, y0 = 360_000.0, 428_000.0
    lat, lng = bng_to_latlng([x0], [y0])
    cell = latlng_to_cells(lat, lng, 12)
    for bin_res in (None, "square", 12, 11):
        got, meta = kde_on_cells(
            [x0],
            [y0],
            cell,
            x0 + qx,
            y0 + qy,
            weights=[2.0],
            bandwidth_m=h,
            bin_res=bin_res,
            quiet=True,
        )
        np.testing.assert_allclose(got, 2.0 * by_hand, rtol=1e-12, atol=1e-18)
        assert meta["n_points"] == 1 and meta["n_bins"] == 1
        assert meta["bandwidth_m"] == h and meta["kernel"] == "quartic"
        assert meta["bin_res"] == bin_res
        assert meta["bin_side_m"] == (h / 8 if bin_res == "square" else None)


def test_mass_is_the_total_weight_on_a_dense_tiling() -> None:
    rng = np.random.default_rng(7)
    x0, y0 = (float(v) for v in latlng_to_bng(LAT0, LNG0))
    x = x0 + rng.normal(0, 150, 400)
    y = y0 + rng.normal(0, 150, 400)
    w = rng.uniform(0.2, 2.0, 400)
    lat, lng = bng_to_latlng(x, y)
    # Res-11 cells (about 2,150 m2) out to about 1.3 km cover every point's support.
    cells, cx, cy = _disk_cells(11, 25)
    density, _ = kde_on_cells(
        x, y, latlng_to_cells(lat, lng, 12), cx, cy, weights=w, bandwidth_m=300.0, quiet=True
    )
    mass = float((density * cells_area_m2(cells)).sum())
    # BNG and true areas differ by under 0.1% here; midpoint quadrature adds a little.
    assert mass == pytest.approx(float(w.sum()), rel=0.01)


# --- default bandwidth ------------------------------------------------------------------------


def test_default_bandwidth_by_hand() -> None:
    a = 100.0
    x = np.array([0.0, a, -a, 0.0, 0.0]) + 350_000
    y = np.array([0.0, 0.0, 0.0, a, -a]) + 420_000
    # Mean centre is the middle point; distances 0, a, a, a, a.
    sd = math.sqrt(4 * a * a / 5)
    dm = a
    expected = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * dm) * 5**-0.2
    h, rule = default_bandwidth_m(x, y)
    assert h == pytest.approx(expected, rel=1e-12)
    assert "Silverman" in rule and f"{expected:.1f} m" in rule and "n = 5" in rule


def test_default_bandwidth_median_branch() -> None:
    # Most points at the centre, one far away: the median distance is the smaller term.
    x = np.array([0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1000.0])
    y = np.array([1.0, -1.0, 0.0, 0.0, 0.5, -0.5, 0.0])
    mx, my = x.mean(), y.mean()
    d = np.hypot(x - mx, y - my)
    sd = math.sqrt(float(np.mean(d * d)))
    dm = float(np.median(d))
    assert math.sqrt(1 / math.log(2)) * dm < sd
    h, _ = default_bandwidth_m(x, y)
    assert h == pytest.approx(0.9 * math.sqrt(1 / math.log(2)) * dm * 7**-0.2, rel=1e-12)


def test_default_bandwidth_integer_weights_equal_repeated_points() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 300, 40)
    y = rng.normal(0, 200, 40)
    w = rng.integers(1, 5, 40)
    if w.sum() % 2 == 0:  # an odd total keeps the median unique
        w[0] += 1
    h_w, rule = default_bandwidth_m(x, y, w.astype(float))
    h_rep, _ = default_bandwidth_m(np.repeat(x, w), np.repeat(y, w))
    assert h_w == pytest.approx(h_rep, rel=1e-12)
    assert "sum of weights" in rule


def test_default_bandwidth_refuses_too_few_or_coincident_points() -> None:
    with pytest.raises(ValidationError, match=r"at least 2 points.*got 1.*`bandwidth_m`"):
        default_bandwidth_m([1.0], [2.0])
    with pytest.raises(ValidationError, match=r"got 1.*Pass `bandwidth_m`"):
        default_bandwidth_m([1.0, 5.0], [2.0, 5.0], [1.0, 0.0])
    with pytest.raises(ValidationError, match=r"no spread"):
        default_bandwidth_m([3.0, 3.0, 3.0], [4.0, 4.0, 4.0])


def test_default_bandwidth_is_announced_unless_quiet(caplog: pytest.LogCaptureFixture) -> None:
    x, y, c12 = _clustered_points(0, n=300, background=50)
    _, cx, cy = _disk_cells(9, 3)
    with caplog.at_level(logging.INFO, logger="models.kde"):
        _, meta = kde_on_cells(x, y, c12, cx, cy)
    expected, _ = default_bandwidth_m(x, y)
    assert meta["bandwidth_m"] == pytest.approx(expected)
    assert meta["bandwidth_rule"] in caplog.text and "Silverman" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="models.kde"):
        kde_on_cells(x, y, c12, cx, cy, quiet=True)
    assert caplog.text == ""


# --- binning error ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clustered() -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]:
    x, y, c12 = _clustered_points(1)
    _, cx, cy = _disk_cells(9, 14)  # 631 res-9 cells over the area
    return {"x": x, "y": y, "h3": c12, "cx": cx, "cy": cy}


@pytest.mark.parametrize(
    ("bin_res", "h"),
    [(11, 201.0), (11, 250.0), (11, 400.0), (12, 76.0), (12, 150.0), (12, 250.0), (12, 400.0)],
)
def test_h3_binned_within_1e3_of_exact(
    clustered: dict[str, FloatArray], bin_res: int, h: float
) -> None:
    d = clustered
    w = np.ones(d["x"].size)
    exact = _exact_kde(d["x"], d["y"], d["cx"], d["cy"], h, w)
    got, meta = kde_on_cells(
        d["x"], d["y"], d["h3"], d["cx"], d["cy"], bandwidth_m=h, bin_res=bin_res, quiet=True
    )
    assert meta["n_bins"] < d["x"].size  # it really binned
    assert meta["binning"].startswith(f"H3 res-{bin_res} bins")
    assert _rel_l1(got, exact) < 1e-3


@pytest.mark.parametrize("h", [40.0, 75.0, 120.0, 200.0, 300.0, 400.0])
@pytest.mark.parametrize("sides", [None, 6.0])
def test_square_binned_within_1e3_of_exact(
    clustered: dict[str, FloatArray], h: float, sides: float | None
) -> None:
    """Default bins (h / 8) and the widest allowed (h / 6), unweighted and weighted."""
    d = clustered
    side = None if sides is None else h / sides
    for w in (np.ones(d["x"].size), np.random.default_rng(5).uniform(0.0, 3.0, d["x"].size)):
        exact = _exact_kde(d["x"], d["y"], d["cx"], d["cy"], h, w)
        got, meta = kde_on_cells(
            d["x"],
            d["y"],
            None,
            d["cx"],
            d["cy"],
            weights=w,
            bandwidth_m=h,
            bin_side_m=side,
            quiet=True,
        )
        assert meta["n_bins"] < d["x"].size  # it really binned
        assert meta["bin_side_m"] == (h / 8 if side is None else side)
        assert meta["binning"].startswith("square bins of")
        assert _rel_l1(got, exact) < 1e-3


def test_weighted_h3_binned_within_1e3(clustered: dict[str, FloatArray]) -> None:
    d = clustered
    w = np.random.default_rng(5).uniform(0.0, 3.0, d["x"].size)
    exact = _exact_kde(d["x"], d["y"], d["cx"], d["cy"], 250.0, w)
    got, _ = kde_on_cells(
        d["x"],
        d["y"],
        d["h3"],
        d["cx"],
        d["cy"],
        weights=w,
        bandwidth_m=250.0,
        bin_res=11,
        quiet=True,
    )
    assert _rel_l1(got, exact) < 1e-3


def test_square_bins_from_points_equal_bins_with_cells_given(
    clustered: dict[str, FloatArray],
) -> None:
    d = clustered
    w = np.random.default_rng(6).uniform(0.0, 2.0, d["x"].size)
    with_cells, m1 = kde_on_cells(
        d["x"], d["y"], d["h3"], d["cx"], d["cy"], weights=w, bandwidth_m=180.0, quiet=True
    )
    without, m2 = kde_on_cells(
        d["x"], d["y"], None, d["cx"], d["cy"], weights=w, bandwidth_m=180.0, quiet=True
    )
    np.testing.assert_array_equal(with_cells, without)
    assert m1 == m2 and m1["bin_res"] == "square"


def test_square_bins_keep_the_mass() -> None:
    """Bins hold every point's weight; the density integrates to the total weight."""
    rng = np.random.default_rng(8)
    x = 360_000.0 + rng.normal(0, 120, 400)
    y = 428_000.0 + rng.normal(0, 80, 400)
    w = rng.uniform(0.0, 2.0, 400)
    w[::7] = 0.0
    h = 150.0
    grid = kde_module.square_bins(x, y, w, h / 8, pad=8)
    assert isinstance(grid, kde_module.SquareGrid)
    assert float(grid.bins.weight.sum()) == pytest.approx(float(w.sum()), rel=1e-12)
    # A 5 m lattice over every point's support: midpoint quadrature of the density.
    step = 5.0
    gx = np.arange(x.min() - h, x.max() + h + step, step)
    gy = np.arange(y.min() - h, y.max() + h + step, step)
    qx, qy = (a.ravel() for a in np.meshgrid(gx, gy))
    density, _ = kde_on_cells(x, y, None, qx, qy, weights=w, bandwidth_m=h, quiet=True)
    assert float(density.sum()) * step * step == pytest.approx(float(w.sum()), rel=1e-4)


def test_sparse_and_chunked_square_bins_give_the_same_sum(
    clustered: dict[str, FloatArray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The occupied-bins path (thin points over a large area) and small binning passes."""
    d = clustered
    w = np.random.default_rng(9).uniform(0.0, 2.0, d["x"].size)
    dense, _ = kde_on_cells(
        d["x"], d["y"], None, d["cx"], d["cy"], weights=w, bandwidth_m=200.0, quiet=True
    )
    monkeypatch.setattr(kde_module, "BIN_CHUNK", 1000)
    chunked, _ = kde_on_cells(
        d["x"], d["y"], None, d["cx"], d["cy"], weights=w, bandwidth_m=200.0, quiet=True
    )
    monkeypatch.setattr(kde_module, "MIN_DENSE_BINS", 0)
    monkeypatch.setattr(kde_module, "MAX_DENSE_BINS_PER_POINT", 0)
    sparse, meta = kde_on_cells(
        d["x"], d["y"], None, d["cx"], d["cy"], weights=w, bandwidth_m=200.0, quiet=True
    )
    np.testing.assert_allclose(chunked, dense, rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(sparse, dense, rtol=1e-10, atol=1e-18)
    assert meta["n_bins"] < d["x"].size


def test_square_window_at_the_grid_edge() -> None:
    """Query points beside, on and beyond the edge of the points' grid."""
    rng = np.random.default_rng(4)
    x = 360_000.0 + rng.uniform(0, 400, 500)
    y = 428_000.0 + rng.uniform(0, 300, 500)
    qx = 360_000.0 + np.array([-290.0, -100.0, 0.0, 200.0, 400.0, 650.0, 699.0, 2000.0])
    qy = 428_000.0 + np.array([150.0, -250.0, 0.0, 150.0, 300.0, 150.0, 150.0, 150.0])
    h = 300.0
    exact = _exact_kde(x, y, qx, qy, h, np.ones(500))
    got, _ = kde_on_cells(x, y, None, qx, qy, bandwidth_m=h, quiet=True)
    assert _rel_l1(got, exact) < 1e-3
    assert got[-1] == 0.0 and exact[-1] == 0.0
    assert np.all(got[2:-2] > 0)


def test_exact_mode_matches_brute_force(clustered: dict[str, FloatArray]) -> None:
    d = clustered
    exact = _exact_kde(d["x"], d["y"], d["cx"], d["cy"], 120.0, np.ones(d["x"].size))
    got, meta = kde_on_cells(
        d["x"], d["y"], None, d["cx"], d["cy"], bandwidth_m=120.0, bin_res=None, quiet=True
    )
    np.testing.assert_allclose(got, exact, rtol=1e-9, atol=1e-15)
    assert meta["n_bins"] == d["x"].size


def test_below_the_limit_of_validity_is_refused_with_the_fix(
    clustered: dict[str, FloatArray],
) -> None:
    d = clustered
    with pytest.raises(
        ValidationError, match=r"`bandwidth_m` 150.0 m is below 7.0 mean bin edges.*bin_res=12"
    ):
        kde_on_cells(d["x"], d["y"], d["h3"], d["cx"], d["cy"], bandwidth_m=150.0, bin_res=11)
    with pytest.raises(ValidationError, match=r'bin_res 12.*bin_res="square"'):
        kde_on_cells(d["x"], d["y"], d["h3"], d["cx"], d["cy"], bandwidth_m=30.0, bin_res=12)
    with pytest.raises(
        ValidationError,
        match=r"`bandwidth_m` 100.0 m is below 6.0 square bin sides of 20 m.*at most 16.7 m",
    ):
        kde_on_cells(d["x"], d["y"], None, d["cx"], d["cy"], bandwidth_m=100.0, bin_side_m=20.0)


def test_a_rule_bandwidth_below_the_floor_is_raised_to_it() -> None:
    x, y, _ = _clustered_points(0, n=300, background=50)
    _, cx, cy = _disk_cells(9, 3)
    rule_h, _ = default_bandwidth_m(x, y)
    side = rule_h / 4  # the floor is 6 sides: 1.5 times the rule
    _, meta = kde_on_cells(x, y, None, cx, cy, bin_side_m=side, quiet=True)
    assert meta["bandwidth_m"] == pytest.approx(6 * side)
    assert "smallest this binning supports" in meta["bandwidth_rule"]
    # Square bins of the default side follow the bandwidth: no floor to raise to.
    _, meta = kde_on_cells(x, y, None, cx, cy, quiet=True)
    assert meta["bandwidth_m"] == pytest.approx(rule_h)


@pytest.mark.parametrize(("bin_res", "h"), [(11, 2.0), ("square", 3.0)])
def test_the_limit_is_real(
    clustered: dict[str, FloatArray],
    monkeypatch: pytest.MonkeyPatch,
    bin_res: int | str,
    h: float,
) -> None:
    """With the guards lifted, res-11 bins at two bin edges (about 57 m) and square bins
    of a third of the bandwidth miss the exact KDE by over 1e-3."""
    monkeypatch.setattr(kde_module, "MIN_BANDWIDTH_EDGES", 0.0)
    monkeypatch.setattr(kde_module, "MIN_BANDWIDTH_SIDES", 0.0)
    d = clustered
    if bin_res == 11:
        h *= h3.average_hexagon_edge_length(11, unit="m")
        side = None
    else:
        side, h = 150.0 / h, 150.0
    exact = _exact_kde(d["x"], d["y"], d["cx"], d["cy"], h, np.ones(d["x"].size))
    got, _ = kde_on_cells(
        d["x"],
        d["y"],
        d["h3"],
        d["cx"],
        d["cy"],
        bandwidth_m=h,
        bin_res=bin_res,
        bin_side_m=side,
        quiet=True,
    )
    assert _rel_l1(got, exact) > 1e-3


def test_chunking_does_not_change_the_sum(clustered: dict[str, FloatArray]) -> None:
    d = clustered
    zeros = np.zeros(d["x"].size)
    pts = Bins(d["x"], d["y"], np.ones(d["x"].size), zeros, zeros, zeros)
    whole = kernel_sum(pts, d["cx"], d["cy"], 250.0)
    small = kernel_sum(pts, d["cx"], d["cy"], 250.0, max_pairs=500)
    np.testing.assert_allclose(small, whole, rtol=1e-12, atol=1e-18)
    assert whole.max() > 0


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-5, 0, float("nan")])
def test_bad_bandwidth_message(bad: float) -> None:
    with pytest.raises(ValidationError) as err:
        kde_on_cells([0.0, 1.0], [0.0, 1.0], None, [0.0], [0.0], bandwidth_m=bad, bin_res=None)
    assert str(err.value) == f"`bandwidth_m` must be > 0, got {bad!r}. Pass a distance in metres."


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValidationError, match=r"`x` and `y` must have the same length"):
        kde_on_cells([0.0, 1.0], [0.0], None, [0.0], [0.0], bandwidth_m=100, bin_res=None)
    with pytest.raises(ValidationError, match=r"`weights` must be finite and >= 0"):
        kde_on_cells(
            [0.0], [0.0], None, [0.0], [0.0], weights=[-1.0], bandwidth_m=100, bin_res=None
        )
    with pytest.raises(ValidationError, match=r'`h3_cells` is needed.*or bin_res="square"'):
        kde_on_cells([0.0], [0.0], None, [0.0], [0.0], bandwidth_m=500, bin_res=11)
    with pytest.raises(ValidationError, match=r"`bin_res` must be a whole number from 0 to 12"):
        kde_on_cells([0.0], [0.0], [1], [0.0], [0.0], bandwidth_m=500, bin_res=13)
    with pytest.raises(ValidationError, match=r'`bin_res` must be "square", a whole number'):
        kde_on_cells([0.0], [0.0], None, [0.0], [0.0], bandwidth_m=500, bin_res="squares")
    with pytest.raises(ValidationError, match=r"`h3_cells` must have one cell per point \(2\)"):
        kde_on_cells([0.0, 1.0], [0.0, 1.0], [1], [0.0], [0.0], bandwidth_m=500)
    with pytest.raises(ValidationError, match=r"`weights` must have one value per point \(2\)"):
        kde_on_cells([0.0, 1.0], [0.0, 1.0], None, [0.0], [0.0], weights=[1.0], bandwidth_m=500)
    with pytest.raises(ValidationError, match=r"`cells_x` and `cells_y` must have the same"):
        kde_on_cells([0.0], [0.0], None, [0.0, 1.0], [0.0], bandwidth_m=500)
    with pytest.raises(ValidationError, match=r"`bin_side_m` must be > 0, got -1"):
        kde_on_cells([0.0], [0.0], None, [0.0], [0.0], bandwidth_m=500, bin_side_m=-1)
    with pytest.raises(ValidationError, match=r"`bin_side_m` applies to square bins only"):
        kde_on_cells([0.0], [0.0], [1], [0.0], [0.0], bandwidth_m=500, bin_res=12, bin_side_m=5)


@pytest.mark.parametrize("bin_res", ["square", 11])
def test_a_quiet_week_still_gets_a_map(bin_res: int | str) -> None:
    """One place only: no rule bandwidth, so a fixed one (square) or the floor (H3)."""
    x0, y0 = 360_000.0, 428_000.0
    lat, lng = bng_to_latlng([x0, x0], [y0, y0])
    cells = latlng_to_cells(lat, lng, 12)
    got, meta = kde_on_cells(
        [x0, x0], [y0, y0], cells, [x0, x0 + 100.0], [y0, y0], bin_res=bin_res, quiet=True
    )
    h = meta["bandwidth_m"]
    assert h == pytest.approx(201.0 if bin_res == "square" else 7 * kde_module.bin_edge_m(11))
    assert "no spread" in meta["bandwidth_rule"]
    np.testing.assert_allclose(got, 2 * quartic_kernel(np.array([0.0, 100.0]), h), rtol=1e-12)
    with pytest.raises(ValidationError, match=r"no spread"):
        kde_on_cells([x0, x0], [y0, y0], None, [x0], [y0], bin_res=None, quiet=True)


def test_tiny_weights_stay_finite(clustered: dict[str, FloatArray]) -> None:
    """Subnormal weights (very old events) add nothing and break nothing."""
    d = clustered
    w = np.ones(d["x"].size)
    w[::3] = 1e-310
    got, _ = kde_on_cells(d["x"], d["y"], None, d["cx"], d["cy"], weights=w, bandwidth_m=200.0)
    keep = w == 1.0
    ref, _ = kde_on_cells(
        d["x"][keep], d["y"][keep], None, d["cx"], d["cy"], bandwidth_m=200.0, quiet=True
    )
    assert np.isfinite(got).all()
    exact = _exact_kde(d["x"], d["y"], d["cx"], d["cy"], 200.0, w)
    assert _rel_l1(got, exact) < 1e-3 and _rel_l1(ref, exact) < 1e-3
