"""Finding a service that a started module offers to the whole daemon, through `Butler.fleet`.

Delivery (`notifier`, the notify module) and approval prompts (`approval_prompter`, the
Telegram module with an owner chat) live on one butler of the daemon, normally the
switchboard, and are reached in-process: the named butler's modules are asked first, then
every butler's, so the service works wherever it is enabled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from butlers.butler import Butler


def offered_service(fleet: Mapping[str, Butler], attribute: str, *, first: str) -> Any | None:
    """The first module's non-None `attribute`, the modules of butler `first` before all others'."""
    preferred = fleet.get(first)
    for butler in [*([preferred] if preferred else []), *fleet.values()]:
        for module in butler.modules:
            service = getattr(module, attribute, None)
            if service is not None:
                return service
    return None
