"""A connection going back to a butler's pool: no reset round trip, an open transaction still rolled back.

asyncpg's default reset sends `RESET ALL; UNLISTEN *; CLOSE ALL; ...` on every release, a round trip per
database call; the project keeps no session state on pool connections, so `db._keep_session` skips it.
"""

from __future__ import annotations

from butlers.db import ServerAddress, create_pool


async def test_a_released_connection_costs_no_reset_statement(pg_address: ServerAddress, database: str) -> None:
    pool = await create_pool(pg_address, database, max_size=1)
    try:
        sent: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda q: sent.append(q.query))
            await conn.fetchval("SELECT 1")
        async with pool.acquire() as conn:  # the same connection, after one release
            await conn.fetchval("SELECT 2")
        assert sent == ["SELECT 1", "SELECT 2"], sent
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(pg_address: ServerAddress, database: str) -> None:
    pool = await create_pool(pg_address, database, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TEMP TABLE IF NOT EXISTS scratch (x int)")
            await conn.execute("BEGIN")  # unmanaged: as if the task holding it had been cancelled mid-way
            await conn.execute("INSERT INTO scratch VALUES (1)")
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM scratch") == 0
    finally:
        await pool.close()


async def test_the_spawner_listener_leaves_no_listen_behind(pg_address: ServerAddress, database: str) -> None:
    pool = await create_pool(pg_address, database, max_size=1)
    try:

        def wake(*_: object) -> None:
            pass

        async with pool.acquire() as conn:  # as Spawner._listen does: unlisten before the release
            await conn.add_listener("butlers_session_queue", wake)
            await conn.remove_listener("butlers_session_queue", wake)
        async with pool.acquire() as conn:
            channels = await conn.fetch("SELECT pg_listening_channels() AS c")
            assert [r["c"] for r in channels] == []
    finally:
        await pool.close()
