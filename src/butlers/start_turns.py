"""Turns to start: how many butlers of one daemon start at once.

Each butler's start opens connections (database, migrations, pool), builds its
MCP app and binds its port. Fifty of them at once on a small machine ask for
all of that together: connects time out (5 s) and the butlers fail, or every
one of them finishes late. A `CapacityLimiter` sized by `BUTLERS_START_CONCURRENCY`
lets a bounded number start; the others wait their turn. A turn is held from
the first step until the butler serves (or fails), not while it serves.
"""

from __future__ import annotations

import anyio


class StartTurn:
    """One butler's turn: `take` before starting, `give_back` once serving or failed (idempotent)."""

    def __init__(self, limiter: anyio.CapacityLimiter | None) -> None:
        self._limiter = limiter
        self._held = False

    async def take(self) -> None:
        if self._limiter is not None:
            await self._limiter.acquire_on_behalf_of(self)
            self._held = True

    def give_back(self) -> None:
        if self._held and self._limiter is not None:
            self._held = False
            self._limiter.release_on_behalf_of(self)
