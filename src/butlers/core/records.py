"""What the core stores return: typed, frozen records, turned into JSON only at the MCP edge.

A record is a pydantic model built from a database row (`from_row`); a tool
returns it as it is, and FastMCP derives the tool's output schema from it and
serializes it (ids as text, times as ISO-8601 with their offset).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

import asyncpg
from pydantic import BaseModel, ConfigDict, PlainSerializer


def _iso(value: datetime) -> str:
    # datetime.isoformat keeps "+00:00" (pydantic's default would write "Z"): what clients have always read.
    return value.isoformat()


Timestamp = Annotated[datetime, PlainSerializer(_iso, return_type=str, when_used="json")]


class Record(BaseModel):
    """A row of a core table as a typed value; columns it does not declare are not read."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_row(cls, row: asyncpg.Record | Mapping[str, Any]) -> Self:
        return cls.model_validate(dict(row))

    @classmethod
    def from_rows(cls, rows: Iterable[asyncpg.Record | Mapping[str, Any]]) -> list[Self]:
        return [cls.model_validate(dict(r)) for r in rows]


def jsonable(record: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """A row as plain JSON values (ids and times as strings, numerics as float), for stores without a record."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        out[key] = value
    return out
