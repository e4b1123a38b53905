"""The Messages page's queries at 100,000 inbound messages with their routing log.

    uv run python benches/messages_page.py            # 100,000 messages, 200 calls each
    uv run python benches/messages_page.py --quick    # 20,000 messages, 50 calls each

Seeds a fresh database of an embedded PostgreSQL (core and switchboard migrations), one
routing attempt per message (a tenth split in two parts, a tenth retried once), then times
what the page runs (`butlers.fleet_views.messages`): the newest 50 with their latest routing,
the failed ones only, the status counts, and one message's detail. Goal p50 <= 50 ms each.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from butlers.db import create_pool
from butlers.fleet_views import messages
from butlers.migrate import apply_migrations
from butlers.switchboard.module import SwitchboardModule
from butlers.testing.postgres import TestPostgres

SEED = """
INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, status, session_id, dispatched_at,
                              finished_at, error)
SELECT CASE WHEN i % 3 = 0 THEN 'email' ELSE 'telegram' END, 'bench-' || i, 'owner', 'message ' || i,
       now() - make_interval(mins => $1 - i),
       CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'handled' END,
       gen_random_uuid(), now() - make_interval(mins => $1 - i), now() - make_interval(mins => $1 - i),
       CASE WHEN i % 50 = 0 THEN 'session failed' END
FROM generate_series(1, $1) AS i;
"""
ROUTE = """
INSERT INTO routing_log (inbound_id, attempt, part, parts, message, part_text, channel, sender, butler, reason_kind,
                         reason, status, session_id, queued_at)
SELECT m.id, a, p, CASE WHEN n % 10 = 0 THEN 2 ELSE 1 END, m.text, m.text, m.channel, m.sender,
       CASE WHEN p = 0 THEN 'health' ELSE 'relationship' END, CASE WHEN a = 2 THEN 'reroute' ELSE 'rule' END,
       'bench', 'queued', gen_random_uuid(), now()
FROM (SELECT id, text, channel, sender, row_number() OVER (ORDER BY id) AS n FROM inbound_messages) m
CROSS JOIN LATERAL generate_series(1, CASE WHEN m.n % 10 = 5 THEN 2 ELSE 1 END) AS a
CROSS JOIN LATERAL generate_series(0, CASE WHEN m.n % 10 = 0 THEN 1 ELSE 0 END) AS p;
"""


async def timed(calls: int, fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def bench(pg: TestPostgres, count: int, calls: int) -> None:
    with pg.database() as database:
        await apply_migrations(pg.address, database, SwitchboardModule.migrations_dir, SwitchboardModule.name)
        pool = await create_pool(pg.address, database)
        try:
            start = time.perf_counter()
            await pool.execute(SEED, count, timeout=900)
            await pool.execute(ROUTE, timeout=900)
            await pool.execute("ANALYZE", timeout=900)
            rows = await pool.fetchval("SELECT count(*) FROM routing_log")
            print(f"seeded {count:,} messages, {rows:,} routing rows in {time.perf_counter() - start:.1f} s")
            some = await pool.fetchval("SELECT id FROM inbound_messages ORDER BY received_at DESC OFFSET 7 LIMIT 1")
            cases: dict[str, Callable[[], Awaitable[Any]]] = {
                "newest 50 with routing": lambda: messages.list_messages(pool),
                "failed only": lambda: messages.list_messages(pool, status=messages.MessageStatus.FAILED),
                "status counts": lambda: messages.status_counts(pool),
                "one message's detail": lambda: messages.message_detail(pool, some),
            }
            for name, fn in cases.items():
                p50, p95 = await timed(calls, fn)
                print(f"{name:<24} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
        finally:
            await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 50 calls each")
    args = parser.parse_args()
    count, calls = (20_000, 50) if args.quick else (100_000, 200)
    folder = Path(tempfile.mkdtemp(prefix="butlers-bench-messages-"))
    pg = TestPostgres(folder / "data")
    try:
        anyio.run(bench, pg, count, calls)
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
