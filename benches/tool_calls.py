"""Tool-call latency and throughput of the daemon's `state_get` against the floor's trivial tool.

    uv run python benches/tool_calls.py            # 1000 sequential calls, 64 clients for 20 s
    uv run python benches/tool_calls.py --quick    # 200 calls, 64 clients for 5 s
    uv run python benches/tool_calls.py --profile /tmp/prof   # also py-spy the daemon under load

1. One client (fastmcp.Client over streamable HTTP, one session, sequential):
   p50/p95/p99 of `state_get` on the general butler (key present, a small JSON
   value) after a warm-up, against the floor's trivial tool of the same name.
   Goal: p50 <= 1.2x the floor.
2. 64 concurrent clients (one session each) spread over the 4 butlers (and the
   floor's 4 apps), each calling in a loop for a fixed time: errors (goal 0)
   and calls/s (goal >= 0.8x the floor).

Daemon and floor run as subprocesses (`.venv/bin/butlerd serve`, benches/floor.py)
at the same time but are loaded one after the other; the clients all live in
this one process, which costs CPU on this 2-core machine for both alike.
With --profile DIR, the daemon is recorded by py-spy (path in $PY_SPY or
/tmp/pyspy-venv/bin/py-spy) during an extra concurrent phase; the raw
collapsed stacks are written to DIR (daemon.collapsed), with a summary by
package printed.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from common import make_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from floor import FLOOR_TOOL, free_ports, pct, start_floor, stop, url, wait_all_answer

from butlers.auth import TOKEN_FILE

P50_GOAL = 1.2
TPUT_GOAL = 0.8
KEY = "bench/key"


async def sequential(u: str, n: int, warmup: int) -> list[float]:
    out = []
    async with Client(u, timeout=10) as c:
        for i in range(n + warmup):
            t = time.perf_counter()
            r = await c.call_tool(FLOOR_TOOL, {"key": KEY}, raise_on_error=False)
            dt = time.perf_counter() - t
            if r.is_error:
                raise RuntimeError(f"tool error: {r.content}")
            if i >= warmup:
                out.append(dt)
    return out


async def concurrent(urls: list[str], clients: int, duration: float, max_calls: int) -> dict:
    ok = 0
    errors: collections.Counter[str] = collections.Counter()
    lat: list[float] = []
    start = anyio.Event()
    ready = 0
    t_end = 0.0

    async def worker(i: int) -> None:
        nonlocal ok, ready
        u = urls[i % len(urls)]
        try:
            async with Client(u, timeout=30) as c:
                # One call before the clock starts: the client lists the tools at its first call
                # (to read their output schemas), a once-per-session cost outside the steady state.
                await c.call_tool(FLOOR_TOOL, {"key": KEY}, raise_on_error=False)
                ready += 1
                await start.wait()
                while time.perf_counter() < t_end and ok + sum(errors.values()) < max_calls:
                    t = time.perf_counter()
                    try:
                        r = await c.call_tool(FLOOR_TOOL, {"key": KEY}, raise_on_error=False)
                    except Exception as exc:  # transport failure
                        errors[type(exc).__name__] += 1
                        continue
                    if r.is_error:
                        errors["tool_error"] += 1
                    else:
                        ok += 1
                        lat.append(time.perf_counter() - t)
        except Exception as exc:
            errors[f"session:{type(exc).__name__}"] += 1

    async with anyio.create_task_group() as tg:
        for i in range(clients):
            tg.start_soon(worker, i)
        with anyio.fail_after(60):
            while ready < clients and sum(errors.values()) == 0:  # noqa: ASYNC110 - counting, not waiting
                await anyio.sleep(0.05)
        t0 = time.perf_counter()
        t_end = t0 + duration
        start.set()
    elapsed = time.perf_counter() - t0
    return {"ok": ok, "errors": dict(errors), "elapsed": elapsed, "rate": ok / elapsed, "lat": lat}


def fmt_ms(xs: list[float]) -> str:
    return f"p50 {pct(xs, 0.5) * 1e3:6.2f}  p95 {pct(xs, 0.95) * 1e3:6.2f}  p99 {pct(xs, 0.99) * 1e3:6.2f} ms (n={len(xs)})"


def pyspy_path() -> str | None:
    cand = os.environ.get("PY_SPY") or shutil.which("py-spy") or "/tmp/pyspy-venv/bin/py-spy"
    return cand if Path(cand).exists() else None


LAYERS = {  # substring of a frame's file -> layer
    "our tool code (butlers.core/modules)": ("butlers/core/", "butlers/modules/"),
    "asyncpg (incl. waiting on PostgreSQL)": ("asyncpg/",),
    "pydantic (validation/serialisation)": ("pydantic/", "pydantic_core/"),
    "fastmcp": ("fastmcp/",),
    "mcp SDK": ("mcp/",),
    "starlette/sse_starlette": ("starlette/",),
    "uvicorn + h11": ("uvicorn/", "h11/"),
    "opentelemetry (no-op tracer)": ("opentelemetry/", "trace/propagation/", "trace/__init__", "context/"),
    "anyio": ("anyio/",),
    "structlog/logging": ("structlog/", "logging/"),
}


def _frame_file(frame: str) -> str:
    return frame.rsplit("(", 1)[-1]


def _leaf_layer(frame: str) -> str:
    f = _frame_file(frame)
    if "butlers/" in f and "site-packages" not in f:
        return (
            "butlers (other)"
            if not any(k in f for k in LAYERS["our tool code (butlers.core/modules)"])
            else "our tool code"
        )
    for name, keys in LAYERS.items():
        if any(k in f for k in keys):
            return name.split(" (")[0]
    if "asyncio/" in f or "selectors" in f:
        return "asyncio event loop"
    if "site-packages" in f:
        return f.split("site-packages/", 1)[1].split("/", 1)[0]
    return "stdlib/other: " + frame.split(" (", 1)[0]


def summarise_collapsed(path: Path) -> None:
    """Where the daemon's CPU goes: self time by package, and time with each layer on the stack."""
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        count = int(n)
        frames = stack.split(";")
        total += count
        leaf[_leaf_layer(frames[-1])] += count
        files = [_frame_file(f) for f in frames]
        for name, keys in LAYERS.items():
            if any(any(k in f for k in keys) for f in files):
                inclusive[name] += count
    print(f"py-spy samples (busy only): {total}")
    print("  self time by layer (innermost frame):")
    for p, c in leaf.most_common(14):
        print(f"    {p:44} {100 * c / total:5.1f}%")
    print("  time with the layer anywhere on the stack (inclusive):")
    for p, c in inclusive.most_common():
        print(f"    {p:44} {100 * c / total:5.1f}%")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--calls", type=int, default=None, help="sequential calls measured (after 50 warm-up)")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--duration", type=float, default=None, help="seconds of concurrent load")
    ap.add_argument("--max-calls", type=int, default=200_000, help="bound on calls in the concurrent phase")
    ap.add_argument("--profile", type=Path, default=None, help="py-spy the daemon under load; write into this folder")
    args = ap.parse_args()
    calls = args.calls or (200 if args.quick else 1000)
    duration = args.duration or (5.0 if args.quick else 20.0)

    ws = make_workspace()
    log = ws.root / "butlerd.log"
    fports = free_ports(4)
    fproc = start_floor(fports)
    proc = None
    ok = True
    try:
        proc, _ = start_and_wait(ws, log)
        anyio.run(wait_all_answer, [url(p) for p in fports], time.perf_counter(), 60.0, fproc)
        durls = list(ws.urls.values())
        furls = [url(p) for p in fports]

        token = (ws.data_dir / TOKEN_FILE).read_text().strip()  # state_set is an operator action

        async def seed() -> None:
            for u in durls:
                async with Client(u, timeout=10, auth=token) as c:
                    await c.call_tool("state_set", {"key": KEY, "value": {"n": 1, "tags": ["a", "b"]}})

        anyio.run(seed)
        general = ws.urls["general"]
        print(f"daemon pid {proc.pid} ({', '.join(f'{n}:{p}' for n, p in ws.ports.items())}); floor pid {fproc.pid}")

        # 1. one client, sequential. Interleave floor/daemon in two halves to share noise.
        d_lat, f_lat = [], []
        for _ in range(2):
            f_lat += anyio.run(sequential, furls[1], calls // 2, 50)
            d_lat += anyio.run(sequential, general, calls // 2, 50)
        print("\none client, sequential tools/call:")
        print(f"  floor  trivial tool : {fmt_ms(f_lat)}")
        print(f"  daemon state_get    : {fmt_ms(d_lat)}")

        # 2. 64 concurrent clients across the 4 apps.
        print(f"\n{args.clients} concurrent clients over 4 apps, {duration:g} s each:")
        fr = anyio.run(concurrent, furls, args.clients, duration, args.max_calls)
        dr = anyio.run(concurrent, durls, args.clients, duration, args.max_calls)
        for name, r in (("floor ", fr), ("daemon", dr)):
            print(
                f"  {name}: {r['ok']} ok, errors {r['errors'] or 0}, {r['rate']:.1f} calls/s, "
                f"latency {fmt_ms(r['lat'])}"
            )

        if args.profile:
            spy = pyspy_path()
            if spy is None:
                print(
                    "\n--profile: py-spy not found (uv venv /tmp/pyspy-venv && uv pip install --python /tmp/pyspy-venv/bin/python py-spy)"
                )
            else:
                args.profile.mkdir(parents=True, exist_ok=True)
                raw = args.profile / "daemon.collapsed"
                secs = max(5, int(duration))
                print(f"\nprofiling the daemon with py-spy for {secs} s under {args.clients} clients ...")
                base = [spy, "record", "-p", str(proc.pid), "-d", str(secs), "-r", "200", "--nonblocking"]
                spies = [
                    subprocess.Popen(
                        [*base, "-f", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                    ),
                ]
                time.sleep(0.5)
                anyio.run(concurrent, durls, args.clients, secs, args.max_calls)
                for s in spies:
                    s.wait(timeout=60)
                if raw.exists():
                    summarise_collapsed(raw)
                    print(f"raw stacks: {raw} (open in speedscope or flamegraph.pl)")
                else:
                    print("py-spy wrote nothing:", spies[0].stderr.read().decode()[-500:] if spies[0].stderr else "")
    finally:
        fcode = stop(fproc)
        dcode = stop_daemon(ws, proc)[0] if proc else None
        ws.cleanup()

    p50r = pct(d_lat, 0.5) / pct(f_lat, 0.5)
    tr = dr["rate"] / fr["rate"]
    errs = sum(dr["errors"].values())
    print()
    print(f"{'metric':34} {'measured':>10} {'floor':>10} {'ratio':>7} {'goal':>7}  result")
    rows = [
        (
            "state_get p50, one client (ms)",
            pct(d_lat, 0.5) * 1e3,
            pct(f_lat, 0.5) * 1e3,
            p50r,
            f"<={P50_GOAL}",
            p50r <= P50_GOAL,
        ),
        ("64 clients throughput (calls/s)", dr["rate"], fr["rate"], tr, f">={TPUT_GOAL}", tr >= TPUT_GOAL),
        ("64 clients errors", errs, sum(fr["errors"].values()), float("nan"), "0", errs == 0),
    ]
    for name, m, f, r, goal, passed in rows:
        ok &= passed
        print(f"{name:34} {m:10.2f} {f:10.2f} {r:7.2f} {goal:>7}  {'PASS' if passed else 'FAIL'}")
    print(f"exit codes after SIGTERM: daemon {dcode}, floor {fcode}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
