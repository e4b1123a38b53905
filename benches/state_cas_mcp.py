"""50 racing MCP clients, 20 compare-and-set increments each, over HTTP against `butlerd serve`.

    uv run python benches/state_cas_mcp.py [--clients 50] [--increments 20]

Each client is a real `fastmcp.Client` on its own MCP session: `state_get`, then
`state_set` with `expected_version`, retrying on the conflict error (exponential
backoff, full jitter). Prints the final counter (it must be clients x increments),
the conflicts, and the wall time. Runs a throwaway daemon with its own embedded
PostgreSQL; on a shared machine the time includes its load.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import anyio
from common import generated_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError


async def call(client: Client[Any], tool: str, **args: Any) -> Any:
    return (await client.call_tool(tool, args)).structured_content


async def race(url: str, token: str, clients: int, increments: int) -> tuple[Any, int, float]:
    conflicts = 0

    def transport() -> StreamableHttpTransport:
        return StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})

    async def increment(client: Client[Any]) -> None:
        nonlocal conflicts
        backoff = 0.02
        while True:
            got = await call(client, "state_get", key="counter")
            try:
                await call(client, "state_set", key="counter", value=got["value"] + 1, expected_version=got["version"])
                return
            except ToolError as exc:
                if "conflict" not in str(exc):
                    raise
                conflicts += 1
                await anyio.sleep(random.uniform(0, backoff))
                backoff = min(backoff * 2, 2.0)

    async def racer() -> None:
        async with Client(transport(), timeout=120) as client:
            for _ in range(increments):
                await increment(client)

    async with Client(transport()) as client:
        await call(client, "state_set", key="counter", value=0, must_not_exist=True)
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(racer)
        took = time.perf_counter() - started
        final = await call(client, "state_get", key="counter")
    return final, conflicts, took


def main(clients: int, increments: int) -> None:
    ws = generated_workspace(1, "butlers-bench-cas-")
    proc, _ = start_and_wait(ws, ws.root / "daemon.log", deadline_s=300)
    try:
        token = (ws.data_dir / "operator-token").read_text().strip()
        final, conflicts, took = anyio.run(race, next(iter(ws.urls.values())), token, clients, increments)
    finally:
        stop_daemon(ws, proc)
        ws.cleanup()
    expected = clients * increments
    verdict = "exact" if final["value"] == expected else "LOST UPDATES"
    print(f"counter {final['value']} of {expected} ({verdict}), version {final['version']}, "
          f"{conflicts} conflicts retried, {took:.1f} s")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--increments", type=int, default=20)
    args = parser.parse_args()
    main(args.clients, args.increments)
