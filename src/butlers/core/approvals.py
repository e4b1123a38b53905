"""The approval gate: outbound actions that speak for the user can wait for a yes.

A module registers the executor of each outbound action under its tool's name
and calls `guard` from the tool. When its config requires approval, `guard`
stores the call (`pending`) and returns its id without running anything; the
user then approves (it runs, exactly once) or rejects it (nothing runs).

Exactly once: `approve` moves the row pending → running under a row lock and
commits before the executor runs, so a second approval (concurrent or later)
finds it no longer pending and only reads the recorded outcome. A crash while
running leaves `running`; it is marked failed (outcome unknown) rather than
ever run a second time - but only once its owner (the daemon instance running
it, migrations/0009) is gone: at the next start, or by another live daemon's
liveness check (`take_over`). Another daemon's live action is never touched.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
import structlog
from pydantic import Field

from butlers.core import sql
from butlers.core.approval_prompts import HeldAction, OnHeld
from butlers.core.instances import owner_gone, this_instance
from butlers.core.records import Record, Timestamp
from butlers.errors import NotFoundError, UnknownActionError
from butlers.statuses import ApprovalStatus

__all__ = ["IN_PROCESS", "Approval", "ApprovalGate", "Decider", "Executor", "UnknownActionError"]

log = structlog.get_logger(__name__)
Q = sql.load("approvals")

Executor = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Approval(Record):
    """One held action and its decision (a row of `approvals`)."""

    id: uuid.UUID
    action: str = Field(description="The gated tool, e.g. email_send.")
    args: dict[str, Any]
    summary: str
    status: ApprovalStatus
    created_at: Timestamp
    decided_at: Timestamp | None
    finished_at: Timestamp | None
    result: dict[str, Any] | None = Field(description="What the action returned, once it ran.")
    error: str | None
    reason: str | None = Field(description="Why it was rejected.")
    decided_by: str | None = None
    decided_via: str | None = None


@dataclass(frozen=True)
class Decider:
    """The person who decided a held action (`by`) and the way they did (`via`)."""

    by: str
    via: str


IN_PROCESS = Decider("operator", "in-process")
MAX_LIST = 500
CLEANUP_TIMEOUT_S = 5.0  # a shielded record of a cancelled action must not hang a shutdown on a lost database


def _plain(value: Any, *, strict: bool = False) -> Any:
    """`value` as JSON data. Strict for stored arguments (the executor must get back what was given);
    else unknown types become text, so an executor's result always fits the JSONB column."""
    return json.loads(json.dumps(value, default=None if strict else str))


