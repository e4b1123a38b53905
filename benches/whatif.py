"""What-ifs on the daemon's per-call cost, run in-process on a throwaway data dir (no daemon file touched).

    uv run python benches/whatif.py            # 300 calls per variant
    uv run python benches/whatif.py --quick    # 60 calls per variant

Variants, each a fresh in-process Supervisor on the 4 shipped butlers, one client
calling `state_get` on the general butler sequentially:

1. as shipped;
2. TCP_NODELAY: `butlers.http.bind` creates its socket as socket(AF_INET,
   SOCK_STREAM), proto 0, and asyncio only sets TCP_NODELAY on accepted sockets
   whose proto is IPPROTO_TCP (asyncio.base_events._set_nodelay). So every
   connection keeps Nagle's algorithm on and each small response waits for the
   client's delayed ACK (~40 ms). Variant: `bind` passes IPPROTO_TCP;
3. 2 + a schema lookup: for every `tools/call` with arguments, the MCP SDK's
   streamable-HTTP handler (_streamable_http_modern._mcp_param_rejection)
   validates Mcp-Param-* headers against the tool's input schema, and when the
   low-level server has no `get_tool_input_schema` it runs a whole `tools/list`
   through fastmcp's middleware for it: a cost that grows with the number of
   tools. Variant: set `get_tool_input_schema` from the registered tools.

Prints p50/p95 and CPU per call (this process: client and daemon together).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
from common import make_workspace
from fastmcp import Client
from floor import pct


def bind_tcp(host: str, port: int, owner: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def with_schema_lookup(build):  # wraps Butler._build_mcp
    def _build(self):
        mcp = build(self)
        schemas = {
            c.name: c.parameters
            for c in mcp._local_provider._components.values()  # private API: good enough for a what-if
            if hasattr(c, "parameters")
        }
        mcp._mcp_server.get_tool_input_schema = schemas.get
        return mcp

    return _build


async def measure(ws, settings, calls: int) -> tuple[list[float], float]:
    from butlers.supervisor import Supervisor, select_configs

    configs, errors = select_configs(settings)
    sup = Supervisor(settings, configs, errors)
    xs: list[float] = []
    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        try:
            async with Client(ws.urls["general"], timeout=10) as c:
                for _ in range(20):
                    await c.call_tool("state_get", {"key": "k"})
                cpu = time.process_time()
                for _ in range(calls):
                    t = time.perf_counter()
                    await c.call_tool("state_get", {"key": "k"})
                    xs.append(time.perf_counter() - t)
                cpu = time.process_time() - cpu
        finally:
            sup.request_stop()
    return xs, cpu / calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    calls = 60 if args.quick else 300

    import butlers.butler
    from butlers.settings import Settings
    from butlers.telemetry import configure_logging

    ws = make_workspace()
    results = []
    original_build = butlers.butler.Butler._build_mcp
    try:
        settings = Settings(dir=ws.butlers_dir, data_dir=ws.data_dir, log_level="warning", log_format="json")
        configure_logging(settings)
        anyio.run(measure, ws, settings, 5)  # warm-up: initdb, migrations, client imports
        results.append(("as shipped", *anyio.run(measure, ws, settings, calls)))
        butlers.butler.bind = bind_tcp  # type: ignore[assignment]
        results.append(("+ TCP_NODELAY (bind with IPPROTO_TCP)", *anyio.run(measure, ws, settings, calls)))
        butlers.butler.Butler._build_mcp = with_schema_lookup(original_build)  # type: ignore[method-assign]
        results.append(("+ get_tool_input_schema lookup", *anyio.run(measure, ws, settings, calls)))
    finally:
        butlers.butler.Butler._build_mcp = original_build  # type: ignore[method-assign]
        ws.cleanup()
    print(f"state_get on the general butler, one client, in-process daemon, {calls} calls per variant:")
    for name, xs, cpu in results:
        print(
            f"  {name:40} p50 {pct(xs, 0.5) * 1e3:7.2f} ms  p95 {pct(xs, 0.95) * 1e3:7.2f} ms  "
            f"CPU/call {cpu * 1e3:5.2f} ms (client+daemon)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
