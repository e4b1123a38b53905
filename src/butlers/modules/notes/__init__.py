"""The `notes` module: titled notes with tags, in the butler's own database.

Small on purpose: it proves the module path end to end (entry point, config
schema, its own migrations, tools with validated input). Enable it with

    [modules.notes]
    max_body_chars = 20000   # optional
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import Module, ModuleContext

if TYPE_CHECKING:
    from fastmcp import FastMCP

MAX_TITLE = 200
MAX_TAGS = 20
MAX_TAG = 64
MAX_LIMIT = 200
_COLUMNS = "id, title, body, tags, created_at, updated_at"

NoteId = Annotated[int, Field(description="The note's id, as returned by notes_add or notes_list.")]
Limit = Annotated[int, Field(description=f"How many notes at most (1-{MAX_LIMIT}), newest first.")]


class NotesConfig(BaseModel):
    """`[modules.notes]` of butler.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_chars: int = Field(default=20000, ge=1, le=1_000_000, description="Longest body notes_add accepts.")


def _row(record: asyncpg.Record) -> dict[str, Any]:
    note = dict(record)
    note["created_at"] = note["created_at"].isoformat()
    note["updated_at"] = note["updated_at"].isoformat()
    return note


def _clean_title(tool: str, title: str) -> str:
    title = title.strip()
    if not title:
        raise bad_argument(tool, "title", "must not be empty")
    if len(title) > MAX_TITLE:
        raise bad_argument(tool, "title", f"is {len(title)} characters long; at most {MAX_TITLE} allowed")
    return title


def _clean_tag(tool: str, argument: str, tag: str) -> str:
    tag = tag.strip().lower()  # tags compare case-insensitively: "Groceries" finds "groceries"
    if not tag:
        raise bad_argument(tool, argument, "a tag must not be empty")
    if len(tag) > MAX_TAG:
        raise bad_argument(tool, argument, f"tag '{tag[:20]}...' is longer than {MAX_TAG} characters")
    return tag


def _clean_tags(tool: str, tags: list[str] | None) -> list[str]:
    if not tags:
        return []
    if len(tags) > MAX_TAGS:
        raise bad_argument(tool, "tags", f"{len(tags)} tags given; at most {MAX_TAGS} allowed")
    return list(dict.fromkeys(_clean_tag(tool, "tags", t) for t in tags))


def _check_limit(tool: str, limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_argument(tool, "limit", f"must be between 1 and {MAX_LIMIT}, got {limit}")


def _check_id(tool: str, note_id: int) -> None:
    if note_id < 1:
        raise bad_argument(tool, "id", f"must be a positive note id, got {note_id}")


def _like_pattern(text: str) -> str:
    # The user's own % and _ are literal characters, not wildcards.
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class NotesModule(Module):
    """Notes with a title, a body and tags; searchable by text, listable by tag."""

    name = "notes"
    config_schema = NotesConfig
    migrations_dir = Path(__file__).parent / "migrations"

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        assert isinstance(self.config, NotesConfig)
        max_body = self.config.max_body_chars
        pool = ctx.pool

        # The functions carry the tool names, so FastMCP's own type errors name the tool too.
        async def notes_add(title: str, body: str = "", tags: list[str] | None = None) -> dict[str, Any]:
            """Store a new note. Tags are lower-cased; returns the note with its id."""
            clean_title = _clean_title("notes_add", title)
            if len(body) > max_body:
                raise bad_argument("notes_add", "body", f"is {len(body)} characters long; at most {max_body} allowed")
            clean_tags = _clean_tags("notes_add", tags)
            record = await pool.fetchrow(
                f"INSERT INTO notes (title, body, tags) VALUES ($1, $2, $3) RETURNING {_COLUMNS}",
                clean_title,
                body,
                clean_tags,
            )
            assert record is not None
            return _row(record)

        async def notes_list(tag: str | None = None, limit: Limit = 20) -> list[dict[str, Any]]:
            """List notes, newest first, optionally only those carrying `tag`."""
            _check_limit("notes_list", limit)
            if tag is None:
                records = await pool.fetch(f"SELECT {_COLUMNS} FROM notes ORDER BY id DESC LIMIT $1", limit)
            else:
                clean = _clean_tag("notes_list", "tag", tag)
                records = await pool.fetch(
                    f"SELECT {_COLUMNS} FROM notes WHERE tags @> ARRAY[$1]::text[] ORDER BY id DESC LIMIT $2",
                    clean,
                    limit,
                )
            return [_row(r) for r in records]

        async def notes_get(id: NoteId) -> dict[str, Any]:
            """One note by id."""
            _check_id("notes_get", id)
            record = await pool.fetchrow(f"SELECT {_COLUMNS} FROM notes WHERE id = $1", id)
            if record is None:
                raise bad_argument("notes_get", "id", f"no note with id {id}")
            return _row(record)

        async def notes_search(query: str, limit: Limit = 20) -> list[dict[str, Any]]:
            """Notes whose title or body contains `query` (case-insensitive), newest first."""
            text = query.strip()
            if not text:
                raise bad_argument("notes_search", "query", "must not be empty")
            if len(text) > MAX_TITLE:
                raise bad_argument("notes_search", "query", f"is longer than {MAX_TITLE} characters")
            _check_limit("notes_search", limit)
            records = await pool.fetch(
                f"SELECT {_COLUMNS} FROM notes WHERE title ILIKE $1 OR body ILIKE $1 ORDER BY id DESC LIMIT $2",
                _like_pattern(text),
                limit,
            )
            return [_row(r) for r in records]

        async def notes_delete(id: NoteId) -> dict[str, Any]:
            """Delete one note by id; returns the id deleted."""
            _check_id("notes_delete", id)
            deleted = await pool.fetchval("DELETE FROM notes WHERE id = $1 RETURNING id", id)
            if deleted is None:
                raise bad_argument("notes_delete", "id", f"no note with id {id}")
            return {"deleted": deleted}

        for tool in (notes_add, notes_list, notes_get, notes_search, notes_delete):
            mcp.tool(tool, name=tool.__name__)
