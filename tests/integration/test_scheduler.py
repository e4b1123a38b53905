"""Schedules fire each due window exactly once: racing ticks, two daemons, downtime."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg
import pytest

from butlers.config import ScheduleConfig
from butlers.core.dispatch import Conn, DispatchRequest
from butlers.core.scheduler import Scheduler
from butlers.db import ServerAddress, create_pool

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def dispatched_table(pool: asyncpg.Pool) -> None:
    await pool.execute("CREATE TABLE dispatched (id uuid PRIMARY KEY, schedule text, prompt text, context jsonb)")


class RecordingDispatcher:
    """Writes each request into the same transaction as the claim, like the spawner does."""

    async def dispatch(self, conn: Conn, request: DispatchRequest) -> uuid.UUID:
        session_id = uuid.uuid4()
        await conn.execute(
            "INSERT INTO dispatched VALUES ($1, $2, $3, $4)",
            session_id,
            request.schedule_name,
            request.prompt,
            request.context,
        )
        return session_id


class FailingDispatcher:
    async def dispatch(self, conn: Conn, request: DispatchRequest) -> uuid.UUID:
        raise RuntimeError("queue is down")


def every_minute(name: str = "m", **kw: object) -> ScheduleConfig:
    return ScheduleConfig.model_validate(
        {"name": name, "cron": "* * * * *", "prompt": f"run {name}", "timezone": "UTC", **kw}
    )


async def dispatched(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM dispatched ORDER BY context->>'scheduled_for'")


async def test_schedule_fires_once_when_two_ticks_race(pool: asyncpg.Pool) -> None:
    scheduler = Scheduler(pool, RecordingDispatcher())
    await scheduler.sync_from_config([every_minute("a"), every_minute("b")], now=T0)
    # 30 windows, each raced by 8 concurrent ticks.
    for minute in range(1, 31):
        now = T0 + timedelta(minutes=minute, seconds=1)
        results: list[int] = []

        async def tick(now: datetime = now, results: list[int] = results) -> None:
            results.append(len(await scheduler.claim_due(now=now)))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(tick)
        assert sum(results) == 2, f"minute {minute}: {results}"
    rows = await dispatched(pool)
    assert len(rows) == 60
    runs = await pool.fetch("SELECT schedule_name, scheduled_for, session_id FROM schedule_runs")
    assert len(runs) == 60 and all(r["session_id"] for r in runs)


async def test_schedule_fires_once_with_two_supervisors_on_one_database(
    pg_address: ServerAddress, database: str
) -> None:
    pools = [await create_pool(pg_address, database) for _ in range(2)]
    try:
        daemons = [Scheduler(p, RecordingDispatcher()) for p in pools]
        # Both daemons sync the same config at start, as two butlerd would.
        for d in daemons:
            await d.sync_from_config([every_minute("x"), every_minute("y"), every_minute("z")], now=T0)
        fired = 0
        for minute in range(1, 41):
            now = T0 + timedelta(minutes=minute)
            counts: list[int] = []

            async def tick(d: Scheduler, now: datetime = now, counts: list[int] = counts) -> None:
                counts.append(len(await d.claim_due(now=now)))

            async with anyio.create_task_group() as tg:
                for d in daemons * 3:
                    tg.start_soon(tick, d)
            fired += sum(counts)
        assert fired == 3 * 40
        assert await pools[0].fetchval("SELECT count(*) FROM dispatched") == 120
        assert (
            await pools[0].fetchval(
                "SELECT count(*) FROM (SELECT DISTINCT schedule, context->>'scheduled_for' FROM dispatched) d"
            )
            == 120
        )
    finally:
        for p in pools:
            await p.close()


async def test_missed_windows_after_downtime_run_once_and_record_the_skipped(pool: asyncpg.Pool) -> None:
    scheduler = Scheduler(pool, RecordingDispatcher())
    await scheduler.sync_from_config([every_minute("hourly", cron="0 * * * *")], now=T0)
    # Down for five hours and a half: windows 10:00 .. 14:00 were missed.
    fired = await scheduler.claim_due(now=T0 + timedelta(hours=5, minutes=30))
    assert len(fired) == 1
    assert fired[0].scheduled_for == T0 + timedelta(hours=1)
    assert fired[0].skipped_windows == 4
    run = await pool.fetchrow("SELECT * FROM schedule_runs")
    assert run is not None
    assert run["skipped_windows"] == 4 and run["skipped_until"] == T0 + timedelta(hours=5)
    assert (await scheduler.get("hourly")).next_run_at == T0 + timedelta(hours=6)
    assert await scheduler.claim_due(now=T0 + timedelta(hours=5, minutes=31)) == []


async def test_misfire_all_runs_every_missed_window(pool: asyncpg.Pool) -> None:
    scheduler = Scheduler(pool, RecordingDispatcher())
    await scheduler.sync_from_config([every_minute("h", cron="0 * * * *", misfire="all")], now=T0)
    fired = await scheduler.claim_due(now=T0 + timedelta(hours=3, minutes=5))
    assert [f.scheduled_for.hour for f in fired] == [10, 11, 12]
    assert len(await dispatched(pool)) == 3


async def test_a_failing_dispatch_leaves_the_window_unfired_for_the_next_tick(pool: asyncpg.Pool) -> None:
    await Scheduler(pool).sync_from_config([every_minute("m")], now=T0)
    assert await Scheduler(pool, FailingDispatcher()).claim_due(now=T0 + timedelta(minutes=1)) == []
    assert await pool.fetchval("SELECT count(*) FROM schedule_runs") == 0
    fired = await Scheduler(pool, RecordingDispatcher()).claim_due(now=T0 + timedelta(minutes=1))
    assert len(fired) == 1


async def test_sync_adds_changes_and_removes_config_schedules_but_keeps_runtime_ones(pool: asyncpg.Pool) -> None:
    s = Scheduler(pool)
    await s.sync_from_config([every_minute("a"), every_minute("b")], now=T0)
    await s.create(every_minute("mine"), now=T0)
    report = await s.sync_from_config([every_minute("a", prompt="new"), every_minute("c")], now=T0)
    assert report["changed"] == ["a"] and report["added"] == ["c"] and report["removed"] == ["b"]
    assert {r.name: r.source for r in await s.list_schedules()} == {
        "a": "config",
        "c": "config",
        "mine": "runtime",
    }
    assert (await s.get("a")).prompt == "new"


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/New_York"])
async def test_schedule_time_zone_is_honoured_across_dst(pool: asyncpg.Pool, zone: str) -> None:
    from zoneinfo import ZoneInfo

    s = Scheduler(pool)
    before_dst = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # both zones switch within the next weeks
    await s.sync_from_config([every_minute("daily", cron="0 8 * * *", timezone=zone)], now=before_dst)
    for _ in range(30):
        row = await s.get("daily")
        assert row is not None and row.next_run_at is not None
        local = row.next_run_at.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute) == (8, 0)
        await s.claim_due(now=row.next_run_at)
