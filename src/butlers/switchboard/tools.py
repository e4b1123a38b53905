"""The switchboard's tools, one short function each; `register_tools` only wires them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp.tools.base import ToolResult
from pydantic import BaseModel, Field

from butlers.config import NAME_PATTERN
from butlers.core.inbound import MAX_LIST, InboundLog, InboundMessage, InboundRecord
from butlers.core.session_tools import TriggerAnswer
from butlers.core.tool_edge import add_tools
from butlers.core.tool_errors import bad_argument, parse_uuid
from butlers.statuses import InboundStatus
from butlers.switchboard.route import call_tool, queue_session, serving
from butlers.switchboard.router import Router
from butlers.switchboard.store import PartRow, PartStatus, ReasonKind

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from butlers.butler import Butler

MAX_MESSAGE = 100_000

ButlerName = Annotated[str, Field(pattern=NAME_PATTERN, description="A hosted butler's name (see list_butlers).")]
InboundId = Annotated[
    str,
    Field(
        description="The id of a message of the switchboard (inbound_list, dispatch).",
        json_schema_extra={"format": "uuid"},
    ),
]


class ButlerInfo(BaseModel):
    name: str
    description: str
    url: str
    modules: list[str]
    tools: list[str]
    state: str = Field(description="'serving', 'failed', or the phase it is in ('starting', 'stopping'...).")
    error: str | None = Field(description="Why it failed, when it did.")
    next_run_at: str | None = Field(description="Its next scheduled run (ISO 8601), if any.")


class RoutedPart(BaseModel):
    attempt: int
    part: int
    butler: str
    text: str
    reason_kind: ReasonKind
    reason: str
    status: PartStatus
    session_id: str | None
    error: str | None


class Dispatched(BaseModel):
    inbound_id: str
    status: InboundStatus
    error: str | None
    parts: list[RoutedPart]


class InboundList(BaseModel):
    messages: list[InboundRecord]


class InboundDetail(InboundRecord):
    routing: list[dict[str, Any]] = Field(description="Every routing decision about it: each attempt, each part.")


def _part(p: PartRow) -> RoutedPart:
    return RoutedPart(attempt=p.attempt, part=p.part, butler=p.butler, text=p.text, reason_kind=p.kind,
                      reason=p.reason, status=p.status, session_id=str(p.session_id) if p.session_id else None,
                      error=p.error)  # fmt: skip


async def butler_info(b: Butler) -> ButlerInfo:
    state = "serving" if b.phase == "serving" else ("failed" if b.error else b.phase)
    tools = sorted(t.name for t in await b.mcp.list_tools()) if b.mcp is not None else []
    next_run = await b.next_due_at() if b.phase == "serving" else None
    return ButlerInfo(name=b.name, description=b.config.description, url=b.mcp_url, modules=list(b.config.modules),
                      tools=tools, state=state, error=b.error,
                      next_run_at=next_run.isoformat() if next_run else None)  # fmt: skip


class SwitchboardTools:
    """The tool functions, bound to one switchboard's fleet, router and inbound log."""

    def __init__(self, fleet: Mapping[str, Butler], router: Router, inbound: InboundLog) -> None:
        self.fleet, self.router, self.inbound = fleet, router, inbound

    async def list_butlers(self) -> list[ButlerInfo]:
        """Every butler this daemon hosts: name, description, URL, modules, tools, state, next scheduled run."""
        return [await butler_info(b) for _, b in sorted(self.fleet.items())]

    async def route(
        self,
        butler: ButlerName,
        tool: Annotated[str, Field(min_length=1, description="The target butler's tool (see list_butlers).")],
        arguments: Annotated[dict[str, Any] | None, Field(description="The tool's arguments.")] = None,
    ) -> ToolResult:
        """Call a tool of another butler, in-process: the same result and errors as on that butler's own port."""
        return await call_tool(self.fleet, butler, tool, arguments or {})

    async def route_prompt(
        self,
        butler: ButlerName,
        prompt: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE, description="What its agent is asked.")],
        context: Annotated[dict[str, Any] | None, Field(description="JSON context given to the session.")] = None,
        wait: Annotated[bool, Field(description="Wait for the session to end and return its record.")] = False,
    ) -> TriggerAnswer:
        """Queue a session on another butler (trigger source 'route'); with wait, its final record."""
        return TriggerAnswer.of(
            await queue_session(serving(self.fleet, "route_prompt", butler), prompt, context, wait=wait)
        )

    async def dispatch(
        self,
        message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE, description="The message to route.")],
        channel: Annotated[
            str | None,
            Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$", description="Where it came from (rules can match it)."),
        ] = None,
        sender: Annotated[str | None, Field(max_length=320, description="Who sent it.")] = None,
    ) -> Dispatched:
        """Route a message: rules first, then one model classification (may split it), else the fallback butler."""
        msg = InboundMessage(channel=channel or "mcp", external_id=f"dispatch:{uuid.uuid4()}",
                             sender=sender or "mcp client", text=message, received_at=datetime.now(UTC))  # fmt: skip
        inbound_id, _ = await self.inbound.receive(msg)
        return await self._report(inbound_id)

    async def reroute(self, inbound_id: InboundId, butler: ButlerName) -> Dispatched:
        """Send a message again, whole, to another butler; recorded in the routing log as a correction."""
        mid = parse_uuid("reroute", "inbound_id", inbound_id, "a message")
        target = serving(self.fleet, "reroute", butler)
        try:
            await self.router.reroute(mid, target)
        except LookupError as exc:
            raise bad_argument("reroute", "inbound_id", str(exc)) from None
        except ValueError as exc:
            raise bad_argument("reroute", "inbound_id", str(exc)) from None
        return await self._report(mid)

    async def inbound_list(
        self,
        status: Annotated[InboundStatus | None, Field(description="Only messages in this status.")] = None,
        channel: Annotated[str | None, Field(description="Only this channel (telegram, email, mcp...).")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_LIST, description="At most this many, newest first.")] = 50,
    ) -> InboundList:
        """Messages the switchboard received, newest first, with their status and error."""
        return InboundList(messages=await self.inbound.list(channel=channel, status=status, limit=limit))

    async def inbound_get(self, inbound_id: InboundId) -> InboundDetail:
        """One message with every routing decision made about it (each attempt, each part)."""
        mid = parse_uuid("inbound_get", "inbound_id", inbound_id, "a message")
        row = await self.inbound.get(mid)
        if row is None:
            raise bad_argument("inbound_get", "inbound_id", f"no inbound message {inbound_id}")
        return InboundDetail(**row.model_dump(), routing=await self.router.routing.for_message(mid))

    async def inbound_retry(self, inbound_id: InboundId) -> Dispatched:
        """Dispatch a failed message again: only its failed parts, or anew when no part succeeded."""
        mid = parse_uuid("inbound_retry", "inbound_id", inbound_id, "a message")
        row = await self.inbound.get(mid)
        if row is None:
            raise bad_argument("inbound_retry", "inbound_id", f"no inbound message {inbound_id}")
        if not await self.inbound.retry(mid):
            raise bad_argument("inbound_retry", "inbound_id", f"message is {row.status}; only a failed one is retried")
        return await self._report(mid)

    async def _report(self, inbound_id: uuid.UUID) -> Dispatched:
        row = await self.inbound.get(inbound_id)
        assert row is not None
        parts = await self.router.routing.latest_parts(inbound_id)
        return Dispatched(inbound_id=str(inbound_id), status=row.status, error=row.error,
                          parts=[_part(p) for p in parts])  # fmt: skip


def register_tools(mcp: FastMCP, tools: SwitchboardTools) -> None:
    add_tools(mcp, [tools.list_butlers, tools.route, tools.route_prompt, tools.dispatch, tools.reroute,
                    tools.inbound_list, tools.inbound_get, tools.inbound_retry])  # fmt: skip
