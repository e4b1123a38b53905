"""The ASGI guard in front of every HTTP port: Host, Origin, credential, tool rights, body size.

In order, before anything reaches FastMCP (so before any tool runs):
1. `Host` must name this daemon (loopback names, its bind address, `BUTLERS_ALLOWED_HOSTS`)
   on this port, and `Origin`, when a browser sends one, must be this very origin or one of
   `BUTLERS_ALLOWED_ORIGINS`: otherwise 403. This stops DNS rebinding and foreign web pages.
2. On the MCP path, `Authorization: Bearer` is the operator token or a running session's
   credential (else 401). Without one the caller is anonymous, which only loopback allows.
3. A non-operator's `tools/call` is read before it is passed on: an operator action without the
   operator token is 401, a tool withheld from agents is 403. Bodies over the limit are 413.

Other paths (module webhooks) get step 1 only; they check their own signatures.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pydantic_core
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from butlers.auth import OperatorToken, Role, SessionCredentials, is_loopback, may_call

CALLER_KEY = "butlers.caller"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class Caller:
    role: Role
    session_id: str | None = None  # the session, for an agent
    via: str = "mcp"  # the client's own name for itself (X-Butlers-Client), e.g. butlerctl


@dataclass(frozen=True)
class GuardPolicy:
    """What one port accepts."""

    port: int
    host_names: frozenset[str]  # lower-case, without port
    origins: frozenset[str]  # lower-case scheme://host:port
    token: OperatorToken
    sessions: SessionCredentials | None
    require_token: bool  # bound beyond loopback: no anonymous callers
    max_body_bytes: int
    mcp_path: str = "/mcp"


def host_names(bind_host: str, extra: Iterable[str]) -> frozenset[str]:
    names = {*LOOPBACK_NAMES, *(h.lower() for h in extra)}
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(bind_host.lower())
    else:
        names.add(socket.gethostname().lower())
    return frozenset(names)


def origins_for(names: Iterable[str], port: int, extra: Iterable[str]) -> frozenset[str]:
    own = {f"{scheme}://{_bracket(n)}:{port}" for n in names for scheme in ("http", "https")}
    return frozenset({*own, *(o.lower().rstrip("/") for o in extra)})


def _bracket(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def policy_for(
    *,
    port: int,
    bind_host: str,
    token: OperatorToken,
    sessions: SessionCredentials | None,
    allowed_hosts: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    max_body_bytes: int = 4 * 1024 * 1024,
) -> GuardPolicy:
    names = host_names(bind_host, allowed_hosts)
    return GuardPolicy(
        port=port,
        host_names=names,
        origins=origins_for(names, port, allowed_origins),
        token=token,
        sessions=sessions,
        require_token=not is_loopback(bind_host),
        max_body_bytes=max_body_bytes,
    )


class CallerGuard:
    """ASGI middleware applying a GuardPolicy; see the module docstring."""

    def __init__(self, app: ASGIApp, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = header_map(scope)
        if not self._host_ok(headers.get(b"host", b"")):
            return await _refuse(send, 403, "forbidden_host", "this Host is not one the daemon serves")
        origin = headers.get(b"origin")
        if origin is not None and origin.decode("latin-1").lower().rstrip("/") not in self.policy.origins:
            return await _refuse(send, 403, "forbidden_origin", "requests from this Origin are not accepted")
        if scope["path"].rstrip("/") != self.policy.mcp_path:
            await self.app(scope, receive, send)
            return
        caller = self._caller(headers)
        if caller is None:
            return await _refuse(send, 401, "invalid_token", "the bearer token is not valid (see docs/clients.md)")
        if caller.role is Role.ANONYMOUS and self.policy.require_token:
            return await _refuse(send, 401, "token_required", "this port needs the operator token")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.policy.max_body_bytes:
            return await _refuse(send, 413, "body_too_large", f"at most {self.policy.max_body_bytes} bytes")
        scope.setdefault("state", {})[CALLER_KEY] = caller
        if caller.role is Role.OPERATOR or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await self._checked_call(scope, receive, send, caller)

    def _host_ok(self, raw: bytes) -> bool:
        return host_allowed(raw, self.policy.host_names, self.policy.port)

    def _caller(self, headers: dict[bytes, bytes]) -> Caller | None:
        client = headers.get(b"x-butlers-client")
        via = "mcp" if client is None else client.decode("latin-1")[:40] or "mcp"
        auth = headers.get(b"authorization")
        if auth is None:
            return _plain_caller(Role.ANONYMOUS, via)
        scheme, _, presented = auth.decode("latin-1").partition(" ")
        presented = presented.strip()
        if scheme.lower() != "bearer" or not presented:
            return None
        if self.policy.token.matches(presented):
            return _plain_caller(Role.OPERATOR, via)
        session = self.policy.sessions.session_of(presented) if self.policy.sessions else None
        return Caller(Role.AGENT, session_id=session, via="agent") if session else None

    async def _checked_call(self, scope: Scope, receive: Receive, send: Send, caller: Caller) -> None:
        body = await read_body(receive, self.policy.max_body_bytes)
        if body is None:
            return await _refuse(send, 413, "body_too_large", f"at most {self.policy.max_body_bytes} bytes")
        for tool in _called_tools(body):
            if not may_call(caller.role, tool):
                if caller.role is Role.AGENT:
                    return await _refuse(send, 403, "forbidden_tool", f"{tool} is not offered to agents")
                return await _refuse(send, 401, "token_required", f"{tool} is an operator action: it needs the token")
        await self.app(scope, replay_body(body, receive), send)


_PLAIN_CALLERS = {role: Caller(role) for role in (Role.ANONYMOUS, Role.OPERATOR)}


def _plain_caller(role: Role, via: str) -> Caller:
    # Callers are frozen: the usual ones are built once and shared, not per request.
    return _PLAIN_CALLERS[role] if via == "mcp" else Caller(role, via=via)


def host_allowed(raw: bytes, names: frozenset[str], port: int) -> bool:
    """Whether a `Host` header names one of `names`, on `port` or with no port (IPv6 in brackets)."""
    host = raw.decode("latin-1").lower()
    name, given = host, None
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        given = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        name, given = host.split(":")
    return (given is None or given == str(port)) and name in names


def header_map(scope: Scope) -> dict[bytes, bytes]:
    # The first of a repeated header counts; names are already lower-case in ASGI.
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name, value)
    return found


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None past `limit` bytes."""
    first = await receive()
    if first["type"] != "http.request":
        return b""
    body: bytes = first.get("body", b"")
    if len(body) > limit:
        return None
    if not first.get("more_body", False):
        return body  # the usual case: the whole body in one message, nothing to join
    chunks, size = [body], len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the already read `body` again, then the server's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then http.disconnect, as the server reports it

    return replay


