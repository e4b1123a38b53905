"""Module tools registered through `argument_errors.add_tools` (and the health module's private tools)
get their errors from the one edge, `core/tool_edge.py`: the tool and the argument named, a CallerError
worded, and a private tool never quoting what was sent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from pydantic import Field

from butlers.errors import NotFoundError
from butlers.modules.argument_errors import add_tools
from butlers.modules.health.private import register_private

pytestmark = pytest.mark.unit

SECRET_CHOICE = "tramadol-at-night"


async def shelf_get(shelf: Literal["top", "bottom"], count: Annotated[int, Field(ge=1, le=10)] = 1) -> dict[str, Any]:
    """A module tool with a choice and a bound."""
    if count == 7:
        raise NotFoundError("no shelf holds seven", argument="count")
    return {"shelf": shelf, "count": count}


async def health_pick(kind: Literal["weight", "pulse"], value: Annotated[float, Field(gt=0)]) -> dict[str, Any]:
    """A private tool: its errors must not carry what was sent."""
    if value == 13:
        raise RuntimeError(f"row ({kind}, {value}) broke")
    return {"kind": kind}


def app() -> FastMCP:
    mcp = FastMCP("edge")
    add_tools(mcp, [shelf_get])
    register_private(mcp, [health_pick])
    return mcp


async def refused(tool: str, args: dict[str, Any]) -> str:
    async with Client(app()) as client:
        with pytest.raises(ToolError) as info:
            await client.call_tool(tool, args)
    return str(info.value)


async def test_a_module_tool_names_itself_and_the_argument_and_quotes_a_refused_choice() -> None:
    assert await refused("shelf_get", {"shelf": "middle"}) == "shelf_get: argument 'shelf': 'middle' is not one of top, bottom"  # fmt: skip
    assert (await refused("shelf_get", {"shelf": "top", "count": 11})).startswith("shelf_get: argument 'count': ")


async def test_a_caller_error_of_a_module_tool_is_worded_at_the_edge() -> None:
    message = await refused("shelf_get", {"shelf": "top", "count": 7})
    assert message == "shelf_get: argument 'count': no shelf holds seven"


async def test_a_private_tool_refuses_a_choice_without_quoting_it() -> None:
    message = await refused("health_pick", {"kind": SECRET_CHOICE, "value": 80})
    assert message.startswith("health_pick: argument 'kind': ") and "weight" in message
    assert SECRET_CHOICE not in message


async def test_a_private_tool_withholds_an_unexpected_failure() -> None:
    message = await refused("health_pick", {"kind": "pulse", "value": 13})
    assert message == "health_pick: failed (RuntimeError); details withheld"
