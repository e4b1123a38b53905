"""The general butler's collections over real MCP HTTP against the embedded PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from domain_helpers import LiveButler, call, live_butler, refused
from fastmcp import Client

from butlers.db import ServerAddress
from butlers.modules.collections import CollectionsModule
from butlers.testing.module_contract import check_module_contract
from butlers.testing.postgres import TestPostgres

MODULES = "[modules.notes]\n\n[modules.collections]\nmax_attributes_bytes = 200\n"


@pytest.fixture(scope="module")
def general(pg: TestPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveButler]:
    with live_butler(pg, tmp_path_factory.mktemp("general") / "general", "general", MODULES) as live:
        yield live


@pytest.fixture
async def client(general: LiveButler) -> AsyncIterator[Client]:
    async with Client(general.url) as c:
        yield c


async def test_collections_and_entities_round_trip(client: Client) -> None:
    gear = await call(client, "collections_create", name="Gear", description="things I own")
    assert (gear["name"], gear["entities"]) == ("Gear", 0)
    bike = await call(
        client, "collections_entity_add", collection="gear", title="Road bike",
        attributes={"frame_size": "56 cm", "bought": 2021}, tags=["Bike", "outdoor", "bike"],
    )  # fmt: skip
    assert (bike["collection"], bike["tags"], bike["attributes"]["bought"]) == ("Gear", ["bike", "outdoor"], 2021)
    got = await call(client, "collections_entity_get", id=bike["id"])
    assert got == bike

    updated = await call(
        client, "collections_entity_update", id=bike["id"], attributes={"bought": None, "colour": "blue"}, tags=["bike"]
    )
    assert updated["attributes"] == {"frame_size": "56 cm", "colour": "blue"} and updated["tags"] == ["bike"]
    assert updated["updated_at"] >= bike["updated_at"] and updated["created_at"] == bike["created_at"]

    renamed = await call(client, "collections_rename", collection="Gear", new_name="Equipment")
    assert renamed["name"] == "Equipment" and renamed["entities"] == 1
    listed = {c["name"]: c for c in await call(client, "collections_list")}
    assert "Equipment" in listed and "Gear" not in listed

    books = await call(client, "collections_create", name="Books")
    moved = await call(client, "collections_entity_update", id=bike["id"], collection="books")
    assert moved["collection"] == "Books"
    assert (await call(client, "collections_delete", collection="Equipment")) == {"deleted": renamed["id"], "entities_deleted": 0}  # fmt: skip
    message = await refused(client, "collections_delete", {"collection": "Books"})
    assert "collections_delete: argument 'force'" in message
    assert await call(client, "collections_delete", collection="books", force=True) == {"deleted": books["id"], "entities_deleted": 1}  # fmt: skip
    message = await refused(client, "collections_entity_get", {"id": bike["id"]})
    assert "no entity with id" in message


async def test_search_across_collections_by_text_and_tags(client: Client) -> None:
    await call(client, "collections_create", name="Recipes")
    await call(client, "collections_create", name="Wines")
    pesto = await call(client, "collections_entity_add", collection="Recipes", title="Pesto", attributes={"herb": "Basil"}, tags=["green", "quick"])  # fmt: skip
    await call(client, "collections_entity_add", collection="Recipes", title="Basil soup", tags=["green"])
    wine = await call(client, "collections_entity_add", collection="Wines", title="Barolo", attributes={"pairs_with": "basil pasta"}, tags=["red"])  # fmt: skip
    await call(client, "collections_entity_add", collection="Wines", title="100% Riesling", tags=["white"])

    by_text = await call(client, "collections_search", query="BASIL")
    assert {e["title"] for e in by_text} == {"Pesto", "Basil soup", "Barolo"}
    assert [e["id"] for e in await call(client, "collections_search", query="basil", tags=["GREEN", "quick"])] == [pesto["id"]]  # fmt: skip
    in_wines = await call(client, "collections_search", query="basil", collection="wines")
    assert [e["id"] for e in in_wines] == [wine["id"]]
    assert [e["title"] for e in await call(client, "collections_search", query="100%")] == ["100% Riesling"]
    assert await call(client, "collections_search", query="b%l") == []  # the user's % is a literal character
    assert len(await call(client, "collections_search", collection="Recipes", limit=1)) == 1

    exported = await call(client, "collections_export", collection="recipes")
    assert exported["collection"]["name"] == "Recipes" and exported["collection"]["entities"] == 2
    assert [e["title"] for e in exported["entities"]] == ["Pesto", "Basil soup"]
    assert exported["entities"][0]["attributes"] == {"herb": "Basil"}
    assert await call(client, "collections_entity_delete", id=pesto["id"]) == {"deleted": pesto["id"], "entities_deleted": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("tool", "args", "argument"),
    [
        ("collections_create", {"name": "  "}, "name"),
        ("collections_create", {"name": "keep"}, "name"),  # exists (case-insensitively)
        ("collections_create", {"name": "x" * 101}, "name"),
        ("collections_rename", {"collection": "nope", "new_name": "b"}, "collection"),
        ("collections_rename", {"collection": "Keep", "new_name": "Other"}, "new_name"),
        ("collections_delete", {"collection": "nope"}, "collection"),
        ("collections_delete", {"collection": "Keep"}, "force"),
        ("collections_entity_add", {"collection": "nope", "title": "t"}, "collection"),
        ("collections_entity_add", {"collection": "Keep", "title": " "}, "title"),
        ("collections_entity_add", {"collection": "Keep", "title": "t", "attributes": {"a": "x" * 300}}, "attributes"),
        ("collections_entity_add", {"collection": "Keep", "title": "t", "attributes": {"": 1}}, "attributes"),
        ("collections_entity_add", {"collection": "Keep", "title": "t", "attributes": [1, 2]}, "attributes"),
        ("collections_entity_add", {"collection": "Keep", "title": "t", "tags": [" "]}, "tags"),
        ("collections_entity_add", {"collection": "Keep", "title": "t", "tags": [str(i) for i in range(21)]}, "tags"),
        ("collections_entity_update", {"id": 999999, "title": "x"}, "id"),
        ("collections_entity_update", {"id": 0}, "id"),
        ("collections_entity_update", {"id": -1, "title": "x"}, "id"),
        ("collections_entity_get", {"id": "abc"}, "id"),
        ("collections_entity_delete", {"id": 999999}, "id"),
        ("collections_search", {}, "query"),
        ("collections_search", {"query": "x", "collection": "nope"}, "collection"),
        ("collections_search", {"query": "x", "limit": 0}, "limit"),
        ("collections_export", {"collection": "nope"}, "collection"),
    ],
)
async def test_bad_input_is_refused_naming_the_argument_and_writes_nothing(
    client: Client, general: LiveButler, tool: str, args: dict[str, Any], argument: str
) -> None:
    if not general.fetchval("SELECT count(*) FROM collections WHERE name IN ('Keep', 'Other')"):
        await call(client, "collections_create", name="Keep")
        await call(client, "collections_create", name="Other")
        await call(client, "collections_entity_add", collection="Keep", title="kept")
    count = "SELECT (SELECT count(*) FROM collections) + (SELECT count(*) FROM collection_entities)"
    before = general.fetchval(count)
    message = await refused(client, tool, args)
    assert tool in message and f"'{argument}'" in message, message
    assert general.fetchval(count) == before


async def test_entity_update_with_a_bad_part_changes_nothing(client: Client, general: LiveButler) -> None:
    await call(client, "collections_create", name="Plants")
    fern = await call(client, "collections_entity_add", collection="Plants", title="Fern", tags=["shade"])
    await refused(client, "collections_entity_update", {"id": fern["id"], "title": "Big fern", "collection": "nope"})
    assert (await call(client, "collections_entity_get", id=fern["id"]))["title"] == "Fern"


async def test_collections_module_passes_the_module_contract(
    pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    report = await check_module_contract(CollectionsModule, {"max_attributes_bytes": 1000}, pg_address, database, data_dir)  # fmt: skip
    assert len(report.tools) == 10 and all(t.startswith("collections_") for t in report.tools)
    assert report.migrations_applied == ["0001_collections"]
