"""Asking every serving butler at once: one query per butler database, run concurrently."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from butlers.butler import Butler

T = TypeVar("T")


async def each_butler(butlers: Iterable[Butler], query: Callable[[Butler], Awaitable[T]]) -> dict[str, T]:
    """`query(butler)` for every butler concurrently, by butler name (in the order given)."""
    found: dict[str, T] = {}
    ordered = list(butlers)

    async def one(butler: Butler) -> None:
        found[butler.name] = await query(butler)

    async with anyio.create_task_group() as tg:
        for butler in ordered:
            tg.start_soon(one, butler)
    return {b.name: found[b.name] for b in ordered}
