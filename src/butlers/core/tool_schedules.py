"""Tool-mode schedule windows: the butler calls one of its own tools, with no agent session.

The scheduler claims a tool-mode window like any other (the unique (schedule,
scheduled time) key makes it fire once) and leaves it `queued` in its run row.
`ToolRunner.run_queued` then moves each queued row to `running` (one UPDATE, so
two ticks racing run it once), calls the tool in-process through the butler's
own FastMCP server - the same argument validation as a call over MCP - and
records the outcome (`succeeded` with the result, or `failed` with the error).
No model is involved: a reminder costs zero tokens.

A window left `running` by a daemon that stopped may or may not have run:
`recover_at_startup` marks it `interrupted` and never runs it again; one left
`queued` (claimed, never started) is run at the next start.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import asyncpg
import structlog
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from jsonschema import Draft202012Validator

from butlers.statuses import ToolRunStatus

log = structlog.get_logger(__name__)

# Calls a tool of the butler by name with JSON arguments; returns its result as JSON data.
ToolCaller = Callable[[str, dict[str, Any]], Awaitable[Any]]


class ToolRunner:
    """Runs one butler's queued tool-mode windows and records their outcomes."""

    def __init__(self, pool: asyncpg.Pool, call_tool: ToolCaller, butler: str) -> None:
        self.pool = pool
        self.call_tool = call_tool
        self.butler = butler

    async def run_queued(self) -> None:
        """Run every queued window, oldest first; each is taken by exactly one caller."""
        while (row := await self._take_one()) is not None:
            await self._run(row)

    async def recover_at_startup(self) -> int:
        """Windows left `running` by a stopped daemon → interrupted (never re-run)."""
        status = await self.pool.execute(
            """UPDATE schedule_runs SET tool_status = 'interrupted', finished_at = now(),
                      error = 'interrupted: the butler stopped while this tool ran; it may or may not have run'
               WHERE tool_status = 'running'"""
        )
        count = int(status.split()[-1])
        if count:
            log.warning("schedule.tool_interrupted", butler=self.butler, count=count)
        return count

    async def _take_one(self) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            """UPDATE schedule_runs r SET tool_status = 'running'
                 FROM schedules s
                WHERE s.name = r.schedule_name
                  AND (r.schedule_name, r.scheduled_for) = (
                      SELECT schedule_name, scheduled_for FROM schedule_runs WHERE tool_status = 'queued'
                       ORDER BY claimed_at, scheduled_for LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING r.schedule_name, r.scheduled_for, s.tool, s.args"""
        )

    async def _run(self, row: asyncpg.Record) -> None:
        tool, args = row["tool"], row["args"] or {}
        try:
            result = await self.call_tool(tool, args)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("schedule.tool_failed", butler=self.butler, schedule=row["schedule_name"], error=error)
            await self._finish(row, ToolRunStatus.FAILED, None, error)
            return
        except BaseException:
            # Bounded: a lost database must not hang the shutdown; the run then stays unfinished.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await self._finish(row, ToolRunStatus.INTERRUPTED, None, "cancelled while the tool ran")
            raise
        log.info("schedule.tool_ran", butler=self.butler, schedule=row["schedule_name"], tool=tool)
        await self._finish(row, ToolRunStatus.SUCCEEDED, result, None)

    async def _finish(self, row: asyncpg.Record, status: ToolRunStatus, result: Any, error: str | None) -> None:
        await self.pool.execute(
            """UPDATE schedule_runs SET tool_status = $3, result = $4, error = $5, finished_at = now()
               WHERE schedule_name = $1 AND scheduled_for = $2""",
            row["schedule_name"],
            row["scheduled_for"],
            status,
            result,
            error,
        )


async def call_mcp_tool(mcp: FastMCP, name: str, args: dict[str, Any]) -> Any:
    """Call `name` on a butler's own FastMCP server in-process; its result as JSON data, or raise.

    Through `FastMCP.call_tool`, so arguments are validated exactly as over MCP;
    an unknown tool, bad arguments or the tool's own error raise.
    """
    result = await mcp.call_tool(name, args)
    if result.is_error:
        raise ToolError("".join(getattr(block, "text", "") for block in result.content) or f"{name} failed")
    structured = result.structured_content
    if structured is not None:
        wrapped = bool((result.meta or {}).get("fastmcp", {}).get("wrap_result"))
        return structured.get("result") if wrapped else structured
    text = "".join(getattr(block, "text", "") for block in result.content)
    try:
        return json.loads(text)
    except ValueError:
        return text


# A schedule never decides for the user (approvals) nor re-enters the scheduler (tick).
FORBIDDEN_TOOLS = frozenset({"tick", "schedule_run", "approval_approve", "approval_reject"})


async def check_tool_call(mcp: FastMCP, tool: str, args: dict[str, Any] | None) -> str | None:
    """Why `tool(args)` cannot be a schedule of this butler, or None when it can."""
    if tool in FORBIDDEN_TOOLS:
        return f"'{tool}' cannot be scheduled ({', '.join(sorted(FORBIDDEN_TOOLS))} never run from a schedule)"
    found = await mcp.get_tool(tool)
    if found is None:
        names = sorted(t.name for t in await mcp.list_tools())
        return f"'{tool}' is not a tool of this butler (tools: {', '.join(names)})"
    errors = sorted(Draft202012Validator(found.parameters).iter_errors(args or {}), key=lambda e: list(e.path))
    if errors:
        where = ".".join(str(p) for p in errors[0].path)
        return f"arguments of '{tool}' do not fit its schema: {where + ': ' if where else ''}{errors[0].message}"
    return None
