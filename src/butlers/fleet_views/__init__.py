"""Read queries over the fleet's databases, shared by the dashboard and `butlerctl` (through core tools).

`spend` reads one butler's database; `fleet` reads every butler's at once;
`records` holds the typed results; `periods` the local days and months they count.
"""

from butlers.fleet_views.fleet import ButlerDb, budget_uses, butler_dbs, ceiling_state, each, fleet_spend
from butlers.fleet_views.periods import local_zone, next_month_start, start_of_day, start_of_month
from butlers.fleet_views.records import BudgetUse, CeilingState, CostlySession, DaySpend, FleetSpend, ScheduleSpend
from butlers.fleet_views.spend import costliest_sessions, spend_by_day, spend_by_schedule, spent_since

__all__ = [
    "BudgetUse",
    "ButlerDb",
    "CeilingState",
    "CostlySession",
    "DaySpend",
    "FleetSpend",
    "ScheduleSpend",
    "budget_uses",
    "butler_dbs",
    "ceiling_state",
    "costliest_sessions",
    "each",
    "fleet_spend",
    "local_zone",
    "next_month_start",
    "spend_by_day",
    "spend_by_schedule",
    "spent_since",
    "start_of_day",
    "start_of_month",
]
