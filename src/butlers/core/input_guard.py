"""Values no tool can use, refused for every tool before it runs (a FastMCP middleware).

PostgreSQL rejects NUL characters in text and JSON, a lone UTF-16 surrogate
cannot be encoded as UTF-8, NaN and infinities are not JSON, numbers beyond
64 bits overflow `bigint`, and very deep nesting only exists to exhaust a
parser. Checking them once, here, gives every tool (core and modules alike) the
same clear error naming the argument, instead of a driver exception halfway
through a write.
"""

from __future__ import annotations

import math
import re
from typing import Any

from fastmcp.server.middleware import Middleware
from fastmcp.tools.base import ToolResult

from butlers.core.tool_errors import bad_argument
from butlers.tool_hooks import NextHook, ToolCall

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def hostile_value(value: Any, path: str, depth: int = 0) -> tuple[str, str] | None:
    """(where, why) for the first value no tool accepts, or None when all are fine."""
    if depth > MAX_DEPTH:
        return path, f"is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, str):
        why = _bad_text(value)
        return (path, why) if why else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else (path, "is beyond the 64-bit integer range")
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, "must be a finite number (NaN and infinity are not JSON)")
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if isinstance(key, str) and not _bad_text(key) else f"{path} (a key)"
            if isinstance(key, str) and (why := _bad_text(key)):
                return where, why
            found = hostile_value(item, where, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = hostile_value(item, f"{path}[{i}]", depth + 1)
            if found:
                return found
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii() and _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate, which is not valid Unicode text"
    return None


class HostileInputGuard(Middleware):
    """Refuses a tool call whose arguments hold a value no tool can use; nothing runs."""

    async def on_call_tool(self, context: ToolCall, call_next: NextHook) -> ToolResult:
        tool = context.message.name
        for name, value in (context.message.arguments or {}).items():
            found = hostile_value(value, name)
            if found is not None:
                raise bad_argument(tool, found[0], found[1])
        return await call_next(context)
