"""A CalDAV calendar that does not exist yet: created with `create_if_missing`, else a health message that says so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import anyio
import asyncpg
import caldav
import icalendar
import pytest

from butlers.modules.base import ModuleContext
from butlers.modules.calendar import CalendarConfig, CalendarModule
from butlers.testing.caldav_server import RadicaleServer

USER, PASSWORD = "alice", "s3cret"
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:u1@test
DTSTAMP:20250101T000000Z
DTSTART:20250106T090000Z
DTEND:20250106T093000Z
SUMMARY:hello
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer(tmp_path_factory.mktemp("radicale"), username=USER, password=PASSWORD)
    server.start()
    yield server
    server.stop()


def display_names(server: RadicaleServer) -> list[str]:
    principal = cast(Any, caldav.DAVClient)(url=server.url, username=USER, password=PASSWORD).principal()
    return [c.get_display_name() for c in principal.calendars()]


async def started(server: RadicaleServer, pool: asyncpg.Pool, directory: Path, **cfg: Any) -> CalendarModule:
    module = CalendarModule(
        CalendarConfig.model_validate({"url": server.url, "username": USER, "timezone": "UTC", **cfg})
    )
    ctx = ModuleContext(
        butler="test", pool=pool, directory=directory, data_dir=directory, credentials={"CALDAV_PASSWORD": PASSWORD}
    )
    await module.on_startup(ctx)
    return module


async def test_a_missing_calendar_path_says_what_is_wrong_and_how_to_fix_it(
    radicale: RadicaleServer, pool: asyncpg.Pool, data_dir: Path
) -> None:
    path = f"/{USER}/missing-{uuid.uuid4().hex[:6]}/"
    health = await (await started(radicale, pool, data_dir, calendar=path)).health()
    assert health["ok"] is False
    assert f"the calendar {radicale.url.rstrip('/')}{path} does not exist" in health["error"]
    assert "create_if_missing = true under [modules.calendar]" in health["error"]


async def test_a_missing_calendar_name_says_what_is_wrong_and_how_to_fix_it(
    radicale: RadicaleServer, pool: asyncpg.Pool, data_dir: Path
) -> None:
    health = await (await started(radicale, pool, data_dir, calendar="Nowhere")).health()
    assert health["ok"] is False
    assert "no calendar named 'Nowhere'" in health["error"]
    assert "create_if_missing = true" in health["error"]
    assert "Nowhere" not in await anyio.to_thread.run_sync(display_names, radicale)  # nothing made


async def test_create_if_missing_makes_the_calendar_at_a_path_and_writes_to_it(
    radicale: RadicaleServer, pool: asyncpg.Pool, data_dir: Path
) -> None:
    cal_id = f"fresh-{uuid.uuid4().hex[:6]}"
    module = await started(radicale, pool, data_dir, calendar=f"/{USER}/{cal_id}/", create_if_missing=True)
    health = await module.health()
    assert health == {"ok": True, "calendar": f"{radicale.url}{USER}/{cal_id}/"}
    assert module.store is not None
    ical = icalendar.Calendar.from_ical(EVENT)
    await module.store.save(ical, new=True)
    assert await module.store.exists("u1@test")
    # A second start finds it instead of making another.
    again = await started(radicale, pool, data_dir, calendar=f"/{USER}/{cal_id}/", create_if_missing=True)
    assert (await again.health())["ok"] is True


async def test_create_if_missing_makes_a_calendar_by_name(
    radicale: RadicaleServer, pool: asyncpg.Pool, data_dir: Path
) -> None:
    name = f"Family {uuid.uuid4().hex[:6]}"
    module = await started(radicale, pool, data_dir, calendar=name, create_if_missing=True)
    assert (await module.health())["ok"] is True
    assert (await anyio.to_thread.run_sync(display_names, radicale)).count(name) == 1
