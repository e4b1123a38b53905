"""The periods spend is counted over: days and calendar months in the host's time zone.

The per-butler daily budget already resets at local midnight (core/spawner.py); the
monthly ceiling and the per-day figures use the same zone so they agree with it.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import tzlocal


def local_zone() -> ZoneInfo:
    return ZoneInfo(tzlocal.get_localzone_name())


def start_of_day(day: date, zone: ZoneInfo | None = None) -> datetime:
    """Local midnight at the start of `day`."""
    return datetime.combine(day, time(0), tzinfo=zone or local_zone())


def start_of_month(now: datetime | None = None, zone: ZoneInfo | None = None) -> datetime:
    """Local midnight of the first day of `now`'s month."""
    tz = zone or local_zone()
    today = (now or datetime.now(tz)).astimezone(tz).date()
    return start_of_day(today.replace(day=1), tz)


def next_month_start(month_start: datetime) -> datetime:
    """Local midnight of the first day of the month after `month_start`'s."""
    first = month_start.date().replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    )
    tz = month_start.tzinfo if isinstance(month_start.tzinfo, ZoneInfo) else local_zone()
    return start_of_day(following, tz)
