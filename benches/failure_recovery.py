"""The core under failure: time to notice and to recover, and cancel-to-cancelled.

    uv run python benches/failure_recovery.py             # 3 rounds per failure, 1,000 cancels
    uv run python benches/failure_recovery.py --rounds 1 --cancels 50
    uv run python benches/failure_recovery.py --only load --rounds 3 --writers 8
    uv run python benches/failure_recovery.py --only cancel   # the 1,000-fold cancel race alone

Figures:
- postmaster killed (SIGKILL): from the kill to `status` showing the database
  down (notice), and to it showing it up again (recover: the daemon restarted it);
- the same under a write load (`--writers` MCP clients calling `state_set` in a loop), with
  where the time goes from the daemon's own log: kill -> `database.down` -> restart begun ->
  restart done (`pg_ctl -w start`, crash recovery) -> `database.up`, and the first write
  acknowledged after the kill;
- server restarted (the postmaster stopped cleanly, SIGINT = fast shutdown): the same;
- half-open connection (a proxy that stops forwarding, closing nothing): from the
  stall to `down`, and from resuming to `up`;
- cancel: `session_cancel` latency to a final `cancelled` record, p50 and max,
  cancels landing at random moments 0-4 ms after the trigger (the race test).

Runs `butlerd serve` on a throwaway embedded PostgreSQL of its own, never the
user's data. Figures are wall-clock; on a shared machine they include its load.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from common import make_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from recovery_timeline import loaded_postmaster_rounds, show_timeline

from butlers.config import AgentConfig, ButlerConfig, EnvConfig, discover
from butlers.core.spawner import Spawner
from butlers.db import create_pool
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import Hang, ModelApiStandIn
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres
from butlers.testing.stalling_proxy import StallingProxy


async def database_ok(url: str) -> bool | None:
    try:
        async with Client(url, timeout=5) as client:
            status = (await client.call_tool("status", {})).structured_content
    except Exception:
        return None
    assert status is not None
    return bool(status["database"]["ok"])


async def time_until(url: str, want: bool, since: float, limit: float = 60.0) -> float:
    with anyio.fail_after(limit):
        while await database_ok(url) is not want:  # noqa: ASYNC110 - polling a server's state, bounded
            await anyio.sleep(0.02)
    return time.monotonic() - since


def postmaster_rounds(rounds: int, sig: signal.Signals) -> list[tuple[float, float]]:
    ws = make_workspace("butlers-bench-failure-")
    proc, _ = start_and_wait(ws, ws.root / "daemon.log")
    try:
        return anyio.run(_hit_postmaster, ws.data_dir, next(iter(ws.urls.values())), rounds, sig)
    finally:
        stop_daemon(ws, proc)
        ws.cleanup()


async def _hit_postmaster(data: Path, url: str, rounds: int, sig: signal.Signals) -> list[tuple[float, float]]:
    out = []
    for _ in range(rounds):
        pid = int((data / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, sig)
        hit = time.monotonic()
        notice = await time_until(url, False, hit)
        recover = await time_until(url, True, hit)
        out.append((notice, recover))
    return out


async def halfopen_rounds(pg: TestPostgres, rounds: int) -> list[tuple[float, float]]:
    folder = Path(tempfile.mkdtemp(prefix="butlers-bench-halfopen-"))
    port = free_port()
    (folder / "butlers.d" / "bench").mkdir(parents=True)
    (folder / "butlers.d" / "bench" / "butler.toml").write_text(f'[butler]\nname = "bench"\nport = {port}\n')
    a = pg.address
    out = []
    async with StallingProxy(f"{a.host}/.s.PGSQL.{a.port}") as proxy:
        settings = Settings(dir=folder / "butlers.d", data_dir=folder / "data", postgres_host="127.0.0.1",
                            postgres_port=proxy.port, postgres_user=a.user, postgres_password=a.password,
                            drain_timeout_s=5)  # fmt: skip
        configs, errors = discover(settings.dir)
        supervisor = Supervisor(settings, configs, errors)
        url = f"http://127.0.0.1:{port}/mcp"
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            for _ in range(rounds):
                proxy.stall()
                notice = await time_until(url, False, time.monotonic())
                proxy.resume()
                recover = await time_until(url, True, time.monotonic())
                out.append((notice, recover))
            supervisor.request_stop()
            await supervisor.stopped.wait()
    return out


async def cancel_latencies(pg: TestPostgres, n: int) -> list[float]:
    database = pg.create_database()
    folder = Path(tempfile.mkdtemp(prefix="butlers-bench-cancel-"))
    pool = await create_pool(pg.address, database)
    config = ButlerConfig(name="bench", description="", port=1, schedules=[], env=EnvConfig(),
                          agent=AgentConfig(timeout_s=600, max_concurrency=1), modules={},
                          directory=folder)  # fmt: skip
    latencies = []
    try:
        async with ModelApiStandIn([Hang()] * n) as api, serve_asgi(_no_tools()) as mcp_url:
            env = {"ANTHROPIC_API_KEY": "sk-bench", "ANTHROPIC_BASE_URL": api.base_url}
            spawner = Spawner("bench", config, pool, f"{mcp_url}/mcp", folder / "data", {}, model_env=env)
            async with anyio.create_task_group() as tg:
                await tg.start(spawner.run)
                for i in range(n):
                    queued = await spawner.trigger(f"race {i}")
                    await anyio.sleep(random.uniform(0, 0.004))
                    started = time.perf_counter()
                    out = await spawner.cancel(queued.session_id)
                    latencies.append(time.perf_counter() - started)
                    assert out.status == "cancelled", out
                tg.cancel_scope.cancel()
    finally:
        await pool.close()
        pg.drop_database(database)
    return latencies


def _no_tools() -> Any:
    from fastmcp import FastMCP

    return FastMCP("bench").http_app(path="/mcp")


def show(label: str, rounds: list[tuple[float, float]]) -> None:
    notice = [r[0] for r in rounds]
    recover = [r[1] for r in rounds]
    print(f"{label:<38} notice {fmt(notice)}   recover {fmt(recover)}")


def fmt(values: list[float], unit: Callable[[float], str] = lambda v: f"{v:.2f} s") -> str:
    return f"median {unit(statistics.median(values))}, max {unit(max(values))}"


async def in_process(rounds: int, cancels: int, *, halfopen: bool = True) -> None:
    folder = Path(tempfile.mkdtemp(prefix="butlers-bench-pg-"))
    pg = TestPostgres(folder / "data")
    try:
        if halfopen:
            show("half-open connection (stalled)", await halfopen_rounds(pg, rounds))
        lat = await cancel_latencies(pg, cancels)
        label = f"cancel -> cancelled ({cancels} races)"
        print(f"{label:<38} p50 {lat_ms(statistics.median(lat))}, max {lat_ms(max(lat))}")
    finally:
        pg.stop()


def lat_ms(v: float) -> str:
    return f"{v * 1000:.1f} ms"


def main(rounds: int, cancels: int, writers: int, only: str | None) -> None:
    if only in (None, "load"):
        timelines = loaded_postmaster_rounds(rounds, writers)
        show(f"SIGKILL under load ({writers} writers)", [(t["notice"], t["recover"]) for t in timelines])
        show_timeline(timelines)
    if only == "load":
        return
    if only == "cancel":
        anyio.run(partial(in_process, rounds, cancels, halfopen=False))
        return
    show("postmaster killed (SIGKILL)", postmaster_rounds(rounds, signal.SIGKILL))
    show("server restarted (SIGINT, fast stop)", postmaster_rounds(rounds, signal.SIGINT))
    anyio.run(in_process, rounds, cancels)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="failures of each kind")
    parser.add_argument("--cancels", type=int, default=1000, help="cancel races (the issue's race test: 1,000)")
    parser.add_argument("--writers", type=int, default=8, help="MCP clients writing during the kill (load rounds)")
    parser.add_argument(
        "--only", choices=["load", "cancel"], help="only the kill under a write load, or only the cancel race"
    )
    args = parser.parse_args()
    main(args.rounds, args.cancels, args.writers, args.only)
