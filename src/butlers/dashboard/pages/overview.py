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
    items = [_item("butler", b.name, f"{b.name} is {b.phase}: {b.error}", "/") for b in butlers if b.error]
    items += [_item("config", None, f"{u['file']}: {u['error']}", "/") for u in unloaded]
    items += [_item("approval", b.name, f"{a['action']}: {a['summary']}", "/approvals") for b in butlers
              for a in b.pending_approvals]  # fmt: skip
    for b in butlers:
        items += [_item("delivery", b.name, f"{n['channel']} → {n['recipient']}: {n['error']}", "/notifications")
                  for n in b.failed_notifications]  # fmt: skip
        items += [_item("message", b.name, f"{m['channel']} from {m['sender']}: {m['error']}", "/messages")
                  for m in b.failed_messages]  # fmt: skip
    return items


def _item(kind: str, butler: str | None, text: str, link: str) -> dict[str, Any]:
    return {"kind": kind, "butler": butler, "text": text, "link": link}


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
