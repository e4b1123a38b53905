"""Classification through a one-turn, tool-less Claude Code query: for a CLAUDE_CODE_OAUTH_TOKEN.

A subscription token is accepted by Claude Code, not by a direct Messages API
call; so the same prompt runs as one CLI turn with no tools, no MCP server and
an environment reduced to the model credential (the spawner's launcher).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
from claude_agent_sdk import AssistantMessage, ClaudeAgentOptions, ResultMessage, TextBlock, query

from butlers.core import agent_env
from butlers.switchboard.store import ClassifyVia, Usage

if TYPE_CHECKING:
    from butlers.switchboard.classify import Classification, Classifier


async def classify_with_claude_code(classifier: Classifier, system: str, prompt: str) -> Classification:
    from butlers.switchboard.classify import Classification

    agent_env.prepare_home(classifier.home)
    env = agent_env.child_env(classifier.settings, classifier.home, None)
    options = ClaudeAgentOptions(
        tools=[],
        allowed_tools=[],
        disallowed_tools=list(agent_env.BUILTIN_TOOLS),
        permission_mode="dontAsk",
        mcp_servers={},
        strict_mcp_config=True,
        setting_sources=[],
        system_prompt=system,
        cwd=str(classifier.home),
        cli_path=str(agent_env.launcher(classifier.home.parent / "bin", env, agent_env.bundled_cli())),
        env=env,
        model=classifier.model,
        max_turns=1,
        verbatim_prompts=True,
    )
    started = time.perf_counter()
    reply, result = "", None
    try:
        with anyio.fail_after(classifier.timeout_s):
            async for message in query(prompt=prompt, options=options):
                if isinstance(message, AssistantMessage):
                    reply += "".join(b.text for b in message.content if isinstance(b, TextBlock))
                elif isinstance(message, ResultMessage):
                    result = message
    except Exception as exc:  # the CLI failed or timed out: the model is as good as down
        return Classification(failure="down", detail=f"Claude Code classification failed: {exc!r}")
    if result is None or result.is_error:
        detail = result.result if result is not None else "no result"
        return Classification(failure="down", detail=f"Claude Code classification failed: {detail}")
    usage = result.usage or {}
    figures = Usage(usage.get("input_tokens"), usage.get("output_tokens"), result.total_cost_usd,
                    int((time.perf_counter() - started) * 1000), ClassifyVia.CLAUDE_CODE)  # fmt: skip
    return classifier.result(reply or result.result or "", figures)
