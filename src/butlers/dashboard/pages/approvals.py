"""Approvals (`/approvals`): held actions with everything they would do; approve or reject; history.

A decision here is recorded as the operator's, made through the dashboard
(`decided_by='operator'`, `decided_via='dashboard'`, migration 0010).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.core.approvals import Approval, Decider, UnknownActionError
from butlers.dashboard import params
from butlers.dashboard.context import Dashboard, dashboard
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.queries.fleet import each_butler
from butlers.dashboard.render import ApiResponse, page
from butlers.errors import ButlersError, NotFoundError
from butlers.statuses import ApprovalStatus

DASHBOARD = Decider("operator", "dashboard")
HISTORY = 50


class DecisionError(ButlersError):
    """The action cannot be decided now (no module on the butler provides it)."""


async def approvals_data(d: Dashboard, butler: str | None, status: str | None, limit: int) -> dict[str, Any]:
    butlers = [d.butler(butler)] if butler else d.serving()
    wanted = ApprovalStatus(status) if status else None
    pending = await each_butler(butlers, lambda b: b.approvals.list(ApprovalStatus.PENDING, limit))
    history = await each_butler(butlers, lambda b: b.approvals.list(wanted, limit))
    return {
        "pending": sorted((_with(n, a) for n, rows in pending.items() for a in rows), key=lambda a: a["created_at"]),
        "history": sorted(
            (_with(n, a) for n, rows in history.items() for a in rows if a.status is not ApprovalStatus.PENDING),
            key=lambda a: a["created_at"],
            reverse=True,
        )[:limit],
    }


def _with(butler: str, approval: Approval) -> dict[str, Any]:
    return {"butler": butler, **approval.model_dump(mode="json")}


def _query(request: Request, d: Dashboard) -> tuple[str | None, str | None, int]:
    return (
        params.choice(request, "butler", [b.name for b in d.serving()]),
        params.choice(request, "status", list(ApprovalStatus)),
        params.integer(request, "limit", default=HISTORY, low=1, high=500),
    )


async def approvals_page(request: Request) -> Response:
    d = dashboard(request)
    return page(request, "approvals.html", **await approvals_data(d, *_query(request, d)))


async def approvals_api(request: Request) -> Response:
    d = dashboard(request)
    return ApiResponse(await approvals_data(d, *_query(request, d)))


async def _decide(request: Request) -> dict[str, Any]:
    butler = dashboard(request).butler(request.path_params["butler"])
    approval_id = params.identifier(request.path_params["approval_id"], "approval_id")
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise NotFoundError(f"no decision {decision!r}: approve or reject")
    if decision == "reject":
        form = await request.form() if request.headers.get("content-type", "").startswith("application/x-www") else {}
        reason = form.get("reason")
        reason_text = reason.strip()[:500] if isinstance(reason, str) and reason.strip() else None
        return _with(butler.name, await butler.approvals.reject(approval_id, reason_text, DASHBOARD))
    try:
        return _with(butler.name, await butler.approvals.approve(approval_id, DASHBOARD))
    except UnknownActionError:
        raise DecisionError(f"no module of {butler.name} provides this action now; it stays pending") from None


async def decide_form(request: Request) -> Response:
    await _decide(request)
    return RedirectResponse("/approvals", status_code=303)


async def decide_api(request: Request) -> Response:
    return ApiResponse(await _decide(request))


ROUTES = [
    *with_api("/approvals", approvals_page, approvals_api),
    *with_api("/approvals/{butler}/{approval_id}/{decision:str}", decide_form, decide_api, post=True),
]
