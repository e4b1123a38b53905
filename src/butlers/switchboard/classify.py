"""One short model call that splits a message into parts, each for one butler.

With ANTHROPIC_API_KEY it is one direct `POST $ANTHROPIC_BASE_URL/v1/messages`
(no agent, no tools): a few hundred tokens, one request. A subscription's
CLAUDE_CODE_OAUTH_TOKEN cannot call the Messages API directly, so with only
that credential the same prompt goes to a one-turn Claude Code query with no
tools at all (slower: a CLI start; see docs/configuration.md).

The answer is JSON: {"parts": [{"butler": "<name>", "text": "<its part>"}]}.
Anything else is reported as not understood; an HTTP error or timeout as down.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from butlers.core import agent_env
from butlers.switchboard.store import NO_USAGE, ClassifyVia, Usage

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
MAX_MESSAGE_CHARS = 8000  # of the message put in the prompt: routing needs the gist, not a whole mail thread
# List prices (USD per million tokens: input, output) by model-name prefix, for the routing log's cost.
PRICES = {
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
}


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    butler: str = Field(min_length=1)
    text: str = Field(min_length=1)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    parts: list[_Part] = Field(min_length=1)


@dataclass(frozen=True)
class Classification:
    """The model's parts (butler, text), or why there are none: `down` or `nonsense`."""

    parts: tuple[tuple[str, str], ...] = ()
    failure: str | None = None  # 'down' | 'nonsense' | 'no_credential'
    detail: str = ""
    usage: Usage = NO_USAGE


def system_prompt(butlers: Mapping[str, str]) -> str:
    listing = "\n".join(f"- {name}: {description or '(no description)'}" for name, description in butlers.items())
    return (
        "You route a user's message to the butlers (assistants) that should handle it.\n"
        f"Butlers:\n{listing}\n\n"
        "If the message concerns several butlers, split it: give each butler only the text that concerns it. "
        "Answer with JSON only, no prose:\n"
        '{"parts": [{"butler": "<butler name>", "text": "<the part of the message for it>"}]}'
    )


def user_prompt(text: str) -> str:
    cut = text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + " [...]"
    return f"Message:\n{cut}"


def parse_answer(text: str) -> tuple[tuple[str, str], ...] | None:
    """The parts of a model answer, or None when it is not the JSON asked for."""
    match = re.search(r"\{.*\}", text, re.DOTALL)  # tolerate a code fence or a word around the object
    if match is None:
        return None
    try:
        answer = _Answer.model_validate(json.loads(match.group(0)))
    except (ValueError, ValidationError):
        return None
    return tuple((p.butler.strip().lower(), p.text.strip()) for p in answer.parts)


def price(model: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
    for prefix, (per_in, per_out) in PRICES.items():
        if model.startswith(prefix) and input_tokens is not None and output_tokens is not None:
            return (input_tokens * per_in + output_tokens * per_out) / 1_000_000
    return None


class Classifier:
    """Classifies with the daemon's model credential (ANTHROPIC_API_KEY, else CLAUDE_CODE_OAUTH_TOKEN)."""

    def __init__(
        self, model: str, max_tokens: int, timeout_s: float, home: Path, model_env: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.home = home
        self.settings = agent_env.model_settings(model_env)
        self.requests = 0  # classification requests made (benchmarks read it)

    async def classify(self, text: str, butlers: Mapping[str, str]) -> Classification:
        if self.settings.get("ANTHROPIC_API_KEY"):
            return await self._messages_api(text, butlers)
        if self.settings.get("CLAUDE_CODE_OAUTH_TOKEN"):
            from butlers.switchboard.classify_cli import classify_with_claude_code

            self.requests += 1
            return await classify_with_claude_code(self, system_prompt(butlers), user_prompt(text))
        return Classification(failure="no_credential", detail="no model credential (ANTHROPIC_API_KEY or "
                              "CLAUDE_CODE_OAUTH_TOKEN) in the daemon's environment")  # fmt: skip

    async def _messages_api(self, text: str, butlers: Mapping[str, str]) -> Classification:
        base = self.settings.get("ANTHROPIC_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
        headers = {"x-api-key": self.settings["ANTHROPIC_API_KEY"], "anthropic-version": API_VERSION}
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system_prompt(butlers),
            "messages": [{"role": "user", "content": user_prompt(text)}],
        }
        started = time.perf_counter()
        self.requests += 1
        try:
            with anyio.fail_after(self.timeout_s):
                async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                    response = await client.post(f"{base}/v1/messages", json=body, headers=headers)
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            detail = f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else repr(exc)
            return Classification(failure="down", detail=f"model API unavailable: {detail}")
        elapsed = int((time.perf_counter() - started) * 1000)
        usage = answer.get("usage") or {}
        tokens_in, tokens_out = usage.get("input_tokens"), usage.get("output_tokens")
        figures = Usage(
            tokens_in, tokens_out, price(self.model, tokens_in, tokens_out), elapsed, ClassifyVia.MESSAGES_API
        )
        reply = "".join(b.get("text", "") for b in answer.get("content", []) if b.get("type") == "text")
        return self.result(reply, figures)

    @staticmethod
    def result(reply: str, usage: Usage) -> Classification:
        parts = parse_answer(reply)
        if parts is None:
            return Classification(failure="nonsense", detail=f"model answer not understood: {reply[:200]!r}",
                                  usage=usage)  # fmt: skip
        return Classification(parts=parts, usage=usage)
