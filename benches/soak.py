"""Soak: one daemon through 10,000 tool calls and 500 agent sessions; prints the RSS and connection curve.

    uv run python benches/soak.py --quick     # 2,000 calls, 50 sessions
    uv run python benches/soak.py             # 10,000 calls, 500 sessions
    uv run python benches/soak.py --calls 5000 --sessions 100

One generated butler (no modules, `max_concurrency = 4`) in `.venv/bin/butlerd
serve`, temp butlers.d and data dir under /tmp. The model is
`butlers.testing.model_api.ModelApiStandIn`, running in this process and
answering every request at once; the daemon gets `ANTHROPIC_BASE_URL` (and a
dummy key) pointing at it, so each session runs the real Claude Code CLI.

Phase 1: tool calls from `--clients` MCP clients at once (state_set with the
operator token, state_get, state_list in turn). Phase 2: sessions through the
`trigger` tool with `wait=true`, `--concurrency` at a time (also the butler's
`max_concurrency`). `--overlap` runs both phases together. At each milestone (calls: 10 %, 50 %, 100 %; sessions: 20 %, 50 %, 100 %,
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
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from common import Workspace, generated_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from fleet import connections
from floor import _all_pids, _cmdline, descendants, rss_kb

from butlers.auth import TOKEN_FILE
from butlers.pool_budget import MAX_POOL
from butlers.testing.model_api import ModelApiStandIn

GROWTH_GOAL = 0.10


def claude_pids(daemon: int) -> list[int]:
    return [p for p in descendants(daemon) if "claude" in _cmdline(p)]


def stray_claude_pids(base_url: str, daemon: int) -> list[int]:
    """Claude Code processes anywhere (also re-parented to init) started with this run's stand-in URL."""
    tag = f"ANTHROPIC_BASE_URL={base_url}".encode()
    out = []
    for p in _all_pids():
        if p == daemon or "claude" not in _cmdline(p):
            continue
        try:
            env = Path(f"/proc/{p}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if tag in env:
            out.append(p)
    return out


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


async def tool_calls(url: str, token: str, total: int, clients: int, curve: Curve) -> None:
    """`total` calls shared by `clients` MCP clients at once; the curve is marked when the count passes a milestone."""
    marks = milestones(total, (0.1, 0.5, 1.0))
    done = 0
    lock = anyio.Lock()
    t = time.perf_counter()

    async def one(c: Client, i: int) -> None:
        key = f"soak/{i % 100}"
        match i % 3:
            case 0:
                await c.call_tool("state_set", {"key": key, "value": {"i": i}})
            case 1:
                await c.call_tool("state_get", {"key": key}, raise_on_error=False)
            case _:
                await c.call_tool("state_list", {"prefix": "soak/"})

    async def client(w: int) -> None:
        nonlocal done
        async with Client(url, timeout=120, auth=token) as c:  # state_set is an operator action
            for i in range(w + 1, total + 1, clients):
                await one(c, i)
                async with lock:  # the others go on calling while one client reads the milestone
                    done += 1
                    if done in marks:
                        await curve.mark(f"after {done} calls")

    async with anyio.create_task_group() as tg:
        for w in range(clients):
            tg.start_soon(client, w)
    took = time.perf_counter() - t
    print(f"  {total} calls from {clients} clients in {took:.1f}s ({total / took:.0f}/s)", flush=True)


async def sessions(url: str, total: int, concurrency: int, curve: Curve) -> int:
    marks = milestones(total, (0.2, 0.5, 1.0))
    done = 0
    reasons: Counter[str] = Counter()
    t = time.perf_counter()
    lock = anyio.Lock()

    async def worker(count: int) -> None:
        nonlocal done
        async with Client(url, timeout=900) as c:  # a starved machine may take minutes for a session
            for _ in range(count):
                r = await c.call_tool("trigger", {"prompt": "Say ok.", "wait": True}, raise_on_error=False)
                record = r.structured_content or {}
                async with lock:
                    done += 1
                    if r.is_error or record.get("status") != "succeeded":
                        reason = f"{record.get('status', 'tool error')}: {str(record.get('error') or r.content)[:160]}"
                        if reason not in reasons:
                            print(f"  session not succeeded: {reason}", flush=True)
                        reasons[reason] += 1
                    if done in marks:
                        await curve.mark(f"after {done} sessions")

    async with anyio.create_task_group() as tg:
        for w in range(concurrency):
            tg.start_soon(worker, total // concurrency + (1 if w < total % concurrency else 0))
    took = time.perf_counter() - t
    failed = sum(reasons.values())
    print(
        f"  {total} sessions, {concurrency} at a time, in {took:.1f}s ({total / took:.2f}/s); not succeeded: {failed}",
        flush=True,
    )
    return failed


def setup(ws: Workspace, concurrency: int) -> str:
    [name] = ws.ports
    toml = ws.butlers_dir / name / "butler.toml"
    agent = f"\n[butler.agent]\nmax_concurrency = {concurrency}\nmax_turns = 2\n"
    toml.write_text(toml.read_text() + agent)
    return ws.urls[name]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2,000 calls and 50 sessions")
    ap.add_argument("--calls", type=int, default=None)
    ap.add_argument("--sessions", type=int, default=None)
    ap.add_argument("--clients", type=int, default=4, help="MCP clients calling tools at once")
    ap.add_argument("--concurrency", type=int, default=8, help="sessions at once (the butler's max_concurrency, <= 32)")
    ap.add_argument("--overlap", action="store_true", help="the calls and the sessions at the same time")
    args = ap.parse_args()
    calls = args.calls or (2000 if args.quick else 10_000)
    n_sessions = args.sessions or (50 if args.quick else 500)
    return anyio.run(run, calls, n_sessions, args.clients, args.concurrency, args.overlap)


async def load(url: str, token: str, calls: tuple[int, int], runs: tuple[int, int], curve: Curve, overlap: bool) -> int:
    """The tool calls, then the sessions (or both at once): how many sessions did not succeed."""
    failed = 0

    async def the_sessions() -> None:
        nonlocal failed
        failed = await sessions(url, *runs, curve)

    if not overlap:
        await tool_calls(url, token, *calls, curve)
        await the_sessions()
        return failed
    async with anyio.create_task_group() as tg:
        tg.start_soon(tool_calls, url, token, *calls, curve)
        tg.start_soon(the_sessions)
    return failed


async def run(calls: int, n_sessions: int, clients: int, concurrency: int, overlap: bool) -> int:
    ws = generated_workspace(1, prefix="butlers-bench-soak-")
    url = setup(ws, concurrency)
    log = ws.root / "butlerd.log"
    async with ModelApiStandIn() as api:  # an empty script: every request gets a text answer at once
        # The SDK waits 60 s for the CLI to initialise; a CLI starved of CPU on a shared machine takes
        # longer, and the soak is about memory and leaks, not that wait (CLAUDE_CODE_STREAM_CLOSE_TIMEOUT, ms).
        os.environ.update(
            ANTHROPIC_BASE_URL=api.base_url,
            ANTHROPIC_API_KEY="sk-bench-soak",
            CLAUDE_CODE_STREAM_CLOSE_TIMEOUT="600000",
        )
        proc = None
        try:
            proc, took = await anyio.to_thread.run_sync(lambda: start_and_wait(ws, log, deadline_s=300))
            print(f"daemon pid {proc.pid} answering after {took:.1f}s; {calls} calls, {n_sessions} sessions")
            curve = Curve(ws, proc.pid)
            await curve.mark("idle after start")
            token = (ws.data_dir / TOKEN_FILE).read_text().strip()
            failed = await load(url, token, (calls, clients), (n_sessions, concurrency), curve, overlap)
            with anyio.move_on_after(30):  # the CLI processes of ended sessions must go
                while stray_claude_pids(api.base_url, proc.pid):  # noqa: ASYNC110 - polling the process table
                    await anyio.sleep(0.2)
            leaked = len(stray_claude_pids(api.base_url, proc.pid))
            await curve.mark("idle after the sessions")
        finally:
            if proc is not None:
                code = (await anyio.to_thread.run_sync(stop_daemon, ws, proc))[0]
                print(f"daemon stopped: exit {code}")
            ws.cleanup()
    print(f"model requests answered by the stand-in: {len(api.requests)}")
    return report(curve, leaked, failed)


def report(curve: Curve, leaked: int, failed: int) -> int:
    pts = curve.points
    calls = [p for p in pts if p[0].endswith(" calls")]
    sess = [p for p in pts if p[0].startswith("after ") and p[0].endswith(" sessions")]
    warm = pts[1]  # the first milestone: pools, caches and the first CLI launch are behind it
    growth = (max(p[1] for p in pts[1:]) - warm[1]) / warm[1]  # the highest reading after it, not only the last
    conns = [p[2] for p in pts]
    print()
    for what, xs in (("calls", calls), ("sessions", sess)):
        print(
            f"RSS growth over the {what} ({xs[0][0]} -> {xs[-1][0]}): {(xs[-1][1] - xs[0][1]) / xs[0][1] * 100:+.1f} %"
        )
    ok_growth = growth <= GROWTH_GOAL
    print(
        f"RSS growth after warm-up ({warm[0]} -> highest reading after it): {growth * 100:+.1f} % "
        f"(goal <= {GROWTH_GOAL * 100:.0f} %: {'PASS' if ok_growth else 'FAIL'})"
    )
    # Busy, the pool opens up to its max_size and holds them (asyncpg closes idle ones after 5 minutes);
    # a connection leaked per call or per session would pass that cap within the run.
    flat = max(conns) <= conns[0] + MAX_POOL
    print(
        f"postgres client connections over time: {conns} "
        f"(goal: never above idle {conns[0]} + the pool's max_size {MAX_POOL}: {'flat' if flat else 'NOT flat'})"
    )
    print(f"leaked Claude Code processes after the sessions: {leaked} ({'PASS' if leaked == 0 else 'FAIL'})")
    print(f"sessions not succeeded: {failed}")
    return 0 if ok_growth and flat and leaked == 0 and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
