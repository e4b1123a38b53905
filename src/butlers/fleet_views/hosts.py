"""Which butler of the fleet hosts a module: the pages of a module read that butler's database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from butlers.modules.base import Module

if TYPE_CHECKING:
    from butlers.butler import Butler

PREFERRED = {"switchboard": "switchboard", "notify": "switchboard", "relationship": "relationship", "health": "health"}


def hosts(fleet: Mapping[str, Butler], module: str) -> list[Butler]:
    """Every butler whose butler.toml enables `module`, the one named like it (or its usual host) first."""
    found = [b for _, b in sorted(fleet.items()) if module in b.config.modules]
    usual = PREFERRED.get(module, module)
    return sorted(found, key=lambda b: b.name != usual)


def started_module(butler: Butler, module: str) -> Module | None:
    """The butler's started module object called `module` (its config, its engine), if it has one."""
    return next((m for m in butler.modules if m.name == module), None)
