"""A butler's phase and its services, built in one place.

`build_services` makes every core service of one butler over its pool, and
recovers what a previous run left unfinished, in the order that matters
(sessions before anything can dispatch, approvals before modules register
executors). Core tools get these services and a `CoreHost` (what the butler
itself answers); they never import the Butler class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from fastmcp import FastMCP

from butlers.auth import SessionCredentials
from butlers.config import ButlerConfig
from butlers.core.approvals import ApprovalGate
from butlers.core.inbound import InboundLog
from butlers.core.scheduler import FiredWindow, Scheduler
from butlers.core.spawner import Spawner
from butlers.core.spend_ceiling import SpendCeiling
from butlers.core.state import StateStore
from butlers.core.tool_schedules import ToolRunner


class ButlerPhase(StrEnum):
    """Where a butler is in its life; `status` reports it."""

    CREATED = "created"
    STARTING = "starting"
    STARTED_MODULES = "started-modules"
    SERVING = "serving"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True)
class ButlerServices:
    """The core services of one butler, over its own database."""

    state: StateStore
    spawner: Spawner
    tool_runner: ToolRunner
    scheduler: Scheduler
    inbound: InboundLog
    approvals: ApprovalGate


async def build_services(
    config: ButlerConfig,
    pool: asyncpg.Pool,
    *,
    mcp_url: str,
    data_dir: Path,
    credentials: dict[str, str],
    session_credentials: SessionCredentials,
    call_own_tool: Callable[[str, dict[str, Any]], Awaitable[Any]],
    spend_ceiling: SpendCeiling | None = None,
) -> ButlerServices:
    """Make a butler's services and recover what its last run left (running sessions, tool runs, approvals)."""
    name = config.name
    spawner = Spawner(
        name, config, pool, mcp_url, data_dir, credentials,
        session_credentials=session_credentials, spend_ceiling=spend_ceiling,
    )  # fmt: skip
    await spawner.recover_at_startup()
    tool_runner = ToolRunner(pool, call_own_tool, name)
    await tool_runner.recover_at_startup()
    approvals = ApprovalGate(pool, name)
    await approvals.recover_at_startup()
    inbound = InboundLog(pool, spawner, name)
    # What a daemon that is gone left (issue 10): a live daemon's liveness check takes it over, once.
    spawner.instances.takeovers += [approvals.take_over, inbound.take_over]
    return ButlerServices(
        state=StateStore(pool),
        spawner=spawner,
        tool_runner=tool_runner,
        scheduler=Scheduler(pool, spawner, tool_runner),
        inbound=inbound,
        approvals=approvals,
    )


class CoreHost(Protocol):
    """What the core tools need of their butler beyond its services."""

    @property
    def mcp(self) -> FastMCP | None: ...

    @property
    def on_schedules_changed(self) -> Callable[[], None]: ...

    async def status(self) -> dict[str, Any]: ...

    async def tick(self) -> list[FiredWindow]: ...
