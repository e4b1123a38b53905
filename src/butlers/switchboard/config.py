"""`[modules.switchboard]` of the switchboard's butler.toml: routing rules and classification.

    [modules.switchboard]
    fallback = "general"                 # where a message goes when nothing else decides
    classify_model = "claude-haiku-4-5"  # the model of the one classification call
    allowed_senders = { email = ["me@example.org"] }

    [[modules.switchboard.rule]]         # tried in order; the first match wins
    name = "weight"
    butler = "health"
    keywords = ["weighed", "blood pressure"]   # any of them, whole words, any case
    patterns = ['\\b\\d+(\\.\\d+)?\\s?kg\\b']  # any of them (Python regex, case-insensitive)
    channels = ["telegram"]                    # only messages from these channels
    senders = ["@alice"]                       # only from these senders

A rule matches when every condition it gives holds: its channel is listed (if
`channels`), its sender is listed (if `senders`), and its text has a keyword or
a pattern (if either is given). A rule must give at least one condition.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from butlers.config import NAME_PATTERN

DEFAULT_CLASSIFY_MODEL = "claude-haiku-4-5"


class Rule(BaseModel):
    """One `[[modules.switchboard.rule]]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="Named in the routing log as the reason.")
    butler: str = Field(pattern=NAME_PATTERN, description="The butler a matching message goes to.")
    keywords: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    senders: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for i, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns[{i}] {pattern!r} is not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> Rule:
        if not (self.keywords or self.patterns or self.channels or self.senders):
            raise ValueError(f"rule '{self.name}' has no condition: give keywords, patterns, channels or senders")
        return self


class SwitchboardConfig(BaseModel):
    """`[modules.switchboard]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback: str = Field(
        default="general",
        pattern=NAME_PATTERN,
        description="The butler a message goes to when no rule matches and the model names no known butler.",
    )
    rule: list[Rule] = Field(default_factory=list, description="Routing rules, tried in order before the model.")
    classify: bool = Field(default=True, description="Ask the model when no rule matches (else: the fallback).")
    classify_model: str = Field(default=DEFAULT_CLASSIFY_MODEL, min_length=1)
    classify_timeout_s: float = Field(default=30.0, gt=0, le=300)
    classify_max_tokens: int = Field(default=512, ge=16, le=4096)
    allowed_senders: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Per channel, the only senders whose messages are dispatched; an unlisted channel is not "
        "filtered here (Telegram filters with its own allowed_chat_ids).",
    )
    follow_interval_s: float = Field(
        default=2.0, gt=0, le=600, description="How often a dispatched message's target sessions are checked."
    )

    @model_validator(mode="after")
    def _unique_rule_names(self) -> SwitchboardConfig:
        names = [r.name for r in self.rule]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"rule[{i}]: duplicate rule name '{name}'")
        return self
