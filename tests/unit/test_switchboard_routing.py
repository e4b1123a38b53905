"""Routing rules, the switchboard's config, reading a classification answer, and the agents' lockdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from butlers.config import load_butler_config
from butlers.core import agent_env
from butlers.errors import ConfigErrors
from butlers.modules.loader import load_modules
from butlers.switchboard.classify import parse_answer, price, system_prompt
from butlers.switchboard.config import Rule, SwitchboardConfig
from butlers.switchboard.rules import compile_rules, first_match, sender_listed

SHIPPED = Path(__file__).resolve().parents[2] / "butlers.d"


def rules(*specs: dict[str, object]) -> list:
    return compile_rules([Rule.model_validate(s) for s in specs])


def test_first_matching_rule_wins_and_keywords_are_whole_words_any_case() -> None:
    compiled = rules(
        {"name": "bp", "butler": "health", "keywords": ["blood pressure", "kg"]},
        {"name": "bday", "butler": "relationship", "keywords": ["birthday"]},
    )
    assert first_match(compiled, "My Blood Pressure was high", "mcp", "x").name == "bp"  # type: ignore[union-attr]
    assert first_match(compiled, "Anna's birthday, and 80 kg", "mcp", "x").name == "bp"  # type: ignore[union-attr]
    assert first_match(compiled, "background music", "mcp", "x") is None  # 'kg' inside a word
    assert first_match(compiled, "BIRTHDAY!", "mcp", "x").name == "bday"  # type: ignore[union-attr]


def test_channel_sender_and_pattern_conditions_must_all_hold() -> None:
    [rule] = rules({"name": "r", "butler": "health", "patterns": [r"\d+ ?kg"], "channels": ["telegram"],
                    "senders": ["@alice", "bob@example.org"]})  # fmt: skip
    assert rule.matches("80kg", "telegram", "@Alice")
    assert not rule.matches("80kg", "email", "@alice")
    assert not rule.matches("80kg", "telegram", "@mallory")
    assert not rule.matches("eighty", "telegram", "@alice")
    assert rule.matches("80 KG", "telegram", "Bob <BOB@example.org>")  # the address inside a From header


def test_allow_lists_compare_addresses_and_usernames() -> None:
    assert sender_listed("Me <me@example.org>", ["me@example.org"])
    assert sender_listed("@Owner", ["owner"]) and sender_listed("anyone", ["*"])
    assert not sender_listed("spam@example.com", ["me@example.org"])


def test_bad_rules_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="has no condition"):
        Rule.model_validate({"name": "empty", "butler": "health"})
    with pytest.raises(ValueError, match=r"patterns\[0\] '\(' is not a valid regular expression"):
        Rule.model_validate({"name": "bad", "butler": "health", "patterns": ["("]})
    with pytest.raises(ValueError, match="duplicate rule name 'a'"):
        SwitchboardConfig.model_validate({"rule": [{"name": "a", "butler": "x", "keywords": ["k"]}] * 2})


def test_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "sb").mkdir()
    (tmp_path / "sb" / "butler.toml").write_text(
        '[butler]\nname = "sb"\nport = 8100\n[modules.switchboard]\nfallback = "general"\n'
        '[[modules.switchboard.rule]]\nname = "r"\nbutler = "health"\npatterns = ["(unclosed"]\ncolour = "red"\n'
    )
    with pytest.raises(ConfigErrors) as caught:
        load_modules(load_butler_config(tmp_path / "sb"))
    text = str(caught.value)
    assert "sb/butler.toml: modules.switchboard.rule.0.patterns:" in text
    assert "sb/butler.toml: modules.switchboard.rule.0.colour: unknown key" in text


def test_the_shipped_switchboard_enables_routing() -> None:
    [module] = load_modules(load_butler_config(SHIPPED / "switchboard"))
    assert module.name == "switchboard" and module.config.fallback == "general"


def test_classification_answers_are_read_strictly() -> None:
    assert parse_answer('{"parts": [{"butler": "Health", "text": "81 kg"}]}') == (("health", "81 kg"),)
    fenced = '```json\n{"parts": [{"butler": "a", "text": "x"}, {"butler": "b", "text": "y"}]}\n```'
    assert parse_answer(fenced) == (("a", "x"), ("b", "y"))
    for nonsense in ("health", '{"parts": []}', '{"butler": "health"}', "{not json}", '{"parts": [{"butler": ""}]}'):
        assert parse_answer(nonsense) is None, nonsense
    assert "- health: Measurements" in system_prompt({"health": "Measurements"})
    assert price("claude-haiku-4-5", 1_000_000, 0) == 1.0 and price("unknown-model", 1, 1) is None


def test_only_the_switchboard_agent_may_route() -> None:
    banned = agent_env.disallowed_tools("general")
    assert {"mcp__general__route", "mcp__general__dispatch", "mcp__general__reroute"} <= set(banned)
    own = agent_env.disallowed_tools("switchboard", routes=True)
    assert "mcp__switchboard__route" not in own and "mcp__switchboard__trigger" in own
