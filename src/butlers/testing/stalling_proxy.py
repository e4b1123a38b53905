"""A TCP proxy in front of PostgreSQL that can stop forwarding without closing anything.

What a half-open connection looks like to the daemon: every socket stays open,
the peer just never answers (a NAT or firewall dropping state, a frozen VM).
`stall()` holds every byte in both directions, on old and new connections;
`resume()` lets them flow again.

    async with StallingProxy(unix_socket_path) as proxy:
        ...connect to 127.0.0.1:proxy.port...
        proxy.stall()
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import anyio
import anyio.abc


class StallingProxy:
    def __init__(self, upstream_unix_path: str) -> None:
        self.upstream = upstream_unix_path
        self.port = 0
        self._flowing = anyio.Event()
        self._flowing.set()
        self._stack: AsyncExitStack | None = None

    def stall(self) -> None:
        if self._flowing.is_set():
            self._flowing = anyio.Event()

    def resume(self) -> None:
        self._flowing.set()

    async def __aenter__(self) -> StallingProxy:
        self._stack = AsyncExitStack()
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        # Unwound in reverse: cancel the tasks, wait for them, then close the listener.
        self._stack.push_async_callback(listener.aclose)
        tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._stack.callback(tg.cancel_scope.cancel)
        tg.start_soon(listener.serve, self._handle)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._stack is not None
        self.resume()
        await self._stack.aclose()

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client, await anyio.connect_unix(self.upstream) as server, anyio.create_task_group() as tg:
            tg.start_soon(self._pump, client, server, tg.cancel_scope)
            tg.start_soon(self._pump, server, client, tg.cancel_scope)

    async def _pump(self, source: Any, sink: Any, scope: anyio.CancelScope) -> None:
        try:
            async for chunk in source:
                await self._flowing.wait()  # stalled: hold the bytes, close nothing
                await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        scope.cancel()  # one side closed: close the other
