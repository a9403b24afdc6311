"""The one home of the analysis parameters and the lists of methods and layers.

:class:`AnalysisParams` is checked once, where it is made (a command-line
option, a parameter file, the store's accepted parameters), and travels as a
typed, frozen value after that. Every command that analyses (``engage
hotspots``, ``targets``, ``weekly``, ``backtest``, ``tune``) starts from
:data:`DEFAULTS` when it is given no parameters, so all of them show the same
picture by default.

The defaults were chosen by evidence (docs/evidence.md, section 0, "The
defaults"): on the four public police.uk test cases a recency-weighted count
over a year of data (half-life 182 days) at resolution 9 has a hit rate at 1%,
2% and 5% of the area that is not clearly below the 12-month persistence
baseline and is clearly above last month's counts (naive); the KDE settings
tried are clearly below persistence on most cases. On the synthetic
missing-from-home scenarios a year of history keeps the planted venues that
twelve weeks lose.

:class:`ParamsSource` says where a run's parameters came from and what they
were tuned on (layer, category, study area), so a run can print it and a
weekly pack can refuse parameters tuned on other data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from geo.errors import ValidationError
from geo.h3index import check_res

METHODS = ("kde", "dbscan", "count", "gistar")
"""Hotspot methods (``models.hotspots``)."""
LAYERS = ("last_seen", "found", "venues", "incidents", "all")
"""Which events an analysis reads; ``all`` is the MFH and intelligence layers together."""
MFH_LAYERS = ("last_seen", "found", "venues", "all")
"""Layers of missing-from-home episodes and intelligence (the weekly pack's)."""

WEEKS_PER_MONTH = 365.25 / 12 / 7
"""Weeks in an average month: converts a lookback in weeks to monthly backtest periods."""


@dataclass(frozen=True)
class AnalysisParams:
    """Everything an analysis run depends on; written to run.json and params.json.

    Distances in metres, times in days or weeks.

    Parameters
    ----------
    method
        One of :data:`METHODS`.
    res
        H3 resolution of the analysis cells (7-11).
    bandwidth_m
        KDE bandwidth in metres; ``None``: the spatial rule of thumb.
    bin_res
        How the KDE bins points: ``"square"`` (square bins of a tenth of the
        bandwidth, within 1e-3 of the exact KDE) or an H3 resolution (11, 12).
    half_life_days
        Recency half-life: an event this many days old weighs half.
    found_weight
        Weight of a found location against a last-seen location (1).
    lookback_weeks
        Weeks of data before the patrol week (or the forecast origin) that the
        analysis reads. The one unit of the lookback everywhere: a monthly
        backtest trains on :func:`lookback_periods` whole months of it.
    eps_m, min_samples
        DBSCAN radius in metres (``None``: from the k-distance knee) and
        core-point count.
    top_n
        How many targets.
    """

    method: str = "count"
    res: int = 9
    bandwidth_m: float | None = None
    bin_res: int | str = "square"
    half_life_days: float = 182.0
    found_weight: float = 1.5
    lookback_weeks: int = 52
    eps_m: float | None = None
    min_samples: int = 5
    top_n: int = 15

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            msg = f"`method` must be one of {', '.join(METHODS)}, got {self.method!r}."
            raise ValidationError(msg)
        check_res(self.res, name="res", low=7, high=11)
        _positive(self.bandwidth_m, "bandwidth_m", optional=True, unit="a distance in metres")
        _bin_res(self.bin_res)
        _positive(self.half_life_days, "half_life_days", unit="a number of days")
        _positive(self.found_weight, "found_weight", unit="a weight such as 1.5")
        _positive(self.eps_m, "eps_m", optional=True, unit="a distance in metres")
        _whole(self.lookback_weeks, "lookback_weeks", 1, 520)
        _whole(self.min_samples, "min_samples", 1, 10_000)
        _whole(self.top_n, "top_n", 1, 1_000)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def replace(self, **changes: Any) -> AnalysisParams:
        """A copy with ``changes`` (``None`` values ignored), checked again."""
        chosen = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **chosen) if chosen else self

    @classmethod
    def from_mapping(cls, values: Any, *, source: str = "parameters") -> AnalysisParams:
        """Parameters from a mapping (a parameter file's ``parameters``), checked.

        Unknown names are refused, naming ``source``. ``suppress_below``, which
        older files carry, is a disclosure setting now (``--k``) and is ignored.
        """
        if not isinstance(values, dict):
            msg = f"{source}: `parameters` must be a mapping of names to values."
            raise ValidationError(msg)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k not in LEGACY_KEYS}
        unknown = sorted(set(values) - known)
        if unknown:
            msg = f"{source}: unknown parameters {unknown}; expected some of {sorted(known)}."
            raise ValidationError(msg)
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            msg = f"{source}: {exc}"
            raise ValidationError(msg) from None


