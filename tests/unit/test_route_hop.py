"""The in-process hop of `route`: the target's own answers, without the middleware work `route` already did."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import mcp.types as mt
import pytest
from fastmcp import FastMCP
from fastmcp.exceptions import FastMCPError, NotFoundError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult
from pydantic import Field

from butlers.core.input_guard import HostileInputGuard
from butlers.core.schema_cache import InlinedSchemas
from butlers.core.tool_edge import add_tools
from butlers.core.tool_errors import bad_argument
from butlers.core.tool_lookup import DirectToolLookup
from butlers.db_health import ToolGuard
from butlers.session_trace import SessionTraceLink
from butlers.switchboard import hop


async def echo(text: Annotated[str, Field(min_length=1, description="What to echo.")]) -> dict[str, str]:
    """The text back."""
    return {"text": text}


async def refuse(text: str) -> str:
    """A tool's own bad-argument error."""
    raise bad_argument("refuse", "text", f"'{text}' is refused")


async def crash() -> str:
    """An unexpected exception: masked by FastMCP."""
    raise RuntimeError("row 42 of secret_table")


async def lose_connection() -> str:
    """The database connection lost mid-call: ToolGuard's wording."""
    raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


class Shout(Middleware):
    """A middleware the hop cannot vouch for: it changes results."""

    async def on_call_tool(
        self, context: MiddlewareContext[mt.CallToolRequestParams], call_next: CallNext[Any, ToolResult]
    ) -> ToolResult:
        result = await call_next(context)
        return ToolResult(structured_content={"text": str((result.structured_content or {}).get("text")).upper()})


class Counter(Middleware):
    """A middleware hooking every message: the hop sends the call through the whole chain."""

    calls = 0

    async def on_message(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        self.calls += 1
        return await call_next(context)


def butler_app(*extra: Middleware) -> FastMCP:
    """A server with a butler's middleware and lookup, and a few tools."""
    middleware = [ToolGuard(lambda: None), HostileInputGuard(), SessionTraceLink(), InlinedSchemas(), *extra]
    mcp: FastMCP = FastMCP("target", mask_error_details=True, middleware=middleware)
    mcp.add_transform(DirectToolLookup(mcp))
    add_tools(mcp, [echo, refuse, crash, lose_connection])
    return mcp


async def outcome(call: Any) -> tuple[str, Any]:
    try:
        result = await call
    except FastMCPError as exc:
        return type(exc).__name__, str(exc)
    return "result", (result.structured_content, [c.model_dump() for c in result.content])


def test_only_the_database_guard_runs_again_for_a_routed_call() -> None:
    mcp = butler_app()
    assert [type(m) for m in hop.call_hooks(mcp) or []] == [ToolGuard]


def test_a_middleware_it_cannot_vouch_for_sends_the_call_through_the_whole_chain() -> None:
    assert hop.call_hooks(butler_app(Shout())) is None
    assert hop.call_hooks(butler_app(Counter())) is None


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("echo", {"text": "hi"}),
        ("echo", {"text": ""}),
        ("echo", {}),
        ("refuse", {"text": "x"}),
        ("crash", {}),
        ("lose_connection", {}),
    ],
    ids=["result", "schema-error", "missing-argument", "tool-error", "masked-crash", "lost-connection"],
)
async def test_the_hop_answers_exactly_as_the_targets_own_call_tool(tool: str, arguments: dict[str, Any]) -> None:
    mcp = butler_app()
    assert await outcome(hop.call(mcp, tool, arguments)) == await outcome(mcp.call_tool(tool, arguments))


async def test_an_unknown_or_disabled_tool_is_not_found_either_way() -> None:
    mcp = butler_app()
    mcp.disable(names={"echo"})
    for name in ("no_such_tool", "echo"):
        with pytest.raises(NotFoundError):
            await hop.call(mcp, name, {"text": "hi"})
        with pytest.raises(NotFoundError):
            await mcp.call_tool(name, {"text": "hi"})


async def test_middleware_it_cannot_vouch_for_still_runs() -> None:
    counter = Counter()
    shouted = await hop.call(butler_app(Shout(), counter), "echo", {"text": "hi"})
    assert shouted.structured_content == {"text": "HI"} and counter.calls == 1


async def test_the_direct_lookup_finds_what_fastmcp_finds_and_steps_aside_for_a_second_provider() -> None:
    mcp = butler_app()
    plain: FastMCP = FastMCP("plain")
    add_tools(plain, [echo, refuse, crash, lose_connection])
    for name in ("echo", "crash", "no_such_tool"):
        assert (await mcp.get_tool(name)) == (await plain.get_tool(name))
    other: FastMCP = FastMCP("other")
    add_tools(other, [echo_twice])  # a tool only the second provider has
    mcp.mount(other)
    assert await mcp.get_tool("echo_twice") is not None
    assert (await mcp.call_tool("echo_twice", {"text": "a"})).structured_content == {"text": "aa"}


async def echo_twice(text: str) -> dict[str, str]:
    """The text twice (a tool of a mounted server)."""
    return {"text": text * 2}
