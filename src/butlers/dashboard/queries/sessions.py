"""The sessions list across butlers: filters, newest first, keyset pages (fast at 100,000 rows)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from butlers.dashboard.params import BadParameterError

if TYPE_CHECKING:
    from butlers.butler import Butler

DEFAULT_LIMIT = 50
COLUMNS = """id, trigger_source, schedule_name, left(prompt, 160) AS prompt, status, queued_at, started_at,
             finished_at, duration_ms, cost_usd::float8 AS cost_usd, model, input_tokens, output_tokens"""


@dataclass(frozen=True)
class SessionFilter:
    butler: str | None = None
    status: str | None = None
    source: str | None = None
    schedule: str | None = None
    day: date | None = None
    before: tuple[datetime, uuid.UUID] | None = None  # the last row of the previous page
    limit: int = DEFAULT_LIMIT

    def query_string(self, **changes: Any) -> str:
        """The filter as URL parameters (for links that keep it), with `changes` applied."""
        values = {
            "butler": self.butler,
            "status": self.status,
            "source": self.source,
            "schedule": self.schedule,
            "day": self.day.isoformat() if self.day else None,
            "limit": self.limit if self.limit != DEFAULT_LIMIT else None,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})


def cursor(row: dict[str, Any]) -> str:
    return f"{row['queued_at'].isoformat()}_{row['id']}"


def parse_cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if value is None:
        return None
    at, _, ident = value.rpartition("_")
    try:
        return datetime.fromisoformat(at), uuid.UUID(ident)
    except ValueError:
        raise BadParameterError("before", f"{value!r} is not a page cursor (take it from next_before)") from None


def _where(f: SessionFilter) -> tuple[str, list[Any]]:
    # Only the conditions given, so PostgreSQL walks the index that fits (see migration 0030).
    conditions: list[str] = []
    args: list[Any] = []
    for column, value in (("status", f.status), ("trigger_source", f.source), ("schedule_name", f.schedule)):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if f.day is not None:
        start = datetime.combine(f.day, time()).astimezone()  # the day in the daemon's time zone
        args += [start, start + timedelta(days=1)]
        conditions.append(f"queued_at >= ${len(args) - 1} AND queued_at < ${len(args)}")
    if f.before is not None:
        args += list(f.before)
        conditions.append(f"(queued_at, id) < (${len(args) - 1}, ${len(args)})")
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", args


async def list_page(butlers: list[Butler], f: SessionFilter) -> tuple[list[dict[str, Any]], str | None]:
    """One page of sessions of `butlers`, newest first, and the cursor of the next page (None: the last)."""
    where, args = _where(f)
    sql = f"SELECT {COLUMNS} FROM sessions{where} ORDER BY queued_at DESC, id DESC LIMIT ${len(args) + 1}"
    rows: list[dict[str, Any]] = []
    for butler in butlers:  # sequential: usually one butler or few; each answers from its index
        rows += [{"butler": butler.name, **dict(r)} for r in await butler.pool.fetch(sql, *args, f.limit + 1)]
    rows.sort(key=lambda r: (r["queued_at"], r["id"]), reverse=True)
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    return rows, cursor(rows[-1]) if more and rows else None


def schedules_of(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({r["schedule_name"] for r in rows if r.get("schedule_name")})
