"""What the health tools return (their output schemas) and the status vocabularies."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

# One line a vocabulary, each mirrored by the CHECK on the column named; StrEnum's functional API
# gives each member its name in lower case as its value.
Frequency = StrEnum("Frequency", ["DAILY", "WEEKLY", "AS_NEEDED"])  # health_medications.frequency
DoseStatus = StrEnum("DoseStatus", ["TAKEN", "SKIPPED"])  # health_doses.status
ConditionStatus = StrEnum("ConditionStatus", ["ACTIVE", "MANAGED", "RESOLVED"])  # health_conditions.status
MealKind = StrEnum("MealKind", ["BREAKFAST", "LUNCH", "DINNER", "SNACK", "OTHER"])  # health_meals.meal


class KindInfo(BaseModel):
    kind: str
    canonical_unit: str
    units: list[str]
    builtin: bool
    count: int


class Measurement(BaseModel):
    id: int
    kind: str
    value: float  # systolic for blood pressure
    diastolic: float | None = None
    unit: str
    measured_at: str
    notes: str


class Stats(BaseModel):
    count: int
    min: float | None
    max: float | None
    average: float | None
    first: float | None
    latest: float | None
    change: float | None  # latest - first
    slope_per_week: float | None  # least-squares trend


class DailyPoint(BaseModel):
    day: str
    count: int
    average: float
    min: float
    max: float
    diastolic_average: float | None = None


class Trend(BaseModel):
    kind: str
    unit: str
    since: str
    until: str
    latest_at: str | None
    direction: str  # rising, falling, steady, or "no data"
    value: Stats
    diastolic: Stats | None = None
    daily: list[DailyPoint] | None = None  # only when asked for


class Medication(BaseModel):
    id: int
    name: str
    dose: float
    unit: str
    frequency: Frequency
    times: list[str]
    start: str
    stop: str | None
    notes: str
    active: bool


class Dose(BaseModel):
    id: int
    medication_id: int
    medication: str
    status: DoseStatus
    at: str
    notes: str


class Adherence(BaseModel):
    medication_id: int
    medication: str
    frequency: Frequency
    expected: int | None  # None for as-needed medication
    taken: int
    skipped: int
    missed: int | None
    rate: float | None  # taken / expected, 0..1


class AdherenceReport(BaseModel):
    since: str
    until: str
    medications: list[Adherence]


class DueDose(BaseModel):
    medication_id: int
    medication: str
    dose: float
    unit: str
    time: str


class Digest(BaseModel):
    message: str
    items: list[DueDose]
    delivered: bool
    notification: dict[str, object] | None = None


class Condition(BaseModel):
    id: int
    name: str
    status: ConditionStatus
    since: str | None
    notes: str


class Symptom(BaseModel):
    id: int
    what: str
    severity: int
    at: str
    notes: str
    condition_id: int | None
    condition: str | None


class Meal(BaseModel):
    id: int
    description: str
    meal: MealKind
    at: str
    calories: float | None
    protein_g: float | None
    carbs_g: float | None
    fat_g: float | None
    notes: str


class Deleted(BaseModel):
    deleted: int


class KindSummary(BaseModel):
    kind: str
    unit: str
    count: int
    latest: float | None
    min: float | None
    max: float | None
    average: float | None


class SymptomSummary(BaseModel):
    count: int
    average_severity: float | None
    max_severity: int | None
    most_frequent: list[str]


class MealSummary(BaseModel):
    count: int
    calories_total: float | None
    calories_per_day: float | None


class HealthSummary(BaseModel):
    since: str
    until: str
    measurements: list[KindSummary]
    medications: list[Adherence]
    conditions: list[Condition]
    symptoms: SymptomSummary
    meals: MealSummary


class CsvExport(BaseModel):
    table: str
    rows: int
    csv: str


class CsvImport(BaseModel):
    imported: int
    duplicates: int
