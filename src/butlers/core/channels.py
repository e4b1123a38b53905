"""Outbound channels: how a message reaches a person (Telegram, email...).

A channel module (telegram, email) registers a `Channel` with its butler's
`ChannelRegistry` at startup; the notify engine (on the switchboard) delivers
through them. A channel only sends: what to send, to whom and when is the
engine's business. It reports failure as a `DeliveryError` that says whether
trying again may help (a 5xx, Telegram's 429 with `retry_after`, a dropped
connection) or not (a bad chat id, a refused address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class DeliveryError(Exception):
    """A channel did not accept a message."""

    def __init__(self, message: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    """One message for a channel to send."""

    recipient: str  # a Telegram chat id (or @username), an email address...
    text: str
    subject: str  # used by channels that have subjects (email)
    # Set when answering a message in place: what the channel needs to thread the answer.
    reply: Mapping[str, Any] | None = field(default=None)


class Channel(Protocol):
    """What the notify engine needs of a channel module."""

    name: str
    max_length: int  # the longest text it sends in one message

    def normalize(self, recipient: str) -> str:
        """The recipient in a canonical form; ValueError (naming what is wrong) when it is not one."""
        ...

    def reply_target(self, inbound: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Recipient and reply data answering an inbound message row of this channel (ValueError if it cannot)."""
        ...

    async def send(self, message: Outgoing) -> str:
        """Send; return the channel's id of the sent message. Raises DeliveryError."""
        ...


class ChannelRegistry:
    """The channels of one butler, by name."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    def unregister(self, name: str) -> None:
        self._channels.pop(name, None)

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._channels)
