"""The one wording of a bad-argument MCP tool error, shared by every core tool."""

from __future__ import annotations

import uuid
from typing import Any

from fastmcp.exceptions import ToolError

from butlers.errors import ToolInputError


def bad_argument(tool: str, argument: str, message: str) -> ToolError:
    """`tool: argument 'x': message`, the form every tool error of Butlers takes."""
    return ToolError(str(ToolInputError(tool, argument, message)))


def parse_uuid(tool: str, argument: str, value: Any, what: str) -> uuid.UUID:
    """A UUID argument, or a ToolError naming the tool and the argument."""
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise bad_argument(tool, argument, f"not {what} id (a UUID): {value!r}") from None
