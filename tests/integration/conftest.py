"""Fixtures shared by integration test modules: one headless Chromium for the whole test session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from butlers.testing.system_packages import ensure_command


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (its own browser download is not reachable here)."""
    from playwright.sync_api import sync_playwright

    executable = ensure_command("chromium", "chromium")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
