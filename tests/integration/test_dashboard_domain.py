"""The Messages, Notifications, Contacts and Health pages in a real browser (headless Chromium), against a
seeded fleet: retry and reroute a message, retry a notification, search contacts, chart health.

One daemon for the module (domain_dashboard.py); the screenshots in docs/screenshots/ are taken here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dashboard_helpers import Daemon, dashboard_daemon, live_controls, logged_in_context, screenshot, wait_until
from domain_dashboard import OWNER_CHAT, DomainDaemon, domain_daemon

from butlers.auth import find_operator_token
from butlers.db import ServerAddress

WAIT_S = 60


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[DomainDaemon]:
    with domain_daemon(tmp_path_factory.mktemp("dashboard-domain"), pg_address) as running:
        yield running


@pytest.fixture
def page(browser: Any, daemon: DomainDaemon) -> Iterator[Any]:
    context = logged_in_context(
        browser, daemon.url, daemon.supervisor.settings, viewport={"width": 1200, "height": 900}
    )
    opened = context.new_page()
    yield opened
    context.close()


def api(daemon: DomainDaemon) -> httpx.Client:
    """A script's client: the operator token as a bearer header (no CSRF token needed then)."""
    token = find_operator_token(daemon.supervisor.settings)
    assert token is not None
    return httpx.Client(base_url=daemon.url, headers={"Authorization": f"Bearer {token.value}"}, timeout=120)


def routing(daemon: DomainDaemon, message_id: Any) -> list[dict[str, Any]]:
    return daemon.fetch(
        "switchboard",
        "SELECT attempt, part, butler, reason_kind, status, session_id FROM routing_log"
        " WHERE inbound_id = $1 ORDER BY attempt, part",
        message_id,
    )


def test_messages_show_each_routing_decision_its_reason_and_target_session(daemon: DomainDaemon, page: Any) -> None:
    seeded, names = daemon.messages, daemon.names
    assert seeded is not None
    page.goto(daemon.url + "messages")
    handled = page.locator(f"#message-{seeded.handled}")
    assert "rule: rule 'weight'" in handled.inner_text()
    [session] = [r["session_id"] for r in routing(daemon, seeded.handled)]
    assert (
        handled.locator("a", has_text=names["health"]).get_attribute("href") == f"/sessions/{names['health']}/{session}"
    )
    split = page.locator(f"#message-{seeded.split}").inner_text()
    assert "part 1/2" in split and "part 2/2" in split and names["relationship"] in split
    assert page.locator(f"#message-{seeded.failed}").get_attribute("data-status") == "failed"
    assert page.locator(f"#message-{seeded.ignored} .retry").count() == 0  # only a failed one is retried
    screenshot(page, "messages")

    page.goto(daemon.url + "messages?status=ignored")
    assert page.locator("tbody tr").count() == 1 and "allowed_senders" in page.locator("tbody").inner_text()

    page.goto(daemon.url + "messages")  # the target session's link opens that butler's session
    page.locator(f"#message-{seeded.handled} a", has_text=names["health"]).click()
    page.wait_for_url(f"**/sessions/{names['health']}/{session}")
    assert "81.2 kg" in page.locator("main").inner_text()


def test_a_message_that_arrives_appears_without_reload(daemon: DomainDaemon, page: Any) -> None:
    page.goto(daemon.url + "messages?status=ignored")
    hub = daemon.supervisor.dashboard.hub  # type: ignore[union-attr]
    wait_until(lambda: hub.subscribers >= 1 and daemon.names["switchboard"] in hub.listening, WAIT_S)
    page.evaluate("window.notReloaded = true")
    [row] = daemon.fetch(
        "switchboard",
        """INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, status, finished_at, error)
           VALUES ('telegram', 'live-1', 'stranger', 'Hello from outside', now(), 'ignored', now(),
                   'sender not allowed') RETURNING id""",
    )
    page.locator(f"#message-{row['id']}").wait_for(timeout=WAIT_S * 1000)
    assert page.evaluate("window.notReloaded") is True  # swapped in by htmx on the SSE event, no reload


def test_a_filter_being_chosen_is_kept_when_a_message_arrives(daemon: DomainDaemon, page: Any) -> None:
    page.goto(daemon.url + "messages")
    hub = daemon.supervisor.dashboard.hub  # type: ignore[union-attr]
    wait_until(lambda: hub.subscribers >= 1 and daemon.names["switchboard"] in hub.listening, WAIT_S)
    page.locator("#messages select[name=status]").select_option("failed")
    page.locator("#messages select[name=channel]").select_option("telegram")
    [row] = daemon.fetch(
        "switchboard",
        """INSERT INTO inbound_messages (channel, external_id, sender, text, received_at, status, finished_at, error)
           VALUES ('telegram', 'live-2', 'stranger', 'Hello again', now(), 'ignored', now(),
                   'sender not allowed') RETURNING id""",
    )
    page.locator(f"#message-{row['id']}").wait_for(timeout=WAIT_S * 1000)  # the list was swapped live
    assert page.locator("#messages select[name=status]").input_value() == "failed"
    assert page.locator("#messages select[name=channel]").input_value() == "telegram"
    page.locator("#messages form.filters button[type=submit]").click()
    page.wait_for_url("**/messages?*status=failed&channel=telegram")
    statuses = page.locator("#messages tbody tr[data-status]")
    assert statuses.count() >= 1 and {
        statuses.nth(i).get_attribute("data-status") for i in range(statuses.count())
    } == {"failed"}


