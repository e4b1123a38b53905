"""Where a message goes: the rules first, then one model classification, else the fallback."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from butlers.switchboard.classify import Classification, Classifier
from butlers.switchboard.config import SwitchboardConfig
from butlers.switchboard.rules import compile_rules, first_match
from butlers.switchboard.store import NO_USAGE, Decision, Origin, Part, ReasonKind

if TYPE_CHECKING:
    from butlers.butler import Butler


class Decider:
    """Turns a message into a Decision; never fails (the fallback takes what nothing else can)."""

    def __init__(
        self, config: SwitchboardConfig, fleet: Mapping[str, Butler], own_name: str, classifier: Classifier
    ) -> None:
        self.config = config
        self.fleet = fleet
        self.own_name = own_name
        self.classifier = classifier
        self.rules = compile_rules(config.rule)

    def targets(self) -> dict[str, str]:
        """Serving butlers a message can go to (not the switchboard itself), with their descriptions."""
        return {
            name: b.config.description
            for name, b in sorted(self.fleet.items())
            if name != self.own_name and b.phase == "serving"
        }

    async def decide(self, origin: Origin) -> Decision:
        rule = first_match(self.rules, origin.text, origin.channel, origin.sender)
        targets = self.targets()
        if rule is not None:
            if rule.butler in targets:
                return Decision((Part(rule.butler, origin.text, ReasonKind.RULE, f"rule '{rule.name}'"),))
            why = f"rule '{rule.name}' names butler '{rule.butler}', which is not serving"
            return self.fallback(origin, why)
        if not self.config.classify:
            return self.fallback(origin, "no rule matched (classification is off: classify = false)")
        result = await self.classifier.classify(origin.text, targets)
        return self.from_model(origin, result, targets)

    def from_model(self, origin: Origin, result: Classification, targets: Mapping[str, str]) -> Decision:
        if result.failure is not None:
            return self.fallback(origin, f"no rule matched; {result.detail}", result)
        parts: list[Part] = []
        for butler, text in result.parts:
            if butler in targets:
                parts.append(Part(butler, text, ReasonKind.MODEL, f"model ({self.classifier.model})"))
            else:
                why = f"the model named unknown butler '{butler}'"
                parts.append(Part(self.config.fallback, text, ReasonKind.FALLBACK, why))
        return Decision(tuple(_merge(parts)), result.usage)

    def fallback(self, origin: Origin, why: str, result: Classification | None = None) -> Decision:
        part = Part(self.config.fallback, origin.text, ReasonKind.FALLBACK, why)
        return Decision((part,), result.usage if result is not None else NO_USAGE)


def _merge(parts: list[Part]) -> list[Part]:
    """One part per butler: two parts for the same butler become one (texts joined, in order)."""
    merged: dict[str, Part] = {}
    for p in parts:
        seen = merged.get(p.butler)
        if seen is None:
            merged[p.butler] = p
        else:
            merged[p.butler] = Part(p.butler, f"{seen.text}\n{p.text}", seen.kind, seen.reason)
    return list(merged.values())
