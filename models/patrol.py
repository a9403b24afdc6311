"""When and in what order to patrol: day-of-week x hour windows and a visiting tour."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from geo.errors import ValidationError

LOCAL_TZ = "Europe/London"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def dow_hour(at: pd.Series) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """UK local day of week (0 = Monday) and hour (0-23) of UTC timestamps."""
    local = at.dt.tz_convert(LOCAL_TZ)
    return (
        local.dt.day_of_week.to_numpy(dtype=np.int64),
        local.dt.hour.to_numpy(dtype=np.int64),
    )


def window_label(dow: int, start_hour: int, hours: int) -> str:
    """``Fri 20:00-24:00``; a window past midnight reads ``Sat 22:00-02:00``."""
    end = (start_hour + hours) % 24
    end_text = "24:00" if end == 0 else f"{end:02d}:00"
    return f"{DAYS[dow]} {start_hour:02d}:00-{end_text}"


def patrol_windows(
    groups: pd.Series,
    at: pd.Series,
    weights: npt.ArrayLike | None = None,
    *,
    hours: int = 4,
) -> pd.DataFrame:
    """The busiest ``hours``-long window of the week for each group.

    Counts events by day of week x hour (UK time), then slides a window of
    ``hours`` consecutive hours round the week (wrapping from Sunday night to
    Monday morning) and keeps the window with the largest weighted count;
    ties go to the earliest window in the week. Vectorised over groups.

    Returns
    -------
    DataFrame indexed by group with ``patrol_dow`` (0 = Monday),
    ``patrol_start_hour``, ``patrol_window`` (text), ``window_share`` (share
    of the group's weight inside the window) and ``window_events``.
    """
    if not 1 <= hours <= 24:
        msg = f"`hours` must be from 1 to 24, got {hours}."
        raise ValidationError(msg)
    w = np.ones(len(at)) if weights is None else np.asarray(weights, dtype=float)
    dow, hour = dow_hour(at)
    slot = dow * 24 + hour
    keys, inverse = np.unique(groups.to_numpy(), return_inverse=True)
    table = np.zeros((keys.size, 168))
    np.add.at(table, (inverse, slot), w)
    counts = np.zeros((keys.size, 168))
    np.add.at(counts, (inverse, slot), 1.0)
    # Sum of each window starting at every hour of the week, wrapping round.
    padded = np.concatenate([table, table[:, : hours - 1]], axis=1)
    cum = np.concatenate([np.zeros((keys.size, 1)), np.cumsum(padded, axis=1)], axis=1)
    sums = cum[:, hours : hours + 168] - cum[:, :168]
    cpad = np.concatenate([counts, counts[:, : hours - 1]], axis=1)
    ccum = np.concatenate([np.zeros((keys.size, 1)), np.cumsum(cpad, axis=1)], axis=1)
    csums = ccum[:, hours : hours + 168] - ccum[:, :168]
    best = np.argmax(sums, axis=1)
    total = table.sum(axis=1)
    rows = np.arange(keys.size)
    labels = [window_label(int(b // 24), int(b % 24), hours) for b in best]
    return pd.DataFrame(
        {
            "patrol_dow": best // 24,
            "patrol_start_hour": best % 24,
            "patrol_window": labels,
            "window_share": np.where(
                total > 0, sums[rows, best] / np.where(total > 0, total, 1), 0
            ),
            "window_events": csums[rows, best].astype(np.int64),
        },
        index=pd.Index(keys, name=groups.name),
    )


def visiting_order(x: npt.ArrayLike, y: npt.ArrayLike, *, start: int = 0) -> npt.NDArray[np.int64]:
    """A short open tour through the points, starting at ``start``.

    Nearest-neighbour construction followed by 2-opt improvement until no
    exchange of two edges shortens the path (Croes 1958). Euclidean
    distances in metres on projected coordinates. Meant for a patrol's
    handful of targets (the work grows with the square of their number per
    pass); returns the point indices in visiting order.
    """
    px = np.asarray(x, dtype=float)
    py = np.asarray(y, dtype=float)
    n = px.size
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if not 0 <= start < n:
        msg = f"`start` must index one of the {n} points, got {start}."
        raise ValidationError(msg)
    d = np.hypot(px[:, None] - px[None, :], py[:, None] - py[None, :])
    tour = [start]
    left = np.ones(n, dtype=bool)
    left[start] = False
    while left.any():
        here = tour[-1]
        cand = np.flatnonzero(left)
        nxt = int(cand[np.argmin(d[here, cand])])
        tour.append(nxt)
        left[nxt] = False
    order = np.array(tour, dtype=np.int64)
    improved = True
    while improved and n > 3:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b = order[i - 1], order[i]
                c = order[j]
                e = order[j + 1] if j + 1 < n else -1
                before = d[a, b] + (d[c, e] if e >= 0 else 0.0)
                after = d[a, c] + (d[b, e] if e >= 0 else 0.0)
                if after < before - 1e-9:
                    order[i : j + 1] = order[i : j + 1][::-1]
                    improved = True
    return order


def tour_length_m(x: npt.ArrayLike, y: npt.ArrayLike, order: npt.ArrayLike) -> float:
    """Length in metres of the open path visiting points in ``order``."""
    o = np.asarray(order, dtype=np.int64)
    px = np.asarray(x, dtype=float)[o]
    py = np.asarray(y, dtype=float)[o]
    return float(np.hypot(np.diff(px), np.diff(py)).sum())
