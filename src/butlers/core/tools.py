"""The core MCP tools every butler has: status, state_*, schedule_*, tick.

Their names are a contract clients rely on. Every argument is checked before
anything is written; a bad call raises ToolError naming the tool and argument.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import Field, ValidationError

from butlers.config import MAX_SCHEDULE_PROMPT, NAME_PATTERN, ScheduleConfig
from butlers.core.scheduler import describe
from butlers.core.sessions import jsonable
from butlers.core.state import StateConflict
from butlers.core.tool_errors import bad_argument
from butlers.core.tool_schedules import check_tool_call
from butlers.errors import NotFoundError

if TYPE_CHECKING:
    from butlers.core.services import ButlerServices, CoreHost

MAX_KEY_LENGTH = 512
MAX_VALUE_BYTES = 1_000_000

Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH, description="The state key.")]


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
    @mcp.tool(name="status", description="This butler's name, port, modules, schedules, uptime and database health.")
    async def status() -> dict[str, Any]:
        return await butler.status()

    @mcp.tool(name="tick", description="Fire every schedule that is due now (each due window fires once).")
    async def tick() -> dict[str, Any]:
        fired = await butler.tick()
        return {
            "fired": [
                {
                    "schedule": f.schedule,
                    "scheduled_for": f.scheduled_for.isoformat(),
                    "skipped_windows": f.skipped_windows,
                    "session_id": str(f.session_id) if f.session_id else None,
                    "tool": f.tool,
                }
                for f in fired
            ]
        }


def _register_state(mcp: FastMCP, services: ButlerServices) -> None:
    store = services.state

    @mcp.tool(name="state_get", description="Read the JSON value stored under a key.")
    async def state_get(key: Key) -> dict[str, Any]:
        entry = await store.get(key)
        if entry is None:
            return {"key": key, "found": False, "value": None}
        return {
            "key": key,
            "found": True,
            "value": entry.value,
            "version": entry.version,
            "updated_at": entry.updated_at.isoformat(),
        }

    @mcp.tool(
        name="state_set",
        description="Store any JSON value (null too) under a key. For a safe read-modify-write pass the "
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
    ) -> dict[str, Any]:
        _check_value("state_set", value)
        if must_not_exist and expected_version is not None:
            raise bad_argument("state_set", "must_not_exist", "give either expected_version or must_not_exist")
        try:
            entry = await store.set(key, value, expected_version=expected_version, must_not_exist=must_not_exist)
        except StateConflict as exc:
            argument = "must_not_exist" if must_not_exist else "expected_version"
            raise bad_argument(
                "state_set", argument, f"conflict: {exc}; nothing was written, read it and retry"
            ) from None
        return {"key": key, "version": entry.version, "updated_at": entry.updated_at.isoformat()}

    @mcp.tool(name="state_delete", description="Delete a key; says whether it existed.")
    async def state_delete(key: Key) -> dict[str, Any]:
        return {"key": key, "deleted": await store.delete(key)}

    @mcp.tool(name="state_list", description="List keys (and values) starting with a prefix, in key order.")
    async def state_list(
        prefix: Annotated[str, Field(max_length=MAX_KEY_LENGTH, description="Key prefix; empty for all.")] = "",
        limit: Annotated[int, Field(ge=1, le=1000, description="At most this many entries.")] = 100,
    ) -> dict[str, Any]:
        entries = await store.list_prefix(prefix, limit)
        return {"entries": [{"key": e.key, "value": e.value, "version": e.version} for e in entries]}


def _register_schedules(mcp: FastMCP, services: ButlerServices, butler: CoreHost) -> None:
    scheduler = services.scheduler

    @mcp.tool(
        name="schedule_list",
        description="Every schedule (from butler.toml and runtime) with its mode (prompt or tool), next run,"
        " and for a one-shot whether it is done.",
    )
    async def schedule_list() -> dict[str, Any]:
        return {"schedules": [jsonable(describe(r)) for r in await scheduler.list_schedules()]}

    @mcp.tool(
        name="schedule_create",
        description="Add a runtime schedule: a prompt (an agent session) or one of this butler's tools with args"
        " (no session, no tokens), on a cron expression or once at a time.",
    )
    async def schedule_create(
        name: Annotated[
            str, Field(pattern=NAME_PATTERN, description="Unique name: lowercase letters, digits, - and _.")
        ],
        cron: Annotated[str | None, Field(description="Five-field cron expression, e.g. '0 8 * * *'.")] = None,
        prompt: Annotated[
            str | None,
            Field(min_length=1, max_length=MAX_SCHEDULE_PROMPT, description="What the agent is asked to do."),
        ] = None,
        timezone: Annotated[
            str | None, Field(description="IANA zone, e.g. 'Europe/Paris'; default the host's.")
        ] = None,
        enabled: bool = True,
        misfire: Annotated[str, Field(description="'coalesce' (default) or 'all'.")] = "coalesce",
        tool: Annotated[str | None, Field(description="Instead of a prompt: a tool of this butler to call.")] = None,
        args: Annotated[dict[str, Any] | None, Field(description="The tool's arguments.")] = None,
        at: Annotated[
            datetime | None, Field(description="Instead of cron: fire once at this time (with its UTC offset).")
        ] = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"name": name, "cron": cron, "prompt": prompt, "timezone": timezone}
        fields |= {"enabled": enabled}
        fields |= {"misfire": misfire, "tool": tool, "args": args, "at": at}
        try:
            spec = ScheduleConfig.model_validate(fields)
        except ValidationError as exc:
            raise _schedule_errors("schedule_create", exc) from None
        await _check_schedule_spec(butler, spec)
        try:
            created = await scheduler.create(spec)
        except ValueError as exc:
            raise bad_argument("schedule_create", "name", str(exc)) from None
        butler.on_schedules_changed()
        return jsonable(describe(created))

    @mcp.tool(
        name="schedule_update", description="Change a schedule's cron, prompt, zone, misfire policy or enabled flag."
    )
    async def schedule_update(
        name: Annotated[str, Field(min_length=1, description="The schedule to change.")],
        cron: str | None = None,
        prompt: Annotated[str | None, Field(min_length=1, max_length=MAX_SCHEDULE_PROMPT)] = None,
        timezone: str | None = None,
        enabled: bool | None = None,
        misfire: str | None = None,
    ) -> dict[str, Any]:
        changes = {
            k: v
            for k, v in {
                "cron": cron,
                "prompt": prompt,
                "timezone": timezone,
                "enabled": enabled,
                "misfire": misfire,
            }.items()
            if v is not None
        }
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
        except NotFoundError as exc:
            raise bad_argument("schedule_update", "name", str(exc)) from None
        butler.on_schedules_changed()
        return jsonable(updated)

    @mcp.tool(
        name="schedule_delete", description="Delete a schedule (one from butler.toml comes back at the next start)."
    )
    async def schedule_delete(name: Annotated[str, Field(min_length=1)]) -> dict[str, Any]:
        try:
            row = await scheduler.delete(name)
        except NotFoundError as exc:
            raise bad_argument("schedule_delete", "name", str(exc)) from None
        return {"deleted": name, "source": row["source"]}
