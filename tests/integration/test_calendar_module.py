"""The calendar module against a real CalDAV server (Radicale, one per module, a fresh calendar per test), through an MCP client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import asyncpg
import caldav
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.core.approvals import ApprovalGate
from butlers.db import ServerAddress
from butlers.modules.base import ModuleContext
from butlers.modules.calendar import CalendarConfig, CalendarModule
from butlers.testing.caldav_server import RadicaleServer
from butlers.testing.module_contract import check_module_contract

USER, PASSWORD = "alice", "s3cret"

WEEKLY_WITH_EXDATE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:standup@test
DTSTAMP:20250101T000000Z
DTSTART:20250106T090000Z
DTEND:20250106T093000Z
SUMMARY:Standup
RRULE:FREQ=WEEKLY;BYDAY=MO
EXDATE:20250120T090000Z
END:VEVENT
END:VCALENDAR
"""

HOLIDAYS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:newyear@holidays
DTSTAMP:20250101T000000Z
DTSTART;VALUE=DATE:20260101
DTEND;VALUE=DATE:20260102
SUMMARY:New Year
RRULE:FREQ=YEARLY
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def radicale_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    # One server for the module (starting Radicale costs seconds); each test gets a fresh calendar.
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"), username=USER, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def radicale(radicale_server: RadicaleServer) -> RadicaleServer:
    """The module's server, running, with one empty calendar "Personal" and no other."""
    radicale_server.start()  # a no-op unless a failed "server down" test left it stopped
    principal = cast(Any, caldav.DAVClient)(url=radicale_server.url, username=USER, password=PASSWORD).principal()
    for calendar in principal.calendars():
        calendar.delete()
    principal.make_calendar(name="Personal")
    return radicale_server


def dav_calendar(server: RadicaleServer) -> Any:
    return (
        cast(Any, caldav.DAVClient)(url=server.url, username=USER, password=PASSWORD)
        .principal()
        .calendar(name="Personal")
    )


def dav_uids(server: RadicaleServer) -> list[str]:
    return sorted(str(e.icalendar_component["UID"]) for e in dav_calendar(server).events())


async def uids_on_server(server: RadicaleServer) -> list[str]:
    return await anyio.to_thread.run_sync(dav_uids, server)


def config(server: RadicaleServer, **extra: Any) -> dict[str, Any]:
    return {"url": server.url, "username": USER, "calendar": "Personal", "timezone": "UTC", **extra}


class Harness:
    def __init__(self, module: CalendarModule, client: Client, gate: ApprovalGate) -> None:
        self.module, self.client, self.gate = module, client, gate

    async def call(self, tool: str, **args: Any) -> Any:
        return (await self.client.call_tool(tool, args)).structured_content


async def open_harness(
    cfg: dict[str, Any], pool: asyncpg.Pool, directory: Path
) -> tuple[CalendarModule, ModuleContext, FastMCP]:
    module = CalendarModule(CalendarConfig.model_validate(cfg))
    ctx = ModuleContext(
        butler="test",
        pool=pool,
        directory=directory,
        data_dir=directory,
        credentials={"CALDAV_PASSWORD": PASSWORD},
        approvals=ApprovalGate(pool, "test"),
    )
    await module.on_startup(ctx)
    mcp = FastMCP("test")
    module.register_tools(mcp, ctx)
    return module, ctx, mcp


@pytest.fixture
async def harness_factory(pool: asyncpg.Pool, data_dir: Path) -> AsyncIterator[Any]:
    stack: list[tuple[CalendarModule, ModuleContext, Client]] = []

    async def make(cfg: dict[str, Any]) -> Harness:
        module, ctx, mcp = await open_harness(cfg, pool, data_dir)
        client = Client(mcp)
        await client.__aenter__()
        stack.append((module, ctx, client))
        assert ctx.approvals is not None
        return Harness(module, client, ctx.approvals)

    yield make
    for module, ctx, client in reversed(stack):
        await client.__aexit__(None, None, None)
        await module.on_shutdown(ctx)


@pytest.fixture
async def cal(radicale: RadicaleServer, harness_factory: Any) -> Harness:
    harness: Harness = await harness_factory(config(radicale))
    return harness