class ApprovalGate:
    """One butler's `approvals` table and the executors of its gated actions."""

    def __init__(self, pool: asyncpg.Pool, butler: str, owner: uuid.UUID | None = None) -> None:
        self.pool = pool
        self.butler = butler
        self.owner = owner or this_instance().id  # the daemon instance that runs what this gate approves
        self._executors: dict[str, Executor] = {}
        # Approvals running in this process: a concurrent second approve waits for the outcome.
        self._running: dict[uuid.UUID, anyio.Event] = {}
        # Called once an action is held: the butler asks the owner on their own channel (approval_prompts.py).
        self.on_held: OnHeld | None = None

    def register(self, action: str, run: Executor) -> None:
        """Name `run` as the executor of `action` (the tool's name, e.g. "email_send").

        Registering again replaces it: a module's tools may be registered on a fresh MCP app.
        """
        if not action:
            raise ValueError("ApprovalGate.register: action must be a non-empty name")
        self._executors[action] = run

    async def run_or_hold(self, action: str, args: dict[str, Any], *, require: bool, summary: str) -> dict[str, Any]:
        """Run `action` now (require=False), or store it for approval and say so (require=True).

        The one call a module's gated tool makes: every ModuleContext has a gate.
        `args` must be JSON data: a stored action's executor gets them back from JSONB.
        """
        executor = self._executor(action)
        if not require:
            return await executor(args)
        try:
            stored = _plain(args, strict=True) if isinstance(args, dict) else None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{action}: arguments are not JSON data: {exc}") from None
        if stored is None:
            raise ValueError(f"{action}: arguments must be a JSON object")
        approval_id = await self.pool.fetchval(Q["hold"], action, stored, summary)
        log.info("approval.pending", butler=self.butler, action=action, approval_id=str(approval_id))
        if self.on_held is not None:
            await self.on_held(HeldAction(self.butler, approval_id, action, summary))
        return {"status": "pending_approval", "approval_id": str(approval_id), "summary": summary}

    guard = run_or_hold  # the former name, kept for callers outside the modules

    async def approve(self, approval_id: uuid.UUID, decider: Decider = IN_PROCESS) -> Approval:
        """Run a pending action once and record its outcome; any other state: the record as it is.

        Raises NotFoundError for an unknown id and UnknownActionError (leaving
        it pending) when no module on this butler provides the action now.
        """
        done = anyio.Event()
        row = await self._start(approval_id, done, decider)
        if row is None:
            return await self._settled(approval_id)
        try:
            await self._execute(approval_id, row.action, row.args)
        finally:
            del self._running[approval_id]
            done.set()
        return await self._record(approval_id)

    async def reject(
        self, approval_id: uuid.UUID, reason: str | None = None, decider: Decider = IN_PROCESS
    ) -> Approval:
        """Reject a pending action (it will never run); any other state: the record as it is."""
        row = await self.pool.fetchrow(Q["reject"], approval_id, reason, decider.by, decider.via)
        if row is not None:
            log.info("approval.rejected", butler=self.butler, approval_id=str(approval_id))
        return await self._record(approval_id)

    async def list(self, status: ApprovalStatus | None = ApprovalStatus.PENDING, limit: int = 100) -> list[Approval]:
        """Newest first; `status` None lists every approval."""
        if status is not None and status not in set(ApprovalStatus):
            raise ValueError(f"status {status!r} is not one of {', '.join(ApprovalStatus)}")
        if not 1 <= limit <= MAX_LIST:
            raise ValueError(f"limit must be between 1 and {MAX_LIST}")
        return Approval.from_rows(await self.pool.fetch(Q["list"], status, limit))

    async def get(self, approval_id: uuid.UUID) -> Approval | None:
        row = await self.pool.fetchrow(Q["get"], approval_id)
        return None if row is None else Approval.from_row(row)

    async def recover_at_startup(self) -> int:
        """Actions left `running` by a daemon that is gone → failed: they may or may not have happened, never re-run.

        Actions another live daemon on this database runs are left alone.
        """
        return await self.take_over("found running at startup")

    async def take_over(self, found: str = "found by a later check") -> int:
        """Mark the running actions of dead owners failed (outcome unknown); called after each liveness reap."""
        status = await self.pool.execute(
            f"""UPDATE approvals SET status = 'failed', finished_at = now(),
                      error = 'interrupted: the daemon running this action stopped (' || $2
                              || '); it may or may not have happened'
               WHERE status = 'running' AND {owner_gone("owner")}""",
            self.owner,
            found,
        )
        count = int(status.split()[-1])
        if count:
            log.warning("approval.interrupted", butler=self.butler, count=count)
        return count

    # -- internals ----------------------------------------------------------

    def _executor(self, action: str, pending: str = "") -> Executor:
        try:
            return self._executors[action]
        except KeyError:
            raise UnknownActionError(
                f"action '{action}' is not available on butler '{self.butler}' (is its module enabled?){pending}",
                argument="approval_id" if pending else None,
            ) from None

    async def _start(self, approval_id: uuid.UUID, done: anyio.Event, decider: Decider) -> Approval | None:
        """pending → running, committed; None when it is not pending (or raise NotFoundError)."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    found = await conn.fetchrow(Q["lock"], approval_id)
                    if found is None:
                        raise NotFoundError(f"no approval {approval_id}", argument="approval_id")
                    row = Approval.from_row(found)
                    if row.status is not ApprovalStatus.PENDING:
                        return None
                    self._executor(row.action, "; it stays pending")  # still pending if nothing can run it
                    # Before the commit releases the lock, so a concurrent approve here waits for the outcome.
                    self._running[approval_id] = done
                    await conn.execute(Q["start"], approval_id, decider.by, decider.via, self.owner)
            except BaseException:
                if self._running.get(approval_id) is done:
                    del self._running[approval_id]
                raise
        log.info("approval.approved", butler=self.butler, action=row.action, approval_id=str(approval_id))
        return row

    async def _execute(self, approval_id: uuid.UUID, action: str, args: dict[str, Any]) -> None:
        try:
            result = await self._executor(action)(args)
        except Exception as exc:
            log.warning("approval.failed", butler=self.butler, approval_id=str(approval_id), error=str(exc))
            await self._finish(approval_id, ApprovalStatus.FAILED, None, f"{type(exc).__name__}: {exc}")
            return
        except BaseException:
            # Cancelled mid-action: whether it happened is unknown, and it must not run again.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT_S):
                await self._finish(
                    approval_id, ApprovalStatus.FAILED, None, "cancelled while running; it may or may not have happened"
                )
            raise
        await self._finish(approval_id, ApprovalStatus.SUCCEEDED, _plain(result), None)

    async def _finish(self, approval_id: uuid.UUID, status: ApprovalStatus, result: Any, error: str | None) -> None:
        await self.pool.execute(Q["finish"], approval_id, status, result, error)

    async def _settled(self, approval_id: uuid.UUID) -> Approval:
        # A concurrent approve in this process is running it: answer with its outcome, not "running".
        running = self._running.get(approval_id)
        if running is not None:
            await running.wait()
        return await self._record(approval_id)

    async def _record(self, approval_id: uuid.UUID) -> Approval:
        record = await self.get(approval_id)
        if record is None:
            raise NotFoundError(f"no approval {approval_id}", argument="approval_id")
        return record
