"""butlerctl approvals list/approve/reject against a stand-in butler over real HTTP.

The stand-in exposes the three approval tools with the names, arguments, error
messages and record shapes of butlers.core.approval_tools.
"""

from __future__ import annotations

import json
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

PENDING_ID = "5a1b2c3d-0000-4000-8000-000000000001"
OTHER_ID = "8e9f0a1b-0000-4000-8000-000000000002"


def approval(aid: str, summary: str) -> dict[str, Any]:
    return {
        "id": aid, "action": "email_send", "args": {"to": "ann@example.org"}, "summary": summary,
        "status": "pending", "created_at": "2026-01-31T08:00:00+00:00", "decided_at": None, "finished_at": None,
        "result": None, "error": None, "reason": None,
    }  # fmt: skip


def fake_butler() -> tuple[FastMCP, list[tuple[str, dict[str, Any]]]]:
    mcp: FastMCP = FastMCP("alpha")
    calls: list[tuple[str, dict[str, Any]]] = []
    rows = {PENDING_ID: approval(PENDING_ID, "Mail ann@example.org: Tuesday"), OTHER_ID: approval(OTHER_ID, "Other")}

    def known(tool: str, approval_id: str) -> dict[str, Any]:
        if approval_id not in rows:
            raise ToolError(f"{tool}: argument 'approval_id': no approval {approval_id}")
        return rows[approval_id]

    @mcp.tool(name="approvals_list")
    async def approvals_list(status: str | None = "pending", limit: int = 50) -> dict[str, Any]:
        calls.append(("approvals_list", {"status": status, "limit": limit}))
        return {"approvals": [r for r in rows.values() if status in (None, "all", r["status"])][:limit]}

    @mcp.tool(name="approval_approve")
    async def approval_approve(approval_id: str) -> dict[str, Any]:
        calls.append(("approval_approve", {"approval_id": approval_id}))
        row = known("approval_approve", approval_id)
        if row["status"] == "pending":  # runs once; a second approve returns the outcome
            row.update(status="succeeded", result={"message_id": "<1@butlers>"}, decided_at="x", finished_at="x")
        return row

    @mcp.tool(name="approval_reject")
    async def approval_reject(approval_id: str, reason: str | None = None) -> dict[str, Any]:
        calls.append(("approval_reject", {"approval_id": approval_id, "reason": reason}))
        row = known("approval_reject", approval_id)
        if row["status"] == "pending":
            row.update(status="rejected", reason=reason, decided_at="x", finished_at="x")
        return row

    return mcp, calls


def write_butler(root: Path, name: str, port: int) -> None:
    (root / name).mkdir(parents=True)
    (root / name / CONFIG_FILE).write_text(f'[butler]\nname = "{name}"\nport = {port}\n', encoding="utf-8")


async def run(*args: str) -> Result:
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(app, list(args)))


@asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Path, list[tuple[str, dict[str, Any]]]]]:
    mcp, calls = fake_butler()
    async with serve_asgi(mcp.http_app(path="/mcp")) as url:
        write_butler(tmp_path / "b", "alpha", int(url.rsplit(":", 1)[1]))
        yield tmp_path / "b", calls


async def test_list_prints_a_table_of_pending_approvals(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("approvals", "list", "alpha", "--dir", str(root))
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines[0].split() == ["ID", "STATUS", "ACTION", "CREATED", "SUMMARY"]
        assert lines[1].split()[:3] == [PENDING_ID[:8], "pending", "email_send"]
        assert lines[1].endswith("Mail ann@example.org: Tuesday")
        assert calls == [("approvals_list", {"status": "pending", "limit": 50})]


async def test_list_json_and_status_filter(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("approvals", "list", "alpha", "--status", "all", "--json", "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert [a["id"] for a in json.loads(result.stdout)["approvals"]] == [PENDING_ID, OTHER_ID]
        none = await run("approvals", "list", "alpha", "--status", "rejected", "--dir", str(root))
        assert none.exit_code == 0 and "No rejected approvals of alpha." in none.stdout
        assert [c[1]["status"] for c in calls] == ["all", "rejected"]


async def test_approve_prints_the_outcome_and_twice_runs_once(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("approvals", "approve", "alpha", PENDING_ID, "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert f"approval {PENDING_ID}  succeeded  email_send" in result.stdout
        assert '"message_id": "<1@butlers>"' in result.stdout
        again = await run("approvals", "approve", "alpha", PENDING_ID[:8], "--json", "--dir", str(root))
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["status"] == "succeeded"
        assert [c for c in calls if c[0] == "approval_approve"] == [
            ("approval_approve", {"approval_id": PENDING_ID})
        ] * 2


async def test_reject_with_a_reason_then_approve_exits_1(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, calls):
        result = await run("approvals", "reject", "alpha", PENDING_ID, "--reason", "not now", "--dir", str(root))
        assert result.exit_code == 0, result.output
        assert f"approval {PENDING_ID}  rejected" in result.stdout and "reason: not now" in result.stdout
        assert calls == [("approval_reject", {"approval_id": PENDING_ID, "reason": "not now"})]
        late = await run("approvals", "approve", "alpha", PENDING_ID, "--dir", str(root))
        assert late.exit_code == 1
        assert f"approval {PENDING_ID} is rejected: not now" in late.stderr


async def test_rejecting_a_decided_one_exits_1(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        await run("approvals", "approve", "alpha", PENDING_ID, "--dir", str(root))
        result = await run("approvals", "reject", "alpha", PENDING_ID, "--json", "--dir", str(root))
        assert result.exit_code == 1
        assert json.loads(result.stdout)["status"] == "succeeded"
        assert "is succeeded, not rejected" in result.stderr


async def test_unknown_ids_exit_1(tmp_path: Path) -> None:
    async with serving(tmp_path) as (root, _):
        missing = "00000000-0000-4000-8000-0000000000ff"
        result = await run("approvals", "approve", "alpha", missing, "--dir", str(root))
        assert result.exit_code == 1
        assert f"approval_approve: argument 'approval_id': no approval {missing}" in result.stderr
        short = await run("approvals", "reject", "alpha", "ffff", "--dir", str(root))
        assert short.exit_code == 1 and "no approval with an id starting with 'ffff'" in short.stderr


def test_a_butler_that_is_down_exits_1_naming_the_url(tmp_path: Path) -> None:
    write_butler(tmp_path, "alpha", 9)
    result = CliRunner().invoke(app, ["approvals", "list", "alpha", "--dir", str(tmp_path), "--host", "127.0.0.1"])
    assert result.exit_code == 1
    assert "http://127.0.0.1:9/mcp" in result.stderr


@pytest.mark.parametrize(
    "command",
    [["approvals", "list"], ["approvals", "approve", "alpha"], ["approvals", "list", "alpha", "--status", "nope"],
     ["approvals", "frobnicate", "alpha"], ["approvals", "list", "nobody"]],
)  # fmt: skip
def test_usage_errors_exit_2(tmp_path: Path, command: list[str]) -> None:
    write_butler(tmp_path, "alpha", 8150)
    result = CliRunner().invoke(app, [*command, "--dir", str(tmp_path)])
    assert result.exit_code == 2, result.output


def test_help_on_every_command() -> None:
    for command in (["approvals"], ["approvals", "list"], ["approvals", "approve"], ["approvals", "reject"]):
        result = CliRunner().invoke(app, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.stdout
