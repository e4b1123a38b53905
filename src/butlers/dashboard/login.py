"""Logging in: the operator token in a form, or a one-time code from `butlerctl dashboard`.

Reading needs no login on loopback; acting (approve, cancel, change) always does, and beyond
loopback everything does. Either way the browser gets the auth cookie (derived from the token).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard.login_codes import UsedCodes
from butlers.dashboard.render import page
from butlers.dashboard.security import AUTH_COOKIE, DashboardPolicy

LOGIN_DAYS = 30


def _next(request: Request, value: object) -> str:
    target = value if isinstance(value, str) else "/"
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _logged_in(policy: DashboardPolicy, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(AUTH_COOKIE, policy.login_value(), max_age=LOGIN_DAYS * 86400, httponly=True, samesite="strict")
    return response


async def form(request: Request) -> Response:
    target = _next(request, request.query_params.get("next"))
    code = request.query_params.get("code")
    if code is None:
        return page(request, "login.html", next=target, failed=False, code_refused=False)
    policy: DashboardPolicy = request.app.state.policy
    used: UsedCodes = request.app.state.used_login_codes
    if used.accept(policy.token.value, code):
        return _logged_in(policy, target)
    response = page(request, "login.html", next=target, failed=False, code_refused=True)
    response.status_code = 403
    return response


async def submit(request: Request) -> Response:
    policy: DashboardPolicy = request.app.state.policy
    fields = await request.form()
    token = fields.get("token")
    target = _next(request, fields.get("next"))
    if not isinstance(token, str) or not policy.token.matches(token.strip()):
        return page(request, "login.html", next=target, failed=True, code_refused=False)
    return _logged_in(policy, target)
