"""Cross-daemon cancel: a cancel answered by one daemon ends a session another daemon runs.

Two daemons on one database share the session queue, so `session_cancel` may be
answered by a daemon that is not running the session. That daemon records the
request in `session_cancels` (the truth) and announces it with NOTIFY on
`CANCEL_CHANNEL` in the same transaction. The owner listens on that channel
(its queue listener) and stops the session at once; a notification it missed
(listener reconnecting) is found by its periodic liveness check
(`requested_for`). The answering daemon waits on the row until it is finished.
"""

from __future__ import annotations

import uuid

import anyio
import asyncpg

from butlers.statuses import FINISHED_SESSION as FINISHED

CANCEL_CHANNEL = "butlers_session_cancel"
WAIT_POLL_S = 0.05  # how often the answering daemon looks at the row while the owner stops it


class CancelRequests:
    """One butler's `session_cancels` table: requests to stop a session another daemon runs."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def request(self, session_id: uuid.UUID) -> bool:
        """Ask the owner of a running session to cancel it; False when it is not running."""
        async with self.pool.acquire() as conn, conn.transaction():
            recorded = await conn.fetchval(
                """INSERT INTO session_cancels (session_id)
                   SELECT id FROM sessions WHERE id = $1 AND status = 'running'
                   ON CONFLICT (session_id) DO UPDATE SET requested_at = now()
                   RETURNING true""",
                session_id,
            )
            if recorded:  # delivered at commit: the owner never wakes before the row is visible
                await conn.execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, str(session_id))
        return bool(recorded)

    async def requested_for(self, owner: uuid.UUID) -> list[uuid.UUID]:
        """Sessions `owner` runs that someone asked to cancel (and forget requests of finished ones)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """DELETE FROM session_cancels c USING sessions s
                   WHERE s.id = c.session_id AND s.status <> 'running'"""
            )
            rows = await conn.fetch(
                """SELECT c.session_id FROM session_cancels c JOIN sessions s ON s.id = c.session_id
                   WHERE s.status = 'running' AND s.owner = $1""",
                owner,
            )
        return [r["session_id"] for r in rows]

    async def wait_finished(self, session_id: uuid.UUID, within_s: float) -> None:
        """Return once the session is finished, or after `within_s` (the caller reads the record)."""
        with anyio.move_on_after(within_s):
            while True:
                status = await self.pool.fetchval("SELECT status FROM sessions WHERE id = $1", session_id)
                if status is None or status in FINISHED:
                    return
                await anyio.sleep(WAIT_POLL_S)


def session_id_of(payload: str) -> uuid.UUID | None:
    """The session id a cancel notification names (None for anything else on the channel)."""
    try:
        return uuid.UUID(payload)
    except ValueError:
        return None
