"""The connection budget: every butler's pool sized to fit the server's `max_connections`.

One daemon opens one pool per butler on the same PostgreSQL server. The
server refuses connections past `max_connections - superuser_reserved_connections`,
so the pools are sized from those two settings, leaving headroom for what
is not a pool: each butler's provisioning and migrations at start (they run
concurrently), `butlerctl` and backups. When even the smallest useful pool
cannot fit, the daemon stops with an error naming the setting to raise.

The embedded server belongs to the daemon, so it raises `max_connections`
itself (ALTER SYSTEM, then a restart of the server) to what the fleet needs,
or to `BUTLERS_PG_MAX_CONNECTIONS` when that is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import structlog

from butlers.db import PostgresServer, ServerAddress
from butlers.errors import DatabaseError

#: Connections kept free for `butlerctl`, backups (pg_dump) and an operator's psql.
ADMIN_HEADROOM = 10
#: Connections each butler holds for a moment at start (ensure_database, yoyo migrations).
STARTUP_PER_BUTLER = 1
#: A pool smaller than this starves a butler (a session, a tool call and the scheduler at once).
MIN_POOL = 3
#: The pool a butler gets when there is room: more buys nothing for one owner's traffic.
MAX_POOL = 10
#: What the setting is called, for error messages.
SETTING = "BUTLERS_PG_MAX_CONNECTIONS"

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    """What the server allows: `SHOW max_connections` and `SHOW superuser_reserved_connections`."""

    max_connections: int
    superuser_reserved: int


@dataclass(frozen=True)
class PoolBudget:
    """The pool size every butler gets, and what it was worked out from."""

    butlers: int
    pool_max_size: int
    limits: ServerLimits


class ConnectionBudgetError(DatabaseError):
    """The pools of every butler cannot fit in the server's `max_connections`."""


def needed_connections(butlers: int, pool_size: int = MIN_POOL) -> int:
    """`max_connections` a server needs for `butlers` pools of `pool_size`, headroom and reserve included."""
    return butlers * (pool_size + STARTUP_PER_BUTLER) + ADMIN_HEADROOM + 3


def plan(butlers: int, limits: ServerLimits, *, embedded: bool) -> PoolBudget:
    """Size each butler's pool from the server's limits; raise ConnectionBudgetError when they cannot fit."""
    if butlers <= 0:
        return PoolBudget(0, MAX_POOL, limits)
    usable = limits.max_connections - limits.superuser_reserved - ADMIN_HEADROOM - butlers * STARTUP_PER_BUTLER
    size = min(MAX_POOL, usable // butlers) if usable > 0 else 0
    if size >= MIN_POOL:
        return PoolBudget(butlers, size, limits)
    need = needed_connections(butlers) - 3 + limits.superuser_reserved
    how = (
        f"set {SETTING}={need} (or more) for the embedded server"
        if embedded
        else f"raise max_connections to {need} (or more) in the server's postgresql.conf and restart it"
    )
    raise ConnectionBudgetError(
        f"{butlers} butlers need at least {need} PostgreSQL connections ({MIN_POOL} per pool, "
        f"{STARTUP_PER_BUTLER} per butler at start, {ADMIN_HEADROOM} for admin and backups, "
        f"{limits.superuser_reserved} superuser_reserved_connections), but max_connections is "
        f"{limits.max_connections}: {how}"
    )


async def read_limits(address: ServerAddress) -> ServerLimits:
    """`SHOW max_connections` and `SHOW superuser_reserved_connections` on the server."""
    conn = await _connect(address)
    try:
        return ServerLimits(
            max_connections=int(await conn.fetchval("SHOW max_connections")),
            superuser_reserved=int(await conn.fetchval("SHOW superuser_reserved_connections")),
        )
    finally:
        await conn.close()


async def set_max_connections(address: ServerAddress, value: int) -> None:
    """`ALTER SYSTEM SET max_connections` (kept in postgresql.auto.conf; applies at the next server start)."""
    conn = await _connect(address)
    try:
        await conn.execute(f"ALTER SYSTEM SET max_connections = {int(value)}")
    finally:
        await conn.close()


def embedded_target(butlers: int, configured: int | None) -> int:
    """The `max_connections` the daemon gives its embedded server: the setting, else what fits full pools."""
    if configured is not None:
        return configured
    return max(100, needed_connections(butlers, MAX_POOL))


async def _connect(address: ServerAddress) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(database="postgres", **address.connect_kwargs())
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {address.host}:{address.port}: {exc} (check POSTGRES_*)"
        ) from exc


async def fit_pools(server: PostgresServer, butlers: int, configured: int | None) -> tuple[ServerAddress, PoolBudget]:
    """Bring the embedded server's `max_connections` to what the fleet needs, then size the pools.

    Returns the (possibly new, after a restart) address and the budget; raises
    ConnectionBudgetError when the pools cannot fit.
    """
    assert server.address is not None, "the server is started first"
    address = server.address
    limits = await read_limits(address)
    if server.embedded:
        target = embedded_target(butlers, configured)
        wrong = limits.max_connections != target if configured is not None else limits.max_connections < target
        if wrong:
            log.info("database.max_connections", was=limits.max_connections, now=target, butlers=butlers)
            await set_max_connections(address, target)
            await server.stop()  # max_connections only changes with a restart of the server
            address = await server.start()
            limits = await read_limits(address)
    budget = plan(butlers, limits, embedded=server.embedded)
    log.info("database.pool_budget", butlers=butlers, pool_max_size=budget.pool_max_size, **vars(limits))
    return address, budget
