"""The notify engine: decide where a message goes, hold it or send it, retry, record.

`notify` resolves the channel and recipient (the owner's by default; the sender
and thread of an inbound message with `reply_to`), records the notification,
then either holds it - a recipient other than the owner waits for approval (the
butler's approval gate, action `notify_deliver`), low and normal priority wait
out the owner's quiet hours - or sends it at once. Sending retries transient
failures (5xx, Telegram's 429 `retry_after`, lost connections) with bounded
exponential backoff; a notification is marked sent only with the id the
channel gave for the accepted message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import asyncpg
import structlog

from butlers.core.approvals import ApprovalGate
from butlers.core.channels import Channel, ChannelRegistry, DeliveryError, Outgoing
from butlers.errors import NotFoundError, ToolInputError
from butlers.modules.base import NotifyRequest
from butlers.modules.notify.config import NotifyConfig
from butlers.modules.notify.store import HeldReason, NewNotification, Notification, NotificationStore, Status

log = structlog.get_logger(__name__)

APPROVAL_ACTION = "notify_deliver"
PRIORITIES = ("low", "normal", "high")
TOOL = "notify"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _bad(argument: str, message: str) -> ToolInputError:
    return ToolInputError(TOOL, argument, message)


def _subject(origin: str, message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else message
    return f"[{origin}] {first[:70]}" if origin else first[:80]


class NotifyEngine:
    """Delivery for one daemon, on the butler that holds the channel modules."""

    def __init__(
        self,
        config: NotifyConfig,
        pool: asyncpg.Pool,
        channels: ChannelRegistry,
        approvals: ApprovalGate,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self.owner = config.owner
        self.pool = pool
        self.store = NotificationStore(pool)
        self.channels = channels
        self.approvals = approvals
        self.clock = clock  # replaceable: tests move time through quiet hours
        self._in_flight: set[uuid.UUID] = set()
        approvals.register(APPROVAL_ACTION, self._deliver_approved)

    # -- asking -----------------------------------------------------------------------------------

    async def notify(self, request: NotifyRequest, *, origin: str = "") -> dict[str, Any]:
        """Record and deliver (or hold) one message; the notification record as JSON.

        Raises ToolInputError (tool `notify`, naming the argument) for a bad call; nothing is written then.
        """
        new = await self._plan(request, origin)
        record = await self.store.insert(new)
        log.info("notify.recorded", id=str(record.id), channel=record.channel, status=record.status, origin=origin)
        if new.held_reason is HeldReason.APPROVAL:
            await self._ask_approval(record)
        elif new.status is Status.PENDING:
            record = await self.deliver(record.id)
        current = await self.store.get(record.id)
        assert current is not None
        return current.to_json()

    async def _plan(self, request: NotifyRequest, origin: str) -> NewNotification:
        message, channel, recipient, priority = request.message, request.channel, request.recipient, request.priority
        if not message.strip():
            raise _bad("message", "must not be empty")
        if priority not in PRIORITIES:
            raise _bad("priority", f"{priority!r} is not one of {', '.join(PRIORITIES)}")
        reply: dict[str, Any] | None = None
        inbound_id: uuid.UUID | None = None
        if request.reply_to is not None:
            inbound_id, name, target, reply = await self._reply_target(request.reply_to, channel, recipient)
        else:
            name = channel or self.owner.default_channel or ""
            if not name:
                raise _bad("channel", "none given and the owner has no channel configured ([modules.notify.owner])")
            target = recipient or self.owner.address(name) or ""
            if not target:
                raise _bad("recipient", f"none given and the owner has no {name} address in [modules.notify.owner]")
        chan = self._channel(name)
        try:
            target = chan.normalize(target)
        except ValueError as exc:
            raise _bad("recipient", str(exc)) from None
        if len(message) > chan.max_length:
            raise _bad("message", f"is {len(message)} characters long; {name} allows {chan.max_length}")
        owner_address = self.owner.address(name)
        to_owner = owner_address is not None and chan.normalize(owner_address) == target
        status, held, until = self._hold(to_owner, priority)
        return NewNotification(
            origin, name, target, to_owner, message, _subject(origin, message), priority, inbound_id, reply,
            status, held, until,
        )  # fmt: skip

    def _channel(self, name: str) -> Channel:
        chan = self.channels.get(name)
        if chan is None:
            known = ", ".join(self.channels.names) or "none"
            raise _bad("channel", f"{name!r} is not a channel of the delivering butler (channels: {known})")
        return chan

    async def _reply_target(
        self, reply_to: str, channel: str | None, recipient: str | None
    ) -> tuple[uuid.UUID, str, str, dict[str, Any]]:
        try:
            inbound_id = uuid.UUID(reply_to)
        except ValueError:
            raise _bad("reply_to", f"not an inbound message id (a UUID): {reply_to!r}") from None
        row = await self.pool.fetchrow("SELECT * FROM inbound_messages WHERE id = $1", inbound_id)
        if row is None:
            raise _bad("reply_to", f"no inbound message {inbound_id} on the delivering butler")
        if channel is not None and channel != row["channel"]:
            raise _bad("channel", f"the message answered came by {row['channel']}, not {channel}")
        if recipient is not None:
            raise _bad("recipient", "a reply goes to the sender of the message answered; give no recipient")
        try:
            target, reply = self._channel(row["channel"]).reply_target(dict(row))
        except ValueError as exc:
            raise _bad("reply_to", str(exc)) from None
        return inbound_id, row["channel"], target, reply

    def _hold(self, to_owner: bool, priority: str) -> tuple[Status, HeldReason | None, datetime | None]:
        if not to_owner:
            return Status.HELD, HeldReason.APPROVAL, None
        until = self.owner.quiet_until(self.clock()) if priority != "high" else None
        if until is not None:
            return Status.HELD, HeldReason.QUIET_HOURS, until
        return Status.PENDING, None, None

    async def _ask_approval(self, record: Notification) -> None:
        preview = record.message if len(record.message) <= 200 else record.message[:200] + "..."
        answer = await self.approvals.run_or_hold(
            APPROVAL_ACTION,
            {"notification_id": str(record.id)},
            require=True,
            summary=f"{record.origin or 'a butler'} asks to send by {record.channel} to {record.recipient}: {preview}",
        )
        await self.store.set_approval(record.id, uuid.UUID(answer["approval_id"]))

    async def _deliver_approved(self, args: dict[str, Any]) -> dict[str, Any]:
        """The approval gate's executor: an approved notification is sent now, once."""
        notification_id = uuid.UUID(str(args["notification_id"]))
        if not await self.store.release(notification_id, HeldReason.APPROVAL):
            raise NotFoundError(f"notification {notification_id} is not held for approval")
        record = await self.deliver(notification_id)
        if record.status != Status.SENT:
            raise RuntimeError(f"notification {notification_id} was not delivered: {record.error}")
        return record.to_json()

    # -- sending ----------------------------------------------------------------------------------

    async def deliver(self, notification_id: uuid.UUID) -> Notification:
        """Send a pending notification, retrying transient failures; its record afterwards."""
        if notification_id not in self._in_flight:  # a concurrent caller in this process is sending it
            self._in_flight.add(notification_id)
            try:
                await self._attempts(notification_id)
            finally:
                self._in_flight.discard(notification_id)
        record = await self.store.get(notification_id)
        if record is None:
            raise NotFoundError(f"no notification {notification_id}")
        return record

    async def _attempts(self, notification_id: uuid.UUID) -> None:
        for attempt in range(1, self.config.max_attempts + 1):
            record = await self.store.begin_attempt(notification_id)
            if record is None:
                return  # not pending (sent, failed or held meanwhile)
            try:
                message_id = await self._channel(record.channel).send(
                    Outgoing(record.recipient, record.message, record.subject, record.reply)
                )
            except DeliveryError as exc:
                final = not exc.transient or attempt == self.config.max_attempts
                await self.store.note_error(notification_id, str(exc), final=final)
                log.warning("notify.attempt_failed", id=str(notification_id), attempt=attempt, error=str(exc))
                if final:
                    return
                await anyio.sleep(self._backoff(attempt, exc.retry_after))  # the channel asked us to wait
                continue
            except Exception as exc:  # a channel not started, a bug: not worth retrying
                await self.store.note_error(notification_id, f"{type(exc).__name__}: {exc}", final=True)
                log.exception("notify.failed", id=str(notification_id))
                return
            await self.store.mark_sent(notification_id, message_id)
            log.info("notify.sent", id=str(notification_id), channel=record.channel, attempt=attempt)
            return

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        wait = retry_after if retry_after is not None else self.config.retry_base_s * 2 ** (attempt - 1)
        return float(min(max(wait, 0.0), self.config.max_backoff_s))

    async def retry(self, notification_id: uuid.UUID) -> Notification:
        """Send a failed notification again (ValueError when it is not failed)."""
        record = await self.store.get(notification_id)
        if record is None:
            raise NotFoundError(f"no notification {notification_id}")
        if not await self.store.retry(notification_id):
            raise ValueError(f"notification {notification_id} is {record.status}; only a failed one is retried")
        return await self.deliver(notification_id)

    # -- background -------------------------------------------------------------------------------

    async def resume_at_startup(self) -> None:
        for notification_id in await self.store.recover_at_startup():
            await self.deliver(notification_id)

    async def release_due(self) -> int:
        """Send what quiet hours held once they have ended; how many were released."""
        ids = await self.store.release_quiet(self.clock())
        for notification_id in ids:
            await self.deliver(notification_id)
        return len(ids)
