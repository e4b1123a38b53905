"""The core MCP tools every butler has: status, state_*, schedule_*, tick.

Their names are a contract clients rely on. Each signature is its schema
(bounds, patterns, allowed values) and each return type its output schema; a
bad call is refused before anything is written, with a tool error naming the
tool and the argument (`butlers.core.tool_edge`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import BaseModel, Field, ValidationError

from butlers.config import MAX_SCHEDULE_PROMPT, NAME_PATTERN, ScheduleConfig
from butlers.core.records import Timestamp
from butlers.core.scheduler import FiredWindow, Schedule, Scheduler
from butlers.core.tool_edge import declared
from butlers.core.tool_errors import bad_argument
from butlers.core.tool_schedules import check_tool_call
from butlers.statuses import MisfirePolicy, ScheduleSource

if TYPE_CHECKING:
    from butlers.core.services import ButlerServices, CoreHost

MAX_KEY_LENGTH = 512
MAX_VALUE_BYTES = 1_000_000

Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH, description="The state key.")]
Cron = Annotated[str | None, Field(description="Five-field cron expression, e.g. '0 8 * * *'.")]
Prompt = Annotated[
    str | None, Field(min_length=1, max_length=MAX_SCHEDULE_PROMPT, description="What the agent is asked to do.")
]
Zone = Annotated[str | None, Field(description="IANA zone, e.g. 'Europe/Paris'; default the host's.")]


class StateValue(BaseModel):
    key: str
    found: bool
    value: Any = Field(description="The stored JSON value (null when not found).")
    version: int | None = None
    updated_at: Timestamp | None = None


class StateWritten(BaseModel):
    key: str
    version: int
    updated_at: Timestamp


class StateDeleted(BaseModel):
    key: str
    deleted: bool = Field(description="Whether the key existed.")


class StateListed(BaseModel):
    key: str
    value: Any
    version: int


class StateList(BaseModel):
    entries: list[StateListed]


class Fired(BaseModel):
    fired: list[FiredWindow]


class ScheduleList(BaseModel):
    schedules: list[Schedule]


class ScheduleDeleted(BaseModel):
    deleted: str
    source: ScheduleSource


def _check_value(tool: str, value: Any) -> None:
    size = len(json.dumps(value))
    if size > MAX_VALUE_BYTES:
        raise bad_argument(tool, "value", f"is {size} bytes of JSON; at most {MAX_VALUE_BYTES} are allowed")


def _schedule_errors(tool: str, exc: ValidationError) -> ToolError:
    first = exc.errors()[0]
    argument = ".".join(str(p) for p in first["loc"]) or "arguments"
    return bad_argument(tool, argument, first["msg"].removeprefix("Value error, "))


async def _check_schedule_spec(butler: CoreHost, spec: ScheduleConfig) -> None:
    """A tool must be one of this butler's, with fitting args; `at` must be ahead."""
    if spec.tool is not None and butler.mcp is not None:
        problem = await check_tool_call(butler.mcp, spec.tool, spec.args)
        if problem is not None:
            raise bad_argument("schedule_create", "tool", problem)
    if spec.at is not None and spec.at <= datetime.now(UTC):
        raise bad_argument("schedule_create", "at", f"'{spec.at.isoformat()}' is in the past")


def register_core_tools(mcp: FastMCP, services: ButlerServices, butler: CoreHost) -> None:
    """Add the core tools, bound to one butler's services (and the butler's own status and tick)."""
    _register_status(mcp, butler)
    _register_state(mcp, services)
    _register_schedules(mcp, services, butler)


def _register_status(mcp: FastMCP, butler: CoreHost) -> None:
    @declared(mcp, "This butler's name, port, modules, schedules, uptime and database health.")
    async def status() -> dict[str, Any]:
        return await butler.status()

    @declared(mcp, "Fire every schedule that is due now (each due window fires once).")
    async def tick() -> Fired:
        return Fired(fired=await butler.tick())


