"""Displacement: the partnership review of a disrupted place.

A partnership meeting asks of a disruption: did the problem fall there, move
next door, or spread? The measures here answer from before/after counts in
four areas, with the notation of the review sources:

* ``T`` (or ``R``) the treated (response) area, ``Ct`` (or ``C``) its
  control, ``D`` the buffer (displacement) area around the treated area and
  ``Cd`` the buffer's control; each count is a (before, after) pair, the
  disruption's own week belonging to neither window.

Functions:

* :func:`wdd`: the weighted displacement difference test (Wheeler and
  Ratcliffe 2018, Crime Science 7:11), with ptools' time and area weights
  and an overdispersion factor ``phi`` on the Poisson variance;
* :func:`wdd_harm`: several WDD estimates pooled as a harm-weighted sum
  (ptools ``wdd_harm``);
* :func:`wdq`: the weighted displacement quotient family, GE, NE, S, B, WDQ
  and TNE (Bowers and Johnson 2003, J. Quant. Criminol. 19:275-301), with its
  published reading;
* :func:`e_test`: the E-test for two Poisson rates (Krishnamoorthy and
  Thomson 2004, J. Stat. Plan. Inference 119:23-35), for counts too small
  for the normal approximation;
* :func:`mde`: the minimum detectable effect of a before/after count;
* :func:`overdispersion`: the factor ``phi`` estimated from pre-period weekly
  counts of candidate blocks.

Every function is pure (no files, settings or databases) and returns a frozen
result whose ``to_dict()`` holds plain floats, ints, strings and None: a
value that has no meaning for the data at hand is None with the reason
beside it, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from geo.errors import ValidationError

FloatArray = npt.NDArray[np.float64]

DEFAULT_ALPHA = 0.1
"""Default alpha: a 90% interval, as ptools ``wdd()``."""

SMALL_COUNT = 5
"""Counts below this make the normal approximation of the WDD rough; the E-test
is the better test for one pair of small counts (REVIEW.md)."""

ZERO_VARIANCE_NOTE = (
    "every count is zero, so there is no variance and no test: z and p are not given."
)
ZERO_SE_NOTE = "every standard error is zero, so there is no test: z and p are not given."

E_TEST_TAIL = 2.5e-11
"""Probability left out of each tail of each Poisson in :func:`e_test`; the four
tails together leave out less than 1e-10 of the probability."""

E_TEST_RTOL = 1e-12
"""Relative slack with which a count pair's statistic counts as at least as
extreme as the observed one, so pairs tied in exact arithmetic are not lost to
float rounding (e.g. (9, 3) and (3, 0) have the same statistic)."""

_E_TEST_CHUNK = 1 << 21
"""Count pairs evaluated at once in :func:`e_test` (bounds memory for large counts)."""

WDQ_TIE = 1e-9
"""A WDQ within this of +1, 0 or -1 reads as that boundary (float rounding of the ratios)."""

WDQ_READINGS = (
    "diffusion of benefit larger than the direct effect",
    "some diffusion of benefit, no larger than the direct effect",
    "no buffer effect: neither displacement nor diffusion of benefit",
    "some displacement, no larger than the direct benefit",
    "displacement larger than the direct benefit: a net loss",
)
"""Readings of the WDQ (Bowers and Johnson 2003), from above +1 to below -1;
see :func:`wdq_reading` for the boundaries."""

AREAS = ("control", "treated", "disp_control", "disp_treated")
"""The four areas of :func:`wdd`, in the order of its ``area_weights``."""


# --- checks ----------------------------------------------------------------------------


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(
        x, bool | np.bool_
    )


def _finite(x: Any, what: str, fix: str) -> float:
    if not _is_number(x) or not math.isfinite(float(x)):
        msg = f"{what} must be a finite number, got {x!r}. {fix}"
        raise ValidationError(msg)
    return float(x)


def _count(x: Any, what: str) -> float:
    value = _finite(x, what, "Pass the number of events in the window.")
    if value < 0:
        msg = f"{what} must be a finite number >= 0, got {x!r}. Pass the number of events."
        raise ValidationError(msg)
    return value


def _positive(x: Any, what: str, fix: str) -> float:
    value = _finite(x, what, fix)
    if value <= 0:
        msg = f"{what} must be > 0, got {x!r}. {fix}"
        raise ValidationError(msg)
    return value


def _items(x: Any, name: str, n: int, what: str) -> tuple[Any, ...]:
    """The ``n`` items of a sequence (tuple, list, array), or a ValidationError."""
    try:
        ok = not isinstance(x, str | bytes | dict) and len(x) == n
        items = tuple(x[i] for i in range(n)) if ok else ()
    except (TypeError, KeyError, IndexError):
        ok = False
    if not ok:
        msg = f"`{name}` must be {what}, got {x!r}."
        raise ValidationError(msg)
    return items


def _pair(x: Any, name: str) -> tuple[Any, Any]:
    """A (before, after) pair: any sequence of length 2 (tuple, list, array)."""
    before, after = _items(x, name, 2, "a (before, after) pair of two numbers")
    return before, after


def _counts(x: Any, name: str) -> tuple[float, float]:
    before, after = _pair(x, name)
    return _count(before, f"`{name}` before count"), _count(after, f"`{name}` after count")


def _alpha(alpha: Any) -> float:
    ok = _is_number(alpha) and math.isfinite(float(alpha)) and 0 < float(alpha) < 1
    if not ok:
        msg = f"`alpha` must be in (0, 1), got {alpha!r}. Pass e.g. 0.1 for a 90% interval."
        raise ValidationError(msg)
    return float(alpha)


def _plain(value: Any) -> Any:
    """Tuples as lists, so ``to_dict()`` output is plain (JSON-ready)."""
    return list(value) if isinstance(value, tuple) else value


# --- WDD -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WDDResult:
    """The weighted displacement difference of one disruption (see :func:`wdd`).

    Estimates are differences in counts (per unit of the weights); **negative
    means events prevented**. ``z`` and ``p`` are None when the total
    variance is zero (every count zero), with ``note`` saying so.
    """

    est_local: float
    """Treated minus control change: ``(T1 - T0) - (Ct1 - Ct0)``."""
    se_local: float
    est_displace: float
    """Buffer minus buffer-control change: ``(D1 - D0) - (Cd1 - Cd0)``."""
    se_displace: float
    est_total: float
    """The WDD: ``est_local + est_displace``."""
    se_total: float
    z: float | None
    """``est_total / se_total``."""
    p: float | None
    """Two-sided p-value of ``z`` from the standard normal."""
    low: float
    """Lower end of the (1 - alpha) interval of ``est_total``."""
    high: float
    alpha: float
    phi: float
    """Overdispersion factor applied to every variance (1 = Poisson); the largest of
    the four when they were given per area."""
    note: str | None
    """Why z and p are absent, or why they are rough (small counts); None otherwise."""
    phis: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    """The factor applied to each area's variance: control, treated, disp_control, disp_treated."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values (floats, strings and None), in field order."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def _interval(est: float, se: float, alpha: float) -> tuple[float, float]:
    level = float(stats.norm.ppf(1.0 - alpha / 2.0))
    return est - level * se, est + level * se


