"""Spend read from one butler's `sessions` table: per day, per schedule, the costliest, since a time.

Every query filters on `finished_at >= $1`, served by the `sessions_finished`
index (migrations/0003_sessions.sql), so a window's cost stays fast with a
large history (benches/bench_fleet_views.py).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from butlers.fleet_views.periods import local_zone
from butlers.fleet_views.records import CostlySession, DaySpend, ScheduleSpend

BY_DAY = """
SELECT (finished_at AT TIME ZONE $2)::date AS day, count(*) AS sessions, coalesce(sum(cost_usd), 0) AS cost
FROM sessions WHERE finished_at >= $1
GROUP BY 1 ORDER BY 1
"""
BY_SCHEDULE = """
SELECT schedule_name, count(*) AS sessions, coalesce(sum(cost_usd), 0) AS cost, max(finished_at) AS last
FROM sessions WHERE finished_at >= $1
GROUP BY schedule_name ORDER BY cost DESC, schedule_name NULLS LAST
"""
COSTLIEST = """
SELECT id, trigger_source, schedule_name, status, finished_at, cost_usd, model, left(prompt, 200) AS prompt
FROM sessions WHERE finished_at >= $1 AND cost_usd IS NOT NULL
ORDER BY cost_usd DESC, finished_at DESC LIMIT $2
"""
SPENT_SINCE = "SELECT coalesce(sum(cost_usd), 0) FROM sessions WHERE finished_at >= $1"


async def spend_by_day(
    pool: asyncpg.Pool, butler: str, since: datetime, zone: ZoneInfo | None = None
) -> list[DaySpend]:
    """Cost and count of the sessions finished since `since`, per local day, oldest first."""
    rows = await pool.fetch(BY_DAY, since, (zone or local_zone()).key)
    return [DaySpend(butler, r["day"], r["sessions"], float(r["cost"])) for r in rows]


async def spend_by_schedule(pool: asyncpg.Pool, butler: str, since: datetime) -> list[ScheduleSpend]:
    """Cost and count per schedule (None: sessions not fired by a schedule), costliest first."""
    rows = await pool.fetch(BY_SCHEDULE, since)
    return [ScheduleSpend(butler, r["schedule_name"], r["sessions"], float(r["cost"]), r["last"]) for r in rows]


async def costliest_sessions(pool: asyncpg.Pool, butler: str, since: datetime, limit: int) -> list[CostlySession]:
    """The `limit` most expensive sessions finished since `since`."""
    rows = await pool.fetch(COSTLIEST, since, limit)
    return [
        CostlySession(
            butler=butler,
            session_id=r["id"],
            trigger_source=r["trigger_source"],
            schedule=r["schedule_name"],
            status=r["status"],
            finished_at=r["finished_at"],
            cost_usd=float(r["cost_usd"]),
            model=r["model"],
            prompt=r["prompt"],
        )
        for r in rows
    ]


async def spent_since(pool: asyncpg.Pool, since: datetime) -> float:
    """Total recorded cost of the sessions finished since `since`."""
    return float(await pool.fetchval(SPENT_SINCE, since))
