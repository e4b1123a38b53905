"""The `switchboard` module: the registry, in-process routing and dispatch of inbound messages.

Enabled by `[modules.switchboard]` on the switchboard butler (see config.py for
the keys). Once enabled, every message the butler's channel modules (telegram,
email) record goes through `dispatch` instead of the butler's own agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from butlers.config import CONFIG_FILE
from butlers.errors import ConfigError, ModuleError
from butlers.modules.base import Module, ModuleContext
from butlers.switchboard.classify import Classifier
from butlers.switchboard.config import SwitchboardConfig
from butlers.switchboard.decide import Decider
from butlers.switchboard.router import Router
from butlers.switchboard.tools import SwitchboardTools, register_tools

if TYPE_CHECKING:
    from fastmcp import FastMCP


class SwitchboardModule(Module[SwitchboardConfig]):
    """Routes tool calls, prompts and inbound messages to the butlers of this daemon."""

    name = "switchboard"
    config_schema = SwitchboardConfig
    migrations_dir = Path(__file__).parent / "migrations"

    def __init__(self, config: SwitchboardConfig) -> None:
        super().__init__(config)
        self.router: Router | None = None
        self.classifier: Classifier | None = None
        self.followed = 0  # messages whose outcome was copied from their sessions

    async def on_startup(self, ctx: ModuleContext) -> None:
        self._check_names(ctx)
        if ctx.inbound is None:
            raise ModuleError("module 'switchboard' needs the butler's inbound log")
        c = self.config
        self.classifier = Classifier(c.classify_model, c.classify_max_tokens, c.classify_timeout_s,
                                     ctx.data_dir / "classify-home")  # fmt: skip
        decider = Decider(c, ctx.fleet, ctx.butler, self.classifier)
        self.router = Router(c, ctx.fleet, ctx.pool, decider)
        # Parked until `serve`: a message handed off now (the butler's startup redelivery) would be
        # routed before its target butlers serve. It stays `received` and `serve` hands it off.
        ctx.inbound.dispatcher = None

    def _check_names(self, ctx: ModuleContext) -> None:
        file = ctx.directory / CONFIG_FILE
        hosted = sorted(ctx.fleet)
        named = [("modules.switchboard.fallback", self.config.fallback)]
        named += [(f"modules.switchboard.rule[{i}].butler", r.butler) for i, r in enumerate(self.config.rule)]
        for key, name in named:
            if name not in ctx.fleet or name == ctx.butler:
                raise ConfigError(f"'{name}' is not a butler this daemon hosts (hosted: {', '.join(hosted)})",
                                  file=file, key=key)  # fmt: skip

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        assert self.router is not None and ctx.inbound is not None, "on_startup runs first"
        register_tools(mcp, SwitchboardTools(ctx.fleet, self.router, ctx.inbound))

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Once every other butler has settled: route inbound messages, then follow their sessions."""
        assert self.router is not None and ctx.inbound is not None
        task_status.started()
        for name, butler in list(ctx.fleet.items()):
            if name != ctx.butler:
                await butler.settled.wait()
        ctx.inbound.dispatcher = self.router
        await ctx.inbound.redeliver_pending()
        while True:
            try:
                self.followed += await self.router.follow()
            except Exception:  # a database hiccup: try again at the next round
                ctx.log.exception("switchboard.follow_failed")
            await anyio.sleep(self.config.follow_interval_s)  # a timer: sessions of other databases end there

    async def health(self) -> dict[str, Any]:
        requests = self.classifier.requests if self.classifier is not None else 0
        return {"ok": True, "rules": len(self.config.rule), "classification_requests": requests,
                "followed": self.followed}  # fmt: skip
