"""MCP tools over the approval gate: approvals_list, approval_approve, approval_reject.

Every butler has them, whether or not a module gates anything. Every argument
is checked before anything is written; a bad one is a `ToolError` naming the
tool and the argument.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastmcp import FastMCP

from butlers.auth import Role
from butlers.core.approvals import IN_PROCESS, MAX_LIST, STATUSES, ApprovalGate, Decider, UnknownActionError
from butlers.core.tool_errors import bad_argument, parse_uuid
from butlers.errors import NotFoundError
from butlers.http_guard import current_caller

MAX_REASON = 2_000


def _approval_id(tool: str, value: Any) -> uuid.UUID:
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


def _list_status(value: str | None) -> str | None:
    """None or 'all' lists every approval; anything else must be a status."""
    if value is None or value == "all":
        return None
    if value not in STATUSES:
        raise bad_argument("approvals_list", "status", f"{value!r} is not one of all, {', '.join(STATUSES)}")
    return value


def register_approval_tools(mcp: FastMCP, gate: ApprovalGate) -> None:
    """Add the three approval tools to a butler's MCP server."""

    @mcp.tool(name="approvals_list")
    async def approvals_list(status: str | None = "pending", limit: int = 50) -> dict[str, Any]:
        """List actions waiting for (or decided by) the user's approval, newest first.

        `status`: pending (default), running, succeeded, failed, rejected, or all.
        """
        wanted = _list_status(status)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise bad_argument("approvals_list", "limit", f"must be between 1 and {MAX_LIST}")
        return {"approvals": await gate.list(wanted, limit=limit)}

    @mcp.tool(name="approval_approve")
    async def approval_approve(approval_id: str) -> dict[str, Any]:
        """Approve a pending action: it runs now, exactly once; returns its record with the outcome.

        Approving one already decided runs nothing and returns its record.
        """
        aid = _approval_id("approval_approve", approval_id)
        decider = _decider("approval_approve")
        try:
            return await gate.approve(aid, decider)
        except NotFoundError:
            raise bad_argument("approval_approve", "approval_id", f"no approval {approval_id}") from None
        except UnknownActionError as exc:
            raise bad_argument("approval_approve", "approval_id", f"{exc}; it stays pending") from None

    @mcp.tool(name="approval_reject")
    async def approval_reject(approval_id: str, reason: str | None = None) -> dict[str, Any]:
        """Reject a pending action: it never runs. Returns its record (unchanged if already decided)."""
        aid = _approval_id("approval_reject", approval_id)
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise bad_argument("approval_reject", "reason", f"must be a text of at most {MAX_REASON} characters")
        decider = _decider("approval_reject")
        try:
            return await gate.reject(aid, reason, decider)
        except NotFoundError:
            raise bad_argument("approval_reject", "approval_id", f"no approval {approval_id}") from None
