"""The calendar module's tools: list, create, update, delete, free time (one method each).

Create, update and delete go through the butler's approval gate: each has an
executor (`run_*`) the gate calls now, or once approved, with the stored JSON args.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import icalendar
from fastmcp.exceptions import ToolError
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import ModuleContext
from butlers.modules.calendar.backend import CalDAVStore, CalendarUnavailable, EventNotFound, load_ics
from butlers.modules.calendar.config import CalendarConfig
from butlers.modules.calendar.events import (
    EventFields,
    InputError,
    Occurrence,
    build_calendar,
    check_span,
    expand,
    fill_event,
    free_slots,
    localize,
    master_event,
    parse_moment,
    parse_range,
    parse_rrule,
    parse_work_hours,
    text_problem,
    zone,
)

if TYPE_CHECKING:
    from fastmcp import FastMCP

MAX_TEXT = 10_000
MAX_SUMMARY = 500
MAX_UID = 255

# An event's free text (summary, description, location), checked by `_text` when given.
EventText = str | None
Moment = Annotated[str, Field(description="ISO 8601: '2025-03-01T09:00:00+01:00', naive in the zone, or '2025-03-01'.")]
Rule = Annotated[str | None, Field(description="RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO'.")]
NewRule = Annotated[str | None, Field(description="New rule; '' makes the event single.")]
EventZone = Annotated[str | None, Field(description="IANA zone the event lives in; default the module's.")]
NewZone = Annotated[str | None, Field(description="IANA zone for the new times.")]
MinMinutes = Annotated[int, Field(description="Shortest gap worth reporting, in minutes.")]
WorkHours = Annotated[
    str | None, Field(description="Only inside these hours each day, e.g. '09:00-17:00' (module zone).")
]
Span = tuple[datetime | date, datetime | date]


def _text(tool: str, argument: str, value: EventText, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if required and not text:
        raise bad_argument(tool, argument, "must not be empty")
    if (problem := text_problem(text, limit)) is not None:
        raise bad_argument(tool, argument, problem)
    return text


def _uid(tool: str, uid: str) -> str:
    text = _text(tool, "uid", uid, MAX_UID, required=True) or ""  # never None: uid is required
    if any(c in text for c in "\r\n/"):
        raise bad_argument(tool, "uid", "must not contain line breaks or '/'")
    return text


def _bad_input(tool: str, exc: InputError) -> ToolError:
    return bad_argument(tool, exc.argument, str(exc))


def new_span(start: str, end: str, tzname: str) -> Span:
    event_tz = zone("timezone", tzname)
    first = localize(parse_moment("start", start, event_tz), event_tz)
    last = localize(parse_moment("end", end, event_tz), event_tz)
    check_span(first, last)
    return first, last


def updated_span(event: icalendar.Event, args: dict[str, Any], event_tz: ZoneInfo) -> Span:
    """The event's times after an update: moving start alone keeps the duration."""
    old_start = event.decoded("DTSTART")
    old_end = event.decoded("DTEND") if "DTEND" in event else old_start + event.decoded("DURATION")
    start = localize(parse_moment("start", args["start"], event_tz), event_tz) if args.get("start") else None
    end = localize(parse_moment("end", args["end"], event_tz), event_tz) if args.get("end") else None
    if start is None:
        start = localize(old_start, event_tz) if isinstance(old_start, datetime) else old_start
    if end is None:
        end = (start + (old_end - old_start)) if args.get("start") else old_end
        if isinstance(end, datetime):
            end = localize(end, event_tz)
    check_span(start, end)
    return start, end


def _bump_sequence(event: icalendar.Event) -> None:
    if "SEQUENCE" in event:
        seq = int(str(event["SEQUENCE"])) + 1
        del event["SEQUENCE"]
    else:
        seq = 1
    event.add("sequence", seq)


def apply_update(event: icalendar.Event, args: dict[str, Any], default_tz: str) -> None:
    """Change `event` in place with the fields of `args` that are given (None: keep; '': clear)."""
    old_start = event.decoded("DTSTART")
    tzname = args.get("timezone") or getattr(getattr(old_start, "tzinfo", None), "key", None) or default_tz
    start, end = updated_span(event, args, zone("timezone", tzname))
    old_rrule = event.get("RRULE")
    rrule = args.get("rrule")
    rrule_text = (rrule or None) if rrule is not None else (old_rrule.to_ical().decode() if old_rrule else None)

    def keep(key: str) -> str | None:
        value = args.get(key)
        if value is not None:
            return value or None
        old = event.get(key.upper())
        return str(old) if old is not None else None

    summary = args.get("summary") or str(event.get("SUMMARY", ""))
    fill_event(event, EventFields(summary, start, end, keep("description"), keep("location"), rrule_text))
    _bump_sequence(event)


