"""Medication tools: the medication list, each dose taken or skipped, adherence, and the due digest."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import NotifyRequest, delivered
from butlers.modules.health.env import At, Days, HealthEnv, Notes, RowId, Since, Until, clean_text
from butlers.modules.health.models import (
    Adherence,
    AdherenceReport,
    Digest,
    Dose,
    DoseStatus,
    DueDose,
    Frequency,
    Medication,
)
from butlers.modules.health.times import Period, now, parse_date, parse_instant, parse_period, parse_time_of_day

Name = Annotated[str, Field(min_length=1, max_length=200, description="The medication's name, e.g. 'Metformin'.")]
DoseArg = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False, description="The amount per dose.")]
DoseUnit = Annotated[str, Field(min_length=1, max_length=24, description="The dose's unit: mg, µg, IU, ml, tablet...")]
Times = Annotated[
    list[str] | None,
    Field(
        max_length=24,
        description="Times of day each dose is due, HH:MM (e.g. ['08:00', '20:00']); "
        "required for daily and weekly, none for as_needed.",
    ),
]
StartDate = Annotated[str | None, Field(description="First day (YYYY-MM-DD); default today.")]
StopDate = Annotated[str | None, Field(description="Last day (YYYY-MM-DD); none while ongoing.")]
_COLUMNS = "id, name, dose, unit, frequency, times, start_date, stop_date, notes"


def _active(record: asyncpg.Record, today: date) -> bool:
    stop = record["stop_date"]
    return bool(record["start_date"] <= today and (stop is None or stop >= today))


def to_medication(record: asyncpg.Record, today: date) -> Medication:
    return Medication(
        id=record["id"],
        name=record["name"],
        dose=record["dose"],
        unit=record["unit"],
        frequency=Frequency(record["frequency"]),
        times=list(record["times"]),
        start=record["start_date"].isoformat(),
        stop=record["stop_date"].isoformat() if record["stop_date"] else None,
        notes=record["notes"],
        active=_active(record, today),
    )


def clean_times(tool: str, frequency: Frequency, times: list[str] | None) -> list[str]:
    if frequency is Frequency.AS_NEEDED:
        if times:
            raise bad_argument(tool, "times", "as_needed medication has no set times")
        return []
    if not times:
        raise bad_argument(tool, "times", f"{frequency} medication needs at least one time, e.g. ['08:00']")
    parsed = sorted({parse_time_of_day(tool, "times", t) for t in times})
    return [t.strftime("%H:%M") for t in parsed]


def scheduled_doses(record: asyncpg.Record, period: Period, tz: ZoneInfo) -> list[datetime]:
    """When each dose of `record` was due within `period` (nothing for as-needed medication)."""
    if record["frequency"] == Frequency.AS_NEEDED:
        return []
    first = max(record["start_date"], period.start.astimezone(tz).date())
    last = period.end.astimezone(tz).date()
    if record["stop_date"] is not None:
        last = min(last, record["stop_date"])
    times = [time.fromisoformat(t) for t in record["times"]]
    out: list[datetime] = []
    day = first
    while day <= last:
        if record["frequency"] == Frequency.DAILY or day.weekday() == record["start_date"].weekday():
            out.extend(d for t in times if period.start <= (d := datetime.combine(day, t, tz)) < period.end)
        day += timedelta(days=1)
    return out


class MedicationTools:
    def __init__(self, env: HealthEnv) -> None:
        self.env = env

    async def _medication(self, tool: str, argument: str, id: int) -> asyncpg.Record:
        record = await self.env.pool.fetchrow(f"SELECT {_COLUMNS} FROM health_medications WHERE id = $1", id)
        if record is None:
            raise bad_argument(tool, argument, f"no medication with id {id}")
        return record

    async def health_medication_add(
        self,
        name: Name,
        dose: DoseArg,
        unit: DoseUnit,
        frequency: Frequency = Frequency.DAILY,
        times: Times = None,
        start: StartDate = None,
        stop: StopDate = None,
        notes: Notes = "",
    ) -> Medication:
        """Add a medication the user takes: name, dose and unit, how often, at which times, from when to when."""
        tool = "health_medication_add"
        clean_name = clean_text(tool, "name", name)
        clean_unit = clean_text(tool, "unit", unit, 24)
        day_times = clean_times(tool, frequency, times)
        today = now(self.env.tz).date()
        first = today if start is None else parse_date(tool, "start", start, self.env.tz)
        last = None if stop is None else parse_date(tool, "stop", stop, self.env.tz)
        if last is not None and last < first:
            raise bad_argument(tool, "stop", "must not be before start")
        record = await self.env.pool.fetchrow(
            "INSERT INTO health_medications (name, dose, unit, frequency, times, start_date, stop_date, notes)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
            clean_name,
            dose,
            clean_unit,
            frequency.value,
            day_times,
            first,
            last,
            notes.strip(),
        )
        assert record is not None
        return to_medication(record, today)

    async def health_medication_list(
        self, active_only: Annotated[bool, Field(description="Only those taken today.")] = True
    ) -> list[Medication]:
        """The medications, by name; by default only the active ones."""
        today = now(self.env.tz).date()
        records = await self.env.pool.fetch(f"SELECT {_COLUMNS} FROM health_medications ORDER BY lower(name), id")
        return [to_medication(r, today) for r in records if not active_only or _active(r, today)]

    async def health_medication_update(
        self,
        id: RowId,
        dose: DoseArg | None = None,
        unit: Annotated[str | None, Field(max_length=24)] = None,
        times: Times = None,
        stop: StopDate = None,
        notes: Annotated[str | None, Field(max_length=2000)] = None,
    ) -> Medication:
        """Change a medication's dose, unit, times or notes, or stop it (stop = last day, YYYY-MM-DD)."""
        tool = "health_medication_update"
        record = await self._medication(tool, "id", id)
        new_times = None if times is None else clean_times(tool, Frequency(record["frequency"]), times)
        new_unit = None if unit is None else clean_text(tool, "unit", unit, 24)
        last = None if stop is None else parse_date(tool, "stop", stop, self.env.tz)
        if last is not None and last < record["start_date"]:
            raise bad_argument(tool, "stop", "must not be before the medication's start")
        updated = await self.env.pool.fetchrow(
            "UPDATE health_medications SET dose = coalesce($2, dose), unit = coalesce($3, unit),"
            " times = coalesce($4, times), stop_date = coalesce($5, stop_date), notes = coalesce($6, notes)"
            f" WHERE id = $1 RETURNING {_COLUMNS}",
            id,
            dose,
            new_unit,
            new_times,
            last,
            None if notes is None else notes.strip(),
        )
        assert updated is not None
        return to_medication(updated, now(self.env.tz).date())

    async def health_dose_record(
        self, medication_id: RowId, status: DoseStatus = DoseStatus.TAKEN, at: At = None, notes: Notes = ""
    ) -> Dose:
        """Record one dose of a medication as taken (default) or skipped, at a time (default now)."""
        tool = "health_dose_record"
        medication = await self._medication(tool, "medication_id", medication_id)
        when = parse_instant(tool, "at", at, self.env.tz)
        if when > now(self.env.tz) + timedelta(minutes=10):
            raise bad_argument(tool, "at", "must not be in the future")
        if when.astimezone(self.env.tz).date() < medication["start_date"]:
            raise bad_argument(tool, "at", "is before the medication's start")
        record = await self.env.pool.fetchrow(
            "INSERT INTO health_doses (medication_id, status, taken_at, notes) VALUES ($1, $2, $3, $4)"
            " RETURNING id, status, taken_at, notes",
            medication_id,
            status.value,
            when,
            notes.strip(),
        )
        assert record is not None
        return Dose(
            id=record["id"],
            medication_id=medication_id,
            medication=medication["name"],
            status=DoseStatus(record["status"]),
            at=record["taken_at"].astimezone(self.env.tz).isoformat(),
            notes=record["notes"],
        )

    async def adherence(self, period: Period, medication_id: int | None = None) -> list[Adherence]:
        """Per medication: doses due in the period (up to now), taken, skipped, missed."""
        end = min(period.end, now(self.env.tz))
        upto = Period(period.start, max(end, period.start))
        where = "" if medication_id is None else " WHERE id = $1"
        records = await self.env.pool.fetch(
            f"SELECT {_COLUMNS} FROM health_medications{where} ORDER BY lower(name), id",
            *([] if medication_id is None else [medication_id]),
        )
        counts = await self.env.pool.fetch(
            "SELECT medication_id, status, count(*) AS n FROM health_doses"
            " WHERE taken_at >= $1 AND taken_at < $2 GROUP BY 1, 2",
            period.start,
            period.end,
        )
        tally = {(r["medication_id"], r["status"]): r["n"] for r in counts}
        out = []
        for r in records:
            if r["start_date"] > upto.end.astimezone(self.env.tz).date():
                continue  # not started within the period
            taken, skipped = tally.get((r["id"], "taken"), 0), tally.get((r["id"], "skipped"), 0)
            expected = None if r["frequency"] == Frequency.AS_NEEDED else len(scheduled_doses(r, upto, self.env.tz))
            missed = None if expected is None else max(expected - taken - skipped, 0)
            rate = None if not expected else round(min(taken / expected, 1.0), 4)
            out.append(
                Adherence(
                    medication_id=r["id"],
                    medication=r["name"],
                    frequency=Frequency(r["frequency"]),
                    expected=expected,
                    taken=taken,
                    skipped=skipped,
                    missed=missed,
                    rate=rate,
                )
            )
        return out

    async def health_adherence(
        self, medication_id: RowId | None = None, since: Since = None, until: Until = None, days: Days = None
    ) -> AdherenceReport:
        """How well medication was taken over a period (default the last 30 days): doses due, taken,
        skipped and missed, and the rate taken/due."""
        tool = "health_adherence"
        if medication_id is not None:
            await self._medication(tool, "medication_id", medication_id)
        period = parse_period(tool, since, until, days, self.env.tz)
        meds = await self.adherence(period, medication_id)
        return AdherenceReport(since=period.start.isoformat(), until=period.end.isoformat(), medications=meds)

    async def due(self, tool: str, at: datetime, within_minutes: int) -> list[DueDose]:
        window = Period(at, at + timedelta(minutes=within_minutes))
        margin = timedelta(minutes=within_minutes)
        records = await self.env.pool.fetch(f"SELECT {_COLUMNS} FROM health_medications ORDER BY lower(name), id")
        items: list[DueDose] = []
        for r in records:
            for when in scheduled_doses(r, window, self.env.tz):
                recorded = await self.env.pool.fetchval(
                    "SELECT count(*) FROM health_doses WHERE medication_id = $1 AND taken_at BETWEEN $2 AND $3",
                    r["id"],
                    when - margin,
                    when + margin,
                )
                if not recorded and _active(r, when.date()):
                    items.append(
                        DueDose(
                            medication_id=r["id"],
                            medication=r["name"],
                            dose=r["dose"],
                            unit=r["unit"],
                            time=when.strftime("%H:%M"),
                        )
                    )
        return sorted(items, key=lambda d: (d.time, d.medication.lower()))

    async def health_medication_due(
        self,
        within_minutes: Annotated[
            int, Field(ge=1, le=1440, description="Doses due from now to this many minutes on.")
        ] = 60,
        at: At = None,
    ) -> Digest:
        """One message listing the medication doses due in the next `within_minutes` not yet recorded;
        sent through notify when the butler has it (meant for a tool-mode schedule)."""
        tool = "health_medication_due"
        items = await self.due(tool, parse_instant(tool, "at", at, self.env.tz), within_minutes)
        if not items:
            return Digest(message="No medication due.", items=[], delivered=False)
        listed = "; ".join(f"{d.time} {d.medication} {d.dose:g} {d.unit}" for d in items)
        message = f"Medication due: {listed}."
        if self.env.notify is None:
            return Digest(message=message, items=items, delivered=False)
        notification = await self.env.notify(NotifyRequest(message))
        return Digest(message=message, items=items, delivered=delivered(notification), notification=notification)
