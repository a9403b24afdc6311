"""The named place nearest each target: "on or near Whalley Range, 40 m".

:func:`add_near` gives each target the nearest place of a gazetteer within
``max_m`` of its centre, by straight-line distance in metric coordinates
(``x``, ``y`` of both frames, in the same metric CRS). Nearest wins: a
police.uk place such as "Supermarket" beats a street a metre further away,
since either helps a patrol find the spot. Equal distances go to the place
that comes first in ``places`` (the store orders them by kind and code), so
the answer never depends on the tree.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree

from geo.errors import ValidationError

DEFAULT_NEAR_M = 150.0
"""How far from a target's centre a place may be to name it, in metres."""
MAX_NEAR_M = 5000.0
_TIES = 8


def check_near_m(max_m: float) -> float:
    """``max_m`` as a distance from 1 to :data:`MAX_NEAR_M` metres, or a clear error."""
    value = float(max_m)
    if not (np.isfinite(value) and 1 <= value <= MAX_NEAR_M):
        msg = f"`near_m` must be a distance from 1 to {MAX_NEAR_M:.0f} metres, got {max_m!r}."
        raise ValidationError(msg)
    return value


def nearest(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    place_x: npt.ArrayLike,
    place_y: npt.ArrayLike,
    *,
    max_m: float,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Index of the nearest place to each point within ``max_m`` (-1 when none) and its distance.

    Distances are Euclidean in the coordinates' units (metres); a place at
    exactly ``max_m`` counts. Ties go to the lowest place index.
    """
    max_m = check_near_m(max_m)
    px = np.asarray(place_x, dtype=np.float64)
    py = np.asarray(place_y, dtype=np.float64)
    qx = np.asarray(x, dtype=np.float64)
    qy = np.asarray(y, dtype=np.float64)
    idx = np.full(qx.size, -1, dtype=np.int64)
    dist = np.full(qx.size, np.nan)
    ok = np.isfinite(qx) & np.isfinite(qy)
    if px.size == 0 or not ok.any():
        return idx, dist
    tree = cKDTree(np.column_stack([px, py]))
    k = min(_TIES, px.size)
    d, i = tree.query(
        np.column_stack([qx[ok], qy[ok]]), k=k, distance_upper_bound=np.nextafter(max_m, np.inf)
    )
    d = np.asarray(d, dtype=np.float64).reshape(-1, k)
    i = np.asarray(i, dtype=np.int64).reshape(-1, k)
    best = d[:, :1]
    tied = np.isfinite(d) & (d == best)
    pick = np.where(tied, i, np.iinfo(np.int64).max).min(axis=1)
    found = np.isfinite(best[:, 0]) & (best[:, 0] <= max_m)
    rows = np.flatnonzero(ok)
    idx[rows[found]] = pick[found]
    dist[rows[found]] = best[found, 0]
    return idx, dist


def add_near(
    targets: pd.DataFrame, places: pd.DataFrame, *, max_m: float = DEFAULT_NEAR_M
) -> pd.DataFrame:
    """``targets`` with ``near`` (the place's name, or None) and ``near_m`` (whole metres, or NA).

    Parameters
    ----------
    targets
        Frame with metric ``x``, ``y`` (a target's centre).
    places
        Gazetteer places with ``name``, ``x``, ``y`` in the same metric CRS.
    max_m
        Farthest distance, in metres, a place may be to name a target.
    """
    for label, frame, needed in (
        ("targets", targets, ("x", "y")),
        ("places", places, ("name", "x", "y")),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            msg = f"`{label}` lacks column(s) {', '.join(missing)}."
            raise ValidationError(msg)
    idx, dist = nearest(
        targets["x"].to_numpy(dtype=np.float64),
        targets["y"].to_numpy(dtype=np.float64),
        places["x"].to_numpy(dtype=np.float64),
        places["y"].to_numpy(dtype=np.float64),
        max_m=max_m,
    )
    out = targets.copy()
    names = places["name"].astype(object).to_numpy()
    hit = idx >= 0
    near = np.full(len(out), None, dtype=object)
    near[hit] = names[idx[hit]]
    metres = pd.array(np.full(len(out), pd.NA), dtype="Int64")
    metres[hit] = np.rint(dist[hit]).astype(np.int64)
    out["near"] = pd.Series(near, index=out.index, dtype=object)
    out["near_m"] = metres
    return out
