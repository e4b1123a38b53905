"""What every health tool needs: the pool, the time zone, the notifier, and shared argument types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import Notifier

MAX_NOTES = 2000
MAX_NAME = 200
MAX_LIMIT = 1000


@dataclass(frozen=True)
class HealthEnv:
    pool: asyncpg.Pool
    tz: ZoneInfo
    notify: Notifier | None


Since = Annotated[
    str | None,
    Field(description="Start of the period: ISO 8601 date or date-time (naive = the butler's time zone)."),
]
Until = Annotated[
    str | None, Field(description="End of the period (a date alone means through that day); default now.")
]
Days = Annotated[int | None, Field(ge=1, le=3660, description="Without `since`: this many days before `until`.")]
At = Annotated[
    str | None,
    Field(description="When: ISO 8601 date-time (naive = the butler's time zone), a date, or 'now' (default)."),
]
Notes = Annotated[str, Field(max_length=MAX_NOTES, description="Free notes.")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="How many rows at most, newest first.")]
RowId = Annotated[int, Field(ge=1, description="The row's id, as returned when it was added or listed.")]


def clean_text(tool: str, argument: str, text: str, limit: int = MAX_NAME) -> str:
    text = text.strip()
    if not text:
        raise bad_argument(tool, argument, "must not be empty")
    if len(text) > limit:
        raise bad_argument(tool, argument, f"is longer than {limit} characters")
    return text


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