async def test_weekly_rrule_is_expanded_within_the_range_without_the_exdate(
    radicale: RadicaleServer, cal: Harness
) -> None:
    await anyio.to_thread.run_sync(lambda: dav_calendar(radicale).save_event(ical=WEEKLY_WITH_EXDATE))
    listed = await cal.call("calendar_list_events", start="2025-01-01T00:00:00Z", end="2025-02-01T00:00:00Z")
    events = listed["events"]
    assert [e["start"] for e in events] == [
        "2025-01-06T09:00:00+00:00",
        "2025-01-13T09:00:00+00:00",
        # 2025-01-20 is an EXDATE
        "2025-01-27T09:00:00+00:00",
    ]
    assert {e["uid"] for e in events} == {"standup@test"}
    assert all(e["recurring"] and e["rrule"] == "FREQ=WEEKLY;BYDAY=MO" for e in events)
    assert events[0]["end"] == "2025-01-06T09:30:00+00:00"
    # A narrower range: only the instances inside it.
    narrow = await cal.call("calendar_list_events", start="2025-01-13", end="2025-01-14")
    assert [e["start"] for e in narrow["events"]] == ["2025-01-13T09:00:00+00:00"]


async def test_event_created_in_paris_is_listed_in_utc_across_the_dst_change(cal: Harness) -> None:
    created = await cal.call(
        "calendar_create_event",
        summary="Yoga",
        start="2025-03-20T09:00:00",
        end="2025-03-20T10:00:00",
        rrule="FREQ=WEEKLY;COUNT=3",
        timezone="Europe/Paris",
    )
    assert created["status"] == "created"
    listed = await cal.call("calendar_list_events", start="2025-03-01T00:00:00Z", end="2025-04-30T00:00:00Z")
    events = listed["events"]
    # Paris is UTC+1 until 2025-03-30, then UTC+2: 09:00 in Paris is 08:00Z, then 07:00Z.
    assert [(e["start"], e["end"]) for e in events] == [
        ("2025-03-20T08:00:00+00:00", "2025-03-20T09:00:00+00:00"),
        ("2025-03-27T08:00:00+00:00", "2025-03-27T09:00:00+00:00"),
        ("2025-04-03T07:00:00+00:00", "2025-04-03T08:00:00+00:00"),
    ]
    assert {e["event_timezone"] for e in events} == {"Europe/Paris"}
    # Input with an offset in another zone means the same instant.
    around = await cal.call("calendar_list_events", start="2025-04-03T08:30:00+02:00", end="2025-04-03T09:30:00+02:00")
    assert [e["start"] for e in around["events"]] == ["2025-04-03T07:00:00+00:00"]


async def test_event_listed_in_the_modules_zone(radicale: RadicaleServer, harness_factory: Any) -> None:
    paris: Harness = await harness_factory(config(radicale, timezone="Europe/Paris"))
    await paris.call("calendar_create_event", summary="Call", start="2025-07-01T12:00:00Z", end="2025-07-01T12:30:00Z")
    events = (await paris.call("calendar_list_events", start="2025-07-01", end="2025-07-02"))["events"]
    assert [(e["start"], e["end"]) for e in events] == [("2025-07-01T14:00:00+02:00", "2025-07-01T14:30:00+02:00")]


async def test_create_update_delete_round_trip(radicale: RadicaleServer, cal: Harness) -> None:
    created = await cal.call(
        "calendar_create_event",
        summary="Dentist",
        start="2025-05-02T10:00:00Z",
        end="2025-05-02T11:00:00Z",
        description="bring the form",
        location="Main St 1",
    )
    uid = created["uid"]
    assert await uids_on_server(radicale) == [uid]
    [event] = (await cal.call("calendar_list_events", start="2025-05-02", end="2025-05-03"))["events"]
    assert event == {
        "uid": uid,
        "summary": "Dentist",
        "start": "2025-05-02T10:00:00+00:00",
        "end": "2025-05-02T11:00:00+00:00",
        "all_day": False,
        "description": "bring the form",
        "location": "Main St 1",
        "recurring": False,
        "rrule": None,
        "event_timezone": "UTC",
        "source": "caldav",
        "read_only": False,
    }

    # Moving the start alone keeps the duration; an empty location clears it.
    updated = await cal.call("calendar_update_event", uid=uid, start="2025-05-02T14:00:00Z", location="")
    assert updated == {"status": "updated", "uid": uid}
    [event] = (await cal.call("calendar_list_events", start="2025-05-02", end="2025-05-03"))["events"]
    assert (event["start"], event["end"], event["location"]) == (
        "2025-05-02T14:00:00+00:00",
        "2025-05-02T15:00:00+00:00",
        None,
    )
    assert (event["summary"], event["description"]) == ("Dentist", "bring the form")
    await cal.call("calendar_update_event", uid=uid, summary="Dentist (moved)")
    [event] = (await cal.call("calendar_list_events", start="2025-05-02", end="2025-05-03"))["events"]
    assert event["summary"] == "Dentist (moved)"

    assert await cal.call("calendar_delete_event", uid=uid) == {"status": "deleted", "uid": uid}
    assert await uids_on_server(radicale) == []
    assert (await cal.call("calendar_list_events", start="2025-05-02", end="2025-05-03"))["events"] == []
    with pytest.raises(ToolError, match="calendar_delete_event: argument 'uid': no event"):
        await cal.call("calendar_delete_event", uid=uid)


