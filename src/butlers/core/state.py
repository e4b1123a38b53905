"""The state store: JSON values by key, in the butler's own database."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from butlers.core import sql
from butlers.core.records import Record, Timestamp
from butlers.errors import StateConflict

__all__ = ["StateConflict", "StateEntry", "StateStore"]

Q = sql.load("state")


class StateEntry(Record):
    key: str
    value: Any
    version: int
    updated_at: Timestamp


class StateStore:
    """Key-value JSONB; every write bumps a version so readers can tell changes apart."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def get(self, key: str) -> StateEntry | None:
        row = await self.pool.fetchrow(Q["get"], key)
        return StateEntry.from_row(row) if row else None

    async def set(
        self, key: str, value: Any, *, expected_version: int | None = None, must_not_exist: bool = False
    ) -> StateEntry:
        """Store `value`; with `expected_version` or `must_not_exist`, only if the key is as expected.

        Raises StateConflict (naming the argument that did not hold) when it is not.
        """
        text = json.dumps(value)
        if must_not_exist:
            row = await self.pool.fetchrow(Q["insert_new"], key, text)
        elif expected_version is not None:
            row = await self.pool.fetchrow(Q["update_at_version"], key, text, expected_version)
        else:
            row = await self.pool.fetchrow(Q["upsert"], key, text)
        if row is None:
            argument = "must_not_exist" if must_not_exist else "expected_version"
            raise StateConflict(key, await self.pool.fetchval(Q["version"], key), argument=argument)
        return StateEntry.from_row(row)

    async def delete(self, key: str) -> bool:
        status = await self.pool.execute(Q["delete"], key)
        return status.endswith(" 1")

    async def list_prefix(self, prefix: str = "", limit: int = 100) -> list[StateEntry]:
        # LIKE with the prefix's own wildcards escaped, so "a_" means "a_" literally.
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return StateEntry.from_rows(await self.pool.fetch(Q["list_prefix"], pattern, limit))
