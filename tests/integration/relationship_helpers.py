"""A real relationship butler for a whole test module: HTTP on a free port, its own database.

The butler runs in a thread of its own (an anyio blocking portal), so one butler serves every
test of a module while each test keeps its own event loop; tests reach it over real MCP HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import asyncpg
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningRelationship:
    butler: Butler
    url: str
    address: ServerAddress
    database: str

    async def call(self, tool: str, **args: Any) -> Any:
        async with Client(self.url, timeout=30) as client:
            result = await client.call_tool(tool, args)
        data = result.structured_content
        return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data

    async def refused(self, tool: str, **args: Any) -> str:
        async with Client(self.url, timeout=30) as client:
            with pytest.raises(ToolError) as info:
                await client.call_tool(tool, args)
        return str(info.value)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(**self.address.connect_kwargs(), database=self.database)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()


@contextmanager
def running_relationship(pg: TestPostgres, folder: Path, module_toml: str = "") -> Iterator[RunningRelationship]:
    """Start the shipped relationship butler (its CLAUDE.md, with `module_toml` as its module table)."""
    folder.mkdir(parents=True)
    port = free_port()
    shipped = REPO / "butlers.d" / "relationship"
    (folder / "CLAUDE.md").write_text((shipped / "CLAUDE.md").read_text())
    (folder / "butler.toml").write_text(
        f'[butler]\nname = "relationship"\nport = {port}\n\n[modules.relationship]\n{module_toml}\n'
    )
    config = load_butler_config(folder)
    with pg.database() as database, anyio.from_thread.start_blocking_portal() as portal:
        butler = Butler(config, Settings(data_dir=folder / "data", drain_timeout_s=5), pg.address, database=database)
        future, _ = portal.start_task(butler.run)
        try:
            yield RunningRelationship(butler, f"http://127.0.0.1:{port}/mcp", pg.address, database)
        finally:
            portal.call(butler.request_stop)
            future.result(timeout=30)