async def test_all_day_event(cal: Harness) -> None:
    await cal.call("calendar_create_event", summary="Holiday", start="2025-08-04", end="2025-08-06")
    [event] = (await cal.call("calendar_list_events", start="2025-08-01", end="2025-08-31"))["events"]
    assert (event["start"], event["end"], event["all_day"]) == ("2025-08-04", "2025-08-06", True)


async def test_free_time_between_busy_events(cal: Harness) -> None:
    for summary, start, end in [
        ("Standup", "2025-06-02T09:00:00Z", "2025-06-02T09:30:00Z"),
        ("Review", "2025-06-02T11:00:00Z", "2025-06-02T12:00:00Z"),
        ("Overlap", "2025-06-02T11:30:00Z", "2025-06-02T12:15:00Z"),
        ("Short gap", "2025-06-02T12:30:00Z", "2025-06-02T16:00:00Z"),
    ]:
        await cal.call("calendar_create_event", summary=summary, start=start, end=end)
    result = await cal.call(
        "calendar_free_time",
        start="2025-06-02T00:00:00Z",
        end="2025-06-03T00:00:00Z",
        min_minutes=30,
        work_hours="09:00-17:00",
    )
    assert result["free"] == [
        {"start": "2025-06-02T09:30:00+00:00", "end": "2025-06-02T11:00:00+00:00", "minutes": 90},
        # 12:15-12:30 is shorter than 30 minutes
        {"start": "2025-06-02T16:00:00+00:00", "end": "2025-06-02T17:00:00+00:00", "minutes": 60},
    ]
    whole = await cal.call("calendar_free_time", start="2025-06-02T08:00:00Z", end="2025-06-02T10:00:00Z")
    assert whole["free"] == [
        {"start": "2025-06-02T08:00:00+00:00", "end": "2025-06-02T09:00:00+00:00", "minutes": 60},
        {"start": "2025-06-02T09:30:00+00:00", "end": "2025-06-02T10:00:00+00:00", "minutes": 30},
    ]


async def test_ics_file_source_is_listed_and_read_only(
    radicale: RadicaleServer, harness_factory: Any, data_dir: Path
) -> None:
    (data_dir / "holidays.ics").write_text(HOLIDAYS, encoding="utf-8")
    cal: Harness = await harness_factory(config(radicale, ics_sources=["holidays.ics"]))
    listed = await cal.call("calendar_list_events", start="2026-12-01", end="2028-01-31")
    assert [(e["summary"], e["start"], e["all_day"], e["read_only"]) for e in listed["events"]] == [
        ("New Year", "2027-01-01", True, True),
        ("New Year", "2028-01-01", True, True),
    ]
    assert listed["events"][0]["source"] == "holidays.ics"
    assert listed["errors"] == []
    # It is busy time, too.
    free = await cal.call("calendar_free_time", start="2026-12-31T20:00:00Z", end="2027-01-02T00:00:00Z")
    assert free["free"] == [{"start": "2026-12-31T20:00:00+00:00", "end": "2027-01-01T00:00:00+00:00", "minutes": 240}]
    # Read-only: it cannot be changed or deleted through the CalDAV tools.
    with pytest.raises(ToolError, match="calendar_delete_event: argument 'uid'"):
        await cal.call("calendar_delete_event", uid="newyear@holidays")
    with pytest.raises(ToolError, match="calendar_update_event: argument 'uid'"):
        await cal.call("calendar_update_event", uid="newyear@holidays", summary="x")
    assert (data_dir / "holidays.ics").read_text(encoding="utf-8") == HOLIDAYS
    # A feed that cannot be read is reported, the other events are still listed.
    broken: Harness = await harness_factory(config(radicale, ics_sources=["missing.ics"]))
    await broken.call("calendar_create_event", summary="Mine", start="2027-01-05T10:00:00Z", end="2027-01-05T11:00:00Z")
    listed = await broken.call("calendar_list_events", start="2027-01-01", end="2027-01-31")
    assert [e["summary"] for e in listed["events"]] == ["Mine"]
    assert "missing.ics" in listed["errors"][0]


