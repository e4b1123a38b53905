"""The health butler with 1,000,000 measurements: seeding time, and a 90-day trend over HTTP.

    uv run python benches/health.py            # 1,000,000 rows, 200 trend calls
    uv run python benches/health.py --quick    # 200,000 rows, 50 calls

1. Start `butlerd serve` on a copy of butlers.d/ (the health butler enables the
   health module), in a throwaway data dir.
2. Seed the health butler's own database with COPY: 8 kinds (weight, heart_rate,
   steps, ...) over 5 years up to now, spread evenly (about 6,000 rows of one kind
   in 90 days), then ANALYZE. Seeding time is printed.
3. One fastmcp.Client over streamable HTTP to the health butler's MCP port calls
   `health_trend(kind="weight", days=90)` in sequence (after a warm-up):
   p50/p95/p99. Goal: p50 <= 50 ms. Then the same with `daily=true` (the 91
   daily points too), which groups by day in the butler's zone. The p50 of the trivial core tool `state_get`
   on the same port is printed beside it: the HTTP and MCP share of the time. The index serving it is
   health_measurements_kind_time (kind, measured_at) INCLUDE (value, diastolic).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import asyncpg
from common import make_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from floor import pct

from butlers.db import ServerAddress, database_name

GOAL_P50_MS = 50.0
KINDS = {  # kind: (unit, typical value, spread)
    "weight": ("kg", 80.0, 3.0),
    "heart_rate": ("bpm", 65.0, 10.0),
    "steps": ("steps", 8000.0, 3000.0),
    "glucose": ("mmol/L", 5.5, 0.8),
    "temperature": ("°C", 36.8, 0.3),
    "sleep": ("h", 7.2, 1.0),
    "blood_pressure": ("mmHg", 122.0, 8.0),
    "waist": ("cm", 85.0, 2.0),
}
YEARS = 5


def rows(n: int) -> list[tuple[object, ...]]:
    rng = random.Random(12)
    end = datetime.now(UTC)
    step = timedelta(days=365 * YEARS) / n
    kinds = list(KINDS.items())
    out: list[tuple[object, ...]] = []
    for i in range(n):
        kind, (unit, mid, spread) = kinds[i % len(kinds)]
        value = round(rng.gauss(mid, spread / 3), 2)
        if kind in ("heart_rate", "steps", "blood_pressure"):
            value = float(round(abs(value)))
        diastolic = float(round(value * 0.65)) if kind == "blood_pressure" else None
        out.append((kind, value, diastolic, unit, end - step * (n - i)))
    return out


async def seed(address: ServerAddress, n: int) -> float:
    conn = await asyncpg.connect(database=database_name("health"), **address.connect_kwargs())
    try:
        data = rows(n)
        t = time.perf_counter()
        await conn.copy_records_to_table(
            "health_measurements", records=data, columns=["kind", "value", "diastolic", "unit", "measured_at"]
        )
        await conn.execute("VACUUM ANALYZE health_measurements")  # what autovacuum would do after a bulk load
        return time.perf_counter() - t
    finally:
        await conn.close()


async def latencies(url: str, tool: str, args: dict[str, object], calls: int, warmup: int) -> tuple[list[float], int]:
    out: list[float] = []
    count = 0
    async with Client(url, timeout=30) as client:
        for i in range(calls + warmup):
            t = time.perf_counter()
            result = await client.call_tool(tool, args)
            dt = time.perf_counter() - t
            if i >= warmup:
                out.append(dt)
            content = result.structured_content or {}
            count = content["value"]["count"] if isinstance(content.get("value"), dict) else 0
    return out, count


def embedded_address(data_dir: Path) -> ServerAddress:
    import pgserver

    # Attach to the daemon's running server; cleanup_mode=None leaves it to the daemon.
    server = pgserver.get_server(data_dir / "postgres", cleanup_mode=None)
    return ServerAddress.from_uri(server.get_uri())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 rows and 50 calls")
    args = parser.parse_args()
    n, calls = (200_000, 50) if args.quick else (1_000_000, 200)
    ws = make_workspace("butlers-bench-health-")
    log = ws.root / "daemon.log"
    try:
        proc, started = start_and_wait(ws, log)
        print(f"daemon up in {started:.1f} s")
        address = embedded_address(ws.data_dir)
        took = anyio.run(seed, address, n)
        print(f"seeded {n:,} measurements with COPY (+ VACUUM ANALYZE) in {took:.1f} s ({n / took:,.0f} rows/s)")
        url = ws.urls["health"]
        base, _ = anyio.run(latencies, url, "state_get", {"key": "none"}, calls, 10)
        trend, count = anyio.run(latencies, url, "health_trend", {"kind": "weight", "days": 90}, calls, 10)
        series, _ = anyio.run(latencies, url, "health_trend", {"kind": "weight", "days": 90, "daily": True}, calls, 10)
        ms = [x * 1000 for x in trend]
        p50 = pct(ms, 0.5)
        verdict = "meets" if p50 <= GOAL_P50_MS else "MISSES"
        print(f"health_trend(weight, 90 days) over {count:,} rows, {calls} calls over HTTP:")
        print(f"  p50 {p50:.1f} ms  p95 {pct(ms, 0.95):.1f} ms  p99 {pct(ms, 0.99):.1f} ms  ({verdict} goal p50 <= {GOAL_P50_MS:.0f} ms)")  # fmt: skip
        daily_ms = [x * 1000 for x in series]
        print(f"  with daily=true (91 daily points): p50 {pct(daily_ms, 0.5):.1f} ms  p95 {pct(daily_ms, 0.95):.1f} ms")
        print(f"  (a trivial tool on the same port, state_get: p50 {pct([x * 1000 for x in base], 0.5):.1f} ms)")
        code, stop_s, _left = stop_daemon(ws, proc)
        print(f"daemon stopped (exit {code}) in {stop_s:.1f} s")
    finally:
        ws.cleanup()


if __name__ == "__main__":
    main()
