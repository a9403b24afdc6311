"""Displacement measures: published reference values, invariants and independent checks."""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from geo.errors import ValidationError
from models.displacement import (
    WDQ_READINGS,
    Dispersion,
    HarmResult,
    WDDResult,
    WDQResult,
    change_dispersion,
    e_test,
    mde,
    overdispersion,
    wdd,
    wdd_harm,
    wdq,
    wdq_reading,
)

# The paper's example (Wheeler and Ratcliffe 2018; ptools tests/testthat/test-wdd.R).
# (before, after) counts of control, treated, disp_control and disp_treated.
PAPER = ((308, 318), (207, 110), (150, 140), (178, 157))


def assert_printed(value: float | None, printed: str) -> None:
    """``value`` equals the published ``printed`` number to its printed decimals."""
    assert value is not None
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    assert abs(value - float(printed)) <= 0.5 * 10.0**-decimals + 1e-12, (value, printed)


def plain(d: dict[str, object]) -> None:
    """A ``to_dict()`` holds only plain values, and no NaN."""
    for key, value in d.items():
        assert value is None or isinstance(value, int | float | str | list), key
        if isinstance(value, float):
            assert math.isfinite(value), key


counts = st.integers(min_value=0, max_value=5_000)
pair = st.tuples(counts, counts)
weight = st.floats(min_value=0.05, max_value=20, allow_nan=False)


# --- WDD: published values -------------------------------------------------------------


def test_wdd_reproduces_the_paper() -> None:
    r = wdd(*PAPER, alpha=0.05)
    assert r.est_total == -118
    assert r.se_total == pytest.approx(math.sqrt(1568), abs=1e-12)
    assert_printed(r.se_total, "39.598")
    assert_printed(r.z, "-2.98")
    assert_printed(r.low, "-195.61")
    assert_printed(r.high, "-40.39")
    assert r.est_local == -107
    assert_printed(r.se_local, "30.71")
    assert r.est_displace == -11
    assert_printed(r.se_displace, "25.0")
    assert r.note is None


def test_wdd_reproduces_the_area_weighted_example() -> None:
    r = wdd(*PAPER, area_weights=(0.9, 1.2, 1.6, 1.5), alpha=0.05)
    assert_printed(r.est_total, "-99.69444444")
    assert_printed(r.se_total, "35.4280755")
    assert_printed(r.z, "-2.813995483")
    assert_printed(r.low, "-169.1321965")
    assert_printed(r.high, "-30.25669241")


def test_wdd_reproduces_the_small_example() -> None:
    r = wdd((20, 20), (20, 10), alpha=0.1)
    assert r.est_total == r.est_local == -10
    assert r.est_displace == 0 and r.se_displace == 0
    assert_printed(r.se_total, "8.3666")
    assert_printed(r.z, "-1.1952")
    assert_printed(r.low, "-23.76")
    assert_printed(r.high, "3.76")
    # ptools README prints six decimals of the same call.
    assert_printed(r.se_total, "8.366600")
    assert_printed(r.z, "-1.195229")
    assert_printed(r.low, "-23.761833")
    assert_printed(r.high, "3.761833")
    assert r.alpha == 0.1  # the default


def test_wdd_with_a_buffer_reproduces_ptools() -> None:
    assert wdd((20, 20), (20, 10), (20, 20), (20, 10)).est_total == -20
    assert wdd((20, 20), (20, 20), (20, 20), (20, 10)).est_displace == -10


def test_wdd_time_weights_reproduce_ptools() -> None:
    # Two years before, one after: -20 per year with variance 100/4 + 50 + 80/4 + 20 = 115.
    r = wdd((100, 50), (80, 20), time_weights=(2, 1), alpha=0.05)
    assert r.est_total == pytest.approx(-20, abs=1e-12)
    assert r.se_total == pytest.approx(math.sqrt(115), abs=1e-12)


def test_wdd_p_is_two_sided_normal() -> None:
    r = wdd(*PAPER, alpha=0.05)
    assert r.p == pytest.approx(2 * stats.norm.cdf(-abs(r.z or 0)), rel=1e-12)
    # The interval excludes 0 exactly when p < alpha.
    assert r.p is not None and r.p < 0.05 and r.high < 0


