"""Pages update live: a session started by `butlerctl trigger` appears on an open page without a
reload (Server-Sent Events fed by LISTEN/NOTIFY), and its end (cancelled from the session's own
page, in a second tab) updates the first page too.

The agent runs the real Claude Code CLI against the model stand-in, which holds the request
open (Hang), so the session stays `running` until it is cancelled.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from dashboard_helpers import Daemon, dashboard_daemon, logged_in_context, wait_until

from butlers.db import ServerAddress
from butlers.testing.model_api import Hang, ModelApiStandIn
from support.cli_env import butlerctl_env

BUTLERCTL = str(Path(sys.executable).parent / "butlerctl")
LIVE_TIMEOUT_MS = 90_000  # the CLI's start is slow on a loaded machine


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(ModelApiStandIn([Hang()])) as api,
        pytest.MonkeyPatch.context() as env,
    ):
        for name, value in {**api.env(), "CLAUDE_CODE_MAX_RETRIES": "0"}.items():
            env.setenv(name, value)
        with dashboard_daemon(tmp_path_factory.mktemp("dashboard-live"), pg_address) as running:
            yield running


def butlerctl_trigger(daemon: Daemon, short: str, prompt: str) -> str:
    settings = daemon.supervisor.settings
    env = {**os.environ, **butlerctl_env(settings)}
    done = subprocess.run(
        [BUTLERCTL, "trigger", daemon.names[short], prompt, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return str(json.loads(done.stdout)["session_id"])


def test_a_triggered_session_appears_live_and_its_end_updates_the_page(daemon: Daemon, browser: Any) -> None:
    context = logged_in_context(
        browser, daemon.url, daemon.supervisor.settings, viewport={"width": 1200, "height": 800}
    )
    try:
        watching = context.new_page()
        watching.goto(daemon.url + f"sessions?butler={daemon.names['alpha']}")
        hub = daemon.supervisor.dashboard.hub  # type: ignore[union-attr]
        wait_until(lambda: hub.subscribers >= 1 and daemon.names["alpha"] in hub.listening, 30)
        watching.evaluate("window.notReloaded = true")

        session_id = butlerctl_trigger(daemon, "alpha", "Think about my week for a long time")
        row = f"#session-{session_id}"
        watching.wait_for_selector(f"{row}[data-status=running]", timeout=LIVE_TIMEOUT_MS)

        other = context.new_page()
        other.goto(daemon.url + f"sessions/{daemon.names['alpha']}/{session_id}")
        assert other.locator("#session-status").inner_text() == "running"
        other.click("#cancel")
        other.wait_for_selector("#session-status:text('cancelled')")

        watching.wait_for_selector(f"{row}[data-status=cancelled]", timeout=30_000)
        assert watching.evaluate("window.notReloaded") is True
    finally:
        context.close()
    (record,) = daemon.sql("alpha", "SELECT status FROM sessions WHERE id = %s", session_id)
    assert record["status"] == "cancelled"


def test_a_change_announced_while_a_live_part_reloads_is_shown_too(daemon: Daemon, browser: Any) -> None:
    """Two changes in a row: the list's reload for the first is still on its way (held here, with the
    page as it was then) when the second is announced. The list must end showing the second."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Route

    first, second = running_session(daemon, "running 1"), running_session(daemon, "running 2")
    context = logged_in_context(browser, daemon.url, daemon.supervisor.settings)
    held: list[tuple[Route, Any]] = []

    def hold_the_first_reload(route: Route) -> None:
        if held or route.request.headers.get("hx-request") != "true":
            route.continue_()
            return
        held.append((route, route.fetch()))  # the list as it is now: the first change only
        daemon.sql("alpha", FINISH, "failed", str(second))

    try:
        page = context.new_page()
        page.goto(daemon.url + f"sessions?butler={daemon.names['alpha']}")
        page.wait_for_selector(f"#session-{second}[data-status=running]")
        hub = daemon.supervisor.dashboard.hub  # type: ignore[union-attr]
        wait_until(lambda: hub.subscribers >= 1 and daemon.names["alpha"] in hub.listening, 30)
        page.evaluate(
            "id => document.body.addEventListener('htmx:sseMessage', e => {"
            "  if (JSON.parse(e.detail.data).id === id) window.secondArrived = true })",
            str(second),
        )
        page.route("**/sessions?*", hold_the_first_reload)

        daemon.sql("alpha", FINISH, "cancelled", str(first))
        page.wait_for_function("() => window.secondArrived === true", timeout=30_000)
        route, stale = held[0]
        assert f'id="session-{second}" data-status="running"' in stale.text()
        with contextlib.suppress(PlaywrightError):  # htmx may have given the first reload up for the second
            route.fulfill(response=stale)
        page.wait_for_selector(f"#session-{second}[data-status=failed]", timeout=30_000)
        assert page.locator(f"#session-{first}").get_attribute("data-status") == "cancelled"
    finally:
        context.close()


def test_a_change_announced_while_a_page_is_read_is_shown_once_it_loaded(
    daemon: Daemon, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session ends after the session page read it and before the page was rendered: the page
    (which shows `running`) must still end up showing the end."""
    import anyio

    sid = running_session(daemon, "ends while its page is read")
    hub = daemon.supervisor.dashboard.hub  # type: ignore[union-attr]
    sessions = daemon.supervisor.butlers[daemon.names["alpha"]].spawner.sessions
    read = sessions.get
    ended: list[bool] = []

    async def read_then_end(session_id: Any) -> Any:
        record = await read(session_id)
        if str(session_id) == str(sid) and not ended:  # the first read only: a reload reads it as it is
            ended.append(True)
            before = hub.published
            await sessions.pool.execute("UPDATE sessions SET status = 'failed', finished_at = now() WHERE id = $1", sid)
            with anyio.fail_after(30):  # the hub has announced the end before the page is rendered
                while hub.published == before:  # noqa: ASYNC110 - the hub counts in this same event loop
                    await anyio.sleep(0.01)
        return record

    context = logged_in_context(browser, daemon.url, daemon.supervisor.settings)
    try:
        page = context.new_page()
        page.goto(daemon.url + f"sessions?butler={daemon.names['alpha']}")
        wait_until(lambda: daemon.names["alpha"] in hub.listening, 30)
        monkeypatch.setattr(sessions, "get", read_then_end)
        page.goto(daemon.url + f"sessions/{daemon.names['alpha']}/{sid}")
        page.wait_for_selector("#session-status.status-failed", timeout=30_000)
    finally:
        context.close()


def running_session(daemon: Daemon, prompt: str) -> Any:
    """A session of alpha's recorded as running, with no process behind it. Owned by the test's daemon
    (its only instance), which then leaves it to its owner instead of reaping it."""
    [row] = daemon.sql("alpha", RUNNING_SESSION, prompt)
    return row["id"]


RUNNING_SESSION = """INSERT INTO sessions (trigger_source, prompt, status, started_at, owner)
    VALUES ('tick', %s, 'running', now(), (SELECT id FROM daemon_instances)) RETURNING id"""
FINISH = "UPDATE sessions SET status = %s, finished_at = now() WHERE id = %s"
