"""Two daemons on one database: restarting one never interrupts the other's live sessions.

Two real `butlerd serve` processes serve the same butler (same database) on the
suite's real PostgreSQL server, reached through POSTGRES_* like any external server.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import test_daemon
from test_daemon import Daemon, call, wait_answering

from butlers.db import ServerAddress, database_name
from butlers.testing.model_api import Hang, ModelApiStandIn
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres

# Fixtures shared with test_daemon (pytest finds them by these names).
daemons = test_daemon.daemons


def butler_folder(root: Path, name: str, port: int) -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {port}\n')
    return root


async def session(conn: asyncpg.Connection, session_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT status, owner, error FROM sessions WHERE id = $1", uuid.UUID(session_id))
    assert row is not None
    return dict(row)


async def wait_session(conn: asyncpg.Connection, session_id: str, status: str, within: float) -> dict[str, Any]:
    with anyio.fail_after(within):
        while (row := await session(conn, session_id))["status"] != status:  # noqa: ASYNC110 - polling a server's state, bounded
            await anyio.sleep(0.1)
    return row


async def test_restarting_one_daemon_leaves_the_other_daemons_session_running(
    tmp_path: Path, pg: TestPostgres, pg_address: ServerAddress, daemons: list[Daemon]
) -> None:
    name = f"twin{uuid.uuid4().hex[:8]}"
    ports = {"a": free_port(), "b": free_port()}
    async with ModelApiStandIn([Hang()]) as api:
        env = {
            "POSTGRES_HOST": pg_address.host,
            "POSTGRES_PORT": str(pg_address.port),
            "POSTGRES_USER": pg_address.user,
            "POSTGRES_PASSWORD": pg_address.password,
            "ANTHROPIC_API_KEY": "sk-test",
            "ANTHROPIC_BASE_URL": api.base_url,
            "CLAUDE_CODE_MAX_RETRIES": "0",
        }

        def start(which: str, label: str) -> Daemon:
            root = butler_folder(tmp_path / label / "butlers.d", name, ports[which])
            daemon = Daemon(root, tmp_path / label / "data", tmp_path / f"{label}.log", env)
            daemons.append(daemon)
            return daemon

        first = start("a", "a")
        await wait_answering(ports["a"], first)
        conn = await asyncpg.connect(pg_address.dsn(database_name(name)))
        try:
            # Claimed by the first daemon before the second exists, so the session is surely its.
            queued = await call(ports["a"], "trigger", prompt="a long job")
            await api.wait_hanging(within_s=60)
            live = await wait_session(conn, queued["session_id"], "running", within=10)
            assert live["owner"] is not None

            second = start("b", "b1")
            await wait_answering(ports["b"], second)
            assert await session(conn, queued["session_id"]) == live  # the other's start left it alone
            assert second.stop() == 0
            assert await session(conn, queued["session_id"]) == live  # and so did its stop
            restarted = start("b", "b2")
            await wait_answering(ports["b"], restarted)
            assert await session(conn, queued["session_id"]) == live

            first.proc.kill()  # the owner dies: the survivor takes over (same host: noticed at its next beat)
            first.proc.wait()
            gone = await wait_session(conn, queued["session_id"], "interrupted", within=20)
            assert "daemon running this session stopped" in gone["error"]
            assert restarted.stop() == 0
        finally:
            await conn.close()
            pg.drop_database(database_name(name))


def ready_line(daemon: Daemon) -> dict[str, Any] | None:
    """The daemon's `supervisor.ready` log record, once it wrote it."""
    for line in daemon.log.read_text().splitlines():
        if '"supervisor.ready"' in line:
            return dict(json.loads(line))
    return None


async def wait_ready(daemon: Daemon, within: float = 180) -> dict[str, Any]:
    with anyio.fail_after(within):
        while (ready := ready_line(daemon)) is None:
            assert daemon.proc.poll() is None, daemon.log.read_text()[-4000:]
            await anyio.sleep(0.1)
    return ready


async def test_two_daemons_starting_at_once_on_fresh_databases_both_serve(
    tmp_path: Path, pg: TestPostgres, pg_address: ServerAddress, daemons: list[Daemon]
) -> None:
    # Same butlers (so the same databases, none existing yet), two daemons started together: both
    # race CREATE DATABASE, yoyo's migrations and the schedule sync for every butler.
    names = [f"race{uuid.uuid4().hex[:8]}" for _ in range(3)]
    env = {
        "POSTGRES_HOST": pg_address.host,
        "POSTGRES_PORT": str(pg_address.port),
        "POSTGRES_USER": pg_address.user,
        "POSTGRES_PASSWORD": pg_address.password,
    }
    ports: dict[str, dict[str, int]] = {}
    for label in ("a", "b"):
        root = tmp_path / label / "butlers.d"
        ports[label] = {name: free_port() for name in names}
        for name, port in ports[label].items():
            (root / name).mkdir(parents=True)
            (root / name / "butler.toml").write_text(
                f'[butler]\nname = "{name}"\nport = {port}\n\n[modules.notes]\n\n'
                '[[butler.schedule]]\nname = "daily"\ncron = "0 8 * * *"\nprompt = "Good morning"\n'
            )
    try:
        pair = [Daemon(tmp_path / x / "butlers.d", tmp_path / x / "data", tmp_path / f"{x}.log", env) for x in "ab"]
        daemons.extend(pair)
        for daemon in pair:
            ready = await wait_ready(daemon)
            assert ready["failed"] == [], daemon.log.read_text()[-4000:]
            assert sorted(ready["serving"]) == sorted(names)
        for label, daemon in zip("ab", pair, strict=True):
            for port in ports[label].values():
                await wait_answering(port, daemon)
        for daemon in pair:
            assert daemon.stop() == 0
    finally:
        for daemon in daemons:  # stopped before their databases go
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
        for name in names:
            pg.drop_database(database_name(name))
