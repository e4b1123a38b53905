"""The Socket Mode half of the Slack stand-in: a websocket that delivers envelopes and takes acks.

What it speaks, as Slack does: a client connects to the ``url`` that ``apps.connections.open``
returned (``/link/?ticket=...``; a ticket is good for one connection); the server says
``{"type": "hello", ...}``, then sends envelopes ``{"envelope_id", "type": "events_api",
"payload", "accepts_response_payload", "retry_attempt", "retry_reason"}``; the client acks each
with ``{"envelope_id": ...}``. An envelope not acked stays pending and is sent again (with
``retry_attempt`` + 1) on the next connection. ``{"type": "disconnect", "reason": ...}`` asks the
client to reconnect.

Tests use :meth:`SocketModeHub.drop` (the connection closes, as when Slack restarts a node),
:attr:`SocketModeHub.ignore_acks` (acks get lost) and the owner's ``down`` flag (every new
connection refused).
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.websockets import WebSocket, WebSocketDisconnect


@dataclass
class Envelope:
    envelope_id: str
    payload: dict[str, Any]
    type: str = "events_api"
    sent: int = 0  # times sent on a connection

    def wire(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": False,
            "retry_attempt": max(self.sent - 1, 0),
            "retry_reason": "timeout" if self.sent > 1 else "",
        }


@dataclass
class _Connection:
    number: int
    outbox: MemoryObjectSendStream[dict[str, Any]]
    closing: anyio.Event = field(default_factory=anyio.Event)


class SocketModeHub:
    """Pending envelopes and the live Socket Mode connections of one app."""

    def __init__(self, app_id: str, is_down: Callable[[], bool]) -> None:
        self.app_id = app_id
        self._is_down = is_down
        self.ignore_acks = False  # acks are read but lost (Slack will redeliver)
        self.pending: dict[str, Envelope] = {}  # sent or not, not yet acked: in delivery order
        self.acked: list[str] = []  # envelope ids, in the order their acks arrived
        self.connections_made = 0
        self._acked_store: dict[str, Envelope] = {}
        self._ack_waiters: dict[str, anyio.Event] = {}
        self._tickets: set[str] = set()
        self._live: list[_Connection] = []

    # -- what tests use -------------------------------------------------------------------------

    @property
    def connected(self) -> int:
        return len(self._live)

    def send_event(self, payload: dict[str, Any]) -> str:
        """Queue an events_api envelope carrying `payload`; sent now if a client is connected. Its id."""
        envelope = Envelope(f"env-{secrets.token_hex(8)}", payload)
        self.pending[envelope.envelope_id] = envelope
        if self._live:
            self._send(self._live[0], envelope)
        return envelope.envelope_id

    async def wait_acked(self, envelope_id: str) -> None:
        """Return once `envelope_id` has been acked."""
        if envelope_id in self._acked_store and envelope_id not in self.pending:
            return
        await self._ack_waiters.setdefault(envelope_id, anyio.Event()).wait()

    def redeliver(self, envelope_id: str) -> None:
        """Send an envelope again (already acked or not), as Slack does when an ack came late."""
        envelope = self.pending.get(envelope_id) or self._acked_store[envelope_id]
        self.pending[envelope_id] = envelope
        if self._live:
            self._send(self._live[0], envelope)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every client to reconnect, as Slack does before it recycles a connection."""
        for conn in self._live:
            conn.outbox.send_nowait({"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}})

    def drop(self) -> None:
        """Close every connection now (the client sees the socket close, without a disconnect message)."""
        for conn in self._live:
            conn.closing.set()
        self._live.clear()  # nothing more is sent on a closing connection

    # -- the server side ------------------------------------------------------------------------

    def issue_ticket(self) -> str:
        ticket = secrets.token_urlsafe(12)
        self._tickets.add(ticket)
        return ticket

    def _send(self, conn: _Connection, envelope: Envelope) -> None:
        envelope.sent += 1
        conn.outbox.send_nowait(envelope.wire())

    async def endpoint(self, websocket: WebSocket) -> None:
        ticket = websocket.query_params.get("ticket", "")
        if self._is_down() or ticket not in self._tickets:
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        self._tickets.discard(ticket)
        await websocket.accept()
        self.connections_made += 1
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        conn = _Connection(self.connections_made, send)
        await websocket.send_json(
            {
                "type": "hello",
                "num_connections": len(self._live) + 1,
                "debug_info": {"host": "standin", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._live.append(conn)
        for envelope in list(self.pending.values()):  # not acked: delivered (again) on this connection
            self._send(conn, envelope)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write, websocket, receive)
                tg.start_soon(self._read, websocket, tg.cancel_scope)
                await conn.closing.wait()
                tg.cancel_scope.cancel()
        finally:
            if conn in self._live:
                self._live.remove(conn)
            send.close()
            with anyio.CancelScope(shield=True), anyio.move_on_after(2), contextlib.suppress(Exception):
                await websocket.close(code=1001)  # fails when the client closed it first

    async def _write(self, websocket: WebSocket, outbox: MemoryObjectReceiveStream[dict[str, Any]]) -> None:
        async for message in outbox:
            await websocket.send_json(message)

    async def _read(self, websocket: WebSocket, scope: anyio.CancelScope) -> None:
        try:
            while True:
                message = await websocket.receive_json()
                envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
                if envelope_id and not self.ignore_acks and envelope_id in self.pending:
                    self._acked_store[envelope_id] = self.pending.pop(envelope_id)
                    self.acked.append(envelope_id)
                    waiter = self._ack_waiters.pop(envelope_id, None)
                    if waiter is not None:
                        waiter.set()
        except (WebSocketDisconnect, RuntimeError, ValueError):
            scope.cancel()  # the client went away (or sent garbage): this connection ends
