"""Counts by period (week or month) and area: the first look at any table."""

from __future__ import annotations

import pandas as pd

from geo.calendar import month_start, week_start
from geo.errors import ValidationError

PERIODS = ("week", "month")


def period_start(ts: pd.Series, period: str) -> pd.Series:
    """The UK local start (naive midnight) of the week (Monday) or month of each UTC time."""
    if period not in PERIODS:
        msg = f"`period` must be one of {', '.join(PERIODS)}, got {period!r}."
        raise ValidationError(msg)
    return week_start(ts) if period == "week" else month_start(ts)


def next_period(start: pd.Timestamp, period: str) -> pd.Timestamp:
    """The start of the period after the one starting at ``start`` (naive UK local)."""
    return start + (pd.Timedelta(days=7) if period == "week" else pd.offsets.MonthBegin(1))


def counts_by_period_and_area(
    frame: pd.DataFrame,
    *,
    time_column: str,
    area_column: str,
    distinct_column: str | None = None,
    period: str = "week",
    unassigned: str = "(outside wards)",
) -> pd.DataFrame:
    """A period x area table of row counts (and distinct values of one column).

    Parameters
    ----------
    frame
        Rows with a UTC timestamp column and an area-code column.
    time_column, area_column
        Which columns to group by (weeks start on Monday, months on the 1st,
        UK local time).
    distinct_column
        Also count distinct values of this column (e.g. ``child_ref``), so
        one child reported many times does not read as many children.
    period
        ``week`` or ``month``.

    Returns
    -------
    DataFrame with columns ``period`` (date of its first day), ``area``, ``n``
    and, when asked, ``distinct``; sorted by period then area.
    """
    for c in (time_column, area_column, *([distinct_column] if distinct_column else [])):
        if c not in frame.columns:
            msg = f"`{c}` is not a column of the frame; columns are {list(frame.columns)}."
            raise ValidationError(msg)
    data = pd.DataFrame(
        {
            "period": period_start(frame[time_column], period).dt.date,
            "area": frame[area_column].fillna(unassigned).astype(str),
        }
    )
    grouped = data.groupby(["period", "area"], sort=True)
    out = grouped.size().rename("n").reset_index()
    if distinct_column:
        data["d"] = frame[distinct_column].to_numpy()
        out["distinct"] = data.groupby(["period", "area"], sort=True)["d"].nunique().to_numpy()
    return out.sort_values(["period", "area"]).reset_index(drop=True)


def whole_periods(
    starts: pd.Series, period: str, span_start: pd.Timestamp, span_end: pd.Timestamp
) -> pd.Series:
    """Whether each period (by its naive UK local start) lies wholly inside the span.

    ``span_start`` and ``span_end`` are naive UK local times: the window asked
    for, or the first and last stored time when the window is open. A period
    the span cuts (the week data begin in, the week still under way) is a part
    period: its count is not comparable with whole ones.
    """
    begin = pd.to_datetime(starts)
    end = begin.map(lambda b: next_period(b, period))
    return pd.Series((begin >= span_start) & (end <= span_end), index=starts.index)
