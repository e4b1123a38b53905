"""Routing rules: keywords, patterns, channel and sender → butler; the first match wins. No model call."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr

from butlers.switchboard.config import Rule


def sender_keys(sender: str) -> set[str]:
    """The forms a sender can be listed under: as given, and its bare e-mail address or @username."""
    keys = {sender.strip().lower()}
    _, address = parseaddr(sender)
    if "@" in address and not address.startswith("@"):
        keys.add(address.lower())
    if sender.startswith("@"):
        keys.add(sender[1:].lower())
    return keys


def sender_listed(sender: str, listed: list[str]) -> bool:
    wanted = {s.strip().lower() for s in listed}
    return "*" in wanted or bool(sender_keys(sender) & wanted)


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    words: re.Pattern[str] | None
    patterns: tuple[re.Pattern[str], ...]

    def matches(self, text: str, channel: str, sender: str) -> bool:
        r = self.rule
        if r.channels and channel not in r.channels:
            return False
        if r.senders and not sender_listed(sender, r.senders):
            return False
        if self.words is None and not self.patterns:
            return True
        return bool((self.words and self.words.search(text)) or any(p.search(text) for p in self.patterns))


def compile_rules(rules: list[Rule]) -> list[CompiledRule]:
    out = []
    for r in rules:
        words = None
        if r.keywords:
            # Whole words (or phrases), any case: "kg" must not match "background".
            alternatives = "|".join(re.escape(k.strip()) for k in r.keywords)
            words = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        out.append(CompiledRule(r, words, tuple(re.compile(p, re.IGNORECASE) for p in r.patterns)))
    return out


def first_match(rules: list[CompiledRule], text: str, channel: str, sender: str) -> Rule | None:
    for compiled in rules:
        if compiled.matches(text, channel, sender):
            return compiled.rule
    return None
