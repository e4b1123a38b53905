"""What every page handler reaches through `request.app.state.dashboard`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request

from butlers.dashboard.events import EventHub
from butlers.errors import NotFoundError
from butlers.settings import Settings

if TYPE_CHECKING:
    from butlers.butler import Butler


class Fleet(Protocol):
    """The supervisor as the dashboard sees it: its live butlers and why the others failed."""

    butlers: dict[str, Butler]
    failures: dict[str, str]


@dataclass
class Dashboard:
    fleet: Fleet
    hub: EventHub
    settings: Settings

    def serving(self) -> list[Butler]:
        """The butlers whose pool and stores exist, by name."""
        return [b for _, b in sorted(self.fleet.butlers.items()) if b.phase == "serving"]

    def butler(self, name: str) -> Butler:
        """A serving butler by name; NotFoundError otherwise (a 404 at the edge)."""
        found = self.fleet.butlers.get(name)
        if found is None or found.phase != "serving":
            raise NotFoundError(f"no serving butler named {name!r}")
        return found


def dashboard(request: Request) -> Dashboard:
    found: Dashboard = request.app.state.dashboard
    return found
