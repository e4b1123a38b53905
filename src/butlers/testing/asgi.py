"""Serve an ASGI app (e.g. a FastMCP `http_app`) on 127.0.0.1 for the length of a block."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
import uvicorn


@asynccontextmanager
async def serve_asgi(app: Any, *, lifespan: Literal["on", "off"] = "on") -> AsyncIterator[str]:
    """Yield the base URL (``http://127.0.0.1:<port>``) of `app` served by uvicorn.

    The listening socket is bound here, before the server task runs, so the
    port is known at once and early connections queue in the kernel until
    uvicorn (after the app's lifespan startup) accepts them: no wait needed.
    """
    # IPPROTO_TCP, as butlers.http.bind: asyncio then sets TCP_NODELAY on accepted connections
    # (without it every answer's second small write waits ~40 ms for the client's delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()
