"""The dashboard's guard: Host, operator token, Origin and CSRF token, and safe response headers.

In order, for every HTTP request:
1. `Host` must name the dashboard (loopback names, its bind address, `BUTLERS_ALLOWED_HOSTS`)
   on its port, else 403: a page on another site cannot reach it through DNS rebinding.
2. Bound beyond loopback, the request must carry the operator token: `Authorization: Bearer`
   (scripts) or the cookie the login form sets (browsers). Else 401 (API) or the login page.
3. A state-changing request (POST...) from a browser must come from the dashboard itself:
   its `Origin` (or `Referer`) is the dashboard's, and it carries the CSRF token of its cookie
   (`X-CSRF-Token` header or `csrf_token` form field). A bearer-token call is no browser's
   ambient credential, so it needs neither.
4. A state-changing request must be logged in, on loopback too (another local account may
   read, as it may call reading tools, but not act): else 401, JSON under /api/, a page with a
   login link otherwise (htmx: `HX-Redirect` to the login page). `/login` itself stays open.
"""

from __future__ import annotations

import hmac
import html
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, quote, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from butlers.auth import OperatorToken, is_loopback
from butlers.dashboard.login_codes import login_cookie_value
from butlers.http_guard import header_map, host_allowed, host_names, origins_for, read_body, replay_body

AUTH_COOKIE = "butlers_dashboard"
CSRF_COOKIE = "butlers_csrf"
CSRF_HEADER = b"x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = ("/login", "/static/")  # reachable without the token (the login form and its styles)
HEADERS = [
    (b"x-frame-options", b"DENY"),  # no framing: a foreign page cannot overlay our buttons
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
]


@dataclass(frozen=True)
class DashboardPolicy:
    port: int
    host_names: frozenset[str]
    origins: frozenset[str]
    token: OperatorToken
    require_token: bool
    max_body_bytes: int

    @classmethod
    def build(
        cls, *, host: str, port: int, token: OperatorToken, hosts: list[str], origins: list[str], max_body: int
    ) -> DashboardPolicy:
        names = host_names(host, hosts)
        return cls(port, names, origins_for(names, port, origins), token, not is_loopback(host), max_body)

    def login_value(self) -> str:
        """The auth cookie's value: derived from the token, so the cookie never holds the token itself."""
        return login_cookie_value(self.token.value)


