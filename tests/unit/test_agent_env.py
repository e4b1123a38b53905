"""The pure parts of the agent lockdown: environment whitelist, launcher, tool rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import ResultMessage

from butlers.butler import check_credentials
from butlers.config import AgentConfig, ButlerConfig, EnvConfig
from butlers.core import agent_env
from butlers.core.agent_run import result_error as _result_error
from butlers.modules.base import EmptyConfig, Module


def config(tmp_path: Path) -> ButlerConfig:
    return ButlerConfig(
        name="general", description="", port=1, schedules=[], modules={}, directory=tmp_path,
        env=EnvConfig(required=["GENERAL_TOKEN"], optional=["GENERAL_OPTIONAL"]), agent=AgentConfig(),
    )  # fmt: skip


class ModuleWithSecret(Module):
    name = "secretive"
    credentials_env = ("MODULE_SECRET",)

    def register_tools(self, mcp: Any, ctx: Any) -> None:
        pass


def test_a_session_gets_only_declared_and_model_variables(tmp_path: Path) -> None:
    environ = {
        "ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://x", "GENERAL_TOKEN": "t",
        "MODULE_SECRET": "m", "OTHER_BUTLER_SECRET": "no", "AWS_SECRET_ACCESS_KEY": "no",
    }  # fmt: skip
    # What the Butler hands its Spawner, and what the Spawner adds.
    declared = check_credentials(config(tmp_path), [ModuleWithSecret(EmptyConfig())], environ)
    got = {**agent_env.model_settings(environ), **declared}
    assert got == {
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_BASE_URL": "http://x",
        "GENERAL_TOKEN": "t",
        "MODULE_SECRET": "m",
    }


def test_child_env_is_minimal(tmp_path: Path) -> None:
    env = agent_env.child_env({"ANTHROPIC_API_KEY": "k"}, tmp_path / "home", "00-" + "a" * 32 + "-" + "b" * 16 + "-01")
    assert env["HOME"] == str(tmp_path / "home") and env["CLAUDE_CONFIG_DIR"] == str(tmp_path / "home" / ".claude")
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1" and env["ENABLE_TOOL_SEARCH"] == "false"
    assert "TRACEPARENT" in env and env["PATH"] == "/usr/local/bin:/usr/bin:/bin"


def test_launcher_lists_names_only_and_is_content_addressed(tmp_path: Path) -> None:
    a = agent_env.launcher(tmp_path, {"ANTHROPIC_API_KEY": "sk-secret-value", "HOME": "/h"}, "/opt/claude")
    b = agent_env.launcher(tmp_path, ["HOME", "ANTHROPIC_API_KEY"], "/opt/claude")
    text = a.read_text()
    assert a == b and "sk-secret-value" not in text and "env -i" in text and 'HOME="${HOME}"' in text
    assert a.stat().st_mode & 0o777 == 0o700
    with pytest.raises(ValueError, match="not valid environment variable names"):
        agent_env.launcher(tmp_path, ["BAD NAME; rm -rf /"], "/opt/claude")


def test_tool_rules() -> None:
    assert agent_env.allowed_tools("general") == ["mcp__general"]
    banned = agent_env.disallowed_tools("general")
    assert {"Bash", "Read", "Write", "WebFetch", "Task", "mcp__general__trigger"} <= set(banned)


def result(**kw: object) -> ResultMessage:
    base: dict[str, object] = dict(
        subtype="success", duration_ms=1, duration_api_ms=1, is_error=False, num_turns=1, session_id="s"
    )
    return ResultMessage(**{**base, **kw})  # type: ignore[arg-type]


def test_result_errors_are_read_from_is_error_not_subtype() -> None:
    assert _result_error(result()) is None
    assert _result_error(result(is_error=True, api_error_status=529, result="API Error: overloaded")) == (
        "agent error (HTTP 529): API Error: overloaded"
    )
    assert "max turns" in (_result_error(result(subtype="error_max_turns", is_error=True, num_turns=20)) or "")
    assert "budget" in (_result_error(result(subtype="error_max_budget_usd", is_error=True)) or "")
