"""`[modules.slack]` of butler.toml."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from butlers.modules.config_checks import SLACK_USER_ID as USER_ID
from butlers.modules.config_checks import StrictConfig, WebhookPath, only_outbound, route_path

BOT_TOKEN_ENV = "BUTLER_SLACK_BOT_TOKEN"  # xoxb-...: every Web API call
APP_TOKEN_ENV = "BUTLER_SLACK_APP_TOKEN"  # xapp-...: Socket Mode (apps.connections.open)
SIGNING_SECRET_ENV = "BUTLER_SLACK_SIGNING_SECRET"  # Events API: verifies Slack's request signatures
OUTBOUND_TOOLS = ("slack_send", "slack_reply", "slack_react", "slack_upload")
DEFAULT_API = "https://slack.com/api"

ReplayWindow = Annotated[int, Field(ge=10, le=300)]  # seconds
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,30}")  # public, private, direct-message conversations


def _ids(value: list[str], pattern: re.Pattern[str], what: str) -> list[str]:
    out = []
    for raw in value:
        item = raw.strip()
        if not pattern.fullmatch(item):
            raise ValueError(f"{raw!r} is not a Slack {what} (see docs/modules/slack.md: how to find an id)")
        out.append(item)
    return list(dict.fromkeys(out))


class EventsConfig(StrictConfig):
    """`[modules.slack.events]`: used when mode = "events" (Slack posts events to the butler's HTTP port)."""

    path: WebhookPath = route_path("/slack/events", "events")
    max_age_s: ReplayWindow = Field(
        default=300,
        description="Replay window: a request whose X-Slack-Request-Timestamp is older (or newer) is refused.",
    )


class SlackConfig(StrictConfig):
    """`[modules.slack]` of butler.toml."""

    mode: Literal["socket", "events"] = Field(
        default="socket", description="How events arrive: Socket Mode (a websocket) or the Events API (HTTP)."
    )
    api_base_url: str = Field(default=DEFAULT_API, description="The Web API; methods are posted to <this>/<method>.")
    allowed_channels: list[str] = Field(
        default_factory=list, description="Conversation ids (C..., G..., D...) whose messages reach the butler."
    )
    allowed_users: list[str] = Field(
        default_factory=list, description="User ids (U..., W...) whose messages reach the butler, in any conversation."
    )
    owner: str | None = Field(default=None, description="Your user id: where deliver() sends by default (your DM).")
    require_approval: Annotated[list[str], only_outbound(OUTBOUND_TOOLS)] = Field(
        default_factory=list, description="Outbound tools that need approval."
    )
    events: EventsConfig = Field(default_factory=EventsConfig)
    ping_interval_s: float = Field(
        default=5.0, gt=0, le=60, description="Socket Mode: seconds between pings and reconnect attempts."
    )

    @field_validator("api_base_url")
    @classmethod
    def _api(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")) or not value.split("://", 1)[1]:
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("allowed_channels")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        return _ids(value, CHANNEL_ID, "conversation id (C..., G... or D...)")

    @field_validator("allowed_users")
    @classmethod
    def _users(cls, value: list[str]) -> list[str]:
        return _ids(value, USER_ID, "user id (U... or W...)")

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return None if value is None else _ids([value], USER_ID, "user id (U... or W...)")[0]

    @property
    def users(self) -> frozenset[str]:
        """Users whose messages reach the butler (and who may be written to): allowed_users and the owner."""
        return frozenset([*self.allowed_users, *([self.owner] if self.owner else [])])

    @property
    def credentials_needed(self) -> tuple[str, ...]:
        """The environment variables this mode needs."""
        second = APP_TOKEN_ENV if self.mode == "socket" else SIGNING_SECRET_ENV
        return (BOT_TOKEN_ENV, second)
