"""`spend_report`: what a butler's sessions cost (per day, per schedule, the costliest), its daily
budget against today's use, and the fleet's monthly ceiling. `butlerctl spend` reads it from every butler.

Read-only: the queries are `butlers.fleet_views`, shared with the dashboard.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastmcp import FastMCP
from pydantic import BaseModel, Field

from butlers.core.spend_ceiling import spend_ceiling_of
from butlers.core.tool_errors import bad_argument
from butlers.core.tool_reuse import function_tool
from butlers.fleet_views import (
    BudgetUse,
    ButlerDb,
    CeilingState,
    CostlySession,
    DaySpend,
    ScheduleSpend,
    butler_dbs,
    ceiling_state,
    costliest_sessions,
    local_zone,
    spend_by_day,
    spend_by_schedule,
    spent_since,
    start_of_day,
    start_of_month,
)
from butlers.fleet_views.fleet import budget_use

if TYPE_CHECKING:
    from butlers.butler import Butler

MAX_TOP = 100


class SpendReport(BaseModel):
    """One butler's spend since a day, with the fleet's monthly ceiling."""

    butler: str
    since: datetime = Field(description="Local midnight of the first day counted.")
    total_usd: float
    sessions: int
    by_day: list[DaySpend]
    by_schedule: list[ScheduleSpend]
    costliest: list[CostlySession]
    budget: BudgetUse
    ceiling: CeilingState = Field(description="This month's cost across every butler, against the ceiling.")


def register_spend_tools(mcp: FastMCP, butler: Butler) -> None:
    @function_tool(  # schemas built once per daemon (core/tool_reuse.py)
        mcp,
        name="spend_report",
        description="What this butler's finished sessions cost since a day: per day, per schedule and the "
        "costliest; its daily budget against today's use; this month's cost across every butler against "
        "the fleet's monthly ceiling (monthly_spend_ceiling_usd).",
    )
    async def spend_report(
        since: Annotated[
            date | None,
            Field(description="First day counted (YYYY-MM-DD, host time zone); default: the 1st of this month."),
        ] = None,
        top: Annotated[int, Field(ge=1, le=MAX_TOP, description="How many of the costliest sessions.")] = 10,
    ) -> SpendReport:
        return await _report(butler, since, top)


async def _report(butler: Butler, since: date | None, top: int) -> SpendReport:
    zone = local_zone()
    today = datetime.now(zone).date()
    if since is not None and since > today:
        raise bad_argument("spend_report", "since", f"{since.isoformat()} is in the future (today is {today})")
    start = start_of_day(since, zone) if since is not None else start_of_month(zone=zone)
    pool, name = butler.pool, butler.name
    by_day = await spend_by_day(pool, name, start, zone)
    spent_today = await spent_since(pool, start_of_day(today, zone))
    return SpendReport(
        butler=name,
        since=start,
        total_usd=round(sum(d.cost_usd for d in by_day), 6),
        sessions=sum(d.sessions for d in by_day),
        by_day=by_day,
        by_schedule=await spend_by_schedule(pool, name, start),
        costliest=await costliest_sessions(pool, name, start, top),
        budget=budget_use(name, butler.config.agent.daily_budget_usd, spent_today),
        ceiling=await _ceiling(butler),
    )


async def _ceiling(butler: Butler) -> CeilingState:
    ceiling = spend_ceiling_of(butler)
    if ceiling is not None:
        return await ceiling.state()
    others = [db for db in butler_dbs(butler.fleet) if db.name != butler.name]
    return await ceiling_state([ButlerDb(butler.name, butler.pool), *others], None)
