"""Finished sessions with a cost, written straight into a butler's `sessions` table (seeding only)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from butlers.db import ServerAddress


async def seed_session(
    conn: asyncpg.Connection | asyncpg.Pool,
    cost_usd: float | None,
    finished_at: datetime,
    *,
    schedule: str | None = None,
    prompt: str = "seeded",
    status: str = "succeeded",
) -> uuid.UUID:
    source = "schedule" if schedule is not None else "trigger_tool"
    session_id: uuid.UUID = await conn.fetchval(
        """INSERT INTO sessions (trigger_source, schedule_name, prompt, status, queued_at, started_at,
                                 finished_at, duration_ms, cost_usd, model)
           VALUES ($1, $2, $3, $4, $5, $5, $5, 1000, $6, 'claude-sonnet-4-5') RETURNING id""",
        source,
        schedule,
        prompt,
        status,
        finished_at,
        cost_usd,
    )
    return session_id


async def connect(address: ServerAddress, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=address.host, port=address.port, user=address.user, password=address.password, database=database
    )
