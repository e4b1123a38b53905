"""The shared read queries (butlers.fleet_views) against real PostgreSQL databases, one per butler."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from spend_helpers import seed_session

from butlers.db import create_pool
from butlers.fleet_views import (
    ButlerDb,
    budget_uses,
    ceiling_state,
    costliest_sessions,
    fleet_spend,
    spend_by_day,
    spend_by_schedule,
    spent_since,
    start_of_month,
)
from butlers.testing.postgres import TestPostgres

NOW = datetime.now(UTC)


@pytest.fixture
async def second_pool(pg: TestPostgres) -> AsyncIterator[asyncpg.Pool]:
    with pg.database() as name:
        p = await create_pool(pg.address, name)
        yield p
        await p.close()


async def seed_week(pool: asyncpg.Pool) -> None:
    """Three days of sessions: a scheduled briefing each day, one costly ad-hoc session, one unpriced."""
    for days_ago in (0, 1, 2):
        await seed_session(pool, 0.25, NOW - timedelta(days=days_ago), schedule="briefing")
    await seed_session(pool, 2.0, NOW - timedelta(days=1), prompt="Plan the whole trip")
    await seed_session(pool, None, NOW - timedelta(hours=1), status="failed")
    await seed_session(pool, 9.0, NOW - timedelta(days=400), prompt="long ago")


async def test_spend_per_day_and_schedule_counts_only_the_window(pool: asyncpg.Pool) -> None:
    await seed_week(pool)
    since = NOW - timedelta(days=3)
    days = await spend_by_day(pool, "general", since)
    assert sum(d.sessions for d in days) == 5  # the one from 400 days ago is outside
    assert round(sum(d.cost_usd for d in days), 6) == 2.75
    assert [d.day for d in days] == sorted(d.day for d in days)
    schedules = {s.schedule: s for s in await spend_by_schedule(pool, "general", since)}
    assert schedules["briefing"].sessions == 3 and schedules["briefing"].cost_usd == 0.75
    assert schedules[None].sessions == 2 and schedules[None].cost_usd == 2.0
    assert await spent_since(pool, since) == 2.75


async def test_costliest_sessions_are_ordered_and_skip_unpriced_ones(pool: asyncpg.Pool) -> None:
    await seed_week(pool)
    top = await costliest_sessions(pool, "general", NOW - timedelta(days=3), 2)
    assert [(s.cost_usd, s.prompt) for s in top] == [(2.0, "Plan the whole trip"), (0.25, "seeded")]
    assert all(s.butler == "general" for s in top)
    everything = await costliest_sessions(pool, "general", NOW - timedelta(days=1000), 10)
    assert everything[0].prompt == "long ago" and len(everything) == 5  # the unpriced one is not a "cost"


async def test_ceiling_sums_this_month_over_every_butler(pool: asyncpg.Pool, second_pool: asyncpg.Pool) -> None:
    month = start_of_month()
    await seed_session(pool, 1.5, month + timedelta(minutes=1))
    await seed_session(second_pool, 2.0, NOW)
    await seed_session(second_pool, 50.0, month - timedelta(seconds=1))  # last month: not counted
    dbs = [ButlerDb("a", pool), ButlerDb("b", second_pool), ButlerDb("c", None)]
    state = await ceiling_state(dbs, 3.5)
    assert state.spent_usd == 3.5 and state.by_butler == {"a": 1.5, "b": 2.0}
    assert state.reached and state.remaining_usd == 0.0 and state.unread == ("c",)
    assert state.month_start == month and state.next_month_start > NOW
    below = await ceiling_state(dbs, 10.0)
    assert not below.reached and below.remaining_usd == 6.5
    unset = await ceiling_state(dbs, None)
    assert not unset.reached and unset.remaining_usd is None and unset.spent_usd == 3.5


async def test_fleet_spend_merges_every_butler(pool: asyncpg.Pool, second_pool: asyncpg.Pool) -> None:
    await seed_week(pool)
    await seed_session(second_pool, 3.0, NOW, schedule="digest")
    dbs = [ButlerDb("general", pool, 2.0), ButlerDb("health", second_pool, None)]
    view = await fleet_spend(dbs, NOW - timedelta(days=3), top=3)
    assert view.total_usd == 5.75 and view.unread == ()
    assert [(c.butler, c.cost_usd) for c in view.costliest] == [("health", 3.0), ("general", 2.0), ("general", 0.25)]
    assert (view.by_schedule[0].butler, view.by_schedule[0].schedule) == ("health", "digest")
    budgets = {b.butler: b for b in await budget_uses(dbs, NOW)}  # NOW's day, also past midnight
    assert budgets["general"].daily_budget_usd == 2.0 and budgets["health"].daily_budget_usd is None
    assert budgets["health"].spent_today_usd == 3.0 and not budgets["health"].reached
