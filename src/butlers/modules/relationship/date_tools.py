"""Tools for important dates, staying in touch, the activity feed and the reminder digest."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import asyncpg
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import Notifier, NotifyRequest, delivered

from . import parsing, store
from .common import ContactId, Limit, parsed, require_contacts, text
from .feed import Cursor, feed_page
from .models import DateKind, Digest, FeedPage, ImportantDate, OverdueContact, UpcomingDate

Days = Annotated[int, Field(ge=0, le=366, description="How many days ahead (0 = today only).")]


def digest_message(upcoming: list[UpcomingDate], overdue: list[OverdueContact], days: int) -> str:
    """One message for everything due (never one per item)."""
    lines: list[str] = []
    if upcoming:
        lines.append(f"Coming up in the next {days} days:")
        for u in upcoming:
            when = "today" if u.in_days == 0 else "tomorrow" if u.in_days == 1 else f"in {u.in_days} days"
            what = u.label or u.kind.value
            turns = f" (turns {u.turns})" if u.turns is not None and u.kind is DateKind.BIRTHDAY else ""
            lines.append(f"- {u.display_name}: {what} {when}, {u.on}{turns}")
    if overdue:
        lines.append("Time to get in touch with:")
        for o in overdue:
            since = "never talked to" if o.days_since is None else f"last talked {o.days_since} days ago"
            lines.append(f"- {o.display_name} ({since})")
    return "\n".join(lines)


class DateTools:
    def __init__(self, pool: asyncpg.Pool, notify: Notifier | None) -> None:
        self.pool = pool
        self.notify = notify

    async def relationship_date_set(
        self,
        contact_id: ContactId,
        date: Annotated[str, Field(description="YYYY-MM-DD, or --MM-DD when the year is unknown.", max_length=20)],
        kind: DateKind = DateKind.BIRTHDAY,
        label: Annotated[str, Field(description="What the date is, for 'anniversary' or 'other'.")] = "",
    ) -> ImportantDate:
        """Set a birthday (replacing the old one) or add an anniversary or other important date."""
        t = "relationship_date_set"
        parts = parsed(t, "date", parsing.parse_partial_date, date)
        label = text(t, "label", label, required=False, limit=100)
        async with self.pool.acquire() as conn, conn.transaction():
            await require_contacts(conn, t, "contact_id", [contact_id])
            if kind is DateKind.BIRTHDAY:
                return await store.set_birthday(conn, contact_id, parts)
            year, month, day = parts
            row = await conn.fetchrow(
                "INSERT INTO relationship_dates (contact_id, kind, label, month, day, year) VALUES ($1,$2,$3,$4,$5,$6)"
                " RETURNING *",
                contact_id,
                kind.value,
                label,
                month,
                day,
                year,
            )
        assert row is not None
        return store.date_record(row)

    async def relationship_date_remove(self, id: Annotated[int, Field(ge=1)]) -> dict[str, int]:
        """Remove an important date by its id (from relationship_contact_get)."""
        if await self.pool.fetchval("DELETE FROM relationship_dates WHERE id = $1 RETURNING id", id) is None:
            raise bad_argument("relationship_date_remove", "id", f"no date with id {id}")
        return {"deleted": id}

    async def relationship_frequency_set(
        self,
        contact_id: ContactId,
        every_days: Annotated[
            int | None, Field(ge=1, le=3660, description="Stay in touch every this many days; null to stop.")
        ],
    ) -> OverdueContact:
        """How often the user wants to be in touch with a contact (e.g. 30 for monthly)."""
        row = await self.pool.fetchrow(
            "UPDATE relationship_contacts SET frequency_days = $2, updated_at = now() WHERE id = $1"
            " RETURNING id, display_name, last_interaction_at, frequency_days",
            contact_id,
            every_days,
        )
        if row is None:
            raise bad_argument("relationship_frequency_set", "contact_id", f"no contact with id {contact_id}")
        return _overdue(row, datetime.now(UTC))

    async def relationship_upcoming(self, days: Days = 30, limit: Limit = 100) -> list[UpcomingDate]:
        """Birthdays and other important dates in the next `days` days (across the new year), soonest first."""
        return (await upcoming(self.pool, datetime.now(UTC).date(), days))[:limit]

    async def relationship_not_contacted(
        self,
        weeks: Annotated[int, Field(ge=1, le=520, description="No interaction for at least this long.")],
        limit: Limit = 50,
    ) -> list[OverdueContact]:
        """Who the user has not talked to in `weeks` weeks (or ever), longest silence first."""
        rows = await self.pool.fetch(
            "SELECT id, display_name, last_interaction_at, frequency_days FROM relationship_contacts"
            " WHERE NOT archived AND (last_interaction_at IS NULL OR last_interaction_at < now() - make_interval(weeks => $1))"
            " ORDER BY last_interaction_at NULLS FIRST, id LIMIT $2",
            weeks,
            limit,
        )
        now = datetime.now(UTC)
        return [_overdue(r, now) for r in rows]

    async def relationship_overdue(self, limit: Limit = 50) -> list[OverdueContact]:
        """Contacts overdue against their own stay-in-touch frequency, most overdue first."""
        return await overdue(self.pool, limit)

    async def relationship_feed(
        self,
        contact_id: ContactId | None = None,
        limit: Limit = 20,
        before: Annotated[str | None, Field(description="next_cursor of the previous page.", max_length=100)] = None,
    ) -> FeedPage:
        """Everything that happened (interactions, gifts, loans, life events, notes), newest first; per contact or all."""
        t = "relationship_feed"
        cursor = None if before is None else parsed(t, "before", Cursor.decode, before)
        if contact_id is not None:
            await require_contacts(self.pool, t, "contact_id", [contact_id])
        return await feed_page(self.pool, contact_id, cursor, limit)

    async def relationship_remind_due(self, days: Days = 7) -> Digest:
        """One reminder of upcoming dates and overdue contacts, sent through notify; for tool-mode schedules."""
        soon = await upcoming(self.pool, datetime.now(UTC).date(), days)
        late = await overdue(self.pool, 50)
        message = digest_message(soon, late, days)
        if not message:
            return Digest(message="", upcoming=[], overdue=[], delivered=False, delivery="nothing due")
        if self.notify is None:
            return Digest(
                message=message,
                upcoming=soon,
                overdue=late,
                delivered=False,
                delivery="not delivered: notify is not available on this butler",
            )
        try:
            record = await self.notify(NotifyRequest(message))
        except Exception as exc:  # a failed delivery is reported, never lost silently
            return Digest(
                message=message,
                upcoming=soon,
                overdue=late,
                delivered=False,
                delivery=f"not delivered: {type(exc).__name__}: {exc}",
            )
        status = str(record.get("status", "sent"))
        taken = delivered(record)
        delivery = status if taken else f"not delivered: {record.get('error') or status}"
        return Digest(message=message, upcoming=soon, overdue=late, delivered=taken, delivery=delivery)

    def tools(self) -> list[Any]:
        return [getattr(self, name) for name in dir(self) if name.startswith("relationship_")]


def _overdue(row: asyncpg.Record, now: datetime) -> OverdueContact:
    last = row["last_interaction_at"]
    return OverdueContact(
        id=row["id"],
        display_name=row["display_name"],
        last_interaction_at=last,
        frequency_days=row["frequency_days"],
        days_since=None if last is None else (now - last).days,
    )


async def overdue(pool: asyncpg.Pool, limit: int) -> list[OverdueContact]:
    rows = await pool.fetch(
        "SELECT id, display_name, last_interaction_at, frequency_days FROM relationship_contacts"
        " WHERE due_at IS NOT NULL AND NOT archived AND due_at < now() ORDER BY due_at, id LIMIT $1",
        limit,
    )
    now = datetime.now(UTC)
    return [_overdue(r, now) for r in rows]


async def upcoming(pool: asyncpg.Pool, today: date, days: int) -> list[UpcomingDate]:
    rows = await pool.fetch(
        "SELECT d.*, c.display_name FROM relationship_dates d JOIN relationship_contacts c ON c.id = d.contact_id"
        " WHERE (d.month * 100 + d.day) = ANY($1::int[]) AND NOT c.archived",
        parsing.month_days_within(today, days),
    )
    out = []
    for r in rows:
        on = parsing.next_occurrence(r["month"], r["day"], today)
        if (on - today).days > days:
            continue  # 29 Feb asked for because 28 Feb is in range, but next year's is later
        turns = None if r["year"] is None else on.year - r["year"]
        out.append(UpcomingDate(**dict(r), on=on.isoformat(), in_days=(on - today).days, turns=turns))
    return sorted(out, key=lambda u: (u.in_days, u.display_name))
