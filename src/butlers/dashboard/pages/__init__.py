"""The registry of pages: each module holds one page (its HTML routes and their `/api/` twins).

Adding a page: a new module here with a `ROUTES` list, its template(s), and one line in PAGES.
"""

from __future__ import annotations

from types import ModuleType

from starlette.routing import BaseRoute

from butlers.dashboard.pages import approvals, butler, overview, sessions, spend

PAGES: tuple[ModuleType, ...] = (
    overview,
    sessions,
    approvals,
    spend,  # i13term
    butler,  # i13term
)


def page_routes() -> list[BaseRoute]:
    return [route for module in PAGES for route in module.ROUTES]
