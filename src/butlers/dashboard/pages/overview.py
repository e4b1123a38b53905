"""Overview (`/`, `/api/overview`): every butler, what needs the user first, today's sessions and cost."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from butlers.dashboard.context import Dashboard, dashboard
from butlers.dashboard.pages.panels import render_panels
from butlers.dashboard.queries.fleet import each_butler
from butlers.dashboard.queries.overview import ButlerSummary, not_serving, summarize
from butlers.dashboard.render import ApiResponse, page


async def overview_data(d: Dashboard) -> dict[str, Any]:
    serving = await each_butler(d.serving(), summarize)
    others = [not_serving(b) for b in d.fleet.butlers.values() if b.name not in serving]
    butlers: list[ButlerSummary] = sorted([*serving.values(), *others], key=lambda s: s.name)
    # Config files that never made a butler: shown by file, with the reason.
    unloaded = [{"file": f, "error": e} for f, e in sorted(d.fleet.failures.items()) if f not in d.fleet.butlers]
    return {
        "butlers": [b.as_json() for b in butlers],
        "unloaded": unloaded,
        "sessions_today": sum(b.sessions_today for b in butlers),
        "cost_today": sum(b.cost_today for b in butlers),
        "pending_approvals": sum(len(b.pending_approvals) for b in butlers),
        "needs_you": needs_you(butlers, unloaded),
        "next_runs": sorted(
            ({**r, "butler": b.name} for b in butlers for r in b.next_runs), key=lambda r: r["next_run_at"]
        )[:10],
    }


def needs_you(butlers: list[ButlerSummary], unloaded: list[dict[str, str]]) -> list[dict[str, Any]]:
    """What the user should look at, most urgent first: broken butlers, held actions, failures."""
    items: list[dict[str, Any]] = [
        {"kind": "butler", "butler": b.name, "text": f"{b.name} is {b.phase}: {b.error}", "link": "/"}
        for b in butlers
        if b.error
    ]
    items += [{"kind": "config", "butler": None, "text": f"{u['file']}: {u['error']}", "link": "/"} for u in unloaded]
    for b in butlers:
        items += [
            {"kind": "approval", "butler": b.name, "text": f"{a['action']}: {a['summary']}", "link": "/approvals"}
            for a in b.pending_approvals
        ]
    for b in butlers:
        items += [
            {
                "kind": "delivery",
                "butler": b.name,
                "text": f"{n['channel']} → {n['recipient']}: {n['error']}",
                "link": "/notifications",
            }
            for n in b.failed_notifications
        ]
        items += [
            {
                "kind": "message",
                "butler": b.name,
                "text": f"{m['channel']} from {m['sender']}: {m['error']}",
                "link": "/messages",
            }
            for m in b.failed_messages
        ]
    return items


async def overview_page(request: Request) -> Response:
    d = dashboard(request)
    data = await overview_data(d)
    return page(request, "overview.html", panels=await render_panels(d), **data)


async def overview_api(request: Request) -> Response:
    d = dashboard(request)
    return ApiResponse({**await overview_data(d), "panels": await render_panels(d)})


ROUTES = [
    Route("/", overview_page),
    Route("/api/overview", overview_api),
]
