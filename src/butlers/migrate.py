"""Schema migrations with yoyo: the core ones and each module's own.

Core SQL lives in the top-level `migrations/` folder (shipped inside the
package as `butlers/migrations` when installed); a module keeps its own folder.
Each set is tracked in its own yoyo table, so module migrations never collide
with core's or with another module's. Applying is idempotent.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from yoyo import read_migrations
from yoyo.connections import get_backend_class, parse_uri
from yoyo.exceptions import LockTimeout

from butlers.compat import own_yoyo_tables
from butlers.db import ServerAddress
from butlers.errors import MigrationError


def core_migrations_dir() -> Path:
    """The core SQL migrations: the repo's `migrations/`, or the copy in the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "migrations", here.parent.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    raise MigrationError(f"core migrations folder not found next to {here}")


def tracking_table(owner: str) -> str:
    """yoyo's table recording which migrations of `owner` ('core' or a module) ran."""
    return "_yoyo_migration" if owner == "core" else f"_yoyo_migration_{owner}"


def _backend(uri: str, owner: str) -> Any:
    """A yoyo backend whose bookkeeping tables (migrations, log, version) belong to `owner` alone.

    yoyo names only the migration table per call; its log and version tables
    would be shared and its internal schema check would then fail for the
    second owner, so every owner gets all three of its own. The lock is shared.
    """
    backend = _backend_class(parse_uri(uri).scheme)(parse_uri(uri), tracking_table(owner))
    if owner != "core":
        own_yoyo_tables(backend, owner)
    backend.init_database()
    return backend


@functools.lru_cache(maxsize=8)
def _backend_class(scheme: str) -> Any:
    # yoyo finds the class through entry points, scanning every installed distribution:
    # once per daemon, not once per butler and owner (a 50-butler first start did it 50+ times).
    return get_backend_class(scheme)


def _yoyo_uri(address: ServerAddress, database: str) -> str:
    # yoyo's `postgresql` scheme is its psycopg2 backend and takes the same URI.
    return address.dsn(database)


#: How long a daemon waits for another one migrating the same database (two daemons starting at
#: once): yoyo's default of 10 s is shorter than a fresh database's migrations on a busy machine.
LOCK_TIMEOUT_S = 120


def apply_migrations_sync(address: ServerAddress, database: str, folder: Path, owner: str) -> list[str]:
    """Apply every pending migration of `folder`; return the ids applied now."""
    if not folder.is_dir():
        raise MigrationError(f"migrations of {owner}: folder {folder} does not exist")
    backend = _backend(_yoyo_uri(address, database), owner)
    try:
        migrations = read_migrations(str(folder))
        try:
            # yoyo's lock row: one migrator of a database at a time; a second daemon waits, then finds
            # nothing left to apply.
            with backend.lock(timeout=LOCK_TIMEOUT_S):
                pending = backend.to_apply(migrations)
                try:
                    backend.apply_migrations(pending)
                except Exception as exc:
                    raise MigrationError(
                        f"migrations of {owner} in {folder} failed on database {database}: {exc}"
                    ) from exc
        except LockTimeout as exc:
            raise MigrationError(
                f"migrations of {owner} on database {database}: another process held the migration lock "
                f"for over {LOCK_TIMEOUT_S} s ({exc})"
            ) from exc
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def migration_ids(folder: Path) -> set[str]:
    """The ids yoyo gives the migrations of `folder`: file names without extension, rollbacks aside."""
    return {p.stem for p in folder.iterdir() if p.suffix in (".sql", ".py") and not p.name.endswith(".rollback.sql")}


async def pending_migrations(
    address: ServerAddress, database: str, folder: Path, owner: str, pool: asyncpg.Pool | None = None
) -> set[str]:
    """Ids in `folder` that yoyo has not recorded as applied (all of them when it never ran).

    Asked through `pool` (a pool on `database`) when given: a connection of its own per butler and
    migration set was most of a butler's database work at start.
    """
    wanted = migration_ids(folder)
    query = f'SELECT migration_id FROM "{tracking_table(owner)}"'
    try:
        if pool is not None:
            applied = await pool.fetch(query)
        else:
            conn = await asyncpg.connect(database=database, **address.connect_kwargs())
            try:
                applied = await conn.fetch(query)
            finally:
                await conn.close()
    except asyncpg.UndefinedTableError:
        return wanted
    return wanted - {r["migration_id"] for r in applied}


async def apply_migrations(
    address: ServerAddress, database: str, folder: Path, owner: str = "core", pool: asyncpg.Pool | None = None
) -> list[str]:
    """Apply what is pending. An up-to-date database (the usual start) costs one query, not a yoyo run.

    yoyo is synchronous, so when there is work it runs in a worker thread, under its own lock.
    `pool` (on `database`), when given, asks the one query.
    """
    if folder.is_dir() and not await pending_migrations(address, database, folder, owner, pool):
        return []
    return await anyio.to_thread.run_sync(apply_migrations_sync, address, database, folder, owner)