# --- WDD: invariants -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    c=pair,
    t=pair,
    dc=pair,
    dt=pair,
    tw=st.tuples(weight, weight),
    aw=st.tuples(weight, weight, weight, weight),
)
def test_wdd_swapping_before_and_after_flips_every_estimate(
    c: tuple[int, int],
    t: tuple[int, int],
    dc: tuple[int, int],
    dt: tuple[int, int],
    tw: tuple[float, float],
    aw: tuple[float, float, float, float],
) -> None:
    fwd = wdd(c, t, dc, dt, time_weights=tw, area_weights=aw)
    back = wdd(c[::-1], t[::-1], dc[::-1], dt[::-1], time_weights=tw[::-1], area_weights=aw)
    for est in ("est_local", "est_displace", "est_total"):
        assert getattr(back, est) == pytest.approx(-getattr(fwd, est), abs=1e-9)
    for se in ("se_local", "se_displace", "se_total"):
        assert getattr(back, se) == pytest.approx(getattr(fwd, se), rel=1e-12)
    assert back.low == pytest.approx(-fwd.high, abs=1e-9)
    assert back.high == pytest.approx(-fwd.low, abs=1e-9)
    plain(fwd.to_dict())


@settings(max_examples=100, deadline=None)
@given(c=pair, t=pair, dc=pair, dt=pair)
def test_wdd_weights_of_one_change_nothing(
    c: tuple[int, int], t: tuple[int, int], dc: tuple[int, int], dt: tuple[int, int]
) -> None:
    plain_result = wdd(c, t, dc, dt)
    weighted = wdd(c, t, dc, dt, time_weights=(1.0, 1.0), area_weights=[1, 1, 1, 1.0], phi=1)
    assert weighted == plain_result


