"""Contacts of the relationship module (the Contacts page): search, one contact, its feed and dates.

Everything here is the relationship module's own queries (`store`, `feed`, `date_tools`),
so the page shows what the relationship tools answer; only the per-contact upcoming
dates are computed here, from the contact's dates, without a query of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from butlers.modules.relationship import date_tools, parsing, store
from butlers.modules.relationship.feed import Cursor, feed_page
from butlers.modules.relationship.models import Contact, ContactMatch, FeedPage, OverdueContact, UpcomingDate

MAX_LIST = 200
MAX_DAYS = 366

__all__ = ["Contact", "ContactMatch", "ContactPage", "contact_page", "find", "overdue", "upcoming"]


@dataclass(frozen=True)
class ContactPage:
    """One contact with a page of its activity feed and its dates, soonest first."""

    contact: Contact
    feed: FeedPage
    upcoming: tuple[UpcomingDate, ...]


async def find(pool: asyncpg.Pool, query: str, *, limit: int = 50) -> list[ContactMatch]:
    """Contacts matching `query` fuzzily (the module's trigram search), best first; all by name if it is blank."""
    if not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit must be between 1 and {MAX_LIST}")
    if query.strip():
        return await store.find_contacts(pool, query.strip(), False, limit)
    rows = await pool.fetch(
        "SELECT id, display_name, nicknames, labels, archived, 1.0::float AS score FROM relationship_contacts"
        " WHERE NOT archived ORDER BY lower(display_name), id LIMIT $1",
        limit,
    )
    return [ContactMatch(**dict(r)) for r in rows]


async def contact_page(
    pool: asyncpg.Pool, contact_id: int, today: date, *, before: str | None = None, limit: int = 20
) -> ContactPage | None:
    """The contact, the feed page older than the cursor `before` (ValueError if it is not one), its dates."""
    cursor = None if before is None else Cursor.decode(before)
    contact = await store.fetch_contact(pool, contact_id)
    if contact is None:
        return None
    feed = await feed_page(pool, contact_id, cursor, limit)
    return ContactPage(contact, feed, tuple(dates_ahead(contact, today)))


def dates_ahead(contact: Contact, today: date) -> list[UpcomingDate]:
    """Each important date of the contact at its next occurrence, soonest first."""
    out = []
    for d in contact.dates:
        on = parsing.next_occurrence(d.month, d.day, today)
        turns = None if d.year is None else on.year - d.year
        out.append(UpcomingDate(contact_id=contact.id, display_name=contact.display_name, kind=d.kind,
                                label=d.label, on=on.isoformat(), in_days=(on - today).days, turns=turns))  # fmt: skip
    return sorted(out, key=lambda u: u.in_days)


async def upcoming(pool: asyncpg.Pool, today: date, days: int = 30) -> list[UpcomingDate]:
    """Every contact's dates in the next `days` days (what `relationship_upcoming` answers)."""
    if not 0 <= days <= MAX_DAYS:
        raise ValueError(f"days must be between 0 and {MAX_DAYS}")
    return await date_tools.upcoming(pool, today, days)


async def overdue(pool: asyncpg.Pool, limit: int = 20) -> list[OverdueContact]:
    """Contacts overdue against their stay-in-touch frequency (what `relationship_overdue` answers)."""
    return await date_tools.overdue(pool, limit)
