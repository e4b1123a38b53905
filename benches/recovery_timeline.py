"""Where recovery time goes: SIGKILL of the embedded postmaster under a write load.

Used by failure_recovery.py. Each round kills the postmaster while `writers` MCP
clients call `state_set` in a loop, then reads the daemon's own JSON log for the
steps of its recovery, relative to the kill:
`database.postmaster_gone` (its process seen gone between probes) -> `database.down` (noticed)
-> `database.restarting` (restart begun) -> `database.restarted`
(`pg_ctl -w start` done: PostgreSQL's crash recovery) -> `database.up` (probe answered, pools
reset), and the first write acknowledged after the kill (a client saw it recover).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from common import generated_workspace, start_and_wait, stop_daemon
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError

STEPS = ("database.postmaster_gone", "database.down", "database.restarting", "database.restarted", "database.up")


def loaded_postmaster_rounds(rounds: int, writers: int) -> list[dict[str, float]]:
    ws = generated_workspace(1, "butlers-bench-failure-load-")  # one butler: the server's restart is the subject
    log = ws.root / "daemon.log"
    proc, _ = start_and_wait(ws, log, deadline_s=300)
    try:
        token = (ws.data_dir / "operator-token").read_text().strip()
        url = next(iter(ws.urls.values()))
        return anyio.run(_rounds, ws.data_dir, url, token, log, rounds, writers)
    finally:
        stop_daemon(ws, proc)
        ws.cleanup()


async def _rounds(data: Path, url: str, token: str, log: Path, rounds: int, writers: int) -> list[dict[str, float]]:
    acked: list[float] = []  # wall-clock times of acknowledged writes
    stop = anyio.Event()

    async def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            transport = StreamableHttpTransport(url, headers={"Authorization": f"Bearer {token}"})
            try:
                async with Client(transport, timeout=30) as client:
                    while not stop.is_set():
                        i += 1
                        try:
                            await client.call_tool("state_set", {"key": f"load-{n}-{i}", "value": i})
                        except ToolError:
                            await anyio.sleep(0.02)  # refused while down: pace the retry
                            continue
                        acked.append(time.time())
            except Exception:  # the MCP session broke under the outage: a new client
                await anyio.sleep(0.1)

    out = []
    async with anyio.create_task_group() as tg:
        for n in range(writers):
            tg.start_soon(writer, n)
        for _ in range(rounds):
            await _until(lambda: len(acked) > 50)
            acked.clear()
            killed = time.time()
            os.kill(int((data / "postgres" / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
            await _until(lambda k=killed: "database.up" in _steps(log, k), limit=120)
            steps = _steps(log, killed)
            print(f"  round: {_redo(data)}", flush=True)
            down = killed + steps["database.down"]  # a write acknowledged before this may predate the kill
            await _until(lambda d=down: any(t > d for t in acked), limit=60)
            first_write = min(t for t in acked if t > down) - killed
            out.append({"notice": steps["database.down"], "recover": steps["database.up"], "first_write": first_write,
                        **steps})  # fmt: skip
        stop.set()
    return out


async def _until(condition: Any, limit: float = 60.0) -> None:
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - other tasks' progress and a log file, bounded
            await anyio.sleep(0.02)


def _steps(log: Path, since: float) -> dict[str, float]:
    """Seconds from `since` (a time.time()) to the first of each recovery step logged after it."""
    out: dict[str, float] = {}
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
            ts = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError):
            continue
        name = event.get("event")
        if ts >= since and name in STEPS and name not in out:
            out[name] = ts - since
    return out


def _redo(data: Path) -> str:
    """PostgreSQL's own account of its last crash recovery (from the embedded server's log)."""
    lines = [line for line in (data / "postgres" / "log").read_text(errors="replace").splitlines()
             if "redo done" in line or "ready to accept" in line or "automatic recovery" in line]  # fmt: skip
    return " | ".join(line[:160] for line in lines[-3:]) or "no recovery lines in the server log"


def show_timeline(rounds: list[dict[str, float]]) -> None:
    print("  where the time goes (median over rounds, seconds after the kill):")
    for step in (*STEPS, "first_write"):
        values = [r[step] for r in rounds if step in r]
        if values:
            print(f"    {step:<22} {statistics.median(values):6.2f} s  (max {max(values):.2f} s)")
