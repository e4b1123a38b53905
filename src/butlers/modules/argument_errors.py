"""Tools whose argument errors take the project's form: `tool: argument 'x': what is wrong`.

FastMCP answers a call that fails its schema with pydantic's own text, which names
neither the tool first nor the argument plainly, and quotes the value sent. A
`NamedArgumentTool` re-raises it as `bad_argument`, without the value (`from None`,
so no chained traceback carries it either).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.tools import FunctionTool
from pydantic import ValidationError as PydanticValidationError

from butlers.core.tool_errors import bad_argument

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.tools.base import ToolResult


def argument_error(tool: str, exc: ValidationError) -> ToolError:
    cause = exc.__cause__
    if not isinstance(cause, PydanticValidationError):
        return ToolError(f"{tool}: invalid arguments")
    first = cause.errors(include_url=False, include_context=False, include_input=False)[0]
    argument = ".".join(str(p) for p in first["loc"]) or "arguments"
    more = f" (and {cause.error_count() - 1} more)" if cause.error_count() > 1 else ""
    return bad_argument(tool, argument, f"{first['msg']}{more}")


class NamedArgumentTool(FunctionTool):
    """A function tool whose schema errors name the tool and the argument."""

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            return await super().run(arguments)
        except ValidationError as exc:
            raise argument_error(self.name, exc) from None


def add_tools(
    mcp: FastMCP, tools: list[Callable[..., Any]], tool_class: type[FunctionTool] = NamedArgumentTool
) -> None:
    """Register each function (or bound method) as a tool named after it."""
    for fn in tools:
        mcp.add_tool(tool_class.from_function(fn, name=fn.__name__))
