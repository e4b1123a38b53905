"""Live events: one LISTEN connection per butler database, fanned out to every open page.

The core migration 0030 (and the notify module's) make PostgreSQL announce a
session, approval, inbound message or notification that starts or changes status
on the channel `butlers_events`. Each serving butler gets one listening
connection (its own, outside the pool), opened when the first page subscribes:
a daemon nobody watches holds none, and a start does not pay for them. Each open
browser gets one bounded queue here: a slow browser loses events (it gets `resync`),
it never slows the others. A lost connection is replaced; when it is up (the first
time too), pages are told to `resync`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import asyncpg
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from butlers.db_health import DatabaseState

if TYPE_CHECKING:
    from butlers.butler import Butler

log = structlog.get_logger(__name__)
CHANNEL = "butlers_events"
QUEUE_SIZE = 256  # events one browser may lag behind before it is told to resync
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # between attempts to re-listen; the last repeats
KINDS = ("session", "approval", "inbound", "notification", "resync")


@dataclass(frozen=True)
class Event:
    kind: str  # one of KINDS: the SSE event name
    butler: str
    data: dict[str, Any]

    def json(self) -> str:
        return json.dumps({"butler": self.butler, **self.data})


def parse(butler: str, payload: str) -> Event | None:
    """The event a NOTIFY payload announces; None for one this hub does not know."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        return None
    kind = str(data.pop("kind"))
    return Event(kind, butler, data)


class EventHub:
    """Subscribers (open pages) and the listeners that feed them."""

    def __init__(self) -> None:
        self._subscribers: set[MemoryObjectSendStream[Event]] = set()
        self._wake: dict[str, anyio.Event] = {}
        self._conns: dict[str, asyncpg.Connection] = {}
        self.listening: set[str] = set()  # butlers whose connection is up now
        self.published = 0  # events so far: a page rendered at n and subscribed later missed any past n
        self._listeners: tuple[anyio.abc.TaskGroup, list[Butler]] | None = None  # set by `run`
        self._started = False

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
        send, receive = anyio.create_memory_object_stream[Event](QUEUE_SIZE)
        self._subscribers.add(send)
        self._start_listening()  # after adding: this page gets the `resync` each listener sends when up
        try:
            async with receive:
                yield receive
        finally:
            self._subscribers.discard(send)
            send.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: Event) -> None:
        self.published += 1
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except anyio.WouldBlock:
                self._lagging(send)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.discard(send)

    def _lagging(self, send: MemoryObjectSendStream[Event]) -> None:
        # Its queue is full: end its stream; the browser reconnects and reloads what it shows.
        self._subscribers.discard(send)
        send.close()

    def close(self) -> None:
        """End every open stream (the dashboard is stopping)."""
        for send in list(self._subscribers):
            send.close()
        self._subscribers.clear()

    async def run(self, butlers: Iterable[Butler], *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Until cancelled: listen on every butler's database, from the first subscriber on."""
        async with anyio.create_task_group() as tg:
            listed = list(butlers)
            for butler in listed:
                self._wake[butler.name] = anyio.Event()
                if butler.health is not None:
                    butler.health.subscribe(self._health_changed(butler.name))
            self._listeners = (tg, listed)
            if self._subscribers:
                self._start_listening()
            task_status.started()
            await anyio.sleep_forever()

    def _start_listening(self) -> None:
        if self._started or self._listeners is None:
            return
        self._started = True
        tg, butlers = self._listeners
        for butler in butlers:
            tg.start_soon(self._listen, butler)

    def _health_changed(self, name: str) -> Callable[[DatabaseState], Any]:
        async def changed(state: DatabaseState) -> None:
            if state is DatabaseState.UP:
                self._wake[name].set()  # retry now, not after the backoff
            elif name in self._conns:
                self._conns[name].terminate()  # it may be half-open and never close by itself

        return changed

    async def _listen(self, butler: Butler) -> None:
        attempt = 0
        while True:
            try:
                await self._listen_once(butler)
                attempt = 0
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("dashboard.listener_lost", butler=butler.name, error=str(exc) or type(exc).__name__)
            self.listening.discard(butler.name)
            self._wake[butler.name] = wake = anyio.Event()
            with anyio.move_on_after(RETRY_S[min(attempt, len(RETRY_S) - 1)]):
                await wake.wait()
            attempt += 1

    async def _listen_once(self, butler: Butler) -> None:
        with anyio.fail_after(10):
            conn = await asyncpg.connect(butler.address.dsn(butler.database))
        lost = anyio.Event()
        self._conns[butler.name] = conn
        try:
            conn.add_termination_listener(lambda *_: lost.set())
            await conn.add_listener(CHANNEL, lambda *args: self._received(butler.name, args[3]))
            self.listening.add(butler.name)
            self.publish(Event("resync", butler.name, {}))  # what changed while nobody listened
            await lost.wait()
        finally:
            self._conns.pop(butler.name, None)
            with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                await conn.close()

    def _received(self, butler: str, payload: str) -> None:
        event = parse(butler, payload)
        if event is not None:
            self.publish(event)
