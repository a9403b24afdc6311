"""The partnership review of disruptions (``engage review``).

Reads the stored disruptions and the outcome events around them, calls
:func:`models.review.review`, and hands the result to
:func:`maps.reviewfiles.write_review` through the audience's views of
:mod:`maps.disclosure`. Every file of the folder (review.csv, review.pdf,
review.html, review.geojson, run.json) is written together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api.settings import Settings
from api.usecases.store import grid_for, load_events, opened_store
from geo import __version__, schemas
from geo.areafile import looks_like_file, read_polygon
from geo.areas import active_areas
from geo.crs import latlng_to_metric, metric_crs
from geo.errors import ValidationError
from geo.store import Window
from geo.studyarea import active_study_area
from maps.audience import DEFAULT_MARKING
from maps.disclosure import Audience
from maps.disclosure.review import review_view
from maps.reviewfiles import REVIEW_FILES, write_review
from models.review import GivenControl, review
from models.review_areas import ReviewSpec
from models.targets import drop_private

REVIEW_LAYERS = ("both", "found", "last_seen", "incidents")
"""Outcomes a review counts: ``both`` is MFH last-seen and found locations."""

EXIT_ALL, EXIT_SOME, EXIT_NONE = 0, 1, 2


@dataclass(frozen=True)
class ReviewRun:
    """What ``engage review`` wrote, and how it ended."""

    out: Path | None
    files: dict[str, Path]
    rows: pd.DataFrame
    run: dict[str, Any]
    exit_code: int
    reasons: list[tuple[str, str]]


def _select(
    table: pd.DataFrame,
    ids: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    tactic: str | None,
) -> pd.DataFrame:
    if table.empty:
        raise ValidationError(
            "the store holds no disruptions; ingest them first "
            "(engage ingest --kind disruptions FILE)."
        )
    picked = table
    if ids:
        known = set(table["disruption_id"])
        unknown = [i for i in ids if i not in known]
        if unknown:
            sample = ", ".join(sorted(known)[:5])
            msg = (
                f"`--disruption` {', '.join(unknown)} is not a stored disruption id; "
                f"stored ids include {sample} (see `engage stats`)."
            )
            raise ValidationError(msg)
        picked = picked.loc[picked["disruption_id"].isin(ids)]
    if start is not None:
        picked = picked.loc[picked["disrupted_at"] >= pd.Timestamp(start)]
    if end is not None:
        picked = picked.loc[picked["disrupted_at"] < pd.Timestamp(end)]
    if tactic is not None:
        if tactic not in schemas.TACTICS:
            msg = f"`--tactic` must be one of {', '.join(schemas.TACTICS)}, got {tactic!r}."
            raise ValidationError(msg)
        picked = picked.loc[picked["tactic"] == tactic]
    if picked.empty:
        msg = (
            "no stored disruption matches the `--disruption`, `--from`/`--to` and `--tactic` "
            "given; widen them or leave them out to review every disruption."
        )
        raise ValidationError(msg)
    return picked


def _with_xy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    has = out["lat"].notna() & out["lng"].notna()
    x = np.full(len(out), np.nan)
    y = np.full(len(out), np.nan)
    if has.any():
        x[has.to_numpy()], y[has.to_numpy()] = latlng_to_metric(
            out.loc[has, "lat"].to_numpy(float), out.loc[has, "lng"].to_numpy(float)
        )
    out["x"], out["y"] = x, y
    return out


def _control(text: str) -> tuple[GivenControl | None, str]:
    if text.strip().lower() == "auto":
        return None, ""
    if looks_like_file(text):
        f = read_polygon(text, what="--control")
        return GivenControl(f"{f.name} (file)", f.polygon), f.note
    kind, code, name = active_areas().find(text, [*active_areas().kinds(), "district"])
    layer = active_areas().layer(kind)
    geom = layer.loc[layer["code"] == code].to_crs(metric_crs().code).geometry.union_all()
    return GivenControl(name, geom), ""


def _outcome(layer: str, category: str | None) -> tuple[list[str], Any]:
    if layer not in REVIEW_LAYERS:
        msg = f"`--layer` must be one of {', '.join(REVIEW_LAYERS)}, got {layer!r}."
        raise ValidationError(msg)
    if category and layer != "incidents":
        raise ValidationError("`--category` applies to `--layer incidents` only.")
    if layer == "both":
        return ["last_seen", "found"], schemas.EPISODES
    if layer == "incidents":
        return ["incidents"], schemas.INCIDENTS
    return [layer], schemas.EPISODES


def review_disruptions(
    location: str,
    *,
    settings: Settings,
    out_dir: Path,
    spec: ReviewSpec,
    disruption_ids: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tactic: str | None = None,
    layer: str = "both",
    category: str | None = None,
    control: str = "auto",
    audience: str = "analyst",
    k: int | None = None,
    marking: str = DEFAULT_MARKING,
) -> ReviewRun:
    """Review the chosen disruptions (all by default) and write the review folder."""
    rules = Audience.make(audience, k)
    layers, table = _outcome(layer, category)
    with opened_store(location, settings=settings) as store:
        given, control_note = _control(control)
        stored = store.read(schemas.DISRUPTIONS)
        picked = _with_xy(_select(stored, disruption_ids, start, end, tactic))
        context = _with_xy(stored)
        data_start, data_end = store.time_bounds(table)
        if data_start is None or data_end is None:
            what = "incidents" if table is schemas.INCIDENTS else "episodes"
            msg = f"the store holds no {what}; ingest some before a review of `--layer {layer}`."
            raise ValidationError(msg)
        lo = pd.Timestamp(picked["disrupted_at"].min()) - pd.Timedelta(weeks=spec.before_weeks + 2)
        hi = pd.Timestamp(picked["disrupted_at"].max()) + pd.Timedelta(weeks=spec.after_weeks + 2)
        # One read of each table for every layer of the outcome.
        events = load_events(
            store,
            Window(lo.to_pydatetime(), hi.to_pydatetime()),
            layer=tuple(layers),
            category=category,
        )
        month_stamped = False
        if table is schemas.INCIDENTS:
            prec = store.read(
                schemas.INCIDENTS,
                window=Window(lo.to_pydatetime(), hi.to_pydatetime()),
                columns=["time_precision"],
            )
            month_stamped = bool((prec["time_precision"] == "month").any())
        venues = store.read(schemas.VENUES)
    # Homes and care homes are where children live, never an outcome of a place's disruption.
    events = drop_private(events)
    blocks = grid_for(active_study_area().outline(), spec.block_res)
    result = review(
        events,
        picked,
        blocks,
        spec,
        data_start=pd.Timestamp(data_start),
        data_end=pd.Timestamp(data_end),
        context=context,
        control=given,
        month_stamped=month_stamped,
    )
    per = result.rows.loc[result.rows["disruption_id"] != ""]
    reasons = [
        (str(r.disruption_id), str(r.reason)) for r in per.itertuples() if not bool(r.reviewed)
    ]
    n_done = int(per["reviewed"].astype(bool).sum())
    code = EXIT_ALL if not reasons else (EXIT_SOME if n_done else EXIT_NONE)
    facts = {
        "layer": layer,
        "category": category,
        "area": active_study_area().label,
        "control": control if given is None else given.name,
        "control_note": control_note,
        "month_stamped": month_stamped,
        "data_start": pd.Timestamp(data_start).isoformat(),
        "data_end": pd.Timestamp(data_end).isoformat(),
    }
    if code == EXIT_NONE:
        return ReviewRun(None, {}, result.rows, {"facts": facts}, code, reasons)
    shown = review_view(
        result, rules, venues=venues, given_control=None if given is None else given.polygon
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    spec_facts: dict[str, Any] = {
        "response_m": spec.response_m,
        "buffer_m": list(spec.buffer_m),
        "before_weeks": spec.before_weeks,
        "after_weeks": spec.after_weeks,
        "alpha": spec.alpha,
        "block_res": spec.block_res,
        "max_block_share": spec.max_block_share,
    }
    run: dict[str, Any] = {
        "kind": "review",
        "audience": rules.name,
        "disclosure": {"k": rules.k, "rules": "docs/disclosure.md"},
        "spec": spec_facts,
        **facts,
        "disruptions": {
            "asked": len(picked),
            "reviewed": n_done,
            "not_reviewed": len(reasons),
        },
        "version": __version__,
        "generated_at": generated,
        "outputs": list(REVIEW_FILES),
    }
    files = write_review(shown, Path(out_dir), run=run, marking=marking)
    with opened_store(location) as store:
        store.record_run("review", {"audience": rules.name, **spec_facts, "layer": layer}, run)
    return ReviewRun(Path(out_dir), files, shown.rows, run, code, reasons)
