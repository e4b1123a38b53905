"""How accepted work is handed on: the dispatcher interface.

The scheduler, the heartbeat, the `trigger` tool and the switchboard all turn
work into a `DispatchRequest`. `dispatch` runs inside the caller's transaction,
so the work is recorded atomically with whatever accepted it (a claimed
schedule window, say): accepted work is never lost between the two.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from butlers.errors import ButlersError
from butlers.statuses import TriggerSource

__all__ = ["Conn", "DispatchRefused", "DispatchRequest", "Dispatcher", "TriggerSource"]

# A connection as code gets it: plain, or borrowed from a pool.
Conn = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class DispatchRequest:
    """One unit of work for a butler's agent."""

    trigger_source: TriggerSource
    prompt: str
    schedule_name: str | None = None
    context: dict[str, Any] | None = field(default=None)
    idempotency_key: str | None = None


class Dispatcher(Protocol):
    """Records a request inside `conn`'s transaction and returns its session id."""

    async def dispatch(self, conn: Conn, request: DispatchRequest) -> uuid.UUID: ...


class DispatchRefused(ButlersError):
    """Raised by a dispatcher that will not place this work (switchboard routing, issue 11).

    Unlike any other exception (transient: the message stays `received` and is
    handed off again later), this one ends the inbound message: `ignored` (a
    sender not on the allow-list) or `failed` (no butler could take it;
    retryable with `InboundLog.retry`), with `reason` recorded as its error.
    """

    def __init__(self, status: Literal["failed", "ignored"], reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
