"""Cheap probes of a starting daemon: one raw MCP exchange per butler, and the daemon's CPU time.

A full `fastmcp.Client` per probe (session task group, SSE reader, pydantic
models) costs the bench more CPU than the daemon spends answering it: probing
50 butlers that way, a few at a time so the probes do not starve one another,
put seconds of the bench's own pace into the start figure. One shared httpx
client that POSTs `initialize`, `notifications/initialized` and `tools/list`
(the MCP streamable HTTP wire exchange, JSON or one SSE event per answer) is
cheap enough to probe every butler at once; the criterion is unchanged: the
butler answered `tools/list` with its tools.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

import anyio
import httpx

PROTOCOL = "2025-06-18"
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """utime + stime of one process (/proc/<pid>/stat): its own CPU, whatever else loads the machine;
    with `with_reaped_children` also cutime + cstime, the CPU of the children it has reaped."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    used = fields[11:15] if with_reaped_children else fields[11:13]
    return sum(int(f) for f in used) / os.sysconf("SC_CLK_TCK")


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer of one POST (a JSON body, or the `data:` of an SSE event)."""
    response.raise_for_status()
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                answer: dict[str, Any] = json.loads(line[5:])
                return answer
        raise ValueError("an SSE answer without data")
    body: dict[str, Any] = response.json()
    return body


def _rpc(method: str, ident: int | None = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if ident is not None:
        msg["id"] = ident
    return msg


async def lists_tools(http: httpx.AsyncClient, url: str) -> bool:
    """True when the MCP server at `url` answers initialize then tools/list with at least one tool."""
    hello = {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "fleet-bench", "version": "1"}}
    try:
        init = await http.post(url, json=_rpc("initialize", 1, hello), headers=HEADERS)
        _answer(init)
        session = {**HEADERS, "mcp-protocol-version": PROTOCOL}
        if sid := init.headers.get("mcp-session-id"):
            session["mcp-session-id"] = sid
        (await http.post(url, json=_rpc("notifications/initialized"), headers=session)).raise_for_status()
        listed = _answer(await http.post(url, json=_rpc("tools/list", 2), headers=session))
        if sid:
            await http.delete(url, headers=session)
        return bool(listed.get("result", {}).get("tools"))
    except (httpx.HTTPError, ValueError):
        return False


async def wait_all_list_tools(
    urls: list[str], t0: float, deadline_s: float, proc: subprocess.Popen
) -> tuple[float, float]:
    """(seconds from t0 until every url listed its tools, the daemon's CPU seconds then), all probed at once."""
    done: dict[str, float] = {}
    cpu: list[float] = []

    async def one(http: httpx.AsyncClient, u: str) -> None:
        while time.perf_counter() - t0 < deadline_s:
            if proc.poll() is not None:
                raise RuntimeError(f"butlerd exited with {proc.returncode} before {u} answered")
            if await lists_tools(http, u):
                done[u] = time.perf_counter() - t0
                if len(done) == len(urls):
                    cpu.append(cpu_seconds(proc.pid))
                return
            await anyio.sleep(0.05)
        raise TimeoutError(f"{u} did not answer tools/list within {deadline_s}s")

    async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as http, anyio.create_task_group() as tg:
        for u in urls:
            tg.start_soon(one, http, u)
    return max(done.values()), cpu[0]
