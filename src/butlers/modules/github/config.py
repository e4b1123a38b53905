"""`[modules.github]` of butler.toml."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from butlers.modules.config_checks import (
    ApiBaseUrl,
    StrictConfig,
    WebhookPath,
    matching_names,
    only_outbound,
    route_path,
)

TOKEN_ENV = "BUTLER_GITHUB_TOKEN"
OUTBOUND_TOOLS = ("github_comment", "github_issue_create")
DEFAULT_API = "https://api.github.com"
# Webhook events that become inbound messages unless `webhook.events` says otherwise.
DEFAULT_EVENTS = (
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "check_suite",
)
REPO_PATTERN = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
_REPO = re.compile(REPO_PATTERN)
_EVENT = re.compile(r"[a-z_]{1,64}")


def _long_enough(secret: str) -> str:
    if len(secret) < 16:
        raise ValueError("must be at least 16 characters (use a random string, e.g. `openssl rand -hex 32`)")
    return secret


WebhookSecret = Annotated[str, AfterValidator(_long_enough)]
PollSeconds = Annotated[float, Field(ge=0.1, le=3600)]


class WebhookConfig(StrictConfig):
    """`[modules.github.webhook]`: used when inbound = "webhook"."""

    path: WebhookPath = route_path("/github/webhook", "events")
    secret: WebhookSecret | None = Field(
        default=None,
        description="The webhook's secret, checked against X-Hub-Signature-256 (HMAC-SHA256). Use ${VAR}.",
    )
    events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENTS),
        description="Event types (X-GitHub-Event) that become inbound messages; others are acknowledged and ignored.",
    )

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return matching_names(value, _EVENT, "{!r} is not a GitHub event name (e.g. 'issues', 'pull_request')")


class GithubConfig(StrictConfig):
    """`[modules.github]` of butler.toml."""

    api_base_url: ApiBaseUrl = Field(
        default=DEFAULT_API,
        description="The REST API root: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.",
    )
    api_version: Literal["2026-03-10", "2022-11-28"] = Field(
        default="2026-03-10",
        description="REST API version sent as X-GitHub-Api-Version; older Enterprise Servers know only 2022-11-28.",
    )
    inbound: Literal["polling", "webhook", "off"] = Field(
        default="polling", description="How notifications/events arrive: poll notifications, a webhook, or not at all."
    )
    poll_interval_s: PollSeconds = Field(
        default=60.0, description="Seconds between polls at least; GitHub's X-Poll-Interval can raise it."
    )
    participating_only: bool = Field(
        default=False, description="Poll only notifications where you are directly involved (mention, review, assign)."
    )
    repositories: list[str] = Field(
        default_factory=list, description="owner/name of repositories whose notifications/events arrive; [] = all."
    )
    webhook: WebhookConfig = Field(default_factory=WebhookConfig, validate_default=True)
    require_approval: Annotated[list[str], only_outbound(OUTBOUND_TOOLS)] = Field(
        default_factory=list, description="Outbound tools that need approval."
    )
    max_rate_limit_wait_s: float = Field(
        default=120.0,
        ge=0,
        le=3600,
        description="A tool call waits out a rate limit up to this long (Retry-After / X-RateLimit-Reset), then fails.",
    )
    timeout_s: float = Field(default=15.0, gt=0, le=120, description="Timeout of one HTTP request to the API.")

    @field_validator("repositories")
    @classmethod
    def _repositories(cls, value: list[str]) -> list[str]:
        repos = matching_names(value, _REPO, "{!r} is not a repository as owner/name")
        return list(dict.fromkeys(r.lower() for r in repos))  # GitHub compares them case-insensitively

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: WebhookConfig, info: ValidationInfo) -> WebhookConfig:
        if info.data.get("inbound") == "webhook" and value.secret is None:
            raise ValueError("inbound = 'webhook' needs webhook.secret (the secret set on GitHub's webhook)")
        return value

    def watches(self, repo: str | None) -> bool:
        """Whether notifications/events of `repo` (owner/name) arrive."""
        return not self.repositories or (repo is not None and repo.lower() in self.repositories)
