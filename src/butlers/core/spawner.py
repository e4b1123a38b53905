"""The spawner: the queue worker that runs a butler's queued sessions as locked-down Claude Code sessions.

This module claims, bounds concurrency, drains, cancels and wakes waiters;
one session's run (CLI options, recorder, budget refusal, deadline) is
`agent_run.AgentRunner`.

Each session's CLI gets this butler's MCP endpoint as its only MCP server,
only this butler's tools (built-ins disallowed, permission mode ``dontAsk`` so
anything not allowed is denied: ``bypassPermissions`` is refused as root), its
own HOME under the data dir, and an environment reduced to a whitelist by a
launcher script (see agent_env). Work arrives through the `sessions` table
(durable queue); a worker claims at most ``max_concurrency`` sessions at once.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import structlog
from anyio.abc import TaskGroup, TaskStatus

from butlers.auth import SessionCredentials
from butlers.config import ButlerConfig
from butlers.core import agent_env
from butlers.core.agent_run import AgentRunner, RunHandle, current_traceparent
from butlers.core.cancels import CANCEL_CHANNEL, CancelRequests, session_id_of
from butlers.core.dispatch import DispatchRequest, TriggerSource
from butlers.core.instances import InstanceRegistry
from butlers.core.sessions import QUEUE_CHANNEL, Conn, FinishedTrigger, Outcome, Session, SessionLog, Triggered
from butlers.core.spend_ceiling import SpendCeiling
from butlers.errors import NotFoundError
from butlers.statuses import SessionStatus

__all__ = ["DB_ERRORS", "Spawner", "current_traceparent"]

log = structlog.get_logger(__name__)

POLL_S = 30.0  # fallback wake-up in case a NOTIFY is lost (listener connection dropped)
SHUTDOWN_GRACE_S = 5.0
FINISH_RETRY_S = 60.0  # how long a session's final record waits for a lost database
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Spawner:
    """One butler's agent worker; also its Dispatcher."""

    def __init__(
        self,
        name: str,
        config: ButlerConfig,
        pool: asyncpg.Pool,
        mcp_url: str,
        data_dir: Path,
        credentials: dict[str, str],
        *,
        model_env: Mapping[str, str] | None = None,
        cli_path: str | None = None,
        session_credentials: SessionCredentials | None = None,
        spend_ceiling: SpendCeiling | None = None,
    ) -> None:
        """`credentials`: the butler's declared variables and its modules' credentials.

        The model credential and endpoint (ANTHROPIC_API_KEY or
        CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_BASE_URL...) come from `model_env`,
        by default the daemon's environment; nothing else of it is read.
        """
        self.name = name
        self.config = config
        self.pool = pool
        self.mcp_url = mcp_url
        self.credentials = {**agent_env.model_settings(model_env), **credentials}
        self.sessions = SessionLog(pool)
        self.instances = InstanceRegistry(pool, name)
        self.cancels = CancelRequests(pool)
        self.home = agent_env.agent_home(data_dir, name)
        self.runner = AgentRunner(
            name,
            config,
            self.sessions,
            mcp_url,
            self.home,
            self.credentials,
            cli_path=cli_path,
            session_credentials=session_credentials,
            spend_ceiling=spend_ceiling,
        )
        self.spend_ceiling = spend_ceiling
        self._runs: dict[uuid.UUID, RunHandle] = {}
        self._waiters: dict[uuid.UUID, anyio.Event] = {}
        self._wake: anyio.Event | None = None
        self._draining = False
        self._listener: Any = None  # the LISTEN connection, while held
        self._claim_idle: anyio.Event | None = None  # unset while a claim is in flight
        self._early_cancels: set[uuid.UUID] = set()  # cancels announced while a claim was in flight

    # -- public API ---------------------------------------------------------

    async def recover_at_startup(self) -> int:
        """Register this daemon; sessions left `running` by a daemon that is gone → `interrupted`.

        Sessions of another daemon that is alive (two daemons on one database) are left alone.
        """
        await self.instances.register()
        return await self.instances.reap("found running at startup")

    async def _keep_alive(self) -> None:
        """Refresh this daemon's liveness row; take over what dead daemons left, once."""
        while True:
            # Every BEAT_INTERVAL_S from the last attempt (a failed one too), and not at once after
            # startup recovery's own: 50 butlers starting would do it all twice.
            await anyio.sleep(self.instances.next_beat_in())
            try:
                await self.instances.register()
                if await self.instances.reap():
                    self._poke()
                for session_id in await self.cancels.requested_for(self.instances.me.id):
                    self._cancel_requested(session_id)  # a cancel notification this daemon missed
            except DB_ERRORS as exc:  # the database is away: the health monitor reports it
                log.warning("liveness beat failed", butler=self.name, error=str(exc))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The worker loop: claims queued sessions and runs them, until cancelled."""
        agent_env.prepare_home(self.home)
        if not agent_env.has_model_credential(self.credentials):
            log.warning(
                "no model credential: sessions will fail until one is set",
                butler=self.name,
                variables=list(agent_env.MODEL_CREDENTIALS),
            )
        self._wake = anyio.Event()
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self._listen)
                tg.start_soon(self._keep_alive)
                task_status.started()
                try:
                    await self._loop(tg)
                finally:
                    # Shutdown: kill every CLI now, so the SDK's shielded
                    # cleanup in each session task (which would wait 5 s
                    # for a graceful exit) ends at once.
                    for active in self._runs.values():
                        active.kill()
        finally:
            # A clean stop: this daemon's sessions are finished or interrupted by now.
            with anyio.CancelScope(shield=True), anyio.move_on_after(2), contextlib.suppress(*DB_ERRORS):
                await self.instances.deregister()

    async def _listen(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Hold a LISTEN connection for queue wake-ups; a lost one is replaced (the poll covers the gap)."""
        reported = False
        while True:
            lost = anyio.Event()
            try:
                async with self.pool.acquire() as conn:
                    self._listener = conn
                    conn.add_termination_listener(lambda *_, lost=lost: lost.set())
                    await conn.add_listener(QUEUE_CHANNEL, self._on_notify)
                    await conn.add_listener(CANCEL_CHANNEL, self._on_cancel_notify)
                    if not reported:
                        reported = True
                        task_status.started()
                    self._poke()  # anything queued while nobody listened
                    try:
                        await lost.wait()
                    finally:
                        self._listener = None
                        unlistened = False
                        with anyio.CancelScope(shield=True), anyio.move_on_after(1), contextlib.suppress(Exception):
                            await conn.remove_listener(QUEUE_CHANNEL, self._on_notify)
                            await conn.remove_listener(CANCEL_CHANNEL, self._on_cancel_notify)
                            unlistened = True
                        if not unlistened:  # the pool resets no session state (db._keep_session)
                            conn.terminate()
            except DB_ERRORS as exc:
                log.warning("queue listener lost; retrying", butler=self.name, error=str(exc))
                if not reported:
                    reported = True
                    task_status.started()  # serve anyway: the poll picks work up meanwhile
            await anyio.sleep(1.0)

    def database_lost(self) -> None:
        """The daemon found the server down: drop the listener (it may be half-open, never closing)."""
        if self._listener is not None:
            self._listener.terminate()

    def database_back(self) -> None:
        """The server answers again: claim what was queued meanwhile."""
        self._poke()

    async def dispatch(self, conn: Conn, request: DispatchRequest) -> uuid.UUID:
        """Record `request` in the caller's transaction; it runs after commit."""
        session_id, _ = await self.sessions.enqueue(conn, request, parent_traceparent=current_traceparent())
        return session_id

    async def trigger(
        self,
        prompt: str,
        context: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        trigger_source: TriggerSource = TriggerSource.TRIGGER_TOOL,
    ) -> Triggered:
        """Queue a session (or find the one with this idempotency key); `wait_finished` waits for its end."""
        request = DispatchRequest(trigger_source, prompt, context=context, idempotency_key=idempotency_key)
        async with self.pool.acquire() as conn, conn.transaction():
            session_id, created = await self.sessions.enqueue(conn, request, parent_traceparent=current_traceparent())
        self._poke()
        record = await self._get(session_id)
        return Triggered(session_id=record.id, status=record.status, created=created)

    async def wait_finished(self, triggered: Triggered) -> FinishedTrigger:
        """Wait for a triggered session to end: its final record."""
        # The waiter exists before the status is read, so the end cannot be missed.
        done = self._waiter(triggered.session_id)
        record = await self._get(triggered.session_id)
        if not record.status.finished:
            await done.wait()
            record = await self._get(triggered.session_id)
        return FinishedTrigger(**dict(record), session_id=record.id, created=triggered.created)

    async def cancel(self, session_id: uuid.UUID) -> Session:
        """Cancel a queued or running session; a finished one is left as it is.

        A cancel can land while the worker is claiming: the row is already
        `running` but the worker has not registered the run yet. So when the
        session is neither queued nor known, wait for the claim in flight to
        finish, then look again: it is registered by then if it is ours.
        """
        run = self._runs.get(session_id)
        if run is None and await self.sessions.cancel_queued(session_id):
            self._finished(session_id)
            return await self._get(session_id)
        if run is None and self._claim_idle is not None:
            with anyio.move_on_after(SHUTDOWN_GRACE_S):
                await self._claim_idle.wait()
            run = self._runs.get(session_id)
        if run is not None:
            run.stop(SessionStatus.CANCELLED)
            with anyio.move_on_after(SHUTDOWN_GRACE_S * 2):
                await run.done.wait()
        elif await self.cancels.request(session_id):  # running under another daemon: its owner stops it
            await self.cancels.wait_finished(session_id, SHUTDOWN_GRACE_S * 2)
        return await self._get(session_id)

    async def drain(self) -> None:
        """Claim nothing more and wait for the running sessions to end (the caller bounds it).

        Queued sessions stay queued: they run after the next start.
        """
        self._draining = True
        for run in list(self._runs.values()):
            await run.done.wait()

    def active_pids(self) -> dict[uuid.UUID, int]:
        """Process ids of the CLIs running now (for tests and diagnostics)."""
        return {sid: r.transport.pid for sid, r in self._runs.items() if r.transport and r.transport.pid}

    # -- worker -------------------------------------------------------------

    def _on_notify(self, *_: object) -> None:
        self._poke()

    def _on_cancel_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        session_id = session_id_of(str(payload))
        if session_id is not None:
            self._cancel_requested(session_id)

    def _cancel_requested(self, session_id: uuid.UUID) -> None:
        """Another daemon asked to cancel `session_id`: stop it if it runs here (or is being claimed)."""
        run = self._runs.get(session_id)
        if run is not None:
            run.stop(SessionStatus.CANCELLED)
        elif self._claim_idle is not None and not self._claim_idle.is_set():
            self._early_cancels.add(session_id)  # `_claim` looks once the run is registered

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _loop(self, tg: TaskGroup) -> None:
        while True:
            # A fresh event before claiming: a NOTIFY or a freed slot arriving
            # while we claim sets it, so no wake-up is lost.
            self._wake = anyio.Event()
            try:
                await self._claim(tg)
            except DB_ERRORS as exc:
                # The database is away: keep the worker (and the butler) alive, try again at the
                # next wake-up or poll. No traceback: an expected outage (the health monitor reports
                # it), and rendering one blocked the event loop for seconds on a loaded machine.
                log.warning("could not claim queued sessions", butler=self.name, error=repr(exc))
            with anyio.move_on_after(POLL_S):
                await self._wake.wait()

    async def _claim(self, tg: TaskGroup) -> None:
        while not self._draining and len(self._runs) < self.config.agent.max_concurrency:
            # Between the claim's commit and the run's registration a cancel cannot find
            # the session; it waits on this event (see `cancel`).
            self._claim_idle = idle = anyio.Event()
            try:
                row = await self.sessions.claim_next(self.instances.me.id)
                if row is None:
                    return
                self._runs[row.id] = run = RunHandle()
                if row.id in self._early_cancels:
                    run.stop(SessionStatus.CANCELLED)
            finally:
                self._early_cancels.clear()
                idle.set()
            tg.start_soon(self._run_session, row)

    async def _run_session(self, row: Session) -> None:
        session_id = row.id
        run = self._runs[session_id]
        try:
            try:
                outcome = await self.runner.run(row, run)
            except Exception as exc:  # a bug or a lost database must not take the worker down
                log.exception("session crashed", butler=self.name, session=str(session_id))
                outcome = Outcome(SessionStatus.FAILED, error=f"internal error: {type(exc).__name__}: {exc}")
            # Bounded: _record_finish retries for FINISH_RETRY_S; a hung connection must not outlive that.
            with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_RETRY_S + SHUTDOWN_GRACE_S):
                await self._record_finish(session_id, outcome)
            log.info("session finished", butler=self.name, session=str(session_id), status=outcome.status,
                     cost_usd=outcome.cost_usd, error=outcome.error)  # fmt: skip
        except anyio.get_cancelled_exc_class():
            # The butler is shutting down: leave a truthful record, bounded.
            with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_GRACE_S):
                run.kill()
                with contextlib.suppress(*DB_ERRORS):  # database gone too: the next start marks it
                    await self.sessions.mark_interrupted(
                        "interrupted: the butler shut down during the session", [session_id]
                    )
            raise
        finally:
            run.done.set()
            del self._runs[session_id]
            self._finished(session_id)
            self._poke()  # a slot is free

    async def _record_finish(self, session_id: uuid.UUID, outcome: Outcome) -> None:
        """Write the final record; while the database is away, retry (bounded) rather than lose it.

        If it never comes back in time, the row stays `running` under this
        daemon's identity and is marked `interrupted` once this daemon is gone.
        """
        delay = 0.5
        deadline = anyio.current_time() + FINISH_RETRY_S
        while True:
            try:
                await self.sessions.finish(session_id, outcome)
                return
            except DB_ERRORS as exc:
                if self._draining or anyio.current_time() + delay > deadline:
                    log.error("session outcome not recorded", butler=self.name, session=str(session_id),
                              status=outcome.status, error=str(exc))  # fmt: skip
                    return
                await anyio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- waiting ------------------------------------------------------------

    def _waiter(self, session_id: uuid.UUID) -> anyio.Event:
        return self._waiters.setdefault(session_id, anyio.Event())

    def _finished(self, session_id: uuid.UUID) -> None:
        event = self._waiters.pop(session_id, None)
        if event is not None:
            event.set()

    async def _get(self, session_id: uuid.UUID) -> Session:
        record = await self.sessions.get(session_id)
        if record is None:
            raise NotFoundError(f"no session {session_id}", argument="session_id")
        return record
