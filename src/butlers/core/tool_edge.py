"""The MCP edge of the core and module tools: the one place errors become tool errors.

A tool is a plain async function (or bound method) whose signature is its schema
(`Annotated[..., Field(...)]`, `Literal`, StrEnums) and whose return type is
its output schema. `DeclaredTool` runs it and turns what goes wrong into the
project's wording, `tool: argument 'x': what is wrong`:

- a call that fails the schema (FastMCP's ValidationError): the first error,
  naming the argument; for a choice, the value and the allowed ones;
- a `CallerError` the tool or a store raised (not found, conflict...): its
  message, naming its argument when it names one.

Anything else stays masked by FastMCP (`mask_error_details`): its text may
carry rows, paths or secrets. A subclass whose arguments are private (the
health module's) sets `quote_choices = False`: a refused choice is then
worded without the value sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.tools import FunctionTool
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from butlers.core.tool_reuse import build_tool
from butlers.errors import CallerError, ToolInputError

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.tools.base import ToolResult

F = TypeVar("F", bound=Callable[..., Any])
_CHOICE_ERRORS = ("enum", "literal_error")
MAX_QUOTED = 60  # characters of a refused choice quoted back


def caller_error(tool: str, exc: CallerError) -> ToolError:
    """A CallerError as the tool error the client sees."""
    return ToolError(str(ToolInputError(tool, exc.argument, str(exc))))


def schema_error(tool: str, exc: PydanticValidationError, quote_choices: bool = True) -> ValidationError:
    """The first schema error of a call, naming the argument (values are not quoted, except a refused choice).

    With `quote_choices` False a refused choice is not quoted either (pydantic's words list the allowed ones).

    Still a (FastMCP) ValidationError, worded our way: an in-process caller (the switchboard's
    `route`) tells a bad call from a failing tool by it; clients get its text.
    """
    errors = exc.errors(include_url=False, include_context=True, include_input=True)
    first = errors[0]
    argument = str(first["loc"][0]) if first["loc"] else "arguments"
    same = [e for e in errors if e["loc"][:1] == first["loc"][:1]]
    if quote_choices and all(e["type"] in _CHOICE_ERRORS for e in same):
        message = _not_a_choice(first["input"], same)
    else:
        message = first["msg"]
        if len(same) > 1 and first["loc"][1:]:
            message = f"{first['msg']} ({'.'.join(str(p) for p in first['loc'][1:])})"
    more = len({e["loc"][:1] for e in errors}) - 1
    return ValidationError(str(ToolInputError(tool, argument, message + (f" (and {more} more)" if more else ""))))


def _not_a_choice(value: Any, errors: list[ErrorDetails]) -> str:
    allowed = ", ".join(
        part.strip().strip("'")
        for e in errors
        for part in str(e.get("ctx", {}).get("expected", "")).replace(" or ", ", ").split(",")
    )
    shown = repr(value) if len(repr(value)) <= MAX_QUOTED else f"{repr(value)[:MAX_QUOTED]}..."
    return f"{shown} is not one of {allowed}"


class DeclaredTool(FunctionTool):
    """A function tool whose errors take the project's wording (see the module's doc)."""

    quote_choices: ClassVar[bool] = True

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        try:
            return await super().run(arguments)
        except ValidationError as exc:
            cause = exc.__cause__
            if isinstance(cause, PydanticValidationError):
                raise schema_error(self.name, cause, self.quote_choices) from None
            raise ValidationError(f"{self.name}: invalid arguments") from None
        except CallerError as exc:
            raise caller_error(self.name, exc) from None
        except ToolInputError as exc:  # already worded `tool: argument 'x': ...`
            raise ToolError(str(exc)) from None


def add_tools(mcp: FastMCP, tools: list[Callable[..., Any]], tool_class: type[DeclaredTool] = DeclaredTool) -> None:
    """Register each function (or bound method) as a DeclaredTool (or `tool_class`) named after it.

    Its docstring describes it.
    """
    for fn in tools:
        mcp.add_tool(build_tool(tool_class, fn, name=fn.__name__))


def declared(mcp: FastMCP, description: str | None = None) -> Callable[[F], F]:
    """Decorator: register the function as a DeclaredTool named after it (described by `description` or its doc)."""

    def register(fn: F) -> F:
        mcp.add_tool(build_tool(DeclaredTool, fn, name=fn.__name__, description=description))
        return fn

    return register
