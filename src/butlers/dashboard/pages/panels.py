"""Extra panels of the overview that other pages' modules contribute (e.g. the monthly spend ceiling).

A panel is an async function of the Dashboard returning the data its template
`templates/panels/<name>.html` shows (or None to show nothing); register it in PANELS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from butlers.dashboard.context import Dashboard

Panel = Callable[[Dashboard], Awaitable[dict[str, Any] | None]]

PANELS: dict[str, Panel] = {}


async def render_panels(dashboard: Dashboard) -> dict[str, dict[str, Any]]:
    shown: dict[str, dict[str, Any]] = {}
    for name, panel in PANELS.items():
        data = await panel(dashboard)
        if data is not None:
            shown[name] = data
    return shown
