"""The core `notify` and `remind` tools of every butler, and how a butler finds the delivery engine.

Delivery lives on one butler of the daemon - the one whose `notify` module holds
the channels, normally the switchboard - and is reached in-process through
`Butler.fleet`. `remind` is a one-shot tool-mode schedule of the asking butler
that calls its own `notify` when due: no agent session, no tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastmcp import FastMCP
from pydantic import BaseModel, Field

from butlers.config import ScheduleConfig
from butlers.core.fleet_services import offered_service
from butlers.core.scheduler import Schedule
from butlers.core.tool_edge import declared
from butlers.core.tool_errors import bad_argument
from butlers.errors import NotifyUnavailableError
from butlers.modules.base import NotifyRequest
from butlers.statuses import HeldReason, NotificationStatus, Priority

if TYPE_CHECKING:
    from butlers.butler import Butler
    from butlers.modules.base import Notifier

DELIVERING_BUTLER = "switchboard"
MAX_MESSAGE = 20_000
MAX_REMIND_MINUTES = 366 * 24 * 60


def find_notifier(fleet: Mapping[str, Butler], origin: str) -> Notifier:
    """Delivery for butler `origin`: the `notify` of the engine a started module offers as `notifier`
    (the switchboard's first, else any butler's), with `origin` recorded as the asking butler."""
    engine = offered_service(fleet, "notifier", first=DELIVERING_BUTLER)
    if engine is None:
        raise NotifyUnavailableError(
            "no butler of this daemon delivers notifications: enable [modules.notify] on the switchboard"
        )
    deliver: Notifier = partial(engine.notify, origin=origin)
    return deliver


def context_notifier(butler: Butler) -> Notifier:
    """`ModuleContext.notify` for the modules of `butler`: never raises for an unavailable engine."""

    async def notify(request: NotifyRequest) -> dict[str, Any]:
        try:
            deliver = find_notifier(butler.fleet, butler.name)
        except NotifyUnavailableError as exc:
            return {"status": "not_delivered", "error": str(exc)}
        return await deliver(request)

    return notify


class NotificationRecord(BaseModel):
    """One notification as the delivering butler recorded it (the `notify` tool's answer)."""

    id: str
    origin: str = Field(description="The butler that asked.")
    channel: str
    recipient: str
    to_owner: bool
    message: str
    subject: str
    priority: Priority
    reply_to: str | None = Field(description="The inbound message answered in place.")
    reply: dict[str, Any] | None
    status: NotificationStatus
    held_reason: HeldReason | None
    hold_until: str | None = Field(description="Held by quiet hours until then.")
    approval_id: str | None = Field(description="Held for this approval (approval_approve on the delivering butler).")
    attempts: int
    channel_message_id: str | None = Field(description="The channel's id of the accepted message, once sent.")
    error: str | None
    created_at: str
    updated_at: str
    sent_at: str | None


Message = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE, description="The text to deliver.")]
ChannelArg = Annotated[
    Literal["telegram", "email", "slack"] | None,
    Field(description="Channel; default: the owner's (or the message answered)."),
]


def register_notify_tools(mcp: FastMCP, butler: Butler) -> None:
    @declared(mcp)
    async def notify(
        message: Message,
        channel: ChannelArg = None,
        recipient: Annotated[
            str | None,
            Field(description="Chat id or email address; default: the owner's. Anyone else waits for approval."),
        ] = None,
        reply_to: Annotated[
            str | None,
            Field(description="Answer this inbound message in place (its id, the `inbound_id` of your context)."),
        ] = None,
        priority: Annotated[
            Priority, Field(description="Low and normal wait out the owner's quiet hours.")
        ] = Priority.NORMAL,
    ) -> NotificationRecord:
        """Deliver a message to the user (or answer a message in place). Returns the notification: its status is sent, failed, held (for approval or quiet hours) or pending."""
        try:
            deliver = find_notifier(butler.fleet, butler.name)
            answer = await deliver(NotifyRequest(message, channel, recipient, reply_to, priority))
        except NotifyUnavailableError as exc:
            raise bad_argument("notify", "channel", str(exc)) from None
        return NotificationRecord.model_validate(answer)

    @declared(mcp)
    async def remind(
        message: Message,
        at: Annotated[
            datetime | None, Field(description="When, with its UTC offset, e.g. 2026-05-01T08:00:00+02:00.")
        ] = None,
        in_minutes: Annotated[
            int | None, Field(ge=1, le=MAX_REMIND_MINUTES, description="Or: this many minutes from now.")
        ] = None,
        channel: ChannelArg = None,
    ) -> Schedule:
        """Remind the user of something at a time: a one-shot schedule that delivers the message through notify, with no agent session. Returns the schedule (see schedule_list)."""
        when = _remind_time(at, in_minutes)
        try:
            find_notifier(butler.fleet, butler.name)
        except NotifyUnavailableError as exc:
            raise bad_argument("remind", "message", str(exc)) from None
        args: dict[str, Any] = {"message": message, **({"channel": channel} if channel else {})}
        spec = ScheduleConfig(name=f"remind-{uuid.uuid4().hex[:12]}", at=when, tool="notify", args=args)
        created = await butler.scheduler.create(spec)
        butler.on_schedules_changed()
        return created


def _remind_time(at: datetime | None, in_minutes: int | None) -> datetime:
    if (at is None) == (in_minutes is None):
        raise bad_argument("remind", "at", "give exactly one of 'at' (a time) or 'in_minutes'")
    now = datetime.now(UTC)
    if in_minutes is not None:
        return now + timedelta(minutes=in_minutes)
    assert at is not None
    if at.tzinfo is None or at.utcoffset() is None:
        raise bad_argument("remind", "at", f"'{at.isoformat()}' has no UTC offset; e.g. 2026-05-01T08:00:00+02:00")
    if at <= now:
        raise bad_argument("remind", "at", f"'{at.isoformat()}' is in the past")
    return at