def _z_and_p(est: float, se: float) -> tuple[float | None, float | None]:
    if se == 0:
        return None, None
    z = est / se
    return z, float(2.0 * stats.norm.sf(abs(z)))


def wdd(
    control: Sequence[float],
    treated: Sequence[float],
    disp_control: Sequence[float] = (0, 0),
    disp_treated: Sequence[float] = (0, 0),
    *,
    time_weights: Sequence[float] = (1, 1),
    area_weights: Sequence[float] = (1, 1, 1, 1),
    alpha: float = DEFAULT_ALPHA,
    phi: float | Sequence[float] = 1.0,
) -> WDDResult:
    """Weighted displacement difference test (Wheeler and Ratcliffe 2018).

    ``WDD = dT - dCt + dD - dCd``, each ``d`` the after count minus the before
    count of one area. Counts are taken as independent Poisson, so the
    variance of the WDD is the sum of the eight counts. With weights (ptools'
    extension for windows of unequal length or areas of unequal size) each
    count is divided by its time weight times its area weight, and its
    variance by the square of that product, so the estimate reads as a change
    per unit of time and area. ``phi`` multiplies every variance (standard
    errors by ``sqrt(phi)``): counts are usually overdispersed, and
    :func:`overdispersion` estimates ``phi`` from the pre-period.

    ``z = est_total / se_total``; ``p`` is two-sided from the standard
    normal; the interval is ``est_total -/+ z(1 - alpha/2) se_total``, as
    ptools and the published values. The arguments follow ptools'
    ``wdd(control, treated, disp_control, disp_treated, time_weights,
    area_weights, alpha)``, and so do the result's estimates.

    Parameters
    ----------
    control, treated
        (before, after) counts of the control and treated areas; finite, >= 0.
    disp_control, disp_treated
        (before, after) counts of the buffer's control and of the buffer
        (displacement) area; default (0, 0), no buffer.
    time_weights
        (before, after) window lengths, each > 0; default (1, 1).
    area_weights
        Area sizes in the order control, treated, disp_control,
        disp_treated, each > 0; default all 1.
    alpha
        The interval is (1 - alpha), alpha in (0, 1); default 0.1 (90%).
    phi
        Overdispersion factor, > 0 (1 = Poisson, the default); or four
        factors, one per area in the order of ``area_weights``, where the
        areas' counts are overdispersed to different degrees (a large area
        pooled from independent blocks less than one place).

    Returns
    -------
    WDDResult
        When every count is zero the variance is zero: estimates and standard
        errors are 0, the interval (0, 0), ``z`` and ``p`` None, and ``note``
        says there is no test. When a count in use is below
        :data:`SMALL_COUNT`, ``note`` says the normal approximation is rough.

    Raises
    ------
    ValidationError
        A pair that is not two numbers, a negative or non-finite count, a
        weight or ``phi`` not > 0, ``alpha`` outside (0, 1).
    """
    pairs = {
        name: _counts(value, name)
        for name, value in zip(AREAS, (control, treated, disp_control, disp_treated), strict=True)
    }
    t_before, t_after = _pair(time_weights, "time_weights")
    tw = (
        _positive(t_before, "`time_weights` before weight", "Pass the window lengths."),
        _positive(t_after, "`time_weights` after weight", "Pass the window lengths."),
    )
    area_w = _items(
        area_weights,
        "area_weights",
        len(AREAS),
        "four numbers (control, treated, disp_control, disp_treated)",
    )
    aw = {
        name: _positive(w, f"`area_weights` {name} weight", "Pass the area sizes.")
        for name, w in zip(AREAS, area_w, strict=True)
    }
    a = _alpha(alpha)
    fix = "Pass 1 for Poisson counts, or the estimated factor."
    if isinstance(phi, int | float) and not isinstance(phi, bool):
        one = _positive(phi, "`phi`", fix)
        phis = dict.fromkeys(AREAS, one)
    else:
        given = _items(phi, "phi", len(AREAS), "one number, or four (one per area)")
        phis = {
            name: _positive(f, f"`phi` {name} factor", fix)
            for name, f in zip(AREAS, given, strict=True)
        }

    # Change of each area (after - before, per unit weight) and its variance.
    change: dict[str, float] = {}
    var: dict[str, float] = {}
    for name, (before, after) in pairs.items():
        w0, w1 = tw[0] * aw[name], tw[1] * aw[name]
        change[name] = after / w1 - before / w0
        var[name] = phis[name] * (after / w1**2 + before / w0**2)

    est_local = change["treated"] - change["control"]
    est_displace = change["disp_treated"] - change["disp_control"]
    var_local = var["treated"] + var["control"]
    var_displace = var["disp_treated"] + var["disp_control"]
    est_total = est_local + est_displace
    se_total = math.sqrt(var_local + var_displace)
    z, p = _z_and_p(est_total, se_total)
    low, high = _interval(est_total, se_total, a)
    return WDDResult(
        est_local=est_local,
        se_local=math.sqrt(var_local),
        est_displace=est_displace,
        se_displace=math.sqrt(var_displace),
        est_total=est_total,
        se_total=se_total,
        z=z,
        p=p,
        low=low,
        high=high,
        alpha=a,
        phi=max(phis.values()),
        note=ZERO_VARIANCE_NOTE if se_total == 0 else _small_count_note(pairs),
        phis=(phis["control"], phis["treated"], phis["disp_control"], phis["disp_treated"]),
    )


