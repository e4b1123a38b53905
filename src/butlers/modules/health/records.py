"""Condition, symptom and meal tools."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.health.env import At, Days, HealthEnv, Limit, Notes, RowId, Since, Until, clean_text
from butlers.modules.health.models import Condition, ConditionStatus, Meal, MealKind, Symptom
from butlers.modules.health.times import now, parse_date, parse_instant, parse_period

SinceDate = Annotated[str | None, Field(description="Since when (YYYY-MM-DD), if known.")]
Severity = Annotated[int, Field(ge=1, le=10, description="How bad, 1 (barely) to 10 (worst imaginable).")]
Nutrient = Annotated[float | None, Field(ge=0, le=100_000, allow_inf_nan=False)]
_CONDITION = "id, name, status, since, notes"
_SYMPTOM = "s.id, s.what, s.severity, s.occurred_at, s.notes, s.condition_id, c.name AS condition"
_MEAL = "id, description, meal, eaten_at, calories, protein_g, carbs_g, fat_g, notes"


def to_condition(r: asyncpg.Record) -> Condition:
    since = r["since"].isoformat() if r["since"] else None
    return Condition(id=r["id"], name=r["name"], status=ConditionStatus(r["status"]), since=since, notes=r["notes"])


def _symptom(r: asyncpg.Record, tz: ZoneInfo) -> Symptom:
    return Symptom(
        id=r["id"],
        what=r["what"],
        severity=r["severity"],
        at=r["occurred_at"].astimezone(tz).isoformat(),
        notes=r["notes"],
        condition_id=r["condition_id"],
        condition=r["condition"],
    )


def _meal(r: asyncpg.Record, tz: ZoneInfo) -> Meal:
    return Meal(
        id=r["id"],
        description=r["description"],
        meal=MealKind(r["meal"]),
        at=r["eaten_at"].astimezone(tz).isoformat(),
        calories=r["calories"],
        protein_g=r["protein_g"],
        carbs_g=r["carbs_g"],
        fat_g=r["fat_g"],
        notes=r["notes"],
    )


class RecordTools:
    def __init__(self, env: HealthEnv) -> None:
        self.env = env

    def _past(self, tool: str, at: str | None) -> datetime:
        when = parse_instant(tool, "at", at, self.env.tz)
        if when > now(self.env.tz) + timedelta(minutes=10):
            raise bad_argument(tool, "at", "must not be in the future")
        return when

    async def health_condition_add(
        self,
        name: Annotated[str, Field(min_length=1, max_length=200, description="e.g. 'asthma'.")],
        status: ConditionStatus = ConditionStatus.ACTIVE,
        since: SinceDate = None,
        notes: Notes = "",
    ) -> Condition:
        """Record a health condition (diagnosis or long-term issue) with its status and since when."""
        tool = "health_condition_add"
        clean = clean_text(tool, "name", name)
        day = None if since is None else parse_date(tool, "since", since, self.env.tz)
        record = await self.env.pool.fetchrow(
            f"INSERT INTO health_conditions (name, status, since, notes) VALUES ($1, $2, $3, $4) RETURNING {_CONDITION}",
            clean,
            status.value,
            day,
            notes.strip(),
        )
        assert record is not None
        return to_condition(record)

    async def health_condition_update(
        self,
        id: RowId,
        status: ConditionStatus | None = None,
        since: SinceDate = None,
        notes: Annotated[str | None, Field(max_length=2000)] = None,
    ) -> Condition:
        """Change a condition's status (active, managed, resolved), since-date or notes."""
        tool = "health_condition_update"
        day = None if since is None else parse_date(tool, "since", since, self.env.tz)
        record = await self.env.pool.fetchrow(
            "UPDATE health_conditions SET status = coalesce($2, status), since = coalesce($3, since),"
            f" notes = coalesce($4, notes), updated_at = now() WHERE id = $1 RETURNING {_CONDITION}",
            id,
            None if status is None else status.value,
            day,
            None if notes is None else notes.strip(),
        )
        if record is None:
            raise bad_argument(tool, "id", f"no condition with id {id}")
        return to_condition(record)

    async def health_condition_list(self, status: ConditionStatus | None = None) -> list[Condition]:
        """The conditions, by name; optionally only those with one status."""
        if status is None:
            records = await self.env.pool.fetch(f"SELECT {_CONDITION} FROM health_conditions ORDER BY lower(name), id")
        else:
            records = await self.env.pool.fetch(
                f"SELECT {_CONDITION} FROM health_conditions WHERE status = $1 ORDER BY lower(name), id", status.value
            )
        return [to_condition(r) for r in records]

    async def health_symptom_add(
        self,
        what: Annotated[str, Field(min_length=1, max_length=200, description="e.g. 'headache'.")],
        severity: Severity,
        at: At = None,
        notes: Notes = "",
        condition_id: Annotated[int | None, Field(ge=1, description="A condition it belongs to.")] = None,
    ) -> Symptom:
        """Record a symptom: what, how bad (1-10), when, notes, optionally the condition it belongs to."""
        tool = "health_symptom_add"
        clean = clean_text(tool, "what", what)
        when = self._past(tool, at)
        if condition_id is not None:
            exists = await self.env.pool.fetchval("SELECT 1 FROM health_conditions WHERE id = $1", condition_id)
            if exists is None:
                raise bad_argument(tool, "condition_id", f"no condition with id {condition_id}")
        new_id = await self.env.pool.fetchval(
            "INSERT INTO health_symptoms (what, severity, occurred_at, notes, condition_id)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id",
            clean,
            severity,
            when,
            notes.strip(),
            condition_id,
        )
        record = await self.env.pool.fetchrow(
            f"SELECT {_SYMPTOM} FROM health_symptoms s LEFT JOIN health_conditions c ON c.id = s.condition_id"
            " WHERE s.id = $1",
            new_id,
        )
        assert record is not None
        return _symptom(record, self.env.tz)

    async def health_symptom_list(
        self,
        since: Since = None,
        until: Until = None,
        days: Days = None,
        condition_id: Annotated[int | None, Field(ge=1)] = None,
        limit: Limit = 100,
    ) -> list[Symptom]:
        """Symptoms in a period (default the last 30 days), newest first; optionally of one condition."""
        period = parse_period("health_symptom_list", since, until, days, self.env.tz)
        records = await self.env.pool.fetch(
            f"SELECT {_SYMPTOM} FROM health_symptoms s LEFT JOIN health_conditions c ON c.id = s.condition_id"
            " WHERE s.occurred_at >= $1 AND s.occurred_at < $2 AND ($3::bigint IS NULL OR s.condition_id = $3)"
            " ORDER BY s.occurred_at DESC, s.id DESC LIMIT $4",
            period.start,
            period.end,
            condition_id,
            limit,
        )
        return [_symptom(r, self.env.tz) for r in records]

    async def health_meal_add(
        self,
        description: Annotated[str, Field(min_length=1, max_length=500, description="What was eaten.")],
        meal: MealKind = MealKind.OTHER,
        at: At = None,
        calories: Nutrient = None,
        protein_g: Nutrient = None,
        carbs_g: Nutrient = None,
        fat_g: Nutrient = None,
        notes: Notes = "",
    ) -> Meal:
        """Record a meal, with nutrition (kcal, grams of protein, carbs and fat) when known."""
        tool = "health_meal_add"
        clean = clean_text(tool, "description", description, 500)
        when = self._past(tool, at)
        record = await self.env.pool.fetchrow(
            "INSERT INTO health_meals (description, meal, eaten_at, calories, protein_g, carbs_g, fat_g, notes)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_MEAL}",
            clean,
            meal.value,
            when,
            calories,
            protein_g,
            carbs_g,
            fat_g,
            notes.strip(),
        )
        assert record is not None
        return _meal(record, self.env.tz)

    async def health_meal_list(
        self, since: Since = None, until: Until = None, days: Days = None, limit: Limit = 100
    ) -> list[Meal]:
        """Meals in a period (default the last 30 days), newest first."""
        period = parse_period("health_meal_list", since, until, days, self.env.tz)
        records = await self.env.pool.fetch(
            f"SELECT {_MEAL} FROM health_meals WHERE eaten_at >= $1 AND eaten_at < $2"
            " ORDER BY eaten_at DESC, id DESC LIMIT $3",
            period.start,
            period.end,
            limit,
        )
        return [_meal(r, self.env.tz) for r in records]
