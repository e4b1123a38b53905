"""The scheduler: cron schedules, and claiming each due window exactly once.

A window is named by (schedule, scheduled time) and that pair is the primary key
of `schedule_runs`. Claiming inserts that row, hands the work to the dispatcher
and moves `next_run_at` on, all in one transaction: two ticks racing, or two
daemons sharing the database, cannot fire one window twice, and a window whose
dispatch failed is not marked as fired.

A schedule runs a prompt (dispatched as an agent session) or a tool of the
butler (tool mode: the window is queued in its run row and run after the claim
commits, by `butlers.core.tool_schedules.ToolRunner`, with no session). It fires
on a cron expression, or once at `run_at` (then `next_run_at` becomes NULL: done).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import asyncpg
import structlog
import tzlocal
from croniter import croniter
from pydantic import computed_field

from butlers.config import ScheduleConfig
from butlers.core import sql
from butlers.core.dispatch import Conn, Dispatcher, DispatchRequest
from butlers.core.records import Record, Timestamp
from butlers.errors import ConflictError, NotFoundError
from butlers.statuses import MisfirePolicy, ScheduleSource, ToolRunStatus, TriggerSource

log = structlog.get_logger(__name__)
Q = sql.load("scheduler")

# With the 'all' policy a long outage could queue thousands of sessions; past
# this many missed windows the rest are coalesced into the last one.
MAX_WINDOWS_PER_CLAIM = 100

# What a config entry sets; equal values mean the database row is unchanged.
_SPEC = ("cron", "run_at", "prompt", "tool", "args", "timezone", "misfire", "enabled")


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone(name: str | None) -> tzinfo:
    """The schedule's zone, or the host's when it names none."""
    return ZoneInfo(name) if name else tzlocal.get_localzone()


def next_after(cron: str, tz_name: str | None, after: datetime) -> datetime:
    """The first window strictly after `after`, computed in the schedule's zone (DST-aware)."""
    nxt = croniter(cron, after.astimezone(zone(tz_name))).get_next(datetime)
    assert isinstance(nxt, datetime)
    return nxt.astimezone(UTC)


def first_run(s: ScheduleConfig, now: datetime) -> datetime | None:
    """The first window of a schedule as configured: its `at`, or the cron's next one."""
    if s.at is not None:
        return s.at.astimezone(UTC)
    assert s.cron is not None
    return next_after(s.cron, s.timezone, now)


class Schedule(Record):
    """One schedule (a row of `schedules`), with its mode and, for a one-shot, whether it has fired."""

    name: str
    cron: str | None
    run_at: Timestamp | None
    prompt: str | None
    tool: str | None
    args: dict[str, Any] | None
    timezone: str | None
    source: ScheduleSource
    misfire: MisfirePolicy
    enabled: bool
    next_run_at: Timestamp | None
    last_run_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp

    @computed_field  # type: ignore[prop-decorator]
    @property
    def mode(self) -> Literal["prompt", "tool"]:
        return "tool" if self.tool is not None else "prompt"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def done(self) -> bool:
        return self.run_at is not None and self.next_run_at is None and self.last_run_at is not None


class ScheduleRun(Record):
    """One claimed window (a row of `schedule_runs`): its session, or for a tool-mode window its outcome."""

    schedule_name: str
    scheduled_for: Timestamp
    claimed_at: Timestamp
    skipped_windows: int
    skipped_until: Timestamp | None
    session_id: uuid.UUID | None
    tool_status: ToolRunStatus | None = None
    result: Any = None
    error: str | None = None
    finished_at: Timestamp | None = None


class ToolWindowRunner(Protocol):
    """Runs the tool-mode windows a claim queued (see butlers.core.tool_schedules)."""

    async def run_queued(self) -> None: ...


def windows_between(cron: str, tz_name: str | None, first: datetime, now: datetime) -> list[datetime]:
    """Every window from `first` (itself a window) up to and including `now`."""
    out = [first]
    while len(out) <= MAX_WINDOWS_PER_CLAIM:
        nxt = next_after(cron, tz_name, out[-1])
        if nxt > now:
            break
        out.append(nxt)
    return out


class FiredWindow(Record):
    """A window this claim fired (and the missed ones it covered)."""

    schedule: str
    scheduled_for: Timestamp
    skipped_windows: int
    session_id: uuid.UUID | None
    tool: str | None = None  # tool mode: the tool called (no session)


