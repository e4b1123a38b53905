"""Calling one of a butler's tools from the butler page: a form generated from its input schema
(`tool_forms.py`), the call in-process (validated as over MCP), and the result or the refusal shown.
The `/api/` twin takes the arguments as a JSON object and answers `{"tool", "arguments", "result"}`.
"""

from __future__ import annotations

from typing import Any

from fastmcp.exceptions import FastMCPError
from fastmcp.exceptions import NotFoundError as UnknownToolError
from starlette.requests import Request
from starlette.responses import Response

from butlers.dashboard.pages.butler_input import is_api, read_input, target, tool_error_message
from butlers.dashboard.pages.routing import with_api
from butlers.dashboard.render import ApiResponse, page
from butlers.dashboard.tool_forms import arguments
from butlers.errors import NotFoundError


async def call_tool(request: Request) -> Response:
    butler, name = target(request), request.path_params["tool"]
    assert butler.mcp is not None
    try:
        tool = await butler.mcp.get_tool(name)
    except UnknownToolError:
        tool = None
    if tool is None:
        raise NotFoundError(f"{butler.name} has no tool named {name!r}")
    fields = await read_input(request)
    args: dict[str, Any] = fields if is_api(request) else arguments(tool.parameters, _without_csrf(fields))
    try:
        result, error = await butler.call_own_tool(name, args), None
    except (FastMCPError, UnknownToolError) as exc:
        result, error = None, tool_error_message(name, exc)
    if is_api(request):
        if error is not None:
            return ApiResponse({"error": {"status": 400, "message": error}}, status_code=400)
        return ApiResponse({"tool": name, "arguments": args, "result": result})
    response = page(request, "tool_result.html", butler=butler.name, tool=name, arguments=args,
                    result=result, error=error)  # fmt: skip
    response.status_code = 400 if error else 200
    return response


def _without_csrf(fields: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in fields.items() if k != "csrf_token"}


ROUTES = with_api("/butlers/{name}/tools/{tool}", call_tool, post=True)
