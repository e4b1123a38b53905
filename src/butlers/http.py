"""Serving an ASGI app on one port inside the daemon's task group (uvicorn)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from butlers.errors import PortInUseError

log = structlog.get_logger(__name__)
FD_LIMIT_CAP = 1 << 20  # never ask for more than this, even where the hard limit is unlimited


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the supervisor and says when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The supervisor owns SIGINT/SIGTERM for every butler at once.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def bind(host: str, port: int, owner: str) -> socket.socket:
    """Bind the listening socket ourselves: uvicorn would call sys.exit on failure."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio disables Nagle only on sockets that name TCP,
    # and with Nagle on every response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(
            f"{owner}: cannot listen on {host}:{port}: {exc.strerror} (is another process using it?)"
        ) from None
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class PortLimits:
    """What one port grants its callers, so one abusive client cannot starve the rest."""

    max_connections: int = 256
    idle_timeout_s: float = 15.0
    max_header_bytes: int = 64 * 1024


def guarded_protocol(limits: PortLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol, plus a connection cap and a deadline for the first request.

    uvicorn only times out a connection *between* requests; one that never sends a
    request (or sends half of one) would hold its file descriptor for ever.
    """

    class GuardedH11Protocol(H11Protocol):
        _rejected = False
        _first_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= limits.max_connections:
                # Over the cap: never counted as open, its descriptor freed now, without a response.
                self._rejected = True
                transport.abort()
                return
            super().connection_made(transport)
            self._first_deadline = self.loop.call_later(limits.idle_timeout_s, self._close_if_no_request)

        def _close_if_no_request(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._rejected:
                return
            if self._first_deadline is not None:
                self._first_deadline.cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol


def make_server(
    app: ASGIApp, host: str, port: int, graceful_timeout_s: float, limits: PortLimits | None = None
) -> EmbeddedServer:
    limits = limits or PortLimits()
    options: dict[str, Any] = {
        "http": guarded_protocol(limits),
        "timeout_keep_alive": max(1, int(limits.idle_timeout_s)),
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(graceful_timeout_s)),
        ws="none",
        **options,
    )
    return EmbeddedServer(config)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one (where the OS allows); returns (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FD_LIMIT_CAP if hard == resource.RLIM_INFINITY else min(hard, FD_LIMIT_CAP)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            log.warning("http.fd_limit_kept", soft=soft, hard=hard)
            return soft, soft
        return soft, wanted
    return soft, soft


def limit_mcp_sessions(app: Any, max_sessions: int) -> None:
    """Cap the stateful MCP sessions of a started FastMCP app (FastMCP does not pass this option on).

    Called once the app's lifespan has created its session manager; with the SDK's
    default (10,000) one client could fill memory with sessions nobody uses.
    """
    for route in getattr(app, "routes", []):
        manager = getattr(getattr(route, "endpoint", None), "session_manager", None)
        if manager is not None and hasattr(manager, "max_sessions"):
            manager.max_sessions = max_sessions
