"""The spawner runs real Claude Code sessions against the Messages API stand-in.

Each test serves a small butler MCP server (a state tool writing to the test
database, plus the session tools), runs the spawner's worker in a task group
and scripts the model. Waits are on conditions, bounded by fail_after.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import asyncpg
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from spawner_helpers import CANARY, MODEL, PRICE, running_butler, wait_status

from butlers.core.dispatch import DispatchRequest
from butlers.db import ServerAddress
from butlers.statuses import TriggerSource
from butlers.testing.model_api import Hang, ModelApiStandIn, Reply, Text, ToolUse, Turn, Usage

pytestmark = pytest.mark.integration


async def test_agent_calls_butler_tool_and_record_is_complete(pool: asyncpg.Pool, tmp_path: Path) -> None:
    script: list[Turn] = [
        ToolUse("mcp__general__state_set", {"key": "groceries", "value": 3}, usage=Usage(1200, 40, 300, 500)),
        Text("Stored.", usage=Usage(1500, 12, 800, 0)),
    ]
    async with running_butler(pool, tmp_path, script) as b:
        out = await b.spawner.wait_finished(await b.spawner.trigger("Store 3 under groceries"))
        offered = set(b.api.tool_names(0))
        system = b.api.system_text(0)

    assert out.status == "succeeded", out.error
    assert await pool.fetchval("SELECT value FROM state WHERE key = 'groceries'") == 3
    assert offered == {"mcp__general__state_set", "mcp__general__sessions_list", "mcp__general__sessions_get"}
    assert "You are the general butler." in system
    row = await pool.fetchrow("SELECT * FROM sessions WHERE id = $1", out.session_id)
    assert row is not None
    assert row["result"] == "Stored." and row["trigger_source"] == "trigger_tool"
    [call] = row["tool_calls"]
    assert call["tool"] == "mcp__general__state_set" and call["arguments"] == {"key": "groceries", "value": 3}
    assert "stored groceries" in call["result"] and "error" not in call
    assert (row["input_tokens"], row["output_tokens"]) == (2700, 52)
    assert (row["cache_read_tokens"], row["cache_creation_tokens"]) == (1100, 500)
    cost = 2700 * PRICE["input"] + 52 * PRICE["output"] + 1100 * PRICE["cache_read"] + 500 * PRICE["cache_creation"]
    assert float(row["cost_usd"]) == pytest.approx(cost, abs=1e-6)
    assert row["num_turns"] == 2 and row["model"] == MODEL
    assert row["agent_session_id"] and row["started_at"] <= row["finished_at"] and row["duration_ms"] >= 0


async def test_builtin_foreign_and_recursive_tools_are_refused(pool: asyncpg.Pool, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    script: list[Turn] = [
        Reply((ToolUse("Bash", {"command": f"touch {marker}"}), ToolUse("Read", {"file_path": "/etc/passwd"}))),
        ToolUse("mcp__health__state_set", {"key": "x", "value": 1}),
        ToolUse("mcp__general__trigger", {"prompt": "again"}),
        Text("gave up"),
    ]
    async with running_butler(pool, tmp_path, script) as b:
        out = await b.spawner.wait_finished(await b.spawner.trigger("try everything"))

    assert out.status == "succeeded"
    calls = out.tool_calls
    assert [c["tool"] for c in calls] == ["Bash", "Read", "mcp__health__state_set", "mcp__general__trigger"]
    assert all("No such tool available" in c["error"] and "result" not in c for c in calls)
    assert not marker.exists()
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 1  # no recursive session


async def test_child_sees_only_whitelisted_env_and_cancel_kills_it(
    pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUTLERS_CANARY_SECRET", CANARY)
    tracer = TracerProvider().get_tracer("test")
    with structlog.testing.capture_logs() as logs:
        async with running_butler(pool, tmp_path, [Hang()], declared={"GENERAL_TOKEN": "declared-1"}) as b:
            with tracer.start_as_current_span("tool call trigger") as cause:
                queued = await b.spawner.trigger("wait forever")
            await b.api.wait_hanging()
            [pid] = b.spawner.active_pids().values()
            environ = dict(
                item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
            )
            cancelled = await b.spawner.cancel(queued.session_id)

    assert CANARY not in json.dumps(environ) and "BUTLERS_CANARY_SECRET" not in environ
    expected = {
        "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_RETRIES", "PATH", "HOME", "CLAUDE_CONFIG_DIR",
        "TMPDIR", "LANG", "LC_ALL", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "ENABLE_TOOL_SEARCH",
        "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SDK_READS_SESSION_STATE", "CLAUDE_AGENT_SDK_VERSION", "PWD",
        "TRACEPARENT", "GENERAL_TOKEN",
    }  # fmt: skip
    assert set(environ) == expected
    assert environ["HOME"] == str(tmp_path / "data" / "agents" / "general" / "home")
    trace_id = format(cause.get_span_context().trace_id, "032x")
    assert environ["TRACEPARENT"].split("-")[1] == trace_id
    assert cancelled.status == "cancelled" and cancelled.trace_id == trace_id
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    everything = json.dumps([cancelled, logs, b.api.requests, b.api.headers], default=str)
    assert CANARY not in everything


async def test_timeout_kills_the_cli(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Hang()], timeout_s=1.5) as b:
        with anyio.fail_after(15):
            out = await b.spawner.wait_finished(await b.spawner.trigger("hang"))
        assert b.spawner.active_pids() == {}
    assert out.status == "timed_out" and "timed out after 1.5 s" in (out.error or "")
    assert out.duration_ms is not None and out.duration_ms < 8000


async def test_daily_budget_refuses_new_sessions(pool: asyncpg.Pool, tmp_path: Path) -> None:
    script: list[Turn] = [Text("expensive", usage=Usage(100_000, 1000))]  # about $0.315
    async with running_butler(pool, tmp_path, script, daily_budget_usd=0.2) as b:
        first = await b.spawner.wait_finished(await b.spawner.trigger("one"))
        second = await b.spawner.wait_finished(await b.spawner.trigger("two"))
        requests = len(b.api.requests)
    # The CLI itself is capped at the budget left (--max-budget-usd): the turn that
    # crosses it stops the session, truthfully recorded with its cost.
    assert first.status == "failed" and "budget was reached during the session" in (first.error or "")
    assert first.cost_usd == pytest.approx(0.315)
    assert second.status == "failed" and "daily budget of $0.20 reached" in (second.error or "")
    assert requests == 1  # the refused session never reached the model


async def test_missing_model_credential_is_a_recorded_failure(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [], model_env={}) as b:
        out = await b.spawner.wait_finished(await b.spawner.trigger("hi"))
    assert out.status == "failed" and "ANTHROPIC_API_KEY" in (out.error or "")


async def test_idempotency_key_gives_the_same_session(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Text("once")]) as b:
        a = await b.spawner.wait_finished(await b.spawner.trigger("do it", idempotency_key="k-1"))
        again = await b.spawner.wait_finished(await b.spawner.trigger("do it", idempotency_key="k-1"))
    assert (a.created, again.created) == (True, False)
    assert a.session_id == again.session_id and again.result == "once"
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 1


async def test_dispatch_runs_after_commit_only(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Text("scheduled work done")]) as b:
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            await b.spawner.dispatch(
                conn, DispatchRequest(TriggerSource.SCHEDULE, "rolled back", schedule_name="nightly")
            )
            await tx.rollback()
            async with conn.transaction():
                sid = await b.spawner.dispatch(
                    conn, DispatchRequest(TriggerSource.SCHEDULE, "nightly", schedule_name="nightly")
                )
        row = await wait_status(pool, sid, {"succeeded", "failed"})
    assert row["status"] == "succeeded" and row["schedule_name"] == "nightly" and row["result"] == "scheduled work done"
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 1


async def test_crash_leaves_interrupted_and_queued_sessions_run_after_restart(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # What a killed daemon leaves behind: one session running, one still queued.
    crashed = await pool.fetchval(
        "INSERT INTO sessions (trigger_source, prompt, status, started_at) VALUES ('tick', 'was running', 'running', now()) RETURNING id"
    )
    waiting = await pool.fetchval(
        "INSERT INTO sessions (trigger_source, prompt) VALUES ('trigger_tool', 'queued') RETURNING id"
    )
    async with running_butler(pool, tmp_path, [Text("ran after restart")]) as b:
        row = await wait_status(pool, waiting, {"succeeded", "failed"})
        assert b.api.requests[0]["messages"][0]["content"][-1]["text"].endswith("queued")
    assert row["status"] == "succeeded" and row["result"] == "ran after restart"
    old = await pool.fetchrow("SELECT status, error FROM sessions WHERE id = $1", crashed)
    assert old is not None
    assert old["status"] == "interrupted" and "found running at startup" in old["error"]


async def test_killed_daemon_leaves_interrupted_and_queued_runs_after_restart(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, tmp_path: Path
) -> None:
    script = Path(__file__).with_name("crashing_daemon.py")
    async with ModelApiStandIn([Hang()]) as api:
        args = [sys.executable, str(script), pg_address.dsn(database), api.base_url, str(tmp_path)]
        env = {**os.environ, "PYTHONPATH": str(script.parent)}
        async with await anyio.open_process(args, env=env) as daemon:
            await api.wait_hanging(within_s=60)
            [cli] = [p for p in children(daemon.pid) if "claude" in Path(f"/proc/{p}/cmdline").read_text()]
            daemon.kill()  # SIGKILL: no cleanup runs
            await daemon.wait()
            # The launcher's parent-death signal takes the orphaned CLI down too.
            with anyio.fail_after(10):
                while alive(cli):  # noqa: ASYNC110 - a process, not an event
                    await anyio.sleep(0.02)
    assert {r["prompt"]: r["status"] for r in await pool.fetch("SELECT prompt, status FROM sessions")} == {
        "long job": "running",
        "next job": "queued",
    }
    async with running_butler(pool, tmp_path, [Text("ran after restart")]) as b:
        queued = await pool.fetchval("SELECT id FROM sessions WHERE prompt = 'next job'")
        row = await wait_status(pool, queued, {"succeeded", "failed"})
        assert len(b.api.requests) == 1
    assert row["status"] == "succeeded" and row["result"] == "ran after restart"
    crashed = await pool.fetchrow("SELECT status, error, finished_at FROM sessions WHERE prompt = 'long job'")
    assert crashed is not None and crashed["status"] == "interrupted" and "found running at startup" in crashed["error"]


def alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


async def test_shutdown_marks_running_sessions_interrupted(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Hang()]) as b:
        queued = await b.spawner.trigger("long job")
        await b.api.wait_hanging()
    row = await wait_status(pool, queued.session_id, {"interrupted"}, within=1)
    assert "shut down during the session" in row["error"]


async def test_finished_session_record_cannot_change(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Text("final")]) as b:
        out = await b.spawner.wait_finished(await b.spawner.trigger("x"))
    with pytest.raises(asyncpg.PostgresError, match="cannot be changed"):
        await pool.execute("UPDATE sessions SET result = 'rewritten' WHERE id = $1", out.session_id)


async def test_concurrency_limit(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Hang(), Hang(), Hang()], max_concurrency=2) as b:
        ids = [(await b.spawner.trigger(f"job {i}")).session_id for i in range(3)]
        await b.api.wait_for_requests(2)
        assert len(b.spawner.active_pids()) == 2
        statuses = {r["status"] for r in await pool.fetch("SELECT status FROM sessions")}
        running = await pool.fetchval("SELECT count(*) FROM sessions WHERE status = 'running'")
        assert running == 2 and statuses == {"running", "queued"}
        for sid in ids:
            await b.spawner.cancel(sid)
        assert len(b.api.requests) == 2  # the third never reached the model while two ran
    assert {r["status"] for r in await pool.fetch("SELECT status FROM sessions")} == {"cancelled"}


async def test_drain_waits_for_running_sessions_and_leaves_queued_ones(pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with running_butler(pool, tmp_path, [Hang(), Text("never")]) as b:
        first = await b.spawner.trigger("running one")
        second = await b.spawner.trigger("queued one")
        await b.api.wait_hanging()
        async with anyio.create_task_group() as tg:
            tg.start_soon(b.spawner.drain)
            b.api.release()  # the model answers (with an error): the running session ends
        assert b.spawner.active_pids() == {}
    done = await wait_status(pool, first.session_id, {"failed"}, within=1)
    assert "HTTP 500" in done["error"]
    assert (await wait_status(pool, second.session_id, {"queued"}, within=1))["status"] == "queued"


async def test_a_due_schedule_becomes_one_session_that_runs(pool: asyncpg.Pool, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from butlers.config import ScheduleConfig
    from butlers.core.scheduler import Scheduler

    script: list[Turn] = [ToolUse("mcp__general__state_set", {"key": "brief", "value": 1}), Text("Briefed.")]
    async with running_butler(pool, tmp_path, script) as b:
        scheduler = Scheduler(pool, b.spawner)
        t0 = datetime(2026, 3, 1, 7, 59, tzinfo=UTC)
        brief = ScheduleConfig(name="morning", cron="0 8 * * *", prompt="Brief me.", timezone="UTC")
        await scheduler.sync_from_config([brief], now=t0)
        [fired] = await scheduler.claim_due(now=t0 + timedelta(minutes=2))
        assert await scheduler.claim_due(now=t0 + timedelta(minutes=2)) == []
        assert fired.session_id is not None
        row = await wait_status(pool, fired.session_id, {"succeeded", "failed"})
    assert row["status"] == "succeeded", row["error"]
    assert (row["trigger_source"], row["schedule_name"], row["prompt"]) == ("schedule", "morning", "Brief me.")
    assert await pool.fetchval("SELECT value FROM state WHERE key = 'brief'") == 1
    assert await pool.fetchval("SELECT count(*) FROM sessions") == 1
