"""In-process routing: a hosted butler's tools and sessions, reached through `Butler.fleet`.

`call_tool` goes through the target's own FastMCP app (`FastMCP.call_tool`, with
the target's middleware that the `route` call has not already run: see `hop`),
so validation, results and errors are the ones a client gets on the target's
port, with no HTTP hop. Both calls open a span: FastMCP's
span of the target's tool, and the target's session span (its parent
traceparent is taken when it is queued), are its children: one trace.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import DisabledError, FastMCPError, NotFoundError, ToolError, ValidationError
from fastmcp.tools.base import ToolResult
from opentelemetry import trace

from butlers.auth import Role, may_call
from butlers.core.dispatch import DispatchRequest
from butlers.core.sessions import FinishedTrigger, Triggered
from butlers.core.tool_errors import bad_argument
from butlers.http_guard import current_caller
from butlers.statuses import TriggerSource
from butlers.switchboard import hop

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from butlers.butler import Butler

tracer = trace.get_tracer("butlers.switchboard")


def serving(fleet: Mapping[str, Butler], tool: str, name: str) -> Butler:
    """The serving butler `name`, or a ToolError naming `tool`'s `butler` argument."""
    target = fleet.get(name)
    if target is None:
        known = ", ".join(sorted(fleet)) or "none"
        raise bad_argument(tool, "butler", f"unknown butler '{name}' (hosted: {known})")
    if target.phase != "serving" or target.mcp is None:
        why = f"failed: {target.error}" if target.error else f"it is {target.phase}"
        raise bad_argument(tool, "butler", f"butler '{name}' is not serving ({why})")
    return target


def _check_caller(butler: str, tool: str) -> None:
    """Route passes on what its own caller may do, no more: the HTTP guard saw only `route`, so the
    routed tool gets the same check here (an agent never decides approvals, an anonymous caller never
    changes state or schedules, through route or otherwise). In-process callers are the daemon's own."""
    caller = current_caller()
    if caller is not None and not may_call(caller.role, tool):
        needs = "the operator token" if caller.role is Role.ANONYMOUS else "a person (not an agent)"
        raise bad_argument("route", "tool", f"'{tool}' of butler '{butler}' needs {needs}")


async def call_tool(fleet: Mapping[str, Butler], butler: str, tool: str, arguments: dict[str, Any]) -> ToolResult:
    """Call `tool` of `butler` in-process; its result, or its own error text prefixed with where."""
    target = serving(fleet, "route", butler)
    _check_caller(butler, tool)
    mcp: FastMCP = target.mcp  # type: ignore[assignment]  # serving() checked it
    with tracer.start_as_current_span(f"route {butler}.{tool}", attributes={"butler": butler, "tool": tool}):
        try:
            return await hop.call(mcp, tool, arguments)
        except ValidationError as exc:
            raise bad_argument("route", "arguments", f"butler '{butler}' tool '{tool}': {exc}") from None
        except (NotFoundError, DisabledError):  # what the target's port answers as "Unknown tool"
            raise bad_argument("route", "tool", f"butler '{butler}' has no tool '{tool}'") from None
        except FastMCPError as exc:
            raise ToolError(f"route: butler '{butler}' tool '{tool}': {exc}") from None


async def queue_session(
    target: Butler,
    prompt: str,
    context: dict[str, Any] | None,
    *,
    wait: bool = False,
    idempotency_key: str | None = None,
) -> Triggered | FinishedTrigger:
    """Queue a session on `target` with trigger source `route` (with `wait`: its final record)."""
    with tracer.start_as_current_span(f"route_prompt {target.name}", attributes={"butler": target.name}):
        triggered = await target.spawner.trigger(
            prompt, context=context, idempotency_key=idempotency_key, trigger_source=TriggerSource.ROUTE
        )
        return await target.spawner.wait_finished(triggered) if wait else triggered


async def enqueue(target: Butler, request: DispatchRequest) -> uuid.UUID:
    """Record `request` as a queued session of `target` (its own transaction); the session id.

    The rule path's shortest way: no read-back of the session record as `queue_session` does.
    """
    with tracer.start_as_current_span(f"route_prompt {target.name}", attributes={"butler": target.name}):
        async with target.pool.acquire() as conn, conn.transaction():
            return await target.spawner.dispatch(conn, request)


def session_id_of(record: dict[str, Any]) -> uuid.UUID:
    value = record["session_id"]
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
