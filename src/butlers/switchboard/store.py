"""The routing log (`routing_log`, the module's migration): decisions and what became of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import asyncpg

from butlers.core.dispatch import Conn
from butlers.core.records import jsonable

MAX_LIST = 500


# One line a vocabulary: StrEnum's functional API gives each member its name in lower case as
# its value; the docstring is its JSON schema's description.
ReasonKind = StrEnum("ReasonKind", ["RULE", "MODEL", "FALLBACK", "REROUTE"])
ReasonKind.__doc__ = "Why a part went where it went (mirrored by the SQL CHECK on routing_log.reason_kind)."

PartStatus = StrEnum("PartStatus", ["DECIDED", "QUEUED", "FAILED"])
PartStatus.__doc__ = "A decided part: `decided` (committed, not yet queued), `queued` (a session exists) or `failed`."

ClassifyVia = StrEnum("ClassifyVia", ["MESSAGES_API", "CLAUDE_CODE"])
ClassifyVia.__doc__ = "How a model classification ran (mirrored by the SQL CHECK on routing_log.classify_via)."


@dataclass(frozen=True)
class Usage:
    """What one classification cost: all five figures, each None when not known."""

    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    elapsed_ms: int | None
    via: ClassifyVia | None


NO_USAGE = Usage(None, None, None, None, None)  # a decision no model took part in (a rule, a reroute)


@dataclass(frozen=True)
class Part:
    """One part of a decision: which butler gets which text, and why."""

    butler: str
    text: str
    kind: ReasonKind
    reason: str


@dataclass(frozen=True)
class Decision:
    parts: tuple[Part, ...]
    usage: Usage = NO_USAGE


@dataclass(frozen=True)
class Origin:
    """The message a decision is about (an inbound row of the switchboard)."""

    inbound_id: uuid.UUID
    channel: str
    sender: str
    text: str


@dataclass(frozen=True)
class PartRow:
    """A stored part, as `dispatch` and `reroute` report it."""

    id: int
    attempt: int
    part: int
    butler: str
    text: str
    kind: ReasonKind
    reason: str
    status: PartStatus
    session_id: uuid.UUID | None
    error: str | None
    total: int = 1  # how many parts the decision it belongs to has


def _part_row(r: asyncpg.Record) -> PartRow:
    return PartRow(r["id"], r["attempt"], r["part"], r["butler"], r["part_text"], ReasonKind(r["reason_kind"]),
                   r["reason"], PartStatus(r["status"]), r["session_id"], r["error"], r["parts"])  # fmt: skip


def _retried(p: PartRow) -> str:
    return p.reason if "(retried" in p.reason else f"{p.reason} (retried: attempt {p.attempt} failed)"


class RoutingLog:
    """Reads and writes the switchboard's routing_log."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def open_attempt(self, conn: Conn, inbound_id: uuid.UUID) -> list[PartRow]:
        """The parts of the latest attempt if it was decided but never finished (a crash): replay them."""
        rows = await conn.fetch(
            """SELECT * FROM routing_log WHERE inbound_id = $1
                 AND attempt = (SELECT max(attempt) FROM routing_log WHERE inbound_id = $1) ORDER BY part""",
            inbound_id,
        )
        parts = [_part_row(r) for r in rows]
        return parts if any(p.status == PartStatus.DECIDED for p in parts) else []

    async def record(self, origin: Origin, decision: Decision) -> list[PartRow]:
        """Commit a new attempt's decision (its own transaction: durable before anything is queued)."""
        total = len(decision.parts)
        return await self._commit_attempt(origin, [(i, total, p) for i, p in enumerate(decision.parts)], decision.usage)

    async def record_retry(self, origin: Origin, parts: list[PartRow]) -> list[PartRow]:
        """Commit a new attempt made of `parts` of an earlier decision (same butler, text, part number and
        reason): a retry re-runs only what failed. No classification, so no usage."""
        again = [(p.part, p.total, Part(p.butler, p.text, p.kind, _retried(p))) for p in parts]
        return await self._commit_attempt(origin, again, NO_USAGE)

    async def _commit_attempt(self, origin: Origin, parts: list[tuple[int, int, Part]], u: Usage) -> list[PartRow]:
        """Insert a new attempt of `parts` (part number, how many the decision has, the part), in one transaction."""
        cost = None if u.cost_usd is None else Decimal(str(round(u.cost_usd, 6)))
        async with self.pool.acquire() as conn, conn.transaction():
            attempt = await conn.fetchval(
                "SELECT coalesce(max(attempt), 0) + 1 FROM routing_log WHERE inbound_id = $1", origin.inbound_id
            )
            rows = [
                await conn.fetchrow(
                    """INSERT INTO routing_log (inbound_id, attempt, part, parts, message, part_text, channel, sender,
                           butler, reason_kind, reason, classify_input_tokens, classify_output_tokens,
                           classify_cost_usd, classify_ms, classify_via)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING *""",
                    origin.inbound_id,
                    attempt,
                    number,
                    total,
                    origin.text,
                    p.text,
                    origin.channel,
                    origin.sender,
                    p.butler,
                    p.kind.value,
                    p.reason,
                    u.input_tokens,
                    u.output_tokens,
                    cost,
                    u.elapsed_ms,
                    u.via,
                )
                for number, total, p in parts
            ]
        return [_part_row(r) for r in rows if r is not None]

    async def history(self, inbound_id: uuid.UUID) -> list[PartRow]:
        """Every part of every attempt, newest attempt first."""
        rows = await self.pool.fetch(
            "SELECT * FROM routing_log WHERE inbound_id = $1 ORDER BY attempt DESC, part", inbound_id
        )
        return [_part_row(r) for r in rows]

    @staticmethod
    async def mark_queued(conn: Conn, part_id: int, session_id: uuid.UUID) -> None:
        await conn.execute(
            "UPDATE routing_log SET status = 'queued', session_id = $2, queued_at = now() WHERE id = $1",
            part_id,
            session_id,
        )

    async def mark_failed(self, part_ids: list[int], error: str) -> None:
        await self.pool.execute(
            "UPDATE routing_log SET status = 'failed', error = $2 WHERE id = ANY($1::bigint[]) AND status = 'decided'",
            part_ids,
            error,
        )

    async def queued_parts(self, inbound_id: uuid.UUID) -> list[PartRow]:
        """The queued parts of the latest attempt of a message."""
        rows = await self.pool.fetch(
            """SELECT * FROM routing_log WHERE inbound_id = $1 AND status = 'queued'
                 AND attempt = (SELECT max(attempt) FROM routing_log WHERE inbound_id = $1) ORDER BY part""",
            inbound_id,
        )
        return [_part_row(r) for r in rows]

    async def for_message(self, inbound_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM routing_log WHERE inbound_id = $1 ORDER BY attempt, part", inbound_id
        )
        return [jsonable(r) for r in rows]

    async def latest_parts(self, inbound_id: uuid.UUID) -> list[PartRow]:
        rows = await self.pool.fetch(
            """SELECT * FROM routing_log WHERE inbound_id = $1
                 AND attempt = (SELECT max(attempt) FROM routing_log WHERE inbound_id = $1) ORDER BY part""",
            inbound_id,
        )
        return [_part_row(r) for r in rows]
