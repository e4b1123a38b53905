"""Tools to import and export vCards, and to import a CardDAV address book, without duplicates."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import asyncpg
from pydantic import BaseModel, Field

from butlers.core.tool_errors import bad_argument

from . import parsing, store
from .carddav import CardDavError, fetch_vcards
from .common import require_contacts
from .models import ImportReport
from .vcard import VCardError, contact_to_vcard, parse_card, split_cards

MAX_VCARD = 20_000_000


class CardDavSettings(BaseModel):
    url: str | None
    username: str | None
    password_env: str


class VCardExport(BaseModel):
    vcard: str
    count: int
    version: str


async def match_contact(conn: store.Conn, new: store.NewContact) -> int | None:
    """The contact a card describes: by UID (also one merged away), then by email, then by phone."""
    if new.vcard_uid:
        found = await conn.fetchval(
            "SELECT id FROM relationship_contacts WHERE vcard_uid = $1 OR merged_uids @> ARRAY[$1] LIMIT 1",
            new.vcard_uid,
        )
        if found is not None:
            return int(found)
    for kind in ("email", "phone"):
        keys = [parsing.detail_key(k, v) for k, _, v in new.details if k == kind]
        keys = [k for k in keys if k]
        if keys:
            found = await conn.fetchval(
                "SELECT contact_id FROM relationship_details WHERE kind = $1 AND value_norm = ANY($2::text[])"
                " ORDER BY contact_id LIMIT 1",
                kind,
                keys,
            )
            if found is not None:
                return int(found)
    return None


_FILLED = "first_name, last_name, company, job_title, notes, nicknames, labels, vcard_uid"


async def merge_into(conn: store.Conn, contact_id: int, new: store.NewContact) -> bool:
    """Add what the card has and the contact lacks; never overwrite what the user entered. True if changed."""
    before = await conn.fetchrow(f"SELECT {_FILLED} FROM relationship_contacts WHERE id = $1", contact_id)
    after = await conn.fetchrow(
        "UPDATE relationship_contacts SET"
        " first_name = CASE WHEN first_name = '' THEN $2 ELSE first_name END,"
        " last_name = CASE WHEN last_name = '' THEN $3 ELSE last_name END,"
        " company = CASE WHEN company = '' THEN $4 ELSE company END,"
        " job_title = CASE WHEN job_title = '' THEN $5 ELSE job_title END,"
        " notes = CASE WHEN notes = '' THEN $6 ELSE notes END,"
        " nicknames = nicknames || ARRAY(SELECT n FROM unnest($7::text[]) n WHERE NOT n = ANY(nicknames)),"
        " labels = labels || ARRAY(SELECT l FROM unnest($8::text[]) l WHERE NOT l = ANY(labels)),"
        " vcard_uid = COALESCE(vcard_uid, $9)"
        f" WHERE id = $1 RETURNING {_FILLED}",
        contact_id, new.first_name, new.last_name, new.company, new.job_title, new.notes,
        new.nicknames, new.labels, new.vcard_uid,
    )  # fmt: skip
    added = await store.add_details(conn, contact_id, new.details)
    born = False
    if new.birthday is not None:
        has = await conn.fetchval(
            "SELECT 1 FROM relationship_dates WHERE contact_id = $1 AND kind = 'birthday'", contact_id
        )
        if has is None:
            await store.set_birthday(conn, contact_id, new.birthday)
            born = True
    changed = dict(before or {}) != dict(after or {}) or added > 0 or born
    if changed:
        await conn.execute("UPDATE relationship_contacts SET updated_at = now() WHERE id = $1", contact_id)
        await store.refresh_search(conn, [contact_id])
    return changed


async def import_cards(pool: asyncpg.Pool, text: str) -> ImportReport:
    created = updated = unchanged = 0
    ids: list[int] = []
    skipped: list[str] = []
    for number, block in enumerate(split_cards(text), start=1):
        try:
            new = parse_card(block)
        except VCardError as exc:
            skipped.append(f"card {number}: {exc}")
            continue
        try:
            async with pool.acquire() as conn, conn.transaction():
                existing = await match_contact(conn, new)
                changed = True if existing is None else await merge_into(conn, existing, new)
                contact_id = existing if existing is not None else await store.insert_contact(conn, new)
        except asyncpg.IntegrityConstraintViolationError as exc:  # one card's transaction only
            skipped.append(f"card {number} ({new.display_name}): {exc}")
            continue
        ids.append(contact_id)
        if existing is None:
            created += 1
        elif changed:
            updated += 1
        else:
            unchanged += 1
    return ImportReport(created=created, updated=updated, unchanged=unchanged, contact_ids=ids, skipped=skipped)


class VCardTools:
    def __init__(self, pool: asyncpg.Pool, carddav: CardDavSettings) -> None:
        self.pool = pool
        self.carddav = carddav

    async def relationship_vcard_import(
        self, vcard: Annotated[str, Field(description="One or more vCards (3.0 or 4.0), as a .vcf file holds them.")]
    ) -> ImportReport:
        """Import contacts from vCard text; a card matching a contact (UID, email, phone) fills it in, no duplicate."""
        t = "relationship_vcard_import"
        if len(vcard) > MAX_VCARD:
            raise bad_argument(t, "vcard", f"is {len(vcard)} characters long; at most {MAX_VCARD} allowed")
        if not split_cards(vcard):
            raise bad_argument(t, "vcard", "holds no BEGIN:VCARD ... END:VCARD block")
        return await import_cards(self.pool, vcard)

    async def relationship_vcard_export(
        self,
        contact_ids: Annotated[list[int] | None, Field(description="Which contacts; default: all active ones.")] = None,
        version: Literal["3.0", "4.0"] = "3.0",
        include_archived: Annotated[bool, Field(description="Also archived contacts.")] = False,
    ) -> VCardExport:
        """Export contacts as vCard text, for any address book."""
        if contact_ids is not None:
            await require_contacts(self.pool, "relationship_vcard_export", "contact_ids", contact_ids)
            ids = list(dict.fromkeys(contact_ids))
        else:
            rows = await self.pool.fetch(
                "SELECT id FROM relationship_contacts WHERE $1 OR NOT archived ORDER BY id", include_archived
            )
            ids = [r["id"] for r in rows]
        cards = []
        for contact_id in ids:
            contact = await store.fetch_contact(self.pool, contact_id)
            if contact is not None:
                cards.append(contact_to_vcard(contact, version))
        return VCardExport(vcard="".join(cards), count=len(cards), version=version)

    async def relationship_carddav_import(
        self,
        url: Annotated[
            str | None, Field(description="Address book URL; default: [modules.relationship] carddav_url.")
        ] = None,
        username: Annotated[str | None, Field(description="Login; default: carddav_username.")] = None,
    ) -> ImportReport:
        """Import a CardDAV address book (Nextcloud, Radicale, iCloud...); importing again adds no duplicates."""
        t = "relationship_carddav_import"
        address = url or self.carddav.url
        if not address:
            raise bad_argument(t, "url", "no address book URL given and none configured (carddav_url)")
        if not address.startswith(("http://", "https://")):
            raise bad_argument(t, "url", "must start with http:// or https://")
        # The password is read here, from the variable the config names, so it never passes through the agent.
        password = os.environ.get(self.carddav.password_env)
        try:
            cards = await fetch_vcards(address, username or self.carddav.username, password)
        except CardDavError as exc:
            raise bad_argument(t, "url", str(exc)) from None
        return await import_cards(self.pool, "".join(cards))

    def tools(self) -> list[Any]:
        return [getattr(self, name) for name in dir(self) if name.startswith("relationship_")]
