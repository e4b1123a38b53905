"""Checks that several modules' config schemas share (call them from a field validator)."""

from __future__ import annotations

import re

# A Slack user id. Here, not in the slack module, so that the notify module's config (which the
# dashboard reads) does not load the slack package and with it slack-sdk and aiohttp.
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


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
