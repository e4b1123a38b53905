"""The `notes` module: titled notes with tags, in the butler's own database.

Small on purpose: it proves the module path end to end (entry point, config
schema, its own migrations, tools with validated input). Enable it with

    [modules.notes]
    max_body_chars = 20000   # optional
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from butlers.modules.base import Module, ModuleContext
from butlers.modules.notes.tools import NotesTools

if TYPE_CHECKING:
    from fastmcp import FastMCP


class NotesConfig(BaseModel):
    """`[modules.notes]` of butler.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_chars: int = Field(default=20000, ge=1, le=1_000_000, description="Longest body notes_add accepts.")


class NotesModule(Module[NotesConfig]):
    """Notes with a title, a body and tags; searchable by text, listable by tag."""

    name = "notes"
    config_schema = NotesConfig
    migrations_dir = Path(__file__).parent / "migrations"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        NotesTools(ctx.pool, self.config.max_body_chars).register(mcp)
