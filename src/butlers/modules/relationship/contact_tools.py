"""Tools for contacts: create, get, update, find, list, archive, merge, details, relations, labels."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from pydantic import BaseModel, Field

from butlers.core.tool_errors import bad_argument

from . import parsing, store
from .common import MAX_NOTES, ContactId, Limit, parsed, require_contacts, require_row, text, words
from .merge import merge_contacts
from .models import Contact, ContactMatch, Detail, DetailKind, Relation, RelationKind

Names = Annotated[list[str] | None, Field(description="Names, e.g. nicknames; each non-empty.", max_length=50)]
Birthday = Annotated[str | None, Field(description="YYYY-MM-DD, or --MM-DD when the year is unknown.", max_length=20)]
Frequency = Annotated[int | None, Field(ge=1, le=3660, description="Stay in touch at least every this many days.")]


Short = Annotated[str, Field(max_length=200, description="Plain text, at most 200 characters.")]
MaybeShort = Annotated[str | None, Field(max_length=200, description="New value; omit to keep the old one.")]
WithArchived = Annotated[bool, Field(description="Also archived contacts.")]


class LabelCount(BaseModel):
    label: str
    contacts: int


def details_of(tool: str, kind: DetailKind, argument: str, values: list[str] | None) -> list[tuple[str, str, str]]:
    out = []
    for value in values or []:
        clean = text(tool, argument, value, limit=500)
        if kind is DetailKind.EMAIL and "@" not in clean:
            raise bad_argument(tool, argument, f"{clean!r} is not an email address")
        if kind is DetailKind.PHONE and len(parsing.phone_key(clean)) < 3:
            raise bad_argument(tool, argument, f"{clean!r} is not a phone number")
        out.append((kind.value, "", clean))
    return out


class ContactTools:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def _get(self, contact_id: int) -> Contact:
        contact = await store.fetch_contact(self.pool, contact_id)
        assert contact is not None
        return contact

    async def relationship_contact_create(
        self,
        display_name: Annotated[str, Field(description="How the user calls them, e.g. 'Zoë Martin'.")],
        first_name: Short = "",
        last_name: Short = "",
        nicknames: Names = None,
        emails: Names = None,
        phones: Names = None,
        addresses: Names = None,
        birthday: Birthday = None,
        how_met: Annotated[str, Field(max_length=MAX_NOTES)] = "",
        notes: Annotated[str, Field(max_length=MAX_NOTES)] = "",
        labels: Names = None,
        company: Short = "",
        job_title: Short = "",
        frequency_days: Frequency = None,
    ) -> Contact:
        """Create a contact. Look them up with relationship_contact_find first: this always creates a new one."""
        t = "relationship_contact_create"
        new = store.NewContact(
            display_name=text(t, "display_name", display_name),
            first_name=text(t, "first_name", first_name, required=False),
            last_name=text(t, "last_name", last_name, required=False),
            nicknames=words(t, "nicknames", nicknames),
            company=text(t, "company", company, required=False),
            job_title=text(t, "job_title", job_title, required=False),
            how_met=how_met.strip(),
            notes=notes.strip(),
            labels=words(t, "labels", labels, lower=True),
            frequency_days=frequency_days,
            details=details_of(t, DetailKind.EMAIL, "emails", emails)
            + details_of(t, DetailKind.PHONE, "phones", phones)
            + details_of(t, DetailKind.ADDRESS, "addresses", addresses),
            birthday=None if birthday is None else parsed(t, "birthday", parsing.parse_partial_date, birthday),
        )
        async with self.pool.acquire() as conn, conn.transaction():
            contact_id = await store.insert_contact(conn, new)
        return await self._get(contact_id)

    async def relationship_contact_get(self, id: ContactId) -> Contact:
        """One contact with their details, important dates and relations."""
        contact = await store.fetch_contact(self.pool, id)
        if contact is None:
            raise bad_argument("relationship_contact_get", "id", f"no contact with id {id}")
        return contact

    async def relationship_contact_update(
        self,
        id: ContactId,
        display_name: MaybeShort = None,
        first_name: MaybeShort = None,
        last_name: MaybeShort = None,
        nicknames: Names = None,
        labels: Names = None,
        company: MaybeShort = None,
        job_title: MaybeShort = None,
        how_met: Annotated[str | None, Field(max_length=MAX_NOTES)] = None,
        notes: Annotated[str | None, Field(max_length=MAX_NOTES)] = None,
        birthday: Birthday = None,
    ) -> Contact:
        """Change the given fields (lists replace the old ones); omitted fields stay as they are."""
        t = "relationship_contact_update"
        changes: dict[str, Any] = {}
        if display_name is not None:
            changes["display_name"] = text(t, "display_name", display_name)
        for name, value in (("first_name", first_name), ("last_name", last_name), ("company", company)):
            if value is not None:
                changes[name] = text(t, name, value, required=False)
        if job_title is not None:
            changes["job_title"] = text(t, "job_title", job_title, required=False)
        if how_met is not None:
            changes["how_met"] = how_met.strip()
        if notes is not None:
            changes["notes"] = notes.strip()
        if nicknames is not None:
            changes["nicknames"] = words(t, "nicknames", nicknames)
        if labels is not None:
            changes["labels"] = words(t, "labels", labels, lower=True)
        born = None if birthday is None else parsed(t, "birthday", parsing.parse_partial_date, birthday)
        if not changes and born is None:
            raise bad_argument(t, "id", "nothing to change: give at least one field")
        async with self.pool.acquire() as conn, conn.transaction():
            await require_contacts(conn, t, "id", [id])
            if changes:
                sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(changes, start=2))
                await conn.execute(
                    f"UPDATE relationship_contacts SET {sets}, updated_at = now() WHERE id = $1", id, *changes.values()
                )
            if born is not None:
                await store.set_birthday(conn, id, born)
            await store.refresh_search(conn, [id])
        return await self._get(id)

    async def relationship_contact_find(
        self,
        query: Annotated[str, Field(description="Any name, nickname, email, phone or company; typos and accents ok.")],
        include_archived: WithArchived = False,
        limit: Limit = 10,
    ) -> list[ContactMatch]:
        """Find contacts by any name or detail, fuzzily ('Zoe' finds 'Zoë', 'Jonh' finds 'John'), best first."""
        q = text("relationship_contact_find", "query", query)
        return await store.find_contacts(self.pool, q, include_archived, limit)

    async def relationship_contacts_list(
        self,
        label: Annotated[str | None, Field(description="Only contacts with this label (group).")] = None,
        include_archived: WithArchived = False,
        limit: Limit = 50,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> list[ContactMatch]:
        """Contacts by name, optionally of one label (a group such as 'family')."""
        tag = None if label is None else text("relationship_contacts_list", "label", label).lower()
        rows = await self.pool.fetch(
            "SELECT id, display_name, nicknames, labels, archived, 1.0::float AS score FROM relationship_contacts"
            " WHERE ($1::text IS NULL OR labels @> ARRAY[$1]) AND ($2 OR NOT archived)"
            " ORDER BY lower(display_name), id LIMIT $3 OFFSET $4",
            tag,
            include_archived,
            limit,
            offset,
        )
        return [ContactMatch(**dict(r)) for r in rows]

    async def relationship_labels_list(self) -> list[LabelCount]:
        """Every label (group) in use, with how many active contacts carry it."""
        rows = await self.pool.fetch(
            "SELECT l AS label, count(*) AS contacts FROM relationship_contacts, unnest(labels) l"
            " WHERE NOT archived GROUP BY l ORDER BY l"
        )
        return [LabelCount(**dict(r)) for r in rows]

    async def relationship_contact_archive(
        self, id: ContactId, archived: Annotated[bool, Field(description="false brings the contact back.")] = True
    ) -> Contact:
        """Archive a contact (kept, but out of lists, searches and reminders), or bring one back."""
        done = await self.pool.fetchval(
            "UPDATE relationship_contacts SET archived = $2, updated_at = now() WHERE id = $1 RETURNING id",
            id,
            archived,
        )
        if done is None:
            raise bad_argument("relationship_contact_archive", "id", f"no contact with id {id}")
        return await self._get(id)

    async def relationship_contact_merge(
        self,
        keep_id: Annotated[int, Field(ge=1, description="The contact that stays.")],
        merge_id: Annotated[int, Field(ge=1, description="The duplicate: everything of it moves to keep_id.")],
    ) -> Contact:
        """Merge a duplicate into another contact, keeping everything of both; the duplicate is removed."""
        t = "relationship_contact_merge"
        if keep_id == merge_id:
            raise bad_argument(t, "merge_id", "is the same contact as keep_id")
        async with self.pool.acquire() as conn, conn.transaction():
            await require_contacts(conn, t, "keep_id", [keep_id])
            await require_contacts(conn, t, "merge_id", [merge_id])
            await merge_contacts(conn, keep_id, merge_id)
        return await self._get(keep_id)

    async def relationship_detail_add(
        self, contact_id: ContactId, kind: DetailKind, value: str, label: str = ""
    ) -> Detail:
        """Add an email, phone, address or URL to a contact (label e.g. 'home', 'work')."""
        t = "relationship_detail_add"
        ((_, _, clean),) = details_of(t, kind, "value", [value])
        label = text(t, "label", label, required=False, limit=50)
        async with self.pool.acquire() as conn, conn.transaction():
            await require_contacts(conn, t, "contact_id", [contact_id])
            if not await store.add_details(conn, contact_id, [(kind.value, label, clean)]):
                raise bad_argument(t, "value", f"contact {contact_id} already has this {kind.value}")
            await store.refresh_search(conn, [contact_id])
            row = await conn.fetchrow(
                "SELECT id, kind, label, value FROM relationship_details WHERE contact_id = $1 ORDER BY id DESC LIMIT 1",
                contact_id,
            )
        assert row is not None
        return Detail(**dict(row))

    async def relationship_detail_remove(self, id: Annotated[int, Field(ge=1)]) -> dict[str, int]:
        """Remove one email, phone, address or URL by its id (from relationship_contact_get)."""
        async with self.pool.acquire() as conn, conn.transaction():
            contact_id = await conn.fetchval("DELETE FROM relationship_details WHERE id = $1 RETURNING contact_id", id)
            if contact_id is None:
                raise bad_argument("relationship_detail_remove", "id", f"no detail with id {id}")
            await store.refresh_search(conn, [contact_id])
        return {"deleted": id}

    async def relationship_relation_add(
        self,
        contact_id: ContactId,
        other_id: Annotated[int, Field(ge=1, description="The related contact.")],
        kind: Annotated[RelationKind, Field(description="What other_id is to contact_id (their partner, child...).")],
        custom: Annotated[str, Field(description="The relation's name when kind is 'custom' (e.g. 'godmother').")] = "",
    ) -> Relation:
        """Record that other_id is contact_id's <kind> (partner, child, parent, friend, colleague, custom...)."""
        t = "relationship_relation_add"
        custom = text(t, "custom", custom, required=kind is RelationKind.CUSTOM, limit=50)
        if kind is not RelationKind.CUSTOM and custom:
            raise bad_argument(t, "custom", "only for kind 'custom'")
        if contact_id == other_id:
            raise bad_argument(t, "other_id", "a contact cannot be related to themselves")
        async with self.pool.acquire() as conn, conn.transaction():
            await require_contacts(conn, t, "contact_id", [contact_id])
            await require_contacts(conn, t, "other_id", [other_id])
            await conn.execute(
                "INSERT INTO relationship_relations (contact_id, other_id, kind, custom) VALUES ($1,$2,$3,$4)"
                " ON CONFLICT DO NOTHING",
                contact_id,
                other_id,
                kind.value,
                custom,
            )
            relations = await store.fetch_relations(conn, contact_id)
        return next(r for r in relations if r.other_id == other_id and r.custom == custom and r.kind in (kind,))

    async def relationship_relation_remove(self, id: Annotated[int, Field(ge=1)]) -> dict[str, int]:
        """Remove a relation by its id (from relationship_contact_get)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await require_row(conn, "relationship_relation_remove", "relationship_relations", "relation", id)
            await conn.execute("DELETE FROM relationship_relations WHERE id = $1", id)
        return {"deleted": id}

    def tools(self) -> list[Any]:
        return [getattr(self, name) for name in dir(self) if name.startswith("relationship_")]
