"""One time-ordered activity feed over interactions, gifts, loans, life events and notes.

Order: newest first by (occurred_at, source, id). A page's cursor is its last item's key; each
source is asked only for rows older than the cursor, with its own index, then the pages are merged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .models import FeedItem, FeedPage

# source -> (table, summary SQL over alias t)
_SOURCES: dict[str, tuple[str, str]] = {
    "gift": ("relationship_gifts", "'gift (' || t.status || '): ' || t.name"),
    "interaction": (
        "relationship_interactions",
        "t.kind || ' (' || t.direction || ')' || coalesce(': ' || NULLIF(t.notes, ''), '')",
    ),
    "life_event": ("relationship_life_events", "t.kind || ': ' || t.title"),
    "loan": (
        "relationship_loans",
        "t.direction || ' ' || t.amount || ' ' || t.currency || CASE WHEN t.settled THEN ' (settled)' ELSE '' END",
    ),
    "note": ("relationship_notes", "'note: ' || left(t.body, 200)"),
}


@dataclass(frozen=True)
class Cursor:
    at: datetime
    source: str
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}|{self.source}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """The inverse of `encode`; ValueError for anything else."""
        parts = text.split("|")
        if len(parts) != 3 or parts[1] not in _SOURCES:
            raise ValueError(f"{text!r} is not a cursor returned by relationship_feed")
        at = datetime.fromisoformat(parts[0])
        if at.tzinfo is None:
            raise ValueError(f"{text!r} is not a cursor returned by relationship_feed")
        return cls(at, parts[1], int(parts[2]))


def _older_than(source: str, cursor: Cursor | None) -> str:
    # (at, source, id) < (A, S, I), split per source so each branch stays one index range.
    if cursor is None:
        return "true"
    if source < cursor.source:
        return "t.occurred_at <= $2"
    if source == cursor.source:
        return "(t.occurred_at, t.id) < ($2, $3)"
    return "t.occurred_at < $2"


def _branch(source: str, per_contact: bool, cursor: Cursor | None) -> str:
    table, summary = _SOURCES[source]
    where = _older_than(source, cursor)
    if source == "interaction":
        if per_contact:
            return (
                f"(SELECT 'interaction' AS source, t.id, t.occurred_at, {summary} AS summary FROM"
                f" relationship_interaction_contacts ic JOIN relationship_interactions t ON t.id = ic.interaction_id"
                f" WHERE ic.contact_id = $1 AND {where.replace('t.occurred_at', 'ic.occurred_at').replace('t.id', 'ic.interaction_id')}"
                f" ORDER BY ic.occurred_at DESC, ic.interaction_id DESC LIMIT $4)"
            )
        return (
            f"(SELECT 'interaction' AS source, t.id, t.occurred_at, {summary} AS summary FROM {table} t"
            f" WHERE {where} ORDER BY t.occurred_at DESC, t.id DESC LIMIT $4)"
        )
    owner = "t.contact_id = $1" if per_contact else "true"
    return (
        f"(SELECT '{source}' AS source, t.id, t.occurred_at, {summary} AS summary FROM {table} t"
        f" WHERE {owner} AND {where} ORDER BY t.occurred_at DESC, t.id DESC LIMIT $4)"
    )


async def feed_page(pool: asyncpg.Pool, contact_id: int | None, cursor: Cursor | None, limit: int) -> FeedPage:
    branches = " UNION ALL ".join(_branch(s, contact_id is not None, cursor) for s in sorted(_SOURCES))
    sql = (
        # `args` types every parameter, also those a branch does not use.
        "WITH args AS (SELECT $1::bigint, $2::timestamptz, $3::bigint, $4::int),"
        f" page AS (SELECT * FROM ({branches}) u ORDER BY occurred_at DESC, source DESC, id DESC LIMIT $4)"
        " SELECT p.*, coalesce(w.ids, '{}') AS contact_ids, coalesce(w.names, '{}') AS contact_names FROM page p"
        " LEFT JOIN LATERAL (SELECT array_agg(c.id ORDER BY c.id) AS ids, array_agg(c.display_name ORDER BY c.id)"
        "  AS names FROM relationship_contacts c WHERE c.id IN (SELECT ic.contact_id FROM"
        "  relationship_interaction_contacts ic WHERE p.source = 'interaction' AND ic.interaction_id = p.id"
        "  UNION ALL "
        + " UNION ALL ".join(
            f"SELECT x.contact_id FROM {table} x WHERE p.source = '{s}' AND x.id = p.id"
            for s, (table, _) in sorted(_SOURCES.items())
            if s != "interaction"
        )
        + ")) w ON true ORDER BY p.occurred_at DESC, p.source DESC, p.id DESC"
    )
    args = (contact_id, cursor.at if cursor else None, cursor.id if cursor else None, limit)
    rows = await pool.fetch(sql, *args)
    items = [FeedItem(**dict(r)) for r in rows]
    last = items[-1] if len(items) == limit else None
    return FeedPage(items=items, next_cursor=Cursor(last.occurred_at, last.source, last.id).encode() if last else None)
