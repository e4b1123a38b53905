"""Interactions, gifts, loans, life events, notes, dates, staying in touch, the feed and the digest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastmcp import Client, FastMCP
from relationship_helpers import RunningRelationship, running_relationship

from butlers.db import ServerAddress
from butlers.migrate import apply_migrations
from butlers.modules.base import ModuleContext, NotifyRequest
from butlers.modules.relationship import RelationshipConfig, RelationshipModule
from butlers.testing.postgres import TestPostgres


@pytest.fixture(scope="module")
def rel(pg: TestPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRelationship]:
    with running_relationship(pg, tmp_path_factory.mktemp("rel") / "relationship") as running:
        yield running


async def contact(rel: RunningRelationship, name: str, **fields: Any) -> int:
    created = await rel.call("relationship_contact_create", display_name=name, **fields)
    return int(created["id"])


def days_ago(n: int) -> str:
    return (datetime.now(UTC) - timedelta(days=n)).isoformat()


async def test_interactions_gifts_loans_events_notes_and_the_feed(rel: RunningRelationship) -> None:
    tom, ana = await contact(rel, "Tom Feed"), await contact(rel, "Ana Feed")
    dinner = await rel.call(
        "relationship_interaction_log", contact_ids=[tom, ana], kind="meeting", when="2026-02-01T19:30", notes="Dinner"
    )
    assert dinner["contact_ids"] == [tom, ana] and dinner["direction"] == "mutual"
    await rel.call(
        "relationship_interaction_log", contact_ids=[tom], kind="call", direction="outbound", when="2026-02-03"
    )
    gift = await rel.call("relationship_gift_add", contact_id=tom, name="Vinyl", status="idea", occasion="birthday")
    given = await rel.call("relationship_gift_update", id=gift["id"], status="given", when="2026-02-04")
    assert given["status"] == "given"
    assert [g["name"] for g in await rel.call("relationship_gifts_list", contact_id=tom)] == ["Vinyl"]
    loan = await rel.call(
        "relationship_loan_add", contact_id=tom, amount="50", currency="eur", direction="lent", when="2026-02-05"
    )
    assert (loan["amount"], loan["currency"], loan["settled"]) == ("50.00", "EUR", False)
    assert [x["id"] for x in await rel.call("relationship_loans_list", contact_id=tom)] == [loan["id"]]
    settled = await rel.call("relationship_loan_settle", id=loan["id"])
    assert settled["settled"] is True and await rel.call("relationship_loans_list", contact_id=tom) == []
    await rel.call(
        "relationship_life_event_add", contact_id=tom, kind="moved", title="Moved to Lyon", when="2026-02-06"
    )
    await rel.call("relationship_note_add", contact_id=tom, body="Allergic to nuts", when="2026-02-07")

    feed = await rel.call("relationship_feed", contact_id=tom, limit=3)
    assert [i["source"] for i in feed["items"]] == ["note", "life_event", "loan"]
    older = await rel.call("relationship_feed", contact_id=tom, limit=3, before=feed["next_cursor"])
    assert [i["source"] for i in older["items"]] == ["gift", "interaction", "interaction"]
    assert older["items"][2]["contact_names"] == ["Tom Feed", "Ana Feed"]
    everyone = await rel.call("relationship_feed", limit=50)
    assert [i["summary"] for i in everyone["items"] if i["source"] == "interaction"].count(
        "meeting (mutual): Dinner"
    ) == 1
    assert (await rel.call("relationship_contact_get", id=ana))["last_interaction_at"].startswith("2026-02-01")

    await rel.call("relationship_interaction_delete", id=dinner["id"])
    assert (await rel.call("relationship_contact_get", id=ana))["last_interaction_at"] is None


async def test_not_contacted_and_overdue_against_own_frequency(rel: RunningRelationship) -> None:
    weekly = await contact(rel, "Wendy Weekly", frequency_days=7)
    monthly = await contact(rel, "Monty Monthly", frequency_days=30)
    never = await contact(rel, "Nevil Never", frequency_days=90)
    await rel.call("relationship_interaction_log", contact_ids=[weekly], kind="call", when=days_ago(10))
    await rel.call("relationship_interaction_log", contact_ids=[monthly], kind="message", when=days_ago(10))

    overdue = [c["id"] for c in await rel.call("relationship_overdue")]
    assert never in overdue and weekly in overdue and monthly not in overdue
    assert overdue.index(never) < overdue.index(weekly)  # never talked to comes first
    silent = {c["id"]: c["days_since"] for c in await rel.call("relationship_not_contacted", weeks=1)}
    assert silent[weekly] == 10 and silent[never] is None
    assert weekly not in {c["id"] for c in await rel.call("relationship_not_contacted", weeks=2)}
    stopped = await rel.call("relationship_frequency_set", contact_id=weekly, every_days=None)
    assert stopped["frequency_days"] is None
    assert weekly not in [c["id"] for c in await rel.call("relationship_overdue")]


async def test_upcoming_dates_wrap_the_year_and_the_digest_reports_not_delivered(rel: RunningRelationship) -> None:
    today = datetime.now(UTC).date()
    soon = today + timedelta(days=3)
    bday = await contact(rel, "Birgit Soon", birthday=f"1990-{soon.month:02d}-{soon.day:02d}")
    wed = await contact(rel, "Wedding Couple")
    later = today + timedelta(days=40)
    anniversary = await rel.call(
        "relationship_date_set",
        contact_id=wed,
        kind="anniversary",
        label="wedding",
        date=f"--{later.month:02d}-{later.day:02d}",
    )
    assert anniversary["year"] is None
    upcoming = await rel.call("relationship_upcoming", days=7)
    mine = [u for u in upcoming if u["contact_id"] == bday]
    assert mine == [
        {"contact_id": bday, "display_name": "Birgit Soon", "kind": "birthday", "label": "", "on": soon.isoformat(),
         "in_days": 3, "turns": soon.year - 1990}
    ]  # fmt: skip
    assert wed not in [u["contact_id"] for u in upcoming]
    assert wed in [u["contact_id"] for u in await rel.call("relationship_upcoming", days=45)]

    digest = await rel.call("relationship_remind_due", days=7)
    assert digest["delivered"] is False and "notify" in digest["delivery"]
    assert f"Birgit Soon: birthday in 3 days, {soon.isoformat()} (turns {soon.year - 1990})" in digest["message"]
    await rel.call("relationship_date_remove", id=anniversary["id"])
    assert wed not in [u["contact_id"] for u in await rel.call("relationship_upcoming", days=45)]


@pytest.mark.parametrize(
    ("tool", "args", "argument"),
    [
        ("relationship_interaction_log", {"contact_ids": [], "kind": "call"}, "contact_ids"),
        ("relationship_interaction_log", {"contact_ids": [999999], "kind": "call"}, "contact_ids"),
        ("relationship_interaction_log", {"contact_ids": [1], "kind": "telepathy"}, "kind"),
        ("relationship_interaction_log", {"contact_ids": [1], "kind": "call", "direction": "up"}, "direction"),
        ("relationship_interaction_log", {"contact_ids": [1], "kind": "call", "when": "yesterday"}, "when"),
        ("relationship_interaction_delete", {"id": 999999}, "id"),
        ("relationship_gift_add", {"contact_id": 1, "name": "x", "status": "maybe"}, "status"),
        ("relationship_gift_add", {"contact_id": 1, "name": " ", "status": "idea"}, "name"),
        ("relationship_gift_add", {"contact_id": 999999, "name": "x", "status": "idea"}, "contact_id"),
        ("relationship_gift_update", {"id": 999999, "status": "given"}, "id"),
        ("relationship_loan_add", {"contact_id": 1, "amount": "-5", "currency": "EUR", "direction": "lent"}, "amount"),
        (
            "relationship_loan_add",
            {"contact_id": 1, "amount": "1.234", "currency": "EUR", "direction": "lent"},
            "amount",
        ),
        ("relationship_loan_add", {"contact_id": 1, "amount": "5", "currency": "E1", "direction": "lent"}, "currency"),
        (
            "relationship_loan_add",
            {"contact_id": 1, "amount": "5", "currency": "EUR", "direction": "gave"},
            "direction",
        ),
        ("relationship_loan_settle", {"id": 999999}, "id"),
        ("relationship_life_event_add", {"contact_id": 1, "kind": "abducted", "title": "x"}, "kind"),
        ("relationship_note_add", {"contact_id": 1, "body": ""}, "body"),
        ("relationship_note_add", {"contact_id": 999999, "body": "x"}, "contact_id"),
        ("relationship_date_set", {"contact_id": 1, "date": "2023-02-29"}, "date"),
        ("relationship_date_set", {"contact_id": 1, "date": "--02-30"}, "date"),
        ("relationship_date_set", {"contact_id": 1, "date": "1990-01-01", "kind": "deathday"}, "kind"),
        ("relationship_date_remove", {"id": 999999}, "id"),
        ("relationship_frequency_set", {"contact_id": 999999, "every_days": 7}, "contact_id"),
        ("relationship_frequency_set", {"contact_id": 1, "every_days": 0}, "every_days"),
        ("relationship_upcoming", {"days": 400}, "days"),
        ("relationship_not_contacted", {"weeks": 0}, "weeks"),
        ("relationship_feed", {"before": "garbage"}, "before"),
        ("relationship_feed", {"contact_id": 999999}, "contact_id"),
        ("relationship_remind_due", {"days": -1}, "days"),
    ],
)
async def test_bad_activity_input_is_refused_naming_the_argument_and_writes_nothing(
    rel: RunningRelationship, tool: str, args: dict[str, Any], argument: str
) -> None:
    if await rel.fetchval("SELECT count(*) FROM relationship_contacts WHERE id = 1") == 0:
        await contact(rel, "Filler")
    count = (
        "SELECT (SELECT count(*) FROM relationship_interactions) + (SELECT count(*) FROM relationship_gifts)"
        " + (SELECT count(*) FROM relationship_loans) + (SELECT count(*) FROM relationship_life_events)"
        " + (SELECT count(*) FROM relationship_notes) + (SELECT count(*) FROM relationship_dates)"
        " + (SELECT count(*) FROM relationship_contacts WHERE frequency_days IS NOT NULL)"
    )
    before = await rel.fetchval(count)
    message = await rel.refused(tool, **args)
    assert tool in message and argument in message, message
    assert await rel.fetchval(count) == before


async def test_the_digest_is_one_message_delivered_through_notify(
    pg_address: ServerAddress, database: str, pool: asyncpg.Pool, data_dir: Path
) -> None:
    await apply_migrations(pg_address, database, RelationshipModule.migrations_dir, owner="relationship")
    sent: list[dict[str, Any]] = []

    async def notify(request: NotifyRequest) -> dict[str, Any]:
        sent.append({"message": request.message, "channel": request.channel})
        return {"id": "n-1", "status": "sent"}

    mcp = FastMCP("test")
    ctx = ModuleContext(butler="relationship", pool=pool, directory=data_dir, data_dir=data_dir, credentials={},
                        notify=notify)  # fmt: skip
    RelationshipModule(RelationshipConfig()).register_tools(mcp, ctx)
    today = datetime.now(UTC).date()
    async with Client(mcp) as client:

        async def call(tool: str, **args: Any) -> Any:
            return (await client.call_tool(tool, args)).structured_content

        nothing = await call("relationship_remind_due", days=7)
        assert (nothing["delivered"], nothing["delivery"], sent) == (False, "nothing due", [])
        for name in ("Ann Due", "Bob Due"):
            await call(
                "relationship_contact_create", display_name=name, birthday=f"--{today.month:02d}-{today.day:02d}"
            )
        await call("relationship_contact_create", display_name="Cleo Overdue", frequency_days=7)
        digest = await call("relationship_remind_due", days=7)
    assert digest["delivered"] is True and digest["delivery"] == "sent"
    assert len(sent) == 1  # one message for everything due, not one per item
    message = sent[0]["message"]
    assert "Ann Due: birthday today" in message and "Bob Due: birthday today" in message
    assert "Cleo Overdue (never talked to)" in message and message == digest["message"]
