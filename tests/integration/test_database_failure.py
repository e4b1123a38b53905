"""`butlerd serve` when its embedded PostgreSQL dies, and the embedded server's lifetime.

Real daemon processes on their own embedded server (so killing its postmaster
touches no other test): kill -9 of the postmaster under a write load, repeated
kill -9 of the daemon followed by clean stops.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
import test_daemon
from fastmcp import Client
from fastmcp.exceptions import ToolError
from test_daemon import Daemon, operator_token, wait_answering

from butlers.testing.ports import free_port

# Fixtures shared with test_daemon (pytest finds them by these names).
daemons = test_daemon.daemons
data_home = test_daemon.data_home


def one_butler(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    root = tmp_path / "butlers.d"
    (root / "alpha").mkdir(parents=True)
    (root / "alpha" / "butler.toml").write_text(f'[butler]\nname = "alpha"\nport = {port}\n')
    return root, port


def postgres_processes(data: Path) -> list[psutil.Process]:
    """Every PostgreSQL process serving the data folder `data/postgres` (the postmaster names it)."""
    pgdata = str((data / "postgres").resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and pgdata in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def postmaster_pid(data: Path) -> int:
    return int((data / "postgres" / "postmaster.pid").read_text().split()[0])


async def database_state(client: Client[Any]) -> str:
    status = (await client.call_tool("status", {})).structured_content
    assert status is not None
    return "up" if status["database"]["ok"] else "down:" + status["database"]["error"]


async def test_killed_postmaster_is_noticed_restarted_and_no_acknowledged_write_is_lost(
    tmp_path: Path, data_home: Path, daemons: list[Daemon]
) -> None:
    root, port = one_butler(tmp_path)
    daemon = Daemon(root, data_home, tmp_path / "daemon.log")
    daemons.append(daemon)
    await wait_answering(port, daemon, timeout=180)
    acked: dict[str, int] = {}
    refusals: list[str] = []
    stop_writing = anyio.Event()

    token = operator_token(data_home)  # state changes are the operator's

    async def writer() -> None:
        async with Client(f"http://127.0.0.1:{port}/mcp", timeout=20, auth=token) as client:
            i = 0
            while not stop_writing.is_set():
                i += 1
                try:
                    await client.call_tool("state_set", {"key": f"w{i}", "value": i})
                except ToolError as exc:
                    refusals.append(str(exc))
                    await anyio.sleep(0.05)  # pacing a retry loop, not waiting for a condition
                    continue
                acked[f"w{i}"] = i  # acknowledged: the call returned after its commit

    url = f"http://127.0.0.1:{port}/mcp"
    async with anyio.create_task_group() as tg, Client(url, timeout=20) as watcher:
        tg.start_soon(writer)
        with anyio.fail_after(30):
            while len(acked) < 30:  # noqa: ASYNC110 - another task's progress
                await anyio.sleep(0.02)
        os.kill(postmaster_pid(data_home), signal.SIGKILL)
        killed = time.monotonic()
        with anyio.fail_after(5):  # noticed within 5 s
            while (state := await database_state(watcher)) == "up":  # noqa: ASYNC110 - polling a server's state, bounded
                await anyio.sleep(0.05)
        assert state.startswith("down:")
        with anyio.fail_after(30):
            while await database_state(watcher) != "up":  # noqa: ASYNC110 - polling a server's state, bounded
                await anyio.sleep(0.1)
        recovered = time.monotonic() - killed
        before = len(acked)
        with anyio.fail_after(30):
            while len(acked) < before + 30:  # noqa: ASYNC110 - another task's progress
                await anyio.sleep(0.02)
        stop_writing.set()

    assert recovered < 30
    assert any("database unavailable" in r for r in refusals), refusals[:3]
    async with Client(url, timeout=20) as client:
        listed = (await client.call_tool("state_list", {"prefix": "w", "limit": 1000})).structured_content
    assert listed is not None
    stored = {e["key"]: e["value"] for e in listed["entries"]}
    missing = {k: v for k, v in acked.items() if stored.get(k) != v}
    assert missing == {}, f"{len(missing)} acknowledged writes lost"
    assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert "database.down" in log and "database.restarted" in log and "database.up" in log
    # The stop after an outage is clean (it used to log task-group tracebacks); tracebacks during
    # the outage itself are the libraries' (asyncpg refilling its pool, fastmcp logging the refused call).
    assert "TaskGroup" not in log
    assert "Traceback" not in log[log.index('"butlerd.signal"') :]
    assert postgres_processes(data_home) == []


async def test_repeated_kill_9_of_the_daemon_then_a_clean_stop_leaves_no_postgres(
    tmp_path: Path, data_home: Path, daemons: list[Daemon]
) -> None:
    root, port = one_butler(tmp_path)
    for round_ in range(2):
        daemon = Daemon(root, data_home, tmp_path / f"killed-{round_}.log")
        daemons.append(daemon)
        await wait_answering(port, daemon, timeout=180)
        daemon.proc.kill()
        daemon.proc.wait()
        assert postgres_processes(data_home) != []  # the crash left the server running
    last = Daemon(root, data_home, tmp_path / "last.log")
    daemons.append(last)
    await wait_answering(port, last, timeout=180)
    log = last.log.read_text()
    assert "database.stale_handles_removed" in log and "database.adopting_running_server" in log
    assert last.stop() == 0
    assert postgres_processes(data_home) == []
    # And the next clean start and stop too.
    again = Daemon(root, data_home, tmp_path / "again.log")
    daemons.append(again)
    await wait_answering(port, again, timeout=180)
    assert again.stop() == 0
    assert postgres_processes(data_home) == []


@pytest.fixture(autouse=True)
def _no_leftover_servers(data_home: Path) -> Any:
    yield
    for proc in postgres_processes(data_home):  # only servers of this test's own data folder
        proc.kill()
