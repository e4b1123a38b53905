"""The state store: JSON values by key, in the butler's own database."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

_RETURN = "RETURNING key, value, version, updated_at"


class StateConflict(Exception):
    """A compare-and-set found another version than expected; nothing was written."""

    def __init__(self, key: str, current_version: int | None) -> None:
        self.key = key
        self.current_version = current_version
        now = f"is at version {current_version}" if current_version is not None else "does not exist"
        super().__init__(f"key '{key}' {now}")


class StateEntry(BaseModel):
    key: str
    value: Any
    version: int
    updated_at: datetime


class StateStore:
    """Key-value JSONB; every write bumps a version so readers can tell changes apart."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def get(self, key: str) -> StateEntry | None:
        row = await self.pool.fetchrow("SELECT key, value, version, updated_at FROM state WHERE key = $1", key)
        return StateEntry(**dict(row)) if row else None

    async def set(
        self, key: str, value: Any, *, expected_version: int | None = None, must_not_exist: bool = False
    ) -> StateEntry:
        """Store `value`; with `expected_version` or `must_not_exist`, only if the key is as expected.

        The value goes in as JSON text: asyncpg would send Python None as SQL
        NULL, and JSON `null` is a value like any other.
        """
        text = json.dumps(value)
        if must_not_exist:
            sql = f"INSERT INTO state (key, value) VALUES ($1, $2::text::jsonb) ON CONFLICT (key) DO NOTHING {_RETURN}"
            row = await self.pool.fetchrow(sql, key, text)
        elif expected_version is not None:
            sql = f"""UPDATE state SET value = $2::text::jsonb, version = version + 1, updated_at = now()
                      WHERE key = $1 AND version = $3 {_RETURN}"""
            row = await self.pool.fetchrow(sql, key, text, expected_version)
        else:
            sql = f"""INSERT INTO state (key, value) VALUES ($1, $2::text::jsonb)
                      ON CONFLICT (key) DO UPDATE
                         SET value = EXCLUDED.value, version = state.version + 1, updated_at = now() {_RETURN}"""
            row = await self.pool.fetchrow(sql, key, text)
        if row is None:
            raise StateConflict(key, await self.pool.fetchval("SELECT version FROM state WHERE key = $1", key))
        return StateEntry(**dict(row))

    async def delete(self, key: str) -> bool:
        status = await self.pool.execute("DELETE FROM state WHERE key = $1", key)
        return status.endswith(" 1")

    async def list_prefix(self, prefix: str = "", limit: int = 100) -> list[StateEntry]:
        # LIKE with the prefix's own wildcards escaped, so "a_" means "a_" literally.
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = await self.pool.fetch(
            "SELECT key, value, version, updated_at FROM state WHERE key LIKE $1 ORDER BY key LIMIT $2",
            pattern,
            limit,
        )
        return [StateEntry(**dict(r)) for r in rows]
