"""Counts by week and area: the first look at any table."""

from __future__ import annotations

import pandas as pd

from geo.errors import ValidationError

LOCAL_TZ = "Europe/London"


def week_start(ts: pd.Series) -> pd.Series:
    """Monday (UK local date) of the ISO week of each UTC timestamp."""
    local = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    return local - pd.to_timedelta(local.dt.day_of_week, unit="D")


def counts_by_week_and_area(
    frame: pd.DataFrame,
    *,
    time_column: str,
    area_column: str,
    distinct_column: str | None = None,
    unassigned: str = "(outside wards)",
) -> pd.DataFrame:
    """A week x area table of row counts (and distinct values of one column).

    Parameters
    ----------
    frame
        Rows with a UTC timestamp column and an area-code column.
    time_column, area_column
        Which columns to group by (weeks start on Monday, UK local time).
    distinct_column
        Also count distinct values of this column (e.g. ``child_ref``), so
        one child reported many times does not read as many children.

    Returns
    -------
    DataFrame with columns ``week`` (date of the Monday), ``area``, ``n`` and,
    when asked, ``distinct``; sorted by week then area.
    """
    for c in (time_column, area_column, *([distinct_column] if distinct_column else [])):
        if c not in frame.columns:
            msg = f"`{c}` is not a column of the frame; columns are {list(frame.columns)}."
            raise ValidationError(msg)
    data = pd.DataFrame(
        {
            "week": week_start(frame[time_column]).dt.date,
            "area": frame[area_column].fillna(unassigned).astype(str),
        }
    )
    grouped = data.groupby(["week", "area"], sort=True)
    out = grouped.size().rename("n").reset_index()
    if distinct_column:
        data["d"] = frame[distinct_column].to_numpy()
        out["distinct"] = data.groupby(["week", "area"], sort=True)["d"].nunique().to_numpy()
    return out.sort_values(["week", "area"]).reset_index(drop=True)
