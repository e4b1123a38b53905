"""Tools built once per daemon: a second butler's copy has the same schemas and runs its own function."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
import pytest
from fastmcp import Client, Context, FastMCP
from pydantic import Field

from butlers.core.schema_cache import InlinedSchemas, _dereferenced_text
from butlers.core.tool_edge import DeclaredTool, declared
from butlers.core.tool_reuse import build_tool, function_tool

pytestmark = pytest.mark.unit


class Answer(pydantic.BaseModel):
    owner: str
    key: str


def _tool_of(owner: str) -> Any:
    """A closure over one butler's own value, as the core tools are."""

    async def lookup(
        key: Annotated[str, Field(description="The key.", max_length=20)], mode: Literal["a", "b"] = "a"
    ) -> Answer:
        """Look a key up."""
        return Answer(owner=owner, key=key)

    return lookup


def _app(owner: str) -> FastMCP:
    mcp: FastMCP = FastMCP(owner)
    declared(mcp)(_tool_of(owner))
    return mcp


def test_a_reused_tool_has_the_schemas_of_a_fresh_build() -> None:
    first = build_tool(DeclaredTool, _tool_of("one"), name="lookup")
    second_fn = _tool_of("two")
    second = build_tool(DeclaredTool, second_fn, name="lookup")
    fresh = DeclaredTool.from_function(_tool_of("three"), name="lookup")
    assert second.fn is second_fn
    assert second.model_dump(exclude={"fn"}) == fresh.model_dump(exclude={"fn"})
    assert second.parameters is first.parameters  # shared, read-only: inlined once for every butler (schema_cache.py)


async def test_each_butler_runs_its_own_function() -> None:
    for owner in ("alpha", "beta"):
        async with Client(_app(owner)) as client:
            result = await client.call_tool("lookup", {"key": "k"})
            assert result.structured_content == {"owner": owner, "key": "k"}
            bad = await client.call_tool("lookup", {"key": "k" * 21}, raise_on_error=False)
            assert bad.is_error and "lookup: argument 'key'" in str(bad.content[0])


def test_closures_with_different_annotations_get_their_own_schemas() -> None:
    def make(choices: Any) -> Any:
        async def choose(pick: choices) -> str:  # an annotation made per call, as a closure may
            return str(pick)

        choose.__annotations__["pick"] = choices  # evaluated, not a string: the values are part of it
        return choose

    ab = build_tool(DeclaredTool, make(Literal["a", "b"]), name="choose")
    xy = build_tool(DeclaredTool, make(Literal["x", "y"]), name="choose")
    assert ab.parameters["properties"]["pick"]["enum"] == ["a", "b"]
    assert xy.parameters["properties"]["pick"]["enum"] == ["x", "y"]


def test_a_tool_with_a_context_parameter_still_gets_its_schema() -> None:
    async def with_context(key: str, ctx: Context) -> str:
        return key

    one = build_tool(DeclaredTool, with_context, name="with_context")
    two = build_tool(DeclaredTool, with_context, name="with_context")
    assert "ctx" not in one.parameters["properties"]
    assert one.model_dump(exclude={"fn"}) == two.model_dump(exclude={"fn"})


class Page(pydantic.BaseModel):
    answers: list[Answer]  # a nested model: the output schema carries $defs


async def test_a_second_butler_lists_tools_inlined_from_the_first_ones_work() -> None:
    def app(owner: str) -> FastMCP:
        mcp: FastMCP = FastMCP(owner, dereference_schemas=False, middleware=[InlinedSchemas()])

        async def page(key: str) -> Page:
            """A page of answers."""
            return Page(answers=[Answer(owner=owner, key=key)])

        declared(mcp)(page)
        return mcp

    listed = []
    for owner in ("alpha", "beta"):
        before = _dereferenced_text.cache_info()
        async with Client(app(owner)) as client:
            [tool] = await client.list_tools()
            listed.append(tool.output_schema)
        after = _dereferenced_text.cache_info()
        if owner == "beta":  # the shared schema is found by identity: not inlined again, not even looked up
            assert (after.hits, after.misses) == (before.hits, before.misses)
    assert listed[0] == listed[1]
    assert "$defs" not in str(listed[1]) and "$ref" not in str(listed[1])


async def test_a_plain_function_tool_is_reused_as_mcp_tool_would_build_it() -> None:
    def app(owner: str) -> FastMCP:
        mcp: FastMCP = FastMCP(owner)
        function_tool(mcp, name="lookup", description="Look a key up.")(_tool_of(owner))
        return mcp

    plain: FastMCP = FastMCP("plain")
    plain.tool(name="lookup", description="Look a key up.")(_tool_of("plain"))
    [expected] = await plain.list_tools()
    for owner in ("alpha", "beta"):
        mcp = app(owner)
        [tool] = await mcp.list_tools()
        assert type(tool) is type(expected)
        assert tool.model_dump(exclude={"fn"}) == expected.model_dump(exclude={"fn"})
        async with Client(mcp) as client:
            result = await client.call_tool("lookup", {"key": "k"})
            assert result.structured_content == {"owner": owner, "key": "k"}
