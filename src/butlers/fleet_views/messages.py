"""Inbound messages of the switchboard with their routing decisions (what the Messages page shows).

Reads `inbound_messages` (core) and `routing_log` (the switchboard module's
migration) of the switchboard's database: a page of messages in one query, the
latest routing attempt of all of them in a second one (the routing log's unique
key (inbound_id, attempt, part) serves it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from butlers.core.inbound import InboundBase
from butlers.core.records import Timestamp
from butlers.statuses import InboundStatus
from butlers.switchboard.store import PartStatus, ReasonKind

MAX_LIST = 500
_PART_COLUMNS = (
    "inbound_id, attempt, part, parts, butler, part_text, reason_kind, reason, status, session_id, error, decided_at,"
    " queued_at, classify_cost_usd"
)


# The inbound vocabulary under the page's name: one enum, mirrored by the CHECK on inbound_messages.status.
MessageStatus = InboundStatus


@dataclass(frozen=True)
class RoutedPart:
    """One part of one routing decision: which butler got which text, why, and the session it became."""

    attempt: int
    part: int
    parts: int
    butler: str
    text: str
    reason_kind: ReasonKind
    reason: str
    status: PartStatus
    session_id: uuid.UUID | None
    error: str | None
    decided_at: Timestamp
    queued_at: Timestamp | None
    classify_cost_usd: float | None


class Message(InboundBase):
    """An inbound message with the parts of its latest routing attempt (all attempts on `message_detail`)."""

    received_at: Timestamp
    status: MessageStatus
    session_id: uuid.UUID | None
    dispatched_at: Timestamp | None
    finished_at: Timestamp | None
    error: str | None
    routing: tuple[RoutedPart, ...]

    @property
    def retryable(self) -> bool:
        """Only a failed message is dispatched again (`inbound_retry`)."""
        return self.status is MessageStatus.FAILED

    @property
    def reroutable(self) -> bool:
        """`reroute` takes any message already handed off (not one still `received`)."""
        return self.status is not MessageStatus.RECEIVED


_MESSAGE_FIELDS = tuple(name for name in Message.model_fields if name != "routing")  # its columns of inbound_messages
_MESSAGE_COLUMNS = ", ".join(_MESSAGE_FIELDS)


def _part(r: asyncpg.Record) -> RoutedPart:
    cost = r["classify_cost_usd"]
    return RoutedPart(
        attempt=r["attempt"], part=r["part"], parts=r["parts"], butler=r["butler"], text=r["part_text"],
        reason_kind=ReasonKind(r["reason_kind"]), reason=r["reason"], status=PartStatus(r["status"]),
        session_id=r["session_id"], error=r["error"], decided_at=r["decided_at"], queued_at=r["queued_at"],
        classify_cost_usd=None if cost is None else float(cost),
    )  # fmt: skip


def _message(r: asyncpg.Record, routing: list[RoutedPart]) -> Message:
    return Message.model_validate({**dict(r), "routing": tuple(routing)})


async def list_messages(
    pool: asyncpg.Pool, *, status: MessageStatus | None = None, channel: str | None = None, limit: int = 50
) -> list[Message]:
    """Newest first (by received time), optionally of one status and channel, with their latest routing."""
    if not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit must be between 1 and {MAX_LIST}")
    rows = await pool.fetch(
        f"""SELECT {_MESSAGE_COLUMNS} FROM inbound_messages
             WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR channel = $2)
             ORDER BY received_at DESC, id DESC LIMIT $3""",
        None if status is None else status.value,
        channel,
        limit,
    )
    parts = await _latest_parts(pool, [r["id"] for r in rows])
    return [_message(r, parts.get(r["id"], [])) for r in rows]


async def _latest_parts(pool: asyncpg.Pool, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[RoutedPart]]:
    if not ids:
        return {}
    # Per message, its last attempt and that attempt's parts: two lookups of the (inbound_id, attempt, part) key.
    rows = await pool.fetch(
        f"""SELECT {", ".join("r." + c.strip() for c in _PART_COLUMNS.split(","))}
              FROM unnest($1::uuid[]) AS m(id)
              CROSS JOIN LATERAL (SELECT max(attempt) AS attempt FROM routing_log WHERE inbound_id = m.id) AS last
              JOIN routing_log r ON r.inbound_id = m.id AND r.attempt = last.attempt
             ORDER BY r.inbound_id, r.part""",
        ids,
    )
    out: dict[uuid.UUID, list[RoutedPart]] = {}
    for r in rows:
        out.setdefault(r["inbound_id"], []).append(_part(r))
    return out


async def message_detail(pool: asyncpg.Pool, message_id: uuid.UUID) -> Message | None:
    """One message with every routing attempt (oldest first); None when there is no such message."""
    row = await pool.fetchrow(f"SELECT {_MESSAGE_COLUMNS} FROM inbound_messages WHERE id = $1", message_id)
    if row is None:
        return None
    parts = await pool.fetch(
        f"SELECT {_PART_COLUMNS} FROM routing_log WHERE inbound_id = $1 ORDER BY attempt, part", message_id
    )
    return _message(row, [_part(p) for p in parts])


OPEN = (MessageStatus.RECEIVED, MessageStatus.DISPATCHED, MessageStatus.FAILED)


async def status_counts(pool: asyncpg.Pool) -> dict[MessageStatus, int]:
    """How many messages are still open or failed (received, dispatched, failed; zero when none).

    Handled and ignored ones are history and not counted: counting them would read the whole log
    (the switchboard's migration 0002 indexes only the open statuses)."""
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM inbound_messages WHERE status = ANY($1::text[]) GROUP BY status",
        [s.value for s in OPEN],
    )
    found = {r["status"]: r["n"] for r in rows}
    return {s: found.get(s.value, 0) for s in OPEN}


async def channels(pool: asyncpg.Pool) -> list[str]:
    """The channels messages arrived by (for the page's filter)."""
    return [r["channel"] for r in await pool.fetch("SELECT DISTINCT channel FROM inbound_messages ORDER BY 1")]
