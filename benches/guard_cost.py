"""What the security checks cost a tool call: `state_get` p50 with and without them, in the same run.

    uv run python benches/guard_cost.py            # 3000 rounds
    uv run python benches/guard_cost.py --quick    # 600 rounds

One process serves the same FastMCP app (with the hostile-input middleware, as every butler has
it) on two ports with the daemon's own uvicorn setup (`make_server`: the connection-capped h11
protocol), and a third app without that middleware (benches measure, they do not mock):
- bare: no CallerGuard in front (what the port is without the token and header checks);
- guarded, operator: the Host/Origin/Bearer guard, called with the operator token (body not buffered);
- guarded, anonymous: the same, called without a token on loopback (the guard reads the JSON-RPC
  body to check the tool is not an operator action);
- no input check: bare, without the hostile-input middleware (what that middleware costs).
`state_get` reads a small JSON value from a dict (the database would only add the same noise to
all). Each round calls every variant once, in a shuffled order, and the figure is the median of
the per-round differences to bare (paired: load on this shared machine hits both sides of a
difference alike). Goal: <= 0.1 ms added at p50 by the token and header checks.

Wall-clock figures on a loaded machine mostly measure the scheduler; each call's CPU time (process
time: the client and the servers run in this one process, and the client's share is the same for
every variant) is reported too, paired the same way: the cost that load does not blur.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import anyio
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StreamableHttpTransport

from butlers.auth import OperatorToken, SessionCredentials, TokenSource
from butlers.core.input_guard import HostileInputGuard
from butlers.http import EmbeddedServer, PortLimits, make_server
from butlers.http_guard import CallerGuard, policy_for

GOAL_MS = 0.1
TOKEN = OperatorToken("bench-operator-token-0123456789", TokenSource.ENV)
STORE = {"bench/key": {"value": ["milk", "bread"], "version": 3}}


def app(input_check: bool) -> FastMCP:
    mcp: FastMCP = FastMCP("bench", mask_error_details=True, middleware=[HostileInputGuard()] if input_check else [])

    @mcp.tool(name="state_get")
    async def state_get(key: str) -> dict[str, Any]:
        entry = STORE.get(key)
        return {"key": key, "found": entry is not None, **(entry or {})}

    return mcp


def listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve(tg: anyio.abc.TaskGroup, guarded: bool, input_check: bool = True) -> tuple[EmbeddedServer, int]:
    sock = listening()
    port = sock.getsockname()[1]
    mcp_app = app(input_check).http_app(path="/mcp")
    policy = policy_for(port=port, bind_host="127.0.0.1", token=TOKEN, sessions=SessionCredentials())
    server = make_server(CallerGuard(mcp_app, policy) if guarded else mcp_app, "127.0.0.1", port, 1, PortLimits())
    tg.start_soon(server.serve, [sock])
    with anyio.fail_after(30):
        await server.ready.wait()
    return server, port


async def main(calls: int, warmup: int) -> None:
    async with anyio.create_task_group() as tg:
        bare, bare_port = await serve(tg, guarded=False)
        guarded, guarded_port = await serve(tg, guarded=True)
        unchecked, unchecked_port = await serve(tg, guarded=False, input_check=False)
        variants = {
            "bare": Client(f"http://127.0.0.1:{bare_port}/mcp", timeout=10),
            "guarded, operator": Client(
                StreamableHttpTransport(
                    f"http://127.0.0.1:{guarded_port}/mcp", headers={"Authorization": f"Bearer {TOKEN.value}"}
                ),
                timeout=10,
            ),
            "guarded, anonymous": Client(f"http://127.0.0.1:{guarded_port}/mcp", timeout=10),
            "no input check": Client(f"http://127.0.0.1:{unchecked_port}/mcp", timeout=10),
        }
        took: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        for client in variants.values():
            await client.__aenter__()
        try:
            order = list(variants.items())
            for i in range(calls + warmup):
                random.shuffle(order)
                for name, client in order:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    await client.call_tool("state_get", {"key": "bench/key"})
                    if i >= warmup:
                        took[name].append((time.perf_counter() - started) * 1000)
                        cpu[name].append((time.process_time() - cpu_started) * 1000)
        finally:
            for client in variants.values():
                await client.__aexit__(None, None, None)
            bare.should_exit = guarded.should_exit = unchecked.should_exit = True
    report(took, "wall clock")
    report(cpu, "CPU time of client and servers")
    alone = await guard_alone(20_000)
    for who in ("operator", "anonymous"):
        added = alone[f"{who}:guard"] - alone[f"{who}:bare"]
        print(f"  guard alone, {who:9s}: {added:6.1f} us per request (CPU, no network, 20,000 rounds)")
    print(f"  hostile-input check of state_get's arguments: {alone['input_check']:5.1f} us per call")


async def guard_alone(rounds: int) -> dict[str, float]:
    """CPU microseconds the guard adds to one request, measured without a network (the precise figure)."""
    body = (
        b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"state_get","arguments":{"key":"bench/key"}}}'
    )

    async def downstream(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    async def sink(message: Any) -> None:
        return None

    policy = policy_for(port=8101, bind_host="127.0.0.1", token=TOKEN, sessions=SessionCredentials())
    guard = CallerGuard(downstream, policy)
    base_headers = [(b"host", b"127.0.0.1:8101"), (b"content-type", b"application/json")]
    out = {}
    for name, extra in {"operator": [(b"authorization", f"Bearer {TOKEN.value}".encode())], "anonymous": []}.items():
        headers = base_headers + extra

        async def receive() -> Any:
            return {"type": "http.request", "body": body, "more_body": False}

        for app_under_test, label in ((downstream, "bare"), (guard, "guard")):
            started = time.process_time()
            for _ in range(rounds):
                scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers}
                await app_under_test(scope, receive, sink)
            out[f"{name}:{label}"] = (time.process_time() - started) / rounds * 1e6
    from butlers.core.input_guard import hostile_value

    started = time.process_time()
    for _ in range(rounds):
        hostile_value({"key": "bench/key"}, "arguments")
    out["input_check"] = (time.process_time() - started) / rounds * 1e6
    return out


def report(took: dict[str, list[float]], clock: str) -> None:
    bare = took["bare"]
    print(f"state_get, {len(bare)} rounds, each variant once per round in shuffled order, {clock} "
          "(figures under load on a shared machine)")  # fmt: skip
    for name, values in took.items():
        p50 = statistics.median(values)
        p99 = statistics.quantiles(values, n=100)[98]
        paired = statistics.median(v - b for v, b in zip(values, bare, strict=True))
        if name == "bare":
            added = ""
        elif name == "no input check":
            added = f"  the hostile-input middleware costs (paired p50): {-paired:+.3f} ms"
        else:
            added = f"  added, paired p50: {paired:+.3f} ms (difference of p50s {p50 - statistics.median(bare):+.3f}; goal <= {GOAL_MS} ms)"
        print(f"  {name:20s} p50 {p50:6.3f} ms  p99 {p99:7.3f} ms{added}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="600 rounds instead of 3000")
    args = parser.parse_args()
    anyio.run(main, 600 if args.quick else 3000, 50)
