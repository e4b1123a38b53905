"""Contacts (`/contacts`, `/api/contacts`): search the relationship module's contacts; a contact's page with
its activity feed and upcoming dates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from butlers.dashboard import params
from butlers.dashboard.pages.module_host import hosted, plain
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.render import ApiResponse, page
from butlers.errors import NotFoundError
from butlers.fleet_views import contacts

if TYPE_CHECKING:
    from butlers.butler import Butler

TITLE = "Contacts"
MAX_ID = 2**63 - 1


_hosted = hosted("relationship", TITLE)


async def search_data(request: Request, host: Butler) -> dict[str, Any]:
    query = params.text(request, "q", max_length=200) or ""
    limit = params.integer(request, "limit", default=50, low=1, high=contacts.MAX_LIST)
    days = params.integer(request, "days", default=30, low=0, high=contacts.MAX_DAYS)
    today = datetime.now(UTC).date()
    return {
        "butler": host.name,
        "q": query,
        "days": days,
        "contacts": await contacts.find(host.pool, query, limit=limit),
        "upcoming": await contacts.upcoming(host.pool, today, days),
        "overdue": await contacts.overdue(host.pool),
    }


async def contact_data(request: Request, host: Butler) -> contacts.ContactPage:
    raw = request.path_params["contact_id"]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise BadParameterError("contact_id", f"{raw!r} is not a contact id (a positive whole number)")
    before = params.text(request, "before", max_length=100)
    limit = params.integer(request, "limit", default=20, low=1, high=100)
    try:
        found = await contacts.contact_page(host.pool, int(raw), datetime.now(UTC).date(), before=before, limit=limit)
    except ValueError as exc:
        raise BadParameterError("before", str(exc)) from None
    if found is None:
        raise NotFoundError(f"no contact {raw} on {host.name}")
    return found


@_hosted
async def contacts_page(request: Request, host: Butler) -> Response:
    return page(request, "contacts.html", **await search_data(request, host))


@_hosted
async def contacts_api(request: Request, host: Butler) -> Response:
    return ApiResponse(plain(await search_data(request, host)))


@_hosted
async def contact_page(request: Request, host: Butler) -> Response:
    return page(request, "contact.html", butler=host.name, view=await contact_data(request, host))


@_hosted
async def contact_api(request: Request, host: Butler) -> Response:
    return ApiResponse(plain(await contact_data(request, host)))


ROUTES = [
    *with_api("/contacts", contacts_page, contacts_api),
    *with_api("/contacts/{contact_id}", contact_page, contact_api),
]
