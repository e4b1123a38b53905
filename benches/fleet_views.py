"""The shared spend queries (butlers.fleet_views) over 100,000 sessions per butler database.

    uv run python benches/fleet_views.py            # 4 butlers x 100,000 sessions, 30 runs per query
    uv run python benches/fleet_views.py --quick    # 4 butlers x 25,000, 10 runs

An embedded PostgreSQL (throwaway folder) with 4 butler databases (core schema),
each seeded with finished sessions spread evenly over the last 365 days (some
scheduled, a few unpriced), then ANALYZE. Prints p50/p95 (ms) of: the monthly
ceiling check every session start makes (`ceiling_state`, every butler), one
butler's `spend_by_day` / `spend_by_schedule` / `costliest_sessions` this month and
over the whole year, and the spend page's `fleet_spend` (this month, and 365 days).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import asyncpg
from floor import pct

from butlers.db import create_pool
from butlers.fleet_views import (
    ButlerDb,
    ceiling_state,
    costliest_sessions,
    fleet_spend,
    spend_by_day,
    spend_by_schedule,
    start_of_month,
)
from butlers.testing.postgres import TestPostgres

BUTLERS = ("switchboard", "general", "relationship", "health")
SEED = """
INSERT INTO sessions (trigger_source, schedule_name, prompt, status, queued_at, started_at, finished_at,
                      duration_ms, cost_usd, model)
SELECT CASE WHEN i % 3 = 0 THEN 'schedule' ELSE 'trigger_tool' END,
       CASE WHEN i % 3 = 0 THEN 'schedule-' || (i % 7) END,
       'seeded prompt number ' || i, 'succeeded', t, t, t, 1000,
       CASE WHEN i % 50 = 0 THEN NULL ELSE ((i * 7919) % 10000) / 100000.0 END, 'claude-sonnet-4-5'
FROM generate_series(1, $1) AS i, LATERAL (SELECT $2::timestamptz - (i * interval '365 days' / $1) AS t) AS x
"""


async def timed(label: str, runs: int, call: Callable[[], Awaitable[Any]]) -> None:
    await call()  # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<52} p50 {pct(times, 0.5):7.2f} ms   p95 {pct(times, 0.95):7.2f} ms")


async def seed(pools: dict[str, asyncpg.Pool], per_butler: int) -> None:
    started = time.perf_counter()
    now = datetime.now(UTC)
    for pool in pools.values():
        await pool.execute(SEED, per_butler, now)
        await pool.execute("VACUUM ANALYZE sessions")
    print(f"seeded {per_butler * len(pools):,} sessions in {time.perf_counter() - started:.1f} s")


async def measure(pools: dict[str, asyncpg.Pool], runs: int) -> None:
    dbs = [ButlerDb(name, pool, 2.0) for name, pool in pools.items()]
    month, year = start_of_month(), datetime.now(UTC) - timedelta(days=365)
    one = pools["general"]
    await timed("ceiling_state (4 butlers, this month)", runs, lambda: ceiling_state(dbs, 100.0))
    for label, since in (("this month", month), ("365 days", year)):
        await timed(f"spend_by_day (1 butler, {label})", runs, lambda s=since: spend_by_day(one, "general", s))
        await timed(f"spend_by_schedule (1 butler, {label})", runs, lambda s=since: spend_by_schedule(one, "g", s))
        await timed(f"costliest_sessions top 20 (1 butler, {label})", runs,
                    lambda s=since: costliest_sessions(one, "g", s, 20))  # fmt: skip
        await timed(f"fleet_spend (4 butlers, {label})", runs, lambda s=since: fleet_spend(dbs, s, 20))


async def main(per_butler: int, runs: int, folder: Path) -> None:
    server = TestPostgres(folder / "data")
    try:
        names = {b: server.create_database() for b in BUTLERS}
        pools = {b: await create_pool(server.address, db) for b, db in names.items()}
        try:
            await seed(pools, per_butler)
            await measure(pools, runs)
        finally:
            for pool in pools.values():
                await pool.close()
    finally:
        server._server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="25,000 sessions per butler, 10 runs per query")
    options = parser.parse_args()
    per, n = (25_000, 10) if options.quick else (100_000, 30)
    tmp = Path(tempfile.mkdtemp(prefix="butlers-bench-fleet-views-"))
    try:
        anyio.run(main, per, n, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
