"""Event weights and distinct counts.

Three things decide how much one located event counts towards a hotspot:

* **recency**: ``0.5 ** (age_days / half_life_days)``, so an event one
  half-life old counts half as much as one on ``as_of``;
* **layer**: found locations may count more than last-seen locations (the
  child was *there*), configurable per layer;
* **grading** (venue reports only): the UK 3x5x2 source evaluation (1-3) times
  intelligence assessment (A-E), from a documented, configurable table.

Weights alone would let one child reported 70 times drown out ten children
seen once, so :func:`distinct_counts` also counts distinct episodes and
distinct children per cell; rankings use those counts beside the weights.

Everything here is vectorised over whole columns; nothing reads files or
settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.errors import ValidationError

FloatArray = npt.NDArray[np.float64]

LAYERS = ("last_seen", "found", "venue_report", "incident")
"""Event layers of the ``events`` frame, in this order everywhere."""

SECONDS_PER_DAY = 86_400.0


def _frozen_weights(
    values: Mapping[str, float], *, name: str, keys: tuple[str, ...]
) -> Mapping[str, float]:
    """Check a table of weights (every key known, present, finite, >= 0) and freeze it."""
    unknown = sorted(set(values) - set(keys))
    missing = [k for k in keys if k not in values]
    if unknown or missing:
        msg = (
            f"`{name}` must have exactly the keys {list(keys)}; "
            f"unknown {unknown}, missing {missing}. Give one weight per key."
        )
        raise ValidationError(msg)
    out: dict[str, float] = {}
    for key in keys:
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            msg = f"`{name}[{key!r}]` must be a finite number >= 0, got {v!r}."
            raise ValidationError(msg)
        out[key] = float(v)
    return MappingProxyType(out)


@dataclass(frozen=True)
class GradingWeights:
    """Weights of the 3x5x2 intelligence grading; a report weighs ``source * assessment``.

    Parameters
    ----------
    source
        Weight of each source evaluation: ``"1"`` reliable, ``"2"`` untested,
        ``"3"`` not reliable. Default 1.0, 0.6, 0.3.
    assessment
        Weight of each intelligence assessment: ``"A"`` known directly to the
        source, ``"B"`` known indirectly but corroborated, ``"C"`` known
        indirectly, ``"D"`` not known, ``"E"`` suspected to be false.
        Default 1.0, 0.8, 0.6, 0.3, 0.0 (a report suspected to be false
        contributes nothing).
    """

    source: Mapping[str, float] = field(
        default_factory=lambda: {"1": 1.0, "2": 0.6, "3": 0.3},
    )
    assessment: Mapping[str, float] = field(
        default_factory=lambda: {"A": 1.0, "B": 0.8, "C": 0.6, "D": 0.3, "E": 0.0},
    )

    def __post_init__(self) -> None:
        source = _frozen_weights(self.source, name="source", keys=("1", "2", "3"))
        assessment = _frozen_weights(
            self.assessment, name="assessment", keys=("A", "B", "C", "D", "E")
        )
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "assessment", assessment)

    def as_dict(self) -> dict[str, dict[str, float]]:
        """Plain dictionaries, for run metadata."""
        return {"source": dict(self.source), "assessment": dict(self.assessment)}


DEFAULT_GRADING_WEIGHTS = GradingWeights()
"""Source 1: 1.0, 2: 0.6, 3: 0.3 times assessment A: 1.0, B: 0.8, C: 0.6, D: 0.3, E: 0.0."""


def _default_layer_weights() -> dict[str, float]:
    return {"last_seen": 1.0, "found": 1.5, "venue_report": 1.0, "incident": 1.0}


@dataclass(frozen=True)
class WeightParams:
    """How events are weighted; every field is reported in run metadata.

    Parameters
    ----------
    half_life_days
        Days after which an event counts half; must be > 0. Default 28.0.
    layer_weights
        Weight of each layer. Default ``last_seen`` 1.0, ``found`` 1.5,
        ``venue_report`` 1.0, ``incident`` 1.0.
    grading
        Weights of venue-report gradings; default :data:`DEFAULT_GRADING_WEIGHTS`.
    """

    half_life_days: float = 28.0
    layer_weights: Mapping[str, float] = field(default_factory=_default_layer_weights)
    grading: GradingWeights = DEFAULT_GRADING_WEIGHTS

    def __post_init__(self) -> None:
        _check_half_life(self.half_life_days)
        layers = _frozen_weights(self.layer_weights, name="layer_weights", keys=LAYERS)
        object.__setattr__(self, "half_life_days", float(self.half_life_days))
        object.__setattr__(self, "layer_weights", layers)
        if not isinstance(self.grading, GradingWeights):
            msg = f"`grading` must be a GradingWeights, got {type(self.grading).__name__}."
            raise ValidationError(msg)

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for run metadata."""
        return {
            "half_life_days": self.half_life_days,
            "layer_weights": dict(self.layer_weights),
            "grading": self.grading.as_dict(),
        }


