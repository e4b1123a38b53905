"""`health()` of a module that talks to an outside API: the API asked once, within a time limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


async def api_health(
    info: dict[str, Any],
    ask: Callable[[], Awaitable[T]] | None,
    unreachable: Callable[[Exception], str],
    report: Callable[[T], Awaitable[str | None]],
    timeout_s: float,
) -> dict[str, Any]:
    """`health()`'s answer with the module's `info`: "not started" while there is nothing to `ask`;
    `unreachable(exc)` when asking fails or takes over `timeout_s`; else the error `report` finds in
    the answer (it may add to `info`), or ok when it finds none."""
    if ask is None:
        return {"ok": False, "error": "not started", **info}
    try:
        with anyio.fail_after(timeout_s):
            answer = await ask()
    except Exception as exc:
        return {"ok": False, "error": unreachable(exc), **info}
    error = await report(answer)
    return {"ok": False, "error": error, **info} if error else {"ok": True, **info}
