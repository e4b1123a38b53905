"""butlerctl trigger, sessions, session, cancel against a stand-in butler over real HTTP.

The stand-in exposes the four session tools with the names, arguments and
result shapes of butlers.core.session_tools (records as SessionLog returns them).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from typer.testing import CliRunner, Result

from butlers.cli.butlerctl import app
from butlers.config import CONFIG_FILE
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port

OK_ID = "3f2a9c1e-0000-4000-8000-000000000001"
FAILED_ID = "7b1d0e2f-0000-4000-8000-000000000002"
QUEUED_ID = "9c4e5f60-0000-4000-8000-000000000003"


def record(sid: str, status: str, prompt: str, **extra: Any) -> dict[str, Any]:
    """A full session record, as SessionLog.get returns it (parent_traceparent dropped)."""
    finished = status not in ("queued", "running")
    return {
        "id": sid, "trigger_source": "trigger_tool", "schedule_name": None, "prompt": prompt, "context": None,
        "idempotency_key": None, "status": status, "queued_at": "2026-01-31T08:00:00+00:00",
        "started_at": "2026-01-31T08:00:01+00:00" if status != "queued" else None,
        "finished_at": "2026-01-31T08:00:05.200000+00:00" if finished else None,
        "duration_ms": 4200 if finished else None, "result": None, "error": None, "tool_calls": [],
        "num_turns": 3 if finished else None, "input_tokens": 1200, "output_tokens": 80, "cache_read_tokens": 0,
        "cache_creation_tokens": 0, "cost_usd": 0.0123 if finished else None, "model": "claude-sonnet-4-5",
        "agent_session_id": "agent-1", "trace_id": "0af7651916cd43dd8448eb211c80319c", **extra,
    }  # fmt: skip


SUCCEEDED = record(
    OK_ID, "succeeded", "Note that the plumber comes Tuesday\nsecond line", result="Noted: plumber on Tuesday.",
    tool_calls=[
        {"id": "tu_1", "tool": "mcp__general__state_set", "arguments": {"key": "plumber", "value": "tuesday"},
         "result": '{"ok": true}'},
        {"id": "tu_2", "tool": "Bash", "arguments": {"command": "ls"}, "error": "tool Bash is not allowed"},
    ],
)  # fmt: skip
FAILED = record(FAILED_ID, "failed", "Do the impossible", error="agent error: boom")
QUEUED = record(QUEUED_ID, "queued", "Later")


def fake_butler(name: str = "alpha", *, wait_s: float = 0.0) -> tuple[FastMCP, list[tuple[str, dict[str, Any]]]]:
    """A stand-in with the session tools; returns it and the calls it received."""
    mcp: FastMCP = FastMCP(name)
    calls: list[tuple[str, dict[str, Any]]] = []
    by_id = {r["id"]: r for r in (SUCCEEDED, FAILED, QUEUED)}
    by_key: dict[str, str] = {}

    @mcp.tool(name="trigger")
    async def trigger(
        prompt: str, context: dict[str, Any] | None = None, idempotency_key: str | None = None, wait: bool = False
    ) -> dict[str, Any]:
        calls.append(("trigger", {"prompt": prompt, "idempotency_key": idempotency_key, "wait": wait}))
        if prompt == "bad":
            raise ToolError("trigger: argument 'prompt': must be a non-empty text")
        created = idempotency_key is None or idempotency_key not in by_key
        sid = by_key.setdefault(idempotency_key, OK_ID) if idempotency_key else OK_ID
        target = FAILED if prompt == "fail" else SUCCEEDED
        if wait:
            await anyio.sleep(wait_s)
            return {**target, "session_id": target["id"], "created": created}
        return {"session_id": sid if prompt != "fail" else FAILED_ID, "status": "queued", "created": created}

    @mcp.tool(name="sessions_list")
    async def sessions_list(
        status: str | None = None, source: str | None = None, since: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        calls.append(("sessions_list", {"status": status, "source": source, "since": since, "limit": limit}))
        if status is not None and status not in ("queued", "running", "succeeded", "failed"):
            raise ToolError(f"sessions_list: argument 'status': {status!r} is not one of queued, running, ...")
        rows = [r for r in (QUEUED, FAILED, SUCCEEDED) if status is None or r["status"] == status]
        listed = [{k: r[k] for k in ("id", "trigger_source", "schedule_name", "status", "queued_at", "started_at",
                   "finished_at", "duration_ms", "prompt", "result", "error", "num_turns", "cost_usd", "model")}
                  for r in rows][offset : offset + limit]  # fmt: skip
        return {"sessions": listed, "limit": limit, "offset": offset,
                "next_offset": offset + len(listed) if len(listed) == limit else None}  # fmt: skip

    @mcp.tool(name="sessions_get")
    async def sessions_get(session_id: str) -> dict[str, Any]:
        calls.append(("sessions_get", {"session_id": session_id}))
        if session_id not in by_id:
            raise ToolError(f"sessions_get: argument 'session_id': no session {session_id}")
        return by_id[session_id]

    @mcp.tool(name="session_cancel")
    async def session_cancel(session_id: str) -> dict[str, Any]:
        calls.append(("session_cancel", {"session_id": session_id}))
        if session_id not in by_id:
            raise ToolError(f"session_cancel: argument 'session_id': no session {session_id}")
        current = by_id[session_id]
        return {**current, "status": "cancelled"} if current["status"] == "queued" else current

    return mcp, calls


def write_butler(root: Path, name: str, port: int) -> None:
    (root / name).mkdir(parents=True)
    (root / name / CONFIG_FILE).write_text(f'[butler]\nname = "{name}"\nport = {port}\n', encoding="utf-8")


async def run(*args: str) -> Result:
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(app, list(args)))


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Path, list[tuple[str, dict[str, Any]]]]]:
    """A butler folder with `alpha` served by the stand-in; yields the folder and the calls received.

    A context manager in the test's own task, not a fixture: the server's task
    group must be entered and left in the same task.
    """
    mcp, calls = fake_butler()
    async with serve_asgi(mcp.http_app(path="/mcp")) as url:
        write_butler(tmp_path / "b", "alpha", int(url.rsplit(":", 1)[1]))
        yield tmp_path / "b", calls


# ---------------------------------------------------------------- trigger


async def test_trigger_prints_the_session_id_and_status(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("trigger", "alpha", "Note the plumber", "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"session {OK_ID}  queued"
        assert calls == [("trigger", {"prompt": "Note the plumber", "idempotency_key": None, "wait": False})]


async def test_trigger_json_and_idempotency_key(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        first = await run("trigger", "alpha", "p", "--idempotency-key", "k1", "--json", "--dir", str(root))
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout) == {"session_id": OK_ID, "status": "queued", "created": True}
        again = await run("trigger", "alpha", "p", "--idempotency-key", "k1", "--dir", str(root))
        assert "existing session" in again.stdout
        assert calls[0][1]["idempotency_key"] == "k1"


async def test_trigger_wait_prints_result_cost_and_duration(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("trigger", "alpha", "Note the plumber", "--wait", "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert f"session {OK_ID}  succeeded" in result.stdout
        assert "Noted: plumber on Tuesday." in result.stdout
        assert "cost $0.0123  duration 4.2 s  turns 3" in result.stdout
        [(_, args)] = calls
        assert args["wait"] is True and args["idempotency_key"].startswith("butlerctl-")


async def test_trigger_wait_on_a_failed_session_exits_1_with_its_error(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("trigger", "alpha", "fail", "--wait", "--dir", str(root))
        assert result.exit_code == 1
        assert f"session {FAILED_ID}  failed" in result.stdout
        assert "agent error: boom" in result.stderr

        as_json = await run("trigger", "alpha", "fail", "--wait", "--json", "--dir", str(root))
        assert as_json.exit_code == 1
        assert json.loads(as_json.stdout)["status"] == "failed"


async def test_trigger_wait_that_runs_out_names_the_session_and_exits_1(tmp_path: Path) -> None:
    # The wait must outlast a client's connect and first call even on a loaded machine.
    mcp, calls = fake_butler(wait_s=30)
    async with serve_asgi(mcp.http_app(path="/mcp")) as url:
        write_butler(tmp_path, "alpha", int(url.rsplit(":", 1)[1]))
        result = await run("trigger", "alpha", "slow", "--wait", "--timeout", "3", "--dir", str(tmp_path))
    assert result.exit_code == 1
    assert f"session {OK_ID} is still queued after 3 s" in result.stderr
    # The second call asked about the same session (same key) instead of starting another.
    assert [c[1]["wait"] for c in calls] == [True, False]
    assert calls[0][1]["idempotency_key"] == calls[1][1]["idempotency_key"]


async def test_a_tool_error_exits_1_with_the_tools_message(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("trigger", "alpha", "bad", "--dir", str(root))
        assert result.exit_code == 1
        assert "trigger failed: trigger: argument 'prompt': must be a non-empty text" in result.stderr

        # A bad choice is refused by the CLI itself, as a usage error (docs/cli.md: exit 2).
        listed = await run("sessions", "alpha", "--status", "nope", "--dir", str(root))
        assert listed.exit_code == 2
        assert "'nope' is not one of" in listed.stderr


@pytest.mark.parametrize(
    "command",
    [["trigger", "alpha", "hi"], ["trigger", "alpha", "hi", "--wait"], ["sessions", "alpha"],
     ["session", "alpha", OK_ID], ["cancel", "alpha", OK_ID]],
)  # fmt: skip
def test_a_butler_that_is_down_exits_1_naming_the_url(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    write_butler(tmp_path, "alpha", port)
    result = CliRunner().invoke(app, [*command, "--dir", str(tmp_path), "--host", "127.0.0.1"])
    assert result.exit_code == 1
    assert f"http://127.0.0.1:{port}/mcp" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["trigger", "nobody", "hi"], ["sessions", "nobody"], ["session", "nobody", OK_ID], ["cancel", "nobody", "x"]],
)
def test_an_unknown_butler_is_a_usage_error_listing_the_known(tmp_path: Path, command: list[str]) -> None:
    write_butler(tmp_path, "alpha", 8150)
    write_butler(tmp_path, "beta", 8151)
    result = CliRunner().invoke(app, [*command, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown butler 'nobody' (known: alpha, beta)" in result.stderr


def test_missing_arguments_and_bad_options_are_usage_errors(tmp_path: Path) -> None:
    write_butler(tmp_path, "alpha", 8150)
    invoke = CliRunner().invoke
    assert invoke(app, ["trigger", "alpha", "--dir", str(tmp_path)]).exit_code == 2
    assert invoke(app, ["sessions", "alpha", "--limit", "0", "--dir", str(tmp_path)]).exit_code == 2
    assert invoke(app, ["sessions", "alpha", "--since", "yesterday", "--dir", str(tmp_path)]).exit_code == 2
    assert invoke(app, ["session", "alpha", "--dir", str(tmp_path)]).exit_code == 2


# ---------------------------------------------------------------- sessions


async def test_sessions_prints_a_table(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("sessions", "alpha", "--dir", str(root))
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["ID", "STATUS", "SOURCE", "SCHEDULE", "QUEUED", "DURATION", "COST", "PROMPT"]
        assert [line.split()[:3] for line in lines[1:]] == [
            [QUEUED_ID[:8], "queued", "trigger_tool"],
            [FAILED_ID[:8], "failed", "trigger_tool"],
            [OK_ID[:8], "succeeded", "trigger_tool"],
        ]
        ok_line = lines[3]
        assert "4.2 s" in ok_line and "$0.0123" in ok_line
        assert ok_line.endswith("Note that the plumber comes Tuesday")  # first line of the prompt only


async def test_sessions_passes_filters_and_json_parses(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run(
            "sessions", "alpha", "--status", "failed", "--source", "trigger_tool",
            "--since", "2026-01-31T07:00:00+00:00", "--limit", "5", "--json", "--dir", str(root),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert [s["id"] for s in data["sessions"]] == [FAILED_ID]
        [(_, args)] = calls
        assert args["status"] == "failed" and args["source"] == "trigger_tool" and args["limit"] == 5
        assert args["since"] is not None and args["since"].startswith("2026-01-31T07:00:00")


async def test_sessions_with_none_found_says_so(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("sessions", "alpha", "--status", "running", "--dir", str(root))
        assert result.exit_code == 0
        assert "No sessions of alpha matching." in result.stdout


# ---------------------------------------------------------------- session


async def test_session_shows_the_record_with_every_tool_call(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("session", "alpha", OK_ID, "--dir", str(root))
        assert result.exit_code == 0, result.output
        out = result.stdout
        assert f"session:   {OK_ID}" in out
        assert "status:    succeeded" in out
        assert "tokens:    input 1200, output 80, cache_read 0, cache_creation 0" in out
        assert "Note that the plumber comes Tuesday\n  second line" in out
        assert "tool calls: 2" in out
        assert "1. mcp__general__state_set" in out
        assert 'arguments: {"key": "plumber", "value": "tuesday"}' in out
        assert 'result: {"ok": true}' in out
        assert "2. Bash" in out and "error: tool Bash is not allowed" in out


async def test_session_accepts_the_short_id_and_prints_json(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("session", "alpha", OK_ID[:8], "--json", "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == SUCCEEDED


async def test_session_unknown_id_exits_1_with_the_tools_message(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        missing = str(uuid.uuid4())
        result = await run("session", "alpha", missing, "--dir", str(root))
        assert result.exit_code == 1
        assert f"no session {missing}" in result.stderr
        short = await run("session", "alpha", "ffff", "--dir", str(root))
        assert short.exit_code == 1
        assert "no recent session with an id starting with 'ffff'" in short.stderr


# ---------------------------------------------------------------- cancel


async def test_cancel_a_queued_session(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("cancel", "alpha", QUEUED_ID, "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"session {QUEUED_ID}  cancelled"
        assert calls == [("session_cancel", {"session_id": QUEUED_ID})]


async def test_cancel_a_finished_session_exits_1(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        result = await run("cancel", "alpha", OK_ID, "--dir", str(root))
        assert result.exit_code == 1
        assert f"session {OK_ID} is succeeded, not cancelled" in result.stderr