async def wait_for_health(module: CalendarModule, ok: bool, timeout: float = 30.0) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        while True:
            state = await module.health()
            if state["ok"] is ok:
                return state
            await anyio.sleep(0.1)


async def test_server_down_makes_health_not_ok_and_it_recovers(radicale: RadicaleServer, cal: Harness) -> None:
    assert (await cal.module.health())["ok"] is True
    await anyio.to_thread.run_sync(radicale.stop)
    down = await wait_for_health(cal.module, ok=False)
    assert "error" in down and radicale.url.rstrip("/") in down["error"]
    with pytest.raises(ToolError, match="calendar_list_events: CalDAV server"):
        await cal.call("calendar_list_events", start="2025-01-01", end="2025-01-02")
    await anyio.to_thread.run_sync(radicale.start)  # same port, same storage
    await wait_for_health(cal.module, ok=True)
    created = await cal.call(
        "calendar_create_event", summary="Back", start="2025-01-01T10:00:00Z", end="2025-01-01T11:00:00Z"
    )
    assert created["status"] == "created"
    assert await uids_on_server(radicale) == [created["uid"]]


async def test_unreachable_at_startup_does_not_stop_the_module(tmp_path: Path, harness_factory: Any) -> None:
    server = RadicaleServer(tmp_path / "late", username=USER, password=PASSWORD)  # not started yet
    cal: Harness = await harness_factory(config(server, calendar=None))
    assert (await cal.module.health())["ok"] is False
    with pytest.raises(ToolError, match="calendar_list_events"):
        await cal.call("calendar_list_events", start="2025-01-01", end="2025-01-02")
    await anyio.to_thread.run_sync(server.start)
    try:
        await anyio.to_thread.run_sync(
            lambda: (
                cast(Any, caldav.DAVClient)(url=server.url, username=USER, password=PASSWORD)
                .principal()
                .make_calendar(name="Work")
            )
        )
        await wait_for_health(cal.module, ok=True)
        assert (await cal.call("calendar_list_events", start="2025-01-01", end="2025-01-02"))["events"] == []
    finally:
        await anyio.to_thread.run_sync(server.stop)


async def test_approval_gate_creates_nothing_before_approval_and_runs_once(
    radicale: RadicaleServer, harness_factory: Any, pool: asyncpg.Pool
) -> None:
    cal: Harness = await harness_factory(
        config(radicale, require_approval=["calendar_create_event", "calendar_delete_event"])
    )
    pending = await cal.call(
        "calendar_create_event", summary="Board meeting", start="2025-09-01T10:00:00Z", end="2025-09-01T11:00:00Z"
    )
    assert pending["status"] == "pending_approval"
    assert "Board meeting" in pending["summary"]
    assert await uids_on_server(radicale) == []
    assert (await cal.call("calendar_list_events", start="2025-09-01", end="2025-09-02"))["events"] == []

    approval_id = uuid.UUID(pending["approval_id"])
    first = await cal.gate.approve(approval_id)
    assert first.status == "succeeded", first
    second = await cal.gate.approve(approval_id)
    assert second.status == "succeeded"
    assert await uids_on_server(radicale) == [pending["uid"]]  # once, with the uid the tool announced

    # Update is not gated here: it runs now. Delete is gated; a rejected delete deletes nothing.
    await cal.call("calendar_update_event", uid=pending["uid"], summary="Board meeting (v2)")
    asked = await cal.call("calendar_delete_event", uid=pending["uid"])
    assert asked["status"] == "pending_approval"
    rejected = await cal.gate.reject(uuid.UUID(asked["approval_id"]), "keep it")
    assert rejected.status == "rejected"
    assert await uids_on_server(radicale) == [pending["uid"]]
    assert await pool.fetchval("SELECT count(*) FROM approvals") == 2


