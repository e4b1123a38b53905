"""A butler's tool lookup asks its one provider directly (a FastMCP transform).

FastMCP finds a tool by asking every provider of the server at once: a task
group with one task per provider, on every `tools/call`. A butler's server has
one provider (its local tools), so the task group buys nothing and costs
about a third of FastMCP's own work per call (a routed call looks up twice).
With one provider, asking it is the same lookup: the same transforms of that
provider, and FastMCP's enabled and auth checks still run on what it returns.
Anything else (more providers, a lookup by hashed name) goes the usual way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastmcp.server.providers.base import hashed_lookup_target
from fastmcp.server.transforms import GetToolNext, Transform

if TYPE_CHECKING:
    from fastmcp import FastMCP
    from fastmcp.tools.base import Tool
    from fastmcp.utilities.versions import VersionSpec


class DirectToolLookup(Transform):
    """`get_tool` of a one-provider server, without FastMCP's task group per lookup."""

    def __init__(self, mcp: FastMCP) -> None:
        self._mcp = mcp

    async def get_tool(self, name: str, call_next: GetToolNext, *, version: VersionSpec | None = None) -> Tool | None:
        providers = self._mcp.providers
        if len(providers) != 1 or hashed_lookup_target(self._mcp) is not None:
            return await call_next(name, version=version)
        return await providers[0].get_tool(name, version)
