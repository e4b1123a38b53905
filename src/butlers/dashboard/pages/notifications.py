"""Notifications (`/notifications`, `/api/notifications`): delivery status per message to a person; retry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard import params
from butlers.dashboard.pages.module_host import hosted, plain
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.render import ApiResponse, page
from butlers.errors import NotFoundError
from butlers.fleet_views import notifications, steering
from butlers.fleet_views.notifications import Status

if TYPE_CHECKING:
    from butlers.butler import Butler

TITLE = "Notifications"
STATUSES = [s.value for s in Status]


_hosted = hosted("notify", TITLE)


async def list_data(request: Request, delivering: Butler) -> dict[str, Any]:
    status = params.choice(request, "status", STATUSES)
    limit = params.integer(request, "limit", default=50, low=1, high=notifications.MAX_LIST)
    found = await notifications.list_notifications(
        delivering.pool, status=None if status is None else Status(status), limit=limit
    )
    return {
        "butler": delivering.name,
        "filters": {"status": status, "limit": limit},
        "counts": {s.value: n for s, n in (await notifications.status_counts(delivering.pool)).items()},
        "notifications": found,
    }


@_hosted
async def notifications_page(request: Request, delivering: Butler) -> Response:
    return page(request, "notifications.html", statuses=STATUSES, **await list_data(request, delivering))


@_hosted
async def notifications_api(request: Request, delivering: Butler) -> Response:
    return ApiResponse(plain(await list_data(request, delivering)))


@_hosted
async def retry(request: Request, delivering: Butler) -> Response:
    """Send a failed notification again, as `butlerctl notifications retry` does; answers once it is tried."""
    notification_id = params.identifier(request.path_params["notification_id"], "notification_id")
    if await notifications.get_notification(delivering.pool, notification_id) is None:
        raise NotFoundError(f"no notification {notification_id} on {delivering.name}")
    record = await steering.retry_notification(delivering, notification_id)
    if request.url.path.startswith("/api/"):
        return ApiResponse(record)
    return RedirectResponse(f"/notifications?butler={delivering.name}#notification-{notification_id}", status_code=303)


ROUTES = [
    *with_api("/notifications", notifications_page, notifications_api),
    *with_api("/notifications/{notification_id}/retry", retry, post=True),
]
