"""Health measurements and medication adherence (the Health page), through the health module's own queries.

A chart per measurement kind is the module's `trend` with its daily series (one
index-only scan per kind); adherence is the module's own count of doses due, taken,
skipped and missed. Values are in each kind's canonical unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from butlers.modules.health import units
from butlers.modules.health.env import HealthEnv
from butlers.modules.health.measurements import stored_unit
from butlers.modules.health.medications import MedicationTools
from butlers.modules.health.models import Adherence, DailyPoint, Trend
from butlers.modules.health.times import MAX_PERIOD_DAYS, Period
from butlers.modules.health.trend import trend

__all__ = ["Adherence", "DailyPoint", "HealthView", "Trend", "adherence", "kinds_in", "period_of", "trends"]


@dataclass(frozen=True)
class HealthView:
    """The period shown, a trend (with daily points) per kind measured in it, and medication adherence."""

    period: Period
    trends: tuple[Trend, ...]
    adherence: tuple[Adherence, ...]


def period_of(days: int, until: date | None, tz: ZoneInfo) -> Period:
    """The `days` days through the end of `until` (default today) in `tz`; ValueError naming the bad one."""
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_PERIOD_DAYS}")
    today = datetime.now(tz).date()
    last = until or today
    if last > today + timedelta(days=1):
        raise ValueError("until must not be in the future")
    end = datetime.combine(last + timedelta(days=1), time(0), tz)
    return Period(end - timedelta(days=days), end)


async def kinds_in(pool: asyncpg.Pool, period: Period) -> list[str]:
    """The kinds measured in `period`, built-in ones first in the module's order, then custom ones by name."""
    rows = await pool.fetch(
        "SELECT DISTINCT kind FROM health_measurements WHERE measured_at >= $1 AND measured_at < $2",
        period.start,
        period.end,
    )
    found = {r["kind"] for r in rows}
    return [k for k in units.KINDS if k in found] + sorted(found - set(units.KINDS))


async def _unit(pool: asyncpg.Pool, kind: str) -> units.Unit:
    if units.is_builtin(kind):
        found = units.find_unit(kind, None)
        assert found is not None  # a built-in kind always has its canonical unit
        return found
    return units.Unit(await stored_unit(pool, kind) or "?")


async def trends(pool: asyncpg.Pool, tz: ZoneInfo, period: Period, kinds: list[str] | None = None) -> list[Trend]:
    """The trend of each kind (default: each kind measured in the period), with its daily points."""
    chosen = await kinds_in(pool, period) if kinds is None else kinds
    return [await trend(pool, tz, kind, period, await _unit(pool, kind), True) for kind in chosen]


async def adherence(pool: asyncpg.Pool, tz: ZoneInfo, period: Period) -> list[Adherence]:
    """Per medication taken in the period: doses due (up to now), taken, skipped, missed, and the rate."""
    return await MedicationTools(HealthEnv(pool=pool, tz=tz, notify=None)).adherence(period)


async def health_view(pool: asyncpg.Pool, tz: ZoneInfo, period: Period, kind: str | None = None) -> HealthView:
    """Everything the Health page shows for `period` (one kind only when `kind` is given)."""
    return HealthView(
        period=period,
        trends=tuple(await trends(pool, tz, period, None if kind is None else [kind])),
        adherence=tuple(await adherence(pool, tz, period)),
    )