def _small_count_note(pairs: dict[str, tuple[float, float]]) -> str | None:
    """Which counts in use are below :data:`SMALL_COUNT` (the buffer pairs are in use
    when either holds a count)."""
    used = ["control", "treated"]
    if any(pairs["disp_control"]) or any(pairs["disp_treated"]):
        used += ["disp_control", "disp_treated"]
    small = [
        f"{name} {when} {value:g}"
        for name in used
        for when, value in zip(("before", "after"), pairs[name], strict=True)
        if value < SMALL_COUNT
    ]
    if not small:
        return None
    return (
        f"counts below {SMALL_COUNT} ({', '.join(small)}): the normal approximation behind "
        "z, p and the interval is rough; for one pair of small counts use the E-test."
    )


# --- harm-weighted pooling -------------------------------------------------------------


@dataclass(frozen=True)
class HarmResult:
    """Several WDD estimates pooled as a harm-weighted sum (see :func:`wdd_harm`)."""

    est: float
    """``sum w_i est_i``."""
    se: float
    """``sqrt(sum w_i^2 se_i^2)``."""
    z: float | None
    p: float | None
    """Two-sided p-value of ``z`` from the standard normal."""
    low: float
    high: float
    alpha: float
    note: str | None
    """Why z and p are absent (every standard error zero); None otherwise."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values (floats, strings and None), in field order."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def _vector(x: Any, name: str) -> FloatArray:
    try:
        values = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"`{name}` must be numbers, got {x!r}."
        raise ValidationError(msg) from exc
    if values.ndim != 1 or values.size == 0:
        msg = f"`{name}` must be a non-empty one-dimensional array, got shape {values.shape}."
        raise ValidationError(msg)
    bad = ~np.isfinite(values)
    if bad.any():
        msg = f"`{name}` must hold finite numbers; got {values[bad][:5].tolist()}."
        raise ValidationError(msg)
    return values


def wdd_harm(
    est: npt.ArrayLike,
    se: npt.ArrayLike,
    weight: npt.ArrayLike,
    *,
    alpha: float = DEFAULT_ALPHA,
) -> HarmResult:
    """Harm-weighted sum of several WDD estimates (ptools ``wdd_harm``).

    For several places, or several crime types at one place, each with a WDD
    estimate ``est_i`` (e.g. ``WDDResult.est_total``) and standard error
    ``se_i``: ``HarmEst = sum w_i est_i`` and ``SE = sqrt(sum w_i^2 se_i^2)``
    (the estimates independent). ``z``, the two-sided ``p`` and the
    (1 - alpha) interval are as in :func:`wdd`.

    Parameters
    ----------
    est, se, weight
        One value per place, equal lengths (at least one); finite; ``se`` and
        ``weight`` >= 0.
    alpha
        In (0, 1); default 0.1 (90% interval).

    Returns
    -------
    HarmResult
        When every weighted standard error is zero: ``se`` 0, ``z`` and ``p``
        None, the interval (est, est) and ``note`` saying there is no test.

    Raises
    ------
    ValidationError
        Unequal or empty lengths, non-finite values, a negative ``se`` or
        ``weight``, ``alpha`` outside (0, 1).
    """
    e = _vector(est, "est")
    s = _vector(se, "se")
    w = _vector(weight, "weight")
    if not e.size == s.size == w.size:
        msg = (
            f"`est`, `se` and `weight` must have one value per place, got lengths "
            f"{e.size}, {s.size} and {w.size}."
        )
        raise ValidationError(msg)
    for name, values in (("se", s), ("weight", w)):
        if (values < 0).any():
            msg = f"`{name}` must be >= 0; got {values[values < 0][:5].tolist()}."
            raise ValidationError(msg)
    a = _alpha(alpha)
    total = float(np.sum(w * e))
    total_se = math.sqrt(float(np.sum(w**2 * s**2)))
    z, p = _z_and_p(total, total_se)
    low, high = _interval(total, total_se, a)
    return HarmResult(
        est=total,
        se=total_se,
        z=z,
        p=p,
        low=low,
        high=high,
        alpha=a,
        note=ZERO_SE_NOTE if total_se == 0 else None,
    )


# --- WDQ -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WDQResult:
    """The weighted displacement quotient family of one disruption (see :func:`wdq`).

    Signs are the source's: GE, NE and TNE above 0 mean a fall (events
    prevented); S below 0 means success; B above 0 suggests displacement,
    below 0 diffusion of benefit. A value that is undefined for the counts
    is None, and ``reasons`` says why.
    """

    ge: float
    """Gross effect ``Rb - Ra``."""
    ne: float | None
    """Net effect ``Rb/Cb - Ra/Ca``."""
    s: float | None
    """Success measure ``Ra/Ca - Rb/Cb`` (the WDQ's denominator)."""
    b: float | None
    """Buffer displacement measure ``Da/Ca - Db/Cb`` (the WDQ's numerator)."""
    wdq: float | None
    """``B / S``, defined only when ``S < 0``."""
    reading: str | None
    """The published reading of ``wdq`` (one of :data:`WDQ_READINGS`)."""
    tne: float | None
    """Total net effect ``[Rb (Ca/Cb) - Ra] + [Db (Ca/Cb) - Da]``."""
    reasons: tuple[str, ...]
    """Why values are None; empty when every value is defined."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values (floats, strings, None; ``reasons`` as a list), in field order."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def wdq_reading(value: float) -> str:
    """The published reading of a WDQ value (Bowers and Johnson 2003).

    Bands, with the boundaries read as follows (a value within
    :data:`WDQ_TIE` of a boundary counts as the boundary):

    * ``WDQ > 1``: diffusion of benefit larger than the direct effect;
    * ``0 < WDQ <= 1``: some diffusion of benefit, no larger than the direct
      effect (at exactly 1 the buffer gained as much as the response area);
    * ``WDQ = 0``: no buffer effect;
    * ``-1 <= WDQ < 0``: some displacement, no larger than the direct benefit
      (at exactly -1 displacement cancels the benefit: the total net effect
      is 0);
    * ``WDQ < -1``: displacement larger than the direct benefit.

    Parameters
    ----------
    value
        A WDQ, finite.
    """
    v = _finite(value, "`value`", "Pass a WDQ computed with a success measure below 0.")
    if abs(v) <= WDQ_TIE:
        return WDQ_READINGS[2]
    if v > 0:
        return WDQ_READINGS[0] if v > 1 + WDQ_TIE else WDQ_READINGS[1]
    return WDQ_READINGS[4] if v < -1 - WDQ_TIE else WDQ_READINGS[3]


def wdq(response: Sequence[float], buffer: Sequence[float], control: Sequence[float]) -> WDQResult:
    """Weighted displacement quotient and its family (Bowers and Johnson 2003).

    With ``R`` the response area, ``D`` the buffer, ``C`` the control, ``b``
    before and ``a`` after (popcenter.org/tools/displacement, pages 10-11):

    * gross effect ``GE = Rb - Ra`` (above 0: a fall);
    * net effect ``NE = Rb/Cb - Ra/Ca`` (above 0: a fall relative to the control);
    * success measure ``S = Ra/Ca - Rb/Cb`` (below 0: success);
    * buffer displacement measure ``B = Da/Ca - Db/Cb`` (above 0 suggests
      displacement, below 0 diffusion of benefit);
    * ``WDQ = B / S``, meaningful only when ``S < 0``, read by
      :func:`wdq_reading`;
    * total net effect ``TNE = [Rb (Ca/Cb) - Ra] + [Db (Ca/Cb) - Da]`` (above
      0: events prevented overall).

    The measures have no standard error; :func:`wdd` is the test.

    Parameters
    ----------
    response, buffer, control
        (before, after) counts of each area; finite, >= 0.

    Returns
    -------
    WDQResult
        ``ge`` always. ``ne``, ``s``, ``b`` and ``tne`` are None when a
        control count is 0 (the ratios divide by it); ``wdq`` and ``reading``
        are None also when ``S`` is not below 0. ``reasons`` gives each cause.

    Raises
    ------
    ValidationError
        A pair that is not two numbers, a negative or non-finite count.
    """
    rb, ra = _counts(response, "response")
    db, da = _counts(buffer, "buffer")
    cb, ca = _counts(control, "control")
    ge = rb - ra
    zero = [when for when, value in (("before", cb), ("after", ca)) if value == 0]
    if zero:
        reason = (
            f"the control count is 0 {' and '.join(zero)}: the ratios Rb/Cb and Ra/Ca "
            "divide by it, so NE, S, B, TNE and the WDQ are undefined; choose a control "
            "with events in both windows."
        )
        return WDQResult(ge, None, None, None, None, None, None, (reason,))
    ne = rb / cb - ra / ca
    s = ra / ca - rb / cb
    b = da / ca - db / cb
    tne = (rb * (ca / cb) - ra) + (db * (ca / cb) - da)
    if not s < 0:
        reason = (
            "the success measure is not below 0: the response area did not improve "
            "relative to the control, so the WDQ has no meaning."
        )
        return WDQResult(ge, ne, s, b, None, None, tne, (reason,))
    quotient = b / s
    return WDQResult(ge, ne, s, b, quotient, wdq_reading(quotient), tne, ())


# --- E-test ----------------------------------------------------------------------------


def _e_statistic(
    x1: FloatArray | float, x2: FloatArray | float, n1: float, n2: float, d: float
) -> Any:
    """|x1/n1 - x2/n2 - d| / sqrt(x1/n1^2 + x2/n2^2) (NaN for 0/0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(x1 / n1 - x2 / n2 - d) / np.sqrt(x1 / n1**2 + x2 / n2**2)


def _whole_count(x: Any, name: str) -> float:
    value = _count(x, f"`{name}`")
    if value != math.floor(value):
        msg = f"`{name}` must be a whole number of events, got {x!r}."
        raise ValidationError(msg)
    return value


def e_test(k1: float, k2: float, n1: float = 1, n2: float = 1, d: float = 0) -> float:
    """Two-sided E-test for the difference of two Poisson rates.

    Krishnamoorthy and Thomson (2004), with the null ``k1/n1 = k2/n2 + d``
    (counts ``k1`` over exposure ``n1`` and ``k2`` over ``n2``). The
    statistic is the standardised difference of the rates,

        T(x1, x2) = (x1/n1 - x2/n2 - d) / sqrt(x1/n1^2 + x2/n2^2)

    (their eq. 3.3, with the variance estimate of eq. 3.2), and the p-value
    is the probability, under Poisson means ``n1 (l + d)`` and ``n2 l`` with
    ``l = (k1 + k2)/(n1 + n2) - d n1/(n1 + n2)`` (eq. 3.4), of every count
    pair ``(x1, x2)`` with ``|T(x1, x2)| >= |T(k1, k2)|`` (eq. 3.5, both
    tails: ptools ``e_test`` and SciPy's ``poisson_means_test`` default
    agree, and the paper's examples ``e_test(0, 3) = 0.0884`` and
    ``e_test(6, 2) = 0.1749`` reproduce). With ``n1 = n2`` the ordering of
    pairs, and so the p-value, is the same as ptools' (which pools the
    variance); with unequal exposures this follows the paper. Ties in exact
    arithmetic count as extreme (see :data:`E_TEST_RTOL`). The pair (0, 0)
    has no statistic when ``d = 0`` (0/0) and is left out, as in ptools and
    SciPy; when ``d != 0`` it is infinitely extreme.

    With ``d = 0`` the test is symmetric: swapping the counts (and their
    exposures) gives the same p-value exactly. A negative ``d`` is the same
    test with the two samples swapped and ``-d``. When ``l`` is negative
    (only possible with ``d != 0``) the null mean of the second sample is
    taken as 0, its smallest possible value.

    The double sum runs over the count pairs between the ``2.5e-11`` and
    ``1 - 2.5e-11`` quantiles of each Poisson (:data:`E_TEST_TAIL`), so the
    probability left out is below ``4 x 2.5e-11 = 1e-10``; it is evaluated on
    that grid at once (in chunks for very large counts), which keeps counts of
    a few thousand fast.

    Parameters
    ----------
    k1, k2
        Observed counts, whole numbers >= 0, not both 0.
    n1, n2
        Exposures (window lengths, areas, ...), > 0; default 1.
    d
        Difference of the rates under the null, finite; default 0.

    Returns
    -------
    float
        The two-sided p-value, in [0, 1].

    Raises
    ------
    ValidationError
        Both counts 0 (the test is undefined), a negative, fractional or
        non-finite count, an exposure not > 0, a non-finite ``d``.
    """
    c1, c2 = _whole_count(k1, "k1"), _whole_count(k2, "k2")
    e1 = _positive(n1, "`n1`", "Pass the exposure of the first count (e.g. weeks).")
    e2 = _positive(n2, "`n2`", "Pass the exposure of the second count (e.g. weeks).")
    diff = _finite(d, "`d`", "Pass the difference of rates under the null (0 for equal rates).")
    if c1 == 0 and c2 == 0:
        msg = "`k1` and `k2` are both 0: the E-test is undefined when neither sample has events."
        raise ValidationError(msg)
    if diff < 0 or (diff == 0 and (c2, e2) < (c1, e1)):
        # The same test with the samples swapped; a fixed order makes the swap exact.
        c1, c2, e1, e2, diff = c2, c1, e2, e1, -diff
    lam = max(0.0, (c1 + c2) / (e1 + e2) - diff * e1 / (e1 + e2))
    mu1, mu2 = e1 * (lam + diff), e2 * lam
    t_obs = float(_e_statistic(c1, c2, e1, e2, diff)) * (1.0 - E_TEST_RTOL)

    lo1, hi1 = stats.poisson.ppf(E_TEST_TAIL, mu1), stats.poisson.isf(E_TEST_TAIL, mu1)
    lo2, hi2 = stats.poisson.ppf(E_TEST_TAIL, mu2), stats.poisson.isf(E_TEST_TAIL, mu2)
    x1 = np.arange(lo1, hi1 + 1, dtype=np.float64)
    x2 = np.arange(lo2, hi2 + 1, dtype=np.float64)
    p1 = stats.poisson.pmf(x1, mu1)
    p2 = stats.poisson.pmf(x2, mu2)
    rows = max(1, _E_TEST_CHUNK // x2.size)
    total = 0.0
    for start in range(0, x1.size, rows):
        block = slice(start, start + rows)
        extreme = _e_statistic(x1[block, None], x2[None, :], e1, e2, diff) >= t_obs
        total += float(p1[block] @ (extreme.astype(np.float64) @ p2))
    return min(1.0, max(0.0, total))


# --- minimum detectable effect ---------------------------------------------------------


def mde(mu: float, *, alpha: float = DEFAULT_ALPHA, buffer: bool = False) -> float:
    """Minimum detectable effect of a before/after count (normal approximation).

    With ``mu`` the expected count per window in each area, the WDD of the
    treated and control areas has variance ``4 mu`` (four counts), and
    ``8 mu`` with a buffer and its control (eight counts), so

        MDE = z(1 - alpha) sqrt(4 mu),  or  z(1 - alpha) sqrt(8 mu) with a buffer:

    the smallest change in counts that a one-sided test at level ``alpha``
    would call significant (no power term: at that change the test detects
    it half the time). A review whose hoped-for effect is below this should
    say so before its p-values are read.

    Parameters
    ----------
    mu
        Expected count per window in each area, finite and >= 0.
    alpha
        One-sided level, in (0, 1); default 0.1.
    buffer
        Whether buffer and buffer-control areas are in the test.

    Returns
    -------
    float
        The MDE in counts (0 when ``mu`` is 0).
    """
    m = _count(mu, "`mu`")
    a = _alpha(alpha)
    counts = 8.0 if buffer else 4.0
    return float(stats.norm.ppf(1.0 - a)) * math.sqrt(counts * m)


# --- overdispersion --------------------------------------------------------------------


@dataclass(frozen=True)
class Dispersion:
    """The overdispersion factor of weekly counts (see :func:`overdispersion`)."""

    phi: float
    """The factor to apply: ``max(1, phi_raw)``, or 1 when it could not be estimated."""
    phi_raw: float | None
    """Pearson's estimate, None when it could not be estimated."""
    df: int
    """Degrees of freedom ``N - B`` (0 when not estimated)."""
    blocks: int
    """Blocks given."""
    blocks_used: int
    """Blocks with a mean above 0 (the others hold no information on the variance)."""
    weeks: int
    reason: str | None
    """Why phi could not be estimated; None when it was."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values (floats, ints, strings and None), in field order."""
        return asdict(self)


def overdispersion(counts: npt.ArrayLike) -> Dispersion:
    """Overdispersion factor ``phi`` from pre-period weekly counts of candidate blocks.

    Each block's mean over the weeks is its expected weekly count (no trend
    within the pre-period), and Pearson's estimate over the blocks with a
    mean above 0 is

        phi_raw = sum_b sum_w (y_bw - m_b)^2 / m_b / (N - B),

    ``N`` their number of cells (blocks x weeks) and ``B`` their number
    (one mean estimated per block), as in the quasi-Poisson model. The factor
    applied is ``phi = max(1, phi_raw)``: the Poisson variance is never
    corrected downwards.

    The WDD tests window totals, while ``phi`` is estimated from weekly
    counts. If ``Var(y_w) = phi E(y_w)`` for each week and the weeks are
    independent, the total of a window has ``Var = phi E(total)``, so the
    same factor carries to the totals (the quasi-Poisson assumption).
    Correlation between weeks, or a trend within the pre-period, breaks this;
    a trend inflates ``phi`` (conservative). Even with the correction the
    WDD's intervals cover less than nominal (Wheeler's placebo studies):
    calibrate on placebo sites.

    Parameters
    ----------
    counts
        Two-dimensional array, one row per block and one column per week;
        finite and >= 0.

    Returns
    -------
    Dispersion
        ``phi = 1`` with ``reason`` when no block has a count or the degrees
        of freedom are below 1 (e.g. a single week).

    Raises
    ------
    ValidationError
        Not two-dimensional, or values non-finite or negative.
    """
    try:
        y = np.asarray(counts, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"`counts` must be numbers (blocks x weeks), got {type(counts).__name__}."
        raise ValidationError(msg) from exc
    if y.ndim != 2:
        msg = (
            f"`counts` must be two-dimensional (one row per block, one column per week), "
            f"got shape {y.shape}."
        )
        raise ValidationError(msg)
    bad = ~np.isfinite(y) | (y < 0)
    if bad.any():
        msg = f"`counts` must be finite and >= 0; got {y[bad][:5].tolist()}."
        raise ValidationError(msg)
    n_blocks, n_weeks = y.shape
    means = y.mean(axis=1) if n_weeks else np.zeros(n_blocks)
    used = means > 0
    b = int(used.sum())
    df = b * n_weeks - b
    if b == 0 or df < 1:
        why = (
            "no block has a count in the pre-period"
            if b == 0
            else "one week is not enough to see variation around each block's mean"
        )
        reason = f"phi could not be estimated ({why}); the Poisson variance is used (phi = 1)."
        return Dispersion(1.0, None, 0, n_blocks, b, n_weeks, reason)
    m = means[used, None]
    pearson = float(np.sum((y[used] - m) ** 2 / m))
    phi_raw = pearson / df
    return Dispersion(max(1.0, phi_raw), phi_raw, df, n_blocks, b, n_weeks, None)


# --- between-window dispersion ---------------------------------------------------------------


@dataclass(frozen=True)
class ChangeDispersion:
    """How much more the before/after split of untreated blocks varies than chance allows.

    See :func:`change_dispersion`. ``rho`` is the intra-block correlation of
    a beta-binomial split; an area with ``n`` events over both windows has
    its variance multiplied by :meth:`factor` ``(n) = 1 + (n - 1) rho``.
    """

    rho: float
    """Method-of-moments estimate, never below 0 (0: the splits vary as binomial)."""
    share_after: float
    """The blocks' pooled share of events in the after window."""
    blocks_used: int
    """Blocks with at least two events over both windows."""
    reason: str | None
    """Why ``rho`` could not be estimated (then 0); None when it was."""

    def factor(self, n: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """The variance factor of areas holding ``n`` events over both windows."""
        total = np.asarray(n, dtype=np.float64)
        return np.asarray(1.0 + np.maximum(total - 1.0, 0.0) * self.rho)

    def union_factor(self, n: npt.ArrayLike) -> float:
        """The factor of a union of independent blocks holding ``n`` events each."""
        total = np.asarray(n, dtype=np.float64)
        if total.sum() <= 0:
            return 1.0
        return float(np.sum(total * self.factor(total)) / total.sum())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def change_dispersion(
    before: npt.ArrayLike, after: npt.ArrayLike, *, share: float | None = None
) -> ChangeDispersion:
    """Between-window overdispersion from the before and after counts of untreated blocks.

    Under the review's null hypothesis an untreated block's events split
    between the windows as the area's do: given its total ``n_i``, its after
    count is binomial with the pooled share ``p``. Places rise and fall for
    reasons of their own (a new takeaway, a family moving), so real splits
    vary more; a beta-binomial with intra-block correlation ``rho`` has
    ``E[(a_i - n_i p)^2] = n_i p (1 - p) (1 + (n_i - 1) rho)``, and the
    method of moments gives

        rho = sum_i [(a_i - n_i p)^2 - n_i p (1 - p)] / sum_i n_i (n_i - 1) p (1 - p)

    over blocks with ``n_i >= 2``, floored at 0. Unlike the weekly ``phi``
    of :func:`overdispersion`, which sees only the noise around a constant
    level inside the before window, ``rho`` sees the level shifts between
    windows that make a quiet place look disrupted, and it grows with the
    area's count, as such shifts do.

    ``share`` (in (0, 1)) replaces the blocks' pooled share ``p`` by a given
    one, such as a control's: ``rho`` then also holds how far places' changes
    stray from that control's, which is what a test against it must allow for.
    """
    b = np.asarray(before, dtype=np.float64).ravel()
    a = np.asarray(after, dtype=np.float64).ravel()
    if b.shape != a.shape:
        msg = f"`before` and `after` must have one count per block; got {b.size} and {a.size}."
        raise ValidationError(msg)
    if (~np.isfinite(b) | (b < 0) | ~np.isfinite(a) | (a < 0)).any():
        raise ValidationError("`before` and `after` counts must be finite and >= 0.")
    n = a + b
    total = float(n.sum())
    if total == 0:
        return ChangeDispersion(0.0, 0.5, 0, "no block holds an event in either window")
    p = float(a.sum() / total)
    if share is not None:
        if not 0 < share < 1:
            msg = f"`share` must be between 0 and 1, got {share!r}."
            raise ValidationError(msg)
        p = float(share)
    used = n >= 2
    if used.sum() < 2 or p in (0.0, 1.0):
        return ChangeDispersion(
            0.0, p, int(used.sum()), "fewer than two blocks with two events, or one window empty"
        )
    q = p * (1 - p)
    num = float(np.sum((a[used] - n[used] * p) ** 2 - n[used] * q))
    den = float(np.sum(n[used] * (n[used] - 1) * q))
    return ChangeDispersion(max(0.0, num / den), p, int(used.sum()), None)
