"""Tool-mode and one-shot schedules: the butler's own tool, called once per window, no session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import anyio
import asyncpg
import pytest
from fastmcp import FastMCP
from pydantic import Field

from butlers.config import ScheduleConfig
from butlers.core.dispatch import Conn, DispatchRequest
from butlers.core.scheduler import Scheduler
from butlers.core.tool_schedules import ToolRunner, call_mcp_tool, check_tool_call
from butlers.db import ServerAddress
from butlers.modules.notify import NotifyModule
from butlers.testing.module_contract import check_module_contract

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class NoSessions:
    """The dispatcher a tool-mode window must never reach: it would start an agent session."""

    def __init__(self) -> None:
        self.requests: list[DispatchRequest] = []

    async def dispatch(self, conn: Conn, request: DispatchRequest) -> uuid.UUID:
        self.requests.append(request)
        return uuid.uuid4()


def own_tools(calls: list[dict[str, Any]]) -> FastMCP:
    mcp: FastMCP = FastMCP("test")

    @mcp.tool(name="count_up")
    async def count_up(key: str, by: Annotated[int, Field(ge=1, le=10)] = 1) -> dict[str, Any]:
        calls.append({"key": key, "by": by})
        return {"key": key, "total": sum(c["by"] for c in calls if c["key"] == key)}

    return mcp


def schedules(pool: asyncpg.Pool, mcp: FastMCP, dispatcher: NoSessions) -> Scheduler:
    runner = ToolRunner(pool, lambda name, args: call_mcp_tool(mcp, name, args), "test")
    return Scheduler(pool, dispatcher, runner)


async def runs(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM schedule_runs ORDER BY scheduled_for")


async def test_tool_mode_cron_window_calls_the_tool_once_with_no_session(pool: asyncpg.Pool) -> None:
    calls: list[dict[str, Any]] = []
    dispatcher = NoSessions()
    scheduler = schedules(pool, own_tools(calls), dispatcher)
    spec = ScheduleConfig(name="tally", cron="*/5 * * * *", timezone="UTC", tool="count_up", args={"key": "a", "by": 2})
    await scheduler.sync_from_config([spec], now=T0)

    async with anyio.create_task_group() as tg:  # eight ticks race for the same window
        for _ in range(8):
            tg.start_soon(scheduler.claim_due, T0 + timedelta(minutes=5, seconds=1))
    assert calls == [{"key": "a", "by": 2}]
    assert dispatcher.requests == []
    [run] = await runs(pool)
    assert (run["tool_status"], run["result"], run["session_id"]) == ("succeeded", {"key": "a", "total": 2}, None)
    listed = {s.name: s for s in await scheduler.list_schedules()}
    assert listed["tally"].next_run_at == T0 + timedelta(minutes=10)


async def test_a_tool_call_that_fails_validation_is_recorded_failed(pool: asyncpg.Pool) -> None:
    calls: list[dict[str, Any]] = []
    scheduler = schedules(pool, own_tools(calls), NoSessions())
    bad = ScheduleConfig(name="bad", cron="* * * * *", timezone="UTC", tool="count_up", args={"key": "a", "by": 99})
    await scheduler.sync_from_config([bad], now=T0)
    await scheduler.claim_due(now=T0 + timedelta(minutes=1))
    [run] = await runs(pool)
    assert run["tool_status"] == "failed" and "by" in run["error"] and calls == []


async def test_one_shot_fires_once_then_is_done_also_after_a_restart(pool: asyncpg.Pool) -> None:
    calls: list[dict[str, Any]] = []
    mcp = own_tools(calls)
    once = ScheduleConfig(name="once", at=T0 + timedelta(hours=1), tool="count_up", args={"key": "z"})
    first = schedules(pool, mcp, NoSessions())
    await first.sync_from_config([once], now=T0)
    assert await first.claim_due(now=T0 + timedelta(minutes=59)) == []
    fired = await first.claim_due(now=T0 + timedelta(hours=3))  # late: still fires, once
    assert [(f.schedule, f.tool) for f in fired] == [("once", "count_up")]
    row = await first.get("once")
    assert row.next_run_at is None and row.last_run_at == T0 + timedelta(hours=1)

    restarted = schedules(pool, mcp, NoSessions())  # a new daemon: config synced again, ticks again
    report = await restarted.sync_from_config([once], now=T0 + timedelta(hours=4))
    assert report["unchanged"] == ["once"]
    assert await restarted.claim_due(now=T0 + timedelta(days=1)) == []
    assert calls == [{"key": "z", "by": 1}]
    assert [r["tool_status"] for r in await runs(pool)] == ["succeeded"]


async def test_a_window_running_when_the_daemon_stopped_is_interrupted_and_a_queued_one_runs(
    pool: asyncpg.Pool,
) -> None:
    calls: list[dict[str, Any]] = []
    runner = ToolRunner(pool, lambda name, args: call_mcp_tool(own_tools(calls), name, args), "test")
    scheduler = Scheduler(pool, NoSessions(), runner)
    specs = [ScheduleConfig(name=n, at=T0, tool="count_up", args={"key": n}) for n in ("was-running", "was-queued")]
    await scheduler.sync_from_config(specs, now=T0 - timedelta(hours=1))
    await pool.execute(
        "INSERT INTO schedule_runs (schedule_name, scheduled_for, tool_status) VALUES"
        " ('was-running', $1, 'running'), ('was-queued', $1, 'queued')",
        T0,
    )
    assert await runner.recover_at_startup() == 1
    await runner.run_queued()
    status = {r["schedule_name"]: r["tool_status"] for r in await runs(pool)}
    assert status == {"was-running": "interrupted", "was-queued": "succeeded"}
    assert calls == [{"key": "was-queued", "by": 1}]


async def test_schedule_checks_name_the_tool_and_its_arguments() -> None:
    mcp = own_tools([])
    assert await check_tool_call(mcp, "count_up", {"key": "a"}) is None
    assert "not a tool of this butler" in str(await check_tool_call(mcp, "nope", None))
    assert "by" in str(await check_tool_call(mcp, "count_up", {"key": "a", "by": "many"}))
    assert "cannot be scheduled" in str(await check_tool_call(mcp, "approval_approve", {}))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "* * * * *"}, "exactly one of 'prompt'"),
        ({"cron": "* * * * *", "prompt": "p", "tool": "t"}, "exactly one of 'prompt'"),
        ({"prompt": "p"}, "exactly one of 'cron'"),
        ({"prompt": "p", "cron": "* * * * *", "at": T0}, "exactly one of 'cron'"),
        ({"prompt": "p", "cron": "* * * * *", "args": {"a": 1}}, "'args' goes with 'tool'"),
        ({"tool": "t", "at": datetime(2026, 1, 1, 8, 0)}, "has no UTC offset"),
    ],
)
def test_schedule_entry_takes_one_action_and_one_timing(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScheduleConfig.model_validate({"name": "s", **fields})


async def test_notify_module_meets_the_module_contract(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    report = await check_module_contract(NotifyModule, {}, pg_address, database, data_dir)
    assert set(report.tools) == {"notify_list", "notify_retry"}


async def test_a_config_schedule_naming_an_unknown_tool_stops_the_butler_naming_the_key(tmp_path: Path) -> None:
    from butlers.butler import Butler
    from butlers.config import load_butler_config
    from butlers.errors import ConfigErrors
    from butlers.settings import Settings

    folder = tmp_path / "general"
    folder.mkdir()
    (folder / "butler.toml").write_text(
        '[butler]\nname = "general"\nport = 8101\n'
        '[[butler.schedule]]\nname = "ok"\ncron = "0 8 * * *"\ntool = "count_up"\nargs = { key = "a" }\n'
        '[[butler.schedule]]\nname = "typo"\ncron = "0 8 * * *"\ntool = "count_upp"\n'
    )
    butler = Butler(load_butler_config(folder), Settings(dir=tmp_path), ServerAddress("localhost", 1, "u", "p"))
    with pytest.raises(ConfigErrors, match=r"butler.schedule\[1\].tool: 'count_upp' is not a tool of this butler"):
        await butler._check_tool_schedules(own_tools([]))
