"""The floor: a bare process with the daemon's imports serving 4 trivial FastMCP apps.

Every benchmark compares the daemon against this floor, measured in the same
run, because this machine is noisy. The floor imports the same packages as
`butlerd` and serves 4 FastMCP apps (uvicorn, streamable HTTP at /mcp), each
with one trivial tool, inside one anyio task group, exactly like the daemon
serves its butlers, but with no database, no migrations, no scheduler.

    uv run python benches/floor.py            # start time and RSS of the floor, 5 starts
    uv run python benches/floor.py --quick    # 2 starts
    uv run python benches/floor.py serve --ports 9001,9002,9003,9004   # just serve (used by the other benches)

It is also a helper module for the other benches (process start, MCP probing,
RSS of a process and of the PostgreSQL processes of a data dir).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

HOST = "127.0.0.1"
FLOOR_TOOL = "state_get"  # the trivial tool carries the same name and signature as the daemon's
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


# ---------------------------------------------------------------------------
# The floor server itself (runs in the child process).
# ---------------------------------------------------------------------------


def serve(ports: Sequence[int]) -> None:
    t_start = time.perf_counter()
    # The same third-party packages butlerd imports (directly or on startup).
    import anyio
    import asyncpg  # noqa: F401
    import claude_agent_sdk  # noqa: F401
    import croniter  # noqa: F401
    import opentelemetry.trace  # noqa: F401
    import pydantic_settings  # noqa: F401
    import structlog  # noqa: F401
    import typer  # noqa: F401
    import uvicorn
    import yoyo  # noqa: F401
    from fastmcp import FastMCP

    t_imported = time.perf_counter()

    def make_app(i: int) -> FastMCP:
        mcp: FastMCP = FastMCP(f"floor{i}")

        @mcp.tool(name=FLOOR_TOOL, description="Trivial: echoes the key, touches nothing.")
        async def state_get(key: str) -> dict:
            return {"key": key, "found": False, "value": None}

        return mcp

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # the process handles signals once, for all servers
            yield

    servers = []
    for i, port in enumerate(ports):
        config = uvicorn.Config(
            make_app(i).http_app(path="/mcp"),
            host=HOST,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="none",
        )
        servers.append(Server(config))

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def signals() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as rx:
                    async for _ in rx:
                        for s in servers:
                            s.should_exit = True
                        return

            tg.start_soon(signals)
            for s in servers:
                tg.start_soon(s.serve)
            while not all(s.started for s in servers):  # noqa: ASYNC110 - uvicorn offers no event
                await anyio.sleep(0.01)
            print(
                f"floor: imports {t_imported - t_start:.3f}s, serving {time.perf_counter() - t_start:.3f}s "
                f"on {','.join(map(str, ports))}",
                file=sys.stderr,
                flush=True,
            )
            while not all(s.should_exit for s in servers):  # noqa: ASYNC110 - a flag, not an event
                await anyio.sleep(0.1)
            tg.cancel_scope.deadline = anyio.current_time() + 10

    anyio.run(main)


# ---------------------------------------------------------------------------
# Helpers shared by the benches (run in the parent).
# ---------------------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """n distinct ports that were free a moment ago."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def url(port: int) -> str:
    return f"http://{HOST}:{port}/mcp"


def start_floor(ports: Sequence[int], log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [str(VENV_PYTHON), str(Path(__file__).resolve()), "serve", "--ports", ",".join(map(str, ports))],
        stdout=out,
        stderr=out,
        cwd=ROOT,
    )


async def answers_tools_list(u: str, timeout: float = 2.0) -> bool:
    from fastmcp import Client

    try:
        async with Client(u, timeout=timeout, init_timeout=timeout) as c:
            await c.list_tools()
        return True
    except Exception:
        return False


