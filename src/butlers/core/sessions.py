"""The session log: the durable queue of agent work and its truthful record.

A session row is written `queued` inside the transaction that accepted the
work, claimed by a worker with ``FOR UPDATE SKIP LOCKED`` (so two workers
never run one session), and finished exactly once: the database refuses any
change to a finished row (trigger in migrations/0003_sessions.sql).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import Field

from butlers.core import sql
from butlers.core.dispatch import DispatchRequest
from butlers.core.records import Record, Timestamp
from butlers.statuses import FINISHED_SESSION, SessionStatus, TriggerSource

QUEUE_CHANNEL = "butlers_session_queued"
Q = sql.load("sessions")

# A plain connection or one borrowed from a pool (the scheduler passes either).
Conn = asyncpg.Connection | PoolConnectionProxy


class SessionSummary(Record):
    """A session as `sessions_list` shows it: long texts cut (prompt 200, result 200, error 500 characters)."""

    id: uuid.UUID
    trigger_source: TriggerSource
    schedule_name: str | None
    status: SessionStatus
    queued_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_ms: int | None
    prompt: str
    result: str | None
    error: str | None
    num_turns: int | None
    cost_usd: float | None
    model: str | None


class Session(SessionSummary):
    """The full record of one session: its context, every tool call, tokens, cost and trace."""

    context: dict[str, Any] | None
    idempotency_key: str | None
    tool_calls: list[dict[str, Any]]
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_creation_tokens: int | None
    agent_session_id: str | None
    trace_id: str | None
    owner: uuid.UUID | None = None
    # What caused the session (W3C traceparent): the spawner links its trace; never shown to clients.
    parent_traceparent: str | None = Field(default=None, exclude=True)


class Triggered(Record):
    """A queued (or found) session: its id and status, and whether this call created it."""

    session_id: uuid.UUID
    status: SessionStatus
    created: bool = Field(description="False when the idempotency key named an existing session.")


class FinishedTrigger(Session):
    """A trigger waited for: the session's final record, its id again as `session_id`, and `created`."""

    session_id: uuid.UUID
    created: bool


class TokenUsage(NamedTuple):
    """A session's tokens, as the SDK's result reports them (None: not reported), in the columns' order."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_creation: int | None = None

    @classmethod
    def of(cls, usage: dict[str, Any]) -> TokenUsage:
        """From the result message's `usage` (the Messages API's names)."""
        names = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
        return cls(*(usage.get(name) for name in names))


@dataclass
class Outcome:
    """What a finished session produced, as the agent reported it."""

    status: SessionStatus
    result: str | None = None
    error: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    num_turns: int | None = None
    tokens: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = None
    model: str | None = None
    agent_session_id: str | None = None


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
        r = request
        row = await conn.fetchrow(
            Q["enqueue"], r.trigger_source, r.schedule_name, r.prompt, r.context, r.idempotency_key, parent_traceparent
        )
        if row is None:
            return await conn.fetchval(Q["id_by_key"], request.idempotency_key), False
        await conn.execute(Q["notify_queued"], QUEUE_CHANNEL, str(row["id"]))
        return row["id"], True

    async def claim_next(self, owner: uuid.UUID) -> Session | None:
        """Mark the oldest queued session running under `owner` (a daemon instance); None: queue empty."""
        row = await self.pool.fetchrow(Q["claim_next"], owner)
        return None if row is None else Session.from_row(row)

    async def set_trace_id(self, session_id: uuid.UUID, trace_id: str) -> None:
        await self.pool.execute(Q["set_trace_id"], session_id, trace_id)

    async def record_tool_calls(self, session_id: uuid.UUID, calls: list[dict[str, Any]]) -> None:
        """Keep the running row's tool calls current, so a crash still leaves them."""
        await self.pool.execute(Q["record_tool_calls"], session_id, calls)

    async def finish(self, session_id: uuid.UUID, outcome: Outcome) -> bool:
        """Write the final record once; False when the session had already finished."""
        if outcome.status not in FINISHED_SESSION:
            raise ValueError(f"not a final status: {outcome.status}")
        o = outcome
        done = await self.pool.fetchval(
            Q["finish"], session_id, o.status, o.result, o.error, o.tool_calls, o.num_turns, *o.tokens, o.cost_usd,
            o.model, o.agent_session_id,
        )  # fmt: skip
        return bool(done)

    async def cancel_queued(self, session_id: uuid.UUID) -> bool:
        """Cancel a session that has not started; False if it is not queued."""
        return bool(await self.pool.fetchval(Q["cancel_queued"], session_id))

    async def mark_interrupted(self, reason: str, session_ids: list[uuid.UUID] | None = None) -> int:
        """Running sessions (all, or those listed) → interrupted with `reason`."""
        result = await self.pool.execute(Q["mark_interrupted"], reason, session_ids)
        return int(result.split()[-1])

    async def spent_since(self, since: datetime) -> float:
        """Total cost of sessions finished since `since` (the daily budget's meter)."""
        return float(await self.pool.fetchval(Q["spent_since"], since))

    async def get(self, session_id: uuid.UUID) -> Session | None:
        row = await self.pool.fetchrow(Q["get"], session_id)
        return None if row is None else Session.from_row(row)

    async def list(
        self,
        *,
        status: SessionStatus | None = None,
        source: TriggerSource | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SessionSummary]:
        """Newest first; long texts cut (the full record is `get`)."""
        return SessionSummary.from_rows(await self.pool.fetch(Q["list"], status, source, since, limit, offset))
