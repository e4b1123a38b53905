"""What several modules' config schemas share: checks (call them from a field validator, or use
the `Annotated` types) and the strict, frozen base of a config section."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# A Slack user id. Here, not in the slack module, so that the notify module's config (which the
# dashboard reads) does not load the slack package and with it slack-sdk and aiohttp.
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


class StrictConfig(BaseModel):
    """A config section: unknown keys are errors (a typo must not pass silently); frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def http_url(value: str, what: str) -> str:
    """An http(s) URL, stripped and without a trailing slash; ValueError naming `what` otherwise."""
    value = value.strip()
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError(f"{what} must be an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def webhook_path(value: str) -> str:
    """A route path on the butler's HTTP port for a webhook: not '/', and not the MCP endpoint's."""
    if not value.startswith("/") or value.rstrip("/") in ("", "/mcp") or value.startswith("/mcp/"):
        raise ValueError(f"must start with '/' and not be '/' or under '/mcp', got {value!r}")
    return value


def _api_base_url(value: str) -> str:
    return http_url(value, "api_base_url")


def only_outbound(tools: tuple[str, ...]) -> AfterValidator:
    """The check of a `require_approval` list: every name is one of the module's outbound `tools`."""

    def check(value: list[str]) -> list[str]:
        for tool in value:
            if tool not in tools:
                raise ValueError(f"{tool!r} is not an outbound tool of this module (choose from {', '.join(tools)})")
        return value

    return AfterValidator(check)


WebhookPath = Annotated[str, AfterValidator(webhook_path)]


def route_path(default: str, receives: str) -> Any:
    """The `path` setting of a module's webhook (a `WebhookPath`): one wording for every module."""
    return Field(default=default, description=f"Path of the route on the butler's HTTP port that receives {receives}.")


ApiBaseUrl = Annotated[str, AfterValidator(_api_base_url)]


def matching_names(value: list[str], pattern: re.Pattern[str], error: str) -> list[str]:
    """`value` without repeats, each name matching `pattern`; else ValueError(error.format(name))."""
    for name in value:
        if not pattern.fullmatch(name):
            raise ValueError(error.format(name))
    return list(dict.fromkeys(value))
