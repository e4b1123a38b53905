"""Serving an ASGI app on one port inside the daemon's task group (uvicorn)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import anyio
import uvicorn
from starlette.types import ASGIApp

from butlers.errors import ButlersError


class PortInUseError(ButlersError):
    """The port a butler asked for cannot be bound."""


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


def make_server(app: ASGIApp, host: str, port: int, graceful_timeout_s: float) -> EmbeddedServer:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, int(graceful_timeout_s)),
        ws="none",
    )
    return EmbeddedServer(config)