@settings(max_examples=100, deadline=None)
@given(c=pair, t=pair, dc=pair, dt=pair, scale=weight)
def test_wdd_scaling_every_area_weight_scales_estimates_not_z(
    c: tuple[int, int], t: tuple[int, int], dc: tuple[int, int], dt: tuple[int, int], scale: float
) -> None:
    base = wdd(c, t, dc, dt)
    scaled = wdd(c, t, dc, dt, area_weights=(scale,) * 4)
    assert scaled.est_total == pytest.approx(base.est_total / scale, rel=1e-9, abs=1e-9)
    assert scaled.se_total == pytest.approx(base.se_total / scale, rel=1e-9)
    if base.z is None:
        assert scaled.z is None
    else:
        assert scaled.z == pytest.approx(base.z, rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(c=pair, t=pair, dc=pair, dt=pair, phi=st.floats(min_value=0.1, max_value=50))
def test_wdd_phi_scales_every_se_by_its_square_root(
    c: tuple[int, int], t: tuple[int, int], dc: tuple[int, int], dt: tuple[int, int], phi: float
) -> None:
    base = wdd(c, t, dc, dt)
    over = wdd(c, t, dc, dt, phi=phi)
    assert over.phi == phi
    assert over.est_total == base.est_total
    for se in ("se_local", "se_displace", "se_total"):
        assert getattr(over, se) == pytest.approx(getattr(base, se) * math.sqrt(phi), rel=1e-12)
    if base.z is not None:
        assert over.z == pytest.approx(base.z / math.sqrt(phi), rel=1e-12, abs=1e-15)


def test_wdd_phi_widens_the_interval() -> None:
    base, over = wdd(*PAPER, alpha=0.05), wdd(*PAPER, alpha=0.05, phi=4)
    assert over.se_total == pytest.approx(2 * base.se_total)
    assert over.high - over.low == pytest.approx(2 * (base.high - base.low))
    assert over.p is not None and base.p is not None and over.p > base.p


def test_wdd_with_every_count_zero_has_no_test() -> None:
    r = wdd((0, 0), (0, 0), area_weights=(2, 3, 4, 5), phi=3)
    assert (r.est_total, r.se_total, r.low, r.high) == (0, 0, 0, 0)
    assert r.z is None and r.p is None
    assert r.note is not None and "every count is zero" in r.note
    d = r.to_dict()
    plain(d)
    assert d["z"] is None and d["p"] is None


def test_wdd_notes_small_counts() -> None:
    r = wdd((3, 8), (6, 1))
    assert r.note is not None
    assert "control before 3" in r.note and "treated after 1" in r.note
    assert "E-test" in r.note
    assert r.z is not None  # still given, with the warning
    # An unused buffer (both pairs zero) is not reported as small.
    assert wdd((30, 40), (25, 20)).note is None
    assert "disp_treated after 0" in (wdd((30, 40), (25, 20), (10, 9), (12, 0)).note or "")


def test_wdd_result_is_frozen_and_plain() -> None:
    r = wdd(*PAPER)
    assert isinstance(r, WDDResult)
    with pytest.raises(AttributeError):
        r.est_total = 0  # type: ignore[misc]
    d = r.to_dict()
    plain(d)
    assert list(d) == [
        "est_local",
        "se_local",
        "est_displace",
        "se_displace",
        "est_total",
        "se_total",
        "z",
        "p",
        "low",
        "high",
        "alpha",
        "phi",
        "note",
        "phis",
    ]


def test_per_area_phi_scales_each_areas_variance_alone() -> None:
    # Hand calculation: variance = sum over areas of phi_area * (before + after).
    c, t, dc, dt = (308, 318), (207, 110), (150, 140), (178, 157)
    r = wdd(c, t, dc, dt, phi=(2.0, 3.0, 1.0, 1.5))
    want = 2.0 * (308 + 318) + 3.0 * (207 + 110) + 1.0 * (150 + 140) + 1.5 * (178 + 157)
    assert r.se_total == pytest.approx(math.sqrt(want), rel=1e-12)
    assert r.se_local == pytest.approx(math.sqrt(2.0 * 626 + 3.0 * 317), rel=1e-12)
    assert r.est_total == wdd(c, t, dc, dt).est_total
    assert r.phis == (2.0, 3.0, 1.0, 1.5) and r.phi == 3.0
    # Four equal factors are the scalar.
    assert wdd(c, t, dc, dt, phi=(2, 2, 2, 2)).se_total == wdd(c, t, dc, dt, phi=2).se_total
    with pytest.raises(ValidationError, match="phi"):
        wdd(c, t, phi=(1, 1))
    with pytest.raises(ValidationError, match="`phi` treated factor"):
        wdd(c, t, phi=(1, 0, 1, 1))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"treated": (-1, 3)}, "`treated` before count"),
        ({"control": (4, float("nan"))}, "`control` after count"),
        ({"disp_treated": (4, math.inf)}, "`disp_treated` after count"),
        ({"treated": (1, 2, 3)}, "`treated` must be a (before, after) pair"),
        ({"control": 5}, "`control` must be a (before, after) pair"),
        ({"treated": "ab"}, "`treated` must be a (before, after) pair"),
        ({"treated": (True, 2)}, "`treated` before count"),
        ({"time_weights": (1, 0)}, "`time_weights` after weight must be > 0"),
        ({"area_weights": (1, 1, 1)}, "`area_weights` must be four numbers"),
        ({"area_weights": 2}, "`area_weights` must be four numbers"),
        ({"treated": {"a": 1, "b": 2}}, "`treated` must be a (before, after) pair"),
        ({"area_weights": (1, -2, 1, 1)}, "`area_weights` treated weight must be > 0"),
        ({"alpha": 0}, "`alpha` must be in (0, 1)"),
        ({"alpha": 1.0}, "`alpha` must be in (0, 1)"),
        ({"phi": 0}, "`phi` must be > 0"),
        ({"phi": float("nan")}, "`phi` must be a finite number"),
    ],
)
def test_wdd_refuses_bad_input_naming_it(kwargs: dict[str, object], words: str) -> None:
    args: dict[str, object] = {"control": (20, 20), "treated": (20, 10), **kwargs}
    with pytest.raises(ValidationError) as err:
        wdd(**args)  # type: ignore[arg-type]
    assert words in str(err.value)


# --- harm-weighted pooling -------------------------------------------------------------


