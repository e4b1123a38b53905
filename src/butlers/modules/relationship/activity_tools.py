"""Tools for what happens with people: interactions, gifts, loans, life events, notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from pydantic import Field

from . import parsing
from .common import (
    ContactId,
    Notes,
    When,
    insert_for_contact,
    list_for_contact,
    moment,
    parsed,
    require_contacts,
    require_row,
    text,
    update_by_id,
)
from .models import (
    ContactNote,
    Direction,
    Gift,
    GiftStatus,
    Interaction,
    InteractionKind,
    LifeEvent,
    LifeEventKind,
    Loan,
    LoanDirection,
)

_GIFT = "id, contact_id, name, status, occasion, notes, occurred_at"
_LOAN = "id, contact_id, direction, amount::text AS amount, currency, notes, settled, settled_at, occurred_at"


def _now(at: datetime | None) -> datetime:
    return at or datetime.now(UTC)


class ActivityTools:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def relationship_interaction_log(
        self,
        contact_ids: Annotated[list[int], Field(min_length=1, max_length=50, description="With whom: one or more.")],
        kind: InteractionKind,
        direction: Annotated[Direction, Field(description="outbound: the user reached out; inbound: they did.")] = (
            Direction.MUTUAL
        ),
        when: When = None,
        notes: Notes = "",
    ) -> Interaction:
        """Record a call, message, meeting or other interaction with one or several contacts."""
        t = "relationship_interaction_log"
        at = _now(moment(t, "when", when))
        ids = list(dict.fromkeys(contact_ids))
        async with self.pool.acquire() as conn, conn.transaction():
            await require_contacts(conn, t, "contact_ids", ids)
            row = await conn.fetchrow(
                "INSERT INTO relationship_interactions (occurred_at, kind, direction, notes) VALUES ($1,$2,$3,$4)"
                " RETURNING id, occurred_at, kind, direction, notes",
                at,
                kind.value,
                direction.value,
                notes.strip(),
            )
            assert row is not None
            await conn.executemany(
                "INSERT INTO relationship_interaction_contacts (interaction_id, contact_id, occurred_at)"
                " VALUES ($1, $2, $3)",
                [(row["id"], c, at) for c in ids],
            )
            await conn.execute(
                "UPDATE relationship_contacts SET last_interaction_at = GREATEST(last_interaction_at, $2)"
                " WHERE id = ANY($1::bigint[])",
                ids,
                at,
            )
        return Interaction(**dict(row), contact_ids=ids)

    async def relationship_interaction_delete(self, id: Annotated[int, Field(ge=1)]) -> dict[str, int]:
        """Delete an interaction logged by mistake."""
        async with self.pool.acquire() as conn, conn.transaction():
            await require_row(conn, "relationship_interaction_delete", "relationship_interactions", "interaction", id)
            ids = [
                r["contact_id"]
                for r in await conn.fetch(
                    "SELECT contact_id FROM relationship_interaction_contacts WHERE interaction_id = $1", id
                )
            ]
            await conn.execute("DELETE FROM relationship_interactions WHERE id = $1", id)
            await conn.execute(
                "UPDATE relationship_contacts c SET last_interaction_at = (SELECT max(occurred_at)"
                " FROM relationship_interaction_contacts i WHERE i.contact_id = c.id) WHERE id = ANY($1::bigint[])",
                ids,
            )
        return {"deleted": id}

    async def relationship_gift_add(
        self,
        contact_id: ContactId,
        name: Annotated[str, Field(description="What the gift is, e.g. 'a cookbook'.")],
        status: Annotated[GiftStatus, Field(description="idea (not given yet), given (to them), received (from them)")],
        occasion: Annotated[str, Field(description="e.g. 'birthday 2026', 'Christmas'.")] = "",
        notes: Notes = "",
        when: When = None,
    ) -> Gift:
        """Record a gift idea, a gift given to a contact or one received from them."""
        t = "relationship_gift_add"
        clean = text(t, "name", name)
        occasion = text(t, "occasion", occasion, required=False)
        at = _now(moment(t, "when", when))
        sql = (
            f"INSERT INTO relationship_gifts (contact_id, name, status, occasion, notes, occurred_at)"
            f" VALUES ($1,$2,$3,$4,$5,$6) RETURNING {_GIFT}"
        )
        values = (clean, status.value, occasion, notes.strip(), at)
        return await insert_for_contact(self.pool, t, contact_id, Gift, sql, *values)

    async def relationship_gift_update(
        self, id: Annotated[int, Field(ge=1)], status: GiftStatus, when: When = None
    ) -> Gift:
        """Move a gift on, e.g. an idea that was given; `when` defaults to now."""
        at = _now(moment("relationship_gift_update", "when", when))
        sql = f"UPDATE relationship_gifts SET status = $2, occurred_at = $3 WHERE id = $1 RETURNING {_GIFT}"
        return await update_by_id(self.pool, "relationship_gift_update", "gift", Gift, sql, id, status.value, at)

    async def relationship_gifts_list(
        self, contact_id: ContactId | None = None, status: GiftStatus | None = None
    ) -> list[Gift]:
        """Gifts, newest first: of one contact and/or one status (e.g. every open idea)."""
        sql = (
            f"SELECT {_GIFT} FROM relationship_gifts WHERE ($1::bigint IS NULL OR contact_id = $1)"
            " AND ($2::text IS NULL OR status = $2) ORDER BY occurred_at DESC, id DESC LIMIT 200"
        )
        status_value = None if status is None else status.value
        return await list_for_contact(self.pool, "relationship_gifts_list", contact_id, Gift, sql, status_value)

    async def relationship_loan_add(
        self,
        contact_id: ContactId,
        amount: Annotated[str, Field(description="A positive amount, e.g. '50' or '12.50'.", max_length=20)],
        currency: Annotated[str, Field(description="Three-letter code: EUR, USD, GBP...", max_length=3)],
        direction: Annotated[LoanDirection, Field(description="lent: the user lent it to them; borrowed: from them.")],
        notes: Notes = "",
        when: When = None,
    ) -> Loan:
        """Record money lent to or borrowed from a contact ('I lent Tom 50 EUR')."""
        t = "relationship_loan_add"
        value = parsed(t, "amount", parsing.parse_amount, amount)
        code = parsed(t, "currency", parsing.parse_currency, currency)
        at = _now(moment(t, "when", when))
        sql = (
            f"INSERT INTO relationship_loans (contact_id, direction, amount, currency, notes, occurred_at)"
            f" VALUES ($1,$2,$3,$4,$5,$6) RETURNING {_LOAN}"
        )
        values = (direction.value, value, code, notes.strip(), at)
        return await insert_for_contact(self.pool, t, contact_id, Loan, sql, *values)

    async def relationship_loan_settle(
        self,
        id: Annotated[int, Field(ge=1)],
        settled: Annotated[bool, Field(description="false opens it again.")] = True,
    ) -> Loan:
        """Mark a loan paid back (or, with settled=false, open again)."""
        sql = (
            f"UPDATE relationship_loans SET settled = $2, settled_at = CASE WHEN $2 THEN now() END"
            f" WHERE id = $1 RETURNING {_LOAN}"
        )
        return await update_by_id(self.pool, "relationship_loan_settle", "loan", Loan, sql, id, settled)

    async def relationship_loans_list(
        self,
        contact_id: ContactId | None = None,
        open_only: Annotated[bool, Field(description="Only loans not settled.")] = True,
    ) -> list[Loan]:
        """Loans, newest first; by default only those not settled."""
        sql = (
            f"SELECT {_LOAN} FROM relationship_loans WHERE ($1::bigint IS NULL OR contact_id = $1)"
            " AND NOT ($2 AND settled) ORDER BY occurred_at DESC, id DESC LIMIT 200"
        )
        return await list_for_contact(self.pool, "relationship_loans_list", contact_id, Loan, sql, open_only)

    async def relationship_life_event_add(
        self,
        contact_id: ContactId,
        kind: LifeEventKind,
        title: Annotated[str, Field(description="e.g. 'Moved to Lyon', 'Started at Acme'.")],
        notes: Notes = "",
        when: When = None,
    ) -> LifeEvent:
        """Record a life event of a contact: moved, new job, baby, married..."""
        t = "relationship_life_event_add"
        clean = text(t, "title", title)
        at = _now(moment(t, "when", when))
        sql = (
            "INSERT INTO relationship_life_events (contact_id, kind, title, notes, occurred_at)"
            " VALUES ($1,$2,$3,$4,$5) RETURNING *"
        )
        values = (kind.value, clean, notes.strip(), at)
        return await insert_for_contact(self.pool, t, contact_id, LifeEvent, sql, *values)

    async def relationship_note_add(
        self, contact_id: ContactId, body: Annotated[str, Field(max_length=20000)], when: When = None
    ) -> ContactNote:
        """Add a dated note about a contact (what they said, what to remember)."""
        t = "relationship_note_add"
        clean = text(t, "body", body, limit=20000)
        at = _now(moment(t, "when", when))
        sql = "INSERT INTO relationship_notes (contact_id, body, occurred_at) VALUES ($1,$2,$3) RETURNING *"
        values = (clean, at)
        return await insert_for_contact(self.pool, t, contact_id, ContactNote, sql, *values)

    def tools(self) -> list[Any]:
        return [getattr(self, name) for name in dir(self) if name.startswith("relationship_")]
