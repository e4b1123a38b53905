"""The approval gate: outbound actions that speak for the user can wait for a yes.

A module registers the executor of each outbound action under its tool's name
and calls `guard` from the tool. When its config requires approval, `guard`
stores the call (`pending`) and returns its id without running anything; the
user then approves (it runs, exactly once) or rejects it (nothing runs).

Exactly once: `approve` moves the row pending → running under a row lock and
commits before the executor runs, so a second approval (concurrent or later)
finds it no longer pending and only reads the recorded outcome. A crash while
running leaves `running`; `recover_at_startup` marks it failed (outcome
unknown) rather than ever running it a second time.
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

from butlers.core.approval_prompts import HeldAction, OnHeld
from butlers.core.sessions import to_json, to_json_list
from butlers.errors import NotFoundError

log = structlog.get_logger(__name__)

Executor = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
STATUSES = ("pending", "running", "succeeded", "failed", "rejected")


@dataclass(frozen=True)
class Decider:
    """The person who decided a held action (`by`) and the way they did (`via`)."""

    by: str
    via: str


IN_PROCESS = Decider("operator", "in-process")
MAX_LIST = 500


class UnknownActionError(LookupError):
    """No executor is registered under this action name on this butler."""


def _plain(value: Any, *, strict: bool = False) -> Any:
    """`value` as JSON data. Strict for stored arguments (the executor must get back what was given);
    else unknown types become text, so an executor's result always fits the JSONB column."""
    return json.loads(json.dumps(value, default=None if strict else str))


