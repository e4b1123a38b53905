"""The approval gate: nothing runs before approval, an approved action runs once, a rejected one never."""

from __future__ import annotations

import uuid
from typing import Any

import anyio
import asyncpg
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.core.approval_tools import register_approval_tools
from butlers.core.approvals import Approval, ApprovalGate, UnknownActionError
from butlers.errors import NotFoundError
from butlers.statuses import ApprovalStatus

pytestmark = pytest.mark.integration

ARGS = {"to": "ann@example.org", "subject": "Tuesday", "body": "See you then."}


class Outbox:
    """A stand-in outbound action that records every send; `slow` holds it open to let approvals race."""

    def __init__(self, *, fail: bool = False, slow: float = 0.0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail = fail
        self.slow = slow

    async def send(self, args: dict[str, Any]) -> dict[str, Any]:
        await anyio.sleep(self.slow)
        if self.fail:
            raise ConnectionError("SMTP server said no")
        self.sent.append(args)
        return {"message_id": f"<{len(self.sent)}@butlers>"}


def gate_with(pool: asyncpg.Pool, outbox: Outbox) -> ApprovalGate:
    gate = ApprovalGate(pool, "general")
    gate.register("email_send", outbox.send)
    return gate


async def pending(gate: ApprovalGate) -> uuid.UUID:
    held = await gate.guard("email_send", ARGS, require=True, summary="Mail ann@example.org: Tuesday")
    assert held["status"] == "pending_approval" and held["summary"] == "Mail ann@example.org: Tuesday"
    return uuid.UUID(held["approval_id"])


async def test_without_require_it_runs_at_once(pool: asyncpg.Pool) -> None:
    outbox = Outbox()
    result = await gate_with(pool, outbox).guard("email_send", ARGS, require=False, summary="s")
    assert result == {"message_id": "<1@butlers>"} and outbox.sent == [ARGS]
    assert await pool.fetchval("SELECT count(*) FROM approvals") == 0


async def test_nothing_runs_before_approval_then_it_runs_once_with_its_outcome(pool: asyncpg.Pool) -> None:
    outbox = Outbox()
    gate = gate_with(pool, outbox)
    approval_id = await pending(gate)
    assert outbox.sent == []
    [listed] = await gate.list()
    assert listed.id == approval_id and listed.args == ARGS and listed.status == "pending"

    first = await gate.approve(approval_id)
    assert outbox.sent == [ARGS]
    assert first.status == "succeeded" and first.result == {"message_id": "<1@butlers>"}
    assert first.decided_at is not None and first.finished_at is not None

    again = await gate.approve(approval_id)
    assert outbox.sent == [ARGS] and again == first
    assert await gate.list() == [] and [a.id for a in await gate.list(ApprovalStatus.SUCCEEDED)] == [approval_id]


async def test_two_concurrent_approvals_run_it_once_and_both_see_the_outcome(pool: asyncpg.Pool) -> None:
    outbox = Outbox(slow=0.3)
    gate = gate_with(pool, outbox)
    approval_id = await pending(gate)
    answers: list[Approval] = []

    async def approve(g: ApprovalGate, aid: uuid.UUID) -> None:
        answers.append(await g.approve(aid))

    async with anyio.create_task_group() as tg:
        tg.start_soon(approve, gate, approval_id)
        tg.start_soon(approve, gate, approval_id)
    assert len(outbox.sent) == 1
    assert [a.status for a in answers] == ["succeeded", "succeeded"]

    # Two gates (as two processes would have) on a fresh one: the row lock alone decides.
    second_id = await pending(gate)
    async with anyio.create_task_group() as tg:
        tg.start_soon(approve, gate, second_id)
        tg.start_soon(approve, gate_with(pool, outbox), second_id)
    assert len(outbox.sent) == 2
    # The other gate saw it running or finished, never pending: it ran nothing itself.
    assert {a.status for a in answers[2:]} <= {"running", "succeeded"}


async def test_reject_runs_nothing_and_cannot_be_approved_later(pool: asyncpg.Pool) -> None:
    outbox = Outbox()
    gate = gate_with(pool, outbox)
    approval_id = await pending(gate)
    rejected = await gate.reject(approval_id, "not now")
    assert rejected.status == "rejected" and rejected.reason == "not now"
    assert (await gate.approve(approval_id)).status == "rejected"
    assert outbox.sent == []
    # Rejecting what already ran changes nothing.
    done = await pending(gate)
    await gate.approve(done)
    assert (await gate.reject(done)).status == "succeeded"


async def test_a_failing_action_is_recorded_failed_and_not_run_again(pool: asyncpg.Pool) -> None:
    outbox = Outbox(fail=True)
    gate = gate_with(pool, outbox)
    approval_id = await pending(gate)
    record = await gate.approve(approval_id)
    assert record.status == "failed" and record.error == "ConnectionError: SMTP server said no"
    outbox.fail = False
    assert (await gate.approve(approval_id)).status == "failed" and outbox.sent == []


async def test_an_action_left_running_by_a_crash_is_failed_at_startup_never_rerun(pool: asyncpg.Pool) -> None:
    outbox = Outbox()
    gate = gate_with(pool, outbox)
    approval_id = await pending(gate)
    await pool.execute("UPDATE approvals SET status = 'running', decided_at = now() WHERE id = $1", approval_id)
    assert await ApprovalGate(pool, "general").recover_at_startup() == 1
    record = await gate.approve(approval_id)
    assert record.status == "failed" and "may or may not have happened" in (record.error or "")
    assert outbox.sent == []


async def test_unknown_ids_and_actions(pool: asyncpg.Pool) -> None:
    gate = gate_with(pool, Outbox())
    with pytest.raises(NotFoundError):
        await gate.approve(uuid.uuid4())
    with pytest.raises(NotFoundError):
        await gate.reject(uuid.uuid4())
    with pytest.raises(UnknownActionError, match="'telegram_send' is not available"):
        await gate.guard("telegram_send", {}, require=True, summary="s")
    # A stored action whose module is gone stays pending: enabling the module lets it run.
    approval_id = await pending(gate)
    with pytest.raises(UnknownActionError):
        await ApprovalGate(pool, "general").approve(approval_id)
    assert (await gate.approve(approval_id)).status == "succeeded"


async def test_arguments_must_be_json(pool: asyncpg.Pool) -> None:
    gate = gate_with(pool, Outbox())
    with pytest.raises(ValueError, match="email_send: arguments are not JSON"):
        await gate.guard("email_send", {"x": {1, 2}}, require=True, summary="s")
    assert await pool.fetchval("SELECT count(*) FROM approvals") == 0


# ---------------------------------------------------------------- the MCP tools


def server(gate: ApprovalGate) -> FastMCP:
    mcp: FastMCP = FastMCP("general")
    register_approval_tools(mcp, gate)
    return mcp


async def snapshot(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await pool.fetch("SELECT id, status, reason FROM approvals ORDER BY id")]


async def test_the_tools_list_approve_and_reject(pool: asyncpg.Pool) -> None:
    outbox = Outbox()
    gate = gate_with(pool, outbox)
    to_send, to_drop = await pending(gate), await pending(gate)
    async with Client(server(gate)) as client:
        listed = (await client.call_tool("approvals_list", {})).structured_content
        assert listed is not None and {a["id"] for a in listed["approvals"]} == {str(to_send), str(to_drop)}
        sent = (await client.call_tool("approval_approve", {"approval_id": str(to_send)})).structured_content
        assert sent is not None and sent["status"] == "succeeded" and sent["result"] == {"message_id": "<1@butlers>"}
        dropped = (
            await client.call_tool("approval_reject", {"approval_id": str(to_drop), "reason": "no"})
        ).structured_content
        assert dropped is not None and dropped["status"] == "rejected"
        every = (await client.call_tool("approvals_list", {"status": "all"})).structured_content
        assert every is not None and len(every["approvals"]) == 2
    assert outbox.sent == [ARGS]


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("approval_approve", {"approval_id": "nope"}, "approval_approve: argument 'approval_id': not an approval id"),
        ("approval_reject", {"approval_id": "12"}, "approval_reject: argument 'approval_id': not an approval id"),
        ("approval_approve", {"approval_id": str(uuid.UUID(int=7))}, "approval_approve: argument 'approval_id': no approval"),
        ("approval_reject", {"approval_id": str(uuid.UUID(int=7))}, "approval_reject: argument 'approval_id': no approval"),
        ("approval_reject", {"approval_id": str(uuid.UUID(int=7)), "reason": "x" * 3000}, "approval_reject: argument 'reason'"),
        ("approvals_list", {"status": "nope"}, "approvals_list: argument 'status': 'nope' is not one of"),
        ("approvals_list", {"limit": 0}, "approvals_list: argument 'limit'"),
    ],
)  # fmt: skip
async def test_bad_input_names_tool_and_argument_and_writes_nothing(
    pool: asyncpg.Pool, tool: str, args: dict[str, Any], message: str
) -> None:
    outbox = Outbox()
    gate = gate_with(pool, outbox)
    await pending(gate)
    before = await snapshot(pool)
    async with Client(server(gate)) as client:
        with pytest.raises(ToolError, match=message):
            await client.call_tool(tool, args)
    assert await snapshot(pool) == before and outbox.sent == []
