"""The module contract: notes passes it; modules that break a rule fail with a message saying which."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import pytest
from fastmcp import FastMCP
from pydantic import BaseModel

from butlers.db import ServerAddress
from butlers.modules.base import Module, ModuleContext
from butlers.modules.notes import NotesModule
from butlers.testing.module_contract import check_module_contract


async def test_notes_meets_the_contract(pg_address: ServerAddress, database: str, data_dir: Path) -> None:
    report = await check_module_contract(NotesModule, {"max_body_chars": 1000}, pg_address, database, data_dir)
    assert report.tools == ["notes_add", "notes_delete", "notes_get", "notes_list", "notes_search"]
    assert report.migrations_applied == ["0001_notes"]


class Loose(BaseModel):  # no extra="forbid": typos in butler.toml would pass silently
    level: int = 1


class Good(Module):
    """A minimal module that meets the contract; each broken one below changes one thing."""

    name = "good"
    events: ClassVar[list[str]] = []

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        async def good_ping() -> str:
            """Answer pong."""
            return "pong"

        mcp.tool(good_ping, name="good_ping")

    async def on_startup(self, ctx: ModuleContext) -> None:
        self.events.append("startup")

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        self.events.append("serve")
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            self.events.append("serve-cancelled")

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        self.events.append("shutdown")


class BadName(Good):
    name = "Bad-Name"


class LooseSchema(Good):
    config_schema = Loose


class MissingDependency(Good):
    dependencies = ("telepathy",)


class BadCredential(Good):
    credentials_env = ("api key",)


class UnprefixedTool(Good):
    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        async def ping() -> str:
            return "pong"

        mcp.tool(ping, name="ping")


class NoTools(Good):
    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        pass


class MissingMigrations(Good):
    migrations_dir = Path("/nonexistent/migrations")


class FailingStartup(Good):
    async def on_startup(self, ctx: ModuleContext) -> None:
        raise RuntimeError("cannot reach the weather service")


class FailingTools(Good):
    """register_tools fails after on_startup: on_shutdown must still run."""

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        raise ValueError("boom")


class FailingServeStart(Good):
    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        raise ConnectionError("no route to the weather service")


class CrashingServe(Good):
    """Its clean-up on cancellation fails."""

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            raise KeyError("forecast")  # the bug under test


class ServeNeverStarted(Good):
    """Waits for its server before reporting started: the butler's startup would hang on it."""

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        await anyio.sleep_forever()


class ServeIgnoresCancellation(Good):
    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        with anyio.CancelScope(shield=True):
            await anyio.sleep(0.5)


@pytest.mark.parametrize(
    ("module_cls", "config", "expected"),
    [
        (BadName, {}, "name must be a lower-case identifier"),
        (LooseSchema, {}, "accepts the unknown key"),
        (Good, {"typo": 1}, "rejects the config given to the contract"),
        (MissingDependency, {}, "dependency 'telepathy' is not an installed module"),
        (BadCredential, {}, "'api key' is not an environment variable name"),
        (UnprefixedTool, {}, "tool 'ping' must be named 'good_...'"),
        (UnprefixedTool, {}, "tool 'ping' has no description"),
        (NoTools, {}, "register_tools added no tool"),
        (MissingMigrations, {}, "is not a folder"),
        (FailingStartup, {}, "on_startup raised RuntimeError: cannot reach the weather service"),
        (FailingTools, {}, "register_tools raised ValueError: boom"),
        (FailingServeStart, {}, "serve raised ConnectionError before it reported started: no route"),
        (CrashingServe, {}, "serve raised KeyError after it reported started: 'forecast'"),
    ],
)
async def test_broken_module_fails_the_contract_saying_why(
    pg_address: ServerAddress,
    database: str,
    data_dir: Path,
    module_cls: type[Module],
    config: dict[str, Any],
    expected: str,
) -> None:
    with pytest.raises(AssertionError) as exc:
        await check_module_contract(module_cls, config, pg_address, database, data_dir)
    assert expected in str(exc.value), str(exc.value)


async def test_shutdown_runs_after_startup_even_when_a_later_check_fails(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    Good.events.clear()
    with pytest.raises(AssertionError):
        await check_module_contract(FailingTools, {}, pg_address, database, data_dir)
    assert Good.events == ["startup", "shutdown"]


async def test_a_dependency_the_test_environment_lacks_can_be_declared_known(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    report = await check_module_contract(
        MissingDependency, {}, pg_address, database, data_dir, known_modules=["telepathy"]
    )
    assert report.tools == ["good_ping"]


async def test_serve_runs_between_startup_and_shutdown_and_stops_when_cancelled(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    Good.events.clear()
    await check_module_contract(Good, {}, pg_address, database, data_dir)
    assert Good.events == ["startup", "serve", "serve-cancelled", "shutdown"]


async def test_a_serve_that_never_reports_started_fails_within_the_bound(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    Good.events.clear()
    with pytest.raises(AssertionError, match=r"serve did not call task_status.started\(\) within 0.2s"):
        await check_module_contract(ServeNeverStarted, {}, pg_address, database, data_dir, serve_start_timeout_s=0.2)
    assert Good.events == ["startup", "shutdown"]


async def test_a_serve_slow_to_stop_after_cancellation_fails(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    with pytest.raises(AssertionError, match=r"serve took 0\.\ds to stop after it was cancelled \(at most 0.1s\)"):
        await check_module_contract(
            ServeIgnoresCancellation, {}, pg_address, database, data_dir, serve_stop_timeout_s=0.1
        )
