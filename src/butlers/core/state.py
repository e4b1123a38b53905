"""The state store: JSON values by key, in the butler's own database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from pydantic import BaseModel


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

    async def set(self, key: str, value: Any) -> StateEntry:
        row = await self.pool.fetchrow(
            """
            INSERT INTO state (key, value) VALUES ($1, $2)
            ON CONFLICT (key) DO UPDATE
               SET value = EXCLUDED.value, version = state.version + 1, updated_at = now()
            RETURNING key, value, version, updated_at
            """,
            key,
            value,
        )
        assert row is not None
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
