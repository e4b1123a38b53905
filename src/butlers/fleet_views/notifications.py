"""Notifications of the delivering butler (the Notifications page): the notify module's own store, read as is.

`NotificationStore.list_recent` is what `notify_list` (and so `butlerctl notifications list`)
shows; it also settles notifications whose approval a person rejected, so the page and
the CLI agree on every status.
"""

from __future__ import annotations

import uuid

import asyncpg

from butlers.modules.notify.store import MAX_LIST, Notification, NotificationStore, Status

__all__ = ["MAX_LIST", "Notification", "Status", "get_notification", "list_notifications", "status_counts"]


async def list_notifications(
    pool: asyncpg.Pool, *, status: Status | None = None, limit: int = 50
) -> list[Notification]:
    """Newest first, optionally of one status (pending, sent, failed, held)."""
    if not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit must be between 1 and {MAX_LIST}")
    return await NotificationStore(pool).list_recent(status, limit)


async def get_notification(pool: asyncpg.Pool, notification_id: uuid.UUID) -> Notification | None:
    return await NotificationStore(pool).get(notification_id)


async def status_counts(pool: asyncpg.Pool) -> dict[Status, int]:
    """How many notifications are in each status (every status present, zero when none)."""
    rows = await pool.fetch("SELECT status, count(*) AS n FROM notifications GROUP BY status")
    found = {r["status"]: r["n"] for r in rows}
    return {s: found.get(s.value, 0) for s in Status}
