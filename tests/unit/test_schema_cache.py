"""Inlined tool schemas: what `tools/list` gives is FastMCP's own inlining, computed once per tool."""

from __future__ import annotations

import pydantic
import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.middleware.dereference import DereferenceRefsMiddleware

from butlers.core.schema_cache import InlinedSchemas

pytestmark = pytest.mark.unit


class Item(pydantic.BaseModel):
    name: str
    size: int


class Listing(pydantic.BaseModel):
    items: list[Item]
    best: Item | None = None


def _app(*middleware: object) -> FastMCP:
    mcp: FastMCP = FastMCP("t", dereference_schemas=False, middleware=list(middleware))  # type: ignore[arg-type]

    @mcp.tool
    def pick(item: Item, others: list[Item]) -> Listing:
        """Nested models on both sides, so both schemas carry $defs."""
        return Listing(items=[item, *others], best=item)

    @mcp.tool
    def ping() -> str:
        return "pong"

    return mcp


async def _listed(mcp: FastMCP) -> dict[str, tuple[dict, dict | None]]:
    async with Client(mcp) as c:
        return {t.name: (t.input_schema, t.output_schema) for t in await c.list_tools()}


async def test_listed_schemas_match_fastmcps_own_inlining() -> None:
    ours = await _listed(_app(InlinedSchemas()))
    theirs = await _listed(_app(DereferenceRefsMiddleware()))
    assert ours == theirs
    assert "$defs" not in str(ours["pick"]) and "$ref" not in str(ours["pick"])


async def test_inlining_happens_once_per_tool_and_calls_still_validate() -> None:
    cache = InlinedSchemas()
    mcp = _app(cache)
    first = await _listed(mcp)
    inlined = {name: pair[1] for name, pair in cache._inlined.items()}
    assert set(inlined) == {"pick", "ping"}
    assert await _listed(mcp) == first
    assert all(cache._inlined[name][1] is tool for name, tool in inlined.items())  # reused, not redone
    async with Client(mcp) as c:
        result = await c.call_tool("pick", {"item": {"name": "a", "size": 1}, "others": []})
        assert result.structured_content == {"items": [{"name": "a", "size": 1}], "best": {"name": "a", "size": 1}}
        bad = await c.call_tool("pick", {"item": {"name": "a"}, "others": []}, raise_on_error=False)
        assert bad.is_error
