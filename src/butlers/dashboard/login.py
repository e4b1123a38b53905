"""The login form, needed only when the dashboard is bound beyond loopback: the operator token, once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard.render import page
from butlers.dashboard.security import AUTH_COOKIE, DashboardPolicy

LOGIN_DAYS = 30


def _next(request: Request, value: object) -> str:
    target = value if isinstance(value, str) else "/"
    return target if target.startswith("/") and not target.startswith("//") else "/"


async def form(request: Request) -> Response:
    return page(request, "login.html", next=_next(request, request.query_params.get("next")), failed=False)


async def submit(request: Request) -> Response:
    policy: DashboardPolicy = request.app.state.policy
    fields = await request.form()
    token = fields.get("token")
    target = _next(request, fields.get("next"))
    if not isinstance(token, str) or not policy.token.matches(token.strip()):
        return page(request, "login.html", next=target, failed=True)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(AUTH_COOKIE, policy.login_value(), max_age=LOGIN_DAYS * 86400, httponly=True, samesite="strict")
    return response
