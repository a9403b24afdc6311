"""The review folder: review.csv, review.pdf, review.html, review.geojson, run.json.

Everything printed comes from a :class:`maps.disclosure.review.ReviewShown`
(the audience's view); the files are built in a temporary folder and moved
in together (:func:`maps.files.staged`), so a failure leaves the earlier
review whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely

from geo.export import neutralise_formulas
from maps.disclosure.review import ReviewShown
from maps.files import atomic_write_text, staged
from maps.reviewpack import SHARED_DPI, ImageCache, review_html, review_pdf

OUTCOMES = {
    "both": "missing-from-home episodes: where children were last seen and found",
    "found": "missing-from-home episodes: where children were found",
    "last_seen": "missing-from-home episodes: where children were last seen",
    "incidents": "incidents",
}

REVIEW_FILES = ("review.csv", "review.pdf", "review.html", "review.geojson", "run.json")
"""What ``engage review`` writes into its folder."""


def review_csv_text(shown: ReviewShown) -> str:
    """The review table as CSV text (spreadsheet formulas neutralised)."""
    table = shown.rows.copy()
    for col in table.columns:
        if table[col].dtype == object:
            table[col] = neutralise_formulas(table[col].map(lambda v: "" if v is None else v))
    return table.to_csv(index=False)


def review_geojson_text(shown: ReviewShown) -> str:
    """The areas of every review (and the disrupted places) as one GeoJSON FeatureCollection."""
    areas = shown.areas[["disruption_id", "area", "label", "geometry"]].copy()
    places = shown.places
    pts = gpd.GeoDataFrame(
        {
            "disruption_id": places["disruption_id"],
            "area": "place",
            "label": [p or "" for p in places["place"]],
        },
        geometry=shapely.points(places["lng"].to_numpy(float), places["lat"].to_numpy(float))
        if len(places)
        else [],
        crs="EPSG:4326",
    )
    both = pd.concat([areas, pts], ignore_index=True)
    frame = gpd.GeoDataFrame(both, geometry="geometry", crs="EPSG:4326")
    return frame.to_json(drop_id=True, to_wgs84=True)


def write_review(
    shown: ReviewShown, out_dir: Path, *, run: dict[str, Any], marking: str
) -> dict[str, Path]:
    """Write the five review files into ``out_dir`` together; returns their paths."""
    facts = {
        "audience": shown.audience.name,
        "outcome": OUTCOMES.get(str(run.get("layer", "")), str(run.get("layer", "")))
        + (f": {run['category']}" if run.get("category") else ""),
        "area": run.get("area", ""),
        "data": f"{str(run.get('data_start', ''))[:10]} to {str(run.get('data_end', ''))[:10]}",
        "control": run.get("control", ""),
        "generated": run.get("generated_at", ""),
    }
    with staged(out_dir, REVIEW_FILES) as tmp:
        (tmp / "review.csv").write_text(review_csv_text(shown), encoding="utf-8")
        (tmp / "review.geojson").write_text(review_geojson_text(shown), encoding="utf-8")
        images: ImageCache = {}  # each map and chart drawn once, for both
        review_pdf(
            shown, tmp / "review.pdf", marking=marking, facts=facts, images=images, dpi=SHARED_DPI
        )
        (tmp / "review.html").write_text(
            review_html(shown, marking=marking, facts=facts, images=images, dpi=SHARED_DPI),
            encoding="utf-8",
        )
        atomic_write_text(
            tmp / "run.json", json.dumps(run, indent=2, sort_keys=True, default=str) + "\n"
        )
    out = Path(out_dir)
    return {
        name.rsplit(".", 1)[1] if name != "run.json" else "run": out / name for name in REVIEW_FILES
    }
