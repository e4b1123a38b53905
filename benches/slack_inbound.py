"""Slack inbound latency: an event sent by Slack (the stand-in) to its inbound message stored.

    uv run python benches/slack_inbound.py            # 200 events per mode
    uv run python benches/slack_inbound.py --n 50     # quicker

Both ways events arrive, through slack-sdk and the module as a butler runs it (embedded
PostgreSQL, the butler's inbound log, no dispatcher so nothing is handed off):
- Socket Mode: from the stand-in sending the envelope on the websocket to the module's ack
  arriving back (the module acks only once the message is stored);
- Events API: from the stand-in's signed POST to the butler's HTTP route to its 200 answer
  (the route answers only once the message is stored).
Both include the way back (ack / response), so they are upper bounds. Goal: p50 <= 20 ms.
Events are sent one at a time. Every event is checked to be stored exactly once. For the Events
API the same run also times an empty POST to the same server (its HTTP floor).
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import asyncpg
import httpx
import structlog
from fastmcp import FastMCP

from butlers.core.inbound import InboundLog
from butlers.db import create_pool
from butlers.http import bind, make_server
from butlers.modules.base import ModuleContext
from butlers.modules.slack import APP_TOKEN_ENV, BOT_TOKEN_ENV, SIGNING_SECRET_ENV, SlackConfig, SlackModule
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres
from butlers.testing.slack_api import SlackAPI

SECRET = "bench-signing-secret"
CHANNEL, USER = "C0BENCH", "U0BENCH"


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"p50 {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms   max {ms[-1]:6.2f} ms   (n={len(ms)})"


async def run_mode(pool: asyncpg.Pool, mode: str, n: int) -> list[float]:
    slack = SlackAPI()
    slack.add_channel(CHANNEL, "bench")
    slack.add_user(USER, "bench")
    async with serve_asgi(slack.app) as api_url:
        config = SlackConfig(mode=mode, api_base_url=f"{api_url}/api", allowed_channels=[CHANNEL])  # type: ignore[arg-type]
        module = SlackModule(config)
        creds = {BOT_TOKEN_ENV: slack.bot_token, APP_TOKEN_ENV: slack.app_token, SIGNING_SECRET_ENV: SECRET}
        tmp = Path(tempfile.mkdtemp(prefix="slack-bench-"))
        ctx = ModuleContext("bench", pool, tmp, tmp, creds, inbound=InboundLog(pool, None, "bench"))
        await module.on_startup(ctx)
        mcp = FastMCP("bench")
        module.register_tools(mcp, ctx)
        # The butler's HTTP port as the daemon serves it (butlers.http: its socket options, its uvicorn).
        port = free_port()
        server = make_server(mcp.http_app(path="/mcp"), "127.0.0.1", port, 1.0)
        try:
            async with anyio.create_task_group() as outer:
                outer.start_soon(server.serve, [bind("127.0.0.1", port, "bench")])
                await server.ready.wait()
                async with anyio.create_task_group() as tg:
                    await tg.start(module.serve, ctx)
                    events_url = f"http://127.0.0.1:{port}/slack/events"
                    samples = await (_socket(slack, n) if mode == "socket" else _events(slack, events_url, n))
                    tg.cancel_scope.cancel()
                server.should_exit = True
        finally:
            await module.on_shutdown(ctx)
    stored = await pool.fetchval("SELECT count(*) FROM inbound_messages WHERE metadata->>'team' = $1", slack.team)
    assert stored == n + 5, f"{mode}: {stored} stored for {n + 5} events"  # 5 warm-up events
    await pool.execute("DELETE FROM inbound_messages")
    return samples


async def _socket(slack: SlackAPI, n: int) -> list[float]:
    with anyio.fail_after(30):
        while slack.socket.connected == 0:  # noqa: ASYNC110 - the module connects in the background
            await anyio.sleep(0.01)
    samples = []
    for i in range(n + 5):
        payload = slack.user_says(CHANNEL, USER, f"event {i}")
        t0 = time.perf_counter()
        envelope_id = slack.socket.send_event(payload)
        await slack.socket.wait_acked(envelope_id)
        if i >= 5:
            samples.append(time.perf_counter() - t0)
    return samples


async def _events(slack: SlackAPI, url: str, n: int) -> list[float]:
    samples = []
    # Slack keeps its connections open; TCP_NODELAY so that the client's two writes (headers, body)
    # are not held by Nagle's algorithm against the server's delayed ACK (~40 ms of the client's own).
    transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    async with httpx.AsyncClient(timeout=10, transport=transport) as client:
        for i in range(n + 5):
            payload = slack.user_says(CHANNEL, USER, f"event {i}")
            t0 = time.perf_counter()
            response = await slack.post_event(url, payload, SECRET, client=client)
            samples.append(time.perf_counter() - t0)
            assert response.status_code == 200 and response.json()["outcome"] == "received", response.text
        floor = []  # the same server and client, a route that does nothing (404): HTTP's share of the figure
        for _ in range(n):
            t0 = time.perf_counter()
            await client.post(f"{url}-floor", content=b"{}", headers={"Content-Type": "application/json"})
            floor.append(time.perf_counter() - t0)
    print(f"(floor: an empty POST round trip to the same server: p50 {statistics.median(floor) * 1000:.2f} ms)")
    return samples[5:]


async def main(n: int) -> None:
    # One info line per stored message would be timed too: warnings only, as a quiet daemon logs.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    pg = TestPostgres(Path(tempfile.mkdtemp(prefix="slack-bench-pg-")) / "data")
    try:
        pool = await create_pool(pg.address, pg.create_database())
        try:
            for mode in ("socket", "events"):
                samples = await run_mode(pool, mode, n)
                print(f"slack {mode:6} event -> stored inbound message: {percentiles(samples)}   goal p50 <= 20 ms")
        finally:
            await pool.close()
    finally:
        pg.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="events per mode (after 5 warm-up events)")
    anyio.run(main, parser.parse_args().n)
