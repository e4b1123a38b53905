"""The `notifications` table: one row per message to deliver, and its way to sent or failed."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import asyncpg

from butlers.core.records import jsonable
from butlers.statuses import HeldReason, NotificationStatus

MAX_LIST = 500


# The delivery status (kept importable here under the module's own short name).
Status = NotificationStatus


@dataclass(frozen=True)
class Asked:
    """What was asked to be delivered, where: the part a new notification and a recorded one share."""

    origin: str
    channel: str
    recipient: str
    to_owner: bool
    message: str
    subject: str
    priority: str
    reply_to: uuid.UUID | None
    reply: dict[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class Notification(Asked):
    id: uuid.UUID
    status: str
    held_reason: str | None
    hold_until: datetime | None
    approval_id: uuid.UUID | None
    attempts: int
    channel_message_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return jsonable({"id": self.id, **asdict(self)})  # the id first, as in the table


@dataclass(frozen=True)
class NewNotification(Asked):
    status: Status
    held_reason: HeldReason | None = None
    hold_until: datetime | None = None


def _record(row: asyncpg.Record | None) -> Notification | None:
    return None if row is None else Notification(**dict(row))


class NotificationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def insert(self, n: NewNotification) -> Notification:
        row = await self.pool.fetchrow(
            """INSERT INTO notifications (origin, channel, recipient, to_owner, message, subject, priority,
                                          reply_to, reply, status, held_reason, hold_until)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *""",
            n.origin, n.channel, n.recipient, n.to_owner, n.message, n.subject, n.priority,
            n.reply_to, n.reply, n.status.value, n.held_reason.value if n.held_reason else None, n.hold_until,
        )  # fmt: skip
        record = _record(row)
        assert record is not None
        return record

    async def get(self, id: uuid.UUID) -> Notification | None:
        return _record(await self.pool.fetchrow("SELECT * FROM notifications WHERE id = $1", id))

    async def list_recent(self, status: Status | None = None, limit: int = 50) -> list[Notification]:
        await self.settle_rejected()
        rows = await self.pool.fetch(
            """SELECT * FROM notifications WHERE ($1::text IS NULL OR status = $1)
               ORDER BY created_at DESC, id DESC LIMIT $2""",
            status.value if status else None,
            limit,
        )
        return [Notification(**dict(r)) for r in rows]

    async def settle_rejected(self) -> None:
        """Held for an approval a person rejected -> failed: it will never be sent."""
        await self.pool.execute(
            """UPDATE notifications n SET status = 'failed', held_reason = NULL, updated_at = now(),
                      error = 'rejected' || COALESCE(': ' || a.reason, '')
                 FROM approvals a
                WHERE a.id = n.approval_id AND a.status = 'rejected' AND n.status = 'held'"""
        )

    async def set_approval(self, id: uuid.UUID, approval_id: uuid.UUID) -> None:
        await self.pool.execute("UPDATE notifications SET approval_id = $2 WHERE id = $1", id, approval_id)

    async def begin_attempt(self, id: uuid.UUID) -> Notification | None:
        """Count one more try of a pending notification; None when it is not pending."""
        return _record(
            await self.pool.fetchrow(
                """UPDATE notifications SET attempts = attempts + 1, updated_at = now()
                   WHERE id = $1 AND status = 'pending' RETURNING *""",
                id,
            )
        )

    async def mark_sent(self, id: uuid.UUID, channel_message_id: str) -> None:
        await self.pool.execute(
            """UPDATE notifications SET status = 'sent', channel_message_id = $2, sent_at = now(), error = NULL,
                      updated_at = now() WHERE id = $1 AND status = 'pending'""",
            id,
            channel_message_id,
        )

    async def note_error(self, id: uuid.UUID, error: str, *, final: bool) -> None:
        """Record a failed try: `final` marks it failed, else it stays pending for the next try."""
        await self.pool.execute(
            """UPDATE notifications SET error = $2, updated_at = now(),
                      status = CASE WHEN $3 THEN 'failed' ELSE status END
               WHERE id = $1 AND status = 'pending'""",
            id,
            error,
            final,
        )

    async def release(self, id: uuid.UUID, reason: HeldReason) -> bool:
        """held (for `reason`) -> pending; False when it was not held for that reason."""
        status = await self.pool.execute(
            """UPDATE notifications SET status = 'pending', held_reason = NULL, updated_at = now()
               WHERE id = $1 AND status = 'held' AND held_reason = $2""",
            id,
            reason.value,
        )
        return status.endswith(" 1")

    async def release_quiet(self, now: datetime) -> list[uuid.UUID]:
        """Every notification whose quiet hours ended by `now` -> pending; their ids, oldest first."""
        rows = await self.pool.fetch(
            """UPDATE notifications SET status = 'pending', held_reason = NULL, updated_at = now()
               WHERE status = 'held' AND held_reason = 'quiet_hours' AND hold_until <= $1
               RETURNING id, created_at""",
            now,
        )
        return [r["id"] for r in sorted(rows, key=lambda r: r["created_at"])]

    async def retry(self, id: uuid.UUID) -> bool:
        """failed -> pending; False when it is not failed."""
        status = await self.pool.execute(
            "UPDATE notifications SET status = 'pending', updated_at = now() WHERE id = $1 AND status = 'failed'", id
        )
        return status.endswith(" 1")

    async def recover_at_startup(self) -> list[uuid.UUID]:
        """After a restart: pending ones that were being sent -> failed (unknown outcome, retry by hand);
        the ids of pending ones never tried, to send now."""
        await self.pool.execute(
            """UPDATE notifications SET status = 'failed', updated_at = now(),
                      error = COALESCE(error || '; ', '') ||
                              'interrupted: the daemon stopped while sending; it may or may not have been delivered'
               WHERE status = 'pending' AND attempts > 0"""
        )
        rows = await self.pool.fetch(
            "SELECT id FROM notifications WHERE status = 'pending' AND attempts = 0 ORDER BY created_at"
        )
        return [r["id"] for r in rows]
