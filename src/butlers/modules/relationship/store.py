"""SQL for contacts and their details, dates and relations; returns typed records."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from . import parsing
from .models import INVERSE_RELATION, Contact, ContactMatch, Detail, ImportantDate, Relation, RelationKind

Conn = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool
MIN_SCORE = 0.4

CONTACT_COLUMNS = (
    "id, display_name, first_name, last_name, nicknames, company, job_title, how_met, notes, labels,"
    " frequency_days, archived, vcard_uid, last_interaction_at, created_at, updated_at"
)


@dataclass
class NewContact:
    """A contact's fields as validated by a tool or read from a vCard."""

    display_name: str
    first_name: str = ""
    last_name: str = ""
    nicknames: list[str] = field(default_factory=list)
    company: str = ""
    job_title: str = ""
    how_met: str = ""
    notes: str = ""
    labels: list[str] = field(default_factory=list)
    frequency_days: int | None = None
    vcard_uid: str | None = None
    details: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, label, value)
    birthday: tuple[int | None, int, int] | None = None


def date_record(row: asyncpg.Record) -> ImportantDate:
    return ImportantDate(**dict(row), text=parsing.format_partial_date(row["year"], row["month"], row["day"]))


async def fetch_contact(conn: Conn, contact_id: int) -> Contact | None:
    row = await conn.fetchrow(f"SELECT {CONTACT_COLUMNS} FROM relationship_contacts WHERE id = $1", contact_id)
    if row is None:
        return None
    details = await conn.fetch(
        "SELECT id, kind, label, value FROM relationship_details WHERE contact_id = $1 ORDER BY id", contact_id
    )
    dates = await conn.fetch("SELECT * FROM relationship_dates WHERE contact_id = $1 ORDER BY id", contact_id)
    return Contact(
        **dict(row),
        details=[Detail(**dict(d)) for d in details],
        dates=[date_record(d) for d in dates],
        relations=await fetch_relations(conn, contact_id),
    )


async def fetch_relations(conn: Conn, contact_id: int) -> list[Relation]:
    # Stored once, as "other is contact's <kind>"; from the other side the kind is inverted.
    rows = await conn.fetch(
        "SELECT r.id, r.kind, r.custom, r.other_id AS other, false AS inverse, c.display_name"
        " FROM relationship_relations r JOIN relationship_contacts c ON c.id = r.other_id WHERE r.contact_id = $1"
        " UNION ALL"
        " SELECT r.id, r.kind, r.custom, r.contact_id, true, c.display_name"
        " FROM relationship_relations r JOIN relationship_contacts c ON c.id = r.contact_id WHERE r.other_id = $1"
        " ORDER BY 1",
        contact_id,
    )
    out = []
    for r in rows:
        kind = RelationKind(r["kind"])
        if r["inverse"]:
            kind = INVERSE_RELATION.get(kind, kind)
        out.append(
            Relation(id=r["id"], kind=kind, custom=r["custom"], other_id=r["other"], other_name=r["display_name"])
        )
    return out


async def refresh_search(conn: Conn, contact_ids: list[int]) -> None:
    """Recompute the folded search text and trigrams from names, nicknames, company and details."""
    rows = await conn.fetch(
        "SELECT c.id, concat_ws(' ', c.display_name, c.first_name, c.last_name, array_to_string(c.nicknames, ' '),"
        " c.company) AS names,"
        " (SELECT string_agg(CASE WHEN d.kind = 'phone' THEN d.value_norm ELSE d.value END, ' ')"
        "  FROM relationship_details d WHERE d.contact_id = c.id) AS details"
        " FROM relationship_contacts c WHERE c.id = ANY($1::bigint[])",
        contact_ids,
    )
    columns = [(r["id"], *search_columns(r["names"], r["details"] or "")) for r in rows]
    await conn.executemany(
        "UPDATE relationship_contacts SET search_text = $2 WHERE id = $1", [(i, text) for i, text, _ in columns]
    )
    await conn.execute("DELETE FROM relationship_trigrams WHERE contact_id = ANY($1::bigint[])", contact_ids)
    await conn.executemany(
        "INSERT INTO relationship_trigrams (gram, contact_id) SELECT unnest($2::text[]), $1",
        [(contact_id, grams) for contact_id, _, grams in columns],
    )


