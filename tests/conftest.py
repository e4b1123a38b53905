"""Shared fixtures: one embedded PostgreSQL per test session (per xdist worker), a fresh database per test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from butlers.db import ServerAddress, create_pool
from butlers.settings import Settings, environment_variable
from butlers.testing.postgres import TestPostgres
from support.system_packages import ensure_command

# The tests never meet the user's own daemon. The shell's daemon settings (BUTLERS_TOKEN,
# BUTLERS_DIR, POSTGRES_HOST, ...) and systemd credentials are dropped, and what falls back to the default data
# dir (~/.local/share/butlers) gets a throwaway one instead: butlerctl would otherwise send the
# user's operator token to the tests' daemons, and a test's daemon would write into the user's data.
for _field in Settings.model_fields:
    os.environ.pop(environment_variable(_field), None)
os.environ.pop("CREDENTIALS_DIRECTORY", None)
_DATA_HOME = tempfile.mkdtemp(prefix="butlers-test-data-")
atexit.register(shutil.rmtree, _DATA_HOME, ignore_errors=True)
os.environ["BUTLERS_DATA_DIR"] = _DATA_HOME
# Daemons the tests start serve no dashboard unless a test asks for one on a free port:
# never on the real port 8200, which the user's own daemon may hold.
os.environ["BUTLERS_DASHBOARD_ENABLED"] = "false"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder says the cost: tests/unit is fast, tests/integration uses real servers.
    for item in items:
        path = str(item.path)
        if "/tests/unit/" in path:
            item.add_marker(pytest.mark.unit)
        elif "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def pg() -> Iterator[TestPostgres]:
    # Not under pytest's basetemp: pytest prunes old basetemps, which would pull
    # the data folder from under a server that another pytest run still uses.
    folder = Path(tempfile.mkdtemp(prefix="butlers-test-pg-"))
    # Not durable (no fsync): every test drops its database, a checkpoint that fsync makes slow.
    server = TestPostgres(folder / "data", durable=False)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_address(pg: TestPostgres) -> ServerAddress:
    return pg.address


@pytest.fixture
def database(pg: TestPostgres) -> Iterator[str]:
    """A fresh database with the core migrations applied."""
    with pg.database() as name:
        yield name


@pytest.fixture
def empty_database(pg: TestPostgres) -> Iterator[str]:
    """A fresh database with nothing in it."""
    with pg.database(migrated=False) as name:
        yield name


@pytest.fixture
async def pool(pg_address: ServerAddress, database: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(pg_address, database)
    yield p
    await p.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


SHIPPED_NAMES = ("switchboard", "general", "relationship", "health")


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A copy of the butlers this repo ships, and only those: a user's own `butlerctl init` folder
    in the working copy's butlers.d must not change what the tests see."""
    root = tmp_path / "shipped"
    for name in SHIPPED_NAMES:
        shutil.copytree(Path(__file__).resolve().parents[1] / "butlers.d" / name, root / name)
    return root


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (its own browser download is not reachable here).

    One per test session (per xdist worker). While Playwright's sync API is alive its event loop
    counts as running on the main thread; `pytest_runtest_protocol` below hides it from the tests
    that do not use the browser, so their own event loops can start.
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
        if leftover is not None and not leftover.is_closed():
            asyncio.events._set_running_loop(leftover)
