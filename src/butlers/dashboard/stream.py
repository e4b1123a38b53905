"""`/events`: the Server-Sent Events stream of one open page, fed by the EventHub."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from butlers.dashboard.context import dashboard

PING_S = 15  # a comment line this often keeps proxies from closing an idle stream


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
