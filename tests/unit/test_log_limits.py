"""Repeated identical log lines are rate-limited: a flood of one error cannot fill the disk."""

from __future__ import annotations

import io
import logging

import pytest
import structlog

from butlers.log_limits import BURST, RepeatFilter, RepeatLimiter, limit_repeats

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_one_error_keeps_a_burst_then_reports_how_many_were_dropped() -> None:
    clock = Clock()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RepeatFilter(RepeatLimiter(window_s=60, clock=clock)))
    handler.setFormatter(logging.Formatter("%(message)s %(suppressed_repeats)s", defaults={"suppressed_repeats": ""}))
    logger = logging.getLogger("test.flood")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for _ in range(10_000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                logger.exception("socket.accept() out of system resource")
        logger.error("another error")  # a different line is not held back
        clock.now = 61
        logger.exception("socket.accept() out of system resource", exc_info=OSError(24, "x"))
    finally:
        logger.removeHandler(handler)
    lines = [line for line in out.getvalue().splitlines() if line.startswith(("socket", "another"))]
    assert len(lines) == BURST + 2
    assert lines[-1].endswith(str(10_000 - BURST))


def test_informational_lines_are_never_limited() -> None:
    processor = limit_repeats(RepeatLimiter())
    for _ in range(100):
        assert processor(None, "info", {"event": "session finished"}) == {"event": "session finished"}
    kept = 0
    for _ in range(100):
        try:
            processor(None, "error", {"event": "could not claim"})
            kept += 1
        except structlog.DropEvent:
            pass
    assert kept == BURST