def test_wdd_harm_reproduces_ptools() -> None:
    # ptools tests/testthat/test-wdd.R, "Cumulative Harm": five crime types, local WDDs.
    pairs = [
        ((133, 91), (130, 74)),
        ((388, 305), (327, 202)),
        ((148, 97), (398, 190)),
        ((86, 64), (144, 92)),
        ((94, 67), (183, 96)),
    ]
    results = [wdd(c, t) for c, t in pairs]
    r = wdd_harm(
        [x.est_local for x in results], [x.se_local for x in results], [3, 2, 5, 7, 10], alpha=0.05
    )
    assert isinstance(r, HarmResult)
    assert_printed(r.est, "-1721.00000000")
    assert_printed(r.se, "304.10360077")
    assert_printed(r.z, "-5.65925558")
    assert_printed(r.low, "-2317.03210507")
    assert_printed(r.high, "-1124.96789493")
    plain(r.to_dict())


@settings(max_examples=100, deadline=None)
@given(c=pair, t=pair, dc=pair, dt=pair, alpha=st.floats(min_value=0.001, max_value=0.5))
def test_wdd_harm_of_one_place_with_weight_one_is_its_wdd(
    c: tuple[int, int], t: tuple[int, int], dc: tuple[int, int], dt: tuple[int, int], alpha: float
) -> None:
    one = wdd(c, t, dc, dt, alpha=alpha)
    h = wdd_harm([one.est_total], [one.se_total], [1], alpha=alpha)
    assert (h.est, h.se, h.z, h.p, h.low, h.high) == (
        one.est_total,
        one.se_total,
        one.z,
        one.p,
        one.low,
        one.high,
    )


def test_wdd_harm_by_hand() -> None:
    h = wdd_harm(np.array([-10.0, 4.0]), [3.0, 4.0], [2.0, 0.5])
    assert h.est == -18  # 2 x -10 + 0.5 x 4
    assert h.se == pytest.approx(math.sqrt(36 + 4))  # 4 x 9 + 0.25 x 16
    assert h.z == pytest.approx(-18 / math.sqrt(40))


def test_wdd_harm_with_zero_standard_errors_has_no_test() -> None:
    h = wdd_harm([0.0, 0.0], [0.0, 0.0], [3, 4])
    assert (h.est, h.se, h.low, h.high, h.z, h.p) == (0, 0, 0, 0, None, None)
    assert h.note is not None and "no test" in h.note
    plain(h.to_dict())


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (([1, 2], [1], [1, 1]), "lengths 2, 1 and 2"),
        (([], [], []), "`est` must be a non-empty"),
        (([1, float("nan")], [1, 1], [1, 1]), "`est` must hold finite numbers"),
        (([1, 2], [1, -1], [1, 1]), "`se` must be >= 0"),
        (([1, 2], [1, 1], [1, -3]), "`weight` must be >= 0"),
        (([[1, 2]], [[1, 1]], [[1, 1]]), "one-dimensional"),
        ((["a"], [1], [1]), "`est` must be numbers"),
    ],
)
def test_wdd_harm_refuses_bad_input(args: tuple[object, object, object], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        wdd_harm(*args)  # type: ignore[arg-type]
    assert words in str(err.value)


# --- WDQ -------------------------------------------------------------------------------


def test_wdq_reproduces_the_reference() -> None:
    # blackthrive/streetlamp tests/testthat/test-spillover.R.
    r = wdq(response=(100, 50), buffer=(100, 150), control=(100, 100))
    assert isinstance(r, WDQResult)
    assert r.s == -0.5
    assert r.b == 0.5
    assert r.wdq == -1
    assert r.tne == 0
    assert r.ge == 50
    assert r.ne == 0.5
    assert r.reading == WDQ_READINGS[3]
    assert r.reasons == ()
    plain(r.to_dict())


def test_wdq_by_hand_with_unequal_counts() -> None:
    # R 40 -> 20, D 30 -> 27, C 50 -> 25 (the control halved too).
    r = wdq((40, 20), (30, 27), (50, 25))
    assert r.ge == 20
    assert r.ne == pytest.approx(40 / 50 - 20 / 25)  # 0: no better than the control
    assert r.s == pytest.approx(0)
    assert r.wdq is None and r.reading is None
    assert r.b == pytest.approx(27 / 25 - 30 / 50)
    assert r.tne == pytest.approx((40 * 0.5 - 20) + (30 * 0.5 - 27))


def test_wdq_with_a_zero_control_count_is_undefined_with_reason() -> None:
    for control, when in (((0, 10), "before"), ((10, 0), "after"), ((0, 0), "before and after")):
        r = wdq((10, 5), (8, 9), control)
        assert r.ge == 5
        assert (r.ne, r.s, r.b, r.wdq, r.reading, r.tne) == (None,) * 6
        assert len(r.reasons) == 1 and f"control count is 0 {when}" in r.reasons[0]
        d = r.to_dict()
        plain(d)
        assert d["reasons"] == list(r.reasons)


def test_wdq_without_success_has_no_quotient() -> None:
    r = wdq((50, 100), (100, 150), (100, 100))
    assert r.s == 0.5 and r.b == 0.5 and r.tne == -100
    assert r.wdq is None and r.reading is None
    assert r.reasons == (
        "the success measure is not below 0: the response area did not improve relative "
        "to the control, so the WDQ has no meaning.",
    )


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (1.5, 0),
        (1 + 1e-6, 0),
        (1.0, 1),
        (1 + 1e-12, 1),
        (0.3, 1),
        (0.0, 2),
        (-1e-13, 2),
        (-0.3, 3),
        (-1.0, 3),
        (-1 - 1e-6, 4),
        (-7.0, 4),
    ],
)
def test_wdq_reading_bands_and_boundaries(value: float, band: int) -> None:
    assert wdq_reading(value) == WDQ_READINGS[band]


