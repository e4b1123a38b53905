"""`schedule_run`: run one of a butler's schedules now, out of its timing (an operator action)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastmcp import FastMCP
from pydantic import BaseModel, Field

from butlers.core.tool_errors import bad_argument
from butlers.core.tool_reuse import function_tool
from butlers.errors import NotFoundError

if TYPE_CHECKING:
    from butlers.butler import Butler


class ScheduleRun(BaseModel):
    """The window `schedule_run` fired: a queued session (prompt mode) or the tool's outcome (tool mode)."""

    schedule: str
    scheduled_for: datetime
    mode: Literal["prompt", "tool"]
    session_id: str | None = Field(description="Prompt mode: the session queued; follow it with sessions_get.")
    tool: str | None = None
    tool_status: str | None = Field(default=None, description="Tool mode: succeeded, failed (or still running).")
    result: Any = None
    error: str | None = None


def register_schedule_run_tool(mcp: FastMCP, butler: Butler) -> None:
    @function_tool(  # schemas built once per daemon (core/tool_reuse.py)
        mcp,
        name="schedule_run",
        description="Run a schedule once now, enabled or not: a prompt schedule queues an agent session "
        "(returned at once), a tool schedule calls its tool and returns the outcome. Its next window is unchanged.",
    )
    async def schedule_run(
        name: Annotated[str, Field(min_length=1, max_length=200, description="The schedule to run.")],
    ) -> ScheduleRun:
        try:
            fired = await butler.scheduler.fire_now(name)
        except NotFoundError as exc:
            raise bad_argument("schedule_run", "name", str(exc)) from None
        butler.on_schedules_changed()
        run = ScheduleRun(
            schedule=name,
            scheduled_for=fired.scheduled_for,
            mode="tool" if fired.tool is not None else "prompt",
            session_id=str(fired.session_id) if fired.session_id else None,
            tool=fired.tool,
        )
        return run if fired.tool is None else await _with_outcome(butler, run)


async def _with_outcome(butler: Butler, run: ScheduleRun) -> ScheduleRun:
    row = await butler.pool.fetchrow(
        "SELECT tool_status, result, error FROM schedule_runs WHERE schedule_name = $1 AND scheduled_for = $2",
        run.schedule,
        run.scheduled_for,
    )
    found: dict[str, Any] = dict(row) if row is not None else {}
    return run.model_copy(update=found)
