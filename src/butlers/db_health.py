"""Database down is a state, not a crash: the daemon watches its server and recovers.

One probe connection per daemon asks the server `SELECT 1` every second with a
short deadline. A refused connection (a killed postmaster) is noticed at the
next probe; a half-open one (a proxy or network that stops forwarding without
closing) when the deadline passes: both within `interval + timeout` (< 5 s).
The embedded server's postmaster process is also watched between probes: its
death is certain, so the restart begins within `WATCH_STEP_S`, alongside (not
after) telling the butlers.
While down, every butler's tools answer "database unavailable, retry" at once
(`ToolGuard`) and `status` says why. The embedded server is restarted with a
bounded backoff, each attempt logged; an external one is simply probed until it
answers again. On the way up, each butler drops its old connections and wakes
its worker and scheduler, so queued work and missed schedules follow.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import anyio
import asyncpg
import psutil
import structlog
from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import Middleware
from fastmcp.tools import ToolResult

from butlers.tool_hooks import NextHook, ToolCall

if TYPE_CHECKING:
    from butlers.db import PostgresServer

log = structlog.get_logger(__name__)

PROBE_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 2.0
RESTART_BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # then every 30 s
# Between probes the embedded postmaster's process is looked at this often: its death is certain
# (no probe, connect or timeout needed to know it), so the restart begins within this step.
WATCH_STEP_S = 0.1

# What a lost server looks like to a client, as opposed to a bad query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # A connection whose backend died while it sat idle (its FATAL arriving unasked, as when the
    # postmaster is killed) is left in a protocol state asyncpg refuses to query from.
    asyncpg.InternalClientError,
)


# What a tool call meeting a lost server raises (narrower: a tool's own OSError is not the database's).
LOST_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


class DatabaseState(StrEnum):
    UP = "up"
    DOWN = "down"


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT_S:g} s (connection half-open or server stuck)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class DatabaseHealth:
    """The daemon's view of its PostgreSQL server; `run` in the supervisor's task group."""

    def __init__(
        self,
        server: PostgresServer,
        *,
        interval_s: float = PROBE_INTERVAL_S,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.server = server
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.state = DatabaseState.UP
        self.reason: str | None = None
        self.since = datetime.now(UTC)
        self.restarts = 0
        self._listeners: list[Callable[[DatabaseState], Awaitable[None]]] = []
        self._conn: asyncpg.Connection | None = None
        self._next_restart = 0.0
        self._restart_attempt = 0
        self._postmaster: int | None = None  # the embedded server's postmaster pid, watched between probes

    @property
    def down(self) -> bool:
        return self.state is DatabaseState.DOWN

    def subscribe(self, listener: Callable[[DatabaseState], Awaitable[None]]) -> None:
        """`await listener(state)` on every change (from the health task; it must be quick)."""
        self._listeners.append(listener)

    def report(self) -> dict[str, Any]:
        """What `status` shows about the server."""
        out: dict[str, Any] = {"state": str(self.state), "since": self.since.isoformat()}
        if self.reason:
            out["reason"] = self.reason
        return out

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self._remember_postmaster()
            while True:
                problem = await self.probe()
                if problem is None:
                    await self._set(DatabaseState.UP, None)
                elif await self._down_and_restart(problem):
                    continue  # `pg_ctl -w` returned with the server ready: up at once, not a probe later
                await self._pause()
        finally:
            if self._conn is not None:
                self._conn.terminate()

    async def _down_and_restart(self, problem: str) -> bool:
        """Mark the server down and, at the same time, restart the embedded one if it died.

        The restart does not wait for the listeners (pools, workers): both begin at once.
        True when the server was restarted.
        """
        restarted = False

        async def restart() -> None:
            nonlocal restarted
            restarted = await self._maybe_restart()

        async with anyio.create_task_group() as tg:
            tg.start_soon(restart)
            await self._set(DatabaseState.DOWN, problem)
        return restarted

    async def _pause(self) -> None:
        """Wait one probe interval, cut short when the embedded postmaster's process is gone.

        While down with a restart pending, the wait ends when the backoff allows the next attempt.
        """
        until = time.monotonic() + self.interval_s
        if self.down and self._next_restart > time.monotonic():
            until = min(until, self._next_restart)
        while (left := until - time.monotonic()) > 0:
            if self._postmaster is not None and _process_gone(self._postmaster):
                log.warning("database.postmaster_gone", pid=self._postmaster, server=self.server.description)
                self._postmaster = None
                return
            await anyio.sleep(min(WATCH_STEP_S, left))

    async def _remember_postmaster(self) -> None:
        if self.server.restartable:
            self._postmaster = await anyio.to_thread.run_sync(self.server.postmaster_pid)

    async def probe(self) -> str | None:
        """None when the server answers within the deadline, else why not."""
        try:
            with anyio.fail_after(self.timeout_s):
                if self._conn is None or self._conn.is_closed():
                    address = self.server.address
                    assert address is not None, "probe before the server started"
                    self._conn = await asyncpg.connect(
                        database="postgres", timeout=self.timeout_s, **address.connect_kwargs()
                    )
                await self._conn.fetchval("SELECT 1")
        except CONNECTION_ERRORS as exc:
            if self._conn is not None:
                self._conn.terminate()  # a half-open connection would hang every later probe
                self._conn = None
            return describe(exc)
        return None

    async def _set(self, state: DatabaseState, reason: str | None) -> None:
        if state is self.state:
            self.reason = reason if state is DatabaseState.DOWN else None
            return
        down_for = (datetime.now(UTC) - self.since).total_seconds()
        self.state, self.reason, self.since = state, reason, datetime.now(UTC)
        if state is DatabaseState.DOWN:
            log.error("database.down", reason=reason, server=self.server.description)
        else:
            log.info("database.up", down_for_s=round(down_for, 3), server=self.server.description)
            self._restart_attempt = 0
            self._next_restart = 0.0
        # Every butler at once: one slow butler does not hold back the others' pools and workers.
        async with anyio.create_task_group() as tg:
            for listener in self._listeners:
                tg.start_soon(self._tell, listener, state)

    async def _tell(self, listener: Callable[[DatabaseState], Awaitable[None]], state: DatabaseState) -> None:
        try:
            with anyio.fail_after(self.timeout_s):
                await listener(state)
        except Exception:
            log.exception("database.listener_failed")

    async def _maybe_restart(self) -> bool:
        """Restart the embedded server if its postmaster is gone, no faster than the backoff allows.

        True when it was restarted.
        """
        if not self.server.restartable or time.monotonic() < self._next_restart:
            return False
        pid = await anyio.to_thread.run_sync(self.server.postmaster_pid)
        if pid is not None:
            if _process_gone(pid):
                # Dead but not yet reaped by its parent (init): PostgreSQL will not start over a pid
                # file whose process still exists, so look again a step later, not a probe later.
                self._next_restart = time.monotonic() + WATCH_STEP_S
            return False  # running but not answering: a restart would not help; keep probing
        attempt = self._restart_attempt
        delay = RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)]
        self._restart_attempt += 1
        log.warning("database.restarting", attempt=attempt + 1, server=self.server.description)
        started = time.monotonic()
        try:
            await self.server.restart()
        except Exception as exc:
            self._next_restart = time.monotonic() + delay
            log.error("database.restart_failed", attempt=attempt + 1, error=describe(exc), retry_in_s=delay)
            return False
        self.restarts += 1
        log.info("database.restarted", attempt=attempt + 1, took_s=round(time.monotonic() - started, 3))
        await self._remember_postmaster()
        return True


class ToolGuard(Middleware):
    """While the database is down, tools fail at once with a clear error; `status` still answers.

    A call that meets a lost connection before the probe noticed gets the same
    message instead of a raw socket error.
    """

    ALWAYS_ANSWERS = frozenset({"status"})

    def __init__(self, health: Callable[[], DatabaseHealth | None]) -> None:
        self._health = health

    async def on_call_tool(self, context: ToolCall, call_next: NextHook) -> ToolResult:
        name = context.message.name
        health = self._health()
        if health is not None and health.down and name not in self.ALWAYS_ANSWERS:
            raise ToolError(unavailable(name, health.reason))
        try:
            return await call_next(context)
        except ToolError as exc:
            if isinstance(exc.__cause__, LOST_CONNECTION_ERRORS):
                raise ToolError(unavailable(name, describe(exc.__cause__))) from None
            raise
        except LOST_CONNECTION_ERRORS as exc:
            raise ToolError(unavailable(name, describe(exc))) from None


def _process_gone(pid: int) -> bool:
    """Whether a process has exited (a zombie nobody reaped yet counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def unavailable(tool: str, reason: str | None) -> str:
    detail = f" ({reason})" if reason else ""
    return f"{tool}: database unavailable{detail}; nothing was done, retry in a few seconds"
