"""The supervisor: one task group that hosts every butler, the heartbeat and the database.

Start: discover configs, start (or reach) PostgreSQL, start every butler
concurrently; a butler that fails is reported and left out, the others serve.
Stop: stop accepting, let each butler drain within the bound, shut modules down,
close pools, stop the embedded server.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import anyio
import structlog

from butlers.butler import Butler, ButlerPhase
from butlers.config import ButlerConfig
from butlers.core.agent_env import MODEL_CREDENTIALS
from butlers.dashboard import DashboardService
from butlers.db import PostgresServer
from butlers.db_health import DatabaseHealth
from butlers.errors import ButlersError, ConfigError, NothingToServeError
from butlers.heartbeat import Heartbeat
from butlers.modules.loader import Registry
from butlers.pool_budget import fit_pools
from butlers.settings import Settings
from butlers.telemetry import register_secrets

log = structlog.get_logger(__name__)

# Bounds the shielded stop of the embedded server (pg_ctl stop runs in a thread and finishes on its own).
DATABASE_STOP_TIMEOUT_S = 60.0


class Supervisor:
    """Owns the daemon's lifetime. `run` returns once every butler has stopped."""

    def __init__(
        self,
        settings: Settings,
        configs: Sequence[ButlerConfig],
        config_errors: Sequence[ConfigError] = (),
        module_registry: Registry | None = None,
        database: PostgresServer | None = None,
    ) -> None:
        self.settings = settings
        self.module_registry = module_registry
        self.configs = list(configs)
        self.failures: dict[str, str] = {str(e.file): str(e) for e in config_errors}
        self.database = database or PostgresServer(settings)
        self.butlers: dict[str, Butler] = {}
        self.heartbeat: Heartbeat | None = None
        self.health: DatabaseHealth | None = None
        self.dashboard: DashboardService | None = None
        self._stop = anyio.Event()
        self.stopped = anyio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def serving(self) -> list[Butler]:
        return [b for b in self.butlers.values() if b.phase == ButlerPhase.SERVING]

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        for failure in self.failures.values():
            log.error("butler.config_invalid", error=failure)
        address = await self.database.start()
        log.info("database.ready", server=self.database.description)
        self.health = DatabaseHealth(self.database)
        try:
            # Pool budget (issue 14): pools sized from max_connections; the embedded server is raised to fit.
            address, budget = await fit_pools(self.database, len(self.configs), self.settings.pg_max_connections)
            start_limiter = anyio.CapacityLimiter(self.settings.start_concurrency)
            async with anyio.create_task_group() as tg:
                await tg.start(self.health.run)
                for config in self.configs:
                    butler = Butler(config, self.settings, address, module_registry=self.module_registry)
                    butler.pool_max_size = budget.pool_max_size  # pool budget (issue 14)
                    butler.start_limiter = start_limiter  # a bounded number start at once (issue 14)
                    self.butlers[config.name] = butler
                    butler.fleet = self.butlers
                    butler.health = self.health
                    self.health.subscribe(butler.database_changed)
                    tg.start_soon(self._run_butler, butler)
                for butler in self.butlers.values():
                    await butler.settled.wait()
                if not self.serving:
                    tg.cancel_scope.cancel()
                    raise NothingToServeError("no butler could start: " + "; ".join(self.failures.values()))
                self.heartbeat = Heartbeat(self.serving, self.settings.heartbeat_interval_s)
                # The model credential and every declared credential are redacted from log lines.
                register_secrets(v for k, v in os.environ.items() if k in MODEL_CREDENTIALS)
                for butler in self.serving:
                    register_secrets(butler.credentials.values())
                    butler.on_schedules_changed = self.heartbeat.poke
                tg.start_soon(self.heartbeat.run)
                if self.settings.dashboard_enabled:
                    self.dashboard = DashboardService(self.settings, self)
                    tg.start_soon(self._run_dashboard, self.dashboard)
                log.info("supervisor.ready", serving=[b.name for b in self.serving], failed=sorted(self.failures))
                task_status.started()
                await self._stop.wait()
                await self._drain(tg.cancel_scope)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(DATABASE_STOP_TIMEOUT_S):
                await self.database.stop()
            self.stopped.set()
            log.info("supervisor.stopped")

    async def _drain(self, scope: anyio.CancelScope) -> None:
        log.info("supervisor.stopping", drain_timeout_s=self.settings.drain_timeout_s)
        if self.dashboard is not None:
            self.dashboard.request_stop()
        for butler in self.butlers.values():
            butler.request_stop()
        # Each butler drains itself within the bound; give the lot a little more, then cancel.
        with anyio.move_on_after(self.settings.drain_timeout_s + 5):
            for butler in self.butlers.values():
                await butler.done.wait()
        scope.cancel()

    async def _run_dashboard(self, dashboard: DashboardService) -> None:
        """The dashboard's own error boundary: whatever it raises, the butlers keep serving."""
        try:
            await dashboard.run()
        except Exception as exc:
            dashboard.error = str(exc) or type(exc).__name__
            log.error("dashboard.failed", error=dashboard.error, exc_info=not isinstance(exc, ButlersError))

    async def _run_butler(self, butler: Butler) -> None:
        try:
            await butler.run()
        except Exception as exc:  # contained: the other butlers keep serving; the butler recorded its failure
            self.failures[butler.name] = butler.error or type(exc).__name__
            log.error(
                "butler.failed", butler=butler.name, error=butler.error, exc_info=not isinstance(exc, ButlersError)
            )
        finally:
            butler.settled.set()
            butler.done.set()
