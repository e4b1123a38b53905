"""Schedules due while the database is down follow their catch-up policy, exactly once, when it returns.

The daemon (an in-process supervisor) reaches the suite's PostgreSQL through a proxy that
stalls every connection (the database is down for the daemon) across the schedules' due
time, then lets them flow again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from fastmcp import Client

from butlers.config import discover
from butlers.db import ServerAddress, database_name
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres
from butlers.testing.stalling_proxy import StallingProxy

POLICIES = ("coalesce", "all")


def next_boundary(lead_s: float) -> datetime:
    """The first whole minute at least `lead_s` from now (a cron window of '* * * * *')."""
    soon = datetime.now(UTC) + timedelta(seconds=lead_s)
    return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)


def config(name: str, port: int, due: datetime) -> str:
    schedules = "".join(
        f'[[butler.schedule]]\nname = "every-minute-{p}"\ncron = "* * * * *"\nmisfire = "{p}"\n'
        f'tool = "notes_add"\nargs = {{ title = "{p}", body = "tick" }}\n\n'
        for p in POLICIES
    )
    once = (
        f'[[butler.schedule]]\nname = "once"\nat = {(due + timedelta(seconds=2)).isoformat()}\n'
        'tool = "notes_add"\nargs = { title = "once", body = "tick" }\n'
    )
    return f'[butler]\nname = "{name}"\nport = {port}\n\n{schedules}{once}\n[modules.notes]\n'


async def database_state(client: Client[Any]) -> str | None:
    status = (await client.call_tool("status", {})).structured_content
    assert status is not None
    return status["database"].get("state", "up" if status["database"]["ok"] else None)


async def wait_until(when: datetime) -> None:
    await anyio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))  # a wall-clock time is the condition


async def runs(conn: asyncpg.Connection) -> list[tuple[str, datetime]]:
    rows = await conn.fetch(
        "SELECT schedule_name, scheduled_for FROM schedule_runs WHERE tool_status = 'succeeded' ORDER BY 1, 2"
    )
    return [(r["schedule_name"], r["scheduled_for"]) for r in rows]


async def test_schedules_missed_while_the_database_was_down_run_once_when_it_returns(
    tmp_path: Path, pg: TestPostgres, pg_address: ServerAddress
) -> None:
    name = f"outage{uuid.uuid4().hex[:8]}"
    port = free_port()
    due = next_boundary(lead_s=30)  # time to start the daemon before the stall
    root = tmp_path / "butlers.d"
    (root / name).mkdir(parents=True)
    (root / name / "butler.toml").write_text(config(name, port, due))
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
            conn = await asyncpg.connect(pg_address.dsn(database_name(name)))
            try:
                async with Client(f"http://127.0.0.1:{port}/mcp", timeout=20) as client:
                    assert datetime.now(UTC) < due - timedelta(seconds=5), "the daemon started too slowly"
                    await wait_until(due - timedelta(seconds=5))
                    before = await runs(conn)
                    proxy.stall()
                    with anyio.fail_after(10):
                        while await database_state(client) != "down":  # noqa: ASYNC110 - polling a server's state, bounded
                            await anyio.sleep(0.1)
                    await wait_until(due + timedelta(seconds=5))  # every schedule's due time passed while down
                    assert await runs(conn) == before  # nothing could run meanwhile
                    proxy.resume()
                    once = due + timedelta(seconds=2)
                    expected = sorted(
                        [*before, ("every-minute-all", due), ("every-minute-coalesce", due), ("once", once)]
                    )
                    with anyio.fail_after(120):
                        while (got := [r for r in await runs(conn) if r[1] <= once]) != expected:
                            assert len(got) <= len(expected), got  # never twice
                            await anyio.sleep(0.2)
                    assert await database_state(client) == "up"
                    # The one-shot's tool ran once (the others go on firing every minute).
                    assert await conn.fetchval("SELECT count(*) FROM notes WHERE title = 'once'") == 1
            finally:
                await conn.close()
            supervisor.request_stop()
            with anyio.fail_after(30):
                await supervisor.stopped.wait()
        pg.drop_database(database_name(name))
