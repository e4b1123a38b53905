"""The dashboard's guard in front of a small Starlette app: Host, Origin + CSRF token, operator token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from butlers.auth import OperatorToken, TokenSource
from butlers.dashboard.login_codes import login_cookie_value
from butlers.dashboard.security import AUTH_COOKIE, CSRF_COOKIE, DashboardGuard, DashboardPolicy

TOKEN = OperatorToken("operator-token-0123456789", TokenSource.ENV)
PORT = 8200  # only a name in Host headers: nothing listens, the app is called in-process
BASE = f"http://127.0.0.1:{PORT}"
CSRF = "c" * 43


async def changed(request: Request) -> PlainTextResponse:
    form = await request.form()  # the guard read the body first: the handler still gets it whole
    return PlainTextResponse(f"changed {form.get('what')}")


async def shown(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"csrf={request.state.csrf}")


def guarded(host: str = "127.0.0.1") -> DashboardGuard:
    routes = [Route("/change", changed, methods=["POST"]), Route("/api/x", changed, methods=["POST"])]
    routes += [Route("/", shown), Route("/api/x", shown), Route("/login/form", changed, methods=["POST"])]
    app = Starlette(routes=routes)
    policy = DashboardPolicy.build(host=host, port=PORT, token=TOKEN, hosts=[], origins=[], max_body=4096)
    return DashboardGuard(app, policy)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(guarded()), base_url=BASE) as c:
        yield c


async def test_a_first_visit_gets_a_csrf_cookie_and_safe_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    token = response.cookies[CSRF_COOKIE]
    assert response.text == f"csrf={token}" and len(token) >= 32
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_a_foreign_host_is_refused(client: httpx.AsyncClient) -> None:
    for host in ("evil.example", "evil.example:8200", "127.0.0.1:8201"):
        response = await client.get("/", headers={"Host": host})
        assert response.status_code == 403 and response.json()["error"]["reason"] == "foreign_host", host


@pytest.mark.parametrize(
    ("headers", "form_token", "reason"),
    [
        ({}, CSRF, "origin_missing"),
        ({"Origin": "https://evil.example"}, CSRF, "foreign_origin"),
        ({"Referer": "https://evil.example/page"}, CSRF, "foreign_origin"),
        ({"Origin": BASE}, None, "csrf_token"),
        ({"Origin": BASE}, "d" * 43, "csrf_token"),
    ],
)
async def test_a_post_without_both_proofs_is_refused(
    client: httpx.AsyncClient, headers: dict[str, str], form_token: str | None, reason: str
) -> None:
    data = {"what": "x", **({"csrf_token": form_token} if form_token else {})}
    response = await client.post("/change", data=data, headers=headers, cookies={CSRF_COOKIE: CSRF})
    assert response.status_code == 403
    assert response.json()["error"]["reason"] == reason


async def test_the_dashboards_own_form_and_htmx_request_pass(client: httpx.AsyncClient) -> None:
    logged_in = {CSRF_COOKIE: CSRF, AUTH_COOKIE: login_cookie_value(TOKEN.value)}  # acting needs login, on loopback too
    form = await client.post(
        "/change", data={"what": "form", "csrf_token": CSRF}, headers={"Origin": BASE}, cookies=logged_in
    )
    assert (form.status_code, form.text) == (200, "changed form")
    htmx = await client.post(
        "/change",
        data={"what": "htmx"},
        headers={"Referer": f"{BASE}/approvals", "X-CSRF-Token": CSRF},
        cookies=logged_in,
    )
    assert (htmx.status_code, htmx.text) == (200, "changed htmx")


async def test_a_script_with_the_bearer_token_needs_no_browser_proofs(client: httpx.AsyncClient) -> None:
    ok = await client.post("/change", data={"what": "api"}, headers={"Authorization": f"Bearer {TOKEN.value}"})
    assert (ok.status_code, ok.text) == (200, "changed api")
    wrong = await client.post("/change", data={"what": "api"}, headers={"Authorization": "Bearer not-it-at-all"})
    assert wrong.status_code == 401


async def test_beyond_loopback_every_request_needs_the_token() -> None:
    transport = httpx.ASGITransport(guarded(host="192.0.2.10"))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://192.0.2.10:{PORT}") as remote:
        page = await remote.get("/")
        assert (page.status_code, page.headers["location"]) == (303, "/login?next=/")
        assert (await remote.get("/api/x")).status_code == 401
        assert (await remote.get("/login")).status_code == 404  # open to all (no such route in this small app)
        bearer = await remote.get("/api/x", headers={"Authorization": f"Bearer {TOKEN.value}"})
        assert bearer.status_code == 200
        policy = guarded().policy
        logged_in = await remote.get("/", cookies={AUTH_COOKIE: policy.login_value()})
        assert logged_in.status_code == 200
        assert TOKEN.value not in policy.login_value()
        assert (await remote.get("/", cookies={AUTH_COOKIE: "forged"})).status_code == 303


async def test_on_loopback_acting_without_login_is_401_after_the_browser_proofs(client: httpx.AsyncClient) -> None:
    proofs = {"Origin": BASE, "X-CSRF-Token": CSRF}
    page = await client.post("/change", data={"what": "x"}, headers=proofs, cookies={CSRF_COOKIE: CSRF})
    assert page.status_code == 401 and 'href="/login?next=/"' in page.text
    back = {**proofs, "Referer": f"{BASE}/approvals?status=pending"}
    htmx = await client.post("/change", headers={**back, "HX-Request": "true"}, cookies={CSRF_COOKIE: CSRF})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login?next=/approvals%3Fstatus%3Dpending"
    api = await client.post("/api/x", json={}, headers=proofs, cookies={CSRF_COOKIE: CSRF})
    assert api.status_code == 401 and api.json()["error"]["reason"] == "login_required"
    foreign = await client.post("/change", headers={"Origin": "https://evil.example"}, cookies={CSRF_COOKIE: CSRF})
    assert foreign.status_code == 403  # the order stays: a foreign origin is refused as such, not asked to log in
    wrong = {CSRF_COOKIE: CSRF, AUTH_COOKIE: login_cookie_value("some-other-token-0123456")}
    assert (await client.post("/change", headers=proofs, cookies=wrong)).status_code == 401


async def test_on_loopback_reading_and_the_login_form_need_no_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).status_code == 200
    login = await client.post(
        "/login/form",
        data={"what": "login"},
        headers={"Origin": BASE, "X-CSRF-Token": CSRF},
        cookies={CSRF_COOKIE: CSRF},
    )
    assert (login.status_code, login.text) == (200, "changed login")
