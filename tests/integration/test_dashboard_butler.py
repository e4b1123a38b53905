"""The butler and spend pages in a real browser (headless Chromium) against a real daemon and seeded databases.

A schedule created in the browser appears in `schedule_list` over MCP; a state edit
with invalid JSON is refused with a message and writes nothing; a tool's form call
shows its result; the spend page charts the seeded cost; the `/api/` twins answer bad
input with clear 4xx errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import anyio
import httpx
import pytest
from dashboard_helpers import (
    Daemon,
    dashboard_daemon,
    logged_in_context,
    mark_for_swap,
    screenshot,
    seed_sessions,
    wait_swapped,
)
from fastmcp import Client
from playwright.sync_api import expect

from butlers.db import ServerAddress

CEILING = 50.0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("dashboard-butler")
    with dashboard_daemon(base, pg_address, monthly_spend_ceiling_usd=CEILING) as running:
        seed_sessions(running, "alpha")
        seed_sessions(running, "beta", count=3)
        yield running


@pytest.fixture
def page(browser: Any, daemon: Daemon) -> Iterator[Any]:
    context = logged_in_context(
        browser, daemon.url, daemon.supervisor.settings, viewport={"width": 1200, "height": 900}
    )
    opened = context.new_page()
    yield opened
    context.close()


def mcp(daemon: Daemon, short: str, tool: str, **args: Any) -> Any:
    """A tool call over real MCP (HTTP), as the operator; in a thread of its own (Playwright holds this one)."""
    port = daemon.supervisor.butlers[daemon.names[short]].config.port

    async def go() -> Any:
        async with Client(f"http://127.0.0.1:{port}/mcp", auth=daemon.token) as client:
            return (await client.call_tool(tool, args)).structured_content

    call: Callable[[], Any] = lambda: anyio.run(go)  # noqa: E731
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=30)


def schedules(daemon: Daemon, short: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in mcp(daemon, short, "schedule_list")["schedules"]}


def test_the_butler_page_shows_its_schedules_state_tools_and_sessions(daemon: Daemon, page: Any) -> None:
    alpha = daemon.names["alpha"]
    mcp(daemon, "alpha", "state_set", key="lists/groceries", value={"items": ["milk", "bread"]})
    page.goto(f"{daemon.url}butlers/{alpha}")
    assert page.locator("h1").inner_text() == alpha
    assert "lists/groceries" in page.locator("#state").inner_text()
    assert page.locator("#tool-notes_add").count() == 1 and page.locator("#tool-email_send").count() == 1
    assert "Summarise what I stored under groceries" in page.locator("#recent").inner_text()
    page.goto(f"{daemon.url}butlers")
    assert page.locator(f"a[href='/butlers/{alpha}']").is_visible()


def test_a_schedule_created_in_the_browser_appears_in_schedule_list_over_mcp(daemon: Daemon, page: Any) -> None:
    alpha = daemon.names["alpha"]
    page.goto(f"{daemon.url}butlers/{alpha}")
    page.locator("#new-schedule summary").click()
    form = page.locator("#new-schedule form")
    form.locator("input[name=name]").fill("evening-review")
    form.locator("input[name=cron]").fill("0 21 * * *")
    form.locator("textarea[name=prompt]").fill("Review my day.")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#schedule-evening-review")
    made = schedules(daemon, "alpha")["evening-review"]
    assert (made["cron"], made["prompt"], made["enabled"], made["source"]) == (
        "0 21 * * *",
        "Review my day.",
        True,
        "runtime",
    )

    page.locator("#schedule-evening-review button[value=disable]").click()
    page.wait_for_selector("#schedule-evening-review[data-enabled=no]")
    assert schedules(daemon, "alpha")["evening-review"]["enabled"] is False
    screenshot(page, "butler")
    page.locator("#schedule-evening-review button[value=delete]").click()
    page.wait_for_selector("#schedule-evening-review", state="detached")
    assert "evening-review" not in schedules(daemon, "alpha")


def test_a_state_edit_with_invalid_json_is_refused_and_writes_nothing(daemon: Daemon, page: Any) -> None:
    alpha = daemon.names["alpha"]
    mcp(daemon, "alpha", "state_set", key="prefs", value={"tea": "green"})
    page.goto(f"{daemon.url}butlers/{alpha}?key=prefs#state")
    editor = page.locator("#state-editor")
    assert '"tea": "green"' in editor.locator("textarea[name=value]").input_value()
    editor.locator("textarea[name=value]").fill('{"tea": "black"')
    editor.locator("button[type=submit]").click()
    refusal = page.locator("#refused")
    refusal.wait_for()
    assert "state_set: argument 'value': not valid JSON" in refusal.inner_text()
    after = mcp(daemon, "alpha", "state_get", key="prefs")
    assert (after["value"], after["version"]) == ({"tea": "green"}, 1)

    page.goto(f"{daemon.url}butlers/{alpha}?key=prefs#state")
    page.locator("#state-editor textarea[name=value]").fill('{"tea": "black"}')
    page.locator("#state-editor button[type=submit]").click()
    page.wait_for_url("**key=prefs**")
    assert mcp(daemon, "alpha", "state_get", key="prefs")["value"] == {"tea": "black"}


def test_a_tool_form_call_shows_the_result(daemon: Daemon, page: Any) -> None:
    beta = daemon.names["beta"]
    mcp(daemon, "beta", "state_set", key="trip/flight", value="LH 123")
    page.goto(f"{daemon.url}butlers/{beta}")
    tool = page.locator("#tool-state_list")
    tool.locator("summary").click()
    tool.locator("input[name=prefix]").fill("trip/")
    tool.locator("input[name=limit]").fill("5")
    tool.locator("button[type=submit]").click()
    result = page.locator("#tool-result")
    result.wait_for()
    assert "trip/flight" in result.inner_text() and "LH 123" in result.inner_text()
    assert '"limit": 5' in page.locator("#tool-arguments").inner_text()  # the integer field sent as an integer


def test_the_spend_page_charts_cost_per_butler_per_day_and_the_overview_shows_the_ceiling(
    daemon: Daemon, page: Any
) -> None:
    page.goto(f"{daemon.url}spend")
    assert page.locator("#spend-chart svg.chart rect").count() >= 2  # alpha and beta today
    costliest = page.locator("#spend-costliest tbody tr")
    assert costliest.count() == 9 and "$0.07" in costliest.first.inner_text()  # 0.0123 * 6
    assert page.locator(f"#budget-{daemon.names['alpha']}").is_visible()
    assert "morning-digest" in page.locator("#spend-schedules").inner_text()
    screenshot(page, "spend")
    page.goto(daemon.url)
    panel = page.locator("#spend-ceiling")
    assert panel.get_attribute("data-reached") == "no" and "$50.00 monthly ceiling" in panel.inner_text()


def test_spend_options_being_typed_are_kept_through_a_live_update_and_then_applied(daemon: Daemon, page: Any) -> None:
    page.goto(f"{daemon.url}spend")
    since = (date.today() - timedelta(days=2)).isoformat()
    since_field, top_field = page.locator("#spend input[name=since]"), page.locator("#spend input[name=top]")
    since_field.fill(since)
    top_field.fill("3")
    mark_for_swap(page, "spend")
    page.evaluate("htmx.trigger('#spend', 'sse:resync')")  # what the event stream sends after a reconnect
    wait_swapped(page, "spend")
    assert (since_field.input_value(), top_field.input_value()) == (since, "3")
    page.locator("#spend form button[type=submit]").click()
    page.wait_for_url(f"**/spend?since={since}&top=3")
    assert page.locator("#spend-costliest tbody tr").count() == 3
    assert top_field.input_value() == "3"  # the page shows the choice it applied


def test_the_api_twins_answer_bad_input_with_clear_4xx(daemon: Daemon) -> None:
    alpha = daemon.names["alpha"]
    auth = {"Authorization": f"Bearer {daemon.token}"}
    with httpx.Client(base_url=daemon.url, headers=auth) as http:
        bad_day = http.get("/api/spend", params={"since": "yesterday"})
        assert bad_day.status_code == 400 and "since" in bad_day.json()["error"]["message"]
        assert http.get("/api/spend", params={"since": "2999-01-01"}).status_code == 400
        assert http.get("/api/butlers/nobody").status_code == 404
        cron = http.post(f"/api/butlers/{alpha}/schedules", json={"name": "x", "cron": "often", "prompt": "p"})
        assert cron.status_code == 400 and "schedule_create" in cron.json()["error"]["message"]
        assert http.post(f"/api/butlers/{alpha}/state", content=b"{nope").status_code == 400
        tool = http.post(f"/api/butlers/{alpha}/tools/state_list", json={"limit": 0})
        assert tool.status_code == 400 and "state_list: argument 'limit'" in tool.json()["error"]["message"]
        assert http.post(f"/api/butlers/{alpha}/tools/no_such_tool", json={}).status_code == 404
        fine = http.get("/api/spend")
        assert fine.status_code == 200 and fine.json()["ceiling"]["ceiling_usd"] == CEILING
    assert "x" not in schedules(daemon, "alpha")


def test_a_prompt_triggered_in_the_browser_leads_to_its_session_page_and_its_end(daemon: Daemon, page: Any) -> None:
    alpha = daemon.names["alpha"]
    page.goto(f"{daemon.url}butlers/{alpha}")
    page.locator("#trigger textarea[name=prompt]").fill("What is on my list today?")
    page.locator("#trigger button[type=submit]").click()
    page.wait_for_url(re.compile(f"/sessions/{alpha}/[0-9a-f-]{{36}}$"))
    assert page.locator("#session-prompt").inner_text() == "What is on my list today?"
    # No model credential in this daemon: the session ends refused; the session page (live through SSE, tested
    # in test_dashboard_live.py) shows the end, whether it came before or after the page loaded.
    expect(page.locator("#session-status")).to_have_text("failed", timeout=30_000)
    assert "no model credential" in page.locator("#session-error").inner_text()


def test_run_now_through_the_api_twin_runs_a_tool_schedule_once(daemon: Daemon) -> None:
    beta = daemon.names["beta"]
    auth = {"Authorization": f"Bearer {daemon.token}"}
    with httpx.Client(base_url=daemon.url, headers=auth, timeout=30) as http:
        made = http.post(
            f"/api/butlers/{beta}/schedules",
            json={"name": "stamp", "cron": "0 4 * * *", "tool": "state_set", "args": {"key": "stamp", "value": 1}},
        )
        assert made.status_code == 200, made.text
        ran = http.post(f"/api/butlers/{beta}/schedules/stamp/run")
        assert ran.status_code == 200 and ran.json()["tool_status"] == "succeeded", ran.text
    assert mcp(daemon, "beta", "state_get", key="stamp")["value"] == 1
    stamp = schedules(daemon, "beta")["stamp"]
    assert stamp["last_run_at"] is not None and stamp["next_run_at"] == made.json()["next_run_at"]