LEGACY_KEYS = frozenset({"suppress_below"})
"""Names older parameter files carry that are no longer analysis parameters."""


def _positive(value: Any, name: str, *, unit: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    if not ok or value != value or value == float("inf"):
        msg = f"`{name}` must be > 0, got {value!r}. Pass {unit}."
        raise ValidationError(msg)


def _bin_res(value: Any) -> None:
    if value == "square":
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 12:
        msg = f'`bin_res` must be "square" or a whole number from 0 to 12, got {value!r}.'
        raise ValidationError(msg)


def _whole(value: Any, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        msg = f"`{name}` must be a whole number from {low} to {high}, got {value!r}."
        raise ValidationError(msg)


DEFAULTS = AnalysisParams()
"""The parameters of every analysis given none (see the module docstring)."""


def lookback_periods(lookback_weeks: int, horizon: str) -> int:
    """Whole backtest periods (weeks, or months) of a lookback given in weeks.

    ``52`` weeks is 52 weekly periods or 12 monthly ones; a month is
    :data:`WEEKS_PER_MONTH` weeks, rounded to the nearest whole month (at least 1).
    """
    if horizon == "week":
        return lookback_weeks
    return max(1, round(lookback_weeks / WEEKS_PER_MONTH))


def lookback_text(lookback_weeks: int) -> str:
    """``"52 weeks"``."""
    return f"{lookback_weeks} week{'s' if lookback_weeks != 1 else ''}"


@dataclass(frozen=True)
class TunedOn:
    """The data parameters were tuned on: a parameter file records it."""

    layer: str | None = None
    category: str | None = None
    study_area: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def text(self) -> str:
        parts = [
            f"layer {self.layer}" if self.layer else "",
            f"category {self.category!r}" if self.category else "",
            f"study area {self.study_area}" if self.study_area else "",
        ]
        return ", ".join(p for p in parts if p) or "unrecorded data"


@dataclass(frozen=True)
class ParamsSource:
    """A run's parameters and where they came from.

    ``origin`` is ``defaults``, ``accepted`` (the store's accepted
    parameters) or ``file`` (``--params``); ``path`` names the file;
    ``tuned_on`` what they were tuned on (None for the defaults);
    ``overrides`` the options given on the command line on top.
    """

    params: AnalysisParams
    origin: str = "defaults"
    path: str | None = None
    tuned_on: TunedOn | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> ParamsSource:
        """The same source with command-line ``changes`` (``None`` ignored) applied."""
        chosen = {k: v for k, v in changes.items() if v is not None}
        if not chosen:
            return self
        return dataclasses.replace(
            self, params=self.params.replace(**chosen), overrides={**self.overrides, **chosen}
        )

    def describe(self) -> str:
        """One line: which parameters a run used and where they came from."""
        p = self.params
        what = [p.method, f"res {p.res}"]
        if p.method == "kde":
            what.append(
                "rule bandwidth" if p.bandwidth_m is None else f"bandwidth {p.bandwidth_m:g} m"
            )
        if p.method == "dbscan":
            what.append("eps from the knee" if p.eps_m is None else f"eps {p.eps_m:g} m")
        what += [
            f"half-life {p.half_life_days:g} days",
            f"lookback {lookback_text(p.lookback_weeks)}",
        ]
        where = {
            "defaults": "the defaults (docs/evidence.md)",
            "accepted": "the store's accepted parameters",
            "file": f"{self.path}",
        }.get(self.origin, self.origin)
        line = f"parameters: {', '.join(what)}; from {where}"
        if self.tuned_on is not None:
            line += f", tuned on {self.tuned_on.text()}"
        if self.overrides:
            line += "; options: " + ", ".join(f"{k}={v}" for k, v in self.overrides.items())
        return line

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "path": self.path,
            "tuned_on": None if self.tuned_on is None else self.tuned_on.as_dict(),
            "overrides": dict(self.overrides),
        }


DEFAULT_SOURCE = ParamsSource(DEFAULTS)
