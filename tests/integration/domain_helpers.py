"""One real butler per test module, serving MCP over HTTP on a free port.

The butler runs in its own event loop on a thread (an anyio blocking portal), so a
module-scoped fixture can own it while each test runs in its own loop and talks to
it the way any client does: over HTTP. Database checks go through the portal to the
butler's own pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastmcp import Client
from fastmcp.exceptions import ToolError

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.settings import Settings
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres


@dataclass
class LiveButler:
    butler: Butler
    portal: BlockingPortal
    url: str

    def fetchval(self, sql: str, *args: Any) -> Any:
        return self.portal.call(lambda: self.butler.pool.fetchval(sql, *args))

    def execute(self, sql: str, *args: Any) -> Any:
        return self.portal.call(lambda: self.butler.pool.execute(sql, *args))


@contextmanager
def live_butler(pg: TestPostgres, folder: Path, name: str, modules: str) -> Iterator[LiveButler]:
    """Write a butler.toml enabling `modules` (TOML text), then run it until the block ends."""
    folder.mkdir(parents=True)
    port = free_port()
    (folder / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {port}\n\n{modules}\n')
    (folder / "CLAUDE.md").write_text(f"You are the {name} butler.\n")
    with pg.database() as database, start_blocking_portal() as portal:
        config = load_butler_config(folder)
        butler = Butler(config, Settings(data_dir=folder.parent / "data"), pg.address, database=database)
        future, _ = portal.start_task(butler.run, name=f"butler-{name}")
        try:
            yield LiveButler(butler, portal, f"http://127.0.0.1:{port}/mcp")
        finally:
            portal.call(butler.request_stop)
            future.result(timeout=30)


async def call(client: Client, tool: str, **args: Any) -> Any:
    """A tool's structured result (a list result comes back under 'result')."""
    result = (await client.call_tool(tool, args)).structured_content
    assert result is not None
    return result.get("result", result) if set(result) == {"result"} else result


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str:
    with pytest.raises(ToolError) as info:
        await client.call_tool(tool, args)
    return str(info.value)