class CalendarTools:
    """The tools of one butler's calendar."""

    def __init__(self, config: CalendarConfig, ctx: ModuleContext, store: Callable[[], CalDAVStore | None]) -> None:
        self.cfg = config
        self.ctx = ctx
        self.tz = zone("timezone", config.timezone)
        self._store = store  # the module's, set at startup

    def register(self, mcp: FastMCP) -> None:
        self.ctx.approvals.register("calendar_create_event", self.run_create)
        self.ctx.approvals.register("calendar_update_event", self.run_update)
        self.ctx.approvals.register("calendar_delete_event", self.run_delete)
        for fn in (
            self.calendar_list_events,
            self.calendar_create_event,
            self.calendar_update_event,
            self.calendar_delete_event,
            self.calendar_free_time,
        ):
            mcp.tool(fn, name=fn.__name__)

    # -- plumbing -----------------------------------------------------------------------------

    def store(self, tool: str) -> CalDAVStore:
        store = self._store()
        if store is None:
            if self.cfg.url is None:
                raise ToolError(f"{tool}: no CalDAV server is configured (only read-only ICS sources)")
            raise ToolError(f"{tool}: the calendar module is not started")
        return store

    async def occurrences(self, tool: str, begin: datetime, finish: datetime) -> tuple[list[Occurrence], list[str]]:
        found: list[Occurrence] = []
        errors: list[str] = []
        if self.cfg.url is not None:
            try:
                for ical in await self.store(tool).search(begin, finish):
                    found += expand(ical, begin, finish, self.tz, "caldav")
            except CalendarUnavailable as exc:
                raise ToolError(f"{tool}: {exc}") from None
        for source in self.cfg.ics_sources:
            try:
                ical = await load_ics(source, self.ctx.directory, self.cfg.timeout_seconds)
                found += expand(ical, begin, finish, self.tz, source)
            except Exception as exc:  # one bad feed does not hide the others
                errors.append(f"ICS source {source}: {type(exc).__name__}: {exc}")
        found.sort(key=lambda o: (o.begin, o.finish, o.data["summary"]))
        return found, errors

    async def _gated(self, action: str, args: dict[str, Any], summary: str) -> dict[str, Any]:
        require = action in self.cfg.require_approval
        return dict(await self.ctx.approvals.run_or_hold(action, args, require=require, summary=summary))

    async def merged_update(self, tool: str, args: dict[str, Any]) -> icalendar.Calendar:
        """The stored event with the update applied (raises InputError for bad times)."""
        try:
            ical = await self.store(tool).get(args["uid"])
        except EventNotFound:
            raise bad_argument(tool, "uid", f"no event with uid {args['uid']!r} in the calendar") from None
        event = master_event(ical)
        if event is None:
            raise bad_argument(tool, "uid", f"event {args['uid']!r} holds no VEVENT")
        apply_update(event, args, self.cfg.timezone)
        ical.add_missing_timezones()
        return ical

    # -- executors (run now, or on approval with the stored JSON args) -------------------------

    async def run_create(self, args: dict[str, Any]) -> dict[str, Any]:
        first, last = new_span(args["start"], args["end"], args["timezone"])
        fields = EventFields(
            args["summary"], first, last, args.get("description"), args.get("location"), args.get("rrule")
        )
        ical = build_calendar(args["uid"], fields)
        await self.store("calendar_create_event").save(ical, new=True)
        return {"status": "created", "uid": args["uid"], "summary": args["summary"]}

    async def run_update(self, args: dict[str, Any]) -> dict[str, Any]:
        tool = "calendar_update_event"
        try:
            ical = await self.merged_update(tool, args)
        except InputError as exc:
            raise _bad_input(tool, exc) from None
        await self.store(tool).save(ical, new=False)
        return {"status": "updated", "uid": args["uid"]}

    async def run_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            await self.store("calendar_delete_event").delete(args["uid"])
        except EventNotFound:
            raise bad_argument("calendar_delete_event", "uid", f"no event with uid {args['uid']!r}") from None
        return {"status": "deleted", "uid": args["uid"]}

    # -- the tools ----------------------------------------------------------------------------

    async def calendar_list_events(self, start: Moment, end: Moment) -> dict[str, Any]:
        """Events between start and end (ISO 8601), recurring events expanded into their instances.

        Times come back as ISO 8601 in the module's time zone, with the offset; all-day events as dates.
        Events from ICS sources are marked read_only.
        """
        tool = "calendar_list_events"
        try:
            begin, finish = parse_range(start, end, self.tz)
        except InputError as exc:
            raise _bad_input(tool, exc) from None
        found, errors = await self.occurrences(tool, begin, finish)
        return {"timezone": self.cfg.timezone, "events": [o.data for o in found], "errors": errors}

    async def calendar_create_event(
        self,
        summary: str,
        start: Moment,
        end: Moment,
        description: EventText = None,
        location: EventText = None,
        rrule: Rule = None,
        timezone: EventZone = None,
    ) -> dict[str, Any]:
        """Create an event on the CalDAV calendar (all-day when start and end are dates; end is exclusive)."""
        tool = "calendar_create_event"
        try:
            clean_summary = _text(tool, "summary", summary, MAX_SUMMARY, required=True)
            args: dict[str, Any] = {
                "uid": f"{uuid.uuid4()}@butlers",
                "summary": clean_summary,
                "description": _text(tool, "description", description, MAX_TEXT) or None,
                "location": _text(tool, "location", location, MAX_SUMMARY) or None,
                "rrule": parse_rrule(rrule) if rrule is not None else None,
                "timezone": timezone.strip() if timezone is not None else self.cfg.timezone,
            }
            first, last = new_span(start, end, args["timezone"])
        except InputError as exc:
            raise _bad_input(tool, exc) from None
        self.store(tool)
        args["start"], args["end"] = first.isoformat(), last.isoformat()
        result = await self._gated(tool, args, f"create event {clean_summary!r} at {args['start']}")
        return {**result, "uid": args["uid"]}

    async def calendar_update_event(
        self,
        uid: str,
        summary: EventText = None,
        start: Moment | None = None,
        end: Moment | None = None,
        description: EventText = None,
        location: EventText = None,
        rrule: NewRule = None,
        timezone: NewZone = None,
    ) -> dict[str, Any]:
        """Change an event (the whole series, for a recurring one); only the given fields change.

        Moving start alone keeps the duration. Empty description/location/rrule clear them.
        """
        tool = "calendar_update_event"
        clean_uid = _uid(tool, uid)
        try:
            args: dict[str, Any] = {
                "uid": clean_uid,
                "summary": _text(tool, "summary", summary, MAX_SUMMARY, required=True),
                "start": start,
                "end": end,
                "description": _text(tool, "description", description, MAX_TEXT),
                "location": _text(tool, "location", location, MAX_SUMMARY),
                "rrule": (parse_rrule(rrule) if rrule.strip() else "") if rrule is not None else None,
                "timezone": timezone.strip() if timezone is not None else None,
            }
            if timezone is not None:
                zone("timezone", args["timezone"])
            if all(args[k] is None for k in args if k != "uid"):
                raise InputError("summary", "nothing to change: give at least one field to update")
            await self.merged_update(tool, args)  # validates against the event as it is now; writes nothing
            return await self._gated(tool, args, f"update event {clean_uid}")
        except InputError as exc:
            raise _bad_input(tool, exc) from None
        except CalendarUnavailable as exc:
            raise ToolError(f"{tool}: {exc}") from None

    async def calendar_delete_event(self, uid: str) -> dict[str, Any]:
        """Delete an event (the whole series, for a recurring one) by its uid."""
        tool = "calendar_delete_event"
        clean_uid = _uid(tool, uid)
        try:
            if not await self.store(tool).exists(clean_uid):
                raise bad_argument(tool, "uid", f"no event with uid {clean_uid!r} in the calendar")
            return await self._gated(tool, {"uid": clean_uid}, f"delete event {clean_uid}")
        except CalendarUnavailable as exc:
            raise ToolError(f"{tool}: {exc}") from None

    async def calendar_free_time(
        self,
        start: Moment,
        end: Moment,
        min_minutes: MinMinutes = 30,
        work_hours: WorkHours = None,
    ) -> dict[str, Any]:
        """Free slots between start and end: gaps between busy events (transparent or cancelled ones don't count)."""
        tool = "calendar_free_time"
        try:
            begin, finish = parse_range(start, end, self.tz)
            if not 1 <= min_minutes <= 24 * 60:
                raise InputError("min_minutes", f"must be between 1 and {24 * 60}, got {min_minutes}")
            hours = parse_work_hours(work_hours) if work_hours is not None else None
        except InputError as exc:
            raise _bad_input(tool, exc) from None
        found, errors = await self.occurrences(tool, begin, finish)
        busy = [(o.begin, o.finish) for o in found if o.busy]
        return {
            "timezone": self.cfg.timezone,
            "free": free_slots(busy, begin, finish, self.tz, min_minutes, hours),
            "errors": errors,
        }
