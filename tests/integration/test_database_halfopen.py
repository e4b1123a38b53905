"""A half-open database connection (a proxy that stops forwarding, closing nothing) is noticed within 5 s."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from butlers.auth import find_operator_token
from butlers.config import discover
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port
from butlers.testing.stalling_proxy import StallingProxy


async def database(client: Client[Any]) -> dict[str, Any]:
    status = (await client.call_tool("status", {})).structured_content
    assert status is not None
    return dict(status["database"])


async def test_a_stalled_connection_is_down_within_5_s_and_recovers(tmp_path: Path, pg_address: ServerAddress) -> None:
    port = free_port()
    root = tmp_path / "butlers.d"
    (root / "halfopen").mkdir(parents=True)
    (root / "halfopen" / "butler.toml").write_text(f'[butler]\nname = "halfopen"\nport = {port}\n')
    async with StallingProxy(f"{pg_address.host}/.s.PGSQL.{pg_address.port}") as proxy:
        settings = Settings(
            dir=root,
            data_dir=tmp_path / "data",
            postgres_host="127.0.0.1",
            postgres_port=proxy.port,
            postgres_user=pg_address.user,
            postgres_password=pg_address.password,
            drain_timeout_s=5,
        )
        configs, errors = discover(root)
        supervisor = Supervisor(settings, configs, errors)
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(60):
                await tg.start(supervisor.run)
            token = find_operator_token(settings)  # state changes are the operator's
            auth = token.value if token is not None else None
            async with Client(f"http://127.0.0.1:{port}/mcp", timeout=20, auth=auth) as client:
                await client.call_tool("state_set", {"key": "before", "value": 1})
                proxy.stall()
                stalled = time.monotonic()
                with anyio.fail_after(5):  # the daemon's own verdict, within 5 s of the stall
                    while (db := await database(client)).get("state") != "down":  # noqa: ASYNC110 - polling a server's state, bounded
                        await anyio.sleep(0.05)
                assert time.monotonic() - stalled < 5
                assert db["ok"] is False and "half-open" in db["reason"]
                started = time.monotonic()
                with pytest.raises(ToolError, match="state_get: database unavailable"):
                    await client.call_tool("state_get", {"key": "before"})
                assert time.monotonic() - started < 1  # at once, not hanging
                proxy.resume()
                with anyio.fail_after(30):
                    while not (await database(client))["ok"]:  # noqa: ASYNC110 - polling a server's state, bounded
                        await anyio.sleep(0.1)
                got = (await client.call_tool("state_get", {"key": "before"})).structured_content
                assert got is not None and got["value"] == 1
            supervisor.request_stop()
            with anyio.fail_after(30):
                await supervisor.stopped.wait()
