"""The session tools over MCP: trigger, sessions_list, sessions_get, session_cancel."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from spawner_helpers import butler_config, running_butler

from butlers.core.session_tools import register_session_tools
from butlers.core.spawner import Spawner
from butlers.testing.model_api import Text, ToolUse, Turn

pytestmark = pytest.mark.integration


async def test_trigger_tool_runs_a_session_and_the_log_shows_it(pool: asyncpg.Pool, tmp_path: Path) -> None:
    script: list[Turn] = [ToolUse("mcp__general__state_set", {"key": "a", "value": 1}), Text("ok")]
    async with running_butler(pool, tmp_path, script) as b, Client(b.mcp) as client:
        out = (await client.call_tool("trigger", {"prompt": "set a", "wait": True})).structured_content
        assert out is not None and out["status"] == "succeeded" and out["result"] == "ok"
        listed = (
            await client.call_tool("sessions_list", {"status": "succeeded", "source": "trigger_tool"})
        ).structured_content
        got = (await client.call_tool("sessions_get", {"session_id": out["session_id"]})).structured_content
        none = (await client.call_tool("sessions_list", {"status": "failed"})).structured_content
    assert listed is not None and [s["id"] for s in listed["sessions"]] == [out["session_id"]]
    assert got is not None and got["tool_calls"][0]["tool"] == "mcp__general__state_set"
    assert none is not None and none["sessions"] == []


def idle_butler(pool: asyncpg.Pool, tmp_path: Path) -> FastMCP:
    """The session tools over a spawner whose worker is not running: work stays queued."""
    spawner = Spawner(
        "general", butler_config(tmp_path / "b"), pool, "http://127.0.0.1:9/mcp", tmp_path / "d", {}, model_env={}
    )
    mcp: FastMCP = FastMCP("general")
    register_session_tools(mcp, spawner, spawner.sessions)
    return mcp


async def test_cancel_tool_cancels_a_queued_session(pool: asyncpg.Pool, tmp_path: Path) -> None:
    sid = await pool.fetchval("INSERT INTO sessions (trigger_source, prompt) VALUES ('tick', 'later') RETURNING id")
    async with Client(idle_butler(pool, tmp_path)) as client:
        out = (await client.call_tool("session_cancel", {"session_id": str(sid)})).structured_content
        again = (await client.call_tool("session_cancel", {"session_id": str(sid)})).structured_content
    assert out is not None and out["status"] == "cancelled" and "before it started" in out["error"]
    assert again is not None and again["status"] == "cancelled"


async def test_trigger_tool_without_wait_returns_the_queued_id(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with Client(idle_butler(pool, tmp_path)) as client:
        out = (await client.call_tool("trigger", {"prompt": "later", "context": {"why": "test"}})).structured_content
    assert out is not None and out["status"] == "queued" and out["created"] is True
    row = await pool.fetchrow("SELECT * FROM sessions WHERE id = $1", uuid.UUID(out["session_id"]))
    assert row is not None
    assert row["context"] == {"why": "test"} and row["trigger_source"] == "trigger_tool"


BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("trigger", {"prompt": ""}, "prompt"),
    ("trigger", {"prompt": "   "}, "prompt"),
    ("trigger", {"prompt": "x" * 100_001}, "prompt"),
    ("trigger", {"prompt": "ok", "idempotency_key": ""}, "idempotency_key"),
    ("trigger", {"prompt": "ok", "idempotency_key": "k" * 201}, "idempotency_key"),
    ("trigger", {"prompt": "ok", "context": "not an object"}, "context"),
    ("trigger", {"prompt": 5}, "prompt"),
    ("sessions_list", {"status": "done"}, "status"),
    ("sessions_list", {"source": "cron"}, "source"),
    ("sessions_list", {"since": "yesterday"}, "since"),
    ("sessions_list", {"since": "2026-01-01T00:00:00"}, "since"),
    ("sessions_list", {"limit": 0}, "limit"),
    ("sessions_list", {"limit": 1000}, "limit"),
    ("sessions_list", {"offset": -1}, "offset"),
    ("sessions_get", {"session_id": "nope"}, "session_id"),
    ("sessions_get", {"session_id": str(uuid.uuid4())}, "session_id"),
    ("session_cancel", {"session_id": "12"}, "session_id"),
    ("session_cancel", {"session_id": str(uuid.uuid4())}, "session_id"),
]


@pytest.mark.parametrize(("tool", "arguments", "argument"), BAD_CALLS)
async def test_bad_input_is_refused_and_nothing_is_written(
    pool: asyncpg.Pool, tmp_path: Path, tool: str, arguments: dict[str, Any], argument: str
) -> None:
    async with Client(idle_butler(pool, tmp_path)) as client:
        with pytest.raises(ToolError) as err:
            await client.call_tool(tool, arguments)
    assert tool in str(err.value) and argument in str(err.value)
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 0
