"""An OTLP/HTTP trace receiver for tests: the collector's wire format, decoded with opentelemetry-proto.

It accepts what a real collector accepts on `POST /v1/traces` (an
`ExportTraceServiceRequest`, protobuf, optionally gzip-compressed) and keeps
every span, so a test can check what the daemon really exported. Anything
posted elsewhere is counted as misdirected and answered 404, as a collector does.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from butlers.testing.asgi import serve_asgi

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]  # (trace_id, span_id) of each link


@dataclass
class OtlpReceiver:
    """Spans received so far; `url` is the base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT."""

    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    misdirected: list[str] = field(default_factory=list)
    _arrived: anyio.Event = field(default_factory=anyio.Event)

    def named(self, fragment: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if fragment in s.name]

    async def wait_for(self, fragment: str, timeout: float = 30) -> ReceivedSpan:
        with anyio.fail_after(timeout):
            while not self.named(fragment):
                await self._arrived.wait()
        return self.named(fragment)[0]

    async def _traces(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if request.headers.get("content-type") != PROTOBUF:
            return Response("expected application/x-protobuf", status_code=415)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        self.spans.extend(_decode(export))
        self._arrived.set()
        self._arrived = anyio.Event()
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)

    async def _elsewhere(self, request: Request) -> Response:
        self.misdirected.append(request.url.path)
        return Response(status_code=404)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def _decode(export: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in export.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        service=str(resource.get("service.name", "")),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                    )
                )
    return spans


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    app = Starlette(
        routes=[
            Route("/v1/traces", receiver._traces, methods=["POST"]),
            Route("/{path:path}", receiver._elsewhere, methods=["GET", "POST"]),
        ]
    )
    async with serve_asgi(app) as url:
        receiver.url = url
        yield receiver
