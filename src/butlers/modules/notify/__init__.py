"""The `notify` module: delivery of messages to people, on the butler that holds the channels.

Enable it on the switchboard, next to the telegram, email and/or slack modules (the
channels). Every butler's core `notify` tool (and `ModuleContext.notify`, and
`remind`) reaches this module's engine in-process through `Butler.fleet`.

    [modules.notify]
    [modules.notify.owner]
    telegram_chat_id = 123456789
    email = "me@example.com"
    timezone = "Europe/Paris"
    quiet_hours = "22:00-07:00"

Tools: `notify_list`, `notify_retry` (what `butlerctl notifications` uses). Its `serve` sends what quiet
hours held once they end, and at startup what was recorded but never tried.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from butlers.core.channels import ChannelRegistry
from butlers.errors import ModuleError
from butlers.modules.base import Module, ModuleContext
from butlers.modules.notify import tools
from butlers.modules.notify.config import NotifyConfig, OwnerConfig
from butlers.modules.notify.engine import NotifyEngine

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["NotifyConfig", "NotifyEngine", "NotifyModule", "OwnerConfig"]


class NotifyModule(Module[NotifyConfig]):
    name = "notify"
    config_schema = NotifyConfig
    migrations_dir = Path(__file__).parent / "migrations"
    engine: NotifyEngine | None = None  # from on_startup to on_shutdown

    @property
    def notifier(self) -> NotifyEngine | None:
        """The engine other butlers deliver through (see butlers.core.notify_tools); None when not started."""
        return self.engine

    async def on_startup(self, ctx: ModuleContext) -> None:
        # Without a registry (a bare context) there is no channel: every notify says so.
        self.engine = NotifyEngine(self.config, ctx.pool, ctx.channels or ChannelRegistry(), ctx.approvals)

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        tools.register(mcp, self._require())

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        engine = self._require()
        task_status.started()
        # Channel modules' serve came first (dependency order is not needed: they registered at startup).
        await engine.resume_at_startup()
        while True:
            try:
                await engine.release_due()
            except Exception:  # a database blip: try again at the next round
                ctx.log.exception("notify.release_failed")
            await anyio.sleep(self.config.release_interval_s)  # the period of the quiet-hours check

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        self.engine = None

    def _require(self) -> NotifyEngine:
        if self.engine is None:
            raise ModuleError("module 'notify' is not started (on_startup has not run)")
        return self.engine
