"""Spawner benchmarks, against the Messages API stand-in and the real bundled CLI.

    uv run python benches/spawner.py            # 15 sessions per figure
    uv run python benches/spawner.py --n 5      # quicker

Figures:
- overhead: median of `spawner.trigger(wait=True)` minus median of a bare
  `claude_agent_sdk.query()` with the same options, same prompt, same one-turn
  script (goal <= 100 ms per session);
- schedule→running: from the scheduler claiming a due window (inside its
  transaction, the session row written by the spawner's dispatch) to the row
  being `running` (goal <= 1.5 s);
- memory: peak RSS (VmHWM) per CLI process with 4 sessions held open at once,
  and the daemon's RSS growth over those 4.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import anyio
import asyncpg
from claude_agent_sdk import query
from fastmcp import FastMCP

from butlers.config import AgentConfig, ButlerConfig, EnvConfig, ScheduleConfig
from butlers.core.scheduler import Scheduler, utcnow
from butlers.core.spawner import Spawner
from butlers.db import create_pool
from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import Hang, ModelApiStandIn, Text
from butlers.testing.postgres import TestPostgres

PROMPT = "Say ok."


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def config(directory: Path) -> ButlerConfig:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "CLAUDE.md").write_text("You are the bench butler.\n")
    return ButlerConfig(
        name="bench", description="", port=1, schedules=[], env=EnvConfig(),
        agent=AgentConfig(model="claude-sonnet-4-5", max_concurrency=4), modules={}, directory=directory,
    )  # fmt: skip


async def overhead(spawner: Spawner, n: int) -> tuple[list[float], list[float]]:
    """Bare query() (the same options the spawner builds) and trigger(wait=True), interleaved
    so that machine noise hits both alike."""
    bare, spawned = [], []
    for _ in range(n):
        options = spawner.runner.options(None, None, lambda _line: None, {})
        t = time.perf_counter()
        async for _ in query(prompt=PROMPT, options=options):
            pass
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = await spawner.wait_finished(await spawner.trigger(PROMPT))
        spawned.append(time.perf_counter() - t)
        assert out["status"] == "succeeded", out
    return bare, spawned


async def schedule_to_running(pool: asyncpg.Pool, spawner: Spawner, n: int) -> list[float]:
    scheduler = Scheduler(pool, spawner)
    await scheduler.create(ScheduleConfig(name="every_minute", cron="* * * * *", prompt=PROMPT))
    times = []
    for _ in range(n):
        await pool.execute("UPDATE schedules SET next_run_at = $1", utcnow() - timedelta(seconds=1))
        t = time.perf_counter()
        [fired] = await scheduler.claim_due()
        with anyio.fail_after(10):
            # Polling the row is the measurement itself (no event to wait on).
            while await pool.fetchval("SELECT status FROM sessions WHERE id = $1", fired.session_id) == "queued":  # noqa: ASYNC110
                await anyio.sleep(0.005)
        times.append(time.perf_counter() - t)
        with anyio.fail_after(20):
            while await pool.fetchval("SELECT finished_at FROM sessions WHERE id = $1", fired.session_id) is None:  # noqa: ASYNC110
                await anyio.sleep(0.01)
    return times


async def memory(spawner: Spawner, api: ModelApiStandIn, k: int = 4) -> tuple[float, float]:
    import os

    before = rss_kb(os.getpid())
    api.push(*[Hang() for _ in range(k)])
    seen = len(api.requests)
    ids = [(await spawner.trigger(f"{PROMPT} {i}"))["session_id"] for i in range(k)]
    await api.wait_for_requests(seen + k, within_s=20)  # all k CLIs are up and waiting on the model
    pids = list(spawner.active_pids().values())
    per_cli = statistics.mean(rss_kb(p, "VmHWM") for p in pids) / 1024
    daemon = (rss_kb(os.getpid()) - before) / 1024 / k
    for sid in ids:
        await spawner.cancel(uuid.UUID(sid))
    return per_cli, daemon


async def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="butlers-bench-spawner-"))
    pg = TestPostgres(tmp / "pg")
    try:
        pool = await create_pool(pg.address, pg.create_database())
        mcp: FastMCP = FastMCP("bench")

        @mcp.tool
        def ping() -> str:
            return "pong"

        async with serve_asgi(mcp.http_app(path="/mcp")) as url, ModelApiStandIn() as api:
            api.push(*[Text("ok") for _ in range(3 * n + 2)])  # then memory() pushes its Hang turns
            model_env = {"ANTHROPIC_API_KEY": "sk-bench", "ANTHROPIC_BASE_URL": api.base_url}
            spawner = Spawner("bench", config(tmp / "bench"), pool, f"{url}/mcp", tmp / "data", {}, model_env=model_env)
            async with anyio.create_task_group() as tg:
                await tg.start(spawner.run)
                await overhead(spawner, 1)  # warm-up: page cache, CLI first start
                b, s = await overhead(spawner, n)
                r = await schedule_to_running(pool, spawner, n)
                per_cli, daemon = await memory(spawner, api)
                tg.cancel_scope.cancel()
        await pool.close()
    finally:
        pg.stop()
    mb, ms = statistics.median(b), statistics.median(s)
    print(f"bare query():         median {mb * 1000:7.1f} ms  (n={n})")
    print(f"spawner.trigger:      median {ms * 1000:7.1f} ms")
    paired = statistics.median(x - y for x, y in zip(s, b, strict=True))
    print(
        f"spawner overhead:            {paired * 1000:7.1f} ms per session, median of paired differences (goal <= 100 ms)"
    )
    print(
        f"schedule -> running:  median {statistics.median(r) * 1000:7.1f} ms, max {max(r) * 1000:.1f} ms (goal <= 1500 ms)"
    )
    print(f"memory: {per_cli:.0f} MB peak RSS per CLI process; daemon +{daemon:.1f} MB per concurrent session")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=15)
    anyio.run(main, parser.parse_args().n)
    sys.exit(0)
