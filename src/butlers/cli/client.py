"""The MCP client side of `butlerctl`: one tool call to one running butler.

Every `butlerctl` command that talks to the daemon (status, trigger, sessions,
approvals, ...) goes through `call_tool`, so "the butler is not running" looks
the same everywhere: a DaemonUnreachableError naming the URL tried.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.exceptions import ToolError
from mcp import MCPError
from pydantic import ValidationError

from butlers.auth import find_operator_token
from butlers.errors import ButlersError, DaemonUnreachableError
from butlers.http_guard import REFUSED
from butlers.settings import Settings

__all__ = ["ToolError", "UnknownToolError", "butler_url", "call_tool", "client_headers"]

DEFAULT_TIMEOUT_S = 5.0
_JSON_SCALARS = (dict, list, str, int, float, bool, type(None))


class UnknownToolError(ToolError):
    """The butler has no tool of that name (most often: the module that provides it is not enabled)."""

    def __init__(self, tool: str, message: str) -> None:
        super().__init__(message)
        self.tool = tool


def _unknown_tool(tool: str) -> str:
    return f"Unknown tool: {tool!r}"  # fastmcp's words for a call of a tool the server does not have


def butler_url(host: str, port: int) -> str:
    """The streamable-HTTP MCP endpoint of the butler on `port`."""
    return f"http://{host}:{port}/mcp"


def client_headers(client_name: str = "butlerctl") -> dict[str, str]:
    """Headers of every call: who is calling and, when the operator token can be found, the token.

    The token is looked up as the daemon does (BUTLERS_TOKEN, the systemd
    credential, the data dir's file); without one, reading tools still answer on
    loopback and operator actions are refused with 401.
    """
    headers = {"X-Butlers-Client": client_name}
    try:
        token = find_operator_token(Settings())
    except (ButlersError, ValidationError):
        token = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token.value}"
    return headers


def _refusal(exc: BaseException) -> str | None:
    """The butler's own words when its guard refused the call (401/403/413), or None."""
    if isinstance(exc, MCPError) and exc.error.code == REFUSED:
        data = exc.error.data if isinstance(exc.error.data, dict) else {}
        hint = " (set BUTLERS_TOKEN, or run as the daemon's user so the token file is found)"
        return exc.error.message + (hint if data.get("status") == 401 else "")
    return None


# `timeout` (ASYNC109) is the agreed signature other commands use; it is
# enforced below with anyio.fail_after, as the rule asks.
async def call_tool(
    host: str,
    port: int,
    tool: str,
    args: dict[str, Any] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Call `tool` on the butler at `host:port` and return its result as plain JSON data.

    `timeout` bounds the whole exchange (connect, initialize, call). A butler
    that cannot be reached or does not answer in time raises
    DaemonUnreachableError; a tool that answers with an error raises
    fastmcp's ToolError carrying the tool's own message.
    """
    url = butler_url(host, port)
    transport = StreamableHttpTransport(url, headers=client_headers())
    client = Client(transport, timeout=timeout, init_timeout=timeout)
    try:
        with anyio.fail_after(timeout):
            async with client:
                result = await client.call_tool(tool, args or {})
    except ToolError as exc:
        if str(exc) == _unknown_tool(tool):
            raise UnknownToolError(tool, str(exc)) from None
        raise
    except MCPError as exc:
        refused = _refusal(exc)
        if refused is None:
            raise DaemonUnreachableError(f"butler at {url} answered with an error: {exc}") from None
        raise ToolError(refused) from None
    except TimeoutError:
        raise DaemonUnreachableError(f"butler at {url} did not answer within {timeout:g} s") from None
    # fastmcp reports a refused connection as RuntimeError and transport
    # failures as OSError/httpx errors; all mean the same thing to a user.
    except Exception as exc:
        raise DaemonUnreachableError(f"cannot reach butler at {url}: {exc} (is `butlerd serve` running?)") from exc
    return _plain(result.data, result.structured_content, result.content)


def _plain(data: Any, structured: dict[str, Any] | None, content: list[Any]) -> Any:
    # `data` is the unwrapped result when the tool has an output schema; it can
    # be a generated dataclass, so fall back to the raw structured content.
    if data is not None and isinstance(data, _JSON_SCALARS):
        return data
    if structured is not None:
        return structured
    text = "".join(getattr(block, "text", "") for block in content)
    try:
        return json.loads(text)
    except ValueError:
        return text
