"""Every page of the dashboard renders in a real browser (headless Chromium) against a seeded database.

One daemon for the module (butlers alpha and beta, the dashboard on a free port); the
screenshots in docs/screenshots/ are taken here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dashboard_helpers import (
    Daemon,
    dashboard_daemon,
    live_controls,
    logged_in_context,
    screenshot,
    seed_approval,
    seed_sessions,
    wait_until,
)
from security_helpers import OutboxModule

from butlers.db import ServerAddress


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    with dashboard_daemon(tmp_path_factory.mktemp("dashboard-pages"), pg_address) as running:
        seed_sessions(running, "alpha")
        seed_sessions(running, "beta", count=3)
        seed_approval(running, "alpha")
        yield running


@pytest.fixture
def page(browser: Any, daemon: Daemon) -> Iterator[Any]:
    context = logged_in_context(
        browser, daemon.url, daemon.supervisor.settings, viewport={"width": 1200, "height": 900}
    )
    opened = context.new_page()
    yield opened
    context.close()


def test_the_overview_shows_every_butler_and_what_needs_me_first(daemon: Daemon, page: Any) -> None:
    page.goto(daemon.url)
    alpha, beta = daemon.names["alpha"], daemon.names["beta"]
    assert page.locator(f"#butler-{alpha}").inner_text().split("\t")[1].strip().startswith("serving")
    assert "outbox" in page.locator(f"#butler-{alpha}").inner_text()
    assert page.locator(f"#butler-{beta}").is_visible()
    assert page.locator("#sessions-today").inner_text() == "9"
    assert page.locator("#pending-count").inner_text() == "1"
    first_need = page.locator("#needs-you li").first
    assert first_need.get_attribute("data-kind") == "approval"
    assert "Mail ann@example.com: Dinner on Friday" in first_need.inner_text()
    screenshot(page, "overview")


def test_the_pages_fit_a_phone_screen(daemon: Daemon, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        for path in ("", "sessions", "approvals"):
            phone.goto(daemon.url + path)
            # Wide tables scroll inside their own box; the page itself never scrolls sideways.
            assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        phone.goto(daemon.url)
        screenshot(phone, "overview-phone")
    finally:
        context.close()


def test_the_sessions_page_filters_and_a_session_shows_its_tool_calls(daemon: Daemon, page: Any) -> None:
    alpha = daemon.names["alpha"]
    page.goto(daemon.url + "sessions")
    assert page.locator("#sessions-list tbody tr").count() == 9
    page.select_option("select[name=butler]", alpha)
    page.select_option("select[name=status]", "failed")
    page.click("#session-filter button")
    page.wait_for_url("**/sessions?butler=*")
    rows = page.locator("#sessions-list tbody tr")
    assert rows.count() == 2
    assert all(rows.nth(i).get_attribute("data-status") == "failed" for i in range(2))
    screenshot(page, "sessions")
    rows.first.locator("a").click()
    page.wait_for_url(f"**/sessions/{alpha}/*")
    assert page.locator("#session-status").inner_text() == "failed"
    assert "529" in page.locator("#session-error").inner_text()
    assert page.locator("details.tool-call").count() == 2
    assert "groceries" in (page.locator("details.tool-call").nth(1).text_content() or "")
    assert page.locator("#session-cost").inner_text().startswith("$")
    screenshot(page, "session")


def test_sessions_come_in_pages_that_follow_each_other(daemon: Daemon, page: Any) -> None:
    page.goto(daemon.url + "sessions?limit=4")
    seen = []
    while True:
        seen += [r.get_attribute("id") for r in page.locator("#sessions-list tbody tr").all()]
        if page.locator("#next-page").count() == 0:
            break
        page.click("#next-page")
        page.wait_for_load_state()
    assert len(seen) == 9 and len(set(seen)) == 9


def test_approving_in_the_browser_runs_the_action_once(daemon: Daemon, page: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="bob@example.com")
    OutboxModule.sent.clear()
    page.goto(daemon.url + "approvals")
    held = page.locator(f"#approval-{approval}")
    assert "bob@example.com" in held.locator("pre.args").inner_text()
    screenshot(page, "approvals")
    held.locator("button.approve").click()
    page.wait_for_selector(f"#history-{approval}[data-status=succeeded]")
    assert OutboxModule.sent == [{"to": "bob@example.com", "subject": "Dinner on Friday", "body": "See you at eight."}]
    # The same form again (a double click, a replayed request): the action does not run twice.
    status = post_form(daemon, f"approvals/{daemon.names['alpha']}/{approval}/approve", page)
    assert status == 303
    assert len(OutboxModule.sent) == 1
    (row,) = daemon.sql("alpha", "SELECT status, decided_by, decided_via FROM approvals WHERE id = %s", str(approval))
    assert row == {"status": "succeeded", "decided_by": "operator", "decided_via": "dashboard"}


def test_rejecting_in_the_browser_records_the_reason_and_runs_nothing(daemon: Daemon, page: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="eve@example.com")
    OutboxModule.sent.clear()
    page.goto(daemon.url + "approvals")
    held = page.locator(f"#approval-{approval}")
    held.locator("input[name=reason]").fill("not to her")
    held.locator("button.reject").click()
    page.wait_for_selector(f"#history-{approval}[data-status=rejected]")
    assert "not to her" in page.locator(f"#history-{approval}").inner_text()
    assert OutboxModule.sent == []


def test_a_reason_being_typed_is_kept_when_a_new_approval_arrives(daemon: Daemon, page: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="dan@example.com")
    OutboxModule.sent.clear()
    page.goto(daemon.url + "approvals")
    hub = daemon.supervisor.dashboard.hub  # type: ignore[union-attr]
    wait_until(lambda: hub.subscribers >= 1 and daemon.names["alpha"] in hub.listening, 30)
    reason = page.locator(f"#approval-{approval} input[name=reason]")
    reason.fill("not to dan")
    arriving = seed_approval(daemon, "alpha", to="fay@example.com")  # announced: the list is swapped live
    page.locator(f"#approval-{arriving}").wait_for(timeout=30_000)
    assert reason.input_value() == "not to dan"
    assert page.evaluate("document.activeElement.name") == "reason"  # the cursor stayed where the user types
    page.keyboard.type(", ever")
    reason.press("Enter")  # the reject form's submit: it sends what was typed, before and after the swap
    page.wait_for_selector(f"#history-{approval}[data-status=rejected]")
    assert "not to dan, ever" in page.locator(f"#history-{approval}").inner_text()
    (row,) = daemon.sql("alpha", "SELECT status, reason FROM approvals WHERE id = %s", str(approval))
    assert row == {"status": "rejected", "reason": "not to dan, ever"}
    assert OutboxModule.sent == []
    cleared = httpx.post(
        daemon.url + f"api/approvals/{daemon.names['alpha']}/{arriving}/reject",
        headers={"Authorization": f"Bearer {daemon.token}"},
    )
    assert cleared.status_code == 200  # nothing left pending by this test


def test_every_form_control_in_a_live_area_is_kept_through_a_live_swap(daemon: Daemon, page: Any) -> None:
    alpha = daemon.names["alpha"]
    [session] = daemon.sql("alpha", "SELECT id FROM sessions ORDER BY queued_at LIMIT 1")
    seen = 0
    for path in ("", "approvals", "sessions", f"sessions/{alpha}/{session['id']}", "spend", f"butlers/{alpha}"):
        page.goto(daemon.url + path)
        controls = live_controls(page)
        assert [html for html, kept in controls if not kept] == [], path
        seen += len(controls)
    assert seen >= 3  # the pending approval's reason, the spend page's since and top


def post_form(daemon: Daemon, path: str, page: Any, **headers: str) -> int:
    """POST the way the page's own form does: its origin, its CSRF cookie and token."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    token = cookies["butlers_csrf"]
    sent = {"Origin": daemon.url.rstrip("/"), **headers}
    response = httpx.post(
        daemon.url + path, data={"csrf_token": token}, cookies=cookies, headers=sent, follow_redirects=False
    )
    return response.status_code


