"""Daemon instances: sessions belong to the daemon that runs them.

Each `butlerd` process has one identity (`this_instance`) and keeps a row in
every butler database it serves (`daemon_instances`), refreshed every few
seconds. A claimed session records its owner. At start and periodically a
butler looks for dead owners — on this host, a pid that is not that process
any more (known at once); elsewhere, a heartbeat older than the bound — and
marks only their running sessions `interrupted` (an owner with no row at all
counts as gone too). Two daemons on one database
therefore never interrupt each other's live sessions. The UPDATE that marks a
dead owner's sessions (and deletes its row) runs once, whichever daemon gets
there first: its queued work is taken over once, by the shared queue.
"""

from __future__ import annotations

import functools
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import psutil
import structlog

log = structlog.get_logger(__name__)

BEAT_INTERVAL_S = 5.0
DEAD_AFTER_S = 30.0  # no heartbeat for this long: a daemon on another host counts as gone


def owner_gone(column: str, me: str = "$1") -> str:
    """SQL: the daemon in `column` is not `me` and has no liveness row (gone, reaped, or none recorded)."""
    return (
        f"({column} IS DISTINCT FROM {me}::uuid AND ({column} IS NULL OR NOT EXISTS "
        f"(SELECT 1 FROM daemon_instances d WHERE d.id = {column})))"
    )


@dataclass(frozen=True)
class Instance:
    id: uuid.UUID
    hostname: str
    pid: int
    process_started_at: float


@functools.cache
def this_instance() -> Instance:
    """The identity of this daemon process (one per process, new at every start)."""
    pid = os.getpid()
    return Instance(uuid.uuid4(), socket.gethostname(), pid, psutil.Process(pid).create_time())


def process_alive(pid: int, started_at: float) -> bool:
    """Whether `pid` is still the process that started at `started_at` (not a reused pid)."""
    try:
        return abs(psutil.Process(pid).create_time() - started_at) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class InstanceRegistry:
    """This daemon's liveness row in one butler's database, and the reaping of dead owners."""

    def __init__(self, pool: asyncpg.Pool, butler: str, instance: Instance | None = None) -> None:
        self.pool = pool
        self.butler = butler
        self.me = instance or this_instance()
        # Other work a dead owner leaves (approvals, inbound messages): each is called after every
        # reap, once the dead owners' rows are gone, and takes over what it finds, once.
        self.takeovers: list[Callable[[], Awaitable[int]]] = []
        self._beat_at = -BEAT_INTERVAL_S  # monotonic time of the last register (none yet)

    def next_beat_in(self) -> float:
        """Seconds until the next liveness beat is due (0 when it is): a beat right after another is waste."""
        return max(0.0, self._beat_at + BEAT_INTERVAL_S - time.monotonic())

    async def register(self) -> None:
        """Write (or refresh) this daemon's row."""
        self._beat_at = time.monotonic()  # an attempt counts: a database that is away is not asked in a loop
        await self.pool.execute(
            """INSERT INTO daemon_instances (id, hostname, pid, process_started_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()""",
            self.me.id,
            self.me.hostname,
            self.me.pid,
            self.me.process_started_at,
        )

    async def deregister(self) -> None:
        await self.pool.execute("DELETE FROM daemon_instances WHERE id = $1", self.me.id)

    async def dead_owners(self) -> list[uuid.UUID]:
        rows = await self.pool.fetch(
            """SELECT id, hostname, pid, process_started_at,
                      heartbeat_at < now() - make_interval(secs => $2) AS silent
               FROM daemon_instances WHERE id <> $1""",
            self.me.id,
            DEAD_AFTER_S,
        )
        dead = []
        for r in rows:
            here = r["hostname"] == self.me.hostname
            if (here and not process_alive(r["pid"], r["process_started_at"])) or (not here and r["silent"]):
                dead.append(r["id"])
        return dead

    async def reap(self, found: str = "found by a later check") -> int:
        """Mark the running sessions of dead owners (and of no owner) `interrupted`; forget the dead."""
        dead = await self.dead_owners()
        # Sent as text[]: asyncpg knows no uuid[] codec, and would look the type up on every new
        # connection (three more statements, all inside this one's command timeout, at each start).
        dead_ids = [str(d) for d in dead]
        async with self.pool.acquire() as conn, conn.transaction():
            result = await conn.execute(
                """UPDATE sessions SET status = 'interrupted', finished_at = now(),
                       error = 'interrupted: the daemon running this session stopped (' || $2 || ')',
                       duration_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::integer
                   WHERE status = 'running' AND owner IS DISTINCT FROM $3
                     AND (owner IS NULL OR owner = ANY($1::text[]::uuid[])
                          OR NOT EXISTS (SELECT 1 FROM daemon_instances d WHERE d.id = sessions.owner))""",
                dead_ids,
                found,
                self.me.id,
            )
            await conn.execute("DELETE FROM daemon_instances WHERE id = ANY($1::text[]::uuid[])", dead_ids)
        count = int(result.split()[-1])
        if count:
            log.warning(
                "sessions.interrupted_dead_owner", butler=self.butler, count=count, owners=[str(d) for d in dead]
            )
        for take_over in self.takeovers:
            count += await take_over()
        return count
