"""A synthetic street grid in British National Grid, for tests, benchmarks and demos.

Real road data (OS Open Roads, OpenStreetMap) cannot be shipped or fetched, so
tests and the base-layer benchmark make their own: east-west and north-south
streets at a jittered spacing over a box, each cut into one segment per block
with a few wiggling vertices between junctions, every street named. Built
with numpy and shapely array calls.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import BNG

BWD_BOX_BNG = (362_000.0, 413_500.0, 378_500.0, 430_500.0)
"""A box (min easting, min northing, max easting, max northing) over Blackburn with Darwen."""

_WORDS = (
    "Oak",
    "Mill",
    "Church",
    "Station",
    "Park",
    "Victoria",
    "King",
    "Queen",
    "Bank",
    "Moor",
    "Brook",
    "Chapel",
    "Market",
    "Canal",
    "Albert",
    "Cemetery",
    "Whalley",
    "Preston",
    "Darwen",
    "Pleasington",
)
_SUFFIXES = ("Street", "Road", "Lane", "Avenue", "Terrace", "Close", "Way", "Grove")


def street_names(n: int) -> np.ndarray:
    """``n`` distinct street names: ``Oak Street``, ``Mill Road``, ``Oak Street 2``, ..."""
    i = np.arange(n)
    base = np.char.add(
        np.char.add(np.array(_WORDS)[i % len(_WORDS)], " "),
        np.array(_SUFFIXES)[(i // len(_WORDS)) % len(_SUFFIXES)],
    )
    rounds = i // (len(_WORDS) * len(_SUFFIXES))
    extra = np.where(rounds > 0, np.char.add(" ", (rounds + 1).astype(str)), "")
    return np.char.add(base, extra).astype(object)


def street_grid(
    box: tuple[float, float, float, float] = BWD_BOX_BNG,
    *,
    spacing_m: float = 150.0,
    vertices: int = 4,
    wiggle_m: float = 3.0,
    seed: int = 1,
) -> gpd.GeoDataFrame:
    """Street segments over ``box`` (BNG metres): ``id``, ``name1``, ``class``, lines.

    Parameters
    ----------
    spacing_m
        Mean distance between parallel streets (jittered by a quarter).
    vertices
        Intermediate vertices per segment, each moved up to ``wiggle_m``
        off the straight line (so simplification has something to remove).
    """
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    xs = np.arange(x0, x1, spacing_m) + rng.uniform(
        -0.25, 0.25, int(np.ceil((x1 - x0) / spacing_m))
    )
    ys = np.arange(y0, y1, spacing_m) + rng.uniform(
        -0.25, 0.25, int(np.ceil((y1 - y0) / spacing_m))
    )
    xs = np.clip(np.sort(xs * 1.0), x0, x1)
    ys = np.clip(np.sort(ys * 1.0), y0, y1)
    names = street_names(len(xs) + len(ys))
    parts = []
    # East-west streets (one per y) cut at each x; north-south streets (one per x) cut at each y.
    for along, across, horizontal, offset in ((xs, ys, True, 0), (ys, xs, False, len(ys))):
        a0, a1 = along[:-1], along[1:]
        street = np.repeat(np.arange(len(across)), len(a0))
        start = np.tile(a0, len(across))
        end = np.tile(a1, len(across))
        fixed = across[street]
        t = np.linspace(0.0, 1.0, vertices + 2)
        run = start[:, None] + (end - start)[:, None] * t[None, :]
        side = fixed[:, None] + np.zeros_like(run)
        side[:, 1:-1] += rng.uniform(-wiggle_m, wiggle_m, (len(run), vertices))
        coords = np.stack([run, side], axis=-1) if horizontal else np.stack([side, run], axis=-1)
        parts.append((coords, street + offset))
    coords = np.concatenate([c for c, _ in parts])
    street_ids = np.concatenate([s for _, s in parts])
    lines = shapely.linestrings(coords)
    n = len(lines)
    classes = np.where(
        street_ids % 7 == 0, "A Road", np.where(street_ids % 3 == 0, "B Road", "Local Road")
    )
    return gpd.GeoDataFrame(
        {
            "id": np.char.add("L", np.arange(n).astype(str)).astype(object),
            "name1": names[street_ids],
            "class": classes.astype(object),
        },
        geometry=lines,
        crs=BNG,
    )
