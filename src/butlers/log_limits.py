"""Repeated identical log lines, rate-limited: a flood of one error must not fill the disk.

Under abuse (thousands of connections, a descriptor limit reached) asyncio and
uvicorn log the same error thousands of times a second. The first few of each
kind within a window are kept; the rest are counted, and the next line of that
kind after the window says how many were dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog

BURST = 5  # identical lines kept per window
WINDOW_S = 60.0
MAX_KEYS = 1024
LIMITED_METHODS = frozenset(
    {"warning", "warn", "error", "exception", "critical", "fatal"}
)  # distinct kinds remembered; beyond, the oldest are forgotten


class RepeatLimiter:
    """Counts lines by kind; `allow` says whether one more may be written, and how many were dropped."""

    def __init__(self, burst: int = BURST, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.burst, self.window_s, self.clock = burst, window_s, clock
        self._seen: dict[tuple[Any, ...], list[float]] = {}  # kind -> [window start, count, dropped]

    def allow(self, kind: tuple[Any, ...]) -> tuple[bool, int]:
        now = self.clock()
        entry = self._seen.get(kind)
        if entry is None or now - entry[0] >= self.window_s:
            dropped = int(entry[2]) if entry is not None else 0
            if entry is None and len(self._seen) >= MAX_KEYS:
                self._seen.pop(next(iter(self._seen)))
            self._seen[kind] = [now, 1, 0]
            return True, dropped
        entry[1] += 1
        if entry[1] <= self.burst:
            return True, 0
        entry[2] += 1
        return False, 0


class RepeatFilter(logging.Filter):
    """A stdlib filter: the same logger, message and exception type more than BURST times a window is dropped."""

    def __init__(self, limiter: RepeatLimiter | None = None) -> None:
        super().__init__()
        self.limiter = limiter or RepeatLimiter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
        keep, dropped = self.limiter.allow((record.name, record.levelno, str(record.msg)[:200], exc))
        if dropped:
            record.suppressed_repeats = dropped
        return keep


def limit_repeats(limiter: RepeatLimiter) -> Callable[[Any, str, MutableMapping[str, Any]], MutableMapping[str, Any]]:
    """The same as a structlog processor, for warnings and errors: more than BURST alike in a window are dropped."""

    def processor(_: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if method not in LIMITED_METHODS:  # informational lines are wanted every time
            return event
        keep, dropped = limiter.allow(("structlog", method, str(event.get("event"))[:200]))
        if not keep:
            raise structlog.DropEvent
        if dropped:
            event["suppressed_repeats"] = dropped
        return event

    return processor
