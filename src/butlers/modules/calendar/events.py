"""Pure functions: ISO 8601 input, iCalendar events, recurrence expansion, free time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events
from dateutil.rrule import rrulestr

MAX_RANGE_DAYS = 366 * 2
# Control characters are not XML text: a CalDAV request carrying one fails inside the client library.
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text_problem(text: str, limit: int) -> str | None:
    """What makes `text` unfit for an event (too long, or a control character), or None."""
    if len(text) > limit:
        return f"is {len(text)} characters long; at most {limit} allowed"
    return "must not contain control characters" if _CONTROL.search(text) else None


class InputError(ValueError):
    """Bad tool input: `argument` names it."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


def zone(argument: str, name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a zone folder such as 'America'
        raise InputError(argument, f"'{name}' is not a known IANA time zone (e.g. 'Europe/Paris')") from None


def parse_moment(argument: str, value: str, tz: ZoneInfo) -> datetime | date:
    """An ISO 8601 date ('2025-03-01') or date-time; naive times are in `tz`; offsets are kept."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InputError(argument, "must be an ISO 8601 date or date-time, e.g. '2025-03-01T09:00:00+01:00'")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise InputError(argument, f"{text!r} is not a valid date: {exc}") from None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InputError(
            argument, f"{text!r} is not an ISO 8601 date-time (e.g. '2025-03-01T09:00:00+01:00' or '2025-03-01')"
        ) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_instant(argument: str, value: str, tz: ZoneInfo) -> datetime:
    """Like parse_moment, but a date means its midnight in `tz`."""
    moment = parse_moment(argument, value, tz)
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time(0), tzinfo=tz)
    return moment


def parse_range(start: str, end: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    begin = parse_instant("start", start, tz)
    finish = parse_instant("end", end, tz)
    if finish <= begin:
        raise InputError("end", "must be after start")
    if finish - begin > timedelta(days=MAX_RANGE_DAYS):
        raise InputError("end", f"the range is longer than {MAX_RANGE_DAYS} days")
    return begin, finish


def parse_rrule(value: str) -> str:
    """A recurrence rule like 'FREQ=WEEKLY;BYDAY=MO;COUNT=10' (an 'RRULE:' prefix is allowed)."""
    text = value.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if not text or "FREQ=" not in text.upper():
        raise InputError("rrule", "must be an RFC 5545 rule with FREQ, e.g. 'FREQ=WEEKLY;BYDAY=MO'")
    try:
        rrulestr(text, dtstart=datetime(2000, 1, 1))
        icalendar.vRecur.from_ical(text)
    except (ValueError, TypeError) as exc:
        raise InputError("rrule", f"{text!r} is not a valid recurrence rule: {exc}") from None
    return text


def localize(moment: datetime | date, tz: ZoneInfo) -> datetime | date:
    """A timed moment in the event's zone (offset-only input converted); dates stay dates."""
    if isinstance(moment, datetime):
        return moment.astimezone(tz)
    return moment


def check_span(start: datetime | date, end: datetime | date) -> None:
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise InputError("end", "start and end must both be dates (an all-day event) or both date-times")
    if end <= start:
        raise InputError("end", "must be after start")


@dataclass(frozen=True)
class EventFields:
    """What an event says (a new one's, or an updated one's after the change)."""

    summary: str
    start: datetime | date
    end: datetime | date
    description: str | None
    location: str | None
    rrule: str | None


def build_calendar(uid: str, fields: EventFields) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//butlers//calendar module//EN")
    cal.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(UTC))
    fill_event(event, fields)
    cal.add_component(event)
    cal.add_missing_timezones()
    return cal


def fill_event(event: icalendar.Event, fields: EventFields) -> None:
    for key in ("summary", "dtstart", "dtend", "duration", "description", "location", "rrule"):
        if key in event:
            del event[key]
    event.add("summary", fields.summary)
    event.add("dtstart", fields.start)
    event.add("dtend", fields.end)
    if fields.description:
        event.add("description", fields.description)
    if fields.location:
        event.add("location", fields.location)
    if fields.rrule:
        event.add("rrule", icalendar.vRecur.from_ical(fields.rrule))


def master_event(cal: icalendar.Calendar) -> icalendar.Event | None:
    """The VEVENT without RECURRENCE-ID (the series, or the single event)."""
    events = [c for c in cal.walk("VEVENT") if isinstance(c, icalendar.Event)]
    for event in events:
        if "RECURRENCE-ID" not in event:
            return event
    return events[0] if events else None


