"""Measurement tools: add, list, delete, the kinds known, and a trend over a period."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.health import units
from butlers.modules.health.env import At, Days, HealthEnv, Limit, Notes, RowId, Since, Until, rounded
from butlers.modules.health.models import Deleted, KindInfo, Measurement, Trend
from butlers.modules.health.times import now, parse_instant, parse_period
from butlers.modules.health.trend import trend

KindArg = Annotated[
    str,
    Field(
        pattern=units.KIND_PATTERN,
        description="weight, blood_pressure, heart_rate, glucose, temperature, sleep, steps, "
        "or a custom kind in lower case (e.g. 'waist', 'peak_flow').",
    ),
]
UnitArg = Annotated[
    str | None,
    Field(
        max_length=units.MAX_CUSTOM_UNIT,
        description="weight: kg|lb; glucose: mmol/L|mg/dL; temperature: °C|°F; sleep: h|min; "
        "blood_pressure: mmHg; heart_rate: bpm; steps: steps. Default: the kind's canonical unit. "
        "Required for a custom kind.",
    ),
]
Value = Annotated[float | None, Field(allow_inf_nan=False, description="The value, in `unit`.")]
Pressure = Annotated[float | None, Field(allow_inf_nan=False, description="Blood pressure only, in mmHg.")]
_COLUMNS = "id, kind, value, diastolic, unit, measured_at, notes"
_WHERE = "kind = $1 AND measured_at >= $2 AND measured_at < $3"
FUTURE_SKEW = timedelta(minutes=10)


async def stored_unit(pool: asyncpg.Pool, kind: str) -> str | None:
    """The unit a custom kind was first recorded in (its canonical unit)."""
    unit: str | None = await pool.fetchval("SELECT unit FROM health_measurements WHERE kind = $1 LIMIT 1", kind)
    return unit


async def output_unit(env: HealthEnv, tool: str, kind: str, unit: str | None) -> units.Unit:
    """The unit to answer in; a custom kind answers only in its own unit."""
    if units.is_builtin(kind):
        found = units.find_unit(kind, unit)
        if found is None:
            raise bad_argument(tool, "unit", f"{kind} takes {', '.join(units.KINDS[kind].unit_names)}")
        return found
    own = await stored_unit(env.pool, kind)
    if unit is not None and own is not None and units.normalise_unit(unit) != units.normalise_unit(own):
        raise bad_argument(tool, "unit", f"custom kind '{kind}' is recorded in {own} and cannot be converted")
    return units.Unit(own or (unit or "").strip() or "?")


def to_measurement(record: asyncpg.Record, unit: units.Unit, tz: ZoneInfo) -> Measurement:
    diastolic = record["diastolic"]
    return Measurement(
        id=record["id"],
        kind=record["kind"],
        value=rounded(unit.from_canonical(record["value"])) or 0.0,
        diastolic=rounded(unit.from_canonical(diastolic)) if diastolic is not None else None,
        unit=unit.name,
        measured_at=record["measured_at"].astimezone(tz).isoformat(),
        notes=record["notes"],
    )


def _check_builtin(tool: str, kind: str, canonical: float, argument: str) -> None:
    spec = units.KINDS[kind]
    if not units.in_range(kind, canonical):
        raise bad_argument(tool, argument, f"out of range for {kind} ({spec.low}-{spec.high} {spec.canonical})")
    if spec.integer and not float(canonical).is_integer():
        raise bad_argument(tool, argument, f"{kind} is a whole number")


def _pressure(tool: str, systolic: float | None, diastolic: float | None, value: float | None) -> tuple[float, float]:
    if value is not None:
        raise bad_argument(tool, "value", "blood_pressure takes systolic and diastolic, not value")
    if systolic is None:
        raise bad_argument(tool, "systolic", "blood_pressure needs systolic and diastolic")
    if diastolic is None:
        raise bad_argument(tool, "diastolic", "blood_pressure needs systolic and diastolic")
    _check_builtin(tool, "blood_pressure", systolic, "systolic")
    if not units.DIASTOLIC_LOW <= diastolic <= units.DIASTOLIC_HIGH or not float(diastolic).is_integer():
        raise bad_argument(tool, "diastolic", f"must be a whole number {units.DIASTOLIC_LOW}-{units.DIASTOLIC_HIGH}")
    if diastolic >= systolic:
        raise bad_argument(tool, "diastolic", "must be lower than systolic")
    return systolic, diastolic


async def canonical_values(
    env: HealthEnv,
    tool: str,
    kind: str,
    value: float | None,
    unit: str | None,
    systolic: float | None = None,
    diastolic: float | None = None,
) -> tuple[float, float | None, str, units.Unit]:
    """Validate one reading; return (value, diastolic, stored unit, unit given) with values canonical."""
    if kind == "blood_pressure":
        unit_used = await output_unit(env, tool, kind, unit)
        high, low = _pressure(tool, systolic, diastolic, value)
        return high, low, "mmHg", unit_used
    if systolic is not None or diastolic is not None:
        raise bad_argument(tool, "systolic" if systolic is not None else "diastolic", "only for blood_pressure")
    if value is None:
        raise bad_argument(tool, "value", f"{kind} needs a value")
    if not units.is_builtin(kind):
        if unit is None or not unit.strip():
            raise bad_argument(tool, "unit", f"custom kind '{kind}' needs a unit")
        unit_used = await output_unit(env, tool, kind, unit)
        return value, None, unit_used.name, unit_used
    unit_used = await output_unit(env, tool, kind, unit)
    canonical = unit_used.to_canonical(value)
    _check_builtin(tool, kind, canonical, "value")
    return canonical, None, units.KINDS[kind].canonical, unit_used


class MeasurementTools:
    def __init__(self, env: HealthEnv) -> None:
        self.env = env

    async def health_measurement_add(
        self,
        kind: KindArg,
        value: Value = None,
        unit: UnitArg = None,
        systolic: Pressure = None,
        diastolic: Pressure = None,
        at: At = None,
        notes: Notes = "",
    ) -> Measurement:
        """Record a measurement: a value and unit, or for blood_pressure systolic and diastolic (mmHg).

        Stored in the kind's canonical unit, returned in the unit given."""
        tool = "health_measurement_add"
        when = parse_instant(tool, "at", at, self.env.tz)
        if when > now(self.env.tz) + FUTURE_SKEW:
            raise bad_argument(tool, "at", "must not be in the future")
        high, low, stored, unit_used = await canonical_values(self.env, tool, kind, value, unit, systolic, diastolic)
        record = await self.env.pool.fetchrow(
            f"INSERT INTO health_measurements (kind, value, diastolic, unit, measured_at, notes)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            kind,
            high,
            low,
            stored,
            when,
            notes.strip(),
        )
        assert record is not None
        return to_measurement(record, unit_used, self.env.tz)

    async def health_measurement_list(
        self,
        kind: KindArg | None = None,
        since: Since = None,
        until: Until = None,
        days: Days = None,
        unit: UnitArg = None,
        limit: Limit = 50,
    ) -> list[Measurement]:
        """Measurements in a period (default the last 30 days), newest first; one kind, or all."""
        tool = "health_measurement_list"
        period = parse_period(tool, since, until, days, self.env.tz)
        if kind is None:
            if unit is not None:
                raise bad_argument(tool, "unit", "give a kind to convert to a unit")
            records = await self.env.pool.fetch(
                f"SELECT {_COLUMNS} FROM health_measurements WHERE measured_at >= $1 AND measured_at < $2"
                " ORDER BY measured_at DESC, id DESC LIMIT $3",
                period.start,
                period.end,
                limit,
            )
            return [to_measurement(r, units.Unit(r["unit"]), self.env.tz) for r in records]
        unit_used = await output_unit(self.env, tool, kind, unit)
        records = await self.env.pool.fetch(
            f"SELECT {_COLUMNS} FROM health_measurements WHERE {_WHERE} ORDER BY measured_at DESC, id DESC LIMIT $4",
            kind,
            period.start,
            period.end,
            limit,
        )
        return [to_measurement(r, unit_used, self.env.tz) for r in records]

    async def health_measurement_delete(self, id: RowId) -> Deleted:
        """Delete one measurement by id (e.g. one recorded by mistake)."""
        deleted = await self.env.pool.fetchval("DELETE FROM health_measurements WHERE id = $1 RETURNING id", id)
        if deleted is None:
            raise bad_argument("health_measurement_delete", "id", f"no measurement with id {id}")
        return Deleted(deleted=deleted)

    async def health_kinds(self) -> list[KindInfo]:
        """The measurement kinds: built-in ones with the units they accept, and custom ones in use."""
        rows = await self.env.pool.fetch(
            "SELECT kind, min(unit) AS unit, count(*) AS n FROM health_measurements GROUP BY kind"
        )
        counts = {r["kind"]: (r["unit"], r["n"]) for r in rows}
        out = [
            KindInfo(
                kind=k.name,
                canonical_unit=k.canonical,
                units=k.unit_names,
                builtin=True,
                count=counts.get(k.name, ("", 0))[1],
            )
            for k in units.KINDS.values()
        ]
        for kind, (unit, n) in sorted(counts.items()):
            if not units.is_builtin(kind):
                out.append(KindInfo(kind=kind, canonical_unit=unit, units=[unit], builtin=False, count=n))
        return out

    async def health_trend(
        self,
        kind: KindArg,
        since: Since = None,
        until: Until = None,
        days: Days = None,
        unit: UnitArg = None,
        daily: Annotated[bool, Field(description="Also the average, min and max of each day.")] = False,
    ) -> Trend:
        """Latest, first, min, max, average, change and least-squares slope of one kind over a period
        (default the last 90 days), and with daily=true the daily averages."""
        tool = "health_trend"
        period = parse_period(tool, since, until, days, self.env.tz, default_days=90)
        unit_used = await output_unit(self.env, tool, kind, unit)
        return await trend(self.env.pool, self.env.tz, kind, period, unit_used, daily)
