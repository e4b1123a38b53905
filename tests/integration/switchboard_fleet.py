"""The shipped butlers.d as a test fleet: free ports, the Telegram and model stand-ins, a Supervisor in-process."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from fastmcp import Client

from butlers.auth import find_operator_token
from butlers.config import discover
from butlers.db import ServerAddress, create_pool, database_name
from butlers.modules.telegram import TOKEN_ENV
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import ModelApiStandIn
from butlers.testing.ports import free_port
from butlers.testing.telegram_api import TelegramBotAPI

SHIPPED = Path(__file__).resolve().parents[2] / "butlers.d"
TOKEN = "777001:switchboard-test-token"
OWNER_CHAT = 4242
OWNER = "me@example.org"

SWITCHBOARD_EXTRA = f"""
follow_interval_s = 0.1
allowed_senders = {{ email = ["{OWNER}"] }}

[[modules.switchboard.rule]]
name = "weight"
butler = "health"
patterns = ['^\\s*\\d+(\\.\\d+)?\\s?kg\\s*$']

[[modules.switchboard.rule]]
name = "notes-command"
butler = "general"
keywords = ["/note"]
channels = ["telegram"]

[modules.telegram]
api_base_url = "{{telegram_url}}"
allowed_chat_ids = [{OWNER_CHAT}]
poll_timeout_s = 1
"""


def copy_fleet(root: Path, telegram_url: str) -> dict[str, int]:
    """The shipped butlers.d under `root`, each on a free port, the switchboard with test rules and Telegram."""
    ports: dict[str, int] = {}
    for src in sorted(p for p in SHIPPED.iterdir() if (p / "butler.toml").is_file()):
        dst = root / src.name
        shutil.copytree(src, dst)
        port = free_port()
        ports[src.name] = port
        text = re.sub(r"(?m)^port = \d+$", f"port = {port}", (dst / "butler.toml").read_text())
        if src.name == "switchboard":
            text = text.replace('classify_model = "claude-haiku-4-5"\n',
                                'classify_model = "claude-haiku-4-5"\n' + SWITCHBOARD_EXTRA.replace("{telegram_url}", telegram_url))  # fmt: skip
        (dst / "butler.toml").write_text(text)
    return ports


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """The daemon reads the model credential and module tokens from os.environ: set them for the block."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Fleet:
    supervisor: Supervisor
    ports: dict[str, int]
    model: ModelApiStandIn
    telegram: TelegramBotAPI
    address: ServerAddress
    pools: dict[str, asyncpg.Pool]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/mcp"

    @property
    def token(self) -> str | None:
        """The operator token the daemon wrote at its start."""
        found = find_operator_token(self.supervisor.settings)
        return found.value if found is not None else None

    async def call(self, butler: str, tool: str, args: dict[str, Any] | None = None) -> Any:
        # As the operator: schedule and state changes (also through `route`) need the token.
        async with Client(self.url(butler), auth=self.token) as client:
            return await client.call_tool(tool, args or {}, raise_on_error=False)

    async def pool(self, butler: str) -> asyncpg.Pool:
        if butler not in self.pools:
            self.pools[butler] = await create_pool(self.address, database_name(butler))
        return self.pools[butler]


@asynccontextmanager
async def running_fleet(tmp_path: Path, address: ServerAddress) -> AsyncIterator[Fleet]:
    telegram = TelegramBotAPI(TOKEN)
    async with serve_asgi(telegram.app) as telegram_url, ModelApiStandIn() as model:
        root = tmp_path / "butlers.d"
        root.mkdir(parents=True)
        ports = copy_fleet(root, telegram_url)
        settings = Settings(dir=root, data_dir=tmp_path / "data", postgres_host=address.host,
                            postgres_port=address.port, postgres_user=address.user,
                            postgres_password=address.password, drain_timeout_s=10)  # fmt: skip
        env = {**model.env(), "CLAUDE_CODE_MAX_RETRIES": "0", TOKEN_ENV: TOKEN}
        configs, errors = discover(root)
        assert not errors, errors
        supervisor = Supervisor(settings, configs, errors)
        fleet = Fleet(supervisor, ports, model, telegram, address, {})
        with environment(env):
            async with anyio.create_task_group() as tg:
                with anyio.fail_after(120):
                    await tg.start(supervisor.run)
                try:
                    yield fleet
                finally:
                    for p in fleet.pools.values():
                        await p.close()
                    supervisor.request_stop()
                    with anyio.fail_after(60):
                        await supervisor.stopped.wait()


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    """Check `condition` until it holds; fail after `timeout` seconds, naming what was awaited."""
    try:
        with anyio.fail_after(timeout):
            while not await condition():  # noqa: ASYNC110 - rows written by other tasks and processes
                await anyio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}") from None