def _iso(value: datetime | date, tz: ZoneInfo) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the wall clock of the configured zone
            value = value.replace(tzinfo=tz)
        return value.astimezone(tz).isoformat()
    return value.isoformat()


def _ical_text(value: Any) -> str:
    raw = value.to_ical()
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _text(event: icalendar.Event, key: str) -> str | None:
    value = event.get(key)
    return str(value) if value is not None else None


@dataclass(frozen=True)
class Occurrence:
    """One event instance as the tools return it."""

    data: dict[str, Any]
    begin: datetime  # UTC, for sorting and free time
    finish: datetime
    busy: bool


def _as_instant(value: datetime | date, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=tz).astimezone(UTC)


def expand(cal: icalendar.Calendar, begin: datetime, finish: datetime, tz: ZoneInfo, source: str) -> list[Occurrence]:
    """Every instance of the calendar's events overlapping [begin, finish), recurrences expanded."""
    rrules = {
        str(e.get("UID", "")): _ical_text(e["RRULE"])
        for e in cal.walk("VEVENT")
        if "RRULE" in e and "RECURRENCE-ID" not in e
    }
    out = []
    for event in recurring_ical_events.of(cal).between(begin, finish):
        start = event.decoded("DTSTART")
        if "DTEND" in event:
            end = event.decoded("DTEND")
        elif "DURATION" in event:
            end = start + event.decoded("DURATION")
        else:
            end = start + timedelta(days=1) if not isinstance(start, datetime) else start
        all_day = not isinstance(start, datetime)
        rrule_text = rrules.get(str(event.get("UID", "")))
        recurring = rrule_text is not None or "RDATE" in event
        start_tz = getattr(start, "tzinfo", None)
        data: dict[str, Any] = {
            "uid": str(event.get("UID", "")),
            "summary": _text(event, "SUMMARY") or "",
            "start": _iso(start, tz),
            "end": _iso(end, tz),
            "all_day": all_day,
            "description": _text(event, "DESCRIPTION"),
            "location": _text(event, "LOCATION"),
            "recurring": recurring,
            "rrule": rrule_text,
            "event_timezone": str(getattr(start_tz, "key", start_tz)) if start_tz is not None else None,
            "source": source,
            "read_only": source != "caldav",
        }
        transparent = str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
        cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
        out.append(Occurrence(data, _as_instant(start, tz), _as_instant(end, tz), busy=not (transparent or cancelled)))
    return out


def parse_work_hours(value: str) -> tuple[time, time]:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not match:
        raise InputError("work_hours", "must look like '09:00-17:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if not (0 <= h1 <= 23 and 0 <= h2 <= 24 and 0 <= m1 <= 59 and 0 <= m2 <= 59) or (h2 == 24 and m2):
        raise InputError("work_hours", f"{value!r} is not a valid time range")
    first = time(h1, m1)
    last = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    if last <= first:
        raise InputError("work_hours", "the end must be after the start")
    return first, last


def _windows(
    begin: datetime, finish: datetime, tz: ZoneInfo, hours: tuple[time, time] | None
) -> list[tuple[datetime, datetime]]:
    if hours is None:
        return [(begin, finish)]
    windows = []
    day = begin.astimezone(tz).date()
    while datetime.combine(day, time(0), tzinfo=tz) < finish:
        lo = datetime.combine(day, hours[0], tzinfo=tz)
        hi = datetime.combine(day, hours[1], tzinfo=tz)
        lo, hi = max(lo, begin), min(hi, finish)
        if lo < hi:
            windows.append((lo, hi))
        day += timedelta(days=1)
    return windows


def free_slots(
    busy: list[tuple[datetime, datetime]],
    begin: datetime,
    finish: datetime,
    tz: ZoneInfo,
    min_minutes: int,
    hours: tuple[time, time] | None,
) -> list[dict[str, Any]]:
    """Gaps of at least `min_minutes` in [begin, finish) (inside work hours when given) not covered by `busy`."""
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(busy):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    slots = []
    need = timedelta(minutes=min_minutes)
    for w_lo, w_hi in _windows(begin, finish, tz, hours):
        cursor = w_lo
        for b_lo, b_hi in merged:
            if b_hi <= cursor or b_lo >= w_hi:
                continue
            if b_lo - cursor >= need:
                slots.append((cursor, b_lo))
            cursor = max(cursor, b_hi)
        if w_hi - cursor >= need:
            slots.append((cursor, w_hi))
    return [
        {
            "start": lo.astimezone(tz).isoformat(),
            "end": hi.astimezone(tz).isoformat(),
            "minutes": int((hi - lo).total_seconds() // 60),
        }
        for lo, hi in slots
    ]
