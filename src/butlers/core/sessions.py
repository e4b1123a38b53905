"""The session log: the durable queue of agent work and its truthful record.

A session row is written `queued` inside the transaction that accepted the
work, claimed by a worker with ``FOR UPDATE SKIP LOCKED`` (so two workers
never run one session), and finished exactly once: the database refuses any
change to a finished row (trigger in migrations/0003_sessions.sql).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, get_args

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from butlers.core.dispatch import DispatchRequest, TriggerSource

QUEUE_CHANNEL = "butlers_session_queued"
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "interrupted", "cancelled", "timed_out")
STATUSES = (*ACTIVE, *FINISHED)
SOURCES: tuple[str, ...] = get_args(TriggerSource)

# A plain connection or one borrowed from a pool (the scheduler passes either).
Conn = asyncpg.Connection | PoolConnectionProxy

_LIST_COLUMNS = (
    "id, trigger_source, schedule_name, status, queued_at, started_at, finished_at, duration_ms, "
    "left(prompt, 200) AS prompt, left(result, 200) AS result, left(error, 500) AS error, "
    "num_turns, cost_usd, model"
)


@dataclass
class Outcome:
    """What a finished session produced, as the agent reported it."""

    status: str
    result: str | None = None
    error: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    num_turns: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cost_usd: float | None = None
    model: str | None = None
    agent_session_id: str | None = None


def to_json(record: asyncpg.Record | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A row, if there is one, as plain JSON values."""
    return None if record is None else jsonable(record)


def jsonable(record: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """A row as plain JSON values (ids and times as strings, cost as float)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        out[key] = value
    return out


def to_json_list(records: Iterable[asyncpg.Record | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as plain JSON values."""
    return [jsonable(row) for row in records]


class SessionLog:
    """Reads and writes one butler's `sessions` table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def enqueue(
        self, conn: Conn, request: DispatchRequest, *, parent_traceparent: str | None = None
    ) -> tuple[uuid.UUID, bool]:
        """Record `request` as queued inside `conn`'s transaction: (id, newly created).

        The same idempotency key returns the existing session. The NOTIFY is
        delivered at commit, so a worker never wakes before the row is visible.
        """
        row = await conn.fetchrow(
            """INSERT INTO sessions (trigger_source, schedule_name, prompt, context, idempotency_key,
                                     parent_traceparent)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            request.trigger_source,
            request.schedule_name,
            request.prompt,
            request.context,
            request.idempotency_key,
            parent_traceparent,
        )
        if row is None:
            existing = await conn.fetchval(
                "SELECT id FROM sessions WHERE idempotency_key = $1", request.idempotency_key
            )
            return existing, False
        await conn.execute("SELECT pg_notify($1, $2)", QUEUE_CHANNEL, str(row["id"]))
        return row["id"], True

    async def claim_next(self, owner: uuid.UUID) -> asyncpg.Record | None:
        """Mark the oldest queued session running under `owner` (a daemon instance); None: queue empty."""
        return await self.pool.fetchrow(
            """UPDATE sessions SET status = 'running', started_at = now(), owner = $1
               WHERE id = (SELECT id FROM sessions WHERE status = 'queued'
                           ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
               RETURNING *""",
            owner,
        )

    async def set_trace_id(self, session_id: uuid.UUID, trace_id: str) -> None:
        await self.pool.execute(
            "UPDATE sessions SET trace_id = $2 WHERE id = $1 AND status = 'running'", session_id, trace_id
        )

    async def record_tool_calls(self, session_id: uuid.UUID, calls: list[dict[str, Any]]) -> None:
        """Keep the running row's tool calls current, so a crash still leaves them."""
        await self.pool.execute(
            "UPDATE sessions SET tool_calls = $2 WHERE id = $1 AND status = 'running'", session_id, calls
        )

    async def finish(self, session_id: uuid.UUID, outcome: Outcome) -> bool:
        """Write the final record once; False when the session had already finished."""
        if outcome.status not in FINISHED:
            raise ValueError(f"not a final status: {outcome.status}")
        done = await self.pool.fetchval(
            """UPDATE sessions SET status = $2, finished_at = now(),
                   duration_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::integer,
                   result = $3, error = $4, tool_calls = $5, num_turns = $6, input_tokens = $7,
                   output_tokens = $8, cache_read_tokens = $9, cache_creation_tokens = $10,
                   cost_usd = $11, model = $12, agent_session_id = $13
               WHERE id = $1 AND status IN ('queued', 'running') RETURNING true""",
            session_id,
            outcome.status,
            outcome.result,
            outcome.error,
            outcome.tool_calls,
            outcome.num_turns,
            outcome.input_tokens,
            outcome.output_tokens,
            outcome.cache_read_tokens,
            outcome.cache_creation_tokens,
            outcome.cost_usd,
            outcome.model,
            outcome.agent_session_id,
        )
        return bool(done)

    async def cancel_queued(self, session_id: uuid.UUID) -> bool:
        """Cancel a session that has not started; False if it is not queued."""
        done = await self.pool.fetchval(
            """UPDATE sessions SET status = 'cancelled', finished_at = now(), duration_ms = 0,
                   error = 'cancelled before it started'
               WHERE id = $1 AND status = 'queued' RETURNING true""",
            session_id,
        )
        return bool(done)

    async def mark_interrupted(self, reason: str, session_ids: list[uuid.UUID] | None = None) -> int:
        """Running sessions (all, or those listed) → interrupted with `reason`."""
        result = await self.pool.execute(
            """UPDATE sessions SET status = 'interrupted', finished_at = now(), error = $1,
                   duration_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::integer
               WHERE status = 'running' AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))""",
            reason,
            session_ids,
        )
        return int(result.split()[-1])

    async def spent_since(self, since: datetime) -> float:
        """Total cost of sessions finished since `since` (the daily budget's meter)."""
        spent = await self.pool.fetchval(
            "SELECT coalesce(sum(cost_usd), 0) FROM sessions WHERE finished_at >= $1", since
        )
        return float(spent)

    async def get(self, session_id: uuid.UUID) -> dict[str, Any] | None:
        row = await self.pool.fetchrow("SELECT * FROM sessions WHERE id = $1", session_id)
        result = to_json(row)
        if result is not None:
            result.pop("parent_traceparent", None)
        return result

    async def list(
        self,
        *,
        status: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Newest first; long texts cut (the full record is `get`)."""
        rows = await self.pool.fetch(
            f"""SELECT {_LIST_COLUMNS} FROM sessions
                WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR trigger_source = $2)
                  AND ($3::timestamptz IS NULL OR queued_at >= $3)
                ORDER BY queued_at DESC, id DESC LIMIT $4 OFFSET $5""",
            status,
            source,
            since,
            limit,
            offset,
        )
        return to_json_list(rows)