@pytest.mark.parametrize(
    ("tool", "args", "argument"),
    [
        ("calendar_create_event", {"summary": " ", "start": "2025-01-01T10:00", "end": "2025-01-01T11:00"}, "summary"),
        ("calendar_create_event", {"summary": "x", "start": "tomorrow", "end": "2025-01-01T11:00"}, "start"),
        ("calendar_create_event", {"summary": "x", "start": "2025-01-01T10:00", "end": "2025-01-01T09:00"}, "end"),
        ("calendar_create_event", {"summary": "x", "start": "2025-01-01", "end": "2025-01-01T11:00"}, "end"),
        (
            "calendar_create_event",
            {"summary": "x", "start": "2025-01-01T10:00", "end": "2025-01-01T11:00", "rrule": "WEEKLY"},
            "rrule",
        ),
        (
            "calendar_create_event",
            {"summary": "x", "start": "2025-01-01T10:00", "end": "2025-01-01T11:00", "rrule": "FREQ=SOMETIMES"},
            "rrule",
        ),
        (
            "calendar_create_event",
            {"summary": "x", "start": "2025-01-01T10:00", "end": "2025-01-01T11:00", "timezone": "Mars/Olympus"},
            "timezone",
        ),
        ("calendar_create_event", {"start": "2025-01-01T10:00", "end": "2025-01-01T11:00"}, "summary"),
        ("calendar_update_event", {"uid": "keep@test"}, "summary"),
        ("calendar_update_event", {"uid": "nope@test", "summary": "y"}, "uid"),
        ("calendar_update_event", {"uid": "keep@test", "end": "2024-01-01T00:00:00Z"}, "end"),
        ("calendar_update_event", {"uid": "keep@test", "rrule": "nonsense"}, "rrule"),
        ("calendar_delete_event", {"uid": ""}, "uid"),
        ("calendar_delete_event", {"uid": "nope@test"}, "uid"),
        ("calendar_list_events", {"start": "2025-02-01", "end": "2025-01-01"}, "end"),
        ("calendar_list_events", {"start": "2025-13-01", "end": "2026-01-01"}, "start"),
        ("calendar_free_time", {"start": "2025-01-01", "end": "2025-01-02", "min_minutes": 0}, "min_minutes"),
        ("calendar_free_time", {"start": "2025-01-01", "end": "2025-01-02", "work_hours": "9 to 5"}, "work_hours"),
        ("calendar_free_time", {"start": "2025-01-01", "end": "2025-01-02", "work_hours": "17:00-09:00"}, "work_hours"),
    ],
)
async def test_bad_input_is_refused_naming_tool_and_argument_and_writes_nothing(
    radicale: RadicaleServer, cal: Harness, tool: str, args: dict[str, Any], argument: str
) -> None:
    keep = """BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\nUID:keep@test\nDTSTAMP:20250101T000000Z
DTSTART:20250101T100000Z\nDTEND:20250101T110000Z\nSUMMARY:Keep\nEND:VEVENT\nEND:VCALENDAR\n"""
    await anyio.to_thread.run_sync(lambda: dav_calendar(radicale).save_event(ical=keep))
    before = await anyio.to_thread.run_sync(lambda: dav_calendar(radicale).event_by_uid("keep@test").data)
    with pytest.raises(ToolError) as exc:
        await cal.client.call_tool(tool, args)
    message = str(exc.value)
    assert tool in message and argument in message, message
    assert await uids_on_server(radicale) == ["keep@test"]
    after = await anyio.to_thread.run_sync(lambda: dav_calendar(radicale).event_by_uid("keep@test").data)
    assert after == before


async def test_calendar_meets_the_module_contract(
    radicale: RadicaleServer, pg_address: ServerAddress, database: str, tmp_path: Path
) -> None:
    report = await check_module_contract(
        CalendarModule, config(radicale), pg_address, database, tmp_path, credentials={"CALDAV_PASSWORD": PASSWORD}
    )
    assert report.tools == [
        "calendar_create_event",
        "calendar_delete_event",
        "calendar_free_time",
        "calendar_list_events",
        "calendar_update_event",
    ]
    assert report.migrations_applied == []
