"""The relationship butler's contact tools over real MCP HTTP, on the embedded PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from relationship_helpers import RunningRelationship, running_relationship

from butlers.db import ServerAddress
from butlers.modules.relationship import RelationshipModule
from butlers.testing.module_contract import check_module_contract
from butlers.testing.postgres import TestPostgres


@pytest.fixture(scope="module")
def rel(pg: TestPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelationship]:
    with running_relationship(pg, tmp_path_factory.mktemp("rel") / "relationship") as running:
        yield running


async def contact(rel: RunningRelationship, name: str, **fields: Any) -> dict[str, Any]:
    created: dict[str, Any] = await rel.call("relationship_contact_create", display_name=name, **fields)
    return created


async def test_relationship_meets_the_module_contract(pg_address: ServerAddress, database: str, data_dir: Path) -> None:
    report = await check_module_contract(RelationshipModule, {}, pg_address, database, data_dir)
    assert "relationship_contact_find" in report.tools and "relationship_remind_due" in report.tools
    assert report.migrations_applied == ["0001_relationship"]


async def test_create_get_update_a_contact_with_everything(rel: RunningRelationship) -> None:
    zoe = await contact(
        rel,
        "Zoë Martin",
        first_name="Zoë",
        last_name="Martin",
        nicknames=["Zozo"],
        emails=["zoe@example.com"],
        phones=["+33 6 12 34 56 78"],
        addresses=["1 rue de la Paix, Paris"],
        birthday="--03-14",
        how_met="Climbing gym, 2019",
        labels=["Friends", "climbing"],
        company="Acme",
        frequency_days=30,
    )
    assert zoe["labels"] == ["friends", "climbing"]
    assert [(d["kind"], d["value"]) for d in zoe["details"]] == [
        ("email", "zoe@example.com"),
        ("phone", "+33 6 12 34 56 78"),
        ("address", "1 rue de la Paix, Paris"),
    ]
    assert zoe["dates"][0]["text"] == "--03-14" and zoe["dates"][0]["year"] is None
    got = await rel.call("relationship_contact_get", id=zoe["id"])
    assert got["how_met"] == "Climbing gym, 2019" and got["frequency_days"] == 30

    updated = await rel.call("relationship_contact_update", id=zoe["id"], job_title="Engineer", birthday="1990-03-14")
    assert updated["job_title"] == "Engineer" and updated["dates"][0]["text"] == "1990-03-14"
    assert updated["nicknames"] == ["Zozo"]  # untouched

    detail = await rel.call(
        "relationship_detail_add", contact_id=zoe["id"], kind="email", value="z@work.example", label="work"
    )
    assert detail["label"] == "work"
    assert (await rel.call("relationship_detail_remove", id=detail["id"])) == {"deleted": detail["id"]}


async def test_fuzzy_find_by_name_nickname_accent_typo_and_detail(rel: RunningRelationship) -> None:
    chloe = await contact(rel, "Chloé Dubois", nicknames=["Clo"], emails=["chloe.dubois@mail.example"])
    john = await contact(rel, "Johnathan Smith", phones=["06 11 22 33 44"])

    async def first(query: str) -> int | None:
        found = await rel.call("relationship_contact_find", query=query)
        return found[0]["id"] if found else None

    assert await first("chloe") == chloe["id"]  # no accent finds the accented name
    assert await first("CHLOÉ dubois") == chloe["id"]
    assert await first("Chleo Dubios") == chloe["id"]  # typos
    assert await first("clo") == chloe["id"]  # nickname
    assert await first("chloe.dubois@mail.example") == chloe["id"]
    assert await first("Jonathan Smiht") == john["id"]
    assert await first("+33 6 11 22 33 44") == john["id"]  # the same phone, written another way
    assert await first("Xavier Quuux") is None


async def test_archive_hides_and_labels_group(rel: RunningRelationship) -> None:
    old = await contact(rel, "Archibald Oldfriend", labels=["school"])
    await contact(rel, "Bernadette Schoolmate", labels=["school"])
    archived = await rel.call("relationship_contact_archive", id=old["id"])
    assert archived["archived"] is True
    assert await rel.call("relationship_contact_find", query="Archibald") == []
    found = await rel.call("relationship_contact_find", query="Archibald", include_archived=True)
    assert found[0]["id"] == old["id"]
    school = await rel.call("relationship_contacts_list", label="School")
    assert [c["display_name"] for c in school] == ["Bernadette Schoolmate"]
    labels = {item["label"]: item["contacts"] for item in await rel.call("relationship_labels_list")}
    assert labels["school"] == 1
    await rel.call("relationship_contact_archive", id=old["id"], archived=False)
    assert len(await rel.call("relationship_contacts_list", label="school")) == 2


async def test_relations_are_seen_from_both_sides(rel: RunningRelationship) -> None:
    tom = await contact(rel, "Tom Parent")
    lily = await contact(rel, "Lily Child")
    rel_ = await rel.call("relationship_relation_add", contact_id=tom["id"], other_id=lily["id"], kind="child")
    assert rel_["kind"] == "child" and rel_["other_name"] == "Lily Child"
    seen_by_lily = (await rel.call("relationship_contact_get", id=lily["id"]))["relations"]
    assert [(r["kind"], r["other_id"]) for r in seen_by_lily] == [("parent", tom["id"])]
    godmother = await rel.call(
        "relationship_relation_add", contact_id=lily["id"], other_id=tom["id"], kind="custom", custom="godfather"
    )
    assert godmother["custom"] == "godfather"
    await rel.call("relationship_relation_remove", id=godmother["id"])
    assert len((await rel.call("relationship_contact_get", id=lily["id"]))["relations"]) == 1


async def test_merge_keeps_everything_of_both(rel: RunningRelationship) -> None:
    a = await contact(
        rel, "Sam Merger", emails=["sam@a.example"], labels=["work"], birthday="1985-07-01", notes="likes tea"
    )
    b = await contact(
        rel, "Samuel M.", emails=["SAM@a.example", "sam@b.example"], phones=["0600000001"], labels=["friends"],
        birthday="--07-02", notes="plays chess", frequency_days=14,
    )  # fmt: skip
    friend = await contact(rel, "Friend Of Sam")
    await rel.call("relationship_relation_add", contact_id=b["id"], other_id=friend["id"], kind="friend")
    await rel.call("relationship_interaction_log", contact_ids=[b["id"]], kind="call", when="2026-01-05")
    await rel.call("relationship_gift_add", contact_id=b["id"], name="Chess book", status="idea")

    merged = await rel.call("relationship_contact_merge", keep_id=a["id"], merge_id=b["id"])
    assert sorted(d["value"] for d in merged["details"]) == ["0600000001", "sam@a.example", "sam@b.example"]
    assert merged["labels"] == ["friends", "work"] and merged["nicknames"] == ["Samuel M."]
    assert merged["notes"] == "likes tea\nplays chess" and merged["frequency_days"] == 14
    assert sorted(d["text"] for d in merged["dates"]) == ["--07-02", "1985-07-01"]
    assert [r["other_id"] for r in merged["relations"]] == [friend["id"]]
    assert merged["last_interaction_at"].startswith("2026-01-05")
    feed = await rel.call("relationship_feed", contact_id=a["id"])
    assert sorted(i["source"] for i in feed["items"]) == ["gift", "interaction"]
    assert await rel.fetchval("SELECT count(*) FROM relationship_contacts WHERE id = $1", b["id"]) == 0
    assert "merge_id" in await rel.refused("relationship_contact_merge", keep_id=a["id"], merge_id=b["id"])


@pytest.mark.parametrize(
    ("tool", "args", "argument"),
    [
        ("relationship_contact_create", {"display_name": "  "}, "display_name"),
        ("relationship_contact_create", {"display_name": "Ok", "birthday": "1990-02-30"}, "birthday"),
        ("relationship_contact_create", {"display_name": "Ok", "birthday": "--13-01"}, "birthday"),
        ("relationship_contact_create", {"display_name": "Ok", "emails": ["not-an-email"]}, "emails"),
        ("relationship_contact_create", {"display_name": "Ok", "phones": ["call me"]}, "phones"),
        ("relationship_contact_create", {"display_name": "Ok", "frequency_days": 0}, "frequency_days"),
        ("relationship_contact_create", {"display_name": "Ok", "labels": [""]}, "labels"),
        ("relationship_contact_get", {"id": 999999}, "id"),
        ("relationship_contact_get", {"id": 0}, "id"),
        ("relationship_contact_update", {"id": 999999, "notes": "x"}, "id"),
        ("relationship_contact_update", {"id": 1}, "id"),
        ("relationship_contact_find", {"query": " "}, "query"),
        ("relationship_contact_find", {"query": "x", "limit": 0}, "limit"),
        ("relationship_contacts_list", {"offset": -1}, "offset"),
        ("relationship_contact_archive", {"id": 999999}, "id"),
        ("relationship_contact_merge", {"keep_id": 1, "merge_id": 1}, "merge_id"),
        ("relationship_contact_merge", {"keep_id": 999999, "merge_id": 1}, "keep_id"),
        ("relationship_detail_add", {"contact_id": 1, "kind": "fax", "value": "1"}, "kind"),
        ("relationship_detail_add", {"contact_id": 999999, "kind": "email", "value": "a@b.c"}, "contact_id"),
        ("relationship_detail_remove", {"id": 999999}, "id"),
        ("relationship_relation_add", {"contact_id": 1, "other_id": 1, "kind": "friend"}, "other_id"),
        ("relationship_relation_add", {"contact_id": 1, "other_id": 999999, "kind": "friend"}, "other_id"),
        ("relationship_relation_add", {"contact_id": 1, "other_id": 2, "kind": "custom"}, "custom"),
        ("relationship_relation_add", {"contact_id": 1, "other_id": 2, "kind": "enemy"}, "kind"),
        ("relationship_relation_remove", {"id": 999999}, "id"),
    ],
)
async def test_bad_contact_input_is_refused_naming_the_argument_and_writes_nothing(
    rel: RunningRelationship, tool: str, args: dict[str, Any], argument: str
) -> None:
    if await rel.fetchval("SELECT count(*) FROM relationship_contacts WHERE id IN (1, 2)") < 2:
        await contact(rel, "Filler One")
        await contact(rel, "Filler Two")
    before = await rel.fetchval(
        "SELECT (SELECT count(*) FROM relationship_contacts) + (SELECT count(*) FROM relationship_details)"
        " + (SELECT count(*) FROM relationship_relations) + (SELECT count(*) FROM relationship_dates)"
        " + (SELECT count(*) FROM relationship_contacts WHERE updated_at > created_at)"
    )
    message = await rel.refused(tool, **args)
    assert tool in message and argument in message, message
    after = await rel.fetchval(
        "SELECT (SELECT count(*) FROM relationship_contacts) + (SELECT count(*) FROM relationship_details)"
        " + (SELECT count(*) FROM relationship_relations) + (SELECT count(*) FROM relationship_dates)"
        " + (SELECT count(*) FROM relationship_contacts WHERE updated_at > created_at)"
    )
    assert before == after
