"""The supervisor hosts several butlers over real HTTP; failures are contained; shutdown drains."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.abc
import pytest
from fastmcp import Client, FastMCP

from butlers.config import discover, load_butler_config
from butlers.db import ServerAddress
from butlers.modules.base import Module, ModuleContext
from butlers.modules.loader import available_modules
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.ports import free_port


class SlowModule(Module):
    """A test module whose tool waits until the test lets it finish."""

    name = "slow"
    release: ClassVar[anyio.Event]
    entered: ClassVar[anyio.Event]
    events: ClassVar[list[str]] = []

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        @mcp.tool(name="slow_wait", description="Waits for the test.")
        async def slow_wait() -> str:
            SlowModule.entered.set()
            await SlowModule.release.wait()
            return "finished"

    async def on_startup(self, ctx: ModuleContext) -> None:
        SlowModule.events.append(f"startup:{ctx.butler}")

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        SlowModule.events.append(f"serve:{ctx.butler}")
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            SlowModule.events.append(f"serve-cancelled:{ctx.butler}")

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        SlowModule.events.append(f"shutdown:{ctx.butler}")


class BrokenModule(Module):
    name = "broken"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        pass

    async def on_startup(self, ctx: ModuleContext) -> None:
        raise RuntimeError("cannot reach the frobnicator")


class UnservableModule(Module):
    """Its background work fails before it is ready: the butler must not start."""

    name = "unservable"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        pass

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        raise ConnectionError("the weather feed refused the login")


class CrashingModule(Module):
    """Its background work crashes once running: only this module is unhealthy, the butler serves on."""

    name = "crashing"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        pass

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        await anyio.sleep(0.05)
        raise RuntimeError("lost the forecast feed")


REGISTRY: dict[str, type[Module]] = {
    **available_modules(),
    "slow": SlowModule,
    "broken": BrokenModule,
    "unservable": UnservableModule,
    "crashing": CrashingModule,
}


def write_butler(root: Path, name: str, port: int, extra: str = "") -> None:
    (root / name).mkdir()
    (root / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {port}\n{extra}\n')


@pytest.fixture
def settings(tmp_path: Path, pg_address: ServerAddress) -> Settings:
    root = tmp_path / "butlers.d"
    root.mkdir()
    return Settings(
        dir=root,
        data_dir=tmp_path / "data",
        postgres_host=pg_address.host,
        postgres_port=pg_address.port,
        postgres_user=pg_address.user,
        postgres_password=pg_address.password,
        drain_timeout_s=10,
    )


@pytest.fixture(autouse=True)
def slow_events() -> None:
    SlowModule.release = anyio.Event()
    SlowModule.entered = anyio.Event()
    SlowModule.events = []


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Supervisor, dict[str, int]]]:
    """Serve a folder of good and bad butlers; a context manager, so one task enters and exits it."""
    suffix = uuid.uuid4().hex[:6]
    ports = {
        "good": free_port(),
        "also-good": free_port(),
        "no-cred": free_port(),
        "broken": free_port(),
        "taken": free_port(),
        "unservable": free_port(),
    }
    root = settings.dir
    write_butler(root, f"good-{suffix}", ports["good"], "[modules.slow]\n[modules.notes]\n[modules.crashing]")
    write_butler(root, f"also-good-{suffix}", ports["also-good"])
    write_butler(root, f"no-cred-{suffix}", ports["no-cred"], '[butler.env]\nrequired = ["BUTLERS_TEST_NEVER_SET"]')
    write_butler(root, f"broken-{suffix}", ports["broken"], "[modules.broken]")
    write_butler(root, f"taken-{suffix}", ports["taken"])
    write_butler(root, f"unservable-{suffix}", ports["unservable"], "[modules.unservable]")
    write_butler(root, f"badconf-{suffix}", free_port(), "colour = 'blue'")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", ports["taken"]))
    blocker.listen()
    configs, errors = discover(root)
    supervisor = Supervisor(settings, configs, errors, module_registry=REGISTRY)
    try:
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(180):  # six butlers, each its own database, on a busy machine
                await tg.start(supervisor.run)
            yield supervisor, ports
            supervisor.request_stop()
            with anyio.fail_after(30):
                await supervisor.stopped.wait()
    finally:
        blocker.close()


async def tool_names(port: int) -> list[str]:
    async with Client(f"http://127.0.0.1:{port}/mcp") as client:
        return [t.name for t in await client.list_tools()]


async def test_a_failing_butler_does_not_stop_the_others(settings: Settings) -> None:
    async with running(settings) as (supervisor, ports):
        await check_failures_are_contained(supervisor, ports)


async def check_failures_are_contained(supervisor: Supervisor, ports: dict[str, int]) -> None:
    assert sorted(b.name.rsplit("-", 1)[0] for b in supervisor.serving) == ["also-good", "good"]
    assert "slow_wait" in await tool_names(ports["good"])
    assert "state_get" in await tool_names(ports["also-good"])
    failures = "\n".join(supervisor.failures.values())
    assert "BUTLERS_TEST_NEVER_SET" in failures
    assert "cannot reach the frobnicator" in failures
    assert f"127.0.0.1:{ports['taken']}" in failures
    assert "colour: unknown key" in failures
    assert "the weather feed refused the login" in failures  # a module's serve failed before it was ready
    unservable = next(b for b in supervisor.butlers.values() if b.name.startswith("unservable-"))
    assert unservable.phase == "failed"

    # A module's serve that crashes after it started: the butler serves on, the module shows unhealthy.
    async def module_health() -> dict[str, Any]:
        async with Client(f"http://127.0.0.1:{ports['good']}/mcp") as client:
            status = (await client.call_tool("status", {})).structured_content
        assert status is not None
        return dict(status["modules"])

    with anyio.fail_after(60):
        while (await module_health())["crashing"] == {"ok": True}:  # noqa: ASYNC110 - another task's state
            await anyio.sleep(0.05)
    modules = await module_health()
    assert modules["crashing"] == {
        "ok": False,
        "error": "background work (serve) stopped: RuntimeError: lost the forecast feed",
    }
    assert modules["notes"]["ok"] is True and modules["slow"]["ok"] is True
    assert "slow_wait" in await tool_names(ports["good"])


async def test_shutdown_drains_an_in_flight_call_then_stops_modules(settings: Settings) -> None:
    async with running(settings) as (supervisor, ports):
        await check_drain(supervisor, ports)


async def check_drain(supervisor: Supervisor, ports: dict[str, int]) -> None:
    result: dict[str, Any] = {}

    async def call_slow() -> None:
        try:
            async with Client(f"http://127.0.0.1:{ports['good']}/mcp") as client:
                # Listed first: the MCP client lists the tools after calling one it has not seen (for
                # its output schema), a new request the stopping server may already refuse.
                await client.list_tools()
                result["value"] = (await client.call_tool("slow_wait", {})).data
        except Exception:
            # Closing the session (an HTTP DELETE) meets a server that no longer accepts: expected.
            assert "value" in result

    async with anyio.create_task_group() as tg:
        tg.start_soon(call_slow)
        with anyio.fail_after(60):
            await SlowModule.entered.wait()
        supervisor.request_stop()
        # The butler stops accepting but the call in flight still finishes.
        SlowModule.release.set()
    assert result["value"] == "finished"
    with anyio.fail_after(30):
        await supervisor.stopped.wait()
    good = next(b for b in supervisor.butlers.values() if b.name.startswith("good-"))
    assert good.phase == "stopped"
    assert SlowModule.events == [
        f"startup:{good.name}",
        f"serve:{good.name}",
        f"serve-cancelled:{good.name}",  # serve is cancelled before on_shutdown runs
        f"shutdown:{good.name}",
    ]
    with pytest.raises(RuntimeError, match="failed to connect"):
        await tool_names(ports["good"])


class BrokenAfterSlowModule(BrokenModule):
    """Starts after `slow` and fails: `slow`, already started, must still be shut down."""

    name = "broken_after_slow"
    dependencies = ("slow",)


async def test_a_module_failing_to_start_shuts_down_those_started_before_it(
    tmp_path: Path, settings: Settings, pg_address: ServerAddress, database: str
) -> None:
    from butlers.butler import Butler

    write_butler(settings.dir, "partial", free_port(), "[modules.slow]\n[modules.broken_after_slow]")
    butler = Butler(
        load_butler_config(settings.dir / "partial"), settings, pg_address, database=database,
        module_registry={**REGISTRY, "broken_after_slow": BrokenAfterSlowModule},
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="frobnicator"):
        await butler.run()
    assert SlowModule.events == ["startup:partial", "shutdown:partial"]
