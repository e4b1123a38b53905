"""A daemon for the dashboard's Messages, Notifications, Contacts and Health pages.

Butlers (names unique per call: the test PostgreSQL server is shared): a switchboard with
the switchboard module (a weight rule to health, fallback general), Telegram against the Bot
API stand-in and notify to the owner's chat; general; health; relationship; and the
dashboard on a free port. Sessions that retries and reroutes start run the real Claude Code
CLI against the model API stand-in. Seeded through `domain_seed`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import asyncpg
from dashboard_helpers import READY_TIMEOUT_S, wait_until
from domain_seed import (
    SeededContacts,
    SeededHealth,
    SeededMessages,
    SeededNotifications,
    seed_contacts,
    seed_health,
    seed_messages,
    seed_notifications,
)

from butlers.db import ServerAddress, create_pool
from butlers.modules.telegram import TOKEN_ENV
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.asgi import serve_asgi
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.model_api import ModelApiStandIn
from butlers.testing.ports import free_port
from butlers.testing.telegram_api import TelegramBotAPI

BOT_TOKEN = "777002:dashboard-domain-token"
OWNER_CHAT = 4242


def _tomls(names: dict[str, str], telegram_url: str) -> dict[str, str]:
    switchboard = f"""
[modules.switchboard]
fallback = "{names["general"]}"
follow_interval_s = 0.2

[[modules.switchboard.rule]]
name = "weight"
butler = "{names["health"]}"
patterns = ['^\\s*\\d+(\\.\\d+)?\\s?kg\\s*$']

[modules.telegram]
api_base_url = "{telegram_url}"
allowed_chat_ids = [{OWNER_CHAT}]
poll_timeout_s = 1

[modules.notify]
retry_base_s = 0.05
max_attempts = 2

[modules.notify.owner]
telegram_chat_id = {OWNER_CHAT}
"""
    return {
        "switchboard": switchboard,
        "general": "\n[modules.notes]\n",
        "health": '\n[modules.health]\ntimezone = "Europe/Berlin"\n',
        "relationship": "\n[modules.relationship]\n",
    }


def write_fleet(root: Path, telegram_url: str) -> dict[str, str]:
    """butlers.d under `root`; role -> butler name."""
    suffix = uuid.uuid4().hex[:6]
    names = {role: f"{role}-{suffix}" for role in ("switchboard", "general", "health", "relationship")}
    for role, extra in _tomls(names, telegram_url).items():
        (root / names[role]).mkdir(parents=True)
        toml = f'[butler]\nname = "{names[role]}"\nport = {free_port()}\n\n[butler.agent]\ntimeout_s = 60\n{extra}'
        (root / names[role] / "butler.toml").write_text(toml)
    return names


@dataclass
class DomainDaemon:
    supervisor: Supervisor
    names: dict[str, str]  # role -> butler name
    url: str  # the dashboard, ending in '/'
    telegram: TelegramBotAPI
    portal: anyio.from_thread.BlockingPortal  # an event loop of its own for the test's database calls
    messages: SeededMessages | None = None
    notifications: SeededNotifications | None = None
    contacts: SeededContacts | None = None
    health: SeededHealth | None = None

    def fetch(self, role: str, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows of one statement on a butler's database, on a connection of the test's own."""

        async def run() -> list[dict[str, Any]]:
            butler = self.supervisor.butlers[self.names[role]]
            conn = await asyncpg.connect(**butler.address.connect_kwargs(), database=butler.database)
            try:
                return [dict(r) for r in await conn.fetch(sql, *args)]
            finally:
                await conn.close()

        return self.portal.call(run)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """The daemon reads the model credential and the bot token from os.environ: set them for the block."""
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


async def _seed(daemon: DomainDaemon, address: ServerAddress) -> None:
    async def pool(role: str) -> asyncpg.Pool:
        return await create_pool(address, daemon.supervisor.butlers[daemon.names[role]].database)

    pools = {role: await pool(role) for role in ("switchboard", "health", "relationship")}
    try:
        targets = {role: pools[role] for role in ("health", "relationship")}
        daemon.messages = await seed_messages(pools["switchboard"], daemon.names, targets)
        daemon.notifications = await seed_notifications(pools["switchboard"], failed_recipient=str(OWNER_CHAT))
        daemon.contacts = await seed_contacts(pools["relationship"], datetime.now(UTC).date())
        daemon.health = await seed_health(pools["health"])
    finally:
        for p in pools.values():
            await p.close()


@contextmanager
def domain_daemon(base: Path, pg: ServerAddress, *, seed: bool = True) -> Iterator[DomainDaemon]:
    """The fleet above serving, its dashboard ready, and (with `seed`) its databases seeded."""
    telegram = TelegramBotAPI(BOT_TOKEN)
    with anyio.from_thread.start_blocking_portal() as portal, ExitStack() as stack:
        telegram_url = stack.enter_context(portal.wrap_async_context_manager(serve_asgi(telegram.app)))
        model = stack.enter_context(portal.wrap_async_context_manager(ModelApiStandIn()))
        names = write_fleet(base / "butlers.d", telegram_url)
        port = free_port()
        settings = Settings(dir=base / "butlers.d", data_dir=base / "data", postgres_host=pg.host,
                            postgres_port=pg.port, postgres_user=pg.user, postgres_password=pg.password,
                            drain_timeout_s=5, dashboard_enabled=True, dashboard_port=port)  # fmt: skip
        env = {**model.env(), "CLAUDE_CODE_MAX_RETRIES": "0", TOKEN_ENV: BOT_TOKEN}
        with environment(env), serve_in_thread(settings) as supervisor:
            assert len(supervisor.serving) == len(names), supervisor.failures
            dashboard = supervisor.dashboard
            assert dashboard is not None
            wait_until(lambda: dashboard.ready.is_set() or dashboard.error is not None, READY_TIMEOUT_S)
            assert dashboard.error is None, dashboard.error
            daemon = DomainDaemon(supervisor, names, f"http://127.0.0.1:{port}/", telegram, portal)
            if seed:
                portal.call(_seed, daemon, pg)
            yield daemon
