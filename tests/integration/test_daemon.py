"""`butlerd serve` as a user runs it: a real process on the embedded PostgreSQL, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from butlers.testing.ports import free_port
from support.system_packages import ensure_command

BUTLERD = str(Path(sys.executable).parent / "butlerd")
BUTLERCTL = str(Path(sys.executable).parent / "butlerctl")


@pytest.fixture
def butler_dir(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    ports = {"alpha": free_port(), "beta": free_port()}
    root = tmp_path / "butlers.d"
    for name, port in ports.items():
        (root / name).mkdir(parents=True)
        (root / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {port}\n\n[modules.notes]\n')
        (root / name / "CLAUDE.md").write_text(f"You are {name}.\n")
    return root, ports


class Daemon:
    def __init__(self, root: Path, data_dir: Path, log: Path, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "BUTLERS_"))}
        env |= {"BUTLERS_DIR": str(root), "BUTLERS_DATA_DIR": str(data_dir), "BUTLERS_LOG_FORMAT": "json"}
        env["BUTLERS_DASHBOARD_ENABLED"] = "false"  # no dashboard on the real port 8200
        env |= extra_env or {}
        self.log = log
        self.proc = subprocess.Popen([BUTLERD, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))

    def stop(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


@pytest.fixture
def data_home() -> Iterator[Path]:
    """The daemon's BUTLERS_DATA_DIR, outside pytest's basetemp.

    The embedded PostgreSQL runs as another user (pgserver, when we are root) and
    needs to traverse the folders above its data; pytest resets its own temp root
    to mode 700 whenever a pytest session starts, which would lock it out.
    """
    folder = Path(tempfile.mkdtemp(prefix="butlers-test-data-"))
    yield folder / "data"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()


async def wait_answering(port: int, daemon: Daemon, timeout: float = 180) -> None:
    """Wait (on the condition, with a bound) until the butler's MCP endpoint answers."""
    with anyio.fail_after(timeout):
        while True:
            assert daemon.proc.poll() is None, daemon.log.read_text()
            try:
                async with Client(f"http://127.0.0.1:{port}/mcp", timeout=2) as client:
                    await client.list_tools()
                    return
            except Exception:
                await anyio.sleep(0.1)


def operator_token(data: Path) -> str:
    """The token the daemon generated at its first start (what butlerctl reads too)."""
    return (data / "operator-token").read_text().strip()


