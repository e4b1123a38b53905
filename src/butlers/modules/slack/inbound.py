"""Slack events in: which ones reach the butler, as what, and the Events API route that verifies them.

A message event (Socket Mode envelope or Events API POST, both carry the same event_callback
payload) becomes one inbound message keyed `<channel>:<ts>`: Slack's retries (X-Slack-Retry-Num),
Socket Mode redeliveries, and the `app_mention` twin of a `message` event all map to the same
key, so the inbound log stores and hands it off once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_sdk.signature import SignatureVerifier
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from butlers.core.inbound import InboundMessage
from butlers.modules.slack.config import SlackConfig

# Message subtypes that carry something a person wrote; edits, joins, bot posts... are skipped.
_PERSON_SUBTYPES = {None, "thread_broadcast", "file_share"}
_EVENT_TYPES = {"message", "app_mention"}


@dataclass(frozen=True)
class SlackMessage:
    """The parts of a message event the butler uses."""

    event_id: str | None
    team: str | None
    channel: str
    channel_type: str | None
    user: str
    text: str
    ts: str
    thread_ts: str | None

    @property
    def external_id(self) -> str:
        return f"{self.channel}:{self.ts}"  # a message's identity in Slack: the conversation and its ts

    def inbound(self) -> InboundMessage:
        return InboundMessage(
            channel="slack",
            external_id=self.external_id,
            sender=self.user,
            text=self.text,
            received_at=datetime.fromtimestamp(float(self.ts), UTC),
            metadata={
                "channel": self.channel,
                "channel_type": self.channel_type,
                "user": self.user,
                "ts": self.ts,
                "thread_ts": self.thread_ts,
                "event_id": self.event_id,
                "team": self.team,
            },
        )


def parse_message(payload: dict[str, Any], bot_user: str | None) -> SlackMessage | None:
    """The person-written message in an event_callback payload, or None (other events, bots, edits)."""
    event = payload.get("event")
    if payload.get("type") != "event_callback" or not isinstance(event, dict):
        return None
    if event.get("type") not in _EVENT_TYPES or event.get("subtype") not in _PERSON_SUBTYPES:
        return None
    user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
    if event.get("bot_id") or not user or user == bot_user or not channel or not ts:
        return None  # the bot's own posts (and other bots') never come back as work
    try:
        float(ts)
    except (TypeError, ValueError):
        return None
    return SlackMessage(
        event_id=payload.get("event_id"),
        team=payload.get("team_id"),
        channel=str(channel),
        channel_type=event.get("channel_type"),
        user=str(user),
        text=str(event.get("text") or ""),
        ts=str(ts),
        thread_ts=event.get("thread_ts"),
    )


def is_allowed(config: SlackConfig, message: SlackMessage) -> bool:
    return message.channel in config.allowed_channels or message.user in config.users


class EventsEndpoint:
    """The Events API request URL: verifies Slack's signature, then hands event callbacks on.

    401 for a missing, bad or stale signature (outside `max_age_s`) and for a signature seen
    before (a replayed request: Slack signs every delivery, retries included, afresh).
    """

    def __init__(
        self, signing_secret: str, max_age_s: int, handle: Callable[[dict[str, Any]], Awaitable[str]], log: Any
    ) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._max_age_s = max_age_s
        self._handle = handle
        self._log = log
        self._seen: dict[str, int] = {}  # signature -> its timestamp, kept for the replay window
        self.refused = 0

    async def __call__(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get("X-Slack-Signature", "")
        refusal = self._check(body, request.headers.get("X-Slack-Request-Timestamp", ""), signature)
        if refusal is not None:
            self.refused += 1
            self._log.warning("slack.events_refused", reason=refusal, client=request.client and request.client.host)
            return JSONResponse({"ok": False, "error": refusal}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return JSONResponse({"ok": False, "error": "body is not a JSON object"}, status_code=400)
        if payload.get("type") == "url_verification":
            return JSONResponse({"challenge": payload.get("challenge", "")})
        try:
            # Stored before answering: a failure answers 500 and Slack retries (re-signed).
            outcome = await self._handle(payload)
        except Exception:
            self._seen.pop(signature, None)
            raise
        retry = request.headers.get("X-Slack-Retry-Num")
        self._log.info("slack.event", via="events", outcome=outcome, retry=retry)
        return JSONResponse({"ok": True, "outcome": outcome})

    def _check(self, body: bytes, timestamp: str, signature: str) -> str | None:
        """Why the request is refused, or None."""
        now = int(time.time())
        try:
            stamp = int(timestamp)
        except ValueError:
            return "missing or malformed X-Slack-Request-Timestamp"
        if abs(now - stamp) > self._max_age_s:
            return f"stale request: timestamp is {now - stamp}s old (at most {self._max_age_s}s)"
        if not signature or not self._verifier.is_valid(body, timestamp, signature):
            return "bad signature"
        self._seen = {s: t for s, t in self._seen.items() if abs(now - t) <= self._max_age_s}
        if signature in self._seen:
            return "replayed request (this signature was already used)"
        self._seen[signature] = stamp
        return None
