"""The registry of pages: each module holds one page (its HTML routes and their `/api/` twins).

Adding a page: a new module here with a `ROUTES` list, its template(s), and one line in PAGES.
"""

from __future__ import annotations

from types import ModuleType

from starlette.routing import BaseRoute

from butlers.dashboard.pages import (
    approvals,
    butler,
    contacts,
    health,
    messages,
    notifications,
    overview,
    sessions,
    spend,
)

PAGES: tuple[ModuleType, ...] = (
    overview,
    sessions,
    approvals,
    butler,
    spend,
    messages,
    notifications,
    contacts,
    health,
)


def page_routes() -> list[BaseRoute]:
    return [route for module in PAGES for route in module.ROUTES]
