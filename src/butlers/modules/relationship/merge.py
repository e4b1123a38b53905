"""Merging a duplicate contact into another, keeping everything of both, in the caller's transaction."""

from __future__ import annotations

from . import store

# Rows that simply change owner.
_OWNED = ("relationship_gifts", "relationship_loans", "relationship_life_events", "relationship_notes")


async def merge_contacts(conn: store.Conn, keep: int, gone: int) -> None:
    await _merge_fields(conn, keep, gone)
    await conn.execute(
        "INSERT INTO relationship_details (contact_id, kind, label, value, value_norm)"
        " SELECT $1, kind, label, value, value_norm FROM relationship_details WHERE contact_id = $2"
        " ON CONFLICT (contact_id, kind, value_norm) DO NOTHING",
        keep,
        gone,
    )
    await _merge_dates(conn, keep, gone)
    await _merge_relations(conn, keep, gone)
    await conn.execute(
        "INSERT INTO relationship_interaction_contacts (interaction_id, contact_id, occurred_at)"
        " SELECT interaction_id, $1, occurred_at FROM relationship_interaction_contacts WHERE contact_id = $2"
        " ON CONFLICT DO NOTHING",
        keep,
        gone,
    )
    for table in _OWNED:
        await conn.execute(f"UPDATE {table} SET contact_id = $1 WHERE contact_id = $2", keep, gone)
    await conn.execute("DELETE FROM relationship_contacts WHERE id = $1", gone)
    await conn.execute(
        "UPDATE relationship_contacts SET last_interaction_at ="
        " (SELECT max(occurred_at) FROM relationship_interaction_contacts WHERE contact_id = $1) WHERE id = $1",
        keep,
    )
    await store.refresh_search(conn, [keep])


async def _merge_fields(conn: store.Conn, keep: int, gone: int) -> None:
    # Empty fields take the duplicate's value; texts both have are joined; the duplicate's other
    # name becomes a nickname; its vCard UID is remembered so a re-import finds the merged contact.
    await conn.execute(
        """
        UPDATE relationship_contacts k SET
          first_name = CASE WHEN k.first_name = '' THEN g.first_name ELSE k.first_name END,
          last_name = CASE WHEN k.last_name = '' THEN g.last_name ELSE k.last_name END,
          company = CASE WHEN k.company = '' THEN g.company ELSE k.company END,
          job_title = CASE WHEN k.job_title = '' THEN g.job_title ELSE k.job_title END,
          how_met = concat_ws(E'\n', NULLIF(k.how_met, ''), NULLIF(NULLIF(g.how_met, ''), k.how_met)),
          notes = concat_ws(E'\n', NULLIF(k.notes, ''), NULLIF(NULLIF(g.notes, ''), k.notes)),
          nicknames = ARRAY(SELECT DISTINCT n FROM unnest(k.nicknames || g.nicknames
              || CASE WHEN g.display_name <> k.display_name THEN ARRAY[g.display_name] ELSE '{}' END) n ORDER BY n),
          labels = ARRAY(SELECT DISTINCT l FROM unnest(k.labels || g.labels) l ORDER BY l),
          frequency_days = LEAST(k.frequency_days, g.frequency_days),
          archived = k.archived AND g.archived,
          merged_uids = k.merged_uids || g.merged_uids || COALESCE(ARRAY[g.vcard_uid], '{}'),
          updated_at = now()
        FROM relationship_contacts g WHERE k.id = $1 AND g.id = $2
        """,
        keep,
        gone,
    )
    # The UID is unique: free it on the duplicate first, then adopt it when the kept one has none.
    await conn.execute("UPDATE relationship_contacts SET vcard_uid = NULL WHERE id = $1", gone)
    await conn.execute(
        "UPDATE relationship_contacts SET vcard_uid = u, merged_uids = array_remove(merged_uids, u)"
        " FROM (SELECT merged_uids[1] AS u FROM relationship_contacts WHERE id = $1) x"
        " WHERE id = $1 AND vcard_uid IS NULL AND u IS NOT NULL",
        keep,
    )


async def _merge_dates(conn: store.Conn, keep: int, gone: int) -> None:
    # One birthday per contact: when both have one and they differ, the duplicate's stays as an 'other' date.
    await conn.execute(
        "UPDATE relationship_dates SET kind = 'other', label = 'birthday (merged)' WHERE contact_id = $2"
        " AND kind = 'birthday' AND EXISTS (SELECT 1 FROM relationship_dates WHERE contact_id = $1 AND kind = 'birthday')",
        keep,
        gone,
    )
    await conn.execute(
        "DELETE FROM relationship_dates g USING relationship_dates k WHERE g.contact_id = $2 AND k.contact_id = $1"
        " AND g.month = k.month AND g.day = k.day AND g.year IS NOT DISTINCT FROM k.year",
        keep,
        gone,
    )
    await conn.execute("UPDATE relationship_dates SET contact_id = $1 WHERE contact_id = $2", keep, gone)


async def _merge_relations(conn: store.Conn, keep: int, gone: int) -> None:
    for column, other in (("contact_id", "other_id"), ("other_id", "contact_id")):
        await conn.execute(
            f"INSERT INTO relationship_relations (contact_id, other_id, kind, custom)"
            f" SELECT CASE WHEN contact_id = $2 THEN $1 ELSE contact_id END,"
            f" CASE WHEN other_id = $2 THEN $1 ELSE other_id END, kind, custom"
            f" FROM relationship_relations WHERE {column} = $2 AND {other} <> $1 ON CONFLICT DO NOTHING",
            keep,
            gone,
        )
