"""The health butler's tools over real MCP HTTP against the embedded PostgreSQL.

One butler serves the whole module; each test works in its own stretch of past
dates (or its own kind), so tests do not see each other's rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from domain_helpers import LiveButler, call, live_butler
from fastmcp import Client

from butlers.db import ServerAddress
from butlers.modules.health import HealthModule
from butlers.testing.module_contract import check_module_contract
from butlers.testing.postgres import TestPostgres

HEALTH = '[modules.health]\ntimezone = "Europe/Berlin"\n'


@pytest.fixture(scope="module")
def health(pg: TestPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveButler]:
    with live_butler(pg, tmp_path_factory.mktemp("health") / "health", "health", HEALTH) as live:
        yield live


@pytest.fixture
async def client(health: LiveButler) -> AsyncIterator[Client]:
    async with Client(health.url) as c:
        yield c


async def test_units_are_converted_both_ways_and_stored_canonical(client: Client, health: LiveButler) -> None:
    day = {"since": "2024-01-01", "until": "2024-01-01"}
    weight = await call(client, "health_measurement_add", kind="weight", value=81.2, unit="kg", at="2024-01-01T07:00")
    assert (weight["value"], weight["unit"], weight["measured_at"]) == (81.2, "kg", "2024-01-01T07:00:00+01:00")
    in_lb = await call(client, "health_measurement_list", kind="weight", unit="lb", **day)
    assert [(m["value"], m["unit"]) for m in in_lb] == [(179.015, "lb")]
    pounds = await call(client, "health_measurement_add", kind="weight", value=180, unit="LBS", at="2024-01-01T08:00")
    assert (pounds["value"], pounds["unit"]) == (180, "lb")  # answered in the unit given
    stored = health.fetchval("SELECT value FROM health_measurements WHERE id = $1", pounds["id"])
    assert stored == pytest.approx(81.6466266)  # kept in kg

    glucose = await call(client, "health_measurement_add", kind="glucose", value=99, unit="mg/dl", at="2024-01-01")
    assert health.fetchval("SELECT unit FROM health_measurements WHERE id = $1", glucose["id"]) == "mmol/L"
    in_mmol = await call(client, "health_measurement_list", kind="glucose", **day)
    assert in_mmol[0]["value"] == pytest.approx(5.495, abs=0.001) and in_mmol[0]["unit"] == "mmol/L"
    in_mg = await call(client, "health_measurement_list", kind="glucose", unit="mg/dL", **day)
    assert in_mg[0]["value"] == 99.0

    fever = await call(client, "health_measurement_add", kind="temperature", value=100.4, unit="°F", at="2024-01-01")
    assert health.fetchval("SELECT value FROM health_measurements WHERE id = $1", fever["id"]) == pytest.approx(38.0)
    in_f = await call(client, "health_measurement_list", kind="temperature", unit="F", **day)
    assert (in_f[0]["value"], in_f[0]["unit"]) == (100.4, "°F")

    sleep = await call(client, "health_measurement_add", kind="sleep", value=450, unit="min", at="2024-01-01")
    assert health.fetchval("SELECT value FROM health_measurements WHERE id = $1", sleep["id"]) == 7.5


async def test_blood_pressure_keeps_systolic_and_diastolic_together(client: Client) -> None:
    bp = await call(
        client, "health_measurement_add", kind="blood_pressure", systolic=128, diastolic=82, at="2024-01-02"
    )
    assert (bp["value"], bp["diastolic"], bp["unit"]) == (128, 82, "mmHg")
    trend = await call(
        client, "health_trend", kind="blood_pressure", since="2024-01-02", until="2024-01-02", daily=True
    )
    assert trend["value"]["latest"] == 128 and trend["diastolic"]["latest"] == 82
    assert trend["daily"] == [
        {"day": "2024-01-02", "count": 1, "average": 128, "min": 128, "max": 128, "diastolic_average": 82}
    ]


async def test_custom_kinds_keep_their_first_unit(client: Client) -> None:
    waist = await call(client, "health_measurement_add", kind="waist", value=84.5, unit="cm", at="2024-01-03")
    assert (waist["value"], waist["unit"]) == (84.5, "cm")
    kinds = {k["kind"]: k for k in await call(client, "health_kinds")}
    assert kinds["waist"]["builtin"] is False and kinds["waist"]["canonical_unit"] == "cm"
    assert kinds["weight"]["units"] == ["kg", "lb"] and kinds["glucose"]["canonical_unit"] == "mmol/L"
    listed = await call(client, "health_measurement_list", kind="waist", unit="cm", since="2024-01-03", days=None)
    assert [m["value"] for m in listed] == [84.5]


async def test_trend_on_known_data(client: Client) -> None:
    # Ten mornings of weight falling 0.1 kg a day, plus an evening reading on the last day.
    for day in range(10):
        value = round(90.0 - 0.1 * day, 1)
        await call(client, "health_measurement_add", kind="weight", value=value, at=f"2024-02-{day + 1:02d}T07:30")
    await call(client, "health_measurement_add", kind="weight", value=89.3, at="2024-02-10T21:00")
    trend = await call(client, "health_trend", kind="weight", since="2024-02-01", until="2024-02-10", daily=True)
    stats = trend["value"]
    assert (stats["count"], stats["first"], stats["latest"], stats["min"], stats["max"]) == (11, 90.0, 89.3, 89.1, 90.0)
    assert stats["change"] == -0.7 and stats["average"] == pytest.approx((sum(90 - 0.1 * d for d in range(10)) + 89.3) / 11, abs=1e-3)  # fmt: skip
    assert stats["slope_per_week"] == pytest.approx(-0.65, abs=0.1)
    assert trend["direction"] == "falling" and trend["latest_at"] == "2024-02-10T21:00:00+01:00"
    assert len(trend["daily"]) == 10 and trend["daily"][-1] == {
        "day": "2024-02-10", "count": 2, "average": 89.2, "min": 89.1, "max": 89.3, "diastolic_average": None
    }  # fmt: skip
    in_lb = await call(client, "health_trend", kind="weight", unit="lb", since="2024-02-01", until="2024-02-10")
    assert in_lb["value"]["max"] == pytest.approx(198.416, abs=1e-3) and in_lb["unit"] == "lb"
    assert in_lb["value"]["slope_per_week"] == pytest.approx(stats["slope_per_week"] / 0.45359237, abs=1e-3)
    assert in_lb["daily"] is None and in_lb["value"]["count"] == 11  # the series only when asked for
    empty = await call(client, "health_trend", kind="heart_rate", since="2024-02-01", until="2024-02-10", daily=True)
    assert empty["direction"] == "no data" and empty["value"]["count"] == 0 and empty["daily"] == []
    none = await call(client, "health_trend", kind="heart_rate", since="2024-02-01", until="2024-02-10")
    assert none["value"] == empty["value"] and none["latest_at"] is None


async def test_adherence_over_a_period(client: Client) -> None:
    med = await call(
        client, "health_medication_add", name="Metformin", dose=500, unit="mg", times=["20:00", "08:00"],
        start="2024-03-01", stop="2024-03-10",
    )  # fmt: skip
    assert med["times"] == ["08:00", "20:00"] and med["frequency"] == "daily" and med["active"] is False
    for day in range(1, 9):  # 8 days of both doses taken = 16, then the morning of day 9 skipped
        for hour in ("08:05", "20:10"):
            await call(client, "health_dose_record", medication_id=med["id"], at=f"2024-03-{day:02d}T{hour}")
    skipped = await call(client, "health_dose_record", medication_id=med["id"], status="skipped", at="2024-03-09T08:00")
    assert skipped["status"] == "skipped" and skipped["medication"] == "Metformin"
    report = await call(client, "health_adherence", medication_id=med["id"], since="2024-03-01", until="2024-03-10")
    [row] = report["medications"]
    assert (row["expected"], row["taken"], row["skipped"], row["missed"], row["rate"]) == (20, 16, 1, 3, 0.8)
    weekly = await call(
        client, "health_medication_add", name="Vitamin D", dose=20000, unit="IU", frequency="weekly", times=["09:00"],
        start="2024-03-04", stop="2024-03-31",
    )  # fmt: skip
    await call(client, "health_dose_record", medication_id=weekly["id"], at="2024-03-04T09:00")
    report = await call(client, "health_adherence", medication_id=weekly["id"], since="2024-03-01", until="2024-03-31")
    assert report["medications"][0]["expected"] == 4 and report["medications"][0]["rate"] == 0.25
    changed = await call(client, "health_medication_update", id=weekly["id"], dose=1000, times=["10:00"])
    assert (changed["dose"], changed["times"]) == (1000, ["10:00"])


async def test_due_digest_lists_undone_doses_in_one_message(client: Client) -> None:
    a = await call(client, "health_medication_add", name="Aspirin", dose=100, unit="mg", times=["09:00"], start="2024-04-01")  # fmt: skip
    await call(client, "health_medication_add", name="Zinc", dose=15, unit="mg", times=["09:30"], start="2024-04-01")
    await call(client, "health_medication_add", name="Iron", dose=50, unit="mg", times=["13:00"], start="2024-04-01")
    digest = await call(client, "health_medication_due", at="2024-04-05T08:45", within_minutes=60)
    assert digest["message"] == "Medication due: 09:00 Aspirin 100 mg; 09:30 Zinc 15 mg."
    # No switchboard delivers notifications in this daemon: the digest says it was not delivered.
    assert digest["delivered"] is False and digest["notification"]["status"] == "not_delivered"
    await call(client, "health_dose_record", medication_id=a["id"], at="2024-04-05T08:50")
    digest = await call(client, "health_medication_due", at="2024-04-05T08:45", within_minutes=60)
    assert [d["medication"] for d in digest["items"]] == ["Zinc"]
    assert (await call(client, "health_medication_due", at="2024-04-05T15:00"))["message"] == "No medication due."


async def test_conditions_symptoms_meals_and_summary(client: Client) -> None:
    asthma = await call(client, "health_condition_add", name="Asthma", since="2010-05-01")
    assert asthma["status"] == "active"
    managed = await call(client, "health_condition_update", id=asthma["id"], status="managed", notes="inhaler")
    assert (managed["status"], managed["since"], managed["notes"]) == ("managed", "2010-05-01", "inhaler")
    assert [c["name"] for c in await call(client, "health_condition_list", status="managed")] == ["Asthma"]
    wheeze = await call(client, "health_symptom_add", what="Wheezing", severity=6, at="2024-05-02T22:00", condition_id=asthma["id"])  # fmt: skip
    assert (wheeze["condition"], wheeze["severity"]) == ("Asthma", 6)
    await call(client, "health_symptom_add", what="wheezing", severity=4, at="2024-05-03")
    await call(client, "health_symptom_add", what="Headache", severity=3, at="2024-05-03")
    symptoms = await call(client, "health_symptom_list", since="2024-05-01", until="2024-05-07", condition_id=asthma["id"])  # fmt: skip
    assert [s["id"] for s in symptoms] == [wheeze["id"]]
    meal = await call(client, "health_meal_add", description="Oatmeal", meal="breakfast", at="2024-05-02T07:00", calories=350, protein_g=12)  # fmt: skip
    assert (meal["calories"], meal["fat_g"]) == (350, None)
    await call(client, "health_meal_add", description="Salad", meal="lunch", at="2024-05-03T12:00", calories=450)
    assert len(await call(client, "health_meal_list", since="2024-05-01", until="2024-05-07")) == 2
    await call(client, "health_measurement_add", kind="heart_rate", value=61, at="2024-05-02T07:00")
    await call(client, "health_measurement_add", kind="heart_rate", value=65, at="2024-05-04T07:00")

    summary = await call(client, "health_summary", since="2024-05-01", until="2024-05-07")
    assert summary["measurements"] == [
        {"kind": "heart_rate", "unit": "bpm", "count": 2, "latest": 65, "min": 61, "max": 65, "average": 63}
    ]
    assert summary["symptoms"] == {"count": 3, "average_severity": 4.33, "max_severity": 6, "most_frequent": ["wheezing", "headache"]}  # fmt: skip
    assert summary["meals"] == {"count": 2, "calories_total": 800, "calories_per_day": 114.3}
    assert "Asthma" in [c["name"] for c in summary["conditions"]]


async def test_csv_export_and_import_round_trip(client: Client, health: LiveButler) -> None:
    period = {"since": "2024-06-01", "until": "2024-06-30"}
    await call(client, "health_measurement_add", kind="weight", value=75.5, at="2024-06-01T07:00", notes='after "run", tired')  # fmt: skip
    await call(client, "health_measurement_add", kind="blood_pressure", systolic=118, diastolic=76, at="2024-06-02")
    await call(client, "health_measurement_add", kind="pulse_ox", value=97, unit="%", at="2024-06-03")
    exported = await call(client, "health_export_csv", table="measurements", **period)
    rows = list(csv.DictReader(io.StringIO(exported["csv"])))
    assert exported["rows"] == 3 and [r["kind"] for r in rows] == ["weight", "blood_pressure", "pulse_ox"]
    assert rows[0]["notes"] == 'after "run", tired' and rows[1]["diastolic"] == "76.0" and rows[2]["unit"] == "%"

    assert await call(client, "health_import_csv", csv_text=exported["csv"]) == {"imported": 0, "duplicates": 3}
    health.execute("DELETE FROM health_measurements WHERE kind = 'blood_pressure' AND measured_at >= '2024-06-01'")
    assert await call(client, "health_import_csv", csv_text=exported["csv"]) == {"imported": 1, "duplicates": 2}
    again = await call(client, "health_export_csv", table="measurements", **period)
    strip = [{k: v for k, v in r.items() if k != "id"} for r in csv.DictReader(io.StringIO(again["csv"]))]
    assert strip == [{k: v for k, v in r.items() if k != "id"} for r in rows]

    other = "kind,measured_at,value,unit\nweight,2024-06-20T07:00,170,lb\nglucose,2024-06-20,90,mg/dL\n"
    assert await call(client, "health_import_csv", csv_text=other) == {"imported": 2, "duplicates": 0}
    listed = await call(client, "health_measurement_list", kind="weight", since="2024-06-20", until="2024-06-20")
    assert listed[0]["value"] == pytest.approx(77.111, abs=1e-3)
    doses = await call(client, "health_export_csv", table="doses")
    assert doses["csv"].splitlines()[0] == "id,medication_id,status,taken_at,notes"


async def test_delete_a_measurement(client: Client) -> None:
    m = await call(client, "health_measurement_add", kind="steps", value=8042, at="2024-07-01")
    assert await call(client, "health_measurement_delete", id=m["id"]) == {"deleted": m["id"]}
    assert await call(client, "health_measurement_list", kind="steps", since="2024-07-01", until="2024-07-01") == []


async def test_health_module_passes_the_module_contract(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    report = await check_module_contract(HealthModule, {"timezone": "UTC"}, pg_address, database, data_dir)
    assert "health_measurement_add" in report.tools and len(report.tools) == 21
    assert report.migrations_applied == ["0001_health"]
