"""Acting in the dashboard needs the operator, on loopback too; reading does not.

One daemon (butlers alpha and beta, the dashboard on loopback); browsers without the auth
cookie, logged in only through the one-time link `butlerctl dashboard` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_helpers import Daemon, dashboard_daemon, seed_approval
from security_helpers import OutboxModule

from butlers.dashboard.login_codes import CODE_TTL_S, USED_CODES_FILE, make_login_code
from butlers.db import ServerAddress

BUTLERCTL = str(Path(sys.executable).parent / "butlerctl")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    with dashboard_daemon(tmp_path_factory.mktemp("dashboard-login"), pg_address) as running:
        yield running


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    opened = browser.new_context(viewport={"width": 1200, "height": 900})  # not logged in
    yield opened
    opened.close()


def butlerctl_dashboard(daemon: Daemon) -> dict[str, Any]:
    settings = daemon.supervisor.settings
    env = {k: v for k, v in os.environ.items() if k != "BUTLERS_TOKEN"}
    env |= {"BUTLERS_DATA_DIR": str(settings.data_dir), "BUTLERS_DASHBOARD_PORT": str(daemon.port)}
    done = subprocess.run(
        [BUTLERCTL, "dashboard", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def status_of(daemon: Daemon, approval: Any) -> str:
    (row,) = daemon.sql("alpha", "SELECT status FROM approvals WHERE id = %s", str(approval))
    return str(row["status"])


def test_reading_pages_work_without_login_and_offer_a_login(daemon: Daemon, context: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="read@example.com")
    page = context.new_page()
    for path in ("", "sessions", f"butlers/{daemon.names['alpha']}", "spend", "approvals"):
        answer = page.goto(daemon.url + path)
        assert answer is not None and answer.status == 200, path
        assert page.locator("#login-to-act").is_visible(), path
    assert page.locator(f"#approval-{approval} button.approve").is_visible()  # the buttons stay; they lead to login
    assert httpx.get(daemon.url + "api/approvals").status_code == 200


def test_a_same_origin_post_with_csrf_but_no_login_is_401_and_changes_nothing(daemon: Daemon, context: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="mallory@example.com")
    OutboxModule.sent.clear()
    page = context.new_page()
    page.goto(daemon.url + "approvals")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    path = f"approvals/{daemon.names['alpha']}/{approval}/approve"
    answer = httpx.post(
        daemon.url + path,
        data={"csrf_token": cookies["butlers_csrf"]},
        cookies=cookies,
        headers={"Origin": daemon.url.rstrip("/"), "Referer": daemon.url + "approvals"},
    )
    assert answer.status_code == 401 and 'href="/login?next=/approvals"' in answer.text
    api = httpx.post(
        daemon.url + f"api/{path}",
        cookies=cookies,
        headers={"Origin": daemon.url.rstrip("/"), "X-CSRF-Token": cookies["butlers_csrf"]},
    )
    assert api.status_code == 401 and api.json()["error"]["reason"] == "login_required"
    # The browser's own button: the refusal says how to log in, and nothing ran.
    page.locator(f"#approval-{approval} button.approve").click()
    page.wait_for_selector("#login-link")
    assert status_of(daemon, approval) == "pending" and OutboxModule.sent == []


def test_the_login_link_of_butlerctl_dashboard_logs_a_browser_in_once(daemon: Daemon, context: Any) -> None:
    approval = seed_approval(daemon, "alpha", to="ann@example.com")
    OutboxModule.sent.clear()
    shown = butlerctl_dashboard(daemon)
    assert shown["url"] == daemon.url and daemon.token not in shown["login_url"]
    page = context.new_page()
    page.goto(shown["login_url"])
    assert page.url == daemon.url  # logged in, sent to the overview
    page.goto(daemon.url + "approvals")
    assert page.locator("#login-to-act").count() == 0
    page.locator(f"#approval-{approval} button.approve").click()
    page.wait_for_selector(f"#history-{approval}[data-status=succeeded]")
    assert status_of(daemon, approval) == "succeeded" and len(OutboxModule.sent) == 1
    again = httpx.get(shown["login_url"], follow_redirects=False)  # the same link a second time
    assert again.status_code == 403 and "butlers_dashboard" not in again.cookies
    # Kept in the data dir, so a restarted daemon refuses the link too (tests/unit/test_dashboard_login_codes.py).
    assert (daemon.supervisor.settings.data_dir / USED_CODES_FILE).exists()


@pytest.mark.parametrize("kind", ["expired", "forged", "other token"])
def test_an_expired_or_forged_code_is_refused(daemon: Daemon, context: Any, kind: str) -> None:
    minted = time.time() - CODE_TTL_S - 60 if kind == "expired" else time.time()
    code = make_login_code("not-the-operator-token-0123" if kind == "other token" else daemon.token, minted)
    if kind == "forged":
        code = code[:-4] + ("0000" if not code.endswith("0000") else "1111")
    page = context.new_page()
    answer = page.goto(daemon.url + f"login?code={code}")
    assert answer is not None and answer.status == 403
    assert page.locator("#login-code-refused").is_visible()
    assert [c for c in context.cookies() if c["name"] == "butlers_dashboard"] == []
