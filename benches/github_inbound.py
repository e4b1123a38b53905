"""Inbound GitHub event to stored inbound message, p50/p95 (goal: p50 <= 20 ms).

    uv run python benches/github_inbound.py            # 200 webhook deliveries, 200 polled notifications
    uv run python benches/github_inbound.py --quick    # 50 of each

Real parts: an embedded PostgreSQL (butlers.testing.postgres), the github module started as a
butler starts it, the GitHub stand-in (butlers.testing.github_api) over HTTP, githubkit.

1. Webhook: the stand-in POSTs a signed `issue_comment` delivery (a new X-GitHub-Delivery each
   time) to the module's route, served by uvicorn; timed from the POST to the answer, which
   comes after the message is stored (202).
2. Polled notification: a new notification appears on the stand-in; one poll (`GET
   /notifications` with If-Modified-Since, githubkit parsing, the store) is timed from its
   start to its end. The poll interval itself is not counted: it is GitHub's to choose.

No dispatcher is attached (the message stays `received`): the hand-off to a session is the
spawner's cost, measured by benches/spawner.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import structlog
from fastmcp import FastMCP

from butlers.core.inbound import InboundLog
from butlers.db import create_pool
from butlers.modules.base import ModuleContext
from butlers.modules.github import TOKEN_ENV, GithubConfig, GithubModule
from butlers.modules.github.inbound import PollState, poll_notifications
from butlers.testing.asgi import serve_asgi
from butlers.testing.github_api import GitHubAPI
from butlers.testing.postgres import TestPostgres

TOKEN = "ghp_bench"
SECRET = "bench-webhook-secret-0123456789"
REPO = "octo/app"
GOAL_MS = 20.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, samples: list[tuple[float, float]]) -> None:
    """Wall time (what the goal is about) and this process's CPU time (sender + butler side) per event."""
    ms = [wall * 1000 for wall, _ in samples]
    cpu = [c * 1000 for _, c in samples]
    p50 = statistics.median(ms)
    verdict = "ok" if p50 <= GOAL_MS else "OVER GOAL"
    print(
        f"{name:<22} n={len(ms):<4} p50={p50:6.2f} ms  p95={pct(ms, 0.95):6.2f} ms  max={max(ms):6.2f} ms"
        f"  cpu p50={statistics.median(cpu):5.2f} ms  [{verdict}]"
    )


class Timer:
    """Wall and CPU time of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample = (time.perf_counter() - self.wall, time.process_time() - self.cpu)


async def webhook_samples(ctx: ModuleContext, standin: GitHubAPI, n: int, warmup: int) -> list[tuple[float, float]]:
    config = GithubConfig.model_validate({"inbound": "webhook", "webhook": {"secret": SECRET}})
    module = GithubModule(config)
    await module.on_startup(ctx)
    mcp = FastMCP("bench")
    module.register_tools(mcp, ctx)
    number = standin.add_issue(REPO, "Crash on start")
    payload = standin.event_payload(REPO, number, comment="Reproduced on 3.12.")
    out: list[tuple[float, float]] = []
    try:
        async with serve_asgi(mcp.http_app(path="/mcp")) as url, httpx.AsyncClient(timeout=10) as client:
            hook = f"{url}/github/webhook"
            for i in range(n + warmup):
                with Timer() as timer:
                    answer = await standin.deliver_webhook(hook, SECRET, "issue_comment", payload, client=client)
                if answer.status_code != 202:
                    raise RuntimeError(f"webhook answered {answer.status_code}: {answer.text}")
                if i >= warmup:
                    out.append(timer.sample)
    finally:
        await module.on_shutdown(ctx)
    return out


async def poll_samples(
    ctx: ModuleContext, standin: GitHubAPI, url: str, n: int, warmup: int
) -> list[tuple[float, float]]:
    config = GithubConfig(api_base_url=url, inbound="off")
    module = GithubModule(config)
    await module.on_startup(ctx)
    state = PollState()
    out: list[tuple[float, float]] = []
    try:
        await poll_notifications(module.client(), config, state, ctx)  # the first full read
        for i in range(n + warmup):
            standin.notes.clear()  # GitHub lists every unread thread: keep one, as after a mark-read
            standin.add_notification(REPO, standin.add_issue(REPO, f"Issue {i}"), reason="mention")
            with Timer() as timer:
                new = await poll_notifications(module.client(), config, state, ctx)
            if new != 1:
                raise RuntimeError(f"poll {i} stored {new} messages, expected 1")
            if i >= warmup:
                out.append(timer.sample)
    finally:
        await module.on_shutdown(ctx)
    return out


async def floor_samples(pool: Any, n: int) -> list[tuple[float, float]]:
    """The database's own part: one committed INSERT (what storing a message costs at least)."""
    await pool.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, body text)")
    out = []
    for _ in range(n):
        with Timer() as timer:
            await pool.execute("INSERT INTO bench_floor (body) VALUES ($1)", "x")
        out.append(timer.sample)
    return out


async def http_floor_samples(url: str, n: int) -> list[tuple[float, float]]:
    """A trivial request on this machine: one GET /rate_limit of the stand-in (no database)."""
    out = []
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"token {TOKEN}"}) as client:
        for _ in range(n):
            with Timer() as timer:
                (await client.get(f"{url}/rate_limit")).raise_for_status()
            out.append(timer.sample)
    return out


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-github-") as tmp:
        pg = TestPostgres(Path(tmp) / "pg")
        try:
            name = pg.create_database()
            pool = await create_pool(pg.address, name)
            inbound = InboundLog(pool, None, "bench")
            base: dict[str, Any] = {"butler": "bench", "pool": pool, "directory": Path(tmp), "data_dir": Path(tmp)}
            ctx = ModuleContext(**base, credentials={TOKEN_ENV: TOKEN}, inbound=inbound)
            standin = GitHubAPI(TOKEN, poll_interval=1)
            report("floor: one INSERT", await floor_samples(pool, n))
            async with serve_asgi(standin.app) as url:
                report("floor: one HTTP GET", await http_floor_samples(url, n))
                report("webhook -> stored", await webhook_samples(ctx, standin, n, warmup=10))
                report("notification -> stored", await poll_samples(ctx, standin, url, n, warmup=10))
            stored = await pool.fetchval("SELECT count(*) FROM inbound_messages WHERE channel = 'github'")
            print(f"inbound messages stored: {stored}")
            await pool.close()
        finally:
            pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 samples of each instead of 200")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"note: load average {load:.1f} on {os.cpu_count()} cores; under load wall times are upper bounds")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # no per-event lines
    anyio.run(main, 50 if args.quick else 200)
