"""Join an agent's tool calls to the session that made them, in the traces.

Claude Code does not pass the trace context it is given on to its MCP calls, so
FastMCP's span for such a call would start a trace of its own. The spawner sends
the session's W3C `traceparent` as an HTTP header of the agent's MCP
connection; this middleware reads it and, for each tool call:

- adds a link from FastMCP's own span to the session's span, and
- opens a child span of the session (`agent <tool>`), so the session's trace
  shows every tool call its agent made, in order.

A call that carries its trace context in `_meta` (as FastMCP's client does) is
already a child of its caller and is left alone.
"""

from __future__ import annotations

from typing import Any

from fastmcp.server.dependencies import get_http_headers
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from opentelemetry import propagate, trace

tracer = trace.get_tracer("butlers")


def _session_context(meta: Any) -> trace.SpanContext | None:
    if isinstance(meta, dict) and meta.get("traceparent"):
        return None  # the caller propagated it properly: FastMCP already parented the span
    header = get_http_headers(include={"traceparent"}).get("traceparent")
    if not header:
        return None
    context = trace.get_current_span(propagate.extract({"traceparent": header})).get_span_context()
    return context if context.is_valid else None


class SessionTraceLink(Middleware):
    async def on_call_tool(self, context: MiddlewareContext[Any], call_next: CallNext[Any, Any]) -> Any:
        meta: Any = getattr(getattr(context.fastmcp_context, "request_context", None), "meta", None)
        session = _session_context(meta.model_dump() if hasattr(meta, "model_dump") else meta)
        if session is None:
            return await call_next(context)
        own = trace.get_current_span()
        own.add_link(session, {"butlers.link": "agent session"})
        name = getattr(context.message, "name", "tool")
        parent = trace.set_span_in_context(trace.NonRecordingSpan(session))
        links = [trace.Link(own.get_span_context())] if own.get_span_context().is_valid else []
        with tracer.start_as_current_span(f"agent {name}", context=parent, links=links):
            return await call_next(context)
