"""The `calendar` module: a CalDAV calendar (read and write) plus read-only ICS feeds.

    [modules.calendar]
    url = "https://dav.example.com/"      # CalDAV server; password in CALDAV_PASSWORD
    username = "alice"
    calendar = "Personal"                 # display name or URL path; default the first calendar
    ics_sources = ["https://example.com/holidays.ics", "team.ics"]
    timezone = "Europe/Paris"             # default the host's
    require_approval = ["calendar_create_event", "calendar_delete_event"]

See docs/modules/calendar.md.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import icalendar
from fastmcp.exceptions import ToolError
from pydantic import Field

from butlers.errors import ToolInputError
from butlers.modules.base import Module, ModuleContext
from butlers.modules.calendar.backend import CalDAVStore, CalendarUnavailable, EventNotFound, load_ics
from butlers.modules.calendar.config import OUTBOUND_TOOLS, CalendarConfig
from butlers.modules.calendar.events import (
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
    from collections.abc import Awaitable, Callable

    from fastmcp import FastMCP

__all__ = ["CalendarConfig", "CalendarModule"]

MAX_TEXT = 10_000
MAX_SUMMARY = 500
MAX_UID = 255

Moment = Annotated[str, Field(description="ISO 8601: '2025-03-01T09:00:00+01:00', naive in the zone, or '2025-03-01'.")]


def _refuse(tool: str, argument: str, message: str) -> ToolError:
    return ToolError(str(ToolInputError(tool, argument, message)))


def _text(tool: str, argument: str, value: str | None, limit: int, *, required: bool = False) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if required and not text:
        raise _refuse(tool, argument, "must not be empty")
    if (problem := text_problem(text, limit)) is not None:
        raise _refuse(tool, argument, problem)
    return text


def _uid(tool: str, uid: str) -> str:
    text = _text(tool, "uid", uid, MAX_UID, required=True) or ""  # never None: uid is required
    if any(c in text for c in "\r\n/"):
        raise _refuse(tool, "uid", "must not contain line breaks or '/'")
    return text


class CalendarModule(Module):
    """List events (recurrences expanded), create/update/delete them on CalDAV, find free time."""

    name = "calendar"
    config_schema = CalendarConfig
    # Required by the butler; ignored when `username` is not set (a server without auth, or ICS only).
    credentials_env = ("CALDAV_PASSWORD",)

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.store: CalDAVStore | None = None
        self.ctx: ModuleContext | None = None

    @property
    def cfg(self) -> CalendarConfig:
        assert isinstance(self.config, CalendarConfig)
        return self.config

    async def on_startup(self, ctx: ModuleContext) -> None:
        self.ctx = ctx
        cfg = self.cfg
        if cfg.url is not None:
            self.store = CalDAVStore(
                cfg.url,
                cfg.username,
                ctx.credentials.get("CALDAV_PASSWORD"),
                cfg.calendar,
                cfg.timeout_seconds,
                create_if_missing=cfg.create_if_missing,
            )
            # A server that is down at startup is reported by health(), it does not stop the butler.
            state = await self.store.probe()
            if not state["ok"]:
                ctx.log.warning("calendar.unreachable", error=state["error"])

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        self.store = None

    async def health(self) -> dict[str, Any]:
        if self.store is None:
            if self.cfg.url is None:
                return {"ok": True, "caldav": None, "ics_sources": len(self.cfg.ics_sources)}
            return {"ok": False, "error": "not started"}
        return await self.store.probe()

    # -- tools ---------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        self.ctx = ctx
        cfg = self.cfg
        tz = zone("timezone", cfg.timezone)

        def store(tool: str) -> CalDAVStore:
            if self.store is None:
                if cfg.url is None:
                    raise ToolError(f"{tool}: no CalDAV server is configured (only read-only ICS sources)")
                raise ToolError(f"{tool}: the calendar module is not started")
            return self.store

        def bad_input(tool: str, exc: InputError) -> ToolError:
            return _refuse(tool, exc.argument, str(exc))

        async def occurrences(tool: str, begin: datetime, finish: datetime) -> tuple[list[Occurrence], list[str]]:
            found: list[Occurrence] = []
            errors: list[str] = []
            if cfg.url is not None:
                try:
                    for ical in await store(tool).search(begin, finish):
                        found += expand(ical, begin, finish, tz, "caldav")
                except CalendarUnavailable as exc:
                    raise ToolError(f"{tool}: {exc}") from None
            for source in cfg.ics_sources:
                try:
                    ical = await load_ics(source, ctx.directory, cfg.timeout_seconds)
                    found += expand(ical, begin, finish, tz, source)
                except Exception as exc:  # one bad feed does not hide the others
                    errors.append(f"ICS source {source}: {type(exc).__name__}: {exc}")
            found.sort(key=lambda o: (o.begin, o.finish, o.data["summary"]))
            return found, errors

        async def gate(action: str, args: dict[str, Any], summary: str, run: Callable[..., Awaitable[Any]]) -> Any:
            require = action in cfg.require_approval
            if ctx.approvals is None:
                if require:
                    raise ToolError(f"{action}: requires approval, but this butler has no approval gate")
                return await run(args)
            return await ctx.approvals.guard(action, args, require=require, summary=summary)

        def new_span(tool: str, start: str, end: str, tzname: str) -> tuple[datetime | date, datetime | date]:
            event_tz = zone("timezone", tzname)
            first = localize(parse_moment("start", start, event_tz), event_tz)
            last = localize(parse_moment("end", end, event_tz), event_tz)
            check_span(first, last)
            return first, last

        # -- executors (run now, or on approval with the stored JSON args) --

        async def do_create(args: dict[str, Any]) -> dict[str, Any]:
            first, last = new_span("calendar_create_event", args["start"], args["end"], args["timezone"])
            ical = build_calendar(
                args["uid"],
                args["summary"],
                first,
                last,
                args.get("description"),
                args.get("location"),
                args.get("rrule"),
            )
            await store("calendar_create_event").save(ical, new=True)
            return {"status": "created", "uid": args["uid"], "summary": args["summary"]}

        async def merged_update(tool: str, args: dict[str, Any]) -> icalendar.Calendar:
            try:
                ical = await store(tool).get(args["uid"])
            except EventNotFound:
                raise _refuse(tool, "uid", f"no event with uid {args['uid']!r} in the calendar") from None
            event = master_event(ical)
            if event is None:
                raise _refuse(tool, "uid", f"event {args['uid']!r} holds no VEVENT")
            old_start = event.decoded("DTSTART")
            old_end = event.decoded("DTEND") if "DTEND" in event else old_start + event.decoded("DURATION")
            tzname = args.get("timezone") or getattr(getattr(old_start, "tzinfo", None), "key", None) or cfg.timezone
            event_tz = zone("timezone", tzname)
            start = localize(parse_moment("start", args["start"], event_tz), event_tz) if args.get("start") else None
            end = localize(parse_moment("end", args["end"], event_tz), event_tz) if args.get("end") else None
            if start is None:
                start = localize(old_start, event_tz) if isinstance(old_start, datetime) else old_start
            if end is None:
                end = (start + (old_end - old_start)) if args.get("start") else old_end
                if isinstance(end, datetime):
                    end = localize(end, event_tz)
            check_span(start, end)
            old_rrule = event.get("RRULE")
            rrule = args.get("rrule")
            rrule_text = (rrule or None) if rrule is not None else (old_rrule.to_ical().decode() if old_rrule else None)

            def keep(key: str) -> str | None:
                value = args.get(key)
                if value is not None:
                    return value or None
                old = event.get(key.upper())
                return str(old) if old is not None else None

            fill_event(
                event,
                args.get("summary") or str(event.get("SUMMARY", "")),
                start,
                end,
                keep("description"),
                keep("location"),
                rrule_text,
            )
            if "SEQUENCE" in event:
                seq = int(str(event["SEQUENCE"])) + 1
                del event["SEQUENCE"]
            else:
                seq = 1
            event.add("sequence", seq)
            ical.add_missing_timezones()
            return ical

        async def do_update(args: dict[str, Any]) -> dict[str, Any]:
            tool = "calendar_update_event"
            try:
                ical = await merged_update(tool, args)
            except InputError as exc:
                raise bad_input(tool, exc) from None
            await store(tool).save(ical, new=False)
            return {"status": "updated", "uid": args["uid"]}

        async def do_delete(args: dict[str, Any]) -> dict[str, Any]:
            try:
                await store("calendar_delete_event").delete(args["uid"])
            except EventNotFound:
                raise _refuse("calendar_delete_event", "uid", f"no event with uid {args['uid']!r}") from None
            return {"status": "deleted", "uid": args["uid"]}

        if ctx.approvals is not None:
            ctx.approvals.register("calendar_create_event", do_create)
            ctx.approvals.register("calendar_update_event", do_update)
            ctx.approvals.register("calendar_delete_event", do_delete)

        # -- the tools --

        async def calendar_list_events(start: Moment, end: Moment) -> dict[str, Any]:
            """Events between start and end (ISO 8601), recurring events expanded into their instances.

            Times come back as ISO 8601 in the module's time zone, with the offset; all-day events as dates.
            Events from ICS sources are marked read_only.
            """
            tool = "calendar_list_events"
            try:
                begin, finish = parse_range(start, end, tz)
            except InputError as exc:
                raise bad_input(tool, exc) from None
            found, errors = await occurrences(tool, begin, finish)
            return {"timezone": cfg.timezone, "events": [o.data for o in found], "errors": errors}

        async def calendar_create_event(
            summary: str,
            start: Moment,
            end: Moment,
            description: str | None = None,
            location: str | None = None,
            rrule: Annotated[str | None, Field(description="RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO'.")] = None,
            timezone: Annotated[
                str | None, Field(description="IANA zone the event lives in; default the module's.")
            ] = None,
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
                    "timezone": timezone.strip() if timezone is not None else cfg.timezone,
                }
                first, last = new_span(tool, start, end, args["timezone"])
            except InputError as exc:
                raise bad_input(tool, exc) from None
            store(tool)
            args["start"], args["end"] = first.isoformat(), last.isoformat()
            result: dict[str, Any] = await gate(
                tool, args, f"create event {clean_summary!r} at {args['start']}", do_create
            )
            return {**result, "uid": args["uid"]}

        async def calendar_update_event(
            uid: str,
            summary: str | None = None,
            start: Moment | None = None,
            end: Moment | None = None,
            description: str | None = None,
            location: str | None = None,
            rrule: Annotated[str | None, Field(description="New rule; '' makes the event single.")] = None,
            timezone: Annotated[str | None, Field(description="IANA zone for the new times.")] = None,
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
                await merged_update(tool, args)  # validates against the event as it is now; writes nothing
            except InputError as exc:
                raise bad_input(tool, exc) from None
            except CalendarUnavailable as exc:
                raise ToolError(f"{tool}: {exc}") from None
            try:
                return dict(await gate(tool, args, f"update event {clean_uid}", do_update))
            except CalendarUnavailable as exc:
                raise ToolError(f"{tool}: {exc}") from None

        async def calendar_delete_event(uid: str) -> dict[str, Any]:
            """Delete an event (the whole series, for a recurring one) by its uid."""
            tool = "calendar_delete_event"
            clean_uid = _uid(tool, uid)
            try:
                if not await store(tool).exists(clean_uid):
                    raise _refuse(tool, "uid", f"no event with uid {clean_uid!r} in the calendar")
                return dict(await gate(tool, {"uid": clean_uid}, f"delete event {clean_uid}", do_delete))
            except CalendarUnavailable as exc:
                raise ToolError(f"{tool}: {exc}") from None

        async def calendar_free_time(
            start: Moment,
            end: Moment,
            min_minutes: Annotated[int, Field(description="Shortest gap worth reporting, in minutes.")] = 30,
            work_hours: Annotated[
                str | None, Field(description="Only inside these hours each day, e.g. '09:00-17:00' (module zone).")
            ] = None,
        ) -> dict[str, Any]:
            """Free slots between start and end: gaps between busy events (transparent or cancelled ones don't count)."""
            tool = "calendar_free_time"
            try:
                begin, finish = parse_range(start, end, tz)
                if not 1 <= min_minutes <= 24 * 60:
                    raise InputError("min_minutes", f"must be between 1 and {24 * 60}, got {min_minutes}")
                hours = parse_work_hours(work_hours) if work_hours is not None else None
            except InputError as exc:
                raise bad_input(tool, exc) from None
            found, errors = await occurrences(tool, begin, finish)
            busy = [(o.begin, o.finish) for o in found if o.busy]
            return {
                "timezone": cfg.timezone,
                "free": free_slots(busy, begin, finish, tz, min_minutes, hours),
                "errors": errors,
            }

        for fn in (
            calendar_list_events,
            calendar_create_event,
            calendar_update_event,
            calendar_delete_event,
            calendar_free_time,
        ):
            mcp.tool(fn, name=fn.__name__)


assert set(OUTBOUND_TOOLS) == {"calendar_create_event", "calendar_update_event", "calendar_delete_event"}
