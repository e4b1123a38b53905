"""MCP tools over the spawner and the session log: trigger, sessions_list, sessions_get, session_cancel.

Each signature is its schema (bounds, allowed statuses and sources); what a
schema cannot say (a prompt of only spaces, the size of the context as JSON, a
time beyond the calendar) is checked in the tool. A bad call is refused before
anything is written, naming the tool and the argument.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from butlers.core.sessions import FinishedTrigger, Session, SessionLog, SessionSummary, Triggered
from butlers.core.spawner import Spawner
from butlers.core.tool_edge import declared
from butlers.core.tool_errors import bad_argument, parse_uuid
from butlers.statuses import SessionStatus, TriggerSource

MAX_PROMPT = 100_000
MAX_CONTEXT = 100_000  # characters of JSON
MAX_KEY = 200
MAX_PAGE = 200

SessionId = Annotated[str, Field(description="The session's id (a UUID).", json_schema_extra={"format": "uuid"})]


class TriggerAnswer(BaseModel):
    """`trigger`'s answer: the session's id and status, and whether this call created it; with `wait`,
    every field of its final record too (as `sessions_get` shows it)."""

    model_config = ConfigDict(extra="allow")

    session_id: uuid.UUID
    status: SessionStatus
    created: bool = Field(description="False when the idempotency key named an existing session.")

    @classmethod
    def of(cls, answer: Triggered | FinishedTrigger) -> TriggerAnswer:
        return cls.model_validate(answer.model_dump(mode="json"))


class SessionPage(BaseModel):
    sessions: list[SessionSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last one.")


def _session_id(tool: str, value: str) -> uuid.UUID:
    return parse_uuid(tool, "session_id", value, "a session")


def _check_trigger(prompt: str, context: dict[str, Any] | None) -> None:
    if not prompt.strip():
        raise bad_argument("trigger", "prompt", "must be a non-empty text")
    if context is not None:
        try:
            size = len(json.dumps(context))
        except (TypeError, ValueError) as exc:
            raise bad_argument("trigger", "context", f"not JSON-serialisable: {exc}") from None
        if size > MAX_CONTEXT:
            raise bad_argument("trigger", "context", f"too large ({size} characters of JSON, at most {MAX_CONTEXT})")


def _since(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:  # in UTC it must still be a date: '0001-01-01T00:00+05:00' is not
        return value.astimezone(UTC)
    except OverflowError:
        raise bad_argument("sessions_list", "since", f"out of the range of dates: {value.isoformat()!r}") from None


def register_session_tools(mcp: FastMCP, spawner: Spawner, sessions: SessionLog) -> None:
    """Add the four session tools to a butler's MCP server."""

    @declared(mcp)
    async def trigger(
        prompt: Annotated[str, Field(min_length=1, max_length=MAX_PROMPT, description="What the agent is asked.")],
        context: Annotated[
            dict[str, Any] | None,
            Field(description=f"JSON object given to the agent (at most {MAX_CONTEXT} characters)."),
        ] = None,
        idempotency_key: Annotated[
            str | None, Field(min_length=1, max_length=MAX_KEY, description="The same key returns the same session.")
        ] = None,
        wait: Annotated[bool, Field(description="Return when the session ends, with its record.")] = False,
    ) -> TriggerAnswer:
        """Start an agent session of this butler with `prompt`.

        The session is recorded (queued) before it runs; the same
        `idempotency_key` returns the same session. With `wait`, returns when
        the session ends, with its result.
        """
        _check_trigger(prompt, context)
        triggered = await spawner.trigger(prompt, context=context, idempotency_key=idempotency_key)
        return TriggerAnswer.of(await spawner.wait_finished(triggered) if wait else triggered)

    @declared(mcp)
    async def sessions_list(
        status: Annotated[SessionStatus | None, Field(description="Only sessions in this status.")] = None,
        source: Annotated[TriggerSource | None, Field(description="Only sessions started this way.")] = None,
        since: Annotated[
            AwareDatetime | None, Field(description="Only sessions queued since (ISO-8601 with its UTC offset).")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="At most this many.")] = 50,
        offset: Annotated[int, Field(ge=0, description="Skip this many (paging).")] = 0,
    ) -> SessionPage:
        """List sessions, newest first; filter by status, trigger source, queued since (ISO-8601); paged."""
        rows = await sessions.list(status=status, source=source, since=_since(since), limit=limit, offset=offset)
        next_offset = offset + len(rows) if len(rows) == limit else None
        return SessionPage(sessions=rows, limit=limit, offset=offset, next_offset=next_offset)

    @declared(mcp)
    async def sessions_get(session_id: SessionId) -> Session:
        """The full record of one session: status, result, error, every tool call, tokens, cost."""
        record = await sessions.get(_session_id("sessions_get", session_id))
        if record is None:
            raise bad_argument("sessions_get", "session_id", f"no session {session_id}")
        return record

    @declared(mcp)
    async def session_cancel(session_id: SessionId) -> Session:
        """Cancel a queued or running session (a running agent is killed); returns its record."""
        return await spawner.cancel(_session_id("session_cancel", session_id))
