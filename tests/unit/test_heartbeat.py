"""The heartbeat wakes for the earliest due schedule, not only every interval, and survives a failing butler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio

from butlers.core.scheduler import FiredWindow
from butlers.heartbeat import Heartbeat


class FakeButler:
    def __init__(self, name: str, due_in_s: float | None, fail: bool = False) -> None:
        self.name = name
        self.due = datetime.now(UTC) + timedelta(seconds=due_in_s) if due_in_s is not None else None
        self.fail = fail
        self.ticks = 0
        self.ticked = anyio.Event()
        self.third_tick = anyio.Event()

    async def tick(self) -> list[FiredWindow]:
        self.ticks += 1
        if self.ticks == 3:
            self.third_tick.set()
        if self.fail:
            raise RuntimeError("database gone")
        if self.due and self.due <= datetime.now(UTC):
            self.due = None  # fired: nothing further is due
            self.ticked.set()
        return []

    async def next_due_at(self) -> datetime | None:
        if self.fail:
            raise RuntimeError("database gone")
        return self.due


async def test_heartbeat_wakes_at_the_earliest_due_time_long_before_the_interval() -> None:
    soon = FakeButler("soon", due_in_s=0.3)
    never = FakeButler("never", due_in_s=None)
    broken = FakeButler("broken", due_in_s=None, fail=True)
    heartbeat = Heartbeat([broken, never, soon], interval_s=3600)
    async with anyio.create_task_group() as tg:
        await tg.start(heartbeat.run)
        with anyio.fail_after(10):  # an interval-only heartbeat would take an hour
            await soon.ticked.wait()
        tg.cancel_scope.cancel()
    assert heartbeat.ticks == 1  # only the first full tick; the wake-up was for the due butler
    assert broken.ticks == 1 and never.ticks == 1


async def test_poke_makes_the_heartbeat_notice_a_new_due_schedule() -> None:
    later = FakeButler("later", due_in_s=None)
    heartbeat = Heartbeat([later], interval_s=3600)
    async with anyio.create_task_group() as tg:
        await tg.start(heartbeat.run)
        later.due = datetime.now(UTC) + timedelta(seconds=0.2)
        heartbeat.poke()
        with anyio.fail_after(10):
            await later.ticked.wait()
        tg.cancel_scope.cancel()


async def test_full_tick_every_interval() -> None:
    butler = FakeButler("b", due_in_s=None)
    heartbeat = Heartbeat([butler], interval_s=0.05)
    async with anyio.create_task_group() as tg:
        await tg.start(heartbeat.run)
        with anyio.fail_after(10):
            await butler.third_tick.wait()
        tg.cancel_scope.cancel()
    assert butler.ticks >= 3


class SlowDatabaseButler(FakeButler):
    """Its due-time query waits until every butler's query has started: asked one after another, it hangs."""

    started = 0
    all_started = anyio.Event()

    def __init__(self, name: str, due_in_s: float | None, fleet: int) -> None:
        super().__init__(name, due_in_s)
        self.fleet = fleet

    async def next_due_at(self) -> datetime | None:
        cls = SlowDatabaseButler
        cls.started += 1
        if cls.started >= self.fleet:
            cls.all_started.set()
        await cls.all_started.wait()
        return self.due


async def test_the_due_times_of_many_butlers_are_read_at_once() -> None:
    SlowDatabaseButler.started, SlowDatabaseButler.all_started = 0, anyio.Event()
    fleet = [SlowDatabaseButler(f"b{i}", due_in_s=-1 if i == 7 else None, fleet=50) for i in range(50)]
    heartbeat = Heartbeat(fleet, interval_s=3600)
    with anyio.fail_after(10):  # sequential reads would wait forever on the first butler
        dues = await heartbeat._due_times()
        await heartbeat.tick_due()
    assert [b.name for b, _ in dues] == ["b7"]
    assert fleet[7].ticked.is_set() and sum(b.ticks for b in fleet) == 1
