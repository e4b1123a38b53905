"""The real Claude Code CLI, driven by the model stand-in, stores and reads back through each domain butler.

Each test runs a real butler (HTTP, embedded PostgreSQL, spawner) whose model credential
and endpoint point at the stand-in; the session is triggered over MCP like a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from domain_helpers import call, live_butler
from fastmcp import Client

from butlers.testing.model_api import ModelApiStandIn, Text, ToolUse, Turn
from butlers.testing.postgres import TestPostgres


def point_at(api: ModelApiStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    # The spawner takes the model credential and endpoint from the daemon's environment.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("CLAUDE_CODE_MAX_RETRIES", "0")


async def test_i_weighed_81_2_kg_ends_as_a_weight_measurement(
    pg: TestPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script: list[Turn] = [
        ToolUse("mcp__health__health_measurement_add", {"kind": "weight", "value": 81.2, "unit": "kg", "at": "now"}),
        ToolUse("mcp__health__health_measurement_list", {"kind": "weight", "days": 1}),
        Text("Recorded: 81.2 kg this morning."),
    ]
    async with ModelApiStandIn(script) as api:
        point_at(api, monkeypatch)
        with live_butler(pg, tmp_path / "butlers.d" / "health", "health", "[modules.health]\n") as live:
            async with Client(live.url, timeout=120) as client:
                out = await call(client, "trigger", prompt="I weighed 81.2 kg this morning", wait=True)
            stored = live.portal.call(
                lambda: live.butler.pool.fetchrow("SELECT kind, value, unit FROM health_measurements")
            )
    assert out["status"] == "succeeded", out.get("error")
    assert out["result"] == "Recorded: 81.2 kg this morning."
    assert stored is not None and (stored["kind"], stored["value"], stored["unit"]) == ("weight", 81.2, "kg")
    assert "mcp__health__health_trend" in api.tool_names(0)
    added, listed = api.tool_results()
    read_back = json.loads(listed["content"][0]["text"] if isinstance(listed["content"], list) else listed["content"])
    readings = read_back["result"] if isinstance(read_back, dict) else read_back
    assert [(m["kind"], m["value"], m["unit"]) for m in readings] == [("weight", 81.2, "kg")]
    assert not added.get("is_error") and not listed.get("is_error")


async def test_remember_my_bikes_frame_size_ends_as_an_entity(
    pg: TestPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script: list[Turn] = [
        ToolUse("mcp__general__collections_create", {"name": "Gear"}),
        ToolUse(
            "mcp__general__collections_entity_add",
            {"collection": "Gear", "title": "Bike", "attributes": {"frame_size": "56 cm"}, "tags": ["bike"]},
        ),
        ToolUse("mcp__general__collections_search", {"query": "frame_size"}),
        Text("Noted: your bike's frame size is 56 cm."),
    ]
    modules = "[modules.notes]\n\n[modules.collections]\n"
    async with ModelApiStandIn(script) as api:
        point_at(api, monkeypatch)
        with live_butler(pg, tmp_path / "butlers.d" / "general", "general", modules) as live:
            async with Client(live.url, timeout=120) as client:
                out = await call(client, "trigger", prompt="Remember my bike's frame size: 56 cm", wait=True)
                found = await call(client, "collections_search", query="bike")
    assert out["status"] == "succeeded", out.get("error")
    assert [(e["collection"], e["title"], e["attributes"]) for e in found] == [
        ("Gear", "Bike", {"frame_size": "56 cm"})
    ]
    *_, searched = api.tool_results()
    assert "56 cm" in json.dumps(searched["content"]) and not searched.get("is_error")
