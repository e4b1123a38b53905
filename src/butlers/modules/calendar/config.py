"""`[modules.calendar]` of butler.toml."""

from __future__ import annotations

import re
import zoneinfo
from urllib.parse import urlsplit

import tzlocal
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from butlers.config import TimezoneName

#: The tools that write to the calendar; any of them can be listed in `require_approval`.
OUTBOUND_TOOLS = ("calendar_create_event", "calendar_update_event", "calendar_delete_event")


def host_timezone() -> str:
    """The host's IANA zone name (UTC when it cannot be told)."""
    try:
        name = tzlocal.get_localzone_name()
    except Exception:
        return "UTC"
    if not name:
        return "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return "UTC"
    return name


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL (e.g. 'https://dav.example.com/')")
    try:
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"{value!r} has a bad port: {exc}") from None
    return value


class CalendarConfig(BaseModel):
    """CalDAV server (optional), read-only ICS sources, the zone times are read and written in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(
        default=None, description="CalDAV server URL, e.g. 'https://dav.example.com/' (the principal or server root)."
    )
    username: str | None = Field(default=None, description="CalDAV login; the password is CALDAV_PASSWORD.")
    calendar: str | None = Field(
        default=None,
        description="The calendar to use: its display name, or its URL path ('/alice/personal/'); default the first.",
    )
    create_if_missing: bool = Field(
        default=False,
        description="Create the calendar (MKCALENDAR) at startup when it does not exist on the CalDAV server.",
    )
    ics_sources: list[str] = Field(
        default_factory=list,
        description="Read-only ICS feeds: http(s) URLs or files (relative paths are to the butler's folder).",
    )
    timezone: TimezoneName = Field(
        default_factory=host_timezone, description="IANA zone for naive times; default the host's."
    )
    require_approval: list[str] = Field(
        default_factory=list, description=f"Outbound tools that wait for approval: any of {', '.join(OUTBOUND_TOOLS)}."
    )
    timeout_seconds: float = Field(default=15.0, gt=0, le=300, description="Timeout of one request to a server.")

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        _check_http_url(value)
        return value if value.endswith("/") else value + "/"

    @field_validator("username", "calendar")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave the key out instead)")
        return value.strip() if value is not None else None

    @field_validator("ics_sources")
    @classmethod
    def _valid_sources(cls, value: list[str]) -> list[str]:
        for source in value:
            if not source.strip():
                raise ValueError("an ICS source must not be empty")
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
                if source.startswith("file://"):
                    continue
                _check_http_url(source)
        if len(set(value)) != len(value):
            raise ValueError("the same ICS source is listed twice")
        return value

    @field_validator("require_approval")
    @classmethod
    def _known_tools(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in OUTBOUND_TOOLS]
        if unknown:
            raise ValueError(f"unknown tool(s) {unknown}; choose from {list(OUTBOUND_TOOLS)}")
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> CalendarConfig:
        if self.url is None and not self.ics_sources:
            raise ValueError("set 'url' (a CalDAV server) or 'ics_sources' (read-only feeds), or both")
        if self.url is None and (self.username or self.calendar or self.create_if_missing):
            raise ValueError("'username', 'calendar' and 'create_if_missing' need 'url' (a CalDAV server)")
        return self