def test_every_form_control_in_a_live_area_is_kept_through_a_live_swap(daemon: DomainDaemon, page: Any) -> None:
    seeded = daemon.messages
    assert seeded is not None
    seen = 0
    for path in ("messages", f"messages/{seeded.handled}", "notifications"):
        page.goto(daemon.url + path)
        controls = live_controls(page)
        assert [html for html, kept in controls if not kept] == [], path
        seen += len(controls)
    assert seen == 3  # the messages filter's status and channel, the reroute choice


def test_retrying_a_failed_message_in_the_browser_routes_it_once(daemon: DomainDaemon, page: Any) -> None:
    seeded = daemon.messages
    assert seeded is not None
    page.goto(daemon.url + f"messages/{seeded.failed}")
    assert page.locator("#message-status").inner_text() == "failed"
    page.locator("#retry").click()
    page.wait_for_url(f"**/messages/{seeded.failed}?**")
    wait_until(lambda: len(routing(daemon, seeded.failed)) == 2, WAIT_S)
    first, retried = routing(daemon, seeded.failed)
    assert (first["reason_kind"], first["status"]) == ("fallback", "failed")
    assert (retried["attempt"], retried["butler"], retried["reason_kind"]) == (2, daemon.names["health"], "rule")
    assert retried["status"] == "queued"
    sessions = daemon.fetch("health", "SELECT id FROM sessions WHERE context->'origin'->>'inbound_id' = $1",
                            str(seeded.failed))  # fmt: skip
    assert [s["id"] for s in sessions] == [retried["session_id"]]  # one session, the routed one
    page.reload()
    assert page.locator("#message-status").inner_text() != "failed"
    assert page.locator("#routing tr[data-attempt='2']").count() == 1
    with api(daemon) as client:  # no longer failed: a second retry is refused, nothing routed again
        again = client.post(f"api/messages/{seeded.failed}/retry")
    assert again.status_code == 409 and "only a failed one is retried" in again.json()["error"]["message"]
    assert len(routing(daemon, seeded.failed)) == 2


def test_a_reroute_from_the_browser_is_recorded_in_the_routing_log(daemon: DomainDaemon, page: Any) -> None:
    seeded, names = daemon.messages, daemon.names
    assert seeded is not None
    page.goto(daemon.url + f"messages/{seeded.handled}")
    page.locator("#reroute-form select").select_option(names["relationship"])
    screenshot(page, "message")
    page.locator("#reroute").click()
    page.wait_for_url(f"**/messages/{seeded.handled}?**")
    wait_until(lambda: len(routing(daemon, seeded.handled)) == 2, WAIT_S)
    rerouted = routing(daemon, seeded.handled)[1]
    assert (rerouted["butler"], rerouted["reason_kind"], rerouted["status"]) == (names["relationship"], "reroute",
                                                                                  "queued")  # fmt: skip
    row = page.locator("#routing tr[data-kind='reroute']")
    assert names["relationship"] in row.inner_text() and f"was: {names['health']}" in row.inner_text()


def test_retrying_a_failed_notification_in_the_browser_sends_it_once(daemon: DomainDaemon, page: Any) -> None:
    seeded = daemon.notifications
    assert seeded is not None
    page.goto(daemon.url + "notifications")
    failed = page.locator(f"#notification-{seeded.failed}")
    assert failed.get_attribute("data-status") == "failed" and "502 Bad Gateway" in failed.inner_text()
    assert page.locator(f"#notification-{seeded.held}").get_attribute("data-status") == "held"
    assert "quiet hours" in page.locator(f"#notification-{seeded.held}").inner_text()
    screenshot(page, "notifications")
    failed.locator("button.retry").click()
    page.wait_for_url("**/notifications?**")
    assert page.locator(f"#notification-{seeded.failed}").get_attribute("data-status") == "sent"
    sent = [m for m in daemon.telegram.sent if m.text == "Anna's birthday is tomorrow"]
    assert [m.chat_id for m in sent] == [OWNER_CHAT]
    assert page.locator(f"#notification-{seeded.failed} button.retry").count() == 0


def test_contacts_search_and_a_contact_with_its_feed_and_dates(daemon: DomainDaemon, page: Any) -> None:
    seeded, relationship = daemon.contacts, daemon.names["relationship"]
    assert seeded is not None
    page.goto(daemon.url + "contacts")
    assert page.locator("#contacts tbody tr").count() == 3
    assert "Anna Schmidt" in page.locator("#upcoming").inner_text()  # her birthday is in 3 days
    screenshot(page, "contacts")
    page.locator("input[name=q]").fill("zoe")
    page.locator("form[role=search] button").click()
    assert page.locator("#contacts tbody tr").all_inner_texts()[0].startswith("Zoë Martin")

    page.goto(daemon.url + f"contacts/{seeded.anna}?butler={relationship}")
    assert page.locator("#contact-name").inner_text() == "Anna Schmidt"
    assert [x.get_attribute("data-source") for x in page.locator("#feed li").all()] == ["note", "gift", "interaction"]
    assert page.locator("#feed li[data-source=interaction] a").inner_text() == "Tom Baker"
    dates = page.locator("#dates li").all_inner_texts()
    assert "in 3 days" in dates[0] and "birthday" in dates[0] and "wedding" in dates[1]
    screenshot(page, "contact")


