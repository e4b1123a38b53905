"""Every page of the dashboard renders in a real browser (headless Chromium) against a seeded database.

One daemon for the module (butlers alpha and beta, the dashboard on a free port); the
screenshots in docs/screenshots/ are taken here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dashboard_helpers import Daemon, dashboard_daemon, screenshot, seed_approval, seed_sessions

from butlers.db import ServerAddress


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    with dashboard_daemon(tmp_path_factory.mktemp("dashboard-pages"), pg_address) as running:
        seed_sessions(running, "alpha")
        seed_sessions(running, "beta", count=3)
        seed_approval(running, "alpha")
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
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
