"""A small daemon for the notify tests: a switchboard with the channels and `notify`, and `general`."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastmcp import Client

from butlers.auth import find_operator_token
from butlers.butler import Butler
from butlers.config import discover
from butlers.db import ServerAddress
from butlers.modules.notify import NotifyModule
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port

OWNER_CHAT = 4242
TOKEN = "777:notify-standin"
OWNER_EMAIL = "owner@example.test"


async def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Check `condition` (sync or async) until it gives something truthy; fail naming `what`."""
    try:
        with anyio.fail_after(timeout):
            while True:
                value = condition()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                await anyio.sleep(0.03)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def settings_for(tmp_path: Path, pg: ServerAddress) -> Settings:
    root = tmp_path / "butlers.d"
    root.mkdir(exist_ok=True)
    return Settings(
        dir=root,
        data_dir=tmp_path / "data",
        postgres_host=pg.host,
        postgres_port=pg.port,
        postgres_user=pg.user,
        postgres_password=pg.password,
        drain_timeout_s=5,
        heartbeat_interval_s=0.2,
    )


@dataclass(frozen=True)
class Fleet:
    """Role (switchboard, general) -> butler name and port. Names are unique per test: each
    butler's database is named after it, and the test PostgreSQL server is shared."""

    names: dict[str, str]
    ports: dict[str, int]


def write_fleet(settings: Settings, switchboard_modules: str, general_extra: str = "") -> Fleet:
    """butlers.d with a switchboard (the given module tables) and a general butler."""
    suffix = uuid.uuid4().hex[:6]
    names = {"switchboard": f"switchboard-{suffix}", "general": f"general-{suffix}"}
    ports = {"switchboard": free_port(), "general": free_port()}
    for role, extra in (("switchboard", switchboard_modules), ("general", general_extra)):
        folder = settings.dir / role
        folder.mkdir(exist_ok=True)
        (folder / "butler.toml").write_text(f'[butler]\nname = "{names[role]}"\nport = {ports[role]}\n{extra}\n')
    return Fleet(names, ports)


def notify_table(owner: str = "", **extra: Any) -> str:
    base = {"retry_base_s": 0.05, "max_backoff_s": 2, "max_attempts": 4, "release_interval_s": 0.05, **extra}
    lines = [f"{k} = {json.dumps(v)}" for k, v in base.items()]
    return "[modules.notify]\n" + "\n".join(lines) + f"\n[modules.notify.owner]\n{owner}\n"


@dataclass
class Daemon:
    supervisor: Supervisor
    fleet: Fleet

    def butler(self, role: str) -> Butler:
        return self.supervisor.butlers[self.fleet.names[role]]

    @property
    def notify_module(self) -> NotifyModule:
        module = next(m for m in self.butler("switchboard").modules if isinstance(m, NotifyModule))
        return module

    async def call(self, role: str, tool: str, args: dict[str, Any]) -> Any:
        # As the operator (the token the daemon wrote at start): schedule and state changes need it.
        token = find_operator_token(self.supervisor.settings)
        auth = token.value if token is not None else None
        async with Client(f"http://127.0.0.1:{self.fleet.ports[role]}/mcp", auth=auth) as client:
            result = await client.call_tool(tool, args)
        data = result.structured_content
        assert data is not None
        return data.get("result", data) if set(data) == {"result"} else data


@asynccontextmanager
async def daemon(settings: Settings, fleet: Fleet) -> AsyncIterator[Daemon]:
    configs, errors = discover(settings.dir)
    assert not errors, errors
    supervisor = Supervisor(settings, configs, errors)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(180):
            await tg.start(supervisor.run)
        assert not supervisor.failures, supervisor.failures
        try:
            yield Daemon(supervisor, fleet)
        finally:
            supervisor.request_stop()
            with anyio.fail_after(30):
                await supervisor.stopped.wait()