def test_a_cross_origin_post_and_a_foreign_host_are_refused(daemon: Daemon, page: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="mallory@example.com")
    OutboxModule.sent.clear()
    page.goto(daemon.url + "approvals")
    path = f"approvals/{daemon.names['alpha']}/{approval}/approve"
    assert post_form(daemon, path, page, Origin="https://evil.example") == 403
    assert httpx.post(daemon.url + path, headers={"Origin": daemon.url.rstrip("/")}).status_code == 403  # no token
    assert httpx.get(daemon.url, headers={"Host": "evil.example"}).status_code == 403
    assert httpx.get(daemon.url, headers={"Host": f"127.0.0.1:{daemon.port + 1}"}).status_code == 403
    assert OutboxModule.sent == []
    (row,) = daemon.sql("alpha", "SELECT status FROM approvals WHERE id = %s", str(approval))
    assert row["status"] == "pending"
    # A form of another site cannot even be driven through a real browser.
    page.set_content(f'<form method="post" action="{daemon.url}{path}"><input name="csrf_token" value="guess"></form>')
    with page.expect_response(lambda r: "/approve" in r.url) as answer:
        page.evaluate("document.forms[0].submit()")
    assert answer.value.status == 403
    assert OutboxModule.sent == []


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("api/sessions?status=exploded", "status"),
        ("api/sessions?butler=nobody", "butler"),
        ("api/sessions?day=yesterday", "day"),
        ("api/sessions?limit=0", "limit"),
        ("api/sessions?before=nonsense", "before"),
        ("api/approvals?status=maybe", "status"),
    ],
)
def test_the_json_api_answers_bad_input_with_a_400_naming_the_parameter(
    daemon: Daemon, path: str, parameter: str
) -> None:
    response = httpx.get(daemon.url + path)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"{parameter}: ")


def test_the_json_api_answers_unknown_things_with_404(daemon: Daemon) -> None:
    alpha = daemon.names["alpha"]
    assert httpx.get(daemon.url + f"api/sessions/{alpha}/not-a-uuid").status_code == 400
    missing = httpx.get(daemon.url + f"api/sessions/{alpha}/5a1b2c3d-0000-4000-8000-000000000001")
    assert missing.status_code == 404 and "no session" in missing.json()["error"]["message"]
    assert httpx.get(daemon.url + "api/sessions/nobody/5a1b2c3d-0000-4000-8000-000000000001").status_code == 404
    overview = httpx.get(daemon.url + "api/overview").json()
    assert {b["name"] for b in overview["butlers"]} == set(daemon.names.values())


def test_a_bearer_token_script_may_post_without_browser_proofs(daemon: Daemon) -> None:
    approval = seed_approval(daemon, "beta", to="carl@example.com")
    path = f"api/approvals/{daemon.names['beta']}/{approval}/reject"
    assert httpx.post(daemon.url + path, headers={"Authorization": "Bearer wrong-token-123456"}).status_code == 401
    answer = httpx.post(daemon.url + path, headers={"Authorization": f"Bearer {daemon.token}"})
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
