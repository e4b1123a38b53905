"""A span per tool call, and secrets kept out of log lines."""

from __future__ import annotations

from pathlib import Path

import structlog
from fastmcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.telemetry import redact_secrets, register_secrets


def sdk_provider() -> TracerProvider:
    """The process's SDK provider (installing one if none is set yet: it can be set only once)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    return provider


async def test_every_tool_call_gets_a_span(tmp_path: Path, pg_address: ServerAddress, database: str) -> None:
    exporter = InMemorySpanExporter()
    sdk_provider().add_span_processor(SimpleSpanProcessor(exporter))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "butler.toml").write_text('[butler]\nname = "traced"\nport = 18150\n')
    butler = Butler(
        load_butler_config(tmp_path / "b"), Settings(data_dir=tmp_path / "d"), pg_address, database=database
    )
    mcp = await butler.start()
    try:
        async with Client(mcp) as client:
            await client.call_tool("state_set", {"key": "k", "value": 1})
            await client.call_tool("state_get", {"key": "k"})
    finally:
        await butler._shutdown()
    names = [s.name for s in exporter.get_finished_spans()]
    assert any("state_set" in n for n in names), names
    assert any("state_get" in n for n in names), names


def test_declared_secrets_never_reach_a_log_line() -> None:
    register_secrets(["sk-canary-0123456789"])
    event = redact_secrets(None, "info", {"event": "calling with sk-canary-0123456789", "n": 1})
    assert event == {"event": "calling with ***", "n": 1}
    captured = structlog.testing.LogCapture()
    structlog.configure(processors=[redact_secrets, captured])
    try:
        structlog.get_logger().info("token is sk-canary-0123456789 here")
    finally:
        structlog.reset_defaults()
    assert "sk-canary" not in str(captured.entries)
