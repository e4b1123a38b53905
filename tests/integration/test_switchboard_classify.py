"""Classification with each credential kind, against the model stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from butlers.switchboard.classify import Classifier
from butlers.testing.model_api import ModelApiStandIn, classification_answer

pytestmark = pytest.mark.integration

BUTLERS = {"health": "Measurements", "relationship": "Birthdays"}


async def test_an_api_key_classifies_with_one_direct_messages_call(tmp_path: Path) -> None:
    async with ModelApiStandIn() as api:
        api.push_classification(classification_answer(("health", "81 kg"), ("relationship", "Anna")))
        env = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": api.base_url}
        result = await Classifier("claude-haiku-4-5", 256, 10, tmp_path / "home", model_env=env).classify(
            "81 kg, and Anna's birthday", BUTLERS
        )
    assert result.parts == (("health", "81 kg"), ("relationship", "Anna"))
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.via) == (180, 40, "messages_api")
    [request] = api.classifications
    assert request["model"] == "claude-haiku-4-5" and request["max_tokens"] == 256 and "tools" not in request
    assert api.headers[0]["x-api-key"] == "sk-test"


async def test_an_oauth_token_classifies_through_one_tool_less_claude_code_turn(tmp_path: Path) -> None:
    async with ModelApiStandIn() as api:
        api.push(classification_answer(("relationship", "Anna's birthday")))  # Claude Code streams: main script
        env = {"CLAUDE_CODE_OAUTH_TOKEN": "oauth-test-token", "ANTHROPIC_BASE_URL": api.base_url,
               "CLAUDE_CODE_MAX_RETRIES": "0"}  # fmt: skip
        result = await Classifier("claude-haiku-4-5", 256, 60, tmp_path / "home", model_env=env).classify(
            "Anna's birthday is on Friday", BUTLERS
        )
    assert result.failure is None, result.detail
    assert result.parts == (("relationship", "Anna's birthday"),) and result.usage.via == "claude_code"
    assert not api.classifications and len(api.requests) == 1  # one model request, no direct API call
    assert api.tool_names(0) == []  # no tools at all
    assert "oauth-test-token" in api.headers[0].get("authorization", "")
