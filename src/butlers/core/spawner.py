"""The spawner: runs a butler's queued sessions as locked-down Claude Code sessions.

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
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import structlog
from anyio.abc import TaskGroup, TaskStatus
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ResultMessage,
    SystemMessage,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
    query,
)
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport
from opentelemetry import propagate, trace

from butlers.auth import SessionCredentials
from butlers.config import ButlerConfig
from butlers.core import agent_env
from butlers.core.agent_credentials import session_mcp_config
from butlers.core.dispatch import DispatchRequest, TriggerSource
from butlers.core.instances import BEAT_INTERVAL_S, InstanceRegistry
from butlers.core.sessions import FINISHED, QUEUE_CHANNEL, Conn, Outcome, SessionLog
from butlers.core.spend_ceiling import SpendCeiling, ceiling_refusal, tighter
from butlers.errors import NotFoundError

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("butlers.spawner")

POLL_S = 30.0  # fallback wake-up in case a NOTIFY is lost (listener connection dropped)
SHUTDOWN_GRACE_S = 5.0
FINISH_RETRY_S = 60.0  # how long a session's final record waits for a lost database
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


class _Transport(SubprocessCLITransport):
    """The SDK's transport, plus a way to kill the CLI at once (timeout, cancel).

    The SDK's own close() waits up to 5 s for a graceful exit, then 5 s more
    after SIGTERM; a hung session must stop now.
    """

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    killed = False

    def kill(self) -> None:
        # Remembered: a stop that lands while the CLI is still starting kills it once it exists.
        self.killed = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    async def connect(self) -> None:
        await super().connect()
        if self.killed:
            self.kill()

    async def close(self) -> None:
        if self.killed:
            self.kill()  # no 5 s grace for a process we stopped
        await super().close()


@dataclass
class _Run:
    """A session this worker is running."""

    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    transport: _Transport | None = None
    stopped_as: str | None = None  # 'cancelled' or 'timed_out' once stopped
    done: anyio.Event = field(default_factory=anyio.Event)

    def stop(self, status: str) -> None:
        if self.stopped_as is None:
            self.stopped_as = status
        if self.transport is not None:
            self.transport.kill()
        self.scope.cancel()


class _Recorder:
    """Turns the SDK's message stream into the session record."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._by_id: dict[str, dict[str, Any]] = {}
        self.model: str | None = None
        self.agent_session_id: str | None = None
        self.result: ResultMessage | None = None

    def add(self, message: Any) -> bool:
        """Take one message; True when the tool calls changed."""
        if isinstance(message, SystemMessage) and message.subtype == "init":
            self.model = message.data.get("model") or self.model
            self.agent_session_id = message.data.get("session_id")
        elif isinstance(message, AssistantMessage):
            if message.model and not message.model.startswith("<"):  # '<synthetic>' marks CLI-made errors
                self.model = message.model
            return any([self._tool_use(b) for b in message.content if isinstance(b, ToolUseBlock)])
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            return any([self._tool_result(b) for b in message.content if isinstance(b, ToolResultBlock)])
        elif isinstance(message, ResultMessage):
            self.result = message
            self.agent_session_id = message.session_id or self.agent_session_id
        return False

    def _tool_use(self, block: ToolUseBlock) -> bool:
        call = {"id": block.id, "tool": block.name, "arguments": block.input}
        self._by_id[block.id] = call
        self.calls.append(call)
        return True

    def _tool_result(self, block: ToolResultBlock) -> bool:
        call = self._by_id.get(block.tool_use_id)
        if call is None:
            return False
        call["error" if block.is_error else "result"] = _text(block.content)
        return True

    def outcome(self, failure: str | None) -> Outcome:
        r = self.result
        if r is None:
            return Outcome("failed", error=failure or "Claude Code ended without a result", tool_calls=self.calls,
                           model=self.model, agent_session_id=self.agent_session_id)  # fmt: skip
        usage = r.usage or {}
        error = _result_error(r)
        return Outcome(
            status="failed" if error else "succeeded",
            result=r.result,
            error=error,
            tool_calls=self.calls,
            num_turns=r.num_turns,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            cache_read_tokens=usage.get("cache_read_input_tokens"),
            cache_creation_tokens=usage.get("cache_creation_input_tokens"),
            cost_usd=r.total_cost_usd,
            model=self.model,
            agent_session_id=self.agent_session_id,
        )


