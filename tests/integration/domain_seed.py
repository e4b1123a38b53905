"""Seed data for the Messages, Notifications, Contacts and Health views, written through the modules' own code
where it has a way in (contacts, health), else as the switchboard and notify engine would leave their rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from butlers.modules.health.env import HealthEnv
from butlers.modules.health.measurements import MeasurementTools
from butlers.modules.health.medications import MedicationTools
from butlers.modules.health.models import DoseStatus
from butlers.modules.relationship.activity_tools import ActivityTools
from butlers.modules.relationship.contact_tools import ContactTools
from butlers.modules.relationship.date_tools import DateTools
from butlers.modules.relationship.models import DateKind, GiftStatus, InteractionKind

TZ = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class SeededMessages:
    handled: uuid.UUID  # by a rule, to health
    failed: uuid.UUID  # no butler could take it
    split: uuid.UUID  # the model split it over two butlers
    ignored: uuid.UUID  # a sender not allowed


async def _message(
    pool: asyncpg.Pool,
    text: str,
    status: str,
    minutes_ago: int,
    *,
    session: uuid.UUID | None = None,
    error: str | None = None,
    sender: str = "owner",
) -> uuid.UUID:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    mid: uuid.UUID = await pool.fetchval(
        """INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, status, session_id,
               dispatched_at, finished_at, error)
           VALUES ('telegram', $1, $2, $3, $4::timestamptz, $5::text, $6::uuid, CASE WHEN $6::uuid IS NULL THEN NULL ELSE $4::timestamptz END,
                   CASE WHEN $5::text IN ('handled', 'failed', 'ignored') THEN $4::timestamptz END, $7) RETURNING id""",
        f"seed-{uuid.uuid4()}",
        sender,
        text,
        at,
        status,
        session,
        error,
    )
    return mid


async def _route(
    pool: asyncpg.Pool,
    mid: uuid.UUID,
    text: str,
    parts: list[tuple[str, str, str, str, uuid.UUID | None]],
    error: str | None = None,
) -> None:
    """parts: (butler, part text, reason kind, reason, session id); no session = the part failed."""
    for i, (butler, part_text, kind, reason, session) in enumerate(parts):
        await pool.execute(
            """INSERT INTO routing_log (inbound_id, attempt, part, parts, message, part_text, channel, sender, butler,
                   reason_kind, reason, status, session_id, error, queued_at, classify_cost_usd)
               VALUES ($1, 1, $2, $3, $4, $5, 'telegram', 'owner', $6, $7, $8, $9, $10, $11,
                       CASE WHEN $10::uuid IS NULL THEN NULL ELSE now() END, $12)""",
            mid,
            i,
            len(parts),
            text,
            part_text,
            butler,
            kind,
            reason,
            "queued" if session else "failed",
            session,
            None if session else error,
            0.0004 if kind == "model" else None,
        )


async def _session(pool: asyncpg.Pool, prompt: str, minutes_ago: int) -> uuid.UUID:
    """A finished routed session in a target butler's database (what the switchboard follows)."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    sid: uuid.UUID = await pool.fetchval(
        """INSERT INTO sessions (trigger_source, prompt, status, queued_at, started_at, finished_at, duration_ms,
               result, num_turns, cost_usd, model)
           VALUES ('route', $1, 'succeeded', $2::timestamptz, $2::timestamptz, $2::timestamptz + interval '9 seconds', 9000, 'Recorded.', 2, 0.0042,
                   'claude-sonnet-4-5') RETURNING id""",
        prompt,
        at,
    )
    return sid


async def seed_messages(
    pool: asyncpg.Pool, names: dict[str, str] | None = None, targets: dict[str, asyncpg.Pool] | None = None
) -> SeededMessages:
    """Four messages of the switchboard, one per kind of outcome, with their routing log.

    `names` maps the roles health, general and relationship to the fleet's butler names; with
    `targets` (role -> pool) the routed sessions are real rows of those butlers, finished, else
    bare ids. The failed message is a bare weight ("81.5 kg"): a weight rule routes it on retry."""
    n = {"health": "health", "general": "general", "relationship": "relationship", **(names or {})}
    if targets is None:
        s1, s2, s3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    else:
        s1 = await _session(targets["health"], "81.2 kg", 40)
        s2 = await _session(targets["health"], "Weighed 80 kg", 20)
        s3 = await _session(targets["relationship"], "Anna's birthday is on 3 May", 20)
    handled = await _message(pool, "81.2 kg", "handled", 40, session=s1)
    await _route(pool, handled, "81.2 kg", [(n["health"], "81.2 kg", "rule", "rule 'weight'", s1)])
    why = f"butler '{n['general']}' is not serving (it is stopping)"
    failed = await _message(pool, "81.5 kg", "failed", 30, error=f"part 0 of 1: {why}")
    await _route(pool, failed, "81.5 kg", [(n["general"], "81.5 kg", "fallback", "no rule matched", None)], why)
    text = "Weighed 80 kg and Anna's birthday is on 3 May"
    split = await _message(pool, text, "dispatched", 20, session=s2)
    parts: list[tuple[str, str, str, str, uuid.UUID | None]] = [
        (n["health"], "Weighed 80 kg", "model", "a weight measurement", s2),
        (n["relationship"], "Anna's birthday is on 3 May", "model", "a contact's date", s3),
    ]
    await _route(pool, split, text, parts)
    ignored = await _message(
        pool,
        "Buy cheap pills",
        "ignored",
        10,
        sender="spam@example.com",
        error="sender 'spam@example.com' is not in allowed_senders.telegram",
    )
    return SeededMessages(handled, failed, split, ignored)


