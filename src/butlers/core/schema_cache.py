"""Tool schemas inlined once per tool, not on every `tools/list` (a FastMCP middleware).

FastMCP inlines every `$ref` of every tool's input and output schema on each
`tools/list` (so that clients without `$ref` support can read them). With the
typed records as output schemas that is 65-90 ms of CPU per list on a shipped
butler, paid by every client session (Claude Code lists at each session start),
and 64 clients connecting at once kept the event loop busy for seconds. A
tool's schemas never change while it is registered, so the inlined copy is
kept and reused as long as FastMCP hands out the same tool object. The
daemon's butlers share their core tools' schemas, so an inlined schema is
also kept by content: each is computed once per daemon, not once per butler.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import mcp.types as mt
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool
from fastmcp.utilities.json_schema import dereference_refs


class InlinedSchemas(Middleware):
    """`tools/list` answers with `$ref`-free schemas, computed once per tool object."""

    def __init__(self) -> None:
        self._inlined: dict[str, tuple[Tool, Tool]] = {}

    async def on_list_tools(
        self,
        context: MiddlewareContext[mt.ListToolsRequest],
        call_next: CallNext[mt.ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        return [self._inline(tool) for tool in await call_next(context)]

    def _inline(self, tool: Tool) -> Tool:
        cached = self._inlined.get(tool.name)
        if cached is not None and cached[0] is tool:
            return cached[1]
        inlined = inline_refs(tool)
        self._inlined[tool.name] = (tool, inlined)
        return inlined


def inline_refs(tool: Tool) -> Tool:
    """A copy of `tool` whose input and output schemas hold no `$ref` (the tool itself when none do)."""
    updates: dict[str, Any] = {}
    if _has_ref(tool.parameters):
        updates["parameters"] = _dereferenced(tool.parameters)
    if tool.output_schema is not None and _has_ref(tool.output_schema):
        updates["output_schema"] = _dereferenced(tool.output_schema)
    return tool.model_copy(update=updates) if updates else tool


def _dereferenced(schema: dict[str, Any]) -> dict[str, Any]:
    """The inlined schema, shared (never changed in place): found by the source schema's identity
    (the butlers' reused tools share theirs, tool_reuse.py), else by its content, else computed."""
    kept = _BY_SOURCE.get(id(schema))
    if kept is not None and kept[0] is schema:
        return kept[1]
    inlined = _dereferenced_text(json.dumps(schema))
    if len(_BY_SOURCE) >= MAX_KEPT:
        _BY_SOURCE.clear()
    _BY_SOURCE[id(schema)] = (schema, inlined)  # holding the source keeps its id from being reused
    return inlined


#: Source schemas kept by identity (a few per tool; far more than any daemon registers).
MAX_KEPT = 4096
_BY_SOURCE: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


@functools.lru_cache(maxsize=1024)
def _dereferenced_text(schema: str) -> dict[str, Any]:
    inlined: dict[str, Any] = dereference_refs(json.loads(schema))
    return inlined


def _has_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or "$defs" in schema or any(_has_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_ref(v) for v in schema)
    return False