def _check_half_life(half_life_days: float) -> None:
    ok = isinstance(half_life_days, int | float) and not isinstance(half_life_days, bool)
    if not ok or not math.isfinite(half_life_days) or half_life_days <= 0:
        msg = f"`half_life_days` must be > 0, got {half_life_days!r}. Pass a number of days."
        raise ValidationError(msg)


def _as_utc(as_of: pd.Timestamp | datetime | str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(as_of)
    except (ValueError, TypeError) as exc:
        msg = f"`as_of` must be a timestamp, got {as_of!r}."
        raise ValidationError(msg) from exc
    if ts is pd.NaT or pd.isna(ts):
        msg = "`as_of` must be a timestamp, got NaT."
        raise ValidationError(msg)
    if ts.tzinfo is None:
        msg = f"`as_of` must be timezone-aware, got {ts!r}. Pass e.g. pd.Timestamp(..., tz='UTC')."
        raise ValidationError(msg)
    return ts.tz_convert("UTC")


def recency_weight(
    at: pd.Series | pd.DatetimeIndex | npt.ArrayLike,
    as_of: pd.Timestamp | datetime | str,
    *,
    half_life_days: float,
) -> FloatArray:
    """Exponential recency decay ``0.5 ** (age_days / half_life_days)``.

    Parameters
    ----------
    at
        When each event happened: timezone-aware timestamps (UTC in the
        ``events`` frame).
    as_of
        The analysis date (timezone-aware). An event on ``as_of`` weighs 1.
    half_life_days
        Days after which an event weighs 0.5; must be > 0.

    Returns
    -------
    Weights in (0, 1], one per event. Age is measured in fractional days.

    Raises
    ------
    ValidationError
        If ``half_life_days`` is not > 0, ``as_of`` is naive, a time is
        missing, or any event is after ``as_of`` (an event from the future
        is a data-window mistake, not something to weigh).
    """
    _check_half_life(half_life_days)
    ref = _as_utc(as_of)
    times = pd.DatetimeIndex(pd.Series(at) if not isinstance(at, pd.Series) else at)
    if times.tz is None:
        msg = "`at` must be timezone-aware (UTC); localise the times before weighting."
        raise ValidationError(msg)
    missing = int(np.count_nonzero(times.isna()))
    if missing:
        msg = f"`at` has {missing} missing times; drop or quarantine those events first."
        raise ValidationError(msg)
    age_s = (ref - times.tz_convert("UTC")).total_seconds().to_numpy(dtype=np.float64)
    after = int((age_s < 0).sum())
    if after:
        msg = (
            f"{after} events are after `as_of` ({ref.isoformat()}). "
            "Pass a later `as_of` or keep only events up to it."
        )
        raise ValidationError(msg)
    age_days = age_s / SECONDS_PER_DAY
    return np.asarray(0.5 ** (age_days / float(half_life_days)), dtype=np.float64)


def _lookup(values: pd.Series, table: Mapping[str, float], *, name: str) -> FloatArray:
    mapped = values.map(dict(table))
    bad = values[mapped.isna()]
    if len(bad):
        shown = sorted({repr(v) for v in bad.tolist()})[:5]
        msg = (
            f"`{name}` has {len(bad)} values not in {list(table)}: {', '.join(shown)}. "
            "Grade every venue report (3x5x2) before weighting."
        )
        raise ValidationError(msg)
    return np.asarray(mapped.to_numpy(dtype=np.float64), dtype=np.float64)


def grading_weight(
    source_evaluation: pd.Series | Sequence[str | None] | npt.ArrayLike,
    intelligence_assessment: pd.Series | Sequence[str | None] | npt.ArrayLike,
    *,
    table: GradingWeights = DEFAULT_GRADING_WEIGHTS,
) -> FloatArray:
    """Weight of each graded report: ``table.source[s] * table.assessment[a]``.

    Parameters
    ----------
    source_evaluation
        ``"1"``, ``"2"`` or ``"3"`` per report.
    intelligence_assessment
        ``"A"`` to ``"E"`` per report.
    table
        The weights; default :data:`DEFAULT_GRADING_WEIGHTS`.

    Returns
    -------
    One weight per report, in [0, 1] with the default table.

    Raises
    ------
    ValidationError
        If a grading is missing or unknown, or the two inputs differ in length.
    """
    src = pd.Series(np.asarray(source_evaluation, dtype=object))
    ass = pd.Series(np.asarray(intelligence_assessment, dtype=object))
    if len(src) != len(ass):
        msg = (
            "`source_evaluation` and `intelligence_assessment` must have the same length, "
            f"got {len(src)} and {len(ass)}."
        )
        raise ValidationError(msg)
    w_src = _lookup(src, table.source, name="source_evaluation")
    w_ass = _lookup(ass, table.assessment, name="intelligence_assessment")
    return w_src * w_ass


def _require(frame: pd.DataFrame, columns: tuple[str, ...], *, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        msg = f"`events` lacks columns {missing} needed {what}; columns are {list(frame.columns)}."
        raise ValidationError(msg)


def check_layers(layer: pd.Series) -> None:
    """Refuse layers outside :data:`LAYERS`, naming them."""
    bad = layer[~layer.isin(LAYERS)]
    if len(bad):
        shown = sorted({repr(v) for v in bad.tolist()})[:5]
        msg = f"`layer` has {len(bad)} values not in {list(LAYERS)}: {', '.join(shown)}."
        raise ValidationError(msg)


def base_weights(events: pd.DataFrame) -> FloatArray:
    """The events' own ``weight`` column (finite, >= 0), or ones when absent."""
    if "weight" not in events.columns:
        return np.ones(len(events), dtype=np.float64)
    w = pd.to_numeric(events["weight"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        msg = (
            f"`weight` must be finite and >= 0; {int(bad.sum())} rows are not "
            f"(first: {events['weight'].to_numpy()[bad][0]!r}). Fix or drop the column."
        )
        raise ValidationError(msg)
    return w


def event_weights(
    events: pd.DataFrame,
    as_of: pd.Timestamp | datetime | str,
    params: WeightParams | None = None,
) -> FloatArray:
    """Weight of each event: base × recency × layer × grading.

    Parameters
    ----------
    events
        The events frame (columns ``layer``, ``at``; venue reports also need
        ``source_evaluation`` and ``intelligence_assessment``). An optional
        ``weight`` column is the base weight (ones when absent).
    as_of
        The analysis date, timezone-aware; no event may be after it.
    params
        Half-life, layer weights and grading table; default ``WeightParams()``.

    Returns
    -------
    One non-negative weight per row of ``events``, in row order.
    """
    params = WeightParams() if params is None else params
    _require(events, ("layer", "at"), what="to weigh events")
    layer = events["layer"]
    check_layers(layer)
    w = base_weights(events)
    w = w * recency_weight(events["at"], as_of, half_life_days=params.half_life_days)
    w = w * layer.map(dict(params.layer_weights)).to_numpy(dtype=np.float64)
    is_report = (layer == "venue_report").to_numpy()
    if is_report.any():
        _require(
            events,
            ("source_evaluation", "intelligence_assessment"),
            what="to weigh venue reports",
        )
        w[is_report] *= grading_weight(
            events["source_evaluation"].to_numpy()[is_report],
            events["intelligence_assessment"].to_numpy()[is_report],
            table=params.grading,
        )
    return w


COUNT_COLUMNS = (
    "n",
    "n_episodes",
    "n_children",
    "n_found",
    "n_last_seen",
    "n_reports",
    "n_incidents",
    "weighted",
)
"""Columns of :func:`distinct_counts` (after the group column)."""


def distinct_counts(events: pd.DataFrame, by: str = "h3") -> pd.DataFrame:
    """Events, distinct episodes and distinct children per group.

    One child reported 70 times is one child: ``n_children`` counts distinct
    ``child_ref`` values and ``n_episodes`` distinct ``episode_id`` values, so
    rankings can tell many children from one child many times.

    Parameters
    ----------
    events
        The events frame: needs ``by`` and ``layer``. ``episode_id`` and
        ``child_ref`` are optional (counts are 0 when absent); missing values
        are not counted as distinct. ``weight`` is optional (ones when absent).
    by
        Column to group by; default ``"h3"``.

    Returns
    -------
    One row per group value, sorted by it, with columns ``by`` then
    :data:`COUNT_COLUMNS`: ``n`` events, ``n_episodes``, ``n_children``,
    ``n_found``, ``n_last_seen``, ``n_reports`` (venue reports),
    ``n_incidents`` (all int64) and ``weighted`` (sum of weights, float64).
    """
    _require(events, (by, "layer"), what="to count events")
    layer = events["layer"]
    check_layers(layer)
    key = events[by].to_numpy()
    if pd.isna(key).any():
        msg = f"`{by}` has missing values; drop events without a `{by}` before counting."
        raise ValidationError(msg)
    none = pd.Series([None] * len(events), index=events.index, dtype=object)
    data = pd.DataFrame(
        {
            "key": key,
            "episode": events["episode_id"] if "episode_id" in events.columns else none,
            "child": events["child_ref"] if "child_ref" in events.columns else none,
            "found": (layer == "found").to_numpy(dtype=np.int64),
            "last_seen": (layer == "last_seen").to_numpy(dtype=np.int64),
            "report": (layer == "venue_report").to_numpy(dtype=np.int64),
            "incident": (layer == "incident").to_numpy(dtype=np.int64),
            "weight": base_weights(events),
        }
    )
    out = data.groupby("key", sort=True).agg(
        n=("found", "size"),
        n_episodes=("episode", "nunique"),
        n_children=("child", "nunique"),
        n_found=("found", "sum"),
        n_last_seen=("last_seen", "sum"),
        n_reports=("report", "sum"),
        n_incidents=("incident", "sum"),
        weighted=("weight", "sum"),
    )
    out = out.astype({c: np.int64 for c in COUNT_COLUMNS if c != "weighted"})
    out["weighted"] = out["weighted"].astype(np.float64)
    return out.rename_axis(by).reset_index()
