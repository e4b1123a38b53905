"""Inbound messages: stored before anything acts on them, once per external id, status follows the session."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import anyio
import asyncpg
import pytest
from spawner_helpers import butler_config

from butlers.core.dispatch import Conn, DispatchRequest
from butlers.core.inbound import InboundLog, InboundMessage
from butlers.core.sessions import Outcome
from butlers.core.spawner import Spawner
from butlers.statuses import InboundStatus, SessionStatus

pytestmark = pytest.mark.integration

WHEN = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)


def message(external_id: str = "<m1@example.org>", text: str = "Can we meet on Tuesday?") -> InboundMessage:
    return InboundMessage(
        channel="email",
        external_id=external_id,
        sender="ann@example.org",
        text=text,
        received_at=WHEN,
        subject="Meeting",
        metadata={"folder": "INBOX"},
    )


def idle_spawner(pool: asyncpg.Pool, tmp_path: Path) -> Spawner:
    """The real dispatcher, with no worker running: its sessions stay queued until the test moves them."""
    config = butler_config(tmp_path / "b")
    return Spawner("general", config, pool, "http://127.0.0.1:9/mcp", tmp_path / "d", {}, model_env={})


class BrokenDispatcher:
    """Fails every hand-off, as a dispatcher whose database write fails would."""

    def __init__(self) -> None:
        self.calls = 0

    async def dispatch(self, conn: Conn, request: DispatchRequest) -> uuid.UUID:
        self.calls += 1
        raise RuntimeError("dispatcher down")


async def count(pool: asyncpg.Pool, table: str) -> int:
    return int(await pool.fetchval(f"SELECT count(*) FROM {table}"))


async def test_a_message_is_stored_then_handed_to_a_session_with_it_as_context(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    inbound = InboundLog(pool, idle_spawner(pool, tmp_path), "general")
    inbound_id, created = await inbound.receive(message())
    assert created
    row = await inbound.get(inbound_id)
    assert row is not None
    assert row.status == "dispatched" and row.channel == "email" and row.sender == "ann@example.org"
    assert row.metadata == {"folder": "INBOX"} and row.received_at == WHEN
    session = await pool.fetchrow("SELECT * FROM sessions WHERE id = $1", row.session_id)
    assert session is not None
    assert session["trigger_source"] == "inbound" and session["status"] == "queued"
    assert "Can we meet on Tuesday?" in session["prompt"] and "ann@example.org" in session["prompt"]
    assert session["context"] == {
        "inbound_id": str(inbound_id),
        "channel": "email",
        "sender": "ann@example.org",
        "subject": "Meeting",
    }


async def test_a_failing_hand_off_leaves_it_received_and_redelivery_hands_it_off_later(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    broken = BrokenDispatcher()
    inbound_id, created = await InboundLog(pool, broken, "general").receive(message())
    assert created and broken.calls == 1
    row = await pool.fetchrow("SELECT status, session_id FROM inbound_messages WHERE id = $1", inbound_id)
    assert row is not None
    assert (row["status"], row["session_id"]) == ("received", None)
    assert await count(pool, "sessions") == 0  # the failed hand-off's transaction left nothing behind

    # The next start: a working dispatcher picks it up, once.
    restarted = InboundLog(pool, idle_spawner(pool, tmp_path), "general")
    assert await restarted.redeliver_pending() == 1
    assert await restarted.redeliver_pending() == 0
    row = await pool.fetchrow("SELECT status, session_id FROM inbound_messages WHERE id = $1", inbound_id)
    assert row is not None
    assert row["status"] == "dispatched" and row["session_id"] is not None
    assert await count(pool, "sessions") == 1


async def test_no_dispatcher_stores_and_waits(pool: asyncpg.Pool, tmp_path: Path) -> None:
    inbound_id, _ = await InboundLog(pool, None, "general").receive(message())
    assert (await pool.fetchval("SELECT status FROM inbound_messages WHERE id = $1", inbound_id)) == "received"
    assert await InboundLog(pool, idle_spawner(pool, tmp_path), "general").redeliver_pending() == 1


async def test_the_same_external_id_twice_is_one_row_and_one_session(pool: asyncpg.Pool, tmp_path: Path) -> None:
    inbound = InboundLog(pool, idle_spawner(pool, tmp_path), "general")
    first = await inbound.receive(message())
    again = await inbound.receive(message(text="a re-delivery, maybe changed"))
    assert again == (first[0], False)
    # Concurrently too: the unique key and the row lock decide, not timing.
    results: list[tuple[uuid.UUID, bool]] = []

    async def receive() -> None:
        results.append(await inbound.receive(message("<m2@example.org>")))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(receive)
    assert len({r[0] for r in results}) == 1 and sum(r[1] for r in results) == 1
    assert await count(pool, "inbound_messages") == 2
    assert await count(pool, "sessions") == 2
    # The same external id on another channel is another message.
    _, other = await inbound.receive(InboundMessage("telegram", "<m1@example.org>", "ann", "hi", WHEN))
    assert other


async def test_receiving_again_retries_a_hand_off_that_failed(pool: asyncpg.Pool, tmp_path: Path) -> None:
    inbound_id, _ = await InboundLog(pool, BrokenDispatcher(), "general").receive(message())
    again = await InboundLog(pool, idle_spawner(pool, tmp_path), "general").receive(message())
    assert again == (inbound_id, False)
    assert (await pool.fetchval("SELECT status FROM inbound_messages WHERE id = $1", inbound_id)) == "dispatched"


@pytest.mark.parametrize(
    ("session_status", "inbound_status"),
    [("succeeded", "handled"), ("failed", "failed"), ("timed_out", "failed"), ("interrupted", "failed")],
)
async def test_status_follows_the_session(
    pool: asyncpg.Pool, tmp_path: Path, session_status: str, inbound_status: str
) -> None:
    spawner = idle_spawner(pool, tmp_path)
    inbound = InboundLog(pool, spawner, "general")
    inbound_id, _ = await inbound.receive(message())
    claimed = await spawner.sessions.claim_next(spawner.instances.me.id)
    assert claimed is not None
    row = await inbound.get(inbound_id)
    assert row is not None and row.status == "dispatched"  # running is still dispatched
    error = None if session_status == "succeeded" else "agent error: boom"
    assert await spawner.sessions.finish(claimed.id, Outcome(SessionStatus(session_status), result="done", error=error))
    row = await inbound.get(inbound_id)
    assert row is not None and row.status == inbound_status
    assert row.finished_at is not None and row.error == error


async def test_a_cancelled_session_fails_its_message(pool: asyncpg.Pool, tmp_path: Path) -> None:
    spawner = idle_spawner(pool, tmp_path)
    inbound = InboundLog(pool, spawner, "general")
    inbound_id, _ = await inbound.receive(message())
    row = await inbound.get(inbound_id)
    assert row is not None and row.session_id is not None
    await spawner.cancel(row.session_id)
    row = await inbound.get(inbound_id)
    assert row is not None and row.status == "failed"


async def test_list_filters_and_orders_newest_first(pool: asyncpg.Pool, tmp_path: Path) -> None:
    inbound = InboundLog(pool, None, "general")
    await inbound.receive(message("a"))
    await inbound.receive(InboundMessage("telegram", "7", "@bob", "hi", WHEN.replace(hour=9)))
    assert [m.channel for m in await inbound.list()] == ["telegram", "email"]
    assert [m.external_id for m in await inbound.list(channel="email")] == ["a"]
    assert await inbound.list(status=InboundStatus.HANDLED) == []
    with pytest.raises(ValueError, match="status 'nope'"):
        await inbound.list(status="nope")  # type: ignore[arg-type]  # what a caller without types may pass


def test_a_message_needs_an_aware_time_and_an_id() -> None:
    with pytest.raises(ValueError, match="time-zone aware"):
        InboundMessage("email", "x", "a", "t", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="non-empty"):
        InboundMessage("email", "", "a", "t", WHEN)
