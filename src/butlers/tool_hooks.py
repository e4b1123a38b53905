"""The types of a FastMCP `on_call_tool` hook, written once for every tool-call middleware of ours."""

from __future__ import annotations

import mcp.types as mt
from fastmcp.server.middleware import CallNext, MiddlewareContext
from fastmcp.tools.base import ToolResult

ToolCall = MiddlewareContext[mt.CallToolRequestParams]  # the call: `.message.name`, `.message.arguments`
NextHook = CallNext[mt.CallToolRequestParams, ToolResult]  # the rest of the chain, down to the tool itself
