"""The core tools through a real MCP client: they work, and bad input is refused with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.db import ServerAddress
from butlers.settings import Settings

BUTLER_TOML = """
[butler]
name = "general"
description = "test butler"
port = 18101

[[butler.schedule]]
name = "briefing"
cron = "0 8 * * *"
prompt = "Brief me."
"""


@pytest.fixture
async def butler(tmp_path: Path, pg_address: ServerAddress, database: str) -> AsyncIterator[tuple[Butler, FastMCP]]:
    folder = tmp_path / "general"
    folder.mkdir()
    (folder / "butler.toml").write_text(BUTLER_TOML)
    b = Butler(load_butler_config(folder), Settings(data_dir=tmp_path / "data"), pg_address, database=database)
    mcp = await b.start()
    yield b, mcp
    await b._shutdown()


async def call(mcp: FastMCP, tool: str, **args: Any) -> Any:
    async with Client(mcp) as client:
        return (await client.call_tool(tool, args)).structured_content


async def refused(mcp: FastMCP, tool: str, **args: Any) -> str:
    async with Client(mcp) as client:
        with pytest.raises(ToolError) as info:
            await client.call_tool(tool, args)
    return str(info.value)


async def counts(b: Butler) -> tuple[int, int]:
    return (
        await b.pool.fetchval("SELECT count(*) FROM state"),
        await b.pool.fetchval("SELECT count(*) FROM schedules"),
    )


async def test_state_round_trip(butler: tuple[Butler, FastMCP]) -> None:
    _, mcp = butler
    assert (await call(mcp, "state_set", key="groceries", value={"items": ["milk"]}))["version"] == 1
    assert (await call(mcp, "state_set", key="groceries", value={"items": ["milk", "eggs"]}))["version"] == 2
    got = await call(mcp, "state_get", key="groceries")
    assert got["found"] and got["value"] == {"items": ["milk", "eggs"]}
    await call(mcp, "state_set", key="g_x", value=1)
    await call(mcp, "state_set", key="gx", value=2)
    listed = await call(mcp, "state_list", prefix="g_")
    assert [e["key"] for e in listed["entries"]] == ["g_x"]  # '_' is literal, not a wildcard
    assert (await call(mcp, "state_delete", key="groceries"))["deleted"] is True
    assert (await call(mcp, "state_get", key="groceries"))["found"] is False


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("state_set", {"key": "", "value": 1}, "key"),
        ("state_set", {"key": "k" * 513, "value": 1}, "key"),
        ("state_set", {"value": 1}, "key"),
        ("state_set", {"key": "big", "value": "x" * 1_000_001}, "argument 'value'"),
        ("state_list", {"limit": 0}, "limit"),
        ("state_get", {"key": 5}, "key"),
        ("schedule_create", {"name": "Bad Name", "cron": "* * * * *", "prompt": "p"}, "name"),
        ("schedule_create", {"name": "ok", "cron": "61 * * * *", "prompt": "p"}, "argument 'cron'"),
        ("schedule_create", {"name": "ok", "cron": "* * * * *", "prompt": ""}, "prompt"),
        (
            "schedule_create",
            {"name": "ok", "cron": "* * * * *", "prompt": "p", "timezone": "Mars/Base"},
            "argument 'timezone'",
        ),
        (
            "schedule_create",
            {"name": "ok", "cron": "* * * * *", "prompt": "p", "misfire": "sometimes"},
            "argument 'misfire'",
        ),
        ("schedule_create", {"name": "briefing", "cron": "* * * * *", "prompt": "p"}, "already exists"),
        ("schedule_update", {"name": "briefing", "cron": "nope"}, "argument 'cron'"),
        ("schedule_update", {"name": "briefing"}, "nothing to change"),
        ("schedule_update", {"name": "missing", "prompt": "x"}, "no schedule named 'missing'"),
        ("schedule_delete", {"name": "missing"}, "no schedule named 'missing'"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    butler: tuple[Butler, FastMCP], tool: str, args: dict[str, Any], expected: str
) -> None:
    b, mcp = butler
    before = await counts(b)
    schedules_before = await b.scheduler.list_schedules()
    message = await refused(mcp, tool, **args)
    assert expected in message
    assert tool in message or "validation error" in message
    assert await counts(b) == before
    assert await b.scheduler.list_schedules() == schedules_before


async def test_runtime_schedule_lifecycle(butler: tuple[Butler, FastMCP]) -> None:
    _, mcp = butler
    created = await call(mcp, "schedule_create", name="water", cron="0 * * * *", prompt="Water plants", timezone="UTC")
    assert created["source"] == "runtime" and created["next_run_at"].endswith("+00:00")
    updated = await call(mcp, "schedule_update", name="water", cron="30 * * * *")
    assert updated["cron"] == "30 * * * *" and ":30:00" in updated["next_run_at"]
    names = [s["name"] for s in (await call(mcp, "schedule_list"))["schedules"]]
    assert names == ["briefing", "water"]
    assert (await call(mcp, "schedule_delete", name="water"))["source"] == "runtime"


async def test_status_reports_identity_schedules_and_database(butler: tuple[Butler, FastMCP]) -> None:
    _, mcp = butler
    status = await call(mcp, "status")
    assert status["name"] == "general" and status["port"] == 18101
    assert status["database"]["ok"] is True
    assert [s["name"] for s in status["schedules"]] == ["briefing"]


async def test_an_exception_inside_a_tool_is_a_tool_error_not_a_crash(butler: tuple[Butler, FastMCP]) -> None:
    b, mcp = butler
    await b.pool.execute("ALTER TABLE state RENAME TO state_gone")
    message = await refused(mcp, "state_get", key="k")
    assert "state_get" in message
    await b.pool.execute("ALTER TABLE state_gone RENAME TO state")
    assert (await call(mcp, "state_get", key="k"))["found"] is False
