"""The dashboard's Starlette app: the pages of `pages.PAGES`, live events, static files, the guard."""

from __future__ import annotations

from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from butlers.dashboard import login, stream
from butlers.dashboard.context import Dashboard
from butlers.dashboard.login_codes import USED_CODES_FILE, UsedCodes
from butlers.dashboard.pages import page_routes
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.render import HERE, error_page
from butlers.dashboard.security import DashboardGuard, DashboardPolicy
from butlers.errors import ButlersError, NotFoundError

log = structlog.get_logger(__name__)


async def _bad_parameter(request: Request, exc: Exception) -> Response:
    return error_page(request, 400, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_page(request, 404, str(exc))


async def _refused(request: Request, exc: Exception) -> Response:
    # Our own errors carry a message written for the user (a refusal, a conflict).
    return error_page(request, 409, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "error"
    return error_page(request, status, "no such page" if status == 404 else str(detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("dashboard.error", path=request.url.path, error=repr(exc), exc_info=exc)
    return error_page(request, 500, "something went wrong; the daemon's log has the details")


def build_app(dashboard: Dashboard, policy: DashboardPolicy) -> Starlette:
    routes: list[Any] = [
        *page_routes(),
        Route("/events", stream.events),
        Route("/login", login.form, methods=["GET"]),
        Route("/login", login.submit, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    handlers: dict[Any, Any] = {
        BadParameterError: _bad_parameter,
        NotFoundError: _not_found,
        ButlersError: _refused,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    middleware = [Middleware(DashboardGuard, policy=policy), Middleware(stream.NoteEventsSeen, hub=dashboard.hub)]
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.state.dashboard = dashboard
    app.state.policy = policy
    app.state.used_login_codes = UsedCodes(dashboard.settings.data_dir / USED_CODES_FILE)  # login.py
    return app
