"""The read side of the Messages, Notifications, Contacts and Health pages, against the embedded PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from domain_seed import TZ, seed_contacts, seed_health, seed_messages, seed_notifications

from butlers.db import ServerAddress
from butlers.fleet_views import contacts, health, messages, notifications
from butlers.migrate import apply_migrations
from butlers.modules.base import Module
from butlers.modules.health import HealthModule
from butlers.modules.notify import NotifyModule
from butlers.modules.relationship import RelationshipModule
from butlers.switchboard.module import SwitchboardModule
from butlers.switchboard.store import PartStatus, ReasonKind


async def migrate(address: ServerAddress, database: str, *modules: type[Module]) -> None:
    for module in modules:
        assert module.migrations_dir is not None
        await apply_migrations(address, database, module.migrations_dir, module.name)


async def test_messages_show_the_latest_routing_with_its_reason_and_session(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str
) -> None:
    await migrate(pg_address, database, SwitchboardModule)
    seeded = await seed_messages(pool)
    listed = await messages.list_messages(pool)
    assert [m.id for m in listed] == [seeded.ignored, seeded.split, seeded.failed, seeded.handled]  # newest first
    by_id = {m.id: m for m in listed}
    handled = by_id[seeded.handled]
    assert handled.status is messages.MessageStatus.HANDLED and not handled.retryable and handled.reroutable
    [part] = handled.routing
    assert (part.butler, part.reason_kind, part.reason, part.status) == ("health", ReasonKind.RULE, "rule 'weight'",
                                                                          PartStatus.QUEUED)  # fmt: skip
    assert part.session_id == handled.session_id
    split = by_id[seeded.split]
    assert [(p.butler, p.text, p.reason_kind) for p in split.routing] == [
        ("health", "Weighed 80 kg", ReasonKind.MODEL),
        ("relationship", "Anna's birthday is on 3 May", ReasonKind.MODEL),
    ]
    failed = by_id[seeded.failed]
    assert failed.retryable and failed.routing[0].session_id is None and "not serving" in (failed.error or "")
    assert failed.routing[0].reason_kind is ReasonKind.FALLBACK
    assert by_id[seeded.ignored].routing == () and not by_id[seeded.ignored].retryable

    only_failed = await messages.list_messages(pool, status=messages.MessageStatus.FAILED)
    assert [m.id for m in only_failed] == [seeded.failed]
    assert await messages.list_messages(pool, channel="email") == []
    counts = await messages.status_counts(pool)
    status = messages.MessageStatus
    assert counts == {status.RECEIVED: 0, status.DISPATCHED: 1, status.FAILED: 1}  # history is not counted
    assert await messages.channels(pool) == ["telegram"]
    with pytest.raises(ValueError, match="limit"):
        await messages.list_messages(pool, limit=0)


async def test_a_message_detail_keeps_every_attempt_and_the_list_shows_the_last(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str
) -> None:
    await migrate(pg_address, database, SwitchboardModule)
    seeded = await seed_messages(pool)
    session = uuid.uuid4()
    await pool.execute(
        """INSERT INTO routing_log (inbound_id, attempt, part, parts, message, part_text, channel, sender, butler,
               reason_kind, reason, status, session_id) SELECT inbound_id, 2, 0, 1, message, message, channel, sender,
               'relationship', 'reroute', 'rerouted to ''relationship''', 'queued', $2 FROM routing_log
           WHERE inbound_id = $1 AND part = 0""",
        seeded.handled,
        session,
    )
    detail = await messages.message_detail(pool, seeded.handled)
    assert detail is not None
    assert [(p.attempt, p.butler, p.reason_kind) for p in detail.routing] == [
        (1, "health", ReasonKind.RULE),
        (2, "relationship", ReasonKind.REROUTE),
    ]
    [latest] = [m for m in await messages.list_messages(pool) if m.id == seeded.handled]
    assert [(p.attempt, p.session_id) for p in latest.routing] == [(2, session)]
    assert await messages.message_detail(pool, uuid.uuid4()) is None


def test_message_statuses_mirror_the_inbound_log() -> None:
    from butlers.statuses import InboundStatus

    assert tuple(messages.MessageStatus) == tuple(InboundStatus)


async def test_notifications_by_status_with_channel_and_error(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str
) -> None:
    await migrate(pg_address, database, NotifyModule)
    seeded = await seed_notifications(pool)
    listed = await notifications.list_notifications(pool)
    assert {n.id for n in listed} == {seeded.sent, seeded.failed, seeded.pending, seeded.held}
    [failed] = await notifications.list_notifications(pool, status=notifications.Status.FAILED)
    assert (failed.id, failed.channel, failed.error) == (seeded.failed, "telegram", "telegram: 502 Bad Gateway")
    [held] = await notifications.list_notifications(pool, status=notifications.Status.HELD)
    assert held.held_reason == "quiet_hours"
    counts = await notifications.status_counts(pool)
    assert counts == dict.fromkeys(notifications.Status, 1)
    got = await notifications.get_notification(pool, seeded.pending)
    assert got is not None and got.channel == "email"
    assert await notifications.get_notification(pool, uuid.uuid4()) is None


async def test_contacts_search_and_a_contact_page_with_feed_and_dates(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str
) -> None:
    await migrate(pg_address, database, RelationshipModule)
    today = datetime.now(UTC).date()
    seeded = await seed_contacts(pool, today)
    assert [c.id for c in await contacts.find(pool, "zoe")] == [seeded.zoe]  # accents folded
    assert [c.id for c in await contacts.find(pool, "Ana Schmit")][:1] == [seeded.anna]  # typos
    assert [c.display_name for c in await contacts.find(pool, "  ")] == ["Anna Schmidt", "Tom Baker", "Zoë Martin"]

    page = await contacts.contact_page(pool, seeded.anna, today, limit=2)
    assert page is not None and page.contact.display_name == "Anna Schmidt"
    assert [i.source for i in page.feed.items] == ["note", "gift"]  # newest first, a page of two
    assert page.feed.next_cursor is not None
    older = await contacts.contact_page(pool, seeded.anna, today, before=page.feed.next_cursor, limit=2)
    assert older is not None and [i.source for i in older.feed.items] == ["interaction"]
    assert "Tom Baker" in older.feed.items[0].contact_names
    assert [(d.kind, d.in_days, d.turns) for d in page.upcoming] == [
        ("birthday", 3, (today + timedelta(days=3)).year - 1990),
        ("anniversary", 40, (today + timedelta(days=40)).year - 2015),
    ]
    assert [u.contact_id for u in await contacts.upcoming(pool, today, 7)] == [seeded.anna]
    assert await contacts.contact_page(pool, 999_999, today) is None
    with pytest.raises(ValueError, match="cursor"):
        await contacts.contact_page(pool, seeded.anna, today, before="yesterday")


async def test_health_trend_per_kind_over_the_period_and_adherence(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str
) -> None:
    await migrate(pg_address, database, HealthModule)
    seeded = await seed_health(pool)
    period = health.period_of(7, None, TZ)
    assert await health.kinds_in(pool, period) == ["weight", "blood_pressure", "waist"]
    view = await health.health_view(pool, TZ, period)
    weight, pressure, waist = view.trends
    assert (weight.kind, weight.unit, len(weight.daily or [])) == ("weight", "kg", 7)
    assert weight.direction == "falling" and weight.value.latest == pytest.approx(82.0 - 0.1 * (seeded.days - 1))
    assert pressure.diastolic is not None and all(p.diastolic_average for p in pressure.daily or [])
    assert (waist.unit, [p.average for p in waist.daily or []]) == ("cm", [90, 89])
    [metformin] = view.adherence
    # Due each morning from 6 days ago: 6 or 7 doses (today's 08:00 may not have come yet).
    assert (metformin.taken, metformin.skipped) == (4, 1) and metformin.expected in (6, 7)
    assert len(health.period_of(30, None, TZ).start.isoformat()) > 0
    only = await health.health_view(pool, TZ, health.period_of(30, None, TZ), kind="waist")
    assert [t.kind for t in only.trends] == ["waist"]


def test_health_period_names_the_bad_parameter() -> None:
    with pytest.raises(ValueError, match="days"):
        health.period_of(0, None, TZ)
    with pytest.raises(ValueError, match="until"):
        health.period_of(7, datetime.now(TZ).date() + timedelta(days=5), TZ)
    period = health.period_of(1, datetime(2026, 3, 1).date(), TZ)
    assert (period.start.isoformat(), period.end.isoformat()) == (
        "2026-03-01T00:00:00+01:00",
        "2026-03-02T00:00:00+01:00",
    )
