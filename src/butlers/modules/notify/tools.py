"""The notify module's own tools on the delivering butler: list notifications, retry a failed one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from butlers.core.tool_errors import bad_argument, parse_uuid
from butlers.errors import NotFoundError
from butlers.modules.notify.store import MAX_LIST, Status

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from butlers.modules.notify.engine import NotifyEngine


def register(mcp: FastMCP, engine: NotifyEngine) -> None:
    async def notify_list(
        status: Annotated[
            Status | None, Field(description="Only notifications in this status; all if omitted.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="At most this many, newest first.")] = 50,
    ) -> dict[str, Any]:
        """Notifications the butlers asked to deliver, newest first: channel, recipient, status (pending, sent, failed, held), attempts, the channel's message id or the error."""
        return {"notifications": [n.to_json() for n in await engine.store.list_recent(status, limit)]}

    async def notify_retry(
        notification_id: Annotated[str, Field(description="The id of a failed notification.")],
    ) -> dict[str, Any]:
        """Send a failed notification again (with the usual retries); returns its record afterwards."""
        nid = parse_uuid("notify_retry", "notification_id", notification_id, "a notification")
        try:
            return (await engine.retry(nid)).to_json()
        except (NotFoundError, ValueError) as exc:
            raise bad_argument("notify_retry", "notification_id", str(exc)) from None

    mcp.tool(notify_list, name="notify_list")
    mcp.tool(notify_retry, name="notify_retry")
