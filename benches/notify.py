"""Delivery figures of `notify` and tool-mode schedules, in one process with real parts.

    uv run python benches/notify.py            # 100 notifications, 100 tool-mode windows
    uv run python benches/notify.py --quick    # 20 and 20

1. `notify` called over MCP on a butler without channels (`general`) until the Telegram Bot-API
   stand-in has accepted the message from the switchboard: p50/p95 (ms). The in-process hop to the
   switchboard, the notifications row, python-telegram-bot's HTTP call and the stand-in are all in it.
2. The same with the stand-in failing once with 429 `retry_after=1`: the wait the channel asked
   for is honoured (expect ~1000 ms more), not hammered.
3. Tool-mode schedules: N one-shot windows due at once, one `tick`: ms per window (claim, run the
   butler's own `state_set` in-process, record the outcome), and model requests (always 0).

A daemon (two butlers, the switchboard with the telegram and notify modules) runs in this process
on a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
from fastmcp import Client

from butlers.config import ScheduleConfig, discover
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port
from butlers.testing.postgres import TestPostgres
from butlers.testing.telegram_api import TelegramBotAPI

TOKEN = "555:bench"
CHAT = 4242


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def write(root: Path, url: str) -> dict[str, int]:
    ports = {"switchboard": free_port(), "general": free_port()}
    modules = (
        f'[modules.telegram]\napi_base_url = "{url}"\nallowed_chat_ids = [{CHAT}]\n'
        f"[modules.notify]\n[modules.notify.owner]\ntelegram_chat_id = {CHAT}\n"
    )
    for name, extra in (("switchboard", modules), ("general", "")):
        (root / name).mkdir(parents=True)
        (root / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {ports[name]}\n{extra}')
    return ports


async def notify_latency(port: int, standin: TelegramBotAPI, n: int) -> list[float]:
    out = []
    async with Client(f"http://127.0.0.1:{port}/mcp") as client:
        for i in range(n):
            before = len(standin.sent)
            started = time.perf_counter()
            await client.call_tool("notify", {"message": f"bench {i}"})
            assert len(standin.sent) == before + 1
            out.append((time.perf_counter() - started) * 1000)
    return out


async def tool_windows(supervisor: Supervisor, n: int) -> float:
    general = supervisor.butlers["general"]
    at = datetime.now(UTC) + timedelta(seconds=1)
    for i in range(n):
        spec = ScheduleConfig(name=f"w{i}", at=at, tool="state_set", args={"key": f"k{i}", "value": i})
        await general.scheduler.create(spec)
    started = time.perf_counter()
    fired = await general.scheduler.claim_due(now=at)  # the moment they are due
    elapsed = (time.perf_counter() - started) * 1000
    assert len(fired) == n
    ok = await general.pool.fetchval("SELECT count(*) FROM schedule_runs WHERE tool_status = 'succeeded'")
    assert ok == n, ok
    return elapsed / n


async def main(quick: bool) -> None:
    n = 20 if quick else 100
    tmp = Path(tempfile.mkdtemp(prefix="butlers-bench-notify-"))
    pg = TestPostgres(tmp / "pg")
    os.environ["BUTLER_TELEGRAM_TOKEN"] = TOKEN
    standin = TelegramBotAPI(TOKEN)
    try:
        async with serve_asgi(standin.app) as url:
            ports = write(tmp / "butlers.d", url)
            a = pg.address
            settings = Settings(dir=tmp / "butlers.d", data_dir=tmp / "data", postgres_host=a.host,
                                postgres_port=a.port, postgres_user=a.user, postgres_password=a.password,
                                heartbeat_interval_s=3600)  # fmt: skip
            configs, errors = discover(settings.dir)
            supervisor = Supervisor(settings, configs, errors)
            async with anyio.create_task_group() as tg:
                await tg.start(supervisor.run)
                await notify_latency(ports["general"], standin, 5)  # warm-up
                plain = await notify_latency(ports["general"], standin, n)
                print(f"notify -> accepted by the stand-in, {n} calls: p50 {statistics.median(plain):.1f} ms,"
                      f" p95 {pct(plain, 95):.1f} ms")  # fmt: skip
                standin.fail_next("sendMessage", 429, retry_after=1)
                [throttled] = await notify_latency(ports["general"], standin, 1)
                print(f"notify with one 429 retry_after=1: {throttled:.0f} ms")
                per_window = await tool_windows(supervisor, n)
                sessions = await supervisor.butlers["general"].pool.fetchval("SELECT count(*) FROM sessions")
                print(
                    f"tool-mode windows: {n} due at once, {per_window:.2f} ms per window; sessions/model requests: {sessions}"
                )
                supervisor.request_stop()
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer calls.")
    anyio.run(main, parser.parse_args().quick)
