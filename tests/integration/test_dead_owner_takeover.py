"""Approvals and inbound messages belong to a daemon: only a dead owner's are taken over, once.

Real `butlerd serve` processes on the suite's real PostgreSQL server serve one butler
with the email module, whose SMTP and IMAP server is a TCP port that accepts and never
answers: an approved `email_send` stays executing for as long as the test needs.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import asyncpg
import test_daemon
from test_daemon import Daemon, call, wait_answering

from butlers.db import ServerAddress, database_name
from butlers.testing.model_api import ModelApiStandIn
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres

daemons = test_daemon.daemons


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says a word (a stuck mail server)."""

    async def hold(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hold)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


def email_butler(root: Path, name: str, port: int, mail_port: int) -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "butler.toml").write_text(
        f'[butler]\nname = "{name}"\nport = {port}\n\n[modules.email]\nprovider = "custom"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {mail_port}\nsmtp_host = "127.0.0.1"\nsmtp_port = {mail_port}\n'
        'security = "none"\ntimeout_s = 600\nrequire_approval = ["email_send"]\n'
    )
    return root


async def poll(conn: asyncpg.Connection, query: str, *args: Any, until: Any, within: float) -> asyncpg.Record:
    with anyio.fail_after(within):
        while not until(row := await conn.fetchrow(query, *args)):  # noqa: ASYNC110 - a server's state, bounded
            await anyio.sleep(0.1)
    assert row is not None
    return row


async def instance_of(conn: asyncpg.Connection, daemon: Daemon) -> uuid.UUID:
    row = await poll(conn, "SELECT id FROM daemon_instances WHERE pid = $1", daemon.proc.pid, until=bool, within=30)
    return uuid.UUID(str(row["id"]))


async def full_beat(conn: asyncpg.Connection, live: list[Daemon]) -> None:
    """Wait until each live daemon has run a whole liveness check (beat, reap, takeovers) from now."""
    for _ in range(2):  # the second beat starts after the first one's reap and takeovers ended
        since = await conn.fetchval("SELECT now()")
        for daemon in live:
            await poll(conn, "SELECT heartbeat_at > $2 AS beat FROM daemon_instances WHERE pid = $1",
                       daemon.proc.pid, since, until=lambda r: r and r["beat"], within=30)  # fmt: skip


async def test_a_live_daemons_work_is_untouched_and_a_dead_ones_taken_over_once(
    tmp_path: Path, pg: TestPostgres, pg_address: ServerAddress, daemons: list[Daemon]
) -> None:
    name = f"owned{uuid.uuid4().hex[:8]}"
    token = secrets.token_urlsafe(24)
    ports = {"a": free_port(), "b": free_port(), "c": free_port()}
    async with ModelApiStandIn() as api, silent_server() as mail_port, anyio.create_task_group() as tg:
        env = {
            "POSTGRES_HOST": pg_address.host,
            "POSTGRES_PORT": str(pg_address.port),
            "POSTGRES_USER": pg_address.user,
            "POSTGRES_PASSWORD": pg_address.password,
            "BUTLERS_TOKEN": token,
            "SOURCE_EMAIL": "butler@example.org",
            "SOURCE_EMAIL_PASSWORD": "secret",
            **api.env(),
        }

        def start(port: str, label: str) -> Daemon:
            root = email_butler(tmp_path / label / "butlers.d", name, ports[port], mail_port)
            daemon = Daemon(root, tmp_path / label / "data", tmp_path / f"{label}.log", env)
            daemons.append(daemon)
            return daemon

        first = start("a", "a")
        await wait_answering(ports["a"], first)
        conn = await asyncpg.connect(pg_address.dsn(database_name(name)))
        try:
            held = await call(ports["a"], "email_send", token=token, to=["ann@example.org"], subject="Hi", body="x")
            approval_id = uuid.UUID(held["approval_id"])

            async def approve() -> None:
                with contextlib.suppress(Exception):  # the daemon running it is killed below
                    await call(ports["a"], "approval_approve", token=token, approval_id=str(approval_id))

            tg.start_soon(approve)
            first_id = await instance_of(conn, first)
            executing = await poll(conn, "SELECT status, owner, error FROM approvals WHERE id = $1", approval_id,
                                   until=lambda r: r["status"] == "running", within=30)  # fmt: skip
            assert executing["owner"] == first_id

            # Another daemon starts, stops, and starts again: the first one's action is left running.
            second = start("b", "b1")
            await wait_answering(ports["b"], second)
            assert second.stop() == 0
            restarted, third = start("b", "b2"), start("c", "c")
            await wait_answering(ports["b"], restarted)
            await wait_answering(ports["c"], third)
            # A message the first daemon stored and had not handed off yet.
            inbound_id = await conn.fetchval(
                """INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, owner)
                   VALUES ('email', $1, 'bob@example.org', 'hello', $2, $3) RETURNING id""",
                f"<{uuid.uuid4()}@example.org>",
                datetime.now(UTC),
                first_id,
            )
            await full_beat(conn, [restarted, third])
            assert await conn.fetchrow("SELECT status, owner, error FROM approvals WHERE id = $1", approval_id) == (
                executing
            )
            assert await conn.fetchval("SELECT status FROM inbound_messages WHERE id = $1", inbound_id) == "received"

            first.proc.kill()  # kill -9: the live daemons' next liveness check finds its owner gone
            first.proc.wait()
            failed = await poll(conn, "SELECT status, error FROM approvals WHERE id = $1", approval_id,
                                until=lambda r: r["status"] != "running", within=30)  # fmt: skip
            assert failed["status"] == "failed"
            assert "stopped" in failed["error"] and "may or may not have happened" in failed["error"]
            handed = await poll(conn, "SELECT status, session_id FROM inbound_messages WHERE id = $1", inbound_id,
                                until=lambda r: r["status"] != "received", within=30)  # fmt: skip
            assert handed["session_id"] is not None
            await full_beat(conn, [restarted, third])
            sessions = await conn.fetchval(
                "SELECT count(*) FROM sessions WHERE idempotency_key = $1", f"inbound:{inbound_id}"
            )
            assert sessions == 1
            for daemon in (restarted, third):
                assert daemon.stop() == 0
            # Exactly one of the two live daemons took the message over, and did so once.
            logs = restarted.log.read_text() + third.log.read_text()
            assert logs.count('"inbound.taken_over"') == 1, logs[-3000:]
        finally:
            tg.cancel_scope.cancel()
            await conn.close()
            pg.drop_database(database_name(name))
