"""Each status vocabulary (a StrEnum) says exactly what its SQL CHECK constraint allows.

Every migration (core and every module's) is applied to a real database; every
CHECK of the form `column IN (...)` is read back from `pg_constraint` and must
have a vocabulary here with the same values. A new CHECK without one fails, so
the next status column gets its enum too.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

import asyncpg
import pytest

import butlers
from butlers.migrate import apply_migrations
from butlers.modules.email.channel import SentKind
from butlers.modules.health.models import ConditionStatus, DoseStatus, Frequency, MealKind
from butlers.modules.relationship.models import (
    DateKind,
    DetailKind,
    Direction,
    GiftStatus,
    InteractionKind,
    LifeEventKind,
    LoanDirection,
    RelationKind,
)
from butlers.modules.telegram.channel import MessageDirection
from butlers.modules.telegram.owner_approvals import Pressed
from butlers.statuses import (
    ApprovalStatus,
    HeldReason,
    InboundStatus,
    MisfirePolicy,
    NotificationStatus,
    Priority,
    ScheduleSource,
    SessionStatus,
    ToolRunStatus,
    TriggerSource,
)
from butlers.switchboard.store import ClassifyVia, PartStatus, ReasonKind

VOCABULARIES: dict[tuple[str, str], type[StrEnum]] = {
    ("sessions", "status"): SessionStatus,
    ("sessions", "trigger_source"): TriggerSource,
    ("approvals", "status"): ApprovalStatus,
    ("inbound_messages", "status"): InboundStatus,
    ("schedules", "source"): ScheduleSource,
    ("schedules", "misfire"): MisfirePolicy,
    ("schedule_runs", "tool_status"): ToolRunStatus,
    ("notifications", "status"): NotificationStatus,
    ("notifications", "held_reason"): HeldReason,
    ("notifications", "priority"): Priority,
    ("routing_log", "status"): PartStatus,
    ("routing_log", "reason_kind"): ReasonKind,
    ("routing_log", "classify_via"): ClassifyVia,
    ("email_sent", "kind"): SentKind,
    ("telegram_messages", "direction"): MessageDirection,
    ("telegram_approval_prompts", "pressed"): Pressed,
    ("health_medications", "frequency"): Frequency,
    ("health_doses", "status"): DoseStatus,
    ("health_conditions", "status"): ConditionStatus,
    ("health_meals", "meal"): MealKind,
    ("relationship_details", "kind"): DetailKind,
    ("relationship_relations", "kind"): RelationKind,
    ("relationship_dates", "kind"): DateKind,
    ("relationship_interactions", "kind"): InteractionKind,
    ("relationship_interactions", "direction"): Direction,
    ("relationship_gifts", "status"): GiftStatus,
    ("relationship_loans", "direction"): LoanDirection,
    ("relationship_life_events", "kind"): LifeEventKind,
}

# `(col = ANY (ARRAY['a'::text, 'b'::text]))`, as PostgreSQL prints an IN list back.
IN_LIST = re.compile(r"^CHECK \(\(?\(?(\w+) = ANY \(ARRAY\[(.*)\]\)\)\)?\)?$")


def module_migration_folders() -> list[Path]:
    package = Path(butlers.__file__).parent
    return sorted(p for p in package.glob("**/migrations") if p.is_dir())


async def in_list_checks(pool: asyncpg.Pool) -> dict[tuple[str, str], set[str]]:
    rows = await pool.fetch(
        """SELECT c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE c.contype = 'c' AND n.nspname = 'public'"""
    )
    found: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        match = IN_LIST.match(row["def"])
        if match:
            found[(row["tbl"], match.group(1))] = set(re.findall(r"'([^']*)'::text", match.group(2)))
    return found


@pytest.fixture
async def every_table(pool: asyncpg.Pool, pg_address: object, database: str) -> asyncpg.Pool:
    for folder in module_migration_folders():
        await apply_migrations(pg_address, database, folder, owner=folder.parent.name)  # type: ignore[arg-type]
    return pool


async def test_every_status_check_has_a_vocabulary_with_the_same_values(every_table: asyncpg.Pool) -> None:
    checks = await in_list_checks(every_table)
    assert ("sessions", "status") in checks  # the parser reads PostgreSQL's own rendering
    missing = sorted(set(checks) - set(VOCABULARIES))
    assert not missing, f"CHECK constraints with no StrEnum in VOCABULARIES: {missing}"
    stale = sorted(set(VOCABULARIES) - set(checks))
    assert not stale, f"vocabularies whose CHECK constraint is gone: {stale}"
    for where, vocabulary in VOCABULARIES.items():
        assert {m.value for m in vocabulary} == checks[where], f"{vocabulary.__name__} differs from {where}'s CHECK"
