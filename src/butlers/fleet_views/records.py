"""What the fleet's read queries return: frozen, typed records (converted to JSON only at the edges)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class DaySpend:
    """One butler's finished sessions on one day (in the host's time zone)."""

    butler: str
    day: date
    sessions: int
    cost_usd: float


@dataclass(frozen=True)
class ScheduleSpend:
    """One butler's finished sessions fired by one schedule; `schedule` None: not from a schedule."""

    butler: str
    schedule: str | None
    sessions: int
    cost_usd: float
    last_finished_at: datetime | None


@dataclass(frozen=True)
class CostlySession:
    """A finished session, for the "most expensive sessions" list."""

    butler: str
    session_id: uuid.UUID
    trigger_source: str
    schedule: str | None
    status: str
    finished_at: datetime
    cost_usd: float
    model: str | None
    prompt: str  # the first 200 characters


@dataclass(frozen=True)
class BudgetUse:
    """A butler's daily budget (None: none set) against what its sessions cost today."""

    butler: str
    daily_budget_usd: float | None
    spent_today_usd: float
    reached: bool  # spent_today_usd >= daily_budget_usd: new sessions are refused until midnight


@dataclass(frozen=True)
class CeilingState:
    """This calendar month's recorded cost across the fleet, against the monthly ceiling (None: unset)."""

    month_start: datetime
    next_month_start: datetime
    spent_usd: float
    by_butler: dict[str, float]
    ceiling_usd: float | None
    reached: bool  # spent_usd >= ceiling_usd: new sessions of every butler are refused
    remaining_usd: float | None
    # Butlers whose database could not be read (not started, database away): their cost is missing.
    unread: tuple[str, ...] = ()


@dataclass(frozen=True)
class FleetSpend:
    """The spend page in one record: every butler's figures since `since`."""

    since: datetime
    by_day: list[DaySpend]
    by_schedule: list[ScheduleSpend]
    costliest: list[CostlySession]
    budgets: list[BudgetUse]
    total_usd: float
    unread: tuple[str, ...] = ()
