"""The `health` module: measurements, medications, conditions, symptoms and meals.

Health data is the user's most private data: it stays in the health butler's own
database, and no tool error carries a value into logs or traces (see `private.py`).
Enable it with

    [modules.health]
    timezone = "Europe/Berlin"   # optional; naive times and medication times are read in it
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import tzlocal
from pydantic import BaseModel, ConfigDict, Field

from butlers.config import TimezoneName
from butlers.modules.base import Module, ModuleContext
from butlers.modules.health.env import HealthEnv
from butlers.modules.health.measurements import MeasurementTools
from butlers.modules.health.medications import MedicationTools
from butlers.modules.health.private import register_private
from butlers.modules.health.records import RecordTools
from butlers.modules.health.reports import ReportTools

if TYPE_CHECKING:
    from fastmcp import FastMCP


class HealthConfig(BaseModel):
    """`[modules.health]` of butler.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimezoneName | None = Field(
        default=None, description="IANA zone for naive times and medication times; default: the host's."
    )

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone) if self.timezone else ZoneInfo(tzlocal.get_localzone_name())


class HealthModule(Module[HealthConfig]):
    """Health records with validated units, medication adherence and summaries."""

    name = "health"
    config_schema = HealthConfig
    migrations_dir = Path(__file__).parent / "migrations"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        env = HealthEnv(pool=ctx.pool, tz=self.config.zone(), notify=ctx.notify)
        m, meds, r = MeasurementTools(env), MedicationTools(env), RecordTools(env)
        reports = ReportTools(env, meds)
        register_private(
            mcp,
            [
                m.health_kinds,
                m.health_measurement_add,
                m.health_measurement_list,
                m.health_measurement_delete,
                m.health_trend,
                meds.health_medication_add,
                meds.health_medication_list,
                meds.health_medication_update,
                meds.health_dose_record,
                meds.health_adherence,
                meds.health_medication_due,
                r.health_condition_add,
                r.health_condition_update,
                r.health_condition_list,
                r.health_symptom_add,
                r.health_symptom_list,
                r.health_meal_add,
                r.health_meal_list,
                reports.health_summary,
                reports.health_export_csv,
                reports.health_import_csv,
            ],
        )
