"""Per-cell tables of a window: hotspot scores (``engage hotspots``) and trends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from api.settings import Settings
from api.usecases.store import analysis_area, grid_for, load_events, opened_store
from geo.errors import ValidationError
from geo.store import Store, Window
from maps import disclosure
from maps.disclosure import Audience
from models.params import DEFAULTS, AnalysisParams
from models.targets import drop_private
from models.weekly import emerging, run_hotspots


def hotspots_table(
    location: str,
    *,
    start: datetime | None,
    end: datetime | None,
    settings: Settings,
    layer: str = "all",
    category: str | None = None,
    areas: list[str] | None = None,
    params: AnalysisParams | None = None,
    quiet: bool = False,
    engine: str = "python",
    audience: Audience | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per cell of the study area: counts, score and the method's columns.

    With ``audience``, the events and parameters that audience's outputs
    may rest on, and the table as it may see it (:mod:`maps.disclosure`);
    without, the analysts' full frame.

    ``engine="db"`` (DBSCAN on a PostGIS store only) finds the same events'
    core points (weighted, as the Python engine) and their clusters inside
    PostGIS (:mod:`geo.store.db_dbscan`); ids and border points then follow
    :func:`models.dbscan.canonical_labels`, so both engines give the same
    frame on the same coordinates.
    """
    params = params or DEFAULTS
    if audience is not None:
        params = disclosure.params_for(params, audience)
    if engine not in ENGINES:
        msg = f"`engine` must be one of {', '.join(ENGINES)}, got {engine!r}."
        raise ValidationError(msg)
    if engine == "db" and params.method != "dbscan":
        msg = (
            f"--engine db runs DBSCAN in PostGIS; it does not apply to --method {params.method}. "
            "Use --method dbscan, or drop --engine."
        )
        raise ValidationError(msg)
    polygon, _, _ = analysis_area(settings, areas, location)
    cells = grid_for(polygon, params.res)
    with opened_store(location) as store:
        events = load_events(store, Window(start, end), layer=layer, category=category)
        if audience is not None:
            events = audience.events(events)
        # Recency weights count back from the end of the data window (or from the
        # latest event when the window is open-ended), never from today.
        if end is not None:
            as_of = pd.Timestamp(end)
        elif len(events):
            as_of = events["at"].max()
        else:
            as_of = pd.Timestamp.now(tz="UTC")
        labeller = _db_labeller(store) if engine == "db" else None
        frame, meta = run_hotspots(events, cells, params, as_of, quiet=quiet, labeller=labeller)
    if audience is None:
        return frame, meta
    shown = disclosure.cells_view(frame.drop(columns=["x", "y"], errors="ignore"), audience)
    return shown, disclosure.parameters_view(meta, audience)


ENGINES = ("python", "db")
"""Where DBSCAN runs: here (``python``) or inside PostGIS (``db``)."""


def _db_labeller(store: Store) -> Any:
    """``ST_ClusterDBSCAN`` of the events' stored points (a PostGIS store only)."""
    from geo.store.postgis import PostgisStore

    if not isinstance(store, PostgisStore):
        msg = (
            "--engine db needs the PostGIS store (--store postgresql://...); "
            "a GeoPackage store clusters in Python: drop --engine."
        )
        raise ValidationError(msg)

    def label(events: pd.DataFrame, eps_m: float, min_samples: int) -> pd.DataFrame:
        from geo.store.db_dbscan import db_dbscan_records

        records = events[["layer", "record", "weight"]]
        return db_dbscan_records(store, records, eps_m=eps_m, min_samples=min_samples)

    label.engine = "postgis ST_ClusterDBSCAN"  # type: ignore[attr-defined]
    return label


def trends_table(
    location: str,
    *,
    start: datetime | None,
    end: datetime | None,
    settings: Settings,
    layer: str = "all",
    category: str | None = None,
    areas: list[str] | None = None,
    res: int | None = None,
    k: int = 1,
    audience: Audience | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Emerging hotspot class of every cell over weekly bins (Gi* per week + Mann-Kendall).

    Weeks start on Monday, UK time, and run from the first week with an
    event to the last; home and care-home events are left out. With
    ``audience``, the table as it may see it (partners: resolution 8, no
    intelligence with handling code C, patterns only where enough children
    stand behind them).
    """
    res = DEFAULTS.replace(res=res).res  # the one resolution check; None: the default
    if audience is not None and audience.res is not None:
        res = audience.res
    polygon, _, _ = analysis_area(settings, areas, location)
    cells = grid_for(polygon, res)
    with opened_store(location) as store:
        events = drop_private(
            load_events(store, Window(start, end), layer=layer, category=category)
        )
    if audience is not None:
        events = audience.events(events)
    if events.empty:
        msg = "no events in the window; widen --from/--to or ingest data first."
        raise ValidationError(msg)
    frame, meta = emerging(events, cells["h3"].to_numpy(dtype=np.int64), res=res, k=k)
    frame = cells[["h3", "lat", "lng", "ward", "ward_name"]].merge(frame, on="h3", how="left")
    if audience is None:
        return frame, meta
    shown = disclosure.trends_view(frame, events, audience, res=res, k_rings=k)
    if audience.partner:
        tally = shown["pattern"].value_counts()
        meta = {
            "n_weeks": meta["n_weeks"],
            "pattern_counts": {str(p): int(n) for p, n in tally.items()},
        }
    return shown, meta