def _register_state(mcp: FastMCP, services: ButlerServices) -> None:
    store = services.state

    @declared(mcp, "Read the JSON value stored under a key.")
    async def state_get(key: Key) -> StateValue:
        entry = await store.get(key)
        if entry is None:
            return StateValue(key=key, found=False, value=None)
        return StateValue(key=key, found=True, value=entry.value, version=entry.version, updated_at=entry.updated_at)

    @declared(
        mcp,
        "Store any JSON value (null too) under a key. For a safe read-modify-write pass the "
        "version state_get returned as expected_version (or must_not_exist for a new key): if the key "
        "changed meanwhile nothing is written and the error names the current version.",
    )
    async def state_set(
        key: Key,
        value: Annotated[Any, Field(description="Any JSON value, null included.")],
        expected_version: Annotated[
            int | None, Field(ge=1, description="Write only if the key is at this version (from state_get).")
        ] = None,
        must_not_exist: Annotated[bool, Field(description="Write only if the key does not exist yet.")] = False,
    ) -> StateWritten:
        _check_value("state_set", value)
        if must_not_exist and expected_version is not None:
            raise bad_argument("state_set", "must_not_exist", "give either expected_version or must_not_exist")
        entry = await store.set(key, value, expected_version=expected_version, must_not_exist=must_not_exist)
        return StateWritten(key=key, version=entry.version, updated_at=entry.updated_at)

    @declared(mcp, "Delete a key; says whether it existed.")
    async def state_delete(key: Key) -> StateDeleted:
        return StateDeleted(key=key, deleted=await store.delete(key))

    @declared(mcp, "List keys (and values) starting with a prefix, in key order.")
    async def state_list(
        prefix: Annotated[str, Field(max_length=MAX_KEY_LENGTH, description="Key prefix; empty for all.")] = "",
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many entries.")] = 100,
    ) -> StateList:
        entries = await store.list_prefix(prefix, limit)
        return StateList(entries=[StateListed(key=e.key, value=e.value, version=e.version) for e in entries])


def _register_schedules(mcp: FastMCP, services: ButlerServices, butler: CoreHost) -> None:
    _register_schedule_list(mcp, services.scheduler)
    _register_schedule_create(mcp, services.scheduler, butler)
    _register_schedule_update(mcp, services.scheduler, butler)
    _register_schedule_delete(mcp, services.scheduler)


def _register_schedule_list(mcp: FastMCP, scheduler: Scheduler) -> None:
    @declared(
        mcp,
        "Every schedule (from butler.toml and runtime) with its mode (prompt or tool), next run,"
        " and for a one-shot whether it is done.",
    )
    async def schedule_list() -> ScheduleList:
        return ScheduleList(schedules=await scheduler.list_schedules())


def _register_schedule_create(mcp: FastMCP, scheduler: Scheduler, butler: CoreHost) -> None:
    @declared(
        mcp,
        "Add a runtime schedule: a prompt (an agent session) or one of this butler's tools with args"
        " (no session, no tokens), on a cron expression or once at a time.",
    )
    async def schedule_create(
        name: Annotated[
            str, Field(pattern=NAME_PATTERN, description="Unique name: lowercase letters, digits, - and _.")
        ],
        cron: Cron = None,
        prompt: Prompt = None,
        timezone: Zone = None,
        enabled: bool = True,
        misfire: Annotated[
            MisfirePolicy, Field(description="After downtime: run once for all missed windows, or each.")
        ] = MisfirePolicy.COALESCE,
        tool: Annotated[str | None, Field(description="Instead of a prompt: a tool of this butler to call.")] = None,
        args: Annotated[dict[str, Any] | None, Field(description="The tool's arguments.")] = None,
        at: Annotated[
            datetime | None, Field(description="Instead of cron: fire once at this time (with its UTC offset).")
        ] = None,
    ) -> Schedule:
        fields: dict[str, Any] = {"name": name, "cron": cron, "prompt": prompt, "timezone": timezone}
        fields |= {"enabled": enabled, "misfire": misfire, "tool": tool, "args": args, "at": at}
        try:
            spec = ScheduleConfig.model_validate(fields)
        except ValidationError as exc:
            raise _schedule_errors("schedule_create", exc) from None
        await _check_schedule_spec(butler, spec)
        created = await scheduler.create(spec)
        butler.on_schedules_changed()
        return created


def _register_schedule_update(mcp: FastMCP, scheduler: Scheduler, butler: CoreHost) -> None:
    @declared(mcp, "Change a schedule's cron, prompt, zone, misfire policy or enabled flag.")
    async def schedule_update(
        name: Annotated[str, Field(min_length=1, description="The schedule to change.")],
        cron: Cron = None,
        prompt: Prompt = None,
        timezone: Zone = None,
        enabled: bool | None = None,
        misfire: MisfirePolicy | None = None,
    ) -> Schedule:
        given = {"cron": cron, "prompt": prompt, "timezone": timezone, "enabled": enabled, "misfire": misfire}
        changes = {k: v for k, v in given.items() if v is not None}
        if not changes:
            raise bad_argument(
                "schedule_update",
                "cron",
                "nothing to change: give at least one of cron, prompt, timezone, enabled, misfire",
            )
        try:
            updated = await scheduler.update(name, changes)
        except ValidationError as exc:
            raise _schedule_errors("schedule_update", exc) from None
        butler.on_schedules_changed()
        return updated


def _register_schedule_delete(mcp: FastMCP, scheduler: Scheduler) -> None:
    @declared(mcp, "Delete a schedule (one from butler.toml comes back at the next start).")
    async def schedule_delete(
        name: Annotated[str, Field(min_length=1, description="The schedule to delete.")],
    ) -> ScheduleDeleted:
        deleted = await scheduler.delete(name)
        return ScheduleDeleted(deleted=name, source=deleted.source)
