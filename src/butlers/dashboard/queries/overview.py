"""What the overview shows of one butler: today's sessions and cost, next runs, what waits for a person."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from butlers.core.agent_run import start_of_today

if TYPE_CHECKING:
    from butlers.butler import Butler

RECENT_FAILURES = "7 days"  # failed messages and deliveries older than this no longer need the user
TODAY = """SELECT count(*) AS sessions, coalesce(sum(cost_usd), 0)::float8 AS cost,
                  count(*) FILTER (WHERE status IN ('failed', 'timed_out', 'interrupted')) AS failed
           FROM sessions WHERE queued_at >= $1"""
ACTIVE = "SELECT count(*) FROM sessions WHERE status IN ('queued', 'running')"
NEXT_RUNS = """SELECT name, cron, run_at, next_run_at, tool FROM schedules
               WHERE enabled AND next_run_at IS NOT NULL ORDER BY next_run_at LIMIT 5"""
PENDING = """SELECT id, action, summary, created_at FROM approvals
             WHERE status = 'pending' ORDER BY created_at, id LIMIT 20"""
FAILED_INBOUND = f"""SELECT id, channel, sender, left(text, 140) AS text, error, received_at FROM inbound_messages
                     WHERE status = 'failed' AND received_at > now() - interval '{RECENT_FAILURES}'
                     ORDER BY received_at DESC LIMIT 10"""
FAILED_NOTIFICATIONS = f"""SELECT id, channel, recipient, left(message, 140) AS message, error, updated_at
                           FROM notifications
                           WHERE status = 'failed' AND updated_at > now() - interval '{RECENT_FAILURES}'
                           ORDER BY updated_at DESC LIMIT 10"""


@dataclass
class ButlerSummary:
    name: str
    phase: str
    port: int
    modules: list[str]
    error: str | None = None
    sessions_today: int = 0
    cost_today: float = 0.0
    failed_today: int = 0
    active: int = 0
    next_runs: list[dict[str, Any]] = field(default_factory=list)
    pending_approvals: list[dict[str, Any]] = field(default_factory=list)
    failed_messages: list[dict[str, Any]] = field(default_factory=list)
    failed_notifications: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _rows(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in records]


async def summarize(butler: Butler, today: datetime | None = None) -> ButlerSummary:
    """One serving butler's overview; a database that does not answer becomes the summary's error."""
    summary = ButlerSummary(butler.name, butler.phase, butler.config.port, [m.name for m in butler.modules])
    try:
        async with butler.pool.acquire() as conn:
            counts = await conn.fetchrow(TODAY, today or start_of_today())
            assert counts is not None  # an aggregate always returns its row
            summary.sessions_today, summary.cost_today = counts["sessions"], counts["cost"]
            summary.failed_today = counts["failed"]
            summary.active = await conn.fetchval(ACTIVE)
            summary.next_runs = _rows(await conn.fetch(NEXT_RUNS))
            summary.pending_approvals = _rows(await conn.fetch(PENDING))
            summary.failed_messages = _rows(await conn.fetch(FAILED_INBOUND))
            if "notify" in summary.modules:
                summary.failed_notifications = _rows(await conn.fetch(FAILED_NOTIFICATIONS))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        summary.error = f"database: {type(exc).__name__}: {exc}"
    return summary


def not_serving(butler: Butler) -> ButlerSummary:
    """A butler that failed to start (or is still starting): its reason, nothing from its database."""
    modules = [m.name for m in butler.modules] or list(butler.config.modules)
    return ButlerSummary(butler.name, butler.phase, butler.config.port, modules, error=butler.error)