def _called_tools(body: bytes) -> list[str]:
    """Names of the tools a JSON-RPC body calls; an unreadable body calls none (the SDK refuses it)."""
    try:
        # The MCP SDK's own parser (mcp.server.streamable_http): the guard reads exactly the message
        # the SDK will act on. Also ~7x faster than json.loads on bytes, and a deeply nested body is
        # a ValueError here, where json.loads raised RecursionError out of the guard (a 500).
        data: Any = pydantic_core.from_json(body)
    except ValueError:
        return []
    messages = data if isinstance(data, list) else [data]
    names = []
    for m in messages:
        if isinstance(m, dict) and m.get("method") == "tools/call":
            params = m.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            names.append(name if isinstance(name, str) else "")
    return names


REFUSED = -32001  # JSON-RPC error code of a refusal by the guard (server-defined range)


async def _refuse(send: Send, status: int, reason: str, message: str) -> None:
    # A JSON-RPC error body: MCP clients show its message instead of a bare HTTP status.
    error = {"code": REFUSED, "message": f"refused ({status}): {message}", "data": {"status": status, "reason": reason}}
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="butlers"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def current_caller() -> Caller | None:
    """The caller of the tool being run, as the guard saw it; None for an in-process client."""
    from fastmcp.server.dependencies import get_http_request

    try:
        request = get_http_request()
    except RuntimeError:
        return None
    caller = request.scope.get("state", {}).get(CALLER_KEY)
    return caller if isinstance(caller, Caller) else None