def _result_error(r: ResultMessage) -> str | None:
    # An API error still ends as subtype 'success' with is_error set.
    if not r.is_error and r.subtype == "success":
        return None
    if r.subtype == "error_max_budget_usd":
        return "stopped: the butler's daily budget was reached during the session"
    if r.subtype == "error_max_turns":
        return f"stopped: max turns reached ({r.num_turns})"
    detail = "; ".join(r.errors or []) or r.result or r.subtype
    status = f" (HTTP {r.api_error_status})" if r.api_error_status else ""
    return f"agent error{status}: {detail}"


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "\n".join(str(b.get("text", b)) for b in content)


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span (what caused the work), if any."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def start_of_today() -> datetime:
    now = datetime.now().astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


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
        self.home = agent_env.agent_home(data_dir, name)
        self._launchers = self.home.parent / "bin"
        self._cli_path = cli_path
        # None (tests of the spawner alone): the agent reaches an unguarded server without a credential.
        self._session_credentials = session_credentials
        self.spend_ceiling = spend_ceiling  # the fleet's monthly ceiling (core/spend_ceiling.py)
        self._runs: dict[uuid.UUID, _Run] = {}
        self._waiters: dict[uuid.UUID, anyio.Event] = {}
        self._wake: anyio.Event | None = None
        self._draining = False
        self._listener: Any = None  # the LISTEN connection, while held
        self._claim_idle: anyio.Event | None = None  # unset while a claim is in flight

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
            try:
                await self.instances.register()
                if await self.instances.reap():
                    self._poke()
            except DB_ERRORS as exc:  # the database is away: the health monitor reports it
                log.warning("liveness beat failed", butler=self.name, error=str(exc))
            await anyio.sleep(BEAT_INTERVAL_S)

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
                        if active.transport is not None:
                            active.transport.kill()
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
                    if not reported:
                        reported = True
                        task_status.started()
                    self._poke()  # anything queued while nobody listened
                    try:
                        await lost.wait()
                    finally:
                        self._listener = None
                        with anyio.CancelScope(shield=True), anyio.move_on_after(1), contextlib.suppress(Exception):
                            await conn.remove_listener(QUEUE_CHANNEL, self._on_notify)
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
        wait: bool = False,
        trigger_source: TriggerSource = "trigger_tool",
    ) -> dict[str, Any]:
        """Queue a session (or find the one with this idempotency key); with `wait`, its final record."""
        request = DispatchRequest(trigger_source, prompt, context=context, idempotency_key=idempotency_key)
        async with self.pool.acquire() as conn, conn.transaction():
            session_id, created = await self.sessions.enqueue(conn, request, parent_traceparent=current_traceparent())
        self._poke()
        # The waiter exists before the next await, so the end cannot be missed.
        done = self._waiter(session_id) if wait else None
        record = await self._get(session_id)
        if done is not None and record["status"] not in FINISHED:
            await done.wait()
            record = await self._get(session_id)
        if wait:
            return {**record, "session_id": record["id"], "created": created}
        return {"session_id": record["id"], "status": record["status"], "created": created}

    async def cancel(self, session_id: uuid.UUID) -> dict[str, Any]:
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
            run.stop("cancelled")
            with anyio.move_on_after(SHUTDOWN_GRACE_S * 2):
                await run.done.wait()
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
            except DB_ERRORS:
                # The database is away: keep the worker (and the butler) alive,
                # try again at the next wake-up or poll.
                log.exception("could not claim queued sessions", butler=self.name)
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
                self._runs[row["id"]] = _Run()
            finally:
                idle.set()
            tg.start_soon(self._run_session, row)

    async def _run_session(self, row: asyncpg.Record) -> None:
        session_id: uuid.UUID = row["id"]
        run = self._runs[session_id]
        try:
            try:
                outcome = await self._traced(row, run)
            except Exception as exc:  # a bug or a lost database must not take the worker down
                log.exception("session crashed", butler=self.name, session=str(session_id))
                outcome = Outcome("failed", error=f"internal error: {type(exc).__name__}: {exc}")
            with anyio.CancelScope(shield=True):
                await self._record_finish(session_id, outcome)
            log.info("session finished", butler=self.name, session=str(session_id), status=outcome.status,
                     cost_usd=outcome.cost_usd, error=outcome.error)  # fmt: skip
        except anyio.get_cancelled_exc_class():
            # The butler is shutting down: leave a truthful record, bounded.
            with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_GRACE_S):
                if run.transport is not None:
                    run.transport.kill()
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

    async def _traced(self, row: asyncpg.Record, run: _Run) -> Outcome:
        parent = propagate.extract({"traceparent": row["parent_traceparent"]}) if row["parent_traceparent"] else None
        attributes = {"butler": self.name, "session.id": str(row["id"]), "trigger_source": row["trigger_source"]}
        with tracer.start_as_current_span(f"session {self.name}", context=parent, attributes=attributes) as span:
            ctx = span.get_span_context()
            if ctx.is_valid:
                await self.sessions.set_trace_id(row["id"], format(ctx.trace_id, "032x"))
            log.info("session started", butler=self.name, session=str(row["id"]))  # carries the trace id
            outcome = await self._execute(row, run, current_traceparent())
            span.set_attribute("session.status", outcome.status)
            return outcome

    async def _execute(self, row: asyncpg.Record, run: _Run, traceparent: str | None) -> Outcome:
        refusal, remaining = await self._refusal()
        if refusal is not None:
            return Outcome("failed", error=refusal)
        recorder = _Recorder()
        failure: str | None = None
        with run.scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._deadline, run)
                failure = await self._converse(row, run, recorder, traceparent, remaining)
                tg.cancel_scope.cancel()
        if run.stopped_as == "timed_out":
            timeout = self.config.agent.timeout_s
            return _stopped(recorder, "timed_out", f"timed out after {timeout:g} s; the agent was killed")
        if run.stopped_as == "cancelled":
            return _stopped(recorder, "cancelled", "cancelled while running; the agent was killed")
        return recorder.outcome(failure)

    async def _deadline(self, run: _Run) -> None:
        await anyio.sleep(self.config.agent.timeout_s)
        run.stop("timed_out")

    async def _refusal(self) -> tuple[str | None, float | None]:
        """A reason not to start (no credential, monthly ceiling or budget spent), and the budget left."""
        if not agent_env.has_model_credential(self.credentials):
            names = " or ".join(agent_env.MODEL_CREDENTIALS)
            return f"refused: no model credential; set {names} in the daemon's environment", None
        refused, under_ceiling = await ceiling_refusal(self.spend_ceiling)
        if refused is not None:
            return refused, None
        budget = self.config.agent.daily_budget_usd
        if budget is None:
            return None, under_ceiling
        day = start_of_today()
        spent = await self.sessions.spent_since(day)
        if spent >= budget:
            until = (day + timedelta(days=1)).isoformat()
            return (
                f"refused: daily budget of ${budget:.2f} reached (${spent:.4f} spent today); new sessions run after {until}",
                None,
            )
        return None, tighter(budget - spent, under_ceiling)

    async def _converse(
        self, row: asyncpg.Record, run: _Run, recorder: _Recorder, traceparent: str | None, budget: float | None
    ) -> str | None:
        """Run the CLI over the message stream; returns a failure reason if it broke without a result."""
        stderr: deque[str] = deque(maxlen=20)
        private = self.home.parent / "run"
        with session_mcp_config(
            private, self.name, self.mcp_url, str(row["id"]), self._session_credentials, traceparent
        ) as mcp:
            options = self._options(traceparent, budget, stderr.append, mcp)
            prompt = _prompt(row)
            run.transport = _Transport(prompt, options)
            try:
                async for message in query(prompt=prompt, options=options, transport=run.transport):
                    if recorder.add(message):
                        await self.sessions.record_tool_calls(row["id"], recorder.calls)
            except Exception as exc:  # the SDK raises after an error result, or when the CLI dies
                if recorder.result is None:
                    tail = " | ".join(stderr)
                    return f"Claude Code failed: {exc}" + (f" (stderr: {tail})" if tail else "")
        return None

    def _options(
        self,
        traceparent: str | None,
        budget: float | None,
        on_stderr: Callable[[str], None],
        mcp_servers: Path | dict[str, Any],
    ) -> ClaudeAgentOptions:
        env = agent_env.child_env(self.credentials, self.home, traceparent)
        cli = self._cli_path or agent_env.bundled_cli()
        return ClaudeAgentOptions(
            tools=[],
            allowed_tools=agent_env.allowed_tools(self.name),
            disallowed_tools=agent_env.disallowed_tools(self.name, routes="switchboard" in self.config.modules),
            permission_mode="dontAsk",
            mcp_servers=mcp_servers,
            strict_mcp_config=True,
            setting_sources=[],
            system_prompt=self.config.system_prompt or f"You are the {self.name} butler. {self.config.description}",
            cwd=str(self.config.directory),
            cli_path=str(agent_env.launcher(self._launchers, env, cli)),
            env=env,
            model=self.config.agent.model,
            max_turns=self.config.agent.max_turns,
            max_budget_usd=budget,
            verbatim_prompts=True,  # a prompt's @path must never make the CLI read a file
            stderr=on_stderr,
        )

    # -- waiting ------------------------------------------------------------

    def _waiter(self, session_id: uuid.UUID) -> anyio.Event:
        return self._waiters.setdefault(session_id, anyio.Event())

    def _finished(self, session_id: uuid.UUID) -> None:
        event = self._waiters.pop(session_id, None)
        if event is not None:
            event.set()

    async def _get(self, session_id: uuid.UUID) -> dict[str, Any]:
        record = await self.sessions.get(session_id)
        if record is None:
            raise NotFoundError(f"butler {self.name}: no session {session_id}")
        return record


def _stopped(recorder: _Recorder, status: str, error: str) -> Outcome:
    outcome = recorder.outcome(None)
    outcome.status, outcome.error = status, error
    return outcome


def _prompt(row: asyncpg.Record) -> str:
    if not row["context"]:
        return str(row["prompt"])
    import json

    return f"{row['prompt']}\n\nContext (JSON):\n{json.dumps(row['context'], indent=2, default=str)}"
