"""Start-time statements under a busy daemon: bounded by the server, and startup recovery in few round trips.

A 50-butler start on a loaded machine failed a butler when startup recovery
(`instances.reap`) passed asyncpg's client-side command timeout: that timer also
counts the time the event loop is busy starting the other butlers, and the reap
asked for more round trips than it needed (asyncpg looked `uuid[]` up in the
catalog on every new connection). The statement bound is now the server's
`statement_timeout`; the client's is only for a lost server.
"""

from __future__ import annotations

import os
import socket
import uuid

import asyncpg
import pytest
from asyncpg.connection import LoggedQuery

from butlers.core.instances import BEAT_INTERVAL_S, Instance, InstanceRegistry
from butlers.db import STATEMENT_TIMEOUT_S, ServerAddress, create_pool, open_database_pool
from butlers.errors import DatabaseError


async def test_a_statement_is_bounded_by_the_server(pg_address: ServerAddress, database: str) -> None:
    pool = await create_pool(pg_address, database, max_size=1)
    try:
        assert await pool.fetchval("SHOW statement_timeout") == f"{int(STATEMENT_TIMEOUT_S)}s"
        with pytest.raises(asyncpg.QueryCanceledError):  # the server's bound, not the client's
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL statement_timeout = 50")  # what the setting does, quickly
                await conn.execute("SELECT pg_sleep(5)")
    finally:
        await pool.close()


async def test_startup_recovery_forgets_a_dead_owner_without_looking_types_up(
    pg_address: ServerAddress, database: str
) -> None:
    pool = await create_pool(pg_address, database, max_size=1)  # one connection, new: nothing looked up yet
    try:
        dead = Instance(uuid.uuid4(), socket.gethostname(), os.getpid(), 0.0)  # this pid, another start time
        await pool.execute(
            "INSERT INTO daemon_instances (id, hostname, pid, process_started_at) VALUES ($1, $2, $3, $4)",
            dead.id,
            dead.hostname,
            dead.pid,
            dead.process_started_at,
        )
        sent: list[str] = []

        def record(query: LoggedQuery) -> None:
            sent.append(query.query)

        async with pool.acquire() as conn:  # the pool's one connection: the reap below runs on it
            conn.add_query_logger(record)
        registry = InstanceRegistry(pool, "alpha")
        await registry.reap("found running at startup")
        assert await pool.fetchval("SELECT count(*) FROM daemon_instances WHERE id = $1", dead.id) == 0
        assert sent, "the reap's statements were not seen"
        assert not [q for q in sent if "pg_type" in q], "a type was looked up in the catalog during the reap"
    finally:
        await pool.close()


async def test_the_first_liveness_beat_waits_after_startup_recovery(pool: asyncpg.Pool) -> None:
    registry = InstanceRegistry(pool, "alpha")
    assert registry.next_beat_in() == 0.0  # nothing registered yet: beat at once
    await registry.register()  # as startup recovery does, just before the spawner's beat loop starts
    assert 0.0 < registry.next_beat_in() <= BEAT_INTERVAL_S


async def test_a_butler_pool_makes_its_database_at_the_first_start_only(pg_address: ServerAddress) -> None:
    name = f"butler_first_{uuid.uuid4().hex[:8]}"
    try:
        for _ in ("first start: created", "later start: opened"):
            pool = await open_database_pool(pg_address, name, max_size=1)
            try:
                assert await pool.fetchval("SELECT current_database()") == name
            finally:
                await pool.close()
    finally:
        admin = await asyncpg.connect(database="postgres", **pg_address.connect_kwargs())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await admin.close()


async def test_a_pool_that_cannot_open_for_another_reason_says_so(pg_address: ServerAddress) -> None:
    wrong = ServerAddress(pg_address.host, pg_address.port, "no_such_role", pg_address.password)
    with pytest.raises(DatabaseError, match="cannot open a pool on database butler_x"):
        await open_database_pool(wrong, "butler_x", max_size=1)
