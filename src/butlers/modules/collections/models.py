"""What the collections tools return."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Collection(BaseModel):
    id: int
    name: str
    description: str
    entities: int
    created_at: str
    updated_at: str


class Entity(BaseModel):
    id: int
    collection: str
    title: str
    attributes: dict[str, Any]
    tags: list[str]
    created_at: str
    updated_at: str


class Deleted(BaseModel):
    deleted: int
    entities_deleted: int = 0


class CollectionExport(BaseModel):
    collection: Collection
    entities: list[Entity]
