"""Health (`/health`, `/api/health`): a chart per measurement kind over a chosen period, medication adherence."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from butlers.dashboard import params
from butlers.dashboard.line_chart import LineChart, line_chart
from butlers.dashboard.pages.module_host import hosted, plain
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.render import ApiResponse, page
from butlers.fleet_views import health
from butlers.fleet_views.hosts import started_module
from butlers.modules.health import HealthConfig, units
from butlers.modules.health.times import MAX_PERIOD_DAYS

if TYPE_CHECKING:
    from butlers.butler import Butler

TITLE = "Health"
PRESETS = (7, 30, 90, 365)


_hosted = hosted("health", TITLE)


def _zone(host: Butler) -> ZoneInfo:
    module = started_module(host, "health")
    config = module.config if module is not None else None
    return config.zone() if isinstance(config, HealthConfig) else ZoneInfo("UTC")


async def health_data(request: Request, host: Butler) -> health.HealthView:
    days = params.integer(request, "days", default=30, low=1, high=MAX_PERIOD_DAYS)
    until = params.day(request, "until")
    kind = params.text(request, "kind", max_length=40)
    if kind is not None and not re.fullmatch(units.KIND_PATTERN, kind):
        raise BadParameterError("kind", f"{kind!r} is not a measurement kind (lower case, e.g. weight)")
    tz = _zone(host)
    try:
        period = health.period_of(days, until, tz)
    except ValueError as exc:
        raise BadParameterError("until", str(exc)) from None
    return await health.health_view(host.pool, tz, period, kind)


def chart(trend: health.Trend, first: date, last: date) -> LineChart:
    daily = [(date.fromisoformat(p.day), p) for p in trend.daily or []]
    main = "systolic" if trend.kind == "blood_pressure" else "daily average"
    series = {main: [(d, p.average) for d, p in daily]}
    if trend.kind == "blood_pressure":
        series["diastolic"] = [(d, p.diastolic_average) for d, p in daily if p.diastolic_average is not None]
    return line_chart(first, last, series, trend.unit)


def _links(request: Request, host: Butler) -> dict[str, Any]:
    return {"butler": host.name, "presets": PRESETS, "days": request.query_params.get("days") or "30",
            "until": request.query_params.get("until") or "", "kind": request.query_params.get("kind") or ""}  # fmt: skip


@_hosted
async def health_page(request: Request, host: Butler) -> Response:
    view = await health_data(request, host)
    first, last = view.period.start.date(), (view.period.end - timedelta(days=1)).date()
    charts = [(t, chart(t, first, last)) for t in view.trends]
    return page(request, "health.html", view=view, charts=charts, first=first, last=last, **_links(request, host))


@_hosted
async def health_api(request: Request, host: Butler) -> Response:
    view = await health_data(request, host)
    return ApiResponse({"butler": host.name, "since": view.period.start, "until": view.period.end,
                        "trends": plain(view.trends), "adherence": plain(view.adherence)})  # fmt: skip


ROUTES = with_api("/health", health_page, health_api)