class ApprovalGate:
    """One butler's `approvals` table and the executors of its gated actions."""

    def __init__(self, pool: asyncpg.Pool, butler: str) -> None:
        self.pool = pool
        self.butler = butler
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

    async def guard(self, action: str, args: dict[str, Any], *, require: bool, summary: str) -> dict[str, Any]:
        """Run `action` now (require=False), or store it for approval and say so (require=True).

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
        approval_id = await self.pool.fetchval(
            "INSERT INTO approvals (action, args, summary) VALUES ($1, $2, $3) RETURNING id", action, stored, summary
        )
        log.info("approval.pending", butler=self.butler, action=action, approval_id=str(approval_id))
        if self.on_held is not None:
            await self.on_held(HeldAction(self.butler, approval_id, action, summary))
        return {"status": "pending_approval", "approval_id": str(approval_id), "summary": summary}

    async def approve(self, approval_id: uuid.UUID, decider: Decider = IN_PROCESS) -> dict[str, Any]:
        """Run a pending action once and record its outcome; any other state: the record as it is.

        Raises NotFoundError for an unknown id and UnknownActionError (leaving
        it pending) when no module on this butler provides the action now.
        """
        done = anyio.Event()
        row = await self._start(approval_id, done, decider)
        if row is None:
            return await self._settled(approval_id)
        try:
            await self._execute(approval_id, row["action"], row["args"])
        finally:
            del self._running[approval_id]
            done.set()
        return await self._record(approval_id)

    async def reject(
        self, approval_id: uuid.UUID, reason: str | None = None, decider: Decider = IN_PROCESS
    ) -> dict[str, Any]:
        """Reject a pending action (it will never run); any other state: the record as it is."""
        row = await self.pool.fetchrow(
            """UPDATE approvals SET status = 'rejected', reason = $2, decided_at = now(), finished_at = now(),
                                    decided_by = $3, decided_via = $4
               WHERE id = $1 AND status = 'pending' RETURNING id""",
            approval_id,
            reason,
            decider.by,
            decider.via,
        )
        if row is not None:
            log.info("approval.rejected", butler=self.butler, approval_id=str(approval_id))
        return await self._record(approval_id)

    async def list(self, status: str | None = "pending", limit: int = 100) -> list[dict[str, Any]]:
        """Newest first; `status` None lists every approval."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if not 1 <= limit <= MAX_LIST:
            raise ValueError(f"limit must be between 1 and {MAX_LIST}")
        rows = await self.pool.fetch(
            """SELECT * FROM approvals WHERE ($1::text IS NULL OR status = $1)
               ORDER BY created_at DESC, id DESC LIMIT $2""",
            status,
            limit,
        )
        return to_json_list(rows)

    async def get(self, approval_id: uuid.UUID) -> dict[str, Any] | None:
        return to_json(await self.pool.fetchrow("SELECT * FROM approvals WHERE id = $1", approval_id))

    async def recover_at_startup(self) -> int:
        """Actions left `running` by a stopped process → failed: they may or may not have happened, never re-run."""
        status = await self.pool.execute(
            """UPDATE approvals SET status = 'failed', finished_at = now(),
                      error = 'interrupted: the butler stopped while this action ran; it may or may not have happened'
               WHERE status = 'running'"""
        )
        count = int(status.split()[-1])
        if count:
            log.warning("approval.interrupted", butler=self.butler, count=count)
        return count

    # -- internals ----------------------------------------------------------

    def _executor(self, action: str) -> Executor:
        try:
            return self._executors[action]
        except KeyError:
            raise UnknownActionError(
                f"action '{action}' is not available on butler '{self.butler}' (is its module enabled?)"
            ) from None

    async def _start(self, approval_id: uuid.UUID, done: anyio.Event, decider: Decider) -> asyncpg.Record | None:
        """pending → running, committed; None when it is not pending (or raise NotFoundError)."""
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    row = await conn.fetchrow("SELECT * FROM approvals WHERE id = $1 FOR UPDATE", approval_id)
                    if row is None:
                        raise NotFoundError(f"no approval {approval_id}")
                    if row["status"] != "pending":
                        return None
                    self._executor(row["action"])  # still pending if nothing can run it
                    # Before the commit releases the lock, so a concurrent approve here waits for the outcome.
                    self._running[approval_id] = done
                    await conn.execute(
                        """UPDATE approvals SET status = 'running', decided_at = now(), decided_by = $2,
                                                decided_via = $3 WHERE id = $1""",
                        approval_id,
                        decider.by,
                        decider.via,
                    )
            except BaseException:
                if self._running.get(approval_id) is done:
                    del self._running[approval_id]
                raise
        log.info("approval.approved", butler=self.butler, action=row["action"], approval_id=str(approval_id))
        return row

    async def _execute(self, approval_id: uuid.UUID, action: str, args: dict[str, Any]) -> None:
        try:
            result = await self._executor(action)(args)
        except Exception as exc:
            log.warning("approval.failed", butler=self.butler, approval_id=str(approval_id), error=str(exc))
            await self._finish(approval_id, "failed", None, f"{type(exc).__name__}: {exc}")
            return
        except BaseException:
            # Cancelled mid-action: whether it happened is unknown, and it must not run again.
            with anyio.CancelScope(shield=True):
                await self._finish(
                    approval_id, "failed", None, "cancelled while running; it may or may not have happened"
                )
            raise
        await self._finish(approval_id, "succeeded", _plain(result), None)

    async def _finish(self, approval_id: uuid.UUID, status: str, result: Any, error: str | None) -> None:
        await self.pool.execute(
            """UPDATE approvals SET status = $2, result = $3, error = $4, finished_at = now()
               WHERE id = $1 AND status = 'running'""",
            approval_id,
            status,
            result,
            error,
        )

    async def _settled(self, approval_id: uuid.UUID) -> dict[str, Any]:
        # A concurrent approve in this process is running it: answer with its outcome, not "running".
        running = self._running.get(approval_id)
        if running is not None:
            await running.wait()
        return await self._record(approval_id)

    async def _record(self, approval_id: uuid.UUID) -> dict[str, Any]:
        record = await self.get(approval_id)
        if record is None:
            raise NotFoundError(f"no approval {approval_id}")
        return record
