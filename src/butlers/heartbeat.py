"""The heartbeat: a timer task that ticks every butler.

It ticks all butlers every `interval` and also wakes at the earliest
`next_run_at` across butlers, so a schedule fires within moments of its due
time instead of up to an interval late. Not a butler, no LLM.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import anyio
import structlog

from butlers.core.scheduler import FiredWindow
from butlers.db_health import LOST_CONNECTION_ERRORS

log = structlog.get_logger(__name__)

# Re-check for due windows at least this often: another daemon sharing the
# database may have changed schedules without telling us.
MAX_SLEEP_S = 60.0


class Tickable(Protocol):
    name: str

    async def tick(self) -> list[FiredWindow]: ...

    async def next_due_at(self) -> datetime | None: ...


class Heartbeat:
    def __init__(self, butlers: Sequence[Tickable], interval_s: float) -> None:
        self.butlers = list(butlers)
        self.interval_s = interval_s
        self.ticks = 0
        self._wake = anyio.Event()
        self._dues: list[tuple[Tickable, datetime]] | None = None  # from the last _due_times

    def poke(self) -> None:
        """Schedules changed: recompute when to wake."""
        self._wake.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        next_full_tick = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_full_tick:
                await self.tick_all()
                next_full_tick = time.monotonic() + self.interval_s
            else:
                await self.tick_due()
            # A fresh event before reading next_due: a poke during the read is not lost.
            self._wake = anyio.Event()
            delay = min(next_full_tick - time.monotonic(), await self._seconds_to_next_due(), MAX_SLEEP_S)
            with anyio.move_on_after(max(delay, 0.0)):
                await self._wake.wait()

    async def _due_times(self) -> list[tuple[Tickable, datetime]]:
        """Each butler's earliest due window; a butler whose database fails is left out and logged.

        Asked concurrently: one query after another, 50 butlers on a busy machine made every
        window seconds late (benches/fleet.py).
        """
        out: list[tuple[Tickable, datetime]] = []

        async def one(butler: Tickable) -> None:
            try:
                due = await butler.next_due_at()
            except Exception as exc:
                if isinstance(exc, (*LOST_CONNECTION_ERRORS, TimeoutError)):
                    # The database is away (its health monitor says so, and pokes us when it is back): no
                    # traceback, whose rendering blocked the event loop for seconds on a loaded machine.
                    log.warning("heartbeat.next_due_failed", butler=butler.name, error=repr(exc))
                else:
                    log.exception("heartbeat.next_due_failed", butler=butler.name)
                return
            if due is not None:
                out.append((butler, due))

        async with anyio.create_task_group() as tg:
            for butler in self.butlers:
                tg.start_soon(one, butler)
        self._dues = out
        return out

    async def _seconds_to_next_due(self) -> float:
        dues = [due for _, due in await self._due_times()]
        if not dues:
            return MAX_SLEEP_S
        return (min(dues) - datetime.now(UTC)).total_seconds()

    async def tick_all(self) -> None:
        self.ticks += 1
        await self._tick_together(self.butlers)

    async def tick_due(self) -> None:
        # The due times read just before the sleep: asking again would only add the queries'
        # time to every window's lateness (a schedule added meanwhile pokes, and is read next).
        now = datetime.now(UTC)
        dues = self._dues if self._dues is not None else await self._due_times()
        await self._tick_together([butler for butler, due in dues if due <= now])

    async def _tick_together(self, butlers: Sequence[Tickable]) -> None:
        # Concurrently: each butler has its own database, and one butler's slow
        # tick must not make another's schedules late.
        async with anyio.create_task_group() as tg:
            for butler in butlers:
                tg.start_soon(self._tick, butler)

    async def _tick(self, butler: Tickable) -> None:
        # One butler's failing tick must not stop the others from ticking.
        try:
            await butler.tick()
        except Exception:
            log.exception("heartbeat.tick_failed", butler=butler.name)
