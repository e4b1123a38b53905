"""What every tool file of the module shares: argument types, checks that name the argument."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from pydantic import BaseModel, Field

from butlers.core.tool_errors import bad_argument

from . import parsing

T = TypeVar("T")
RecordT = TypeVar("RecordT", bound=BaseModel)
Conn = asyncpg.Connection | PoolConnectionProxy | asyncpg.Pool

MAX_TEXT = 200
MAX_NOTES = 20000
MAX_LIST = 200

ContactId = Annotated[int, Field(ge=1, description="A contact's id, as relationship_contact_find returns it.")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIST, description=f"How many results at most (1-{MAX_LIST}).")]
When = Annotated[
    str | None,
    Field(
        description="When it happened: an ISO date (2026-03-14) or date-time (2026-03-14T18:30, UTC unless a zone is"
        " given). Default: now.",
        max_length=40,
    ),
]
Notes = Annotated[str, Field(max_length=MAX_NOTES, description="Free text.")]


def parsed(tool: str, argument: str, parse: Callable[[Any], T], value: Any) -> T:
    """`parse(value)`, its ValueError turned into the tool's bad-argument error."""
    try:
        return parse(value)
    except ValueError as exc:
        raise bad_argument(tool, argument, str(exc)) from None


def moment(tool: str, argument: str, value: str | None) -> datetime | None:
    return None if value is None else parsed(tool, argument, parsing.parse_moment, value)


def text(tool: str, argument: str, value: str, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    clean = value.strip()
    if required and not clean:
        raise bad_argument(tool, argument, "must not be empty")
    if len(clean) > limit:
        raise bad_argument(tool, argument, f"is {len(clean)} characters long; at most {limit} allowed")
    return clean


def words(tool: str, argument: str, values: Iterable[str] | None, *, lower: bool = False) -> list[str]:
    """Names, nicknames or labels: each stripped, none empty, duplicates dropped, order kept."""
    out: list[str] = []
    for value in values or []:
        clean = text(tool, argument, value)
        out.append(clean.lower() if lower else clean)
    if len(out) > 50:
        raise bad_argument(tool, argument, f"{len(out)} given; at most 50 allowed")
    return list(dict.fromkeys(out))


async def require_contacts(conn: Conn, tool: str, argument: str, ids: list[int]) -> None:
    """Every id names a contact, or an error listing those that do not."""
    found = await conn.fetch("SELECT id FROM relationship_contacts WHERE id = ANY($1::bigint[])", ids)
    missing = sorted(set(ids) - {r["id"] for r in found})
    if missing:
        raise bad_argument(tool, argument, f"no contact with id {', '.join(map(str, missing))}")


async def insert_for_contact(
    pool: asyncpg.Pool, tool: str, contact_id: int, model: type[RecordT], sql: str, *values: Any
) -> RecordT:
    """One row about a contact: `sql` (an INSERT ... RETURNING taking the contact id as $1, then
    `values`) runs in the transaction that checks the contact exists; the row as `model`."""
    async with pool.acquire() as conn, conn.transaction():
        await require_contacts(conn, tool, "contact_id", [contact_id])
        row = await conn.fetchrow(sql, contact_id, *values)
    assert row is not None
    return model(**dict(row))


async def list_for_contact(
    pool: asyncpg.Pool, tool: str, contact_id: int | None, model: type[RecordT], sql: str, *values: Any
) -> list[RecordT]:
    """The rows of `sql` (a SELECT taking the contact id or NULL as $1, then `values`) as `model`;
    a contact id given must name a contact."""
    if contact_id is not None:
        await require_contacts(pool, tool, "contact_id", [contact_id])
    return [model(**dict(r)) for r in await pool.fetch(sql, contact_id, *values)]


async def update_by_id(
    pool: asyncpg.Pool, tool: str, what: str, model: type[RecordT], sql: str, row_id: int, *values: Any
) -> RecordT:
    """The row `sql` (an UPDATE ... RETURNING taking the id as $1, then `values`) changed, as `model`;
    an error on `id` naming `what` when there is no such row."""
    row = await pool.fetchrow(sql, row_id, *values)
    if row is None:
        raise bad_argument(tool, "id", f"no {what} with id {row_id}")
    return model(**dict(row))


async def require_row(conn: Conn, tool: str, table: str, what: str, row_id: int) -> None:
    if await conn.fetchval(f"SELECT 1 FROM {table} WHERE id = $1", row_id) is None:
        raise bad_argument(tool, "id", f"no {what} with id {row_id}")
