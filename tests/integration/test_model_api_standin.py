"""The Messages API stand-in drives the real bundled Claude Code CLI.

A tiny FastMCP server is the only MCP server; the stand-in scripts the model.
These tests pin down the lockdown facts the spawner relies on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query
from fastmcp import FastMCP

from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import ApiError, ModelApiStandIn, Reply, Text, ToolUse, Turn, Usage, model_api_fixture

pytestmark = pytest.mark.integration


def general_server(calls: list[tuple[str, int]]) -> FastMCP:
    mcp: FastMCP = FastMCP("general")

    @mcp.tool
    def state_set(key: str, value: int) -> str:
        """Store a value."""
        calls.append((key, value))
        return f"stored {key}"

    return mcp


def options(api: ModelApiStandIn, mcp_url: str, home: Path, **extra: Any) -> ClaudeAgentOptions:
    home.mkdir(exist_ok=True)
    return ClaudeAgentOptions(
        mcp_servers={"general": {"type": "http", "url": mcp_url}},
        tools=[],
        allowed_tools=["mcp__general"],
        disallowed_tools=["Bash", "Read", "Write", "Edit", "WebFetch", "WebSearch", "Task"],
        permission_mode="dontAsk",
        strict_mcp_config=True,
        setting_sources=[],
        system_prompt="You are the general butler.",
        cwd=str(home),
        env={
            **api.env(),
            "HOME": str(home),
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "CLAUDE_CODE_MAX_RETRIES": "0",
        },
        **extra,
    )


async def run(prompt: str, opts: ClaudeAgentOptions) -> tuple[list[Any], ResultMessage | None]:
    messages: list[Any] = []
    try:
        async for m in query(prompt=prompt, options=opts):
            messages.append(m)
    except Exception:  # the SDK raises after an error result; the result is what we check
        pass
    results = [m for m in messages if isinstance(m, ResultMessage)]
    return messages, results[-1] if results else None


async def test_tool_called_over_mcp_and_only_butler_tools_offered(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    script: list[Turn] = [
        ToolUse("mcp__general__state_set", {"key": "k", "value": 1}, usage=Usage(120, 30, 5, 7)),
        Text("done", usage=Usage(200, 10)),
    ]
    async with serve_asgi(general_server(calls).http_app(path="/mcp")) as url, ModelApiStandIn(script) as api:
        _, result = await run("store k", options(api, f"{url}/mcp", tmp_path / "home"))

    assert calls == [("k", 1)]
    assert result is not None and not result.is_error and result.result == "done"
    assert api.tool_names(0) == ["mcp__general__state_set"]  # no Bash, Read, ... no placeholder
    assert "You are the general butler." in api.system_text(0)
    assert api.requests[0]["stream"] is True
    [tool_result] = api.tool_results()
    assert "stored k" in str(tool_result["content"])
    assert result.usage is not None
    assert result.usage["input_tokens"] == 320 and result.usage["output_tokens"] == 40
    assert result.usage["cache_read_input_tokens"] == 5 and result.usage["cache_creation_input_tokens"] == 7
    assert result.total_cost_usd and result.total_cost_usd > 0
    assert len(api.requests) == 2  # nothing else (no title request) was sent


async def test_builtin_and_foreign_tools_are_refused(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    marker = tmp_path / "pwned"
    script: list[Turn] = [
        Reply(
            (
                ToolUse("Bash", {"command": f"touch {marker}"}),
                ToolUse("mcp__other__state_set", {"key": "x", "value": 2}),
            )
        ),
        Text("done"),
    ]
    async with serve_asgi(general_server(calls).http_app(path="/mcp")) as url, ModelApiStandIn(script) as api:
        _, result = await run("try", options(api, f"{url}/mcp", tmp_path / "home"))

    assert result is not None and result.result == "done"
    refusals = api.tool_results()
    assert [r.get("is_error") for r in refusals] == [True, True]
    assert "No such tool available" in str(refusals[0]["content"])
    assert not marker.exists() and calls == []


async def test_api_error_is_an_error_result(tmp_path: Path) -> None:
    async with serve_asgi(general_server([]).http_app(path="/mcp")) as url, ModelApiStandIn([ApiError(529, "overloaded_error")]) as api:  # fmt: skip
        _, result = await run("hi", options(api, f"{url}/mcp", tmp_path / "home"))
    # An API error ends as subtype 'success' with is_error set: read is_error.
    assert result is not None and result.is_error and result.api_error_status == 529


async def test_sdk_passes_the_parent_environment_to_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the spawner needs its launcher: options.env is merged over os.environ."""
    monkeypatch.setenv("BUTLERS_TEST_CANARY", "canary-7f3a")
    probe = tmp_path / "probe.sh"
    dump = tmp_path / "env.txt"
    probe.write_text(f"#!/bin/sh\nenv > {dump}\nexit 1\n")
    probe.chmod(0o700)
    async with ModelApiStandIn([]) as api:
        await run("hi", options(api, "http://127.0.0.1:9/mcp", tmp_path / "home", cli_path=str(probe)))
    assert "BUTLERS_TEST_CANARY=canary-7f3a" in dump.read_text()
    assert os.environ["BUTLERS_TEST_CANARY"] == "canary-7f3a"


model_api = model_api_fixture()


async def test_wire_format_without_the_cli(model_api: ModelApiStandIn) -> None:
    """Non-streamed JSON, SSE event order, callable turns, scripted errors, count_tokens."""

    def echo_tools(body: dict[str, Any]) -> Turn:
        return Text(",".join(t["name"] for t in body.get("tools", [])))

    model_api.push(ToolUse("t", {"a": 1}, usage=Usage(7, 3)), echo_tools, ApiError(529, "overloaded_error"))
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "tools": [{"name": "x"}]}
    async with httpx.AsyncClient(base_url=model_api.base_url) as http:
        streamed = await http.post("/v1/messages?beta=true", json={**body, "stream": True})
        plain = (await http.post("/v1/messages", json=body)).json()
        failed = await http.post("/v1/messages", json=body)
        counted = (await http.post("/v1/messages/count_tokens", json=body)).json()
    events = [line.split(": ", 1)[1] for line in streamed.text.splitlines() if line.startswith("event: ")]
    assert events == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert '"partial_json": "{\\"a\\": 1}"' in streamed.text and '"stop_reason": "tool_use"' in streamed.text
    assert plain["content"] == [{"type": "text", "text": "x"}] and plain["stop_reason"] == "end_turn"
    assert failed.status_code == 529 and failed.json()["error"]["type"] == "overloaded_error"
    assert counted == {"input_tokens": 100} and len(model_api.requests) == 3 and model_api.exhausted == 0
