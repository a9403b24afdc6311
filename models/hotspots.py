"""Hotspots on H3 cells: one family of methods with one output shape.

:func:`hotspots` takes the located events and the study area's cells and
returns one row per cell (cells without events included, with zeros), the
cell's columns passed through untouched, then the counts of
:func:`models.weights.distinct_counts`, the method's own columns, and a
``score`` (higher is hotter), sorted by score (descending) then ``h3``
(ascending), so the same input always gives the same order.

Methods
-------
``"kde"``
    Quartic kernel density of the weighted events at each cell centre
    (:func:`models.kde.kde_on_cells`); column ``density_per_km2`` (weighted
    events per km²), which is also the score. Events outside every cell
    still add density to the cells near them (they are real events near the
    edge of the area).
``"count"``
    The weighted count of events in the cell (column ``weighted``) is the
    score.
``"dbscan"``
    ``models.dbscan.dbscan_hotspots``, imported when first asked for; its
    options (``eps_m``, ``min_samples``, ...) pass through.

Other methods plug in with :func:`register_method`. A method is called as
``fn(events, cells, quiet=quiet, **options)`` (``quiet`` only when it takes
it) where ``events`` carries the final ``weight`` column, and returns
``(frame, meta)``; the frame has one row per cell it scores, with ``h3`` and
``score`` (cells it leaves out score 0), and any columns of its own.

Cell counts only hold events whose cell at the analysis resolution (the
parent of their res-12 ``h3``) is one of ``cells``; events elsewhere are
reported in the metadata as ``n_events_outside_cells``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from geo.errors import ValidationError
from geo.h3index import cells_resolution, cells_to_parent
from models.kde import check_bandwidth_m, kde_on_cells
from models.weights import (
    COUNT_COLUMNS,
    WeightParams,
    base_weights,
    check_layers,
    distinct_counts,
    event_weights,
)

HotspotMethod = Callable[..., tuple[pd.DataFrame, dict[str, Any]]]

EVENT_COLUMNS = ("layer", "x", "y", "h3")
"""Columns every method needs in ``events``."""

CELL_COLUMNS = ("h3", "x", "y")
"""Columns every method needs in ``cells``."""

BUILTIN_METHODS = ("kde", "count")
_METHODS: dict[str, HotspotMethod] = {}
_LAZY_METHODS: dict[str, tuple[str, str]] = {
    "dbscan": ("models.dbscan", "dbscan_hotspots"),
    "gistar": ("models.gistar", "gistar_hotspots"),
}


def register_method(name: str, fn: HotspotMethod, *, replace: bool = False) -> None:
    """Make ``fn`` available as ``hotspots(..., method=name)``.

    Parameters
    ----------
    name
        The method's name.
    fn
        ``fn(events, cells, *, quiet, **options) -> (frame, meta)``; see the
        module docstring for the frame it must return.
    replace
        Allow replacing a method already registered (default False).
    """
    if not isinstance(name, str) or not name:
        msg = f"`name` must be a non-empty string, got {name!r}."
        raise ValidationError(msg)
    if not callable(fn):
        msg = f"`fn` must be callable, got {type(fn).__name__}."
        raise ValidationError(msg)
    if name in BUILTIN_METHODS:
        msg = f"Method {name!r} is built in and cannot be replaced; register another name."
        raise ValidationError(msg)
    if name in _METHODS and not replace:
        msg = f"Method {name!r} is already registered; pass replace=True to replace it."
        raise ValidationError(msg)
    _METHODS[name] = fn


def available_methods() -> tuple[str, ...]:
    """Names ``hotspots`` accepts: built-ins first, then plug-ins (lazy ones too)."""
    return (*BUILTIN_METHODS, *sorted({*_METHODS, *_LAZY_METHODS}))


def _method(name: str) -> HotspotMethod:
    if name in _METHODS:
        return _METHODS[name]
    if name in _LAZY_METHODS:
        module_name, attr = _LAZY_METHODS[name]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            msg = f"Method {name!r} is not available: {module_name} is not installed yet."
            raise ValidationError(msg) from exc
        fn: HotspotMethod = getattr(module, attr)
        _METHODS[name] = fn
        return fn
    msg = f"`method` must be one of {list(available_methods())}, got {name!r}."
    raise ValidationError(msg)


def _check_cells(cells: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    if not isinstance(cells, pd.DataFrame):
        msg = f"`cells` must be a DataFrame, got {type(cells).__name__}."
        raise ValidationError(msg)
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        msg = f"`cells` lacks columns {missing}; columns are {list(cells.columns)}."
        raise ValidationError(msg)
    clash = [c for c in (*COUNT_COLUMNS, "score", "density_per_km2") if c in cells.columns]
    if clash:
        msg = f"`cells` already has output columns {clash}; drop or rename them first."
        raise ValidationError(msg)
    if len(cells) == 0:
        msg = "`cells` is empty; pass the study area's grid (one row per H3 cell)."
        raise ValidationError(msg)
    if cells["h3"].isna().any():
        msg = "`cells.h3` has missing values; every cell needs its H3 index."
        raise ValidationError(msg)
    h3_cells = cells["h3"].to_numpy(dtype=np.int64)
    dup = pd.Index(h3_cells).duplicated()
    if dup.any():
        msg = f"`cells.h3` has {int(dup.sum())} duplicated cells; pass each cell once."
        raise ValidationError(msg)
    res = np.unique(cells_resolution(h3_cells))
    if res.size != 1:
        msg = f"`cells` mixes H3 resolutions {res.tolist()}; pass cells of one resolution."
        raise ValidationError(msg)
    for c in ("x", "y"):
        if not np.isfinite(cells[c].to_numpy(dtype=np.float64)).all():
            msg = f"`cells.{c}` must be finite metres (British National Grid cell centres)."
            raise ValidationError(msg)
    return cells.reset_index(drop=True), int(res[0])


def _check_events(events: pd.DataFrame, res: int) -> None:
    if not isinstance(events, pd.DataFrame):
        msg = f"`events` must be a DataFrame, got {type(events).__name__}."
        raise ValidationError(msg)
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        msg = f"`events` lacks columns {missing}; columns are {list(events.columns)}."
        raise ValidationError(msg)
    if len(events) == 0:
        return
    check_layers(events["layer"])
    if events["h3"].isna().any():
        msg = "`events.h3` has missing values; index every event (res 12) first."
        raise ValidationError(msg)
    ev_res = cells_resolution(events["h3"].to_numpy(dtype=np.int64))
    if int(ev_res.min()) < res:
        msg = (
            f"`events.h3` has cells coarser (res {int(ev_res.min())}) than `cells` (res {res}); "
            "pass the events' res-12 cells."
        )
        raise ValidationError(msg)
    for c in ("x", "y"):
        if not np.isfinite(events[c].to_numpy(dtype=np.float64)).all():
            msg = f"`events.{c}` must be finite metres; drop events without coordinates first."
            raise ValidationError(msg)


def _kde(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    quiet: bool,
    bandwidth_m: float | None,
    bin_res: int | str | None,
    weighted: bool,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ``"kde"`` method: density per km² at each cell centre."""
    if len(events) == 0:
        density = np.zeros(len(cells))
        meta: dict[str, Any] = {
            "kernel": "quartic",
            "bandwidth_m": bandwidth_m,
            "bandwidth_rule": "no events: the density is zero everywhere",
            "bin_res": bin_res,
            "bin_side_m": None,
            "n_points": 0,
            "n_bins": 0,
        }
    else:
        density, meta = kde_on_cells(
            events["x"].to_numpy(dtype=np.float64),
            events["y"].to_numpy(dtype=np.float64),
            events["h3"].to_numpy(dtype=np.int64),
            cells["x"].to_numpy(dtype=np.float64),
            cells["y"].to_numpy(dtype=np.float64),
            weights=events["weight"].to_numpy(dtype=np.float64) if weighted else None,
            bandwidth_m=bandwidth_m,
            bin_res=bin_res,
            quiet=quiet,
        )
    per_km2 = density * 1e6
    frame = pd.DataFrame(
        {"h3": cells["h3"].to_numpy(), "density_per_km2": per_km2, "score": per_km2}
    )
    meta = {**meta, "density_unit": "weighted events per km^2", "distance_unit": "m"}
    return frame, meta


