"""Cross-daemon cancel: a cancel answered by one daemon ends a session the other daemon runs.

Two real `butlerd serve` processes serve one butler (one database) on the suite's real
PostgreSQL server; the session runs the real Claude Code CLI against the model stand-in
(which holds the request open, so only a cancel can end it).
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

import anyio
import asyncpg
import psutil
import test_daemon
from test_daemon import Daemon, call, wait_answering
from test_two_daemons import butler_folder, wait_session

from butlers.db import ServerAddress, database_name
from butlers.testing.model_api import Hang, ModelApiStandIn
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres

daemons = test_daemon.daemons


def agent_processes(daemon: Daemon) -> list[psutil.Process]:
    """The Claude Code CLIs this daemon runs now (its direct children; the launcher execs the CLI)."""
    return [p for p in psutil.Process(daemon.proc.pid).children() if p.status() != psutil.STATUS_ZOMBIE]


async def wait_stopped(processes: list[psutil.Process], within: float) -> None:
    with anyio.fail_after(within):
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in processes):  # noqa: ASYNC110 - processes, bounded
            await anyio.sleep(0.05)


async def running_owner(conn: asyncpg.Connection, session_id: str, daemons: dict[str, Daemon]) -> str:
    """Which daemon ('a' or 'b') owns the running session, by its liveness row's pid."""
    await wait_session(conn, session_id, "running", within=30)
    pid = await conn.fetchval(
        "SELECT d.pid FROM sessions s JOIN daemon_instances d ON d.id = s.owner WHERE s.id = $1",
        uuid.UUID(session_id),
    )
    return next(label for label, d in daemons.items() if d.proc.pid == pid)


async def test_a_cancel_answered_by_one_daemon_stops_the_session_the_other_runs(
    tmp_path: Path, pg: TestPostgres, pg_address: ServerAddress, daemons: list[Daemon]
) -> None:
    name = f"cancel{uuid.uuid4().hex[:8]}"
    ports = {"a": free_port(), "b": free_port()}
    token = secrets.token_urlsafe(24)
    async with ModelApiStandIn([Hang()] * 4) as api:
        env = {
            "POSTGRES_HOST": pg_address.host,
            "POSTGRES_PORT": str(pg_address.port),
            "POSTGRES_USER": pg_address.user,
            "POSTGRES_PASSWORD": pg_address.password,
            "BUTLERS_TOKEN": token,
            "CLAUDE_CODE_MAX_RETRIES": "0",
            **api.env(),
        }
        running: dict[str, Daemon] = {}
        for label in ("a", "b"):  # one after the other: the first creates the database
            root = butler_folder(tmp_path / label / "butlers.d", name, ports[label])
            running[label] = Daemon(root, tmp_path / label / "data", tmp_path / f"{label}.log", env)
            daemons.append(running[label])
            await wait_answering(ports[label], running[label])
        conn = await asyncpg.connect(pg_address.dsn(database_name(name)))
        try:
            # The fast path: the owner hears the NOTIFY and kills its CLI at once.
            first = await call(ports["a"], "trigger", token=token, prompt="a long job")
            owner = await running_owner(conn, first["session_id"], running)
            other = "b" if owner == "a" else "a"
            await api.wait_hanging(within_s=60)
            agents = agent_processes(running[owner])
            assert agents, "the owner runs the session's CLI"
            answer = await call(ports[other], "session_cancel", token=token, session_id=first["session_id"])
            assert answer["status"] == "cancelled", answer
            assert answer["error"] == "cancelled while running; the agent was killed"
            await wait_stopped(agents, within=5)

            # The truth is the row: a request whose notification was missed is found by the owner's check.
            second = await call(ports[other], "trigger", token=token, prompt="another long job")
            owner = await running_owner(conn, second["session_id"], running)
            await conn.execute("INSERT INTO session_cancels (session_id) VALUES ($1)", uuid.UUID(second["session_id"]))
            done = await wait_session(conn, second["session_id"], "cancelled", within=20)
            assert done["error"] == "cancelled while running; the agent was killed"
            assert all(d.proc.poll() is None for d in running.values())
            for daemon in running.values():
                assert daemon.stop() == 0
        finally:
            await conn.close()
            pg.drop_database(database_name(name))
