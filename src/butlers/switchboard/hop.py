"""One in-process tool call of another butler, without doing twice what the `route` call already did.

`FastMCP.call_tool` runs the target's whole middleware chain: FastMCP builds
three handler wrappers per middleware per call (message, request, tool call),
and each of our middlewares does its own work. For a routed call part of that
was already done, for the same arguments, by the switchboard's own call of
`route`:

- `HostileInputGuard` walked `route`'s `arguments`, one level deeper than the
  target would (so at least as strictly): a value it let through passes again;
- `SessionTraceLink` linked an agent's session to the `route` call, whose span
  is this call's ancestor (a second link would only repeat it);
- a middleware that leaves tool calls alone (FastMCP's base hooks: `InlinedSchemas`)
  does nothing for a call.

So only the rest run, as the target's own hooks, around FastMCP's core call
(`run_middleware=False`: tool lookup, its span, validation, error masking),
which is what the full chain ends in. A middleware we cannot vouch for (one
hooking messages or requests, or reading the request's FastMCP context) sends
the call through the whole chain instead.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import mcp.types as mt
from fastmcp.server.middleware import Middleware, MiddlewareContext
from fastmcp.tools.base import ToolResult

from butlers.core.input_guard import HostileInputGuard
from butlers.db_health import ToolGuard
from butlers.session_trace import SessionTraceLink
from butlers.tool_hooks import NextHook, ToolCall

if TYPE_CHECKING:
    from fastmcp import FastMCP

DONE_BY_ROUTE: tuple[type[Middleware], ...] = (HostileInputGuard, SessionTraceLink)
# Middleware whose call hook reads only the call's message (name, arguments), never the FastMCP context.
MESSAGE_ONLY: tuple[type[Middleware], ...] = (ToolGuard,)
_OTHER_HOOKS = ("__call__", "on_message", "on_request")


def call_hooks(mcp: FastMCP) -> list[Middleware] | None:
    """The target's middleware still to run for a routed call, outermost first; None: run the whole chain."""
    hooks = []
    for mw in mcp.middleware:
        kind = type(mw)
        if isinstance(mw, DONE_BY_ROUTE):
            continue
        if any(getattr(kind, name) is not getattr(Middleware, name) for name in _OTHER_HOOKS):
            return None
        if kind.on_call_tool is Middleware.on_call_tool:
            continue
        if not isinstance(mw, MESSAGE_ONLY):
            return None
        hooks.append(mw)
    return hooks


async def call(mcp: FastMCP, tool: str, arguments: dict[str, Any]) -> ToolResult:
    """`mcp.call_tool(tool, arguments)`, minus the middleware work the `route` call already did."""
    hooks = call_hooks(mcp)
    if hooks is None:
        return await mcp.call_tool(tool, arguments)

    async def core(context: ToolCall) -> ToolResult:
        return await mcp.call_tool(context.message.name, context.message.arguments or {}, run_middleware=False)

    chain: NextHook = core
    for mw in reversed(hooks):
        chain = partial(mw.on_call_tool, call_next=chain)
    message = mt.CallToolRequestParams(name=tool, arguments=arguments)
    return await chain(MiddlewareContext(message=message, source="client", type="request", method="tools/call"))