class Scheduler:
    """Schedules of one butler, in its own database."""

    def __init__(
        self, pool: asyncpg.Pool, dispatcher: Dispatcher | None = None, tool_runner: ToolWindowRunner | None = None
    ) -> None:
        self.pool = pool
        self.dispatcher = dispatcher
        self.tool_runner = tool_runner

    # ---- reading ---------------------------------------------------------

    async def list_schedules(self) -> list[Schedule]:
        return Schedule.from_rows(await self.pool.fetch(Q["list"]))

    async def get(self, name: str) -> Schedule:
        row = await self.pool.fetchrow(Q["get"], name)
        if row is None:
            raise NotFoundError(f"no schedule named '{name}'", argument="name")
        return Schedule.from_row(row)

    async def next_due_at(self) -> datetime | None:
        value: datetime | None = await self.pool.fetchval(Q["next_due_at"])
        return value

    async def runs(self, name: str | None = None, limit: int = 100) -> list[ScheduleRun]:
        return ScheduleRun.from_rows(await self.pool.fetch(Q["runs"], name, limit))

    # ---- writing ---------------------------------------------------------

    async def sync_from_config(
        self, schedules: list[ScheduleConfig], now: datetime | None = None
    ) -> dict[str, list[str]]:
        """Make the config schedules in the database match butler.toml: add, change, remove."""
        now = now or utcnow()
        report: dict[str, list[str]] = {"added": [], "changed": [], "removed": [], "unchanged": []}
        async with self.pool.acquire() as conn, conn.transaction():
            existing = {r["name"]: r for r in await conn.fetch(Q["lock_all"])}
            for s in schedules:
                old = existing.get(s.name)
                kind = self._sync_kind(old, s)
                report[kind].append(s.name)
                if kind != "unchanged":
                    await self._upsert(conn, s, old, now)
            wanted = {s.name for s in schedules}
            for name, row in existing.items():
                if row["source"] == ScheduleSource.CONFIG and name not in wanted:
                    await conn.execute(Q["delete_config"], name)
                    report["removed"].append(name)
        return report

    @staticmethod
    def _sync_kind(old: asyncpg.Record | None, s: ScheduleConfig) -> str:
        if old is None:
            return "added"
        same = old["source"] == ScheduleSource.CONFIG and all(old[k] == v for k, v in _spec_values(s).items())
        return "unchanged" if same else "changed"

    async def _upsert(self, conn: Conn, s: ScheduleConfig, old: asyncpg.Record | None, now: datetime) -> None:
        if old is not None and old["source"] == ScheduleSource.RUNTIME:
            log.warning("schedule.config_replaces_runtime", schedule=s.name)
        spec = _spec_values(s)
        keep_next = (
            old is not None
            and old["enabled"]
            and s.enabled
            and (old["cron"], old["run_at"], old["timezone"]) == (spec["cron"], spec["run_at"], spec["timezone"])
        )
        # A one-shot that already fired keeps next_run_at NULL: a restart does not fire it again.
        next_run = old["next_run_at"] if keep_next and old is not None else first_run(s, now)
        await conn.execute(Q["upsert_config"], s.name, *spec.values(), next_run)

    async def create(self, s: ScheduleConfig, now: datetime | None = None) -> Schedule:
        """Add a runtime schedule and return it; ConflictError when the name is taken."""
        try:
            row = await self.pool.fetchrow(
                Q["create"], s.name, *_spec_values(s).values(), first_run(s, now or utcnow())
            )
        except asyncpg.UniqueViolationError:
            raise ConflictError(f"a schedule named '{s.name}' already exists", argument="name") from None
        assert row is not None
        return Schedule.from_row(row)

    async def update(self, name: str, changes: dict[str, Any], now: datetime | None = None) -> Schedule:
        """Change fields of a schedule; a new cron, zone or re-enabling recomputes the next window."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q["lock_one"], name)
            if row is None:
                raise NotFoundError(f"no schedule named '{name}'", argument="name")
            current = {k: row[k] for k in _SPEC}
            current["at"] = current.pop("run_at")
            merged = ScheduleConfig.model_validate({"name": name, **current, **changes})
            recompute = (merged.cron, merged.at, merged.timezone) != (row["cron"], row["run_at"], row["timezone"]) or (
                merged.enabled and not row["enabled"]
            )
            next_run = first_run(merged, now or utcnow()) if recompute else row["next_run_at"]
            new = await conn.fetchrow(Q["update"], name, *_spec_values(merged).values(), next_run)
        assert new is not None
        return Schedule.from_row(new)

    async def delete(self, name: str) -> Schedule:
        row = await self.pool.fetchrow(Q["delete"], name)
        if row is None:
            raise NotFoundError(f"no schedule named '{name}'", argument="name")
        return Schedule.from_row(row)

    # ---- firing ----------------------------------------------------------

    async def claim_due(self, now: datetime | None = None) -> list[FiredWindow]:
        """Fire every due window once; return what this call fired (others' claims are skipped)."""
        now = now or utcnow()
        fired: list[FiredWindow] = []
        async with self.pool.acquire() as conn, conn.transaction():
            due = await conn.fetch(Q["lock_due"], now)
            for row in due:
                fired.extend(await self._claim_schedule(conn, row, now))
        if self.tool_runner is not None:
            # After the commit: the windows are claimed, then run (also ones a stopped daemon left queued).
            await self.tool_runner.run_queued()
        for f in fired:
            log.info(
                "schedule.fired",
                schedule=f.schedule,
                scheduled_for=f.scheduled_for.isoformat(),
                skipped=f.skipped_windows,
            )
        return fired

    async def fire_now(self, name: str, now: datetime | None = None) -> FiredWindow:
        """Run a schedule once now, out of its timing ("run now"), enabled or not.

        The window is named by (schedule, now), so it is recorded and fires once like
        any other; the schedule's next window is left as it was. A tool-mode window
        is queued, and run by the caller's `tool_runner.run_queued()`.
        """
        now = now or utcnow()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(Q["lock_one"], name)
            if row is None:
                raise NotFoundError(f"no schedule named '{name}'", argument="name")
            fired = await self._fire_window(conn, row, [now])
            await conn.execute(Q["ran_now"], name, now)
        assert fired is not None, "a window named by now cannot have fired before"
        if fired.tool is not None and self.tool_runner is not None:
            await self.tool_runner.run_queued()
        log.info("schedule.run_now", schedule=name, scheduled_for=now.isoformat())
        return fired

    async def _claim_schedule(self, conn: Conn, row: asyncpg.Record, now: datetime) -> list[FiredWindow]:
        one_shot = row["cron"] is None
        windows = (
            [row["next_run_at"]] if one_shot else windows_between(row["cron"], row["timezone"], row["next_run_at"], now)
        )
        policy: MisfirePolicy = row["misfire"]
        # coalesce: one run named by the first missed window covers them all.
        batches = [[w] for w in windows] if policy == MisfirePolicy.ALL else [windows]
        if len(batches) > MAX_WINDOWS_PER_CLAIM:
            batches = [
                *batches[: MAX_WINDOWS_PER_CLAIM - 1],
                [w for b in batches[MAX_WINDOWS_PER_CLAIM - 1 :] for w in b],
            ]
        fired = []
        try:
            async with conn.transaction():  # a savepoint: one failing dispatch spares the other schedules
                for batch in batches:
                    window = await self._fire_window(conn, row, batch)
                    if window:
                        fired.append(window)
                await conn.execute(
                    Q["advance"],
                    row["name"],
                    None if one_shot else next_after(row["cron"], row["timezone"], max(now, windows[-1])),
                    windows[-1],
                )
        except Exception:
            log.exception("schedule.dispatch_failed", schedule=row["name"])
            return []
        return fired

    async def _fire_window(self, conn: Conn, row: asyncpg.Record, batch: list[datetime]) -> FiredWindow | None:
        tool = row["tool"]
        inserted = await conn.fetchval(
            Q["claim_window"],
            row["name"],
            batch[0],
            len(batch) - 1,
            batch[-1] if len(batch) > 1 else None,
            ToolRunStatus.QUEUED if tool is not None else None,
        )
        if not inserted:  # someone else fired this window already
            return None
        if tool is not None:  # tool mode: queued in the run row, run once the claim commits
            return FiredWindow(schedule=row["name"], scheduled_for=batch[0], skipped_windows=len(batch) - 1,
                               session_id=None, tool=tool)  # fmt: skip
        session_id = None
        if self.dispatcher is not None:
            context = {"scheduled_for": batch[0].isoformat(), "missed_windows": len(batch) - 1}
            request = DispatchRequest(TriggerSource.SCHEDULE, row["prompt"], schedule_name=row["name"], context=context)
            session_id = await self.dispatcher.dispatch(conn, request)
            await conn.execute(Q["link_session"], row["name"], batch[0], session_id)
        return FiredWindow(
            schedule=row["name"], scheduled_for=batch[0], skipped_windows=len(batch) - 1, session_id=session_id
        )


def _spec_values(s: ScheduleConfig) -> dict[str, Any]:
    """The columns a schedule entry sets, in `_SPEC` order."""
    return {
        "cron": s.cron,
        "run_at": s.at.astimezone(UTC) if s.at is not None else None,
        "prompt": s.prompt,
        "tool": s.tool,
        "args": s.args,
        "timezone": s.timezone,
        "misfire": s.misfire,
        "enabled": s.enabled,
    }
