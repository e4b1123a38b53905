"""What the Messages and Notifications pages change: retry and reroute a message, retry a notification.

Each action calls the same tool `butlerctl inbound retry|reroute` and `butlerctl notifications
retry` call, in-process on the butler that owns it (`FastMCP.call_tool`, no HTTP hop), so
the validation, the routing log entry and the delivery are the tool's own.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import FastMCPError

from butlers.errors import ButlersError

if TYPE_CHECKING:
    from butlers.butler import Butler


class ActionRefused(ButlersError):
    """The tool refused the action (a bad id, a message that is not failed...): its own message, naming the argument."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message if message.startswith(tool) else f"{tool}: {message}")
        self.tool = tool


async def _call(butler: Butler, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    if butler.mcp is None or butler.phase != "serving":
        raise ActionRefused(tool, f"butler '{butler.name}' is not serving ({butler.error or butler.phase})")
    try:
        result = await butler.mcp.call_tool(tool, args)
    except FastMCPError as exc:
        raise ActionRefused(tool, str(exc)) from None
    data = result.structured_content or {}
    return data["result"] if set(data) == {"result"} else data


async def retry_message(switchboard: Butler, message_id: uuid.UUID) -> dict[str, Any]:
    """Dispatch a failed message again (rules and classification anew); the tool's report."""
    return await _call(switchboard, "inbound_retry", {"inbound_id": str(message_id)})


async def reroute_message(switchboard: Butler, message_id: uuid.UUID, target: str) -> dict[str, Any]:
    """Send a message again, whole, to the butler `target`; recorded in the routing log as a reroute."""
    return await _call(switchboard, "reroute", {"inbound_id": str(message_id), "butler": target})


async def retry_notification(delivering: Butler, notification_id: uuid.UUID) -> dict[str, Any]:
    """Send a failed notification again (with the channel's usual retries); its record afterwards."""
    return await _call(delivering, "notify_retry", {"notification_id": str(notification_id)})
