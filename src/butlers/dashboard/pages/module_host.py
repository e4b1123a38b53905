"""What the Messages, Notifications, Contacts and Health pages share: the butler that hosts their module
(or why there is none), their records as JSON, and the value of a submitted form field."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, is_dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from butlers.dashboard import params
from butlers.dashboard.context import Dashboard, dashboard
from butlers.dashboard.pages.routing import Endpoint
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.render import ApiResponse, page
from butlers.fleet_views.hosts import hosts

if TYPE_CHECKING:
    from butlers.butler import Butler

MAX_FIELD = 500


@dataclass(frozen=True)
class Unavailable:
    """Why a page has nothing to show: no butler enables its module, or that butler is not serving."""

    module: str
    message: str


def module_host(d: Dashboard, module: str, name: str | None = None) -> Butler | Unavailable:
    """The serving butler that enables `module` (`name` when given: a 400 if it does not enable it)."""
    found = hosts(d.fleet.butlers, module)
    if name is not None:
        chosen = [b for b in found if b.name == name]
        if not chosen:
            names = ", ".join(b.name for b in found) or "none"
            raise BadParameterError("butler", f"{name!r} does not enable the {module} module (those that do: {names})")
        found = chosen
    if not found:
        return Unavailable(module, f"No butler of this daemon enables the {module} module: "
                                   f"add [modules.{module}] to a butler.toml to see this page.")  # fmt: skip
    butler = found[0]
    if butler.phase != "serving":
        why = butler.error or butler.phase
        return Unavailable(module, f"Butler '{butler.name}' enables the {module} module but is not serving ({why}).")
    return butler


def unavailable(request: Request, title: str, missing: Unavailable) -> Response:
    """The page's plain "not configured" message, or under /api/ the same as JSON (200: nothing is wrong)."""
    if request.url.path.startswith("/api/"):
        return ApiResponse({"configured": False, "module": missing.module, "message": missing.message})
    return page(request, "module_missing.html", title=title, message=missing.message)


HostedEndpoint = Callable[[Request, "Butler"], Awaitable[Response]]


def hosted(module: str, title: str, parameter: str = "butler") -> Callable[[HostedEndpoint], Endpoint]:
    """An endpoint of a page about `module`, called with the butler hosting it (the one the query's
    `parameter` names, if any); without one, the page's "not configured" answer instead."""

    def wrap(endpoint: HostedEndpoint) -> Endpoint:
        @wraps(endpoint)
        async def with_host(request: Request) -> Response:
            host = module_host(dashboard(request), module, params.text(request, parameter))
            if isinstance(host, Unavailable):
                return unavailable(request, title, host)
            return await endpoint(request, host)

        return with_host

    return wrap


def plain(value: Any) -> Any:
    """Records (dataclasses, pydantic models) as JSON-able values; times and ids stay for ApiResponse."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


async def field(request: Request, name: str) -> str | None:
    """A submitted value: the form's field, a JSON body's key (scripts), or the query's parameter."""
    value: Any = None
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise BadParameterError("body", "is not valid JSON") from None
        value = body.get(name) if isinstance(body, dict) else None
    else:
        value = (await request.form()).get(name)
    value = value if value is not None else request.query_params.get(name)
    if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD):
        raise BadParameterError(name, f"must be text of at most {MAX_FIELD} characters")
    return value or None
