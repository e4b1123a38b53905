"""Core migrations apply on a fresh database and are idempotent."""

from __future__ import annotations

import uuid

import anyio

from butlers.db import ServerAddress, ensure_database
from butlers.migrate import apply_migrations, apply_migrations_sync, core_migrations_dir, migration_ids
from butlers.testing.postgres import TestPostgres


async def test_core_migrations_apply_once_then_nothing(pg_address: ServerAddress, empty_database: str) -> None:
    first = await apply_migrations(pg_address, empty_database, core_migrations_dir())
    assert "0001_state" in first and "0002_schedules" in first
    second = await apply_migrations(pg_address, empty_database, core_migrations_dir())
    assert second == []


async def test_pending_is_what_yoyo_has_not_applied(pg_address: ServerAddress, empty_database: str) -> None:
    from butlers.migrate import migration_ids, pending_migrations

    folder = core_migrations_dir()
    assert await pending_migrations(pg_address, empty_database, folder, "core") == migration_ids(folder)
    await apply_migrations(pg_address, empty_database, folder)
    assert await pending_migrations(pg_address, empty_database, folder, "core") == set()


async def test_a_butler_pool_asks_what_is_pending_and_applies_through_yoyo(
    pg_address: ServerAddress, empty_database: str
) -> None:
    from butlers.db import create_pool
    from butlers.migrate import pending_migrations

    folder = core_migrations_dir()
    pool = await create_pool(pg_address, empty_database, max_size=2)  # opened before any migration, as at start
    try:
        assert await pending_migrations(pg_address, empty_database, folder, "core", pool) == migration_ids(folder)
        assert "0001_state" in await apply_migrations(pg_address, empty_database, folder, "core", pool)
        assert await pending_migrations(pg_address, empty_database, folder, "core", pool) == set()
        assert await apply_migrations(pg_address, empty_database, folder, "core", pool) == []
        assert await pool.fetchval("SELECT count(*) FROM state") == 0  # the pool sees the migrated tables
    finally:
        await pool.close()


async def test_creating_a_database_another_process_creates_at_the_same_time_counts_as_existing(
    pg: TestPostgres, pg_address: ServerAddress
) -> None:
    # Two daemons starting at once both find no database and both CREATE it: the loser's error
    # (duplicate database, or a unique violation on pg_database's name index) means "it exists".
    name = f"test_race_{uuid.uuid4().hex[:12]}"
    created: list[bool] = []

    async def create() -> None:
        created.append(await ensure_database(pg_address, name))

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(create)
        assert sorted(created) == [False] * 5 + [True]
    finally:
        pg.drop_database(name)


async def test_migrations_of_one_database_run_at_once_apply_each_migration_once(
    pg_address: ServerAddress, empty_database: str
) -> None:
    # yoyo's lock row: the first migrator applies, the others wait for it, then find nothing to do.
    applied: list[list[str]] = []
    folder = core_migrations_dir()

    async def migrate() -> None:
        applied.append(
            await anyio.to_thread.run_sync(apply_migrations_sync, pg_address, empty_database, folder, "core")
        )

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(migrate)
    assert sorted(len(ids) for ids in applied) == [0, 0, len(migration_ids(folder))]