@dataclass(frozen=True)
class DashboardGuard:
    """ASGI middleware applying a DashboardPolicy; see the module docstring."""

    app: ASGIApp
    policy: DashboardPolicy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: nothing to guard
            return await self.app(scope, receive, send)
        headers = header_map(scope)
        cookies = _cookies(headers)
        if not host_allowed(headers.get(b"host", b""), self.policy.host_names, self.policy.port):
            return await _refuse(send, 403, "foreign_host", "this Host is not one the dashboard serves")
        bearer = self._bearer(headers)
        if bearer is False:
            return await _refuse(send, 401, "invalid_token", "the bearer token is not the operator token")
        path: str = scope["path"]
        logged_in = bearer or self._cookie_ok(cookies)
        if self.policy.require_token and not logged_in and not path.startswith(OPEN_PATHS):
            return await _login_needed(scope, send)
        csrf = cookies.get(CSRF_COOKIE) or ""
        fresh = "" if len(csrf) >= 32 else secrets.token_urlsafe(32)
        state = scope.setdefault("state", {})
        state["csrf"] = csrf or fresh
        state["logged_in"] = bool(logged_in)
        if scope["method"] not in SAFE_METHODS and not bearer:
            refusal = self._origin_problem(headers)
            if refusal is None:
                receive, refusal = await self._csrf_problem(headers, receive, csrf)
            if refusal is not None:
                return await _refuse(send, 403, *refusal)
            if not logged_in and not path.startswith(OPEN_PATHS):
                return await _act_login_needed(path, headers, send)
        await self.app(scope, receive, _with_headers(send, fresh))

    def _bearer(self, headers: dict[bytes, bytes]) -> bool | None:
        """True: the operator token; False: some other credential; None: no Authorization header."""
        raw = headers.get(b"authorization")
        if raw is None:
            return None
        scheme, _, presented = raw.decode("latin-1").partition(" ")
        return scheme.lower() == "bearer" and self.policy.token.matches(presented.strip())

    def _cookie_ok(self, cookies: dict[str, str]) -> bool:
        presented = cookies.get(AUTH_COOKIE)
        return presented is not None and hmac.compare_digest(presented, self.policy.login_value())

    def _origin_problem(self, headers: dict[bytes, bytes]) -> tuple[str, str] | None:
        origin = headers.get(b"origin", b"").decode("latin-1").lower().rstrip("/")
        if not origin or origin == "null":
            referer = urlsplit(headers.get(b"referer", b"").decode("latin-1").lower())
            origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
        if not origin:
            return "origin_missing", "a state-changing request must say where it comes from (Origin)"
        if origin not in self.policy.origins:
            return "foreign_origin", f"requests from {origin} are not accepted"
        return None

    async def _csrf_problem(
        self, headers: dict[bytes, bytes], receive: Receive, expected: str
    ) -> tuple[Receive, tuple[str, str] | None]:
        presented = headers.get(CSRF_HEADER, b"").decode("latin-1")
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if not presented and content_type.startswith("application/x-www-form-urlencoded"):
            body = await read_body(receive, self.policy.max_body_bytes)
            if body is None:
                return receive, ("body_too_large", f"at most {self.policy.max_body_bytes} bytes")
            fields = parse_qs(body.decode("latin-1"))
            presented = (fields.get(CSRF_FIELD) or [""])[0]
            receive = replay_body(body, receive)
        if not expected or not presented or not hmac.compare_digest(presented, expected):
            return receive, ("csrf_token", "the form is stale or not the dashboard's: reload the page")
        return receive, None


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header counts as none
        return {}
    return {k: m.value for k, m in jar.items()}


def cookie_header(name: str, value: str, *, max_age: int | None = None) -> bytes:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts).encode()


def _with_headers(send: Send, fresh_csrf: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            extra = list(HEADERS)
            if fresh_csrf:
                extra.append((b"set-cookie", cookie_header(CSRF_COOKIE, fresh_csrf)))
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


async def _login_needed(scope: Scope, send: Send) -> None:
    path: str = scope["path"]
    if path.startswith(("/api/", "/events")):
        return await _refuse(send, 401, "token_required", "send the operator token (Authorization: Bearer)")
    location = "/login?next=" + (path if path.startswith("/") and not path.startswith("//") else "/")
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
    await send({"type": "http.response.body", "body": b""})


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _page_of(headers: dict[bytes, bytes]) -> str:
    """The dashboard page the action was taken on (htmx's current URL, else the Referer), to return to."""
    raw = headers.get(b"hx-current-url") or headers.get(b"referer") or b"/"
    parts = urlsplit(raw.decode("latin-1"))
    return _safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


async def _act_login_needed(path: str, headers: dict[bytes, bytes], send: Send) -> None:
    if path.startswith("/api/"):
        message = "acting needs the operator: log in (butlerctl dashboard) or send Authorization: Bearer"
        return await _refuse(send, 401, "login_required", message)
    login = "/login?next=" + quote(_page_of(headers), safe="/")
    body = (
        "<!doctype html><title>Log in to act</title><main><h2>Log in to act</h2>"
        "<p>Reading needs no login, but approving, cancelling and changing things does: "
        f'<a id="login-link" href="{html.escape(login)}">log in</a> '
        "(or run <code>butlerctl dashboard</code> for a one-time login link).</p></main>"
    ).encode()
    extra = [(b"hx-redirect", login.encode())] if headers.get(b"hx-request") else []
    response_headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *extra,
        *HEADERS,
    ]
    await send({"type": "http.response.start", "status": 401, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


async def _refuse(send: Send, status: int, reason: str, message: str) -> None:
    body = json.dumps({"error": {"status": status, "reason": reason, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
