"""Turns to start: no more butlers start at once than the bound, and every turn comes back."""

from __future__ import annotations

import anyio
import pytest

from butlers.start_turns import StartTurn

pytestmark = pytest.mark.unit


async def test_no_more_than_the_bound_start_at_once_and_all_do() -> None:
    limiter = anyio.CapacityLimiter(2)
    starting, peak, started = 0, 0, 0

    async def butler() -> None:
        nonlocal starting, peak, started
        turn = StartTurn(limiter)
        await turn.take()
        starting += 1
        peak = max(peak, starting)
        for _ in range(5):  # the steps of a start, each a checkpoint where others run
            await anyio.lowlevel.checkpoint()
        starting -= 1
        started += 1
        turn.give_back()
        turn.give_back()  # given back again when the butler stops: no second release

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(7):
                tg.start_soon(butler)
    assert (peak, started, limiter.borrowed_tokens) == (2, 7, 0)


async def test_a_butler_cancelled_while_waiting_gives_nothing_back() -> None:
    limiter = anyio.CapacityLimiter(1)
    first = StartTurn(limiter)
    await first.take()
    waiting = StartTurn(limiter)
    with anyio.move_on_after(0.05):
        await waiting.take()
    waiting.give_back()  # it never had the turn: the first one still holds it
    assert limiter.borrowed_tokens == 1
    first.give_back()
    assert limiter.borrowed_tokens == 0


async def test_without_a_limiter_every_butler_starts_at_once() -> None:
    turn = StartTurn(None)
    await turn.take()
    turn.give_back()