@dataclass(frozen=True)
class SeededNotifications:
    sent: uuid.UUID
    failed: uuid.UUID
    pending: uuid.UUID
    held: uuid.UUID


async def _notification(
    pool: asyncpg.Pool,
    message: str,
    status: str,
    *,
    channel: str = "telegram",
    recipient: str = "4242",
    error: str | None = None,
    held: str | None = None,
) -> uuid.UUID:
    nid: uuid.UUID = await pool.fetchval(
        """INSERT INTO notifications (origin, channel, recipient, to_owner, message, subject, priority, status,
               held_reason, attempts, channel_message_id, error, sent_at)
           VALUES ('health', $1, $2, true, $3, left($3, 40), 'normal', $4, $5, $6, $7, $8,
                   CASE WHEN $4 = 'sent' THEN now() END) RETURNING id""",
        channel,
        recipient,
        message,
        status,
        held,
        0 if status in ("pending", "held") else 1,
        "tg-1" if status == "sent" else None,
        error,
    )
    return nid


async def seed_notifications(pool: asyncpg.Pool, *, failed_recipient: str = "4242") -> SeededNotifications:
    """One notification per status; the failed one to `failed_recipient` on Telegram."""
    return SeededNotifications(
        sent=await _notification(pool, "Time for your 08:00 Metformin", "sent"),
        failed=await _notification(
            pool, "Anna's birthday is tomorrow", "failed", recipient=failed_recipient, error="telegram: 502 Bad Gateway"
        ),
        pending=await _notification(
            pool, "Weekly weight summary", "pending", channel="email", recipient="me@example.org"
        ),
        held=await _notification(pool, "Good night digest", "held", held="quiet_hours"),
    )


@dataclass(frozen=True)
class SeededContacts:
    anna: int
    tom: int
    zoe: int


async def seed_contacts(pool: asyncpg.Pool, today: date) -> SeededContacts:
    """Three contacts; Anna with a birthday in 3 days, an anniversary, and three things in her feed."""
    contacts, activity, dates = ContactTools(pool), ActivityTools(pool), DateTools(pool, None)
    soon = today + timedelta(days=3)
    anna = await contacts.relationship_contact_create(
        "Anna Schmidt", emails=["anna@example.org"], labels=["family"], birthday=f"1990-{soon:%m-%d}", frequency_days=14
    )
    tom = await contacts.relationship_contact_create("Tom Baker", company="Acme", frequency_days=30)
    zoe = await contacts.relationship_contact_create("Zoë Martin", nicknames=["Zo"])
    when = datetime.now(UTC) - timedelta(days=2)
    await activity.relationship_interaction_log(
        [anna.id, tom.id], InteractionKind.MEETING, notes="Dinner at Luigi's", when=when.isoformat()
    )
    await activity.relationship_gift_add(
        anna.id, "Vinyl record", GiftStatus.IDEA, occasion="birthday", when=(when + timedelta(days=1)).isoformat()
    )
    await activity.relationship_note_add(anna.id, "Allergic to nuts")
    await dates.relationship_date_set(
        anna.id, f"2015-{today + timedelta(days=40):%m-%d}", DateKind.ANNIVERSARY, "wedding"
    )
    return SeededContacts(anna.id, tom.id, zoe.id)


@dataclass(frozen=True)
class SeededHealth:
    medication: int
    days: int  # days of daily weight and blood pressure up to today


async def seed_health(pool: asyncpg.Pool, tz: ZoneInfo = TZ, days: int = 14) -> SeededHealth:
    """A weight and a blood pressure each morning, a custom kind twice, and a daily 08:00 medication."""
    env = HealthEnv(pool=pool, tz=tz, notify=None)
    m, meds = MeasurementTools(env), MedicationTools(env)
    clock = datetime.now(tz)
    today = clock.date()

    def morning(day: date, hh_mm: str) -> str:
        # Today's morning may still be ahead (the suite runs at any hour): then a moment ago, same day.
        when = datetime.combine(day, datetime.strptime(hh_mm, "%H:%M").time(), tz)
        return min(when, clock - timedelta(seconds=1)).isoformat(timespec="seconds")

    for i in range(days):
        day = today - timedelta(days=days - 1 - i)
        await m.health_measurement_add("weight", 82.0 - 0.1 * i, "kg", at=morning(day, "07:00"))
        systolic, diastolic = 130 - i % 5, 85 - i % 3
        await m.health_measurement_add(
            "blood_pressure", systolic=systolic, diastolic=diastolic, at=morning(day, "07:05")
        )
    await m.health_measurement_add("waist", 90, "cm", at=f"{today - timedelta(days=3)}T07:10")
    await m.health_measurement_add("waist", 89, "cm", at=f"{today - timedelta(days=1)}T07:10")
    med = await meds.health_medication_add(
        "Metformin", 500, "mg", times=["08:00"], start=str(today - timedelta(days=6))
    )
    for i in (6, 5, 3, 2):  # taken on four mornings, skipped one, nothing on the others
        await meds.health_dose_record(med.id, at=f"{today - timedelta(days=i)}T08:05")
    await meds.health_dose_record(med.id, status=DoseStatus.SKIPPED, at=f"{today - timedelta(days=4)}T08:05")
    return SeededHealth(med.id, days)
