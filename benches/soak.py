"""Soak: one daemon through 10,000 tool calls and 500 agent sessions; prints the RSS and connection curve.

    uv run python benches/soak.py --quick     # 2,000 calls, 50 sessions
    uv run python benches/soak.py             # 10,000 calls, 500 sessions
    uv run python benches/soak.py --calls 5000 --sessions 100

One generated butler (no modules, `max_concurrency = 4`) in `.venv/bin/butlerd
serve`, temp butlers.d and data dir under /tmp. The model is
`butlers.testing.model_api.ModelApiStandIn`, running in this process and
answering every request at once; the daemon gets `ANTHROPIC_BASE_URL` (and a
dummy key) pointing at it, so each session runs the real Claude Code CLI.

Phase 1: tool calls over one MCP client (state_set, state_get, state_list in
turn). Phase 2: sessions through the `trigger` tool with `wait=true`, 4 at a
time. At each milestone (calls: 10 %, 50 %, 100 %; sessions: 20 %, 50 %, 100 %,
so 1k/5k/10k and 100/250/500 in the full run) it prints the daemon's VmRSS,
the client connections of the embedded PostgreSQL, and the Claude Code
processes under the daemon. After the sessions: leaked CLI processes (goal 0).

Goal (issue 14): RSS growth <= 10 % after warm-up (from the first milestone to
the last), PostgreSQL connections flat, no leaked Claude Code process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from common import Workspace, generated_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from fleet import connections
from floor import _cmdline, descendants, rss_kb

from butlers.testing.model_api import ModelApiStandIn

GROWTH_GOAL = 0.10


def claude_pids(daemon: int) -> list[int]:
    return [p for p in descendants(daemon) if "claude" in _cmdline(p)]


class Curve:
    """The milestones: (label, RSS MB, PostgreSQL client connections, CLI processes)."""

    def __init__(self, ws: Workspace, pid: int) -> None:
        self.ws, self.pid = ws, pid
        self.points: list[tuple[str, float, int, int]] = []

    async def mark(self, label: str) -> None:
        rss = rss_kb(self.pid) / 1024
        conns = await connections(self.ws.data_dir)
        clis = len(claude_pids(self.pid))
        self.points.append((label, rss, conns, clis))
        print(f"  {label:24} RSS {rss:7.1f} MB   postgres connections {conns:3}   claude processes {clis}", flush=True)


def milestones(total: int, fractions: tuple[float, ...]) -> set[int]:
    return {max(1, round(total * f)) for f in fractions}


async def tool_calls(url: str, total: int, curve: Curve) -> None:
    marks = milestones(total, (0.1, 0.5, 1.0))
    t = time.perf_counter()
    async with Client(url, timeout=60) as c:
        for i in range(1, total + 1):
            key = f"soak/{i % 100}"
            match i % 3:
                case 0:
                    await c.call_tool("state_set", {"key": key, "value": {"i": i}})
                case 1:
                    await c.call_tool("state_get", {"key": key}, raise_on_error=False)
                case _:
                    await c.call_tool("state_list", {"prefix": "soak/"})
            if i in marks:
                await curve.mark(f"after {i} calls")
    took = time.perf_counter() - t
    print(f"  {total} calls in {took:.1f}s ({total / took:.0f}/s)")


async def sessions(url: str, total: int, curve: Curve) -> int:
    marks = milestones(total, (0.2, 0.5, 1.0))
    done = 0
    failed = 0
    t = time.perf_counter()
    lock = anyio.Lock()

    async def worker(count: int) -> None:
        nonlocal done, failed
        async with Client(url, timeout=300) as c:
            for _ in range(count):
                r = await c.call_tool("trigger", {"prompt": "Say ok.", "wait": True})
                async with lock:
                    done += 1
                    failed += (r.structured_content or {}).get("status") != "succeeded"
                    if done in marks:
                        await curve.mark(f"after {done} sessions")

    async with anyio.create_task_group() as tg:
        for w in range(4):
            tg.start_soon(worker, total // 4 + (1 if w < total % 4 else 0))
    took = time.perf_counter() - t
    print(f"  {total} sessions in {took:.1f}s ({total / took:.2f}/s); not succeeded: {failed}")
    return failed


def setup(ws: Workspace) -> str:
    [name] = ws.ports
    toml = ws.butlers_dir / name / "butler.toml"
    toml.write_text(toml.read_text() + "\n[butler.agent]\nmax_concurrency = 4\nmax_turns = 2\n")
    return ws.urls[name]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 calls and 50 sessions")
    ap.add_argument("--calls", type=int, default=None)
    ap.add_argument("--sessions", type=int, default=None)
    args = ap.parse_args()
    calls = args.calls or (2000 if args.quick else 10_000)
    n_sessions = args.sessions or (50 if args.quick else 500)
    return anyio.run(run, calls, n_sessions)


async def run(calls: int, n_sessions: int) -> int:
    ws = generated_workspace(1, prefix="butlers-bench-soak-")
    url = setup(ws)
    log = ws.root / "butlerd.log"
    async with ModelApiStandIn() as api:  # an empty script: every request gets a text answer at once
        os.environ.update(ANTHROPIC_BASE_URL=api.base_url, ANTHROPIC_API_KEY="sk-bench-soak")
        proc = None
        try:
            proc, took = await anyio.to_thread.run_sync(lambda: start_and_wait(ws, log, deadline_s=300))
            print(f"daemon pid {proc.pid} answering after {took:.1f}s; {calls} calls, {n_sessions} sessions")
            curve = Curve(ws, proc.pid)
            await curve.mark("idle after start")
            await tool_calls(url, calls, curve)
            failed = await sessions(url, n_sessions, curve)
            with anyio.fail_after(30):  # the CLI processes of ended sessions must go
                while claude_pids(proc.pid):  # noqa: ASYNC110 - polling the process table is the check
                    await anyio.sleep(0.2)
            leaked = len(claude_pids(proc.pid))
        finally:
            if proc is not None:
                code = (await anyio.to_thread.run_sync(stop_daemon, ws, proc))[0]
                print(f"daemon stopped: exit {code}")
            ws.cleanup()
    print(f"model requests answered by the stand-in: {len(api.requests)}")
    return report(curve, leaked, failed)


def report(curve: Curve, leaked: int, failed: int) -> int:
    pts = curve.points
    calls = [p for p in pts if p[0].endswith("calls")]
    sess = [p for p in pts if p[0].endswith("sessions")]
    warm = calls[0][1]
    growth = (pts[-1][1] - warm) / warm
    call_growth = (calls[-1][1] - calls[0][1]) / calls[0][1]
    sess_growth = (sess[-1][1] - sess[0][1]) / sess[0][1]
    conns = [p[2] for p in pts[1:]]
    print()
    print(f"RSS growth over the calls ({calls[0][0]} -> {calls[-1][0]}): {call_growth * 100:+.1f} %")
    print(f"RSS growth over the sessions ({sess[0][0]} -> {sess[-1][0]}): {sess_growth * 100:+.1f} %")
    ok_growth = growth <= GROWTH_GOAL
    print(
        f"RSS growth after warm-up ({calls[0][0]} -> end): {growth * 100:+.1f} % "
        f"(goal <= {GROWTH_GOAL * 100:.0f} %: {'PASS' if ok_growth else 'FAIL'})"
    )
    flat = max(conns) - min(conns) <= 4  # a pool may open up to its max_size under load, then holds them
    print(f"postgres client connections over time: {conns} ({'flat' if flat else 'NOT flat'})")
    print(f"leaked Claude Code processes after the sessions: {leaked} ({'PASS' if leaked == 0 else 'FAIL'})")
    return 0 if ok_growth and flat and leaked == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
