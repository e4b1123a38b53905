"""`/events`: the Server-Sent Events stream of one open page, fed by the EventHub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from butlers.dashboard.context import dashboard
from butlers.dashboard.events import EventHub

PING_S = 15  # a comment line this often keeps proxies from closing an idle stream


@dataclass(frozen=True)
class NoteEventsSeen:
    """ASGI middleware: how many events the hub had published when the request came in, as
    `request.state.events_seen`, which a page sends back when it subscribes (`/events?seen=`).

    Taken before the page reads anything: a change announced while it reads was either already
    committed when it read (and is shown) or comes after this count (and the page resyncs). A
    count taken when the page is rendered would miss a change announced between its read and
    its render, and the page would go on showing the old state.
    """

    app: ASGIApp
    hub: EventHub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["events_seen"] = self.hub.published
        await self.app(scope, receive, send)


async def events(request: Request) -> EventSourceResponse:
    hub = dashboard(request).hub
    try:
        seen = int(request.query_params.get("seen", "-1"))
    except ValueError:
        seen = -1  # unknown: resync once

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with hub.subscribe() as received:
            yield ServerSentEvent(comment="connected")
            if hub.published != seen:
                # Events came between rendering the page and this subscription (e.g. its session ended):
                # each live part of the page fetches itself once. None came: nothing is re-fetched.
                yield ServerSentEvent(data="{}", event="resync")
            async for event in received:
                yield ServerSentEvent(data=event.json(), event=event.kind)

    return EventSourceResponse(stream(), ping=PING_S, headers={"Cache-Control": "no-store"})
