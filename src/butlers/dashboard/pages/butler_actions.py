"""The butler page's changes: schedules (create, edit, enable, disable, delete, run now), state (set,
delete) and triggering a prompt. Each has a browser route and an `/api/` twin (JSON in, JSON out).

Every change is the butler's own tool called in-process, so the checks and the
messages are those of MCP; what the dashboard checks itself (JSON typed into a
form) is refused before anything is called.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard.pages.butler_input import is_api, perform, read_input, refused, target, tool_error_message
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.render import ApiResponse

SCHEDULE_FIELDS = ("name", "cron", "at", "prompt", "tool", "timezone", "misfire")
EDIT_FIELDS = ("cron", "prompt", "timezone", "misfire")


def _present(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: fields[k] for k in names if fields.get(k) not in (None, "")}


def _flag(request: Request, fields: dict[str, Any], name: str) -> bool:
    # A browser sends an unticked checkbox as nothing at all.
    return bool(fields.get(name)) if is_api(request) else fields.get(name) in ("on", "true", "1")


def _json_field(request: Request, fields: dict[str, Any], name: str) -> tuple[Any, str | None]:
    """A JSON value: as posted by a script, parsed from a form's text; (value, why it is refused)."""
    raw = fields.get(name)
    if is_api(request) or not isinstance(raw, str):
        return raw, None
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, f"not valid JSON ({exc}); nothing was written"


async def schedule_create(request: Request) -> Response:
    butler, fields = target(request), await read_input(request)
    args = _present(fields, SCHEDULE_FIELDS)
    if fields.get("args") not in (None, ""):
        args["args"], problem = _json_field(request, fields, "args")
        if problem is not None:
            return await refused(request, butler, f"schedule_create: argument 'args': {problem}")
    args["enabled"] = bool(fields.get("enabled", True)) if is_api(request) else _flag(request, fields, "enabled")
    return await perform(request, butler, "schedule_create", args, "#schedules")


async def schedule_update(request: Request) -> Response:
    butler, fields = target(request), await read_input(request)
    args = {"name": request.path_params["schedule"], **_present(fields, EDIT_FIELDS)}
    if "enabled" in fields or not is_api(request):
        args["enabled"] = _flag(request, fields, "enabled")
    return await perform(request, butler, "schedule_update", args, "#schedules")


async def schedule_switch(request: Request) -> Response:
    butler, schedule = target(request), request.path_params["schedule"]
    enabled = request.url.path.endswith("/enable")
    return await perform(request, butler, "schedule_update", {"name": schedule, "enabled": enabled}, "#schedules")


async def schedule_delete(request: Request) -> Response:
    butler = target(request)
    return await perform(request, butler, "schedule_delete", {"name": request.path_params["schedule"]}, "#schedules")


async def schedule_run(request: Request) -> Response:
    butler = target(request)
    return await perform(request, butler, "schedule_run", {"name": request.path_params["schedule"]}, "#schedules")


async def state_set(request: Request) -> Response:
    butler, fields = target(request), await read_input(request)
    key = str(fields.get("key") or "")
    value, problem = _json_field(request, fields, "value")
    if problem is not None:
        return await refused(request, butler, f"state_set: argument 'value': {problem}")
    args: dict[str, Any] = {"key": key, "value": value}
    if fields.get("expected_version") not in (None, ""):
        try:
            args["expected_version"] = int(fields["expected_version"])
        except (TypeError, ValueError):
            return await refused(request, butler, "state_set: argument 'expected_version': not a whole number")
    return await perform(request, butler, "state_set", args, f"?key={key}#state")


async def state_delete(request: Request) -> Response:
    butler, fields = target(request), await read_input(request)
    return await perform(request, butler, "state_delete", {"key": str(fields.get("key") or "")}, "#state")


async def trigger(request: Request) -> Response:
    """Start a session with a prompt; the browser goes on to watch it on its session page (live)."""
    butler, fields = target(request), await read_input(request)
    try:
        answer = await butler.call_own_tool("trigger", {"prompt": str(fields.get("prompt") or "")})
    except Exception as exc:  # the tool's refusal (an empty prompt...), shown as its message
        return await refused(request, butler, tool_error_message("trigger", exc))
    if is_api(request):
        return ApiResponse(answer)
    return RedirectResponse(f"/sessions/{butler.name}/{answer['session_id']}", status_code=303)


ROUTES = [
    *with_api("/butlers/{name}/schedules", schedule_create, post=True),
    *with_api("/butlers/{name}/schedules/{schedule}/update", schedule_update, post=True),
    *with_api("/butlers/{name}/schedules/{schedule}/enable", schedule_switch, post=True),
    *with_api("/butlers/{name}/schedules/{schedule}/disable", schedule_switch, post=True),
    *with_api("/butlers/{name}/schedules/{schedule}/delete", schedule_delete, post=True),
    *with_api("/butlers/{name}/schedules/{schedule}/run", schedule_run, post=True),
    *with_api("/butlers/{name}/state", state_set, post=True),
    *with_api("/butlers/{name}/state/delete", state_delete, post=True),
    *with_api("/butlers/{name}/trigger", trigger, post=True),
]
