"""Core migrations apply on a fresh database and are idempotent."""

from __future__ import annotations

from butlers.db import ServerAddress
from butlers.migrate import apply_migrations, core_migrations_dir


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
