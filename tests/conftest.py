"""Shared fixtures: one embedded PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from butlers.db import ServerAddress, create_pool
from butlers.testing.postgres import TestPostgres

# Daemons the tests start serve no dashboard unless a test asks for one on a free port:
# never on the real port 8200, which the user's own daemon may hold.
os.environ.setdefault("BUTLERS_DASHBOARD_ENABLED", "false")


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
    server = TestPostgres(folder / "data")
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
