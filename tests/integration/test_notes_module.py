"""The notes module on a real database, called through an in-memory MCP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.db import ServerAddress
from butlers.migrate import apply_migrations
from butlers.modules.base import ModuleContext
from butlers.modules.notes import NotesConfig, NotesModule


@pytest.fixture
async def client(pg_address: ServerAddress, database: str, pool: asyncpg.Pool, data_dir: Path) -> AsyncIterator[Client]:
    await apply_migrations(pg_address, database, NotesModule.migrations_dir, owner="notes")
    mcp = FastMCP("test")
    ctx = ModuleContext(butler="test", pool=pool, directory=data_dir, data_dir=data_dir, credentials={})
    NotesModule(NotesConfig(max_body_chars=50)).register_tools(mcp, ctx)
    async with Client(mcp) as c:
        yield c


async def call(client: Client, tool: str, **args: Any) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def add(client: Client, title: str, body: str = "", tags: list[str] | None = None) -> dict[str, Any]:
    note: dict[str, Any] = await call(client, "notes_add", title=title, body=body, tags=tags)
    return note


async def test_add_get_list_search_delete(client: Client) -> None:
    milk = await add(client, "Groceries", "milk, eggs", ["Shopping", "home", "shopping"])
    assert milk["tags"] == ["shopping", "home"]
    await add(client, "Call plumber", "the sink drips", ["home"])

    assert (await call(client, "notes_get", id=milk["id"]))["body"] == "milk, eggs"
    listed = (await call(client, "notes_list"))["result"]
    assert [n["title"] for n in listed] == ["Call plumber", "Groceries"]
    tagged = (await call(client, "notes_list", tag="SHOPPING"))["result"]
    assert [n["title"] for n in tagged] == ["Groceries"]
    assert len((await call(client, "notes_list", limit=1))["result"]) == 1
    found = (await call(client, "notes_search", query="SINK"))["result"]
    assert [n["title"] for n in found] == ["Call plumber"]
    assert (await call(client, "notes_search", query="%"))["result"] == []  # wildcards are literal

    assert await call(client, "notes_delete", id=milk["id"]) == {"deleted": milk["id"]}
    with pytest.raises(ToolError, match="notes_get: argument 'id': no note with id"):
        await call(client, "notes_get", id=milk["id"])


@pytest.mark.parametrize(
    ("tool", "args", "argument"),
    [
        ("notes_add", {"title": "   "}, "title"),
        ("notes_add", {"title": "x" * 201}, "title"),
        ("notes_add", {"title": "ok", "body": "x" * 51}, "body"),  # over max_body_chars from the config
        ("notes_add", {"title": "ok", "tags": ["fine", " "]}, "tags"),
        ("notes_add", {"title": "ok", "tags": [str(i) for i in range(21)]}, "tags"),
        ("notes_add", {"title": 42}, "title"),  # wrong type: refused by the schema, still named
        ("notes_add", {"body": "no title"}, "title"),
        ("notes_list", {"limit": 0}, "limit"),
        ("notes_list", {"tag": ""}, "tag"),
        ("notes_get", {"id": -1}, "id"),
        ("notes_get", {"id": "abc"}, "id"),
        ("notes_search", {"query": " "}, "query"),
        ("notes_search", {"query": "x", "limit": 1000}, "limit"),
        ("notes_delete", {"id": 0}, "id"),
        ("notes_delete", {"id": 999}, "id"),
    ],
)
async def test_bad_input_is_refused_naming_tool_and_argument_and_writes_nothing(
    client: Client, pool: asyncpg.Pool, tool: str, args: dict[str, Any], argument: str
) -> None:
    await add(client, "keep me")
    with pytest.raises(ToolError) as exc:
        await client.call_tool(tool, args)
    message = str(exc.value)
    assert tool in message and argument in message, message
    assert await pool.fetchval("SELECT count(*) FROM notes") == 1