def test_wdq_readings_in_use() -> None:
    # S = -0.5 in each; the buffer sets the band.
    assert wdq((100, 50), (100, 20), (100, 100)).reading == WDQ_READINGS[0]  # B -0.8
    assert wdq((100, 50), (100, 50), (100, 100)).reading == WDQ_READINGS[1]  # B -0.5, WDQ 1
    assert wdq((100, 50), (100, 100), (100, 100)).reading == WDQ_READINGS[2]  # B 0
    assert wdq((100, 50), (100, 120), (100, 100)).reading == WDQ_READINGS[3]  # B 0.2
    assert wdq((100, 50), (100, 190), (100, 100)).reading == WDQ_READINGS[4]  # B 0.9


@settings(max_examples=200, deadline=None)
@given(r=pair, d=pair, c=st.tuples(st.integers(1, 5_000), st.integers(1, 5_000)))
def test_wdq_identities(r: tuple[int, int], d: tuple[int, int], c: tuple[int, int]) -> None:
    res = wdq(r, d, c)
    assert res.ne is not None and res.s is not None and res.b is not None
    assert res.tne is not None
    assert res.ne == pytest.approx(-res.s, abs=1e-12)
    # TNE = Ca (NE - B): the response's and the buffer's falls, scaled to the after window.
    assert res.tne == pytest.approx(c[1] * (res.ne - res.b), rel=1e-9, abs=1e-6)
    if res.s < 0:
        assert res.wdq == pytest.approx(res.b / res.s)
        assert res.reasons == ()
    else:
        assert res.wdq is None and len(res.reasons) == 1
    plain(res.to_dict())


def test_wdq_refuses_bad_counts() -> None:
    with pytest.raises(ValidationError, match="`buffer` after count"):
        wdq((1, 2), (3, -4), (5, 6))
    with pytest.raises(ValidationError, match="`response` must be a"):
        wdq((1,), (3, 4), (5, 6))
    with pytest.raises(ValidationError, match="`value` must be a finite number"):
        wdq_reading(float("nan"))


# --- E-test ----------------------------------------------------------------------------


def test_e_test_reproduces_the_paper() -> None:
    assert round(e_test(0, 3), 4) == 0.0884
    assert round(e_test(6, 2), 4) == 0.1749
    # ptools README prints seven digits of the second.
    assert_printed(e_test(6, 2), "0.1748748")
    assert e_test(2, 6) == e_test(6, 2)
    assert e_test(3, 0) == e_test(0, 3)


