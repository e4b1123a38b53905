"""Health tools whose errors never carry health data into logs or traces.

FastMCP records a failing call's exception message on the tool's span and in its
log line. Pydantic's argument errors quote the input (`input_value=81.2`); the
tool edge (`butlers.core.tool_edge`) names the argument without the value, and a
`PrivateTool` does not quote a refused choice either. A database error may quote
a row: a `PrivateTool` withholds any unexpected error's text too (`from None`,
so no chained traceback shows it either).
Our own `bad_argument` messages in this module never quote the value.

FastMCP also logs every call's arguments at DEBUG ("Handler called: call_tool X
with {...}"). butlerd keeps library logs at WARNING, but a DEBUG setting of
FastMCP's own would print them: `ArgumentsWithheld` blanks them for health tools.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import ToolError, ValidationError

from butlers.core.tool_edge import DeclaredTool, add_tools

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.tools.base import ToolResult


class PrivateTool(DeclaredTool):
    """A function tool whose failures say what was wrong, never what was sent."""

    quote_choices = False

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            return await super().run(arguments)  # schema and caller errors: worded at the edge, no value quoted
        except (ToolError, ValidationError):
            raise
        except Exception as exc:  # a bug or a database failure: its text may quote health data
            raise ToolError(f"{self.name}: failed ({type(exc).__name__}); details withheld") from None


# The logger FastMCP's per-call DEBUG line goes to (fastmcp/server/mixins/mcp_operations.py).
CALL_LOGGER = "fastmcp.server.mixins.mcp_operations"


class ArgumentsWithheld(logging.Filter):
    """Blank the arguments of a health tool call in FastMCP's call log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and str(args[0]).startswith("health_"):
            record.args = (args[0], "<withheld: health data>")
        return True


def withhold_call_arguments() -> None:
    logger = logging.getLogger(CALL_LOGGER)
    if not any(isinstance(f, ArgumentsWithheld) for f in logger.filters):
        logger.addFilter(ArgumentsWithheld())


def register_private(mcp: FastMCP, tools: list[Callable[..., Any]]) -> None:
    withhold_call_arguments()
    add_tools(mcp, tools, PrivateTool)
