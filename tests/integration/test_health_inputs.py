"""The health butler refuses bad input naming the tool and argument, writes nothing, and leaks no health data.

Health data never reaches a log line or a trace: FastMCP's tool spans record a failing
call's error text, so every error here is checked to carry no value that was sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog
from domain_helpers import LiveButler, call, live_butler, refused
from fastmcp import Client, FastMCP
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from butlers.db import ServerAddress
from butlers.migrate import apply_migrations
from butlers.modules.base import ModuleContext, NotifyRequest
from butlers.modules.health import HealthConfig, HealthModule
from butlers.testing.asgi import serve_asgi
from butlers.testing.postgres import TestPostgres

TABLES = ("health_measurements", "health_medications", "health_doses", "health_conditions", "health_symptoms", "health_meals")  # fmt: skip
MED = {"name": "A", "dose": 1, "unit": "mg", "times": ["08:00"]}
W = {"kind": "weight", "value": 80}
BAD_CSV = "kind,measured_at,value,unit\nweight,2024-01-01,80,kg\nweight,2024-01-02,9000,kg\n"


@pytest.fixture(scope="module")
def health(pg: TestPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveButler]:
    with live_butler(pg, tmp_path_factory.mktemp("hi") / "health", "health", "[modules.health]\n") as live:
        yield live


@pytest.fixture
async def client(health: LiveButler) -> AsyncIterator[Client]:
    async with Client(health.url) as c:
        yield c


def rows(health: LiveButler) -> int:
    return int(health.fetchval(" + ".join(f"(SELECT count(*) FROM {t})" for t in TABLES).join(("SELECT ", ""))))


@pytest.mark.parametrize(
    ("tool", "args", "argument"),
    [
        ("health_measurement_add", {"kind": "Weight", "value": 80}, "kind"),
        ("health_measurement_add", {"kind": "weight"}, "value"),
        ("health_measurement_add", {**W, "unit": "stone"}, "unit"),
        ("health_measurement_add", {"kind": "weight", "value": 9000}, "value"),
        ("health_measurement_add", {"kind": "weight", "value": "heavy"}, "value"),
        ("health_measurement_add", {"kind": "blood_pressure", "systolic": 120}, "diastolic"),
        ("health_measurement_add", {"kind": "blood_pressure", "systolic": 80, "diastolic": 120}, "diastolic"),
        ("health_measurement_add", {"kind": "blood_pressure", "value": 120}, "value"),
        ("health_measurement_add", {"kind": "heart_rate", "value": 61.5}, "value"),
        ("health_measurement_add", {**W, "systolic": 120}, "systolic"),
        ("health_measurement_add", {**W, "at": "yesterday-ish"}, "at"),
        ("health_measurement_add", {**W, "at": "2999-01-01"}, "at"),
        ("health_measurement_add", {"kind": "waist", "value": 80}, "unit"),
        ("health_measurement_add", {**W, "notes": "x" * 2001}, "notes"),
        ("health_measurement_list", {"kind": "weight", "unit": "mg/dL"}, "unit"),
        ("health_measurement_list", {"since": "2024-02-01", "until": "2024-01-01"}, "since"),
        ("health_measurement_list", {"days": 0}, "days"),
        ("health_measurement_list", {"since": "2024-01-01", "days": 3}, "days"),
        ("health_measurement_list", {"limit": 0}, "limit"),
        ("health_measurement_list", {"unit": "kg"}, "unit"),
        ("health_measurement_delete", {"id": 999999}, "id"),
        ("health_measurement_delete", {"id": 0}, "id"),
        ("health_trend", {"kind": "weight", "unit": "°C"}, "unit"),
        ("health_trend", {"kind": "weight", "since": "2001-01-01"}, "since"),
        ("health_medication_add", {**MED, "name": " "}, "name"),
        ("health_medication_add", {**MED, "dose": 0}, "dose"),
        ("health_medication_add", {"name": "A", "dose": 1, "unit": "mg"}, "times"),
        ("health_medication_add", {**MED, "times": ["25:00"]}, "times"),
        ("health_medication_add", {**MED, "frequency": "as_needed"}, "times"),
        ("health_medication_add", {**MED, "frequency": "hourly"}, "frequency"),
        ("health_medication_add", {**MED, "start": "2024-03-10", "stop": "2024-03-01"}, "stop"),
        ("health_medication_add", {**MED, "start": "March"}, "start"),
        ("health_medication_update", {"id": 999999, "dose": 2}, "id"),
        ("health_dose_record", {"medication_id": 999999}, "medication_id"),
        ("health_dose_record", {"medication_id": 1, "status": "maybe"}, "status"),
        ("health_adherence", {"medication_id": 999999}, "medication_id"),
        ("health_medication_due", {"within_minutes": 0}, "within_minutes"),
        ("health_medication_due", {"at": "soon"}, "at"),
        ("health_condition_add", {"name": "x", "status": "cured"}, "status"),
        ("health_condition_add", {"name": "x", "since": "May"}, "since"),
        ("health_condition_update", {"id": 999999, "status": "resolved"}, "id"),
        ("health_symptom_add", {"what": "headache", "severity": 11}, "severity"),
        ("health_symptom_add", {"what": "headache", "severity": 3, "condition_id": 999999}, "condition_id"),
        ("health_symptom_add", {"what": "   ", "severity": 3}, "what"),
        ("health_symptom_list", {"until": "nope"}, "until"),
        ("health_meal_add", {"description": "toast", "calories": -5}, "calories"),
        ("health_meal_add", {"description": "toast", "meal": "brunch"}, "meal"),
        ("health_meal_list", {"limit": 5000}, "limit"),
        ("health_summary", {"since": "x"}, "since"),
        ("health_export_csv", {"table": "secrets"}, "table"),
        ("health_import_csv", {"csv_text": "kind,value\nweight,80\n"}, "csv_text"),
        ("health_import_csv", {"csv_text": BAD_CSV}, "csv_text"),  # line 2 is fine: still nothing written
    ],
)
async def test_bad_input_is_refused_naming_the_argument_and_writes_nothing(
    client: Client, health: LiveButler, tool: str, args: dict[str, Any], argument: str
) -> None:
    if rows(health) == 0:  # something to keep, and a medication with id 1 for the status case
        await call(client, "health_medication_add", **MED, start="2024-01-01")
        await call(client, "health_measurement_add", kind="weight", value=70, at="2024-01-01")
    before = rows(health)
    message = await refused(client, tool, args)
    assert message.startswith(f"{tool}: argument '{argument}'"), message
    assert rows(health) == before


def sdk_provider() -> TracerProvider:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    return provider


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.client_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.client_thread:
            return  # the test's own MCP client logs what it sends; the butler runs on the portal's thread
        self.lines.append(f"{record.getMessage()} {record.exc_text or ''} {record.exc_info or ''}")


CANARIES = ("7Qz", "81.234", "987.654", "1234.5")


async def test_health_data_reaches_no_span_and_no_log_line(client: Client, health: LiveButler) -> None:
    exporter = InMemorySpanExporter()
    sdk_provider().add_span_processor(SimpleSpanProcessor(exporter))
    handler = Collect()
    loggers = [logging.getLogger(), logging.getLogger("fastmcp"), logging.getLogger("mcp")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        with structlog.testing.capture_logs() as logs:
            med = await call(client, "health_medication_add", **{**MED, "name": "Canarymed-7Qz", "notes": "note-7Qz"})
            await call(client, "health_measurement_add", kind="weight", value=81.234, notes="7Qz")
            await call(client, "health_trend", kind="weight")
            await call(client, "health_dose_record", medication_id=med["id"], notes="7Qz")
            bad: list[tuple[str, dict[str, Any]]] = [
                ("health_measurement_add", {"kind": "weight", "value": 987.654}),
                ("health_measurement_add", {"kind": "weight", "value": "heavy-7Qz"}),
                ("health_measurement_add", {"kind": "weight", "value": 80, "at": "7Qz"}),
                ("health_measurement_add", {"kind": "weight", "value": 80, "unit": "7Qz"}),
                ("health_symptom_add", {"what": "7Qz", "severity": 12}),
                ("health_meal_add", {"description": "7Qz", "calories": -1234.5}),
                ("health_import_csv", {"csv_text": "kind,measured_at,value,unit\nweight,2024-01-01,987.654,kg\n"}),
                ("health_medication_add", {**MED, "name": "7Qz", "times": ["7Qz"]}),
            ]
            for tool, args in bad:
                await refused(client, tool, args)
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    spans = exporter.get_finished_spans()
    assert any("health_measurement_add" in s.name for s in spans)  # the spans are there
    traced = " ".join(
        f"{s.name} {dict(s.attributes or {})} {s.status.description} {[dict(e.attributes or {}) for e in s.events]}"
        for s in spans
    )
    assert "error" in traced.lower()  # the failing calls are traced, with their (clean) errors
    logged = " ".join(handler.lines) + str(logs)
    for canary in CANARIES:
        assert canary not in traced, canary
        assert canary not in logged, [x for x in [*handler.lines, *map(str, logs)] if canary in x][:2]


async def test_the_digest_is_delivered_through_notify_when_the_butler_has_it(
    pg_address: ServerAddress, database: str, pool: asyncpg.Pool, data_dir: Path
) -> None:
    await apply_migrations(pg_address, database, HealthModule.migrations_dir, owner="health")
    sent: list[NotifyRequest] = []

    async def notify(request: NotifyRequest) -> dict[str, Any]:
        sent.append(request)
        return {"id": "n-1", "status": "sent"}

    mcp = FastMCP("health")
    ctx = ModuleContext(
        butler="health", pool=pool, directory=data_dir, data_dir=data_dir, credentials={}, notify=notify
    )
    HealthModule(HealthConfig(timezone="UTC")).register_tools(mcp, ctx)
    async with serve_asgi(mcp.http_app(path="/mcp")) as url, Client(f"{url}/mcp") as client:
        await call(client, "health_medication_add", name="Aspirin", dose=100, unit="mg", times=["08:00"], start="2024-01-01")  # fmt: skip
        await call(
            client, "health_medication_add", name="Iron", dose=50, unit="mg", times=["08:30"], start="2024-01-01"
        )
        digest = await call(client, "health_medication_due", at="2024-02-01T08:00", within_minutes=60)
        quiet = await call(client, "health_medication_due", at="2024-02-01T12:00")
    assert digest["delivered"] is True and digest["notification"] == {"id": "n-1", "status": "sent"}
    assert sent == [NotifyRequest("Medication due: 08:00 Aspirin 100 mg; 08:30 Iron 50 mg.")]  # one message, both doses
    assert quiet["delivered"] is False and len(sent) == 1  # nothing due: nothing sent
