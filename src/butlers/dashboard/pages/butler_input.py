"""What the butler page's changes share: reading a browser form or a JSON body, and answering either.

A browser posts a form and is sent back to the butler page (303), or shown the
page again with the refusal (400, nothing written); a script posts JSON to the
`/api/` twin and gets JSON (the refusal as a 400 naming the argument).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastmcp.exceptions import FastMCPError
from fastmcp.exceptions import NotFoundError as UnknownToolError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from butlers.dashboard.context import dashboard
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.render import ApiResponse

if TYPE_CHECKING:
    from butlers.butler import Butler


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def read_input(request: Request) -> dict[str, Any]:
    """The posted fields: the JSON object of an /api/ call, else the browser's form."""
    if not is_api(request):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = await request.json()
    except ValueError:
        raise BadParameterError("body", "not valid JSON") from None
    if not isinstance(body, dict):
        raise BadParameterError("body", "must be a JSON object")
    return body


def target(request: Request) -> Butler:
    return dashboard(request).butler(request.path_params["name"])


async def refused(request: Request, butler: Butler, message: str) -> Response:
    if is_api(request):
        return ApiResponse({"error": {"status": 400, "message": message}}, status_code=400)
    from butlers.dashboard.pages.butler import render_butler  # the page imports this module

    return await render_butler(request, butler, error=message, status=400)


async def perform(request: Request, butler: Butler, tool: str, args: dict[str, Any], back: str) -> Response:
    """Call `tool` of the butler; JSON for the API, else back to the page at `back` (an anchor or query)."""
    try:
        answer = await butler.call_own_tool(tool, args)
    except (FastMCPError, UnknownToolError) as exc:
        return await refused(request, butler, tool_error_message(tool, exc))
    if is_api(request):
        return ApiResponse(answer)
    return RedirectResponse(f"/butlers/{butler.name}{back}", status_code=303)


def tool_error_message(tool: str, exc: Exception) -> str:
    """A refused call in one or two lines: the tool's own message, or the argument validation's gist."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip() and "errors.pydantic.dev" not in line]
    if len(lines) >= 3 and lines[0].endswith(f"call[{tool}]"):  # pydantic: '<n> error(s) for call[x]', loc, msg
        return f"{tool}: argument '{lines[1]}': {lines[2].split(' [type=')[0]}"
    return " ".join(lines) or f"{tool} failed"
