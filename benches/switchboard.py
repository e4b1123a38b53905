"""Switchboard routing figures: in-process `route` overhead, rule-path dispatch latency, classification cost.

    uv run python benches/switchboard.py            # 300 calls / messages each
    uv run python benches/switchboard.py --quick    # 100

The shipped butlers.d is served by an in-process Supervisor on an embedded
PostgreSQL of its own (temp dir), with no model credential for sessions, so a
queued session is refused at once instead of starting Claude Code.

1. `route` → general's `state_get`, called over HTTP on the switchboard, vs
   `state_get` called over HTTP on general's own port (same client, same run).
   The p50 difference is the in-process hop's overhead. Goal: <= 0.5 ms.
   Also the hop alone: `route`'s in-process call vs FastMCP's own call_tool.
2. Rule path: an inbound message recorded → its target session queued (the
   inbound log's receive, rules, routing log, enqueue on the target); p50 of
   the wall time and of the database's stored_at → queued_at. Goal: <= 20 ms.
3. Classification: model requests per message (goal 1) and the prompt's size,
   against the model stand-in (its token counts are scripted, so the prompt's
   characters / 4 is printed as the estimate for a real model).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import anyio
from fastmcp import Client

from butlers.config import discover
from butlers.core.agent_env import MODEL_CREDENTIALS
from butlers.core.inbound import InboundMessage
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.switchboard.classify import Classifier, system_prompt, user_prompt
from butlers.switchboard.route import call_tool
from butlers.telemetry import configure_logging
from butlers.testing.model_api import ModelApiStandIn, classification_answer
from butlers.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
RULE = '\n[[modules.switchboard.rule]]\nname = "weight"\nbutler = "health"\npatterns = [\'^\\d+(\\.\\d+)? ?kg$\']\n'


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def workspace(tmp: Path) -> Path:
    root = tmp / "butlers.d"
    shutil.copytree(ROOT / "butlers.d", root)
    for toml in root.glob("*/butler.toml"):
        text = re.sub(r"(?m)^port = \d+$", f"port = {free_port()}", toml.read_text())
        if toml.parent.name == "switchboard":
            text += RULE
        toml.write_text(text)
    return root


async def paired_http(
    direct: tuple[str, str, dict[str, object]], routed: tuple[str, str, dict[str, object]], n: int
) -> tuple[list[float], list[float]]:
    """Both calls, alternating, each on its own open client: the same machine noise lands on both sides."""
    times: tuple[list[float], list[float]] = ([], [])
    async with Client(direct[0], timeout=10) as a, Client(routed[0], timeout=10) as b:
        for i in range(n + 20):
            order = [(0, a, direct), (1, b, routed)] if i % 2 else [(1, b, routed), (0, a, direct)]
            for side, client, (_, tool, args) in order:
                start = time.perf_counter()
                await client.call_tool(tool, args)
                if i >= 20:  # after a warm-up
                    times[side].append((time.perf_counter() - start) * 1000)
    return times


async def bench_route(supervisor: Supervisor, n: int) -> None:
    general = supervisor.butlers["general"]
    await general.state.set("bench/key", {"a": 1})
    board_url, general_url = supervisor.butlers["switchboard"].mcp_url, general.mcp_url
    args = {"key": "bench/key"}
    route_args: dict[str, object] = {"butler": "general", "tool": "state_get", "arguments": args}
    direct, routed = await paired_http((general_url, "state_get", args), (board_url, "route", route_args), n)
    assert general.mcp is not None
    hop, own = [], []
    for _ in range(n):
        start = time.perf_counter()
        await call_tool(supervisor.butlers, "general", "state_get", args)
        hop.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await general.mcp.call_tool("state_get", args)
        own.append((time.perf_counter() - start) * 1000)
    d, r = pct(direct, 50), pct(routed, 50)
    paired = statistics.median(x - y for x, y in zip(routed, direct, strict=True))
    print(f"route over HTTP     p50 {r:.2f} ms  p95 {pct(routed, 95):.2f} ms  (n={n}, interleaved with the next)")
    print(f"state_get over HTTP p50 {d:.2f} ms  p95 {pct(direct, 95):.2f} ms")
    print(f"in-process overhead: p50 difference {r - d:.2f} ms; median of paired differences {paired:.2f} ms"
          "  (goal <= 0.5 ms)")  # fmt: skip
    print(f"hop alone: route's call_tool p50 {pct(hop, 50):.3f} ms vs FastMCP call_tool p50 {pct(own, 50):.3f} ms")


async def bench_rule_path(supervisor: Supervisor, n: int) -> None:
    board = supervisor.butlers["switchboard"]
    health = supervisor.butlers["health"]
    wall = []
    for i in range(n):
        msg = InboundMessage(channel="bench", external_id=str(uuid.uuid4()), sender="me", text=f"{70 + i % 20} kg",
                             received_at=datetime.now(UTC))  # fmt: skip
        start = time.perf_counter()
        await board.inbound.receive(msg)
        wall.append((time.perf_counter() - start) * 1000)
    rows = await board.pool.fetch("SELECT id, stored_at FROM inbound_messages WHERE channel = 'bench'")
    stored = {str(r["id"]): r["stored_at"] for r in rows}
    queued = await health.pool.fetch(
        "SELECT context->'origin'->>'inbound_id' AS inbound, queued_at FROM sessions WHERE trigger_source = 'route'"
    )
    db = [(q["queued_at"] - stored[q["inbound"]]).total_seconds() * 1000 for q in queued if q["inbound"] in stored]
    assert len(db) == n, (len(db), n)
    print(f"rule path recorded→queued: wall p50 {pct(wall, 50):.2f} ms p95 {pct(wall, 95):.2f} ms; "
          f"database stored_at→queued_at p50 {pct(db, 50):.2f} ms  (goal <= 20 ms, n={n})")  # fmt: skip


async def bench_classification(supervisor: Supervisor, n: int, tmp: Path) -> None:
    async with ModelApiStandIn() as api:
        env = {"ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": api.base_url}
        classifier = Classifier("claude-haiku-4-5", 512, 30, tmp / "classify", model_env=env)
        targets = {name: b.config.description for name, b in supervisor.butlers.items() if name != "switchboard"}
        message = "weighed 81.2 kg this morning, and Anna's birthday is on Friday"
        latency = []
        for _ in range(n):
            api.push_classification(classification_answer(("health", "81.2 kg"), ("relationship", "Anna Friday")))
            start = time.perf_counter()
            result = await classifier.classify(message, targets)
            latency.append((time.perf_counter() - start) * 1000)
            assert len(result.parts) == 2
        chars = len(system_prompt(targets)) + len(user_prompt(message))
        print(f"classification: {classifier.requests / n:.2f} model requests per message (goal 1); prompt {chars} "
              f"characters ≈ {chars // 4} input tokens; answer ≈ 40 output tokens; stand-in round trip "
              f"p50 {pct(latency, 50):.2f} ms")  # fmt: skip


async def main(n: int) -> None:
    for name in MODEL_CREDENTIALS:  # sessions must be refused at once, not start Claude Code
        os.environ.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="butlers-bench-sb-") as tmp_dir:
        tmp = Path(tmp_dir)
        configs, errors = discover(workspace(tmp))
        assert not errors, errors
        settings = Settings(dir=tmp / "butlers.d", data_dir=tmp / "data", log_level="warning", log_format="console")
        configure_logging(settings)
        supervisor = Supervisor(settings, configs)
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            print(f"(figures taken on a shared machine, under load; {os.cpu_count()} cores)")
            await bench_route(supervisor, n)
            await bench_rule_path(supervisor, n)
            await bench_classification(supervisor, n, tmp)
            supervisor.request_stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 calls/messages instead of 300")
    args = parser.parse_args()
    sys.exit(anyio.run(main, 100 if args.quick else 300))
