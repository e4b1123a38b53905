"""`[modules.telegram]` of butler.toml."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from butlers.modules.config_checks import ApiBaseUrl, StrictConfig, WebhookPath, http_url, only_outbound, route_path

TOKEN_ENV = "BUTLER_TELEGRAM_TOKEN"
OUTBOUND_TOOLS = ("telegram_send",)
DEFAULT_API = "https://api.telegram.org"

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Telegram accepts as a webhook secret_token
_USERNAME = re.compile(r"[A-Za-z0-9_]{1,32}")


class WebhookConfig(StrictConfig):
    """`[modules.telegram.webhook]`: used when mode = "webhook"."""

    path: WebhookPath = route_path("/telegram/webhook", "updates")
    secret_token: str | None = Field(
        default=None,
        description="Sent by Telegram in X-Telegram-Bot-Api-Secret-Token; 1-256 of A-Z a-z 0-9 _ -. Use ${VAR}.",
    )
    public_url: str | None = Field(
        default=None,
        description="The butler's public base URL (your HTTPS reverse proxy); Telegram posts to public_url + path.",
    )

    @field_validator("secret_token")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET.fullmatch(value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' (Telegram's rule)")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value, "public_url")

    @property
    def url(self) -> str:
        """The URL given to setWebhook."""
        return f"{self.public_url}{self.path}"


class TelegramConfig(StrictConfig):
    """`[modules.telegram]` of butler.toml."""

    mode: Literal["polling", "webhook"] = Field(default="polling", description="How updates arrive.")
    api_base_url: ApiBaseUrl = Field(
        default=DEFAULT_API,
        description="The Bot API server; python-telegram-bot's base_url is this + '/bot'.",
    )
    allowed_chat_ids: list[int] = Field(default_factory=list, description="Chats whose messages reach the butler.")
    allowed_usernames: list[str] = Field(
        default_factory=list, description="Users (@name or name) whose private chats reach the butler."
    )
    webhook: WebhookConfig = Field(default_factory=WebhookConfig, validate_default=True)
    require_approval: Annotated[list[str], only_outbound(OUTBOUND_TOOLS)] = Field(
        default_factory=list, description="Outbound tools that need approval."
    )
    poll_timeout_s: int = Field(default=30, ge=1, le=50, description="getUpdates long-polling timeout.")
    owner_chat_id: int | None = Field(
        default=None,
        description="The owner's chat with the bot: every held action of the daemon is offered there with "
        "Approve / Reject buttons (only the owner's press counts).",
    )
    owner_user_id: int | None = Field(
        default=None,
        description="The owner's Telegram user id, the only one whose press decides; default: owner_chat_id "
        "(a private chat's id is its user's). Required when owner_chat_id is a group.",
    )

    @field_validator("allowed_usernames")
    @classmethod
    def _usernames(cls, value: list[str]) -> list[str]:
        names = []
        for raw in value:
            name = raw.strip().removeprefix("@")
            if not _USERNAME.fullmatch(name):
                raise ValueError(f"{raw!r} is not a Telegram username (letters, digits and '_')")
            names.append(name.lower())  # Telegram usernames compare case-insensitively
        return list(dict.fromkeys(names))

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: WebhookConfig, info: ValidationInfo) -> WebhookConfig:
        if info.data.get("mode") == "webhook":
            missing = [key for key in ("secret_token", "public_url") if getattr(value, key) is None]
            if missing:
                raise ValueError(f"mode = 'webhook' needs {' and '.join(f'webhook.{m}' for m in missing)}")
        return value

    @model_validator(mode="after")
    def _owner(self) -> TelegramConfig:
        if self.owner_user_id is not None and self.owner_chat_id is None:
            raise ValueError("owner_user_id needs owner_chat_id (the chat the buttons are sent to)")
        if self.owner_chat_id is not None and self.owner_chat_id < 0 and self.owner_user_id is None:
            raise ValueError("owner_chat_id is a group chat: give owner_user_id, the one user whose press decides")
        if self.owner_user_id is not None and self.owner_user_id <= 0:
            raise ValueError("owner_user_id must be a user id (a positive number)")
        return self

    @property
    def deciding_user_id(self) -> int | None:
        """The user whose press on an Approve / Reject button decides."""
        return self.owner_user_id if self.owner_user_id is not None else self.owner_chat_id

    @property
    def bot_base_url(self) -> str:
        """python-telegram-bot's `base_url` (the token is appended to it)."""
        return f"{self.api_base_url}/bot"