def _count(events: pd.DataFrame, cells: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ``"count"`` method: the weighted count is the score (added by the caller)."""
    return pd.DataFrame({"h3": cells["h3"].to_numpy()}), {}


def hotspots(
    events: pd.DataFrame,
    cells: pd.DataFrame,
    *,
    method: str = "kde",
    weights_as_of: pd.Timestamp | datetime | str | None = None,
    weight_params: WeightParams | None = None,
    bandwidth_m: float | None = None,
    bin_res: int | str | None = "square",
    quiet: bool = False,
    **method_options: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score every cell of the study area.

    Parameters
    ----------
    events
        Located events (columns ``layer``, ``x``, ``y`` in BNG metres, ``h3``
        at res 12; ``child_ref``, ``episode_id`` for distinct counts; ``at``
        and the grading columns when weighting; optional ``weight``).
    cells
        The study area's grid at the analysis resolution (``h3``, ``x``,
        ``y`` cell centres in BNG metres, and any other columns, passed
        through untouched).
    method
        ``"kde"`` (default), ``"count"``, ``"dbscan"`` or a registered name.
    weights_as_of
        When given (timezone-aware), weigh events by recency, layer and
        grading with :func:`models.weights.event_weights` as of this time.
        When None (default), each event weighs its ``weight`` column, or 1.
    weight_params
        Weighting parameters; default ``WeightParams()``. Needs ``weights_as_of``.
    bandwidth_m
        KDE search radius in metres (> 0); default the spatial Silverman rule,
        announced unless ``quiet``. Only for ``method="kde"``.
    bin_res
        How the KDE bins events: ``"square"`` (default; square bins of a
        tenth of the bandwidth, found from ``x``, ``y``), an H3 resolution
        (11 or 12, from ``h3``) or None (the exact point KDE); see
        :func:`models.kde.kde_on_cells`. Only used by ``method="kde"``.
    quiet
        Do not log automatic choices.
    **method_options
        Passed to plug-in methods (e.g. ``eps_m``, ``min_samples`` for DBSCAN).

    Returns
    -------
    ``(frame, meta)``. ``frame`` has one row per cell: the cells' columns,
    then ``n``, ``n_episodes``, ``n_children``, ``n_found``,
    ``n_last_seen``, ``n_reports``, ``n_incidents`` (int64, 0 where empty),
    ``weighted`` (sum of weights), the method's columns and ``score``;
    sorted by ``score`` descending then ``h3`` ascending. ``meta`` holds
    the method, the score's meaning and unit, the cells' resolution, event
    counts (in and outside cells), the weighting and the method's metadata.

    With no events the frame is all zeros (an area with nothing to report is
    an answer, not an error), and ``meta["n_events"]`` is 0.

    Raises
    ------
    ValidationError
        For an unknown method, missing columns, mixed or duplicated cells,
        a ``bandwidth_m`` that is not > 0, or options the method does not take.
    """
    cells, res = _check_cells(cells)
    _check_events(events, res)
    if bandwidth_m is not None:
        check_bandwidth_m(bandwidth_m)
    if not isinstance(method, str):
        msg = f"`method` must be a string, got {method!r}."
        raise ValidationError(msg)
    fn = _method(method) if method not in BUILTIN_METHODS else None
    if method != "kde" and bandwidth_m is not None:
        msg = f"`bandwidth_m` applies to method 'kde' only, got method {method!r}; drop it."
        raise ValidationError(msg)
    if fn is None and method_options:
        msg = f"Method {method!r} takes no options {sorted(method_options)}."
        raise ValidationError(msg)
    if weight_params is not None and weights_as_of is None:
        msg = "`weight_params` needs `weights_as_of` (the date the weights decay from)."
        raise ValidationError(msg)

    events = events.reset_index(drop=True)
    has_weights = weights_as_of is not None or "weight" in events.columns
    if weights_as_of is not None:
        params = WeightParams() if weight_params is None else weight_params
        weights = event_weights(events, weights_as_of, params) if len(events) else np.zeros(0)
        weighting: dict[str, Any] = {
            "as_of": pd.Timestamp(weights_as_of).isoformat(),
            "rule": "base weight x recency x layer weight x grading (venue reports)",
        }
        weighting |= params.as_dict()
    else:
        weights = base_weights(events)
        weighting = {
            "as_of": None,
            "rule": "each event weighs its `weight` column"
            if "weight" in events.columns
            else "each event weighs 1",
        }
    events = events.assign(weight=weights)

    # Counts: events whose analysis-resolution cell is one of `cells`.
    cell_h3 = cells["h3"].to_numpy(dtype=np.int64)
    parent = cells_to_parent(events["h3"].to_numpy(dtype=np.int64), res)
    inside = np.isin(parent, cell_h3)
    counted = events.loc[inside].assign(h3=parent[inside])
    counts = distinct_counts(counted, by="h3").set_index("h3").reindex(cell_h3, fill_value=0)
    frame = cells.copy()
    for c in COUNT_COLUMNS:
        frame[c] = counts[c].to_numpy(dtype=np.float64 if c == "weighted" else np.int64)

    if method == "kde":
        scored, method_meta = _kde(
            events,
            cells,
            quiet=quiet,
            bandwidth_m=bandwidth_m,
            bin_res=bin_res,
            weighted=has_weights,
        )
        score_text = "density_per_km2: quartic KDE of weighted events at the cell centre"
        score_unit = "weighted events per km^2"
    elif method == "count":
        scored, method_meta = _count(events, cells)
        scored["score"] = frame["weighted"].to_numpy()
        score_text = "weighted: sum of the weights of the events in the cell"
        score_unit = "weighted events"
    else:
        assert fn is not None
        takes_quiet = _takes(fn, "quiet")
        extra = {"quiet": quiet} if takes_quiet else {}
        scored, method_meta = fn(events, cells, **extra, **method_options)
        units = method_meta.get("units")
        unit = units.get("score") if isinstance(units, dict) else None
        score_text = str(
            method_meta.get("score") or method_meta.get("score_rule") or f"method {method!r}"
        )
        score_unit = str(method_meta.get("score_unit") or unit or "see the method's metadata")

    frame = _join_scores(frame, scored, method)
    frame = frame.sort_values(
        ["score", "h3"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)
    # The method's own metadata first; the frame-level facts below win on a clash.
    meta: dict[str, Any] = {
        **method_meta,
        "method": method,
        "score": score_text,
        "score_unit": score_unit,
        "cells_res": res,
        "n_cells": len(cells),
        "n_events": len(events),
        "n_events_in_cells": int(inside.sum()),
        "n_events_outside_cells": int((~inside).sum()),
        "weights": weighting,
    }
    return frame, meta


def _takes(fn: HotspotMethod, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _join_scores(frame: pd.DataFrame, scored: pd.DataFrame, method: str) -> pd.DataFrame:
    """Add a method's per-cell columns (and ``score``) to the cells-with-counts frame."""
    if not isinstance(scored, pd.DataFrame) or not {"h3", "score"} <= set(scored.columns):
        msg = f"Method {method!r} must return a frame with `h3` and `score` columns."
        raise ValidationError(msg)
    key = scored["h3"].to_numpy(dtype=np.int64)
    if pd.Index(key).duplicated().any():
        msg = f"Method {method!r} returned more than one row for some cells."
        raise ValidationError(msg)
    unknown = ~np.isin(key, frame["h3"].to_numpy(dtype=np.int64))
    if unknown.any():
        msg = f"Method {method!r} scored {int(unknown.sum())} cells that are not in `cells`."
        raise ValidationError(msg)
    own = [c for c in scored.columns if c not in frame.columns]
    added = scored.set_index(key)[own].reindex(frame["h3"].to_numpy(dtype=np.int64))
    added["score"] = added["score"].fillna(0.0).astype(np.float64)
    for c in own:
        frame[c] = added[c].to_numpy()
    return frame
