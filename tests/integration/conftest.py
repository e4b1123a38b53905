"""Fixtures shared by integration test modules: one headless Chromium per browser-test module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from butlers.testing.system_packages import ensure_command


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (its own browser download is not reachable here).

    Module-scoped, not session-scoped: while Playwright's sync API is alive its event loop counts
    as running on the main thread, and every async test after it would fail to start its own.
    """
    from playwright.sync_api import sync_playwright

    executable = ensure_command("chromium", "chromium")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Playwright's sync API leaves its event loop marked running in the main thread once the browser
    started; pytest-asyncio then refuses to run any later async test there. A test that does not use the
    browser runs with that mark cleared, and gets it back after, for the browser tests still to come."""
    import asyncio

    leftover = asyncio.events._get_running_loop() if "browser" not in getattr(item, "fixturenames", ()) else None
    if leftover is not None:
        asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        if leftover is not None:
            asyncio.events._set_running_loop(leftover)
