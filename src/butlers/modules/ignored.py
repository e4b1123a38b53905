"""Senders a channel module ignores (not on its allow-list): counted, and the latest kept for `health()`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


class IgnoredSenders:
    """How many messages were ignored, and the last `keep` senders with their counts: what a channel
    module's `health()` shows, to help the owner fill the allow-list."""

    def __init__(self, keep: int) -> None:
        self.count = 0
        self.keep = keep
        self._by_sender: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, sender: Mapping[str, Any], **latest: Any) -> None:
        """One more message ignored from `sender` (the fields naming it); `latest`: fields that may change."""
        self.count += 1
        key = tuple(sender.values())
        seen = self._by_sender.pop(key, None) or {**sender, "count": 0}
        seen["count"] += 1
        seen.update(latest, last_at=datetime.now(UTC).isoformat())
        self._by_sender[key] = seen  # most recent last
        while len(self._by_sender) > self.keep:
            del self._by_sender[next(iter(self._by_sender))]

    def recent(self) -> list[dict[str, Any]]:
        """The senders kept, most recent first."""
        return list(reversed(self._by_sender.values()))
