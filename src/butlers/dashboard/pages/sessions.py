"""Sessions (`/sessions`, `/sessions/<butler>/<id>`) and their JSON twins; cancel while running."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard import params
from butlers.dashboard.context import Dashboard, dashboard
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.queries.sessions import DEFAULT_LIMIT, SessionFilter, list_page, parse_cursor
from butlers.dashboard.render import ApiResponse, page
from butlers.errors import NotFoundError
from butlers.statuses import SessionStatus, TriggerSource

STATUSES = list(SessionStatus)
SOURCES = list(TriggerSource)


def session_filter(request: Request, d: Dashboard) -> SessionFilter:
    butler = params.choice(request, "butler", [b.name for b in d.serving()])
    return SessionFilter(
        butler=butler,
        status=params.choice(request, "status", STATUSES),
        source=params.choice(request, "source", SOURCES),
        schedule=params.text(request, "schedule"),
        day=params.day(request, "day"),
        before=parse_cursor(params.text(request, "before", max_length=120)),
        limit=params.integer(request, "limit", default=DEFAULT_LIMIT, low=1, high=500),
    )


async def sessions_data(d: Dashboard, f: SessionFilter) -> dict[str, Any]:
    butlers = [d.butler(f.butler)] if f.butler else d.serving()
    rows, next_before = await list_page(butlers, f)
    return {"sessions": rows, "next_before": next_before}


async def sessions_page(request: Request) -> Response:
    d = dashboard(request)
    f = session_filter(request, d)
    data = await sessions_data(d, f)
    choices = {"butlers": [b.name for b in d.serving()], "statuses": STATUSES, "sources": SOURCES}
    return page(request, "sessions.html", filter=f, **choices, **data)


async def sessions_api(request: Request) -> Response:
    d = dashboard(request)
    return ApiResponse(await sessions_data(d, session_filter(request, d)))


async def _session(request: Request) -> tuple[str, dict[str, Any]]:
    butler = dashboard(request).butler(request.path_params["butler"])
    session_id = params.identifier(request.path_params["session_id"], "session_id")
    record = await butler.spawner.sessions.get(session_id)
    if record is None:
        raise NotFoundError(f"butler {butler.name} has no session {session_id}")
    return butler.name, record.model_dump(mode="json")


async def session_page(request: Request) -> Response:
    name, record = await _session(request)
    return page(request, "session.html", butler=name, s=record)


async def session_api(request: Request) -> Response:
    name, record = await _session(request)
    return ApiResponse({"butler": name, **record})


async def _cancel(request: Request) -> tuple[str, dict[str, Any]]:
    butler = dashboard(request).butler(request.path_params["butler"])
    session_id = params.identifier(request.path_params["session_id"], "session_id")
    if await butler.spawner.sessions.get(session_id) is None:
        raise NotFoundError(f"butler {butler.name} has no session {session_id}")
    return butler.name, (await butler.spawner.cancel(session_id)).model_dump(mode="json")


async def cancel_form(request: Request) -> Response:
    name, record = await _cancel(request)
    return RedirectResponse(f"/sessions/{name}/{record['id']}", status_code=303)


async def cancel_api(request: Request) -> Response:
    name, record = await _cancel(request)
    return ApiResponse({"butler": name, **record})


ROUTES = [
    *with_api("/sessions", sessions_page, sessions_api),
    *with_api("/sessions/{butler}/{session_id}", session_page, session_api),
    *with_api("/sessions/{butler}/{session_id}/cancel", cancel_form, cancel_api, post=True),
]