def search_columns(names: str, details: str) -> tuple[str, list[str]]:
    folded = parsing.fold(f"{names} {details}")
    return folded, parsing.trigrams(folded)


async def insert_contact(conn: Conn, new: NewContact) -> int:
    contact_id: int = await conn.fetchval(
        "INSERT INTO relationship_contacts (display_name, first_name, last_name, nicknames, company, job_title,"
        " how_met, notes, labels, frequency_days, vcard_uid) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
        new.display_name,
        new.first_name,
        new.last_name,
        new.nicknames,
        new.company,
        new.job_title,
        new.how_met,
        new.notes,
        new.labels,
        new.frequency_days,
        new.vcard_uid,
    )
    await add_details(conn, contact_id, new.details)
    if new.birthday is not None:
        await set_birthday(conn, contact_id, new.birthday)
    await refresh_search(conn, [contact_id])
    return contact_id


async def add_details(conn: Conn, contact_id: int, details: list[tuple[str, str, str]]) -> int:
    """Add details the contact does not have yet (compared by `detail_key`); returns how many were new."""
    added = 0
    for kind, label, value in details:
        new_id = await conn.fetchval(
            "INSERT INTO relationship_details (contact_id, kind, label, value, value_norm) VALUES ($1,$2,$3,$4,$5)"
            " ON CONFLICT (contact_id, kind, value_norm) DO NOTHING RETURNING id",
            contact_id,
            kind,
            label,
            value,
            parsing.detail_key(kind, value),
        )
        added += new_id is not None
    return added


async def set_birthday(conn: Conn, contact_id: int, birthday: tuple[int | None, int, int]) -> ImportantDate:
    year, month, day = birthday
    row = await conn.fetchrow(
        "INSERT INTO relationship_dates (contact_id, kind, month, day, year) VALUES ($1, 'birthday', $2, $3, $4)"
        " ON CONFLICT (contact_id) WHERE kind = 'birthday' DO UPDATE SET month = $2, day = $3, year = $4"
        " RETURNING *",
        contact_id,
        month,
        day,
        year,
    )
    assert row is not None
    return date_record(row)


async def find_contacts(conn: Conn, query: str, include_archived: bool, limit: int) -> list[ContactMatch]:
    """Contacts ranked by the share of the query's trigrams their search text holds (typos cost a little)."""
    # A phone number is searched by the digits it is stored by: "+33 6 11..." finds "06 11...".
    is_phone = parsing.PHONE_LIKE.fullmatch(query) and len(parsing.phone_key(query)) >= 6
    folded = parsing.phone_key(query) if is_phone else parsing.fold(query)
    grams = parsing.trigrams(folded)
    if not grams:
        return []
    rows = await conn.fetch(
        "WITH hits AS (SELECT contact_id, count(*) AS n FROM relationship_trigrams WHERE gram = ANY($1::text[])"
        "  GROUP BY contact_id HAVING count(*) >= $3::int * $6::float ORDER BY n DESC LIMIT $5)"
        " SELECT c.id, c.display_name, c.nicknames, c.labels, c.archived,"
        " CASE WHEN c.search_text = $2 THEN 1.0 ELSE h.n::float / $3 END AS score"
        " FROM hits h JOIN relationship_contacts c ON c.id = h.contact_id WHERE $4 OR NOT c.archived"
        " ORDER BY score DESC, (c.search_text LIKE $2 || '%') DESC, c.display_name, c.id",
        grams,
        folded,
        len(grams),
        include_archived,
        limit * 4 + 20,
        MIN_SCORE,
    )
    # A match needs 40% of the query's trigrams: "Jonh" finds "John", "Tom" finds "Tommy", not "Atomic".
    kept = [
        ContactMatch(**{**dict(r), "score": round(min(r["score"], 1.0), 3)}) for r in rows if r["score"] >= MIN_SCORE
    ]
    return kept[:limit]