async def call(port: int, tool: str, token: str | None = None, **args: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with Client(StreamableHttpTransport(f"http://127.0.0.1:{port}/mcp", headers=headers)) as client:
        return (await client.call_tool(tool, args)).structured_content


async def test_serve_answers_on_every_port_stops_on_sigterm_and_keeps_state(
    tmp_path: Path, data_home: Path, butler_dir: tuple[Path, dict[str, int]], daemons: list[Daemon]
) -> None:
    root, ports = butler_dir
    data = data_home
    first = Daemon(root, data, tmp_path / "first.log")
    daemons.append(first)
    for port in ports.values():
        await wait_answering(port, first)
    await call(ports["alpha"], "state_set", token=operator_token(data), key="groceries", value=["milk", "bread"])
    await call(ports["beta"], "notes_add", title="t", body="kept across restarts")
    assert first.stop() == 0
    log = first.log.read_text()
    assert "supervisor.stopped" in log
    # What the imports made is exempt from the cyclic GC before any butler starts (cli/butlerd.py).
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    names = [e.get("event") for e in events]
    frozen = events[names.index("butlerd.imports_frozen")]
    assert frozen["objects"] > 10_000, frozen
    assert names.index("butlerd.imports_frozen") < names.index("butler.schedules_synced")

    second = Daemon(root, data, tmp_path / "second.log")
    daemons.append(second)
    for port in ports.values():
        await wait_answering(port, second)
    assert (await call(ports["alpha"], "state_get", key="groceries"))["value"] == ["milk", "bread"]
    # Each butler has its own database: beta's state is not alpha's.
    assert (await call(ports["beta"], "state_get", key="groceries"))["found"] is False
    assert len((await call(ports["beta"], "notes_list"))["result"]) == 1
    assert second.stop() == 0


async def test_bad_config_is_reported_and_the_good_butler_still_serves(
    tmp_path: Path, data_home: Path, butler_dir: tuple[Path, dict[str, int]], daemons: list[Daemon]
) -> None:
    root, ports = butler_dir
    (root / "gamma").mkdir()
    (root / "gamma" / "butler.toml").write_text('[butler]\nname = "gamma"\nport = "eighty"\n')
    daemon = Daemon(root, data_home, tmp_path / "d.log")
    daemons.append(daemon)
    await wait_answering(ports["alpha"], daemon)
    assert daemon.stop() == 0
    log = daemon.log.read_text()
    assert "gamma/butler.toml: butler.port" in log


def test_serve_exits_1_when_no_butler_can_start(tmp_path: Path, data_home: Path) -> None:
    root = tmp_path / "butlers.d"
    (root / "lonely").mkdir(parents=True)
    (root / "lonely" / "butler.toml").write_text(
        f'[butler]\nname = "lonely"\nport = {free_port()}\n[butler.env]\nrequired = ["BUTLERS_TEST_UNSET_VAR"]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "BUTLERS_"))}
    env |= {"BUTLERS_DIR": str(root), "BUTLERS_DATA_DIR": str(data_home)}
    env["BUTLERS_DASHBOARD_ENABLED"] = "false"  # no dashboard on the real port 8200
    done = subprocess.run([BUTLERD, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "no butler could start" in done.stderr and "BUTLERS_TEST_UNSET_VAR" in done.stderr


def inspector_command() -> list[str]:
    return [ensure_command("npx", "npm"), "-y", "@modelcontextprotocol/inspector@2.12.0", "--cli"]


def inspector(port: int | None, *args: str, expect_exit: int = 0) -> Any:
    """Run the MCP Inspector's CLI, a third-party MCP client, and parse its JSON answer (exit 5: tool error)."""
    target = [f"http://127.0.0.1:{port}/mcp", "--transport", "http"] if port is not None else []
    done = subprocess.run(
        [*inspector_command(), *target, *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == expect_exit, (done.returncode, done.stdout[-1000:], done.stderr[-2000:])
    return json.loads(done.stdout) if expect_exit in (0, 5) else done  # 5: the tool's error, as JSON


async def test_the_mcp_inspector_lists_and_calls_tools(
    tmp_path: Path, data_home: Path, butler_dir: tuple[Path, dict[str, int]], daemons: list[Daemon]
) -> None:
    root, ports = butler_dir
    daemon = Daemon(root, data_home, tmp_path / "d.log")
    daemons.append(daemon)
    await wait_answering(ports["alpha"], daemon)
    listed = await anyio.to_thread.run_sync(inspector, ports["alpha"], "--method", "tools/list")
    names = {t["name"] for t in listed["tools"]}
    assert {"status", "state_get", "state_set", "schedule_create", "tick", "trigger", "notes_add"} <= names
    set_args = [
        "--method",
        "tools/call",
        "--tool-name",
        "state_set",
        "--tool-arg",
        "key=colour",
        "--tool-arg",
        'value="blue"',
    ]
    # A state change is an operator action: refused without the token, done with it.
    # (The Inspector answers a 401 by asking for authorisation, which a non-interactive run cannot give.)
    refused = await anyio.to_thread.run_sync(partial(inspector, ports["alpha"], *set_args, expect_exit=3))
    assert "auth_required" in refused.stderr
    bearer = ["--header", f"Authorization: Bearer {operator_token(data_home)}"]
    await anyio.to_thread.run_sync(lambda: inspector(ports["alpha"], *set_args, *bearer))
    got = await anyio.to_thread.run_sync(
        inspector, ports["alpha"], "--method", "tools/call", "--tool-name", "state_get", "--tool-arg", "key=colour"
    )
    assert got["structuredContent"]["value"] == "blue"
    # `butlerctl mcp-config` output, used as is as the Inspector's config file.
    env = {**os.environ, "BUTLERS_DIR": str(root), "BUTLERS_DATA_DIR": str(data_home)}
    made = await anyio.run_process(
        [BUTLERCTL, "mcp-config", "alpha", "--client", "claude-code", "--with-token"], env=env
    )
    config = made.stdout.decode()
    (tmp_path / "mcp.json").write_text(config)
    from_config = ["--config", str(tmp_path / "mcp.json"), "--server", "alpha", "--method", "tools/call"]
    await anyio.to_thread.run_sync(
        lambda: inspector(None, *from_config, "--tool-name", "state_set", "--tool-arg", "key=colour", 'value="red"')
    )
    got = await anyio.to_thread.run_sync(
        lambda: inspector(None, *from_config, "--tool-name", "state_get", "--tool-arg", "key=colour")
    )
    assert got["structuredContent"]["value"] == "red"
    bad_args = ["--method", "tools/call", "--tool-name", "state_list", "--tool-arg", "limit=0"]
    bad = await anyio.to_thread.run_sync(partial(inspector, ports["alpha"], *bad_args, expect_exit=5))
    assert bad["isError"] is True and "limit" in bad["content"][0]["text"]
    assert daemon.stop() == 0


async def test_second_signal_exits_at_once_and_the_running_session_is_interrupted_after_restart(
    tmp_path: Path, data_home: Path, butler_dir: tuple[Path, dict[str, int]], daemons: list[Daemon]
) -> None:
    from butlers.testing.model_api import Hang, ModelApiStandIn

    root, ports = butler_dir
    async with ModelApiStandIn([Hang()]) as api:
        daemon = Daemon(root, data_home, tmp_path / "d.log", extra_env=api.env())
        daemons.append(daemon)
        await wait_answering(ports["alpha"], daemon)
        queued = await call(ports["alpha"], "trigger", prompt="think for a long time")
        await api.wait_hanging(within_s=60)
        daemon.proc.send_signal(signal.SIGTERM)
        # The first signal drains: the session keeps the daemon alive (drain bound 30 s).
        with anyio.fail_after(60):
            while "supervisor.stopping" not in daemon.log.read_text():  # noqa: ASYNC110 - another process writes it
                await anyio.sleep(0.05)
        await anyio.sleep(1.2)  # past the window in which a repeat counts as the same request
        assert daemon.proc.poll() is None
        daemon.proc.send_signal(signal.SIGTERM)
        assert await anyio.to_thread.run_sync(daemon.proc.wait, 30) == 130
    restarted = Daemon(root, data_home, tmp_path / "r.log")
    daemons.append(restarted)
    await wait_answering(ports["alpha"], restarted)
    record = await call(ports["alpha"], "sessions_get", session_id=queued["session_id"])
    assert record["status"] == "interrupted", record
    assert restarted.stop() == 0
