"""The `collections` module: a catch-all memory of named collections and their entities.

"Remember my bike's frame size": an entity titled "Bike" in a collection "Gear",
with attributes {"frame_size": "56 cm"} and tags. Enable it with

    [modules.collections]
    max_attributes_bytes = 65536   # optional
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from butlers.modules.argument_errors import add_tools
from butlers.modules.base import Module, ModuleContext
from butlers.modules.collections.tools import CollectionTools

if TYPE_CHECKING:
    from fastmcp import FastMCP


class CollectionsConfig(BaseModel):
    """`[modules.collections]` of butler.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attributes_bytes: int = Field(
        default=65536, ge=64, le=10_000_000, description="Largest attributes object (as JSON) an entity may hold."
    )


class CollectionsModule(Module[CollectionsConfig]):
    """Collections of entities with a title, free JSON attributes and tags; searchable and exportable."""

    name = "collections"
    config_schema = CollectionsConfig
    migrations_dir = Path(__file__).parent / "migrations"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        tools = CollectionTools(ctx.pool, self.config.max_attributes_bytes)
        add_tools(mcp, tools.all())
