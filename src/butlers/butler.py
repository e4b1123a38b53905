"""One butler: its database pool, its FastMCP app on its own port, its core and modules.

A Butler is an object inside the daemon, not a process. `run()` performs the
startup steps in the seed's order, starts each module's background `serve` in its
task group once the HTTP server is up, serves until asked to stop, then drains,
cancels the modules' `serve` and shuts its modules down in reverse order. Anything
it raises is contained by the supervisor, so one butler's failure never stops another.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import structlog
from fastmcp import FastMCP

from butlers.auth import SessionCredentials, check_bind, load_operator_token
from butlers.butler_app import build_mcp, module_context
from butlers.butler_status import database_health, module_health, schedule_summaries
from butlers.compat import index_tool_schemas
from butlers.config import ButlerConfig
from butlers.core.approval_prompts import prompt_owner
from butlers.core.channels import ChannelRegistry
from butlers.core.dispatch import Dispatcher
from butlers.core.scheduler import FiredWindow
from butlers.core.services import ButlerPhase, build_services
from butlers.core.spend_ceiling import ceiling_report, spend_ceiling_of
from butlers.core.tool_schedules import call_mcp_tool, check_tool_call
from butlers.db import ServerAddress, database_name, open_database_pool
from butlers.db_health import DatabaseHealth, DatabaseState
from butlers.declared_env import check_credentials, missing_credentials
from butlers.errors import ConfigError, ConfigErrors
from butlers.http import EmbeddedServer, PortLimits, bind, limit_mcp_sessions, make_server
from butlers.http_guard import CallerGuard, policy_for
from butlers.migrate import apply_migrations, core_migrations_dir
from butlers.modules.base import Module, ModuleContext
from butlers.modules.loader import Registry, load_modules
from butlers.settings import Settings
from butlers.start_turns import StartTurn

log = structlog.get_logger(__name__)

__all__ = ["Butler", "ButlerPhase", "check_credentials", "missing_credentials"]  # the credential checks: re-exported


class _StartedFlag:
    """A task status that remembers whether `started()` was called, and passes the call on."""

    def __init__(self, inner: anyio.abc.TaskStatus[None]) -> None:
        self._inner = inner
        self.reported = False

    def started(self, value: None = None) -> None:
        self.reported = True
        self._inner.started(value)


class Butler:
    """A running butler. Build with the config; `run` inside the supervisor's task group."""

    def __init__(
        self,
        config: ButlerConfig,
        settings: Settings,
        address: ServerAddress,
        database: str | None = None,
        module_registry: Registry | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.address = address
        self.name = config.name
        self.database = database or database_name(config.name)
        self.modules: list[Module] = []
        self._contexts: dict[str, ModuleContext] = {}  # one per module, built once its services exist
        self._started: list[Module] = []  # modules whose on_startup returned: they get on_shutdown
        self.module_registry = module_registry
        self.credentials: dict[str, str] = {}
        self.started_at: float | None = None
        self.phase = ButlerPhase.CREATED
        self.dispatcher: Dispatcher | None = None
        self.on_schedules_changed: Callable[[], None] = lambda: None
        self._pool: asyncpg.Pool | None = None
        self.pool_max_size = 10  # set by the supervisor from the connection budget (pool_budget.py)
        self._http: EmbeddedServer | None = None
        self._stop = anyio.Event()
        self.done = anyio.Event()
        self.settled = anyio.Event()  # set once serving, or once it failed to start
        self.error: str | None = None
        # Modules whose `serve` raised after it had started: name -> error, reported by `status`.
        self.module_failures: dict[str, str] = {}
        # Every butler of this daemon by name (the supervisor's own dict, so it stays live):
        # how the switchboard routes and how `notify` reaches the switchboard, in-process.
        self.fleet: dict[str, Butler] = {self.name: self}
        # This butler's own MCP app, once started: in-process tool calls (tool-mode schedules, the
        # switchboard's `route`); and its outbound channels (the channel modules register themselves).
        self.mcp: FastMCP | None = None
        self.channels = ChannelRegistry()
        # Credentials of this butler's running sessions: what its spawned agents present.
        self.session_credentials = SessionCredentials()
        # The daemon's view of the database server (set by the supervisor; None when run alone).
        self.health: DatabaseHealth | None = None
        # Shared by the butlers of one daemon: how many start at once (start_turns.py; None: no bound).
        self.start_limiter: anyio.CapacityLimiter | None = None

    # The pool and the stores exist once startup has reached the database step.
    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, f"butler {self.name} has no database yet"
        return self._pool

    @property
    def mcp_url(self) -> str:
        return f"http://{self.settings.host}:{self.config.port}/mcp"

    async def start(self) -> FastMCP:
        """Startup steps 3-12 of the seed: credentials to module tools. Returns the MCP app."""
        self.phase = ButlerPhase.STARTING
        self.modules = load_modules(self.config, self.module_registry)
        self.credentials = check_credentials(self.config, self.modules, os.environ)
        # The pool first (the database made if missing): the migration checks ask through it (issue 14).
        self._pool = pool = await open_database_pool(self.address, self.database, max_size=self.pool_max_size)
        await apply_migrations(self.address, self.database, core_migrations_dir(), "core", pool)
        for module in self.modules:
            if module.migrations_dir is not None:
                await apply_migrations(self.address, self.database, module.migrations_dir, module.name, pool)
        self.services = services = await build_services(
            self.config,
            self._pool,
            mcp_url=self.mcp_url,
            data_dir=self.settings.data_dir,
            credentials=self.credentials,
            session_credentials=self.session_credentials,
            call_own_tool=self.call_own_tool,
            spend_ceiling=spend_ceiling_of(self),
        )
        # The names the rest of the daemon (supervisor, switchboard, heartbeat, tests) reads.
        self.state, self.spawner, self.scheduler = services.state, services.spawner, services.scheduler
        self.inbound, self.approvals, self.tool_runner = services.inbound, services.approvals, services.tool_runner
        self.dispatcher = services.spawner
        self.approvals.on_held = prompt_owner(self)  # the owner's Approve / Reject buttons, if a channel has them
        self._contexts = {m.name: module_context(self, m) for m in self.modules}
        for module in self.modules:
            await module.on_startup(self._contexts[module.name])
            self._started.append(module)
        # Messages stored but never handed off (a crash, a failing hand-off) go now.
        await self.inbound.redeliver_pending()
        self.phase = ButlerPhase.STARTED_MODULES
        mcp = build_mcp(self, self._contexts)
        # By-name schema lookup: else every tools/call runs a whole tools/list (docs/benchmarks.md).
        # A butler's tool set is fixed once started, so the index cannot go stale.
        index_tool_schemas(mcp, {tool.name: tool.parameters for tool in await mcp.list_tools()})
        self.mcp = mcp
        await self._check_tool_schedules(mcp)
        report = await self.scheduler.sync_from_config(self.config.schedules)
        log.info("butler.schedules_synced", butler=self.name, **{k: v for k, v in report.items() if v})
        return mcp

    async def _check_tool_schedules(self, mcp: FastMCP) -> None:
        """A tool-mode schedule of butler.toml must name a tool of this butler, with fitting args."""
        errors = []
        for i, s in enumerate(self.config.schedules):
            problem = await check_tool_call(mcp, s.tool, s.args) if s.tool is not None else None
            if problem is not None:
                errors.append(ConfigError(problem, file=self.config.config_file, key=f"butler.schedule[{i}].tool"))
        if errors:
            raise ConfigErrors(errors)

    async def call_own_tool(self, name: str, args: dict[str, Any]) -> Any:
        """Call one of this butler's tools in-process, validated as over MCP (tool-mode schedules)."""
        assert self.mcp is not None, f"butler {self.name} has no MCP app yet"
        return await call_mcp_tool(self.mcp, name, args)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Start, serve until `request_stop`, then drain and shut down (also when cancelled).

        A failure is recorded here (`error`, phase `failed`) and raised on to the supervisor.
        """
        try:
            await self._run(task_status)
        except Exception as exc:
            self.error = str(exc) or type(exc).__name__
            self.phase = ButlerPhase.FAILED
            raise

    async def _run(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        turn = StartTurn(self.start_limiter)
        try:
            await turn.take()
            token = load_operator_token(self.settings)
            check_bind(self.settings, token)
            mcp = await self.start()
            sock = bind(self.settings.host, self.config.port, f"butler '{self.name}'")
            s = self.settings
            mcp_app = mcp.http_app(path="/mcp", session_idle_timeout=s.session_idle_timeout_s)
            policy = policy_for(
                port=self.config.port,
                bind_host=s.host,
                token=token,
                sessions=self.session_credentials,
                allowed_hosts=s.allowed_hosts,
                allowed_origins=s.allowed_origins,
                max_body_bytes=s.max_body_bytes,
            )
            limits = PortLimits(max_connections=s.max_connections, idle_timeout_s=s.idle_connection_timeout_s)
            self._http = make_server(CallerGuard(mcp_app, policy), s.host, self.config.port, s.drain_timeout_s, limits)
            http_done = anyio.Event()

            async def serve_http() -> None:
                try:
                    await http.serve([sock])
                finally:
                    http_done.set()

            http = self._http
            startup_error: Exception | None = None
            async with anyio.create_task_group() as tg:
                tg.start_soon(serve_http)
                await http.ready.wait()
                limit_mcp_sessions(mcp_app, self.settings.max_sessions)
                await tg.start(self.spawner.run)
                try:
                    await self.serve_modules(tg)
                except Exception as exc:
                    # Re-raised bare after the group rather than wrapped in its ExceptionGroup, so
                    # the supervisor reports the module's own message like any startup failure.
                    startup_error = exc
                    tg.cancel_scope.cancel()
                else:
                    self.started_at = time.monotonic()
                    self.phase = ButlerPhase.SERVING
                    modules = [m.name for m in self.modules]
                    log.info("butler.serving", butler=self.name, url=self.mcp_url, modules=modules)
                    self.settled.set()
                    turn.give_back()
                    task_status.started()
                    await self._stop.wait()
                    self.phase = ButlerPhase.STOPPING
                    await self._drain(http, http_done)
                    tg.cancel_scope.cancel()  # what still runs (modules' serve too) is interrupted, and recorded so
            if startup_error is not None:
                raise startup_error
        finally:
            turn.give_back()
            with anyio.CancelScope(shield=True), anyio.move_on_after(self.settings.drain_timeout_s):
                await self._shutdown()

    async def serve_modules(self, tg: anyio.abc.TaskGroup) -> None:
        """Start every module's `serve` in `tg`, in dependency order, each ready before the next.

        A `serve` that raises (or returns) before reporting started fails the butler's startup.
        One that raises after it is contained by `_serve_module`: letting it cancel `tg` would
        stop the whole butler - HTTP, sessions, other modules - for one module's background work.
        """
        for module in self.modules:
            try:
                await tg.start(self._serve_module, module)
            except Exception:
                log.error("module.serve_failed_to_start", butler=self.name, module=module.name)
                raise

    async def _serve_module(
        self, module: Module, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        status = _StartedFlag(task_status)
        try:
            await module.serve(self._contexts[module.name], task_status=status)
        except Exception as exc:
            if not status.reported:
                raise
            # Contained and not restarted: a module retries its own transient failures inside
            # serve, so what escapes is a bug. `status` shows the module unhealthy until a restart.
            self.module_failures[module.name] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.exception("module.serve_failed", butler=self.name, module=module.name)

    async def _drain(self, http: EmbeddedServer, http_done: anyio.Event) -> None:
        """Let running sessions and open requests finish, then stop accepting; all within the bound."""
        with anyio.move_on_after(self.settings.drain_timeout_s) as scope:
            # Sessions first: a running agent still calls this butler's tools over HTTP.
            await self.spawner.drain()
            http.should_exit = True
            await http_done.wait()
        if scope.cancelled_caught:
            log.warning("butler.drain_timeout", butler=self.name, drain_timeout_s=self.settings.drain_timeout_s)

    def request_stop(self) -> None:
        self._stop.set()

    async def _shutdown(self) -> None:
        # Also when a later module's on_startup failed: the earlier ones were started.
        for module in reversed(self._started):
            try:
                await module.on_shutdown(self._contexts[module.name])
            except Exception:
                log.exception("module.shutdown_failed", butler=self.name, module=module.name)
        self._started = []
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                with anyio.fail_after(5):
                    await pool.close()
            except Exception:  # the server is gone or hangs: drop the connections instead
                pool.terminate()
        self.phase = ButlerPhase.STOPPED

    async def database_changed(self, state: DatabaseState) -> None:
        """The server went down or came back: drop old connections; when back, resume work."""
        if self._pool is not None:
            # Idle connections are replaced at the next acquire, busy ones when released:
            # after a restart or a half-open link none of them is any good.
            await self._pool.expire_connections()
        if state is DatabaseState.UP and self.phase == ButlerPhase.SERVING:
            self.spawner.database_back()
            self.on_schedules_changed()  # the heartbeat looks again: missed windows follow their policy
        elif state is DatabaseState.DOWN and self.phase == ButlerPhase.SERVING:
            self.spawner.database_lost()

    async def tick(self) -> list[FiredWindow]:
        if self.health is not None and self.health.down:
            # Claimed now, a window's tool call would meet the "database unavailable" guard and fail;
            # left due, it is claimed when the server is back (`database_changed` wakes the heartbeat).
            return []
        return await self.scheduler.claim_due()

    async def next_due_at(self) -> datetime | None:
        if self.health is not None and self.health.down:
            return None  # not asked of a lost server (a half-open link would hang it); `database_changed` pokes
        return await self.scheduler.next_due_at()

    async def status(self) -> dict[str, Any]:
        if self.health is not None and self.health.down:
            # Answer at once, from memory: every query would fail or hang.
            database = {"ok": False, "name": self.database, "error": f"down: {self.health.reason}"}
            modules = {m.name: {"ok": None, "error": "not checked: the database is down"} for m in self.modules}
            return {
                **self._identity(),
                "modules": modules,
                "schedules": None,
                "database": {**database, **self.health.report()},
            }
        database = await database_health(self.pool, self.database)
        return {
            **self._identity(),
            "modules": {m.name: await module_health(m, self.module_failures.get(m.name)) for m in self.modules},
            "schedules": await schedule_summaries(self.scheduler) if database["ok"] else None,
            "database": database,
            "spend_ceiling": await ceiling_report(self.spawner.spend_ceiling) if database["ok"] else None,
        }

    def _identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.config.description,
            "port": self.config.port,
            "url": self.mcp_url,
            "phase": self.phase,
            "uptime_s": round(time.monotonic() - self.started_at, 3) if self.started_at else 0.0,
        }

    @property
    def directory(self) -> Path:
        return self.config.directory
