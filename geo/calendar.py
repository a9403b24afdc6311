"""UK time: the one calendar of the product.

Patrol weeks, police.uk months, backtest periods and command-line days all
start at midnight UK time (Europe/London), summer time included. Stored times
are UTC; this module turns them into UK weeks, months and dates and back.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pandas as pd

from geo.errors import ValidationError

LOCAL_TZ = "Europe/London"
HORIZONS = ("week", "month")
FIRST_YEAR, LAST_YEAR = 1900, 2200
"""Years a command-line day or week may fall in (pandas' nanosecond times end in 2262)."""


def _check_year(year: int, name: str, text: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        msg = (
            f"`{name}` {text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR} the product handles."
        )
        raise ValidationError(msg)


def week_start(ts: pd.Series) -> pd.Series:
    """Monday (UK local date, naive midnight) of the ISO week of each UTC timestamp."""
    local = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
    return local - pd.to_timedelta(local.dt.day_of_week, unit="D")


def month_start(ts: pd.Series) -> pd.Series:
    """First day (UK local date, naive midnight) of the month of each UTC timestamp."""
    local = ts.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return local.dt.to_period("M").dt.start_time


def parse_day(text: str | None, name: str) -> datetime | None:
    """A day ``YYYY-MM-DD`` as its midnight UK time (in UTC); a time with an offset as given.

    ``--from 2022-10-01`` takes October's events in summer time too.

    Raises
    ------
    ValidationError
        Naming ``name`` (the option) when ``text`` is not a date.
    """
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        msg = f"`{name}` must be a date like 2025-03-14, got {text!r}."
        raise ValidationError(msg) from None
    _check_year(value.year, name, text)
    if value.tzinfo is None:
        local = pd.Timestamp(value).tz_localize(
            LOCAL_TZ, ambiguous=False, nonexistent="shift_forward"
        )
        return local.tz_convert("UTC").to_pydatetime()
    return value.astimezone(UTC)


def uk_date(value: datetime | pd.Timestamp | None) -> str:
    """The UK calendar date of an instant, ``YYYY-MM-DD`` (``-`` when missing).

    ``2020-10-01 00:00`` UK summer time is ``2020-09-30 23:00`` UTC; this
    gives ``2020-10-01``, the day a user typed.
    """
    if value is None:
        return "-"
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d")


def uk_day(value: datetime | pd.Timestamp | None) -> str:
    """The UK calendar day of an instant as packs print it, ``17 Mar 2026`` (``-`` when missing).

    The same day as :func:`uk_date`, written the way the cover's data window
    and the target rows read.
    """
    if value is None or value is pd.NaT:
        return "-"
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    local = ts.tz_convert(LOCAL_TZ)
    return f"{local.day} {local:%b %Y}"


def patrol_week(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC start and end of an ISO patrol week ``YYYY-Www`` (Monday 00:00 UK time)."""
    m = re.fullmatch(r"(\d{4})-?W(\d{2})", text.strip(), flags=re.IGNORECASE)
    if not m:
        msg = f"`--week` must look like 2026-W02 (ISO year and week), got {text!r}."
        raise ValidationError(msg)
    _check_year(int(m.group(1)), "--week", text)
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        msg = f"`--week` {text!r} is not a week of that ISO year."
        raise ValidationError(msg) from None
    start = pd.Timestamp(monday).tz_localize(LOCAL_TZ).tz_convert("UTC")
    end = (pd.Timestamp(monday) + pd.Timedelta(days=7)).tz_localize(LOCAL_TZ)
    return start, end.tz_convert("UTC")


def week_after(latest: pd.Timestamp) -> str:
    """The ISO week ``YYYY-Www`` after the one holding ``latest`` (the week to patrol next)."""
    last = latest.tz_convert(LOCAL_TZ)
    nxt = (last + pd.Timedelta(days=7)).isocalendar()
    return f"{nxt.year}-W{nxt.week:02d}"


def period_boundaries(start: pd.Timestamp, end: pd.Timestamp, horizon: str) -> list[pd.Timestamp]:
    """UTC starts of the whole periods in ``[start, end]``, plus the end of the last one.

    Weeks start on Monday 00:00 UK time and months on the 1st at 00:00 UK
    time; the first boundary is the first period start at or after ``start``
    (a part period at either end is not used). So ``len(result) - 1`` is the
    number of whole periods in the window.
    """
    if horizon not in HORIZONS:
        msg = f"`horizon` must be one of {', '.join(HORIZONS)}, got {horizon!r}."
        raise ValidationError(msg)
    local = start.tz_convert(LOCAL_TZ).tz_localize(None)
    step: pd.DateOffset
    if horizon == "week":
        first = local.normalize() - pd.Timedelta(days=local.day_of_week)
        step = pd.DateOffset(weeks=1)
    else:
        first = local.normalize().replace(day=1)
        step = pd.DateOffset(months=1)
    if first < local:
        first = first + step
    out: list[pd.Timestamp] = []
    b = first
    while True:
        utc = b.tz_localize(LOCAL_TZ).tz_convert("UTC")
        if utc > end:
            return out
        out.append(utc)
        b = b + step


def utc(value: object, name: str) -> pd.Timestamp:
    """A timezone-aware datetime as a UTC timestamp; a naive or other value is refused."""
    if not isinstance(value, datetime):
        msg = f"`{name}` must be a timezone-aware datetime, got {type(value).__name__}."
        raise ValidationError(msg)
    if value.tzinfo is None:
        msg = f"`{name}` must be timezone-aware, got {value!r}. Use datetime(..., tzinfo=UTC)."
        raise ValidationError(msg)
    return pd.Timestamp(value).tz_convert("UTC")
