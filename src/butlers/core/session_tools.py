"""MCP tools over the spawner and the session log: trigger, sessions_list, sessions_get, session_cancel.

Every argument is checked before anything is written; a bad one is a
`ToolError` naming the tool and the argument.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from fastmcp import FastMCP

from butlers.core.sessions import SOURCES, STATUSES, SessionLog
from butlers.core.spawner import Spawner
from butlers.core.tool_errors import bad_argument, parse_uuid
from butlers.errors import NotFoundError

MAX_PROMPT = 100_000
MAX_CONTEXT = 100_000  # characters of JSON
MAX_KEY = 200
MAX_PAGE = 200


def _session_id(tool: str, value: str) -> uuid.UUID:
    return parse_uuid(tool, "session_id", value, "a session")


def _check_trigger(prompt: str, context: dict[str, Any] | None, idempotency_key: str | None) -> None:
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_argument("trigger", "prompt", "must be a non-empty text")
    if len(prompt) > MAX_PROMPT:
        raise bad_argument("trigger", "prompt", f"too long ({len(prompt)} characters, at most {MAX_PROMPT})")
    if context is not None:
        if not isinstance(context, dict):
            raise bad_argument("trigger", "context", "must be a JSON object")
        try:
            size = len(json.dumps(context))
        except (TypeError, ValueError) as exc:
            raise bad_argument("trigger", "context", f"not JSON-serialisable: {exc}") from None
        if size > MAX_CONTEXT:
            raise bad_argument("trigger", "context", f"too large ({size} characters of JSON, at most {MAX_CONTEXT})")
    if idempotency_key is not None and not (isinstance(idempotency_key, str) and 0 < len(idempotency_key) <= MAX_KEY):
        raise bad_argument("trigger", "idempotency_key", f"must be a text of 1 to {MAX_KEY} characters")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise bad_argument("sessions_list", "since", f"not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise bad_argument("sessions_list", "since", "needs a time zone (e.g. 2026-01-31T08:00:00+00:00)")
    try:  # in UTC it must still be a date: '0001-01-01T00:00+05:00' is not
        return parsed.astimezone(UTC)
    except OverflowError:
        raise bad_argument("sessions_list", "since", f"out of the range of dates: {value!r}") from None


def _check_list(status: str | None, source: str | None, limit: int, offset: int) -> None:
    if status is not None and status not in STATUSES:
        raise bad_argument("sessions_list", "status", f"{status!r} is not one of {', '.join(STATUSES)}")
    if source is not None and source not in SOURCES:
        raise bad_argument("sessions_list", "source", f"{source!r} is not one of {', '.join(SOURCES)}")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise bad_argument("sessions_list", "limit", f"must be between 1 and {MAX_PAGE}")
    if not isinstance(offset, int) or offset < 0:
        raise bad_argument("sessions_list", "offset", "must be 0 or more")


def register_session_tools(mcp: FastMCP, spawner: Spawner, sessions: SessionLog) -> None:
    """Add the four session tools to a butler's MCP server."""

    @mcp.tool(name="trigger")
    async def trigger(
        prompt: str, context: dict[str, Any] | None = None, idempotency_key: str | None = None, wait: bool = False
    ) -> dict[str, Any]:
        """Start an agent session of this butler with `prompt`.

        The session is recorded (queued) before it runs; the same
        `idempotency_key` returns the same session. With `wait`, returns when
        the session ends, with its result.
        """
        _check_trigger(prompt, context, idempotency_key)
        return await spawner.trigger(prompt, context=context, idempotency_key=idempotency_key, wait=wait)

    @mcp.tool(name="sessions_list")
    async def sessions_list(
        status: str | None = None, source: str | None = None, since: str | None = None, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """List sessions, newest first; filter by status, trigger source, queued since (ISO-8601); paged."""
        _check_list(status, source, limit, offset)
        rows = await sessions.list(status=status, source=source, since=_since(since), limit=limit, offset=offset)
        return {
            "sessions": rows,
            "limit": limit,
            "offset": offset,
            "next_offset": offset + len(rows) if len(rows) == limit else None,
        }

    @mcp.tool(name="sessions_get")
    async def sessions_get(session_id: str) -> dict[str, Any]:
        """The full record of one session: status, result, error, every tool call, tokens, cost."""
        record = await sessions.get(_session_id("sessions_get", session_id))
        if record is None:
            raise bad_argument("sessions_get", "session_id", f"no session {session_id}")
        return record

    @mcp.tool(name="session_cancel")
    async def session_cancel(session_id: str) -> dict[str, Any]:
        """Cancel a queued or running session (a running agent is killed); returns its record."""
        sid = _session_id("session_cancel", session_id)
        try:
            return await spawner.cancel(sid)
        except NotFoundError:
            raise bad_argument("session_cancel", "session_id", f"no session {session_id}") from None
