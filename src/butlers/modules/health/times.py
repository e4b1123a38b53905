"""Dates, instants, periods and times of day as the health tools accept them.

Naive values are read in the health module's time zone. Error messages never
repeat the value given: it may be health data, and tool errors reach traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from butlers.core.tool_errors import bad_argument

MAX_PERIOD_DAYS = 3660
EXAMPLE = "e.g. 2026-03-01 or 2026-03-01T08:30 or 2026-03-01T08:30+01:00"


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def now(tz: ZoneInfo) -> datetime:
    return datetime.now(UTC).astimezone(tz)


def parse_date(tool: str, argument: str, text: str, tz: ZoneInfo) -> date:
    word = text.strip().lower()
    today = now(tz).date()
    if word == "today":
        return today
    if word == "yesterday":
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise bad_argument(tool, argument, "must be an ISO 8601 date (YYYY-MM-DD)") from None


def parse_instant(tool: str, argument: str, text: str | None, tz: ZoneInfo) -> datetime:
    """An aware datetime; None or 'now' is now; a date alone is that day's start."""
    if text is None or text.strip().lower() == "now":
        return now(tz)
    word = text.strip()
    if len(word) <= 10 or word.lower() in ("today", "yesterday"):
        day = parse_date(tool, argument, word, tz)
        return datetime.combine(day, time(0), tz)
    try:
        value = datetime.fromisoformat(word.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise bad_argument(tool, argument, f"must be an ISO 8601 date or date-time ({EXAMPLE})") from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def _bound(tool: str, argument: str, text: str, tz: ZoneInfo, *, end: bool) -> datetime:
    value = parse_instant(tool, argument, text, tz)
    stripped = text.strip()
    # `until=2026-03-31` means through the end of that day.
    if end and (len(stripped) <= 10 or stripped.lower() in ("today", "yesterday")):
        value += timedelta(days=1)
    return value


def parse_period(
    tool: str, since: str | None, until: str | None, days: int | None, tz: ZoneInfo, default_days: int = 30
) -> Period:
    """[since, until); without `since`, the `days` (default `default_days`) before `until`."""
    end = now(tz) if until is None else _bound(tool, "until", until, tz, end=True)
    if since is not None:
        if days is not None:
            raise bad_argument(tool, "days", "give either since or days, not both")
        start = _bound(tool, "since", since, tz, end=False)
    else:
        start = end - timedelta(days=days if days is not None else default_days)
    if start >= end:
        raise bad_argument(tool, "since", "must be before until")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise bad_argument(tool, "since", f"the period is longer than {MAX_PERIOD_DAYS} days")
    return Period(start, end)


def parse_time_of_day(tool: str, argument: str, text: str) -> time:
    try:
        value = time.fromisoformat(text.strip())
    except ValueError:
        raise bad_argument(tool, argument, "each time must be HH:MM (24-hour), e.g. 08:00 or 20:30") from None
    return value.replace(second=0, microsecond=0, tzinfo=None)


def iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()