def brute_force_e_test(k1: int, k2: int, n1: int, n2: int, d: int, top: int) -> float:
    """The E-test summed over every pair up to ``top``, extremes judged in exact fractions."""

    def t_squared(x1: int, x2: int) -> Fraction | None:
        diff = Fraction(x1, n1) - Fraction(x2, n2) - d
        var = Fraction(x1, n1 * n1) + Fraction(x2, n2 * n2)
        if var == 0:
            return None if diff == 0 else Fraction(10**30)
        return diff * diff / var

    lam = max(Fraction(0), Fraction(k1 + k2, n1 + n2) - Fraction(d * n1, n1 + n2))
    mean1, mean2 = float(n1 * (lam + d)), float(n2 * lam)
    observed = t_squared(k1, k2)
    assert observed is not None
    total = 0.0
    for x1 in range(top + 1):
        for x2 in range(top + 1):
            t2 = t_squared(x1, x2)
            if t2 is not None and t2 >= observed:
                total += stats.poisson.pmf(x1, mean1) * stats.poisson.pmf(x2, mean2)
    return total


@pytest.mark.parametrize(
    ("k1", "k2", "n1", "n2", "d"),
    [
        (0, 3, 1, 1, 0),
        (6, 2, 1, 1, 0),
        (9, 3, 1, 1, 0),  # ties with (3, 0), (3, 9), (18, 9): counted as extreme
        (4, 11, 1, 1, 0),
        (12, 3, 2, 1, 0),
        (5, 9, 3, 2, 0),
        (30, 10, 1, 1, 5),
        (3, 1, 1, 1, 1),
        (1, 0, 1, 1, 10),  # the null mean of the second sample is clamped at 0
    ],
)
def test_e_test_matches_a_brute_force_sum(k1: int, k2: int, n1: int, n2: int, d: int) -> None:
    expected = brute_force_e_test(k1, k2, n1, n2, d, top=80)
    assert e_test(k1, k2, n1, n2, d) == pytest.approx(expected, abs=2e-10)


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "d"),
    [(0, 1, 3, 1, 0), (6, 1, 2, 1, 0), (12, 2, 3, 1, 0), (30, 1, 10, 1, 5), (250, 4, 90, 1, 0)],
)
def test_e_test_agrees_with_scipy_where_there_are_no_ties(
    k1: int, n1: float, k2: int, n2: float, d: float
) -> None:
    expected = stats.poisson_means_test(k1, n1, k2, n2, diff=d).pvalue
    assert e_test(k1, k2, n1, n2, d) == pytest.approx(expected, abs=2e-10)


@settings(max_examples=150, deadline=None)
@given(k1=st.integers(0, 400), k2=st.integers(0, 400), n=st.floats(0.1, 50))
def test_e_test_is_symmetric_and_a_probability(k1: int, k2: int, n: float) -> None:
    if k1 == k2 == 0:
        return
    p = e_test(k1, k2)
    assert 0 <= p <= 1
    assert e_test(k2, k1) == p
    # Equal exposures do not change the test (only the rates' unit).
    assert e_test(k1, k2, n, n) == pytest.approx(p, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    k1=st.integers(0, 200),
    k2=st.integers(0, 200),
    n1=st.floats(0.5, 5),
    n2=st.floats(0.5, 5),
    d=st.floats(0.01, 20),
)
def test_e_test_negative_d_is_the_swapped_test(
    k1: int, k2: int, n1: float, n2: float, d: float
) -> None:
    if k1 == k2 == 0:
        return
    assert e_test(k1, k2, n1, n2, -d) == e_test(k2, k1, n2, n1, d)


def test_e_test_equal_counts_are_not_significant() -> None:
    # The pair (0, 0) has no statistic (0/0) and is left out, as in ptools and SciPy.
    assert e_test(5, 5) == pytest.approx(1 - math.exp(-10), abs=1e-10)


