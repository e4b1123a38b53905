"""One butler starting at a time: each hands its turn on when it serves or fails, so all get theirs.

The butlers' core tools are built once per daemon (core/tool_reuse.py): each still runs on its own butler's state.
"""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
from fastmcp import Client
from notify_helpers import settings_for

from butlers.auth import find_operator_token
from butlers.butler import ButlerPhase
from butlers.config import discover
from butlers.db import ServerAddress
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port


async def test_butlers_start_one_after_another_and_a_failure_hands_its_turn_on(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    root = tmp_path / "butlers.d"
    ports = {"a-taken": free_port(), "b-turns": free_port(), "c-turns": free_port()}
    for name, port in ports.items():
        (root / name).mkdir(parents=True)
        (root / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {port}\n')
    settings = settings_for(tmp_path, pg_address).model_copy(
        update={"start_concurrency": 1, "dashboard_enabled": False}
    )
    configs, _ = discover(root)
    supervisor = Supervisor(settings, configs)
    with socket.socket() as blocker:  # the first butler in line cannot bind its port and fails
        blocker.bind(("127.0.0.1", ports["a-taken"]))
        blocker.listen()
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(180):
                await tg.start(supervisor.run)
            phases = {name: b.phase for name, b in supervisor.butlers.items()}
            assert phases == {
                "a-taken": ButlerPhase.FAILED,
                "b-turns": ButlerPhase.SERVING,
                "c-turns": ButlerPhase.SERVING,
            }
            token = find_operator_token(settings)  # state_set is an operator action
            assert token is not None
            for name in ("b-turns", "c-turns"):  # the same core tool, built once, runs each butler's own store
                async with Client(f"http://127.0.0.1:{ports[name]}/mcp", auth=token.value) as client:
                    assert "state_get" in [t.name for t in await client.list_tools()]
                    await client.call_tool("state_set", {"key": "owner", "value": name})
            for name in ("b-turns", "c-turns"):
                async with Client(f"http://127.0.0.1:{ports[name]}/mcp") as client:
                    got = await client.call_tool("state_get", {"key": "owner"})
                    assert got.structured_content is not None and got.structured_content["value"] == name
            supervisor.request_stop()
            with anyio.fail_after(60):
                await supervisor.stopped.wait()
