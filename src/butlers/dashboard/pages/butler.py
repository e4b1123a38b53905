"""A butler (`/butlers`, `/butlers/<name>`, `/api/butlers/<name>`): its schedules, its state (by
prefix, one key to view and edit), its tools (each with a form from its input schema), a prompt to
trigger, and its latest sessions. The changes are `butler_actions.py` and `butler_tools.py`.

Everything is read through the butler's own tools, called in-process: the same
validation and the same answers as over MCP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from butlers.dashboard import params
from butlers.dashboard.context import dashboard
from butlers.dashboard.pages import butler_actions, butler_tools
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.render import ApiResponse, page
from butlers.dashboard.tool_forms import fields_of

if TYPE_CHECKING:
    from butlers.butler import Butler

STATE_PAGE = 200


async def tools_of(butler: Butler) -> list[dict[str, Any]]:
    assert butler.mcp is not None
    listed = sorted(await butler.mcp.list_tools(), key=lambda t: t.name)
    return [{"name": t.name, "description": t.description or "", "input_schema": t.parameters} for t in listed]


async def butler_data(butler: Butler, prefix: str, key: str | None) -> dict[str, Any]:
    call = butler.call_own_tool
    state = await call("state_list", {"prefix": prefix, "limit": STATE_PAGE})
    recent = await call("sessions_list", {"limit": 10})
    return {
        "name": butler.name,
        "description": butler.config.description,
        "port": butler.config.port,
        "modules": [m.name for m in butler.modules],
        "schedules": (await call("schedule_list", {}))["schedules"],
        "prefix": prefix,
        "state": state["entries"],
        "selected": await call("state_get", {"key": key}) if key else None,
        "tools": await tools_of(butler),
        "sessions": recent["sessions"],
    }


def _query(request: Request) -> tuple[str, str | None]:
    prefix = params.text(request, "prefix", max_length=512) or ""
    return prefix, params.text(request, "key", max_length=512)


async def render_butler(request: Request, butler: Butler, error: str | None = None, status: int = 200) -> Response:
    """The butler page; with `error`, the message of a refused change above it (nothing was written)."""
    prefix, key = _query(request)
    data = await butler_data(butler, prefix, key)
    for tool in data["tools"]:
        tool["fields"] = fields_of(tool["input_schema"])
    response: HTMLResponse = page(request, "butler.html", error=error, **data)
    response.status_code = status
    return response


async def butler_page(request: Request) -> Response:
    return await render_butler(request, dashboard(request).butler(request.path_params["name"]))


async def butler_api(request: Request) -> Response:
    butler = dashboard(request).butler(request.path_params["name"])
    prefix, key = _query(request)
    return ApiResponse(await butler_data(butler, prefix, key))


async def butlers_page(request: Request) -> Response:
    d = dashboard(request)
    rows = [{"name": b.name, "phase": b.phase, "port": b.config.port, "error": b.error,
             "description": b.config.description} for _, b in sorted(d.fleet.butlers.items())]  # fmt: skip
    if request.url.path.startswith("/api/"):
        return ApiResponse({"butlers": rows})
    return page(request, "butlers.html", butlers=rows)


ROUTES = [
    *with_api("/butlers", butlers_page),
    *with_api("/butlers/{name}", butler_page, butler_api),
    *butler_actions.ROUTES,
    *butler_tools.ROUTES,
]
