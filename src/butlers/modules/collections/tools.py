"""The collections tools: one short method per tool; collections are named, entities have ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import asyncpg
from pydantic import BaseModel, Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.collections.models import Collection, CollectionExport, Deleted, Entity

MAX_TAGS, MAX_TAG, MAX_KEY = 20, 64, 100
Name = Annotated[str, Field(min_length=1, max_length=100, description="The collection's name (case-insensitive).")]
EntityId = Annotated[int, Field(ge=1, description="The entity's id, as returned by add, search or export.")]
Title = Annotated[str, Field(min_length=1, max_length=300, description="What the entity is, e.g. 'Road bike'.")]
Attributes = Annotated[
    dict[str, Any] | None, Field(description='Free JSON facts, e.g. {"frame_size": "56 cm", "bought": 2021}.')
]
Tags = Annotated[list[str] | None, Field(max_length=MAX_TAGS, description="Tags, compared in lower case.")]
Limit = Annotated[int, Field(ge=1, le=500, description="How many entities at most, newest first.")]
RecordT = TypeVar("RecordT", bound=BaseModel)
_COLLECTION = """SELECT c.id, c.name, c.description, c.created_at, c.updated_at,
    (SELECT count(*) FROM collection_entities e WHERE e.collection_id = c.id) AS entities FROM collections c"""
_ENTITY = """SELECT e.id, c.name AS collection, e.title, e.attributes, e.tags, e.created_at, e.updated_at
    FROM collection_entities e JOIN collections c ON c.id = e.collection_id"""


def _from_row(model: type[RecordT], r: asyncpg.Record) -> RecordT:
    """`model` from a row of `_COLLECTION` or `_ENTITY` (its columns are the model's fields); times as ISO text."""
    return model.model_validate({**dict(r), "created_at": r["created_at"].isoformat(),
                                 "updated_at": r["updated_at"].isoformat()})  # fmt: skip


def clean_text(tool: str, argument: str, text: str) -> str:
    text = text.strip()
    if not text:
        raise bad_argument(tool, argument, "must not be empty")
    return text


def clean_tags(tool: str, argument: str, tags: list[str] | None) -> list[str]:
    out: list[str] = []
    for tag in tags or []:
        clean = tag.strip().lower()  # "Bikes" finds "bikes"
        if not clean or len(clean) > MAX_TAG:
            raise bad_argument(tool, argument, f"each tag must be 1-{MAX_TAG} characters")
        out.append(clean)
    return list(dict.fromkeys(out))


def like(text: str) -> str:
    # The user's own % and _ are literal characters, not wildcards.
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class CollectionTools:
    def __init__(self, pool: asyncpg.Pool, max_attributes_bytes: int) -> None:
        self.pool = pool
        self.max_attributes_bytes = max_attributes_bytes

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.collections_create,
            self.collections_list,
            self.collections_rename,
            self.collections_delete,
            self.collections_entity_add,
            self.collections_entity_update,
            self.collections_entity_get,
            self.collections_entity_delete,
            self.collections_search,
            self.collections_export,
        ]

    def _attributes(self, tool: str, attributes: dict[str, Any] | None) -> dict[str, Any]:
        attributes = attributes or {}
        if any(not k.strip() or len(k) > MAX_KEY for k in attributes):
            raise bad_argument(tool, "attributes", f"each key must be 1-{MAX_KEY} characters")
        if len(json.dumps(attributes)) > self.max_attributes_bytes:
            raise bad_argument(tool, "attributes", f"is larger than {self.max_attributes_bytes} bytes as JSON")
        return attributes

    async def _collection_id(self, tool: str, argument: str, name: str) -> int:
        found: int | None = await self.pool.fetchval(
            "SELECT id FROM collections WHERE lower(name) = lower($1)", name.strip()
        )
        if found is None:
            raise bad_argument(tool, argument, f"no collection named '{name.strip()}' (see collections_list)")
        return found

    async def _get_collection(self, id: int) -> Collection:
        record = await self.pool.fetchrow(f"{_COLLECTION} WHERE c.id = $1", id)
        assert record is not None
        return _from_row(Collection, record)

    async def _get_entity(self, tool: str, id: int) -> Entity:
        record = await self.pool.fetchrow(f"{_ENTITY} WHERE e.id = $1", id)
        if record is None:
            raise bad_argument(tool, "id", f"no entity with id {id}")
        return _from_row(Entity, record)

    async def collections_create(
        self, name: Name, description: Annotated[str, Field(max_length=1000)] = ""
    ) -> Collection:
        """Create a collection (e.g. 'Gear', 'Books to read', 'Recipes')."""
        clean = clean_text("collections_create", "name", name)
        try:
            new_id = await self.pool.fetchval(
                "INSERT INTO collections (name, description) VALUES ($1, $2) RETURNING id", clean, description.strip()
            )
        except asyncpg.UniqueViolationError:
            raise bad_argument("collections_create", "name", f"a collection named '{clean}' exists") from None
        return await self._get_collection(new_id)

    async def collections_list(self) -> list[Collection]:
        """Every collection with its number of entities, by name."""
        return [_from_row(Collection, r) for r in await self.pool.fetch(f"{_COLLECTION} ORDER BY lower(c.name)")]

    async def collections_rename(self, collection: Name, new_name: Name) -> Collection:
        """Rename a collection; its entities stay in it."""
        tool = "collections_rename"
        id = await self._collection_id(tool, "collection", collection)
        clean = clean_text(tool, "new_name", new_name)
        try:
            await self.pool.execute("UPDATE collections SET name = $2, updated_at = now() WHERE id = $1", id, clean)
        except asyncpg.UniqueViolationError:
            raise bad_argument(tool, "new_name", f"a collection named '{clean}' exists") from None
        return await self._get_collection(id)

    async def collections_delete(
        self,
        collection: Name,
        force: Annotated[bool, Field(description="Also delete its entities when it is not empty.")] = False,
    ) -> Deleted:
        """Delete a collection. One holding entities is deleted only with force=true (entities too)."""
        tool = "collections_delete"
        id = await self._collection_id(tool, "collection", collection)
        async with self.pool.acquire() as conn, conn.transaction():
            count = await conn.fetchval("SELECT count(*) FROM collection_entities WHERE collection_id = $1", id)
            if count and not force:
                raise bad_argument(tool, "force", f"the collection holds {count} entities; pass force=true")
            await conn.execute("DELETE FROM collections WHERE id = $1", id)
        return Deleted(deleted=id, entities_deleted=count)

    async def collections_entity_add(
        self, collection: Name, title: Title, attributes: Attributes = None, tags: Tags = None
    ) -> Entity:
        """Add an entity to a collection: a title, free JSON attributes and tags."""
        tool = "collections_entity_add"
        id = await self._collection_id(tool, "collection", collection)
        clean = clean_text(tool, "title", title)
        attrs, clean_tag_list = self._attributes(tool, attributes), clean_tags(tool, "tags", tags)
        new_id = await self.pool.fetchval(
            "INSERT INTO collection_entities (collection_id, title, attributes, tags) VALUES ($1, $2, $3, $4)"
            " RETURNING id",
            id,
            clean,
            attrs,
            clean_tag_list,
        )
        return await self._get_entity(tool, new_id)

    async def collections_entity_update(
        self,
        id: EntityId,
        title: Title | None = None,
        attributes: Annotated[
            dict[str, Any] | None,
            Field(description="Merged into the entity's attributes; a key set to null is removed."),
        ] = None,
        tags: Annotated[list[str] | None, Field(max_length=MAX_TAGS, description="Replace the tags.")] = None,
        collection: Annotated[str | None, Field(max_length=100, description="Move it to this collection.")] = None,
    ) -> Entity:
        """Change an entity: its title, some attributes (merged), its tags, or its collection."""
        tool = "collections_entity_update"
        current = await self._get_entity(tool, id)
        new_title = None if title is None else clean_text(tool, "title", title)
        merged = None
        if attributes is not None:
            merged = {k: v for k, v in {**current.attributes, **attributes}.items() if v is not None}
            merged = self._attributes(tool, merged)
        new_tags = None if tags is None else clean_tags(tool, "tags", tags)
        target = None if collection is None else await self._collection_id(tool, "collection", collection)
        await self.pool.execute(
            "UPDATE collection_entities SET title = coalesce($2, title), attributes = coalesce($3, attributes),"
            " tags = coalesce($4, tags), collection_id = coalesce($5, collection_id), updated_at = now()"
            " WHERE id = $1",
            id,
            new_title,
            merged,
            new_tags,
            target,
        )
        return await self._get_entity(tool, id)

    async def collections_entity_get(self, id: EntityId) -> Entity:
        """One entity by id."""
        return await self._get_entity("collections_entity_get", id)

    async def collections_entity_delete(self, id: EntityId) -> Deleted:
        """Delete one entity by id."""
        deleted = await self.pool.fetchval("DELETE FROM collection_entities WHERE id = $1 RETURNING id", id)
        if deleted is None:
            raise bad_argument("collections_entity_delete", "id", f"no entity with id {id}")
        return Deleted(deleted=deleted)

    async def collections_search(
        self,
        query: Annotated[
            str | None, Field(max_length=200, description="Text found in the title or the attributes.")
        ] = None,
        tags: Annotated[
            list[str] | None, Field(max_length=MAX_TAGS, description="Entities carrying all these tags.")
        ] = None,
        collection: Annotated[str | None, Field(max_length=100, description="Only in this collection.")] = None,
        limit: Limit = 50,
    ) -> list[Entity]:
        """Search entities across collections by text (title and attributes, case-insensitive) and tags."""
        tool = "collections_search"
        text = None if query is None or not query.strip() else query.strip()
        clean = clean_tags(tool, "tags", tags)
        if text is None and not clean and collection is None:
            raise bad_argument(tool, "query", "give a query, tags or a collection")
        coll_id = None if collection is None else await self._collection_id(tool, "collection", collection)
        records = await self.pool.fetch(
            f"{_ENTITY} WHERE ($1::text IS NULL OR e.title ILIKE $1 OR e.attributes::text ILIKE $1)"
            " AND e.tags @> $2::text[] AND ($3::bigint IS NULL OR e.collection_id = $3)"
            " ORDER BY e.updated_at DESC, e.id DESC LIMIT $4",
            None if text is None else like(text),
            clean,
            coll_id,
            limit,
        )
        return [_from_row(Entity, r) for r in records]

    async def collections_export(self, collection: Name) -> CollectionExport:
        """A whole collection as JSON: the collection and all its entities, oldest first."""
        id = await self._collection_id("collections_export", "collection", collection)
        records = await self.pool.fetch(f"{_ENTITY} WHERE e.collection_id = $1 ORDER BY e.id", id)
        return CollectionExport(
            collection=await self._get_collection(id), entities=[_from_row(Entity, r) for r in records]
        )
