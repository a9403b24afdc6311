"""Import the user's own areas into the store, and list what is loaded.

An import stores the polygons (replacing any of the same kind) and assigns
every stored point to them, in one transaction: the features and every
changed ``<point><kind>`` code become visible together, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from api.settings import Settings
from api.usecases.area import activate, stored_area
from api.usecases.store import opened_store
from geo.areaimport import read_areas
from geo.areas import IMPORTED_KINDS, KIND_LABELS, active_areas, assign_points
from geo.crs import latlng_to_metric, metric_crs
from geo.errors import ValidationError
from geo.schemas import TABLES
from geo.studyarea import active_study_area


@dataclass(frozen=True)
class AreasImported:
    """What ``engage areas import`` did."""

    path: str
    kind: str
    stored: int
    left_out: int
    code_field: str
    name_field: str
    assigned: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def import_areas(
    location: str,
    path: Path,
    *,
    kind: str,
    settings: Settings,
    code_field: str | None = None,
    name_field: str | None = None,
    layer: str | None = None,
) -> AreasImported:
    """Store the areas of ``path`` as ``kind`` and assign every stored point to them."""
    if kind not in IMPORTED_KINDS:
        msg = f"`--kind` must be one of {', '.join(IMPORTED_KINDS)}, got `{kind}`."
        raise ValidationError(msg)
    with opened_store(location, settings=settings) as store:
        # The store's own area decides what is kept, whatever one command asks for.
        study = stored_area(store, settings) or active_study_area()
        tolerance_deg = study.tolerance_m / 111_000.0
        got = read_areas(
            path,
            kind=kind,
            code_field=code_field,
            name_field=name_field,
            layer=layer,
            study_area=study.outline(),
            tolerance_deg=tolerance_deg,
        )
        metric = got.frame.to_crs(metric_crs().code).sort_values("code").reset_index(drop=True)
        assigned: dict[str, int] = {}
        with store.writer() as w:
            w.put_features("area", kind, got.frame)
            for table in TABLES.values():
                if not table.points:
                    continue
                cols = [table.key] + [f"{p}{c}" for p in table.points for c in ("lat", "lng")]
                rows = store.read(table, columns=cols)
                if rows.empty:
                    continue
                for prefix in table.points:
                    lat = rows[f"{prefix}lat"].to_numpy(np.float64)
                    has = np.isfinite(lat)
                    codes = np.full(len(rows), None, dtype=object)
                    if has.any():
                        x, y = latlng_to_metric(lat[has], rows[f"{prefix}lng"].to_numpy()[has])
                        codes[has] = assign_points(metric, x, y, tolerance_m=study.tolerance_m)
                    w.set_areas(
                        table,
                        f"{prefix}{kind}",
                        rows[table.key].astype(str).tolist(),
                        codes.tolist(),
                    )
                    assigned[f"{table.name}.{prefix}{kind}"] = int(pd.notna(codes).sum())
        store.record_run(
            "areas import",
            {"kind": kind, "file": str(path), "layer": layer},
            {"stored": len(got.frame), "left_out": got.left_out, "assigned": assigned},
        )
        activate(store, study)
    return AreasImported(
        str(path),
        kind,
        len(got.frame),
        got.left_out,
        got.code_field,
        got.name_field,
        assigned,
        got.notes,
    )


def list_areas(location: str, *, settings: Settings) -> pd.DataFrame:
    """One row per kind of area in use: kind, source (imported or shipped), count, examples."""
    with opened_store(location, settings=settings):
        areas = active_areas()
        study = active_study_area()
    rows = []
    for kind in [*areas.kinds(), "district"]:
        layer = areas.layer(kind)
        if kind == "district":
            layer = layer[layer["code"].isin(study.district_codes)]
            source = "shipped (ONS outlines)"
        else:
            source = areas.sources[kind]
        names = layer["name"].astype(str).tolist()
        rows.append(
            {
                "kind": kind,
                "label": KIND_LABELS[kind],
                "source": source,
                "areas": len(layer),
                "examples": ", ".join(names[:4]) + (" ..." if len(names) > 4 else ""),
            }
        )
    return pd.DataFrame(rows)
