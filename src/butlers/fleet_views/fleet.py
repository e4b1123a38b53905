"""Spend across every butler of the daemon: each butler's database is read concurrently.

A butler that is not serving (failed, still starting) or whose database does
not answer is named in `unread` rather than failing the whole view.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import anyio
import asyncpg

from butlers.fleet_views import spend
from butlers.fleet_views.periods import local_zone, next_month_start, start_of_day, start_of_month
from butlers.fleet_views.records import BudgetUse, CeilingState, FleetSpend

T = TypeVar("T")
READ_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
READ_TIMEOUT_S = 10.0


class _Agent(Protocol):
    daily_budget_usd: float | None


class _Config(Protocol):
    @property
    def agent(self) -> _Agent: ...


class ButlerLike(Protocol):
    """What these views need of a `butlers.butler.Butler`."""

    name: str

    @property
    def phase(self) -> str: ...  # read-only here, so the butler's ButlerPhase (a str) fits

    @property
    def config(self) -> _Config: ...

    @property
    def pool(self) -> asyncpg.Pool: ...


@dataclass(frozen=True)
class ButlerDb:
    """One butler's database as these views read it; `pool` None when it is not serving."""

    name: str
    pool: asyncpg.Pool | None
    daily_budget_usd: float | None = None


def butler_dbs(fleet: Mapping[str, ButlerLike] | Iterable[ButlerLike]) -> list[ButlerDb]:
    """The databases of a daemon's butlers (the supervisor's dict, or `Butler.fleet`), by name."""
    butlers = fleet.values() if isinstance(fleet, Mapping) else fleet
    return [
        ButlerDb(b.name, b.pool if str(b.phase) == "serving" else None, b.config.agent.daily_budget_usd)
        for b in sorted(butlers, key=lambda b: b.name)
    ]


async def each(
    dbs: Iterable[ButlerDb], read: Callable[[ButlerDb, asyncpg.Pool], Awaitable[T]]
) -> tuple[dict[str, T], tuple[str, ...]]:
    """`read` every serving butler's database concurrently: (results by name, names not read)."""
    results: dict[str, T] = {}
    unread: list[str] = []

    async def one(db: ButlerDb, pool: asyncpg.Pool) -> None:
        try:
            with anyio.fail_after(READ_TIMEOUT_S):
                results[db.name] = await read(db, pool)
        except READ_ERRORS:
            unread.append(db.name)

    async with anyio.create_task_group() as tg:
        for db in dbs:
            if db.pool is None:
                unread.append(db.name)
            else:
                tg.start_soon(one, db, db.pool)
    return results, tuple(sorted(unread))


async def ceiling_state(
    dbs: Iterable[ButlerDb], ceiling_usd: float | None, now: datetime | None = None
) -> CeilingState:
    """This calendar month's recorded cost of every butler, against the fleet's monthly ceiling."""
    month = start_of_month(now)
    spent, unread = await each(dbs, lambda _, pool: spend.spent_since(pool, month))
    total = round(sum(spent.values()), 6)
    return CeilingState(
        month_start=month,
        next_month_start=next_month_start(month),
        spent_usd=total,
        by_butler=dict(sorted(spent.items())),
        ceiling_usd=ceiling_usd,
        reached=ceiling_usd is not None and total >= ceiling_usd,
        remaining_usd=None if ceiling_usd is None else max(round(ceiling_usd - total, 6), 0.0),
        unread=unread,
    )


async def budget_uses(dbs: Iterable[ButlerDb], now: datetime | None = None) -> list[BudgetUse]:
    """Each serving butler's daily budget against what its sessions cost today."""
    zone = local_zone()
    today = start_of_day((now or datetime.now(zone)).astimezone(zone).date(), zone)
    listed = list(dbs)
    spent, _ = await each(listed, lambda _, pool: spend.spent_since(pool, today))
    return [budget_use(db.name, db.daily_budget_usd, spent[db.name]) for db in listed if db.name in spent]


def budget_use(butler: str, budget: float | None, spent_today: float) -> BudgetUse:
    return BudgetUse(butler, budget, spent_today, budget is not None and spent_today >= budget)


async def fleet_spend(dbs: Iterable[ButlerDb], since: datetime, top: int = 20) -> FleetSpend:
    """Per day, per schedule, the `top` costliest sessions and today's budgets, for every butler."""
    listed = list(dbs)

    async def read(db: ButlerDb, pool: asyncpg.Pool) -> tuple[Any, ...]:
        return (
            await spend.spend_by_day(pool, db.name, since),
            await spend.spend_by_schedule(pool, db.name, since),
            await spend.costliest_sessions(pool, db.name, since, top),
        )

    parts, unread = await each(listed, read)
    by_day = sorted((d for p in parts.values() for d in p[0]), key=lambda d: (d.day, d.butler))
    by_schedule = sorted((s for p in parts.values() for s in p[1]), key=lambda s: -s.cost_usd)
    costliest = sorted((c for p in parts.values() for c in p[2]), key=lambda c: -c.cost_usd)[:top]
    total = round(sum(d.cost_usd for d in by_day), 6)
    budgets = await budget_uses(listed)
    return FleetSpend(since, by_day, by_schedule, costliest, budgets, total, unread)
