"""state_set compare-and-set through a real MCP client: read-modify-write loses nothing."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.core.state import StateConflict, StateStore
from butlers.db import ServerAddress, create_pool
from butlers.settings import Settings

CLIENTS = 50
INCREMENTS = 20


@pytest.fixture
async def mcp(tmp_path: Path, pg_address: ServerAddress, database: str) -> AsyncIterator[FastMCP]:
    folder = tmp_path / "general"
    folder.mkdir()
    (folder / "butler.toml").write_text('[butler]\nname = "general"\nport = 18102\n')
    b = Butler(load_butler_config(folder), Settings(data_dir=tmp_path / "data"), pg_address, database=database)
    app = await b.start()
    yield app
    await b._shutdown()


async def call(client: Client[Any], tool: str, **args: Any) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def test_fifty_racing_clients_count_exactly_one_thousand(pg_address: ServerAddress, database: str) -> None:
    # The store itself, each client on its own connection: 1,000 increments through MCP
    # would take minutes on a loaded machine; the tool is a thin wrapper (tested below).
    pool = await create_pool(pg_address, database, min_size=CLIENTS, max_size=CLIENTS)
    store = StateStore(pool)
    await store.set("counter", 0, must_not_exist=True)
    conflicts = 0

    async def client() -> None:
        nonlocal conflicts
        for _ in range(INCREMENTS):
            backoff = 0.002
            while True:
                got = await store.get("counter")
                assert got is not None
                try:
                    await store.set("counter", got.value + 1, expected_version=got.version)
                    break
                except StateConflict as exc:
                    assert exc.current_version is not None and exc.current_version > got.version
                    conflicts += 1
                    # Back off (exponential, full jitter) so the losers do not all retry at once.
                    await anyio.sleep(random.uniform(0, backoff))
                    backoff = min(backoff * 2, 0.1)

    try:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for _ in range(CLIENTS):
                    tg.start_soon(client)
        final = await store.get("counter")
    finally:
        await pool.close()
    assert final is not None
    assert final.value == CLIENTS * INCREMENTS
    assert final.version == CLIENTS * INCREMENTS + 1
    assert conflicts > 0  # the clients really raced


async def test_conflict_names_the_current_version_and_writes_nothing(mcp: FastMCP) -> None:
    async with Client(mcp) as client:
        await call(client, "state_set", key="k", value="a")
        await call(client, "state_set", key="k", value="b")
        with pytest.raises(ToolError) as info:
            await call(client, "state_set", key="k", value="c", expected_version=1)
        assert "state_set: argument 'expected_version'" in str(info.value)
        assert "version 2" in str(info.value)
        with pytest.raises(ToolError) as info:
            await call(client, "state_set", key="k", value="d", must_not_exist=True)
        assert "argument 'must_not_exist'" in str(info.value) and "version 2" in str(info.value)
        with pytest.raises(ToolError) as info:
            await call(client, "state_set", key="missing", value=1, expected_version=1)
        assert "does not exist" in str(info.value)
        with pytest.raises(ToolError):
            await call(client, "state_set", key="k", value=1, expected_version=2, must_not_exist=True)
        got = await call(client, "state_get", key="k")
        assert (got["value"], got["version"]) == ("b", 2)
        assert (await call(client, "state_get", key="missing"))["found"] is False
        assert (await call(client, "state_set", key="k", value="c", expected_version=2))["version"] == 3


async def test_json_null_is_a_value(mcp: FastMCP) -> None:
    async with Client(mcp) as client:
        assert (await call(client, "state_set", key="nothing", value=None))["version"] == 1
        got = await call(client, "state_get", key="nothing")
        assert got["found"] is True and got["value"] is None
        listed = await call(client, "state_list", prefix="nothing")
        assert listed["entries"] == [{"key": "nothing", "value": None, "version": 1}]
