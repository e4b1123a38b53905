"""MCP tools over the approval gate: approvals_list, approval_approve, approval_reject.

Every butler has them, whether or not a module gates anything. Each signature
is its schema; a bad call is refused before anything is written, naming the
tool and the argument.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastmcp import FastMCP
from pydantic import BaseModel, Field

from butlers.auth import Role
from butlers.core.approvals import IN_PROCESS, MAX_LIST, Approval, ApprovalGate, Decider
from butlers.core.tool_edge import declared
from butlers.core.tool_errors import bad_argument, parse_uuid
from butlers.http_guard import current_caller
from butlers.statuses import ApprovalStatus

MAX_REASON = 2_000

ApprovalId = Annotated[str, Field(description="The approval's id (a UUID).", json_schema_extra={"format": "uuid"})]


class ApprovalList(BaseModel):
    approvals: list[Approval]


def _approval_id(tool: str, value: str) -> uuid.UUID:
    return parse_uuid(tool, "approval_id", value, "an approval")


def _decider(tool: str) -> Decider:
    """Who is deciding. The HTTP guard lets only the operator through; this re-checks it, so a
    guard misconfiguration can never let an agent or an anonymous caller decide."""
    caller = current_caller()
    if caller is None:
        return IN_PROCESS
    if caller.role is not Role.OPERATOR:
        raise bad_argument(tool, "approval_id", "only a person with the operator token decides held actions")
    return Decider("operator", caller.via)


def register_approval_tools(mcp: FastMCP, gate: ApprovalGate) -> None:
    """Add the three approval tools to a butler's MCP server."""

    @declared(mcp)
    async def approvals_list(
        status: Annotated[
            ApprovalStatus | Literal["all"] | None, Field(description="Only approvals in this status; all: every one.")
        ] = ApprovalStatus.PENDING,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="At most this many, newest first.")] = 50,
    ) -> ApprovalList:
        """List actions waiting for (or decided by) the user's approval, newest first.

        `status`: pending (default), running, succeeded, failed, rejected, or all.
        """
        wanted = None if status is None or status == "all" else ApprovalStatus(status)
        return ApprovalList(approvals=await gate.list(wanted, limit=limit))

    @declared(mcp)
    async def approval_approve(approval_id: ApprovalId) -> Approval:
        """Approve a pending action: it runs now, exactly once; returns its record with the outcome.

        Approving one already decided runs nothing and returns its record.
        """
        aid = _approval_id("approval_approve", approval_id)
        return await gate.approve(aid, _decider("approval_approve"))

    @declared(mcp)
    async def approval_reject(
        approval_id: ApprovalId,
        reason: Annotated[str | None, Field(max_length=MAX_REASON, description="Why (kept with the record).")] = None,
    ) -> Approval:
        """Reject a pending action: it never runs. Returns its record (unchanged if already decided)."""
        aid = _approval_id("approval_reject", approval_id)
        return await gate.reject(aid, reason, _decider("approval_reject"))
