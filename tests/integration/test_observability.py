"""What an operator sees: one JSON object per log line, and traces that reach a real OTLP/HTTP receiver."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
import test_daemon
from test_daemon import Daemon, call, wait_answering

from butlers.testing.model_api import ModelApiStandIn, Text, ToolUse, Turn
from butlers.testing.otlp_receiver import otlp_receiver
from butlers.testing.ports import free_port
from support.system_packages import ensure_command

REPO = Path(__file__).resolve().parents[2]
# The daemon tests' fixtures, shared.
data_home = test_daemon.data_home
daemons = test_daemon.daemons


def one_butler(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    root = tmp_path / "butlers.d"
    (root / "alpha").mkdir(parents=True)
    (root / "alpha" / "butler.toml").write_text(f'[butler]\nname = "alpha"\nport = {port}\n\n[modules.notes]\n')
    (root / "alpha" / "CLAUDE.md").write_text("You are alpha.\n")
    return root, port


def documented_jq_recipes() -> list[str]:
    """The `jq` filters docs/operating.md shows, as a user would copy them."""
    text = (REPO / "docs" / "operating.md").read_text(encoding="utf-8")
    filters = []
    for line in text.splitlines():
        if "| jq " in line:
            quoted = line.split("| jq ", 1)[1]
            filters.append(quoted.split("'")[1])
    return filters


async def test_every_log_line_is_one_json_object_and_the_jq_recipes_work(
    tmp_path: Path, data_home: Path, daemons: list[Daemon]
) -> None:
    root, port = one_butler(tmp_path)
    dead_collector = f"http://127.0.0.1:{free_port()}"  # nothing listens: the exporter logs its errors
    # No XDG_RUNTIME_DIR, as under the shipped systemd unit: platformdirs warns at import.
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": dead_collector, "XDG_RUNTIME_DIR": ""}
    daemon = Daemon(root, data_home, tmp_path / "d.log", extra_env=env)
    daemons.append(daemon)
    await wait_answering(port, daemon, timeout=180)
    # A tool that fails inside (an unknown note) and a refused argument: FastMCP logs both.
    async with __import__("fastmcp").Client(f"http://127.0.0.1:{port}/mcp") as client:
        for tool, args in (("notes_get", {"note_id": 10**6}), ("state_list", {"limit": 0})):
            result = await client.call_tool(tool, args, raise_on_error=False)
            assert result.is_error
    assert daemon.stop() == 0
    lines = daemon.log.read_text().splitlines()
    assert len(lines) > 5
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"log line {number} is not JSON: {line[:200]}")
        assert isinstance(event, dict) and "event" in event and "level" in event, line
    jq = ensure_command("jq", "jq")
    recipes = documented_jq_recipes()
    assert len(recipes) >= 2
    for recipe in recipes:
        done = await anyio.run_process([jq, "-c", recipe, str(daemon.log)], check=False)
        assert done.returncode == 0, (recipe, done.stderr)


async def test_one_trace_from_the_trigger_through_the_session_to_the_agents_tool_call(
    tmp_path: Path, data_home: Path, daemons: list[Daemon]
) -> None:
    root, port = one_butler(tmp_path)
    script: list[Turn] = [ToolUse("mcp__alpha__state_set", {"key": "traced", "value": 1}), Text("stored")]
    async with otlp_receiver() as collector, ModelApiStandIn(script) as api:
        env = {**api.env(), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
        daemon = Daemon(root, data_home, tmp_path / "d.log", extra_env=env)
        daemons.append(daemon)
        await wait_answering(port, daemon, timeout=180)
        queued = await call(port, "trigger", prompt="store it", wait=True)
        assert queued["status"] == "succeeded", queued
        assert await anyio.to_thread.run_sync(daemon.stop) == 0  # flushes the batch exporter
        assert collector.misdirected == []
        trigger = await collector.wait_for("trigger")
        session = await collector.wait_for("session alpha")
        agent_call = await collector.wait_for("state_set")
    assert session.trace_id == trigger.trace_id
    assert session.parent_span_id == trigger.span_id
    # The agent's own tool call belongs to the same trace (through the session), or is linked to it.
    joined = agent_call.trace_id == trigger.trace_id or (session.trace_id, session.span_id) in agent_call.links
    assert joined, (agent_call, session)
    log_events = [json.loads(line) for line in daemon.log.read_text().splitlines()]
    assert any(e.get("trace_id") == session.trace_id for e in log_events), "no log line carries the trace id"
