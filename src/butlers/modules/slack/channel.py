"""The slack module as an outbound channel of the notify engine (`butlers.core.channels`).

A notification goes out through the module's `deliver` (a user id → their DM, a conversation
id as is, both checked against the allow-list). Web API failures are sorted: `ratelimited`
(with its Retry-After), 5xx answers and an unreachable Slack may pass if tried again; a bad
token, an unknown conversation or a recipient off the allow-list will not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import ToolError
from slack_sdk.errors import SlackApiError

from butlers.core.channels import DeliveryError, Outgoing
from butlers.errors import ModuleError
from butlers.modules.slack.config import CHANNEL_ID, USER_ID

if TYPE_CHECKING:
    from butlers.modules.slack import SlackModule

MAX_TEXT = 40_000  # chat.postMessage truncates longer text
# Slack's codes (answered with HTTP 200) for trouble on its side; every other code is about the request.
TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})


class SlackCallError(ToolError):
    """A failed Web API call as a tool error naming the tool; `cause` keeps Slack's own error."""

    def __init__(self, message: str, cause: BaseException) -> None:
        super().__init__(message)
        self.cause = cause


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code (`channel_not_found`...) or, for an answer without one, its HTTP status."""
    data = exc.response.data
    error = data.get("error") if isinstance(data, dict) else None
    return str(error) if error else f"HTTP {exc.response.status_code}"


def delivery_error(exc: BaseException) -> DeliveryError:
    """A failed send as a DeliveryError saying whether trying again may help."""
    if not isinstance(exc, SlackApiError):  # no answer: Slack unreachable, a time-out
        return DeliveryError(f"Slack: {type(exc).__name__}: {exc}", transient=True)
    code, status = slack_error(exc), exc.response.status_code
    text = f"Slack: {code}"
    if status == 429 or code == "ratelimited":
        return DeliveryError(text, transient=True, retry_after=_retry_after(exc))
    if status >= 500 or code in TRANSIENT:
        return DeliveryError(text, transient=True)
    # Any other error is about the request (an unknown code too): sending it again gives the same answer.
    return DeliveryError(text, transient=False)


def _retry_after(exc: SlackApiError) -> float | None:
    headers = exc.response.headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class SlackChannel:
    """Sends through the module's Web API client (it exists once the module has started)."""

    name = "slack"
    max_length = MAX_TEXT

    def __init__(self, module: SlackModule) -> None:
        self._module = module

    def normalize(self, recipient: str) -> str:
        text = str(recipient).strip()
        if USER_ID.fullmatch(text) or CHANNEL_ID.fullmatch(text):
            return text
        raise ValueError(f"{recipient!r} is not a Slack user id (U..., W...) or conversation id (C..., D..., G...)")

    def reply_target(self, inbound: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        meta = inbound.get("metadata") or {}
        channel, ts = meta.get("channel"), meta.get("ts")
        if not channel or not ts:
            raise ValueError("the inbound Slack message has no channel/ts to answer")
        # Threaded on the message (or on its thread's parent: Slack threads are one level deep).
        reply = {"channel": str(channel), "thread_ts": str(meta.get("thread_ts") or ts)}
        if meta.get("channel_type") == "im" and meta.get("user"):
            return str(meta["user"]), reply  # a DM answers its person: the owner's DM counts as the owner
        return str(channel), reply

    async def send(self, message: Outgoing) -> str:
        reply = message.reply or {}
        target = str(reply.get("channel") or self.normalize(message.recipient))
        thread = str(reply["thread_ts"]) if reply.get("thread_ts") else None
        try:
            return await self._module.deliver(message.text, target, thread)
        except SlackCallError as exc:
            raise delivery_error(exc.cause) from exc
        except (ToolError, ModuleError) as exc:  # off the allow-list, no owner, not started
            raise DeliveryError(f"Slack: {exc}", transient=False) from exc
