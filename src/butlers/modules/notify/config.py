"""`[modules.notify]` of butler.toml: the owner's channels, quiet hours and the retry policy.

[modules.notify]
max_attempts = 5

[modules.notify.owner]
channel = "telegram"               # the default channel
telegram_chat_id = 123456789
slack_user_id = "U0123456789"      # your Slack user id: notifications on slack go to your DM
email = "me@example.com"
timezone = "Europe/Paris"
quiet_hours = "22:00-07:00"        # in the owner's zone; low and normal priority wait
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, tzinfo
from email.utils import parseaddr
from typing import Literal
from zoneinfo import ZoneInfo

import tzlocal
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from butlers.config import TimezoneName
from butlers.modules.config_checks import SLACK_USER_ID

ChannelName = Literal["telegram", "email", "slack"]
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class OwnerConfig(BaseModel):
    """`[modules.notify.owner]`: where the owner is reached, and when not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: ChannelName | None = Field(
        default=None,
        description="Default channel; default: telegram if a chat id is set, else slack if a user id is, else email.",
    )
    telegram_chat_id: int | None = Field(default=None, description="The owner's Telegram chat with the bot.")
    slack_user_id: str | None = Field(
        default=None, description="The owner's Slack user id (U..., W...): slack notifications go to their DM."
    )
    email: str | None = Field(default=None, description="The owner's email address.")
    timezone: TimezoneName | None = Field(default=None, description="IANA zone of the owner; default: the host's.")
    quiet_hours: str | None = Field(
        default=None, description="'HH:MM-HH:MM' in the owner's zone (may cross midnight), e.g. '22:00-07:00'."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        addr = parseaddr(value)[1]
        if "@" not in addr or " " in addr or "\n" in value:
            raise ValueError(f"{value!r} is not an email address")
        return addr.lower()

    @field_validator("slack_user_id")
    @classmethod
    def _slack(cls, value: str | None) -> str | None:
        if value is not None and not SLACK_USER_ID.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a Slack user id (U... or W...; see docs/modules/slack.md)")
        return None if value is None else value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is not None:
            match = _QUIET.match(value.replace(" ", ""))
            if match is None or match.group(1, 2) == match.group(3, 4):
                raise ValueError(f"{value!r} is not a window like '22:00-07:00' (start and end differ)")
            return value.replace(" ", "")
        return value

    @model_validator(mode="after")
    def _default_channel(self) -> OwnerConfig:
        if self.channel == "telegram" and self.telegram_chat_id is None:
            raise ValueError("channel = 'telegram' needs telegram_chat_id")
        if self.channel == "email" and self.email is None:
            raise ValueError("channel = 'email' needs email")
        if self.channel == "slack" and self.slack_user_id is None:
            raise ValueError("channel = 'slack' needs slack_user_id")
        return self

    @property
    def default_channel(self) -> ChannelName | None:
        if self.channel is not None:
            return self.channel
        if self.telegram_chat_id is not None:
            return "telegram"
        if self.slack_user_id is not None:
            return "slack"
        return "email" if self.email is not None else None

    def address(self, channel: str) -> str | None:
        """The owner's recipient on `channel`, if configured."""
        if channel == "telegram" and self.telegram_chat_id is not None:
            return str(self.telegram_chat_id)
        if channel == "email":
            return self.email
        if channel == "slack":
            return self.slack_user_id
        return None

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.timezone) if self.timezone else tzlocal.get_localzone()

    def quiet_until(self, now: datetime) -> datetime | None:
        """When the quiet window holding `now` ends (UTC), or None when `now` is not in quiet hours."""
        if self.quiet_hours is None:
            return None
        start_s, end_s = self.quiet_hours.split("-")
        start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
        local = now.astimezone(self.zone)
        t = local.time().replace(tzinfo=None)
        today = local.date()
        if start < end:
            inside, end_day = start <= t < end, today
        else:  # the window crosses midnight
            inside = t >= start or t < end
            end_day = today + timedelta(days=1) if t >= start else today
        if not inside:
            return None
        return datetime.combine(end_day, end, tzinfo=self.zone).astimezone(UTC)


class NotifyConfig(BaseModel):
    """`[modules.notify]`: enabled on the butler that holds the channel modules (the switchboard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: OwnerConfig = Field(default_factory=OwnerConfig)
    max_attempts: int = Field(default=5, ge=1, le=20, description="Tries per delivery on transient failures.")
    retry_base_s: float = Field(default=1.0, gt=0, le=60, description="First backoff; doubled per try.")
    max_backoff_s: float = Field(default=60.0, gt=0, le=600, description="Longest wait between tries.")
    release_interval_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often held notifications are checked for the end of quiet hours."
    )
