"""One Claude Code run: options, the message stream turned into a record, budget refusal, the deadline.

The queue worker (`spawner.py`) claims a session and hands its row here; what
comes back is the session's `Outcome`. A run is stopped from outside through
its `RunHandle` (cancel, timeout, shutdown), which kills the CLI at once.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import structlog
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
from opentelemetry import propagate, trace

from butlers.auth import SessionCredentials
from butlers.compat import KillableTransport
from butlers.config import ButlerConfig
from butlers.core import agent_env
from butlers.core.agent_credentials import session_mcp_config
from butlers.core.sessions import Outcome, Session, SessionLog, TokenUsage
from butlers.core.spend_ceiling import SpendCeiling, ceiling_refusal, tighter
from butlers.statuses import SessionStatus

log = structlog.get_logger(__name__)
tracer = trace.get_tracer("butlers.spawner")


@dataclass
class RunHandle:
    """A session the worker is running: how to stop it, and when it is done."""

    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    transport: KillableTransport | None = None
    stopped_as: SessionStatus | None = None  # cancelled or timed_out once stopped
    done: anyio.Event = field(default_factory=anyio.Event)

    def stop(self, status: SessionStatus) -> None:
        if self.stopped_as is None:
            self.stopped_as = status
        self.kill()
        self.scope.cancel()

    def kill(self) -> None:
        if self.transport is not None:
            self.transport.kill()


class Recorder:
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
            return Outcome(SessionStatus.FAILED, error=failure or "Claude Code ended without a result", tool_calls=self.calls,
                           model=self.model, agent_session_id=self.agent_session_id)  # fmt: skip
        error = result_error(r)
        return Outcome(
            status=SessionStatus.FAILED if error else SessionStatus.SUCCEEDED,
            result=r.result,
            error=error,
            tool_calls=self.calls,
            num_turns=r.num_turns,
            tokens=TokenUsage.of(r.usage or {}),
            cost_usd=r.total_cost_usd,
            model=self.model,
            agent_session_id=self.agent_session_id,
        )

    def stopped(self, status: SessionStatus, error: str) -> Outcome:
        outcome = self.outcome(None)
        outcome.status, outcome.error = status, error
        return outcome


def result_error(r: ResultMessage) -> str | None:
    """The error a result message reports, or None for a success."""
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


def session_prompt(row: Session) -> str:
    """The prompt the CLI gets: the session's prompt, and its context as JSON if any."""
    if not row.context:
        return row.prompt
    return f"{row.prompt}\n\nContext (JSON):\n{json.dumps(row.context, indent=2, default=str)}"


@dataclass(eq=False)
class AgentRunner:
    """Runs one claimed session of a butler as a locked-down Claude Code CLI."""

    name: str
    config: ButlerConfig
    sessions: SessionLog
    mcp_url: str
    home: Path
    credentials: dict[str, str]  # the spawner's own dict: one source of truth
    _: KW_ONLY
    cli_path: str | None = None
    # None (tests of the spawner alone): the agent reaches an unguarded server without a credential.
    session_credentials: SessionCredentials | None = None
    spend_ceiling: SpendCeiling | None = None  # the fleet's monthly ceiling (core/spend_ceiling.py)

    async def run(self, row: Session, run: RunHandle) -> Outcome:
        """Run the session of `row` under a span continuing its caller's trace."""
        parent = propagate.extract({"traceparent": row.parent_traceparent}) if row.parent_traceparent else None
        attributes = {"butler": self.name, "session.id": str(row.id), "trigger_source": str(row.trigger_source)}
        with tracer.start_as_current_span(f"session {self.name}", context=parent, attributes=attributes) as span:
            ctx = span.get_span_context()
            if ctx.is_valid:
                await self.sessions.set_trace_id(row.id, format(ctx.trace_id, "032x"))
            log.info("session started", butler=self.name, session=str(row.id))  # carries the trace id
            outcome = await self._execute(row, run, current_traceparent())
            span.set_attribute("session.status", outcome.status)
            return outcome

    async def _execute(self, row: Session, run: RunHandle, traceparent: str | None) -> Outcome:
        refusal, remaining = await self.refusal()
        if refusal is not None:
            return Outcome(SessionStatus.FAILED, error=refusal)
        recorder = Recorder()
        failure: str | None = None
        with run.scope:
            # The deadline is a cancel scope of its own: when it passes, the run is stopped as timed out.
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._deadline, run)
                failure = await self._converse(row, run, recorder, traceparent, remaining)
                tg.cancel_scope.cancel()
        if run.stopped_as == "timed_out":
            timeout = self.config.agent.timeout_s
            return recorder.stopped(SessionStatus.TIMED_OUT, f"timed out after {timeout:g} s; the agent was killed")
        if run.stopped_as == "cancelled":
            return recorder.stopped(SessionStatus.CANCELLED, "cancelled while running; the agent was killed")
        return recorder.outcome(failure)

    async def _deadline(self, run: RunHandle) -> None:
        await anyio.sleep(self.config.agent.timeout_s)
        run.stop(SessionStatus.TIMED_OUT)

    async def refusal(self) -> tuple[str | None, float | None]:
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
        self, row: Session, run: RunHandle, recorder: Recorder, traceparent: str | None, budget: float | None
    ) -> str | None:
        """Run the CLI over the message stream; returns a failure reason if it broke without a result."""
        stderr: deque[str] = deque(maxlen=20)
        private = self.home.parent / "run"
        with session_mcp_config(
            private, self.name, self.mcp_url, str(row.id), self.session_credentials, traceparent
        ) as mcp:
            options = self.options(traceparent, budget, stderr.append, mcp)
            prompt = session_prompt(row)
            run.transport = KillableTransport(prompt, options)
            try:
                async for message in query(prompt=prompt, options=options, transport=run.transport):
                    if recorder.add(message):
                        await self.sessions.record_tool_calls(row.id, recorder.calls)
            except Exception as exc:  # the SDK raises after an error result, or when the CLI dies
                if recorder.result is None:
                    tail = " | ".join(stderr)
                    return f"Claude Code failed: {exc}" + (f" (stderr: {tail})" if tail else "")
        return None

    def options(
        self,
        traceparent: str | None,
        budget: float | None,
        on_stderr: Callable[[str], None],
        mcp_servers: Path | dict[str, Any],
    ) -> ClaudeAgentOptions:
        """The CLI's options: only this butler's tools, its own HOME, a whitelisted environment."""
        env = agent_env.child_env(self.credentials, self.home, traceparent)
        cli = self.cli_path or agent_env.bundled_cli()
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
            cli_path=str(agent_env.launcher(self.home.parent / "bin", env, cli)),
            env=env,
            model=self.config.agent.model,
            max_turns=self.config.agent.max_turns,
            max_budget_usd=budget,
            verbatim_prompts=True,  # a prompt's @path must never make the CLI read a file
            stderr=on_stderr,
        )