async def wait_all_answer(
    urls: Iterable[str], t0: float, deadline_s: float, proc: subprocess.Popen | None = None
) -> float:
    """Seconds from t0 (a perf_counter reading) until every url answered tools/list."""
    import anyio

    done: dict[str, float] = {}

    async def one(u: str) -> None:
        while time.perf_counter() - t0 < deadline_s:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before {u} answered")
            if not _tcp_open(u):  # cheap until the port listens: probing must not load the machine
                await anyio.sleep(0.01)
                continue
            if await answers_tools_list(u, timeout=1.0):
                done[u] = time.perf_counter() - t0
                return
            await anyio.sleep(0.02)
        raise TimeoutError(f"{u} did not answer tools/list within {deadline_s}s")

    async with anyio.create_task_group() as tg:
        for u in urls:
            tg.start_soon(one, u)
    return max(done.values())


def _tcp_open(u: str) -> bool:
    port = int(u.rsplit(":", 1)[1].split("/", 1)[0])
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def rss_kb(pid: int) -> int:
    """Resident set size of one process (VmRSS), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def descendants(pid: int) -> list[int]:
    parents = {p: _ppid(p) for p in _all_pids()}
    out, frontier = [], {pid}
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier]
        out.extend(kids)
        frontier = set(kids)
    return out


def postgres_pids(data_dir: Path) -> list[int]:
    """The postmaster whose -D lies under data_dir, and its backends."""
    data = str(data_dir.resolve())
    masters = [p for p in _all_pids() if "postgres" in _cmdline(p) and data in _cmdline(p)]
    pids = set(masters)
    for m in masters:
        pids.update(descendants(m))
    return sorted(pids)


def rss_sum_kb(pids: Iterable[int]) -> int:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):
            total += rss_kb(p)
    return total


def stop(proc: subprocess.Popen, timeout: float = 40.0) -> int:
    """SIGTERM to this process only; its exit code (or -9 after a kill)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9
    return proc.returncode


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: Sequence[float]) -> str:
    return f"median {statistics.median(values):.3f}  min {min(values):.3f}  max {max(values):.3f}  (n={len(values)})"


def floor_once(settle_s: float) -> tuple[float, int]:
    """Start the floor once: seconds to 4 ports answering tools/list, and idle RSS (kB) after `settle_s`."""
    import anyio

    ports = free_ports(4)
    t0 = time.perf_counter()
    proc = start_floor(ports)
    try:
        elapsed = anyio.run(wait_all_answer, [url(p) for p in ports], t0, 60.0, proc)
        time.sleep(settle_s)
        return elapsed, rss_kb(proc.pid)
    finally:
        code = stop(proc)
        if code != 0:
            print(f"warning: floor exited with {code}", file=sys.stderr)


def measure_floor_start(runs: int, settle_s: float = 1.0, warmup: int = 1) -> tuple[list[float], list[int]]:
    """Start the floor `runs` times: seconds to 4 ports answering tools/list, and idle RSS (kB).

    The first `warmup` starts are discarded: they warm the page cache and this
    process's MCP client (its first call spends ~2.5 s importing lazily).
    """
    measured = [floor_once(settle_s) for _ in range(runs + warmup)][warmup:]
    return [t for t, _ in measured], [r for _, r in measured]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sp = sub.add_parser("serve", help="serve the 4 floor apps until SIGTERM")
    sp.add_argument("--ports", required=True, help="comma-separated: 4 ports")
    ap.add_argument("--quick", action="store_true", help="2 starts instead of 5")
    ap.add_argument("--runs", type=int, default=None)
    args = ap.parse_args()
    if args.cmd == "serve":
        serve([int(p) for p in args.ports.split(",")])
        return
    runs = args.runs or (2 if args.quick else 5)
    times, rss = measure_floor_start(runs)
    print(f"floor start to 4 ports answering tools/list (s): {summary(times)}")
    print(f"floor idle RSS (MB): median {statistics.median(rss) / 1024:.1f}  (n={len(rss)})")


if __name__ == "__main__":
    main()
