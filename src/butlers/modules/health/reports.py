"""Reports over the health records: a summary for a period, CSV export, and CSV import of measurements."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastmcp.exceptions import ToolError
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.health import units
from butlers.modules.health.env import Days, HealthEnv, Since, Until, rounded
from butlers.modules.health.measurements import canonical_values, stored_unit
from butlers.modules.health.medications import MedicationTools
from butlers.modules.health.models import CsvExport, CsvImport, HealthSummary, KindSummary, MealSummary, SymptomSummary
from butlers.modules.health.records import to_condition
from butlers.modules.health.times import parse_instant, parse_period

Table = Literal["measurements", "medications", "doses", "conditions", "symptoms", "meals"]
MAX_CSV_CHARS = 20_000_000
# Each table's export: its columns and the time column the period filters on (None: export all).
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "measurements": ("id, kind, measured_at, value, diastolic, unit, notes", "measured_at"),
    "medications": ("id, name, dose, unit, frequency, times, start_date, stop_date, notes", None),
    "doses": ("id, medication_id, status, taken_at, notes", "taken_at"),
    "conditions": ("id, name, status, since, notes", None),
    "symptoms": ("id, what, severity, occurred_at, notes, condition_id", "occurred_at"),
    "meals": ("id, description, meal, eaten_at, calories, protein_g, carbs_g, fat_g, notes", "eaten_at"),
}
IMPORT_COLUMNS = ("kind", "measured_at", "value", "unit")


def _cell(value: Any, tz: ZoneInfo) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _float(text: str | None, column: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"column '{column}': not a number") from None


class ReportTools:
    def __init__(self, env: HealthEnv, medications: MedicationTools) -> None:
        self.env = env
        self.medications = medications

    async def health_summary(self, since: Since = None, until: Until = None, days: Days = None) -> HealthSummary:
        """A health summary for a period (default the last 30 days): each measured kind (canonical units),
        medication adherence, open conditions, symptoms and meals."""
        period = parse_period("health_summary", since, until, days, self.env.tz)
        pool, args = self.env.pool, (period.start, period.end)
        kinds = await pool.fetch(_KINDS_SQL, *args)
        symptoms = await pool.fetchrow(_SYMPTOMS_SQL, *args)
        top = await pool.fetch(_TOP_SYMPTOMS_SQL, *args)
        meals = await pool.fetchrow(_MEALS_SQL, *args)
        conditions = await pool.fetch(
            "SELECT id, name, status, since, notes FROM health_conditions WHERE status <> 'resolved' ORDER BY lower(name)"
        )
        assert symptoms is not None and meals is not None
        calories = meals["calories"]
        return HealthSummary(
            since=period.start.isoformat(),
            until=period.end.isoformat(),
            measurements=[
                KindSummary(
                    kind=r["kind"],
                    unit=r["unit"],
                    count=r["n"],
                    latest=rounded(r["latest"]),
                    min=rounded(r["lo"]),
                    max=rounded(r["hi"]),
                    average=rounded(r["mean"]),
                )
                for r in kinds
            ],
            medications=await self.medications.adherence(period),
            conditions=[to_condition(r) for r in conditions],
            symptoms=SymptomSummary(
                count=symptoms["n"],
                average_severity=rounded(symptoms["mean"], 2),
                max_severity=symptoms["hi"],
                most_frequent=[r["what"] for r in top],
            ),
            meals=MealSummary(
                count=meals["n"],
                calories_total=rounded(calories),
                calories_per_day=None if calories is None else rounded(calories / period.days, 1),
            ),
        )

    async def health_export_csv(
        self,
        table: Table = "measurements",
        since: Since = None,
        until: Until = None,
        days: Annotated[
            int | None, Field(ge=1, le=3660, description="Without since: the last N days; default everything.")
        ] = None,
    ) -> CsvExport:
        """Export one table as CSV (header row first). Measurements are in canonical units; importable
        back with health_import_csv."""
        tool = "health_export_csv"
        columns, time_column = _EXPORTS[table]
        order = f"{time_column}, id" if time_column else "id"  # time order: a re-import reads back the same
        if time_column is not None and (since or until or days):
            period = parse_period(tool, since, until, days, self.env.tz)
            sql = f"SELECT {columns} FROM health_{table} WHERE {time_column} >= $1 AND {time_column} < $2 ORDER BY {order}"
            records: Sequence[Any] = await self.env.pool.fetch(sql, period.start, period.end)
        else:
            records = await self.env.pool.fetch(f"SELECT {columns} FROM health_{table} ORDER BY {order}")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([c.strip() for c in columns.split(",")])
        writer.writerows([_cell(v, self.env.tz) for v in r.values()] for r in records)
        return CsvExport(table=table, rows=len(records), csv=out.getvalue())

    async def health_import_csv(
        self,
        csv_text: Annotated[
            str,
            Field(
                max_length=MAX_CSV_CHARS,
                description="CSV with a header row: kind, measured_at, value, unit; optional diastolic, notes.",
            ),
        ],
    ) -> CsvImport:
        """Import measurements from CSV (as health_export_csv writes them). Every row is checked first:
        one bad row refuses the whole file. Rows already stored are skipped, so importing twice adds nothing."""
        tool = "health_import_csv"
        rows = await self._parse_rows(tool, csv_text)
        imported = duplicates = 0
        async with self.env.pool.acquire() as conn, conn.transaction():
            for row in rows:
                exists = await conn.fetchval(
                    "SELECT 1 FROM health_measurements WHERE kind = $1 AND measured_at = $2 AND value = $3"
                    " AND diastolic IS NOT DISTINCT FROM $4",
                    *row[:4],
                )
                if exists:
                    duplicates += 1
                    continue
                await conn.execute(
                    "INSERT INTO health_measurements (kind, measured_at, value, diastolic, unit, notes)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    *row,
                )
                imported += 1
        return CsvImport(imported=imported, duplicates=duplicates)

    async def _parse_rows(self, tool: str, text: str) -> list[tuple[Any, ...]]:
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise bad_argument(tool, "csv_text", f"the header lacks the column(s) {', '.join(missing)}")
        custom: dict[str, str] = {}  # a custom kind's unit, fixed by its first row
        rows = []
        for number, row in enumerate(reader, start=2):
            try:
                rows.append(await self._parse_row(tool, row, custom))
            except (ToolError, ValueError) as exc:
                reason = str(exc).removeprefix(f"{tool}: ").replace("argument '", "column '")
                raise bad_argument(tool, "csv_text", f"line {number}: {reason}") from None
        if not rows:
            raise bad_argument(tool, "csv_text", "has no data rows")
        return rows

    async def _parse_row(self, tool: str, row: dict[str, str], custom: dict[str, str]) -> tuple[Any, ...]:
        kind = (row.get("kind") or "").strip()
        if not re.fullmatch(units.KIND_PATTERN, kind):
            raise ValueError("column 'kind': not a kind name (lower case, e.g. weight)")
        value, diastolic = _float(row.get("value"), "value"), _float(row.get("diastolic"), "diastolic")
        unit = (row.get("unit") or "").strip() or None
        when = parse_instant(tool, "measured_at", (row.get("measured_at") or "").strip() or "?", self.env.tz)
        if kind == "blood_pressure":
            high, low, stored, _ = await canonical_values(self.env, tool, kind, None, unit, value, diastolic)
        elif units.is_builtin(kind):
            high, low, stored, _ = await canonical_values(self.env, tool, kind, value, unit)
        else:
            own = custom.setdefault(kind, await stored_unit(self.env.pool, kind) or (unit or ""))
            if value is None or not unit or units.normalise_unit(unit) != units.normalise_unit(own):
                raise ValueError(f"column 'unit': custom kind '{kind}' needs a value in {own or 'one unit'}")
            high, low, stored = value, None, own
        return kind, when, high, low, stored, (row.get("notes") or "").strip()


_KINDS_SQL = """
SELECT kind, min(unit) AS unit, count(*) AS n, min(value) AS lo, max(value) AS hi, avg(value) AS mean,
       (array_agg(value ORDER BY measured_at DESC))[1] AS latest
FROM health_measurements WHERE measured_at >= $1 AND measured_at < $2 GROUP BY kind ORDER BY kind"""
_SYMPTOMS_SQL = """
SELECT count(*) AS n, avg(severity)::float8 AS mean, max(severity) AS hi
FROM health_symptoms WHERE occurred_at >= $1 AND occurred_at < $2"""
_TOP_SYMPTOMS_SQL = """
SELECT lower(what) AS what, count(*) FROM health_symptoms WHERE occurred_at >= $1 AND occurred_at < $2
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3"""
_MEALS_SQL = """
SELECT count(*) AS n, sum(calories) AS calories FROM health_meals WHERE eaten_at >= $1 AND eaten_at < $2"""
