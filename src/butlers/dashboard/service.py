"""The dashboard as one service of the daemon: bound, served and stopped inside the supervisor's task group.

It fails alone: a port in use or a refused bind is logged and recorded in `error`,
and the butlers keep serving (the supervisor runs it behind its own error boundary).
"""

from __future__ import annotations

import importlib

import anyio
import structlog

from butlers.auth import OperatorToken, check_bind_host, load_operator_token
from butlers.dashboard.context import Dashboard, Fleet
from butlers.dashboard.events import EventHub
from butlers.dashboard.security import DashboardPolicy
from butlers.http import EmbeddedServer, PortLimits, bind, make_server
from butlers.settings import Settings

log = structlog.get_logger(__name__)


def check_dashboard_bind(settings: Settings, token: OperatorToken) -> None:
    """Beyond loopback only with a token the operator set, as for the butlers' ports."""
    check_bind_host(settings.dashboard_host, token, service="dashboard")


class DashboardService:
    """`run` serves until cancelled or `request_stop`; `ready` is set once it listens."""

    def __init__(self, settings: Settings, fleet: Fleet) -> None:
        self.settings = settings
        self.fleet = fleet
        self.hub = EventHub()
        self.ready = anyio.Event()
        self.error: str | None = None
        self._server: EmbeddedServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.settings.dashboard_host}:{self.settings.dashboard_port}/"

    def request_stop(self) -> None:
        self.hub.close()  # open event streams end, so the server's shutdown does not wait on them
        if self._server is not None:
            self._server.should_exit = True

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        # The pages (and Jinja2, and the module stores they read) are imported here, once the butlers
        # serve: constructing this service at start costs next to nothing. The import runs in a worker
        # thread: done on the event loop it held every butler's first answers for about a second.
        app_module = await anyio.to_thread.run_sync(importlib.import_module, "butlers.dashboard.app")
        build_app = app_module.build_app

        s = self.settings
        token = load_operator_token(s)
        check_dashboard_bind(s, token)
        policy = DashboardPolicy.build(
            host=s.dashboard_host,
            port=s.dashboard_port,
            token=token,
            hosts=s.allowed_hosts,
            origins=s.allowed_origins,
            max_body=s.max_body_bytes,
        )
        dashboard = Dashboard(self.fleet, self.hub, s)
        sock = bind(s.dashboard_host, s.dashboard_port, "dashboard")
        limits = PortLimits(max_connections=s.max_connections, idle_timeout_s=s.idle_connection_timeout_s)
        self._server = server = make_server(build_app(dashboard, policy), s.dashboard_host, s.dashboard_port, 2, limits)
        async with anyio.create_task_group() as tg:
            await tg.start(self.hub.run, dashboard.serving())
            tg.start_soon(self._serve, server, sock, tg.cancel_scope)
            await server.ready.wait()
            log.info("dashboard.ready", url=self.url)
            self.ready.set()
            task_status.started()

    async def _serve(self, server: EmbeddedServer, sock: object, scope: anyio.CancelScope) -> None:
        try:
            await server.serve([sock])  # type: ignore[list-item]
        finally:
            scope.cancel()  # the listeners go with the server
