"""Messages (`/messages`, `/api/messages`): what reached the switchboard, where it went and why; retry, reroute."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard import params
from butlers.dashboard.context import Dashboard, dashboard
from butlers.dashboard.pages.module_host import field, hosted, plain
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.render import ApiResponse, page
from butlers.errors import NotFoundError
from butlers.fleet_views import messages, steering
from butlers.fleet_views.messages import MessageStatus

if TYPE_CHECKING:
    from butlers.butler import Butler

TITLE = "Messages"
STATUSES = [s.value for s in MessageStatus]


_hosted = hosted("switchboard", TITLE, "switchboard")


def targets(d: Dashboard, switchboard: Butler) -> list[str]:
    """The butlers a message can be rerouted to: every serving butler but the switchboard itself."""
    return [b.name for b in d.serving() if b.name != switchboard.name]


async def list_data(request: Request, switchboard: Butler) -> dict[str, Any]:
    status = params.choice(request, "status", STATUSES)
    channel = params.text(request, "channel", max_length=32)
    limit = params.integer(request, "limit", default=50, low=1, high=messages.MAX_LIST)
    found = await messages.list_messages(
        switchboard.pool, status=None if status is None else MessageStatus(status), channel=channel, limit=limit
    )
    return {
        "switchboard": switchboard.name,
        "filters": {"status": status, "channel": channel, "limit": limit},
        "counts": {s.value: n for s, n in (await messages.status_counts(switchboard.pool)).items()},
        "channels": await messages.channels(switchboard.pool),
        "messages": found,
    }


@_hosted
async def messages_page(request: Request, switchboard: Butler) -> Response:
    data = await list_data(request, switchboard)
    return page(request, "messages.html", statuses=STATUSES, **data)


@_hosted
async def messages_api(request: Request, switchboard: Butler) -> Response:
    return ApiResponse(plain(await list_data(request, switchboard)))


async def _detail(request: Request, switchboard: Butler) -> messages.Message:
    message_id = params.identifier(request.path_params["message_id"], "message_id")
    found = await messages.message_detail(switchboard.pool, message_id)
    if found is None:
        raise NotFoundError(f"no message {message_id} on {switchboard.name}")
    return found


@_hosted
async def message_page(request: Request, switchboard: Butler) -> Response:
    found = await _detail(request, switchboard)
    d = dashboard(request)
    return page(request, "message.html", switchboard=switchboard.name, message=found,
                targets=targets(d, switchboard))  # fmt: skip


@_hosted
async def message_api(request: Request, switchboard: Butler) -> Response:
    return ApiResponse(plain(await _detail(request, switchboard)))


async def _act(request: Request, switchboard: Butler, action: str) -> Response:
    message_id = (await _detail(request, switchboard)).id  # an unknown id is a 404, before any tool runs
    if action == "retry":
        report = await steering.retry_message(switchboard, message_id)
    else:
        report = await steering.reroute_message(switchboard, message_id, await _target(request, switchboard))
    if request.url.path.startswith("/api/"):
        return ApiResponse(report)
    return RedirectResponse(_back(message_id, switchboard), status_code=303)


async def _target(request: Request, switchboard: Butler) -> str:
    name = await field(request, "butler")
    allowed = targets(dashboard(request), switchboard)
    if name is None:
        raise BadParameterError("butler", f"name the butler to send it to (one of {', '.join(allowed) or 'none'})")
    if name not in allowed:
        raise BadParameterError("butler", f"{name!r} is not a serving butler to reroute to ({', '.join(allowed)})")
    return name


def _back(message_id: uuid.UUID, switchboard: Butler) -> str:
    return f"/messages/{message_id}?switchboard={switchboard.name}"


@_hosted
async def retry(request: Request, switchboard: Butler) -> Response:
    return await _act(request, switchboard, "retry")


@_hosted
async def reroute(request: Request, switchboard: Butler) -> Response:
    return await _act(request, switchboard, "reroute")


ROUTES = [
    *with_api("/messages", messages_page, messages_api),
    *with_api("/messages/{message_id}", message_page, message_api),
    *with_api("/messages/{message_id}/retry", retry, post=True),
    *with_api("/messages/{message_id}/reroute", reroute, post=True),
]
