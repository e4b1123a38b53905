"""Logging (structlog) and tracing (OpenTelemetry), configured once at the edge.

Logs are readable on a terminal and JSON otherwise. Traces are exported over
OTLP HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set and are a no-op otherwise;
FastMCP itself opens a span per tool call once a tracer provider is set.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from butlers.log_limits import RepeatFilter, RepeatLimiter, limit_repeats
from butlers.settings import Settings

_SECRETS: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never reach a log line (credentials the butlers declared)."""
    _SECRETS.update(v for v in values if v and len(v) >= 4)


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _SECRETS:
        return event
    for key, value in list(event.items()):
        if isinstance(value, str):
            for secret in _SECRETS:
                if secret in value:
                    value = value.replace(secret, "***")
            event[key] = value
    return event


def configure_logging(settings: Settings) -> None:
    renderer_json = settings.log_format == "json" or (settings.log_format == "auto" and not sys.stderr.isatty())
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if renderer_json else structlog.dev.ConsoleRenderer()
    exc_info = structlog.processors.format_exc_info if renderer_json else _noop
    structlog.configure(
        processors=[*shared, limit_repeats(RepeatLimiter()), exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(max(level, logging.WARNING), shared, exc_info, renderer)


def _route_stdlib_logging(level: int, shared: list[Any], exc_info: Any, renderer: Any) -> None:
    """Libraries (uvicorn, fastmcp, asyncio, asyncpg) log through stdlib: render them like our own lines.

    One line each (JSON when logs are JSON), repeats rate-limited, and no Rich
    tracebacks from FastMCP, whose own handler would print many lines per error.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=["suppressed_repeats"]),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, exc_info, renderer],
        )
    )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # FastMCP installs its Rich handlers when imported unless told not to (it may not be imported yet).
    os.environ.setdefault("FASTMCP_LOG_ENABLED", "false")
    fastmcp_logger = logging.getLogger("fastmcp")
    fastmcp_logger.handlers = []
    fastmcp_logger.propagate = True


def _noop(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return event


def configure_tracing(settings: Settings, service_name: str = "butlers") -> bool:
    """Install an SDK tracer provider exporting over OTLP HTTP; return False when not configured."""
    if not settings.otel_endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint)))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


tracer = trace.get_tracer("butlers")
