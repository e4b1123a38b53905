"""The parts of a butler's `status` that ask its services: schedules, modules, database."""

from __future__ import annotations

import time
from typing import Any

import anyio
import asyncpg

from butlers.core.scheduler import Scheduler
from butlers.db_health import LOST_CONNECTION_ERRORS, PROBE_TIMEOUT_S, describe
from butlers.modules.base import Module


async def schedule_summaries(scheduler: Scheduler) -> list[dict[str, Any]] | None:
    """The schedules as `status` shows them; None when the database went away meanwhile."""
    try:
        rows = await scheduler.list_schedules()
    except LOST_CONNECTION_ERRORS:
        return None  # lost between the health query and this one: status still answers
    return [
        {
            "name": s.name,
            "cron": s.cron,
            "at": s.run_at.isoformat() if s.run_at else None,
            "mode": s.mode,
            "source": s.source,
            "enabled": s.enabled,
            "next_run_at": s.next_run_at.isoformat() if s.next_run_at else None,
        }
        for s in rows
    ]


async def module_health(module: Module, failure: str | None) -> dict[str, Any]:
    """A module's own health, or the failure of its background work (`serve`)."""
    if failure is not None:
        return {"ok": False, "error": f"background work (serve) stopped: {failure}"}
    try:
        with anyio.fail_after(5):
            return await module.health()
    except Exception as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}


async def database_health(pool: asyncpg.Pool, database: str) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        # As short as the daemon's own probe: status must answer, not wait on a half-open link.
        with anyio.fail_after(PROBE_TIMEOUT_S):
            await pool.fetchval("SELECT 1")
    except Exception as exc:
        return {"ok": False, "name": database, "error": f"down: {describe(exc)}"}
    return {"ok": True, "name": database, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}