def test_health_charts_each_kind_over_the_period_and_medication_adherence(daemon: DomainDaemon, page: Any) -> None:
    page.goto(daemon.url + "health?days=14")
    for kind in ("weight", "blood_pressure", "waist"):
        assert page.locator(f"#kind-{kind} svg polyline").count() >= 1
    assert page.locator("#kind-blood_pressure svg polyline").count() == 2  # systolic and diastolic
    assert page.locator("#kind-weight circle").count() == 14  # a point a day
    assert "falling" in page.locator("#kind-weight header").inner_text()
    row = page.locator("#adherence tr[data-medication=Metformin] td").all_inner_texts()
    assert (row[3], row[4]) == ("4", "1")  # taken, skipped
    screenshot(page, "health")
    page.goto(daemon.url + "health?days=2")
    assert page.locator("#kind-waist circle").count() == 1  # only the latest waist measurement is in 2 days


def test_the_json_twins_answer_and_bad_input_is_a_4xx_naming_the_parameter(daemon: DomainDaemon) -> None:
    seeded = daemon.messages
    assert seeded is not None
    with api(daemon) as client:
        listed = client.get("api/messages", params={"status": "ignored"}).json()["messages"]
        assert str(seeded.ignored) in [m["id"] for m in listed] and {m["status"] for m in listed} == {"ignored"}
        detail = client.get(f"api/messages/{seeded.split}").json()
        assert [p["reason_kind"] for p in detail["routing"]] == ["model", "model"]
        assert client.get("api/notifications", params={"status": "held"}).json()["notifications"][0]["held_reason"]
        assert client.get("api/contacts", params={"q": "tom"}).json()["contacts"][0]["display_name"] == "Tom Baker"
        trends = client.get("api/health", params={"days": 14, "kind": "weight"}).json()["trends"]
        assert [t["kind"] for t in trends] == ["weight"] and len(trends[0]["daily"]) == 14
        bad = [
            ("get", "api/messages?status=lost", None, "status"),
            ("get", "api/messages/not-a-uuid", None, "message_id"),
            ("get", "api/messages?limit=0", None, "limit"),
            ("get", "api/notifications?status=gone", None, "status"),
            ("get", "api/contacts/abc", None, "contact_id"),
            ("get", "api/contacts/1?before=yesterday", None, "before"),
            ("get", "api/health?days=0", None, "days"),
            ("get", "api/health?until=someday", None, "until"),
            ("get", "api/health?kind=Weight!", None, "kind"),
            ("get", "api/health?butler=nobody", None, "butler"),
            ("post", f"api/messages/{seeded.split}/reroute", {"butler": "nobody"}, "butler"),
            ("post", f"api/messages/{seeded.split}/reroute", {}, "butler"),
        ]
        for method, path, body, parameter in bad:
            answer = client.request(method, path, json=body)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["error"]["message"].startswith(f"{parameter}:"), (path, answer.text)
        assert client.get("api/messages/00000000-0000-0000-0000-000000000000").status_code == 404
        assert client.post("api/notifications/00000000-0000-0000-0000-000000000000/retry").status_code == 404
    assert len(routing(daemon, seeded.split)) == 2  # the refused reroutes wrote nothing


def test_the_pages_fit_a_phone_screen(daemon: DomainDaemon, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        for path in ("messages", "notifications", "contacts", f"contacts/{daemon.contacts.anna}", "health"):  # type: ignore[union-attr]
            phone.goto(daemon.url + path)
            width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], (path, width)  # wide tables scroll inside their own box
    finally:
        context.close()


def test_a_cross_origin_retry_is_refused(daemon: DomainDaemon) -> None:
    seeded = daemon.notifications
    assert seeded is not None
    answer = httpx.post(
        daemon.url + f"notifications/{seeded.pending}/retry", headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    """Butlers without the switchboard, notify, relationship or health modules."""
    with dashboard_daemon(tmp_path_factory.mktemp("dashboard-bare"), pg_address) as running:
        yield running


def test_each_page_says_plainly_when_its_module_is_not_configured(bare: Daemon, page: Any) -> None:
    for path, module in (("messages", "switchboard"), ("notifications", "notify"), ("contacts", "relationship"),
                         ("health", "health")):  # fmt: skip
        page.goto(bare.url + path)
        assert f"enables the {module} module" in page.locator("#not-configured").inner_text()
        answer = httpx.get(bare.url + f"api/{path}").json()
        assert (answer["configured"], answer["module"]) == (False, module)
