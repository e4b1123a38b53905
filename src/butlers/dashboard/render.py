"""Rendering: Jinja2 templates for pages, JSON for the API, and errors as messages (never tracebacks)."""

from __future__ import annotations

import contextlib
import functools
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from butlers.dashboard.nav import NAV

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent


@functools.cache
def templates() -> Jinja2Templates:
    """The page templates, built at the first page served: Jinja2 is not loaded by a start nobody looks at."""
    from starlette.templating import Jinja2Templates

    built = Jinja2Templates(directory=HERE / "templates")
    built.env.filters.update(short_json=short_json, money=money, when=when)
    return built


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value) if isinstance(value, UUID) else float(value)
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_plain)


class ApiResponse(JSONResponse):
    """JSON with datetimes, UUIDs and decimals written plainly."""

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def page(request: Request, template: str, **data: Any) -> HTMLResponse:
    """A full page: `template` extends base.html, which shows the navigation and the CSRF token."""
    logged_in = getattr(request.state, "logged_in", False)
    seen = getattr(request.state, "events_seen", -1)  # stream.NoteEventsSeen; sent back by /events
    context = {"nav": NAV, "path": request.url.path, "csrf": request.state.csrf, "logged_in": logged_in,
               "events_seen": seen, **data}  # fmt: skip
    return templates().TemplateResponse(request, template, context)


def error_page(request: Request, status: int, message: str) -> Response:
    """An error as the caller reads it: JSON under /api/, else a page with the message."""
    if request.url.path.startswith("/api/"):
        return ApiResponse({"error": {"status": status, "message": message}}, status_code=status)
    csrf = getattr(request.state, "csrf", "")
    logged_in = getattr(request.state, "logged_in", False)
    context = {"nav": NAV, "path": request.url.path, "csrf": csrf, "logged_in": logged_in}
    context |= {"status": status, "message": message}
    return templates().TemplateResponse(request, "error.html", context, status_code=status)


def short_json(value: Any, limit: int = 4000) -> str:
    """Arguments and results shown on a page: pretty JSON, cut at `limit` characters."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        with contextlib.suppress(ValueError):  # a tool result is JSON text: show it laid out
            value = json.loads(value)
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=_plain, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text) - limit} more characters)"


def money(value: Any) -> str:
    amount = float(value or 0)
    return f"${amount:.4f}" if 0 < amount < 0.01 else f"${amount:.2f}"


def when(value: Any) -> str:
    """A timestamp in the daemon's local time, to the second."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return "—"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
