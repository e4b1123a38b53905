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


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Stamp the current span's ids on a log line, so logs and traces join on `trace_id`."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def wants_json(settings: Settings) -> bool:
    return settings.log_format == "json" or (settings.log_format == "auto" and not sys.stderr.isatty())


def configure_logging(settings: Settings) -> None:
    """One stream, one format: structlog's own events and every library's stdlib log line.

    With JSON chosen (the default off a terminal), every line on stderr is one JSON
    object, so `jq` recipes work on the journal: third-party loggers (uvicorn,
    FastMCP, asyncpg, OpenTelemetry's exporter) and Python warnings go through the
    same processors as the daemon's own events.
    """
    as_json = wants_json(settings)
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_ids,
        redact_secrets,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    finish: list[Any] = [structlog.processors.format_exc_info] if as_json else []
    structlog.configure(
        processors=[*shared, limit_repeats(RepeatLimiter()), *finish, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(shared, [*finish, renderer], max(level, logging.WARNING))


def _route_stdlib_logging(shared: list[Any], render: list[Any], level: int) -> None:
    """Libraries (uvicorn, fastmcp, asyncio, asyncpg, OpenTelemetry) log through stdlib: render them
    like our own lines, one each, repeats rate-limited; Python warnings too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                *shared,
                structlog.stdlib.ExtraAdder(allow=["suppressed_repeats"]),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
        )
    )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # FastMCP installs its own Rich handler on its logger at import unless told not to (it may not be
    # imported yet); its lines (a traceback box per tool error) would bypass the formatter above.
    os.environ.setdefault("FASTMCP_LOG_ENABLED", "false")
    os.environ.setdefault("FASTMCP_ENABLE_RICH_TRACEBACKS", "false")
    fastmcp_logger = logging.getLogger("fastmcp")
    fastmcp_logger.handlers = []
    fastmcp_logger.propagate = True
    # platformdirs (through pgserver) and others warn through `warnings`: route them too.
    logging.captureWarnings(True)


def configure_tracing(settings: Settings, service_name: str = "butlers") -> bool:
    """Install an SDK tracer provider exporting over OTLP HTTP; return False when not configured."""
    endpoint = settings.otlp_traces_endpoint
    if not endpoint:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


tracer = trace.get_tracer("butlers")