def test_e_test_is_fast_for_counts_of_thousands() -> None:
    start = time.perf_counter()
    p = e_test(3000, 3100)
    q = e_test(5000, 4800, 2, 2)
    assert time.perf_counter() - start < 5
    # Large counts: close to the normal approximation of the same statistic.
    z = 100 / math.sqrt(6100)
    assert p == pytest.approx(2 * stats.norm.sf(z), abs=2e-3)
    assert q == pytest.approx(2 * stats.norm.sf(200 / math.sqrt(9800)), abs=2e-3)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((0, 0), "`k1` and `k2` are both 0"),
        ((3, -2), "`k2` must be a finite number >= 0"),
        ((-1, 2), "`k1` must be a finite number >= 0"),
        ((2.5, 2), "`k1` must be a whole number"),
        ((float("nan"), 2), "`k1` must be a finite number"),
        ((3, 3, 1, -1), "`n2` must be > 0"),
        ((3, 3, 0, 1), "`n1` must be > 0"),
        ((3, 3, 1, math.inf), "`n2` must be a finite number"),
        ((3, 3, 1, 1, float("nan")), "`d` must be a finite number"),
    ],
)
def test_e_test_refuses_undefined_input(args: tuple[float, ...], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        e_test(*args)
    assert words in str(err.value)


# --- minimum detectable effect ---------------------------------------------------------


def test_mde_by_hand() -> None:
    assert_printed(mde(25), "12.8155")  # z(0.9) = 1.28155 x sqrt(100)
    assert_printed(mde(25, buffer=True), "18.1239")  # 1.28155 x sqrt(200)
    assert_printed(mde(100, alpha=0.05), "32.8971")  # 1.64485 x sqrt(400)
    assert mde(0) == 0
    assert mde(9, buffer=True) == pytest.approx(math.sqrt(2) * mde(9))


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        ((-1,), {}, "`mu` must be a finite number >= 0"),
        ((float("inf"),), {}, "`mu` must be a finite number"),
        ((10,), {"alpha": 0}, "`alpha` must be in (0, 1)"),
        ((10,), {"alpha": 1.5}, "`alpha` must be in (0, 1)"),
    ],
)
def test_mde_refuses_bad_input(args: tuple[float], kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as err:
        mde(*args, **kwargs)
    assert words in str(err.value)


# --- overdispersion --------------------------------------------------------------------


def test_overdispersion_by_hand() -> None:
    # Block 1: mean 3, Pearson (9 + 9 + 0) / 3 = 6; block 2 has no counts (left out);
    # block 3: mean 1, Pearson 0. N = 6 cells, B = 2 blocks: phi = 6 / 4.
    d = overdispersion([[0, 6, 3], [0, 0, 0], [1, 1, 1]])
    assert isinstance(d, Dispersion)
    assert d.phi_raw == 1.5 and d.phi == 1.5
    assert (d.df, d.blocks, d.blocks_used, d.weeks, d.reason) == (4, 3, 2, 3, None)
    # Underdispersed: phi_raw 0.5 is reported, phi stays 1.
    # Blocks: mean 2, Pearson (1 + 1) / 2 = 1; mean 2, Pearson 0. df = 4 - 2.
    u = overdispersion(np.array([[1, 3], [2, 2]]))
    assert u.phi_raw == 0.5 and u.phi == 1.0
    plain(u.to_dict())


def _pearson_sd(mean: np.ndarray, var: float | np.ndarray, mu4: float | np.ndarray, weeks: int):
    """Sampling sd of Pearson's phi: each cell's (y - m)^2 / m has variance (mu4 - var^2) / m^2."""
    b = mean.size
    per_cell = (mu4 - var**2) / mean**2
    return float(np.sqrt(np.sum(per_cell * weeks)) / (b * weeks - b))


def test_overdispersion_of_poisson_counts_is_near_one() -> None:
    rng = np.random.default_rng(20240601)
    blocks, weeks = 200, 26
    mean = rng.uniform(2, 10, blocks)
    y = rng.poisson(mean[:, None], (blocks, weeks))
    d = overdispersion(y)
    # Poisson: var = mu, fourth central moment mu + 3 mu^2, so each cell's term has
    # variance 2 + 1/mu (chi-square like, sd of phi about sqrt(2.2 / 5000) = 0.021).
    sd = _pearson_sd(mean, mean, mean + 3 * mean**2, weeks)
    assert d.df == blocks * (weeks - 1)
    assert d.phi_raw is not None and abs(d.phi_raw - 1) < 4 * sd


def test_overdispersion_of_negative_binomial_counts_is_one_plus_mean_over_size() -> None:
    rng = np.random.default_rng(7)
    blocks, weeks, size, mu = 300, 52, 5.0, 5.0
    p = size / (size + mu)
    y = rng.negative_binomial(size, p, (blocks, weeks))
    d = overdispersion(y)
    expected = 1 + mu / size  # var = mu + mu^2 / size = 10, phi = 2
    var, kurt = stats.nbinom.stats(size, p, moments="vk")
    mu4 = (float(kurt) + 3) * float(var) ** 2
    sd = _pearson_sd(np.full(blocks, mu), float(var), mu4, weeks)
    assert d.phi_raw is not None and abs(d.phi_raw - expected) < 4 * sd
    assert d.phi == d.phi_raw


def test_overdispersion_that_cannot_be_estimated_is_one_with_reason() -> None:
    for y, why in (
        (np.zeros((4, 10)), "no block has a count"),
        (np.zeros((0, 10)), "no block has a count"),
        (np.zeros((3, 0)), "no block has a count"),
        ([[3], [5]], "one week"),
    ):
        d = overdispersion(y)
        assert d.phi == 1 and d.phi_raw is None and d.df == 0
        assert d.reason is not None and why in d.reason and "phi = 1" in d.reason
        plain(d.to_dict())


@pytest.mark.parametrize(
    ("counts", "words"),
    [
        ([1, 2, 3], "two-dimensional"),
        ([[1, -2], [3, 4]], "finite and >= 0"),
        ([[1, float("nan")]], "finite and >= 0"),
        ([["a", "b"]], "must be numbers"),
    ],
)
def test_overdispersion_refuses_bad_input(counts: object, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        overdispersion(counts)  # type: ignore[arg-type]
    assert words in str(err.value)


def test_change_dispersion_by_hand() -> None:
    # Three blocks: (before, after) = (4, 0), (0, 4), (2, 2); pooled p = 6/12 = 0.5.
    r = change_dispersion([4, 0, 2], [0, 4, 2])
    # sum (a - n p)^2 = 4 + 4 + 0 = 8; sum n p q = 3; sum n (n - 1) p q = 3 * 12 * 0.25 = 9.
    assert r.share_after == 0.5
    assert r.rho == pytest.approx((8 - 3) / 9)
    assert r.blocks_used == 3 and r.reason is None
    assert float(r.factor(10)) == pytest.approx(1 + 9 * 5 / 9)
    # A union of independent blocks: the count-weighted mean of their factors.
    want = (2 * (1 + 1 * 5 / 9) + 6 * (1 + 5 * 5 / 9)) / 8
    assert r.union_factor([2, 6]) == pytest.approx(want)
    assert r.union_factor([0, 0]) == 1.0


def test_change_dispersion_of_binomial_splits_is_near_zero_and_of_beta_binomial_near_rho() -> None:
    rng = np.random.default_rng(4)
    n = rng.integers(2, 40, size=4000)
    a = rng.binomial(n, 0.4)
    assert change_dispersion(n - a, a).rho < 0.01
    # Beta-binomial with intra-class correlation 1 / (alpha + beta + 1) = 0.1.
    rho = 0.1
    s = 1 / rho - 1
    share = rng.beta(0.4 * s, 0.6 * s, size=n.size)
    b = rng.binomial(n, share)
    est = change_dispersion(n - b, b).rho
    assert abs(est - rho) < 0.02, est


def test_change_dispersion_refuses_bad_counts_and_says_when_it_cannot_estimate() -> None:
    with pytest.raises(ValidationError, match="one count per block"):
        change_dispersion([1, 2], [1])
    with pytest.raises(ValidationError, match=">= 0"):
        change_dispersion([1, -2], [1, 1])
    assert change_dispersion([0, 0], [0, 0]).reason is not None
    none = change_dispersion([1, 0], [0, 1])
    assert none.rho == 0.0 and none.reason is not None


def test_change_dispersion_against_a_given_share() -> None:
    # Blocks that all rose by half against a control that stayed level: measured against
    # their own pooled share they vary as binomial; against the control's share 0.5 they do not.
    before = np.full(50, 20)
    after = np.full(50, 30)
    assert change_dispersion(before, after).rho == 0.0
    r = change_dispersion(before, after, share=0.5)
    # By hand: each (a - n p)^2 = (30 - 25)^2 = 25, n p q = 12.5, n (n - 1) p q = 612.5.
    assert r.rho == pytest.approx((25 - 12.5) / 612.5)
    with pytest.raises(ValidationError, match="share"):
        change_dispersion(before, after, share=1.0)
