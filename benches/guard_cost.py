"""What the security checks cost a tool call: `state_get` p50 with and without them, in the same run.

    uv run python benches/guard_cost.py            # 2000 calls per variant
    uv run python benches/guard_cost.py --quick    # 300 calls per variant

One process serves the same FastMCP app three times, on three ports, with the
daemon's own uvicorn setup (benches measure, they do not mock):
- bare: the FastMCP app, plain uvicorn h11 (what a butler was before the checks);
- guarded, operator: Host/Origin/Bearer guard, connection cap protocol and the
  hostile-input middleware, called with the operator token (body not buffered);
- guarded, anonymous: the same, called without a token on loopback (the guard reads
  the JSON-RPC body to check the tool is not an operator action).
`state_get` reads a small JSON value from a dict (the database would only add the
same noise to all three). Calls alternate between the variants, so load on this
shared machine hits each alike. Goal: <= 0.1 ms added at p50.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import anyio
import uvicorn
from fastmcp import Client, FastMCP
from fastmcp.client.transports import StreamableHttpTransport

from butlers.auth import OperatorToken, SessionCredentials, TokenSource
from butlers.core.input_guard import HostileInputGuard
from butlers.http import EmbeddedServer, PortLimits, make_server
from butlers.http_guard import CallerGuard, policy_for

GOAL_MS = 0.1
TOKEN = OperatorToken("bench-operator-token-0123456789", TokenSource.ENV)
STORE = {"bench/key": {"value": ["milk", "bread"], "version": 3}}


def app(guarded: bool) -> FastMCP:
    mcp: FastMCP = FastMCP("bench", mask_error_details=True, middleware=[HostileInputGuard()] if guarded else [])

    @mcp.tool(name="state_get")
    async def state_get(key: str) -> dict[str, Any]:
        entry = STORE.get(key)
        return {"key": key, "found": entry is not None, **(entry or {})}

    return mcp


def listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve(tg: anyio.abc.TaskGroup, guarded: bool) -> tuple[EmbeddedServer, int]:
    sock = listening()
    port = sock.getsockname()[1]
    mcp_app = app(guarded).http_app(path="/mcp")
    if guarded:
        policy = policy_for(port=port, bind_host="127.0.0.1", token=TOKEN, sessions=SessionCredentials())
        server = make_server(CallerGuard(mcp_app, policy), "127.0.0.1", port, 1, PortLimits())
    else:
        config = uvicorn.Config(mcp_app, log_config=None, access_log=False, lifespan="on", http="h11", ws="none")
        server = EmbeddedServer(config)
    tg.start_soon(server.serve, [sock])
    with anyio.fail_after(30):
        await server.ready.wait()
    return server, port


async def main(calls: int, warmup: int) -> None:
    async with anyio.create_task_group() as tg:
        bare, bare_port = await serve(tg, guarded=False)
        guarded, guarded_port = await serve(tg, guarded=True)
        variants = {
            "bare": Client(f"http://127.0.0.1:{bare_port}/mcp", timeout=10),
            "guarded, operator": Client(
                StreamableHttpTransport(
                    f"http://127.0.0.1:{guarded_port}/mcp", headers={"Authorization": f"Bearer {TOKEN.value}"}
                ),
                timeout=10,
            ),
            "guarded, anonymous": Client(f"http://127.0.0.1:{guarded_port}/mcp", timeout=10),
        }
        took: dict[str, list[float]] = {name: [] for name in variants}
        for client in variants.values():
            await client.__aenter__()
        try:
            for i in range(calls + warmup):
                for name, client in variants.items():
                    started = time.perf_counter()
                    await client.call_tool("state_get", {"key": "bench/key"})
                    if i >= warmup:
                        took[name].append((time.perf_counter() - started) * 1000)
        finally:
            for client in variants.values():
                await client.__aexit__(None, None, None)
            bare.should_exit = guarded.should_exit = True
    report(took)
    alone = await guard_alone(20_000)
    for who in ("operator", "anonymous"):
        added = alone[f"{who}:guard"] - alone[f"{who}:bare"]
        print(f"  guard alone, {who:9s}: {added:6.1f} us per request (no network, 20,000 rounds)")
    print(f"  hostile-input check of state_get's arguments: {alone['input_check']:5.1f} us per call")


async def guard_alone(rounds: int) -> dict[str, float]:
    """Microseconds the guard adds to one request, measured without a network (the precise figure)."""
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
            started = time.perf_counter()
            for _ in range(rounds):
                scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers}
                await app_under_test(scope, receive, sink)
            out[f"{name}:{label}"] = (time.perf_counter() - started) / rounds * 1e6
    from butlers.core.input_guard import hostile_value

    started = time.perf_counter()
    for _ in range(rounds):
        hostile_value({"key": "bench/key"}, "arguments")
    out["input_check"] = (time.perf_counter() - started) / rounds * 1e6
    return out


def report(took: dict[str, list[float]]) -> None:
    base = statistics.median(took["bare"])
    print(f"state_get, {len(took['bare'])} calls per variant, alternating (figures under load on a shared machine)")
    for name, values in took.items():
        p50 = statistics.median(values)
        p99 = statistics.quantiles(values, n=100)[98]
        added = "" if name == "bare" else f"  added at p50: {p50 - base:+.3f} ms (goal <= {GOAL_MS} ms)"
        print(f"  {name:20s} p50 {p50:6.3f} ms  p99 {p99:7.3f} ms{added}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 calls per variant instead of 2000")
    args = parser.parse_args()
    anyio.run(main, 300 if args.quick else 2000, 50)
