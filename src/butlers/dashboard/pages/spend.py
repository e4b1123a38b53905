"""Spend (`/spend`, `/api/spend`): cost per butler per day (a chart), by schedule, the costliest
sessions, each butler's daily budget against today's use, and this month against the ceiling.

The figures are `butlers.fleet_views` (shared with `butlerctl spend` through `spend_report`).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from butlers.dashboard import params
from butlers.dashboard.charts import cost_per_day
from butlers.dashboard.context import Dashboard, dashboard
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.render import ApiResponse, page
from butlers.fleet_views import (
    CeilingState,
    FleetSpend,
    butler_dbs,
    ceiling_state,
    fleet_spend,
    local_zone,
    start_of_day,
)

DEFAULT_DAYS = 30
MAX_DAYS = 3660


def _since(request: Request, today: date) -> date:
    since = params.day(request, "since") or today - timedelta(days=DEFAULT_DAYS - 1)
    if since > today:
        raise params.BadParameterError("since", f"{since.isoformat()} is in the future")
    if (today - since).days > MAX_DAYS:
        raise params.BadParameterError("since", f"at most {MAX_DAYS} days back")
    return since


async def read_spend(d: Dashboard, since: date, top: int) -> tuple[FleetSpend, CeilingState]:
    dbs = butler_dbs(d.fleet.butlers)
    view = await fleet_spend(dbs, start_of_day(since, local_zone()), top)
    return view, await ceiling_state(dbs, d.settings.monthly_spend_ceiling_usd)


def spend_json(since: date, view: FleetSpend, ceiling: CeilingState) -> dict[str, Any]:
    return {
        "since": since,
        "total_usd": view.total_usd,
        "by_day": [asdict(r) for r in view.by_day],
        "by_schedule": [asdict(r) for r in view.by_schedule],
        "costliest": [asdict(r) for r in view.costliest],
        "budgets": [asdict(b) for b in view.budgets],
        "ceiling": asdict(ceiling),
        "unread": list(view.unread),
    }


def _top(request: Request) -> int:
    return params.integer(request, "top", default=20, low=1, high=100)


async def spend_page(request: Request) -> Response:
    d = dashboard(request)
    today = date.today()
    since, top = _since(request, today), _top(request)
    view, ceiling = await read_spend(d, since, top)
    chart = cost_per_day(view.by_day, since, today, sorted(d.fleet.butlers))
    return page(request, "spend.html", chart=chart, top=top, **spend_json(since, view, ceiling))


async def spend_api(request: Request) -> Response:
    since = _since(request, date.today())
    view, ceiling = await read_spend(dashboard(request), since, _top(request))
    return ApiResponse(spend_json(since, view, ceiling))


async def ceiling_panel(d: Dashboard) -> dict[str, Any] | None:
    """The overview's panel: this month's cost across every butler against the monthly ceiling."""
    return asdict(await ceiling_state(butler_dbs(d.fleet.butlers), d.settings.monthly_spend_ceiling_usd))


ROUTES = with_api("/spend", spend_page, spend_api)
