"""The relationship butler at 10,000 contacts and 100,000 interactions, over its MCP port.

    uv run python benches/relationship.py            # 10,000 contacts, 100,000 interactions, 200 calls each
    uv run python benches/relationship.py --quick    # 50 calls each

Seeds a fresh database of an embedded PostgreSQL (time reported), starts the relationship
butler on a free port, then times sequential calls through one fastmcp.Client over streamable
HTTP: fuzzy contact search (goal p50 <= 20 ms), an activity feed page for everyone and for one
contact (goal p50 <= 20 ms) and the overdue query (goal p50 <= 50 ms).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

import anyio
import asyncpg
from fastmcp import Client
from mcp import types
from relationship_helpers import running_relationship

from butlers.modules.relationship import date_tools, feed, parsing, store
from butlers.testing.postgres import TestPostgres

FIRST = [
    "Zoë",
    "Chloé",
    "Jean",
    "Anna",
    "Tom",
    "Lily",
    "Marcus",
    "Ingrid",
    "Sofia",
    "Liam",
    "Noah",
    "Emma",
    "Mia",
    "Lucas",
    "Léa",
    "Hugo",
    "Jules",
    "Nora",
    "Omar",
    "Priya",
    "Ravi",
    "Sven",
    "Björn",
    "Ana",
    "José",
    "Kenji",
]
LAST = ["Martin", "Dubois", "Smith", "O'Brien", "Sørensen", "García", "Müller", "Rossi", "Nakamura", "Kowalski",
        "Lefèvre", "Johnson", "Brown", "Silva", "Novak", "Petrov", "Haddad", "Okafor", "Nguyen", "Larsen"]  # fmt: skip
KINDS = ["call", "message", "meeting", "other"]


def contact_rows(n: int, rng: random.Random) -> list[tuple[object, ...]]:
    rows = []
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), f"{rng.choice(LAST)}{i}"
        name = f"{first} {last}"
        email = f"{parsing.fold(first)}.{parsing.fold(last)}@example.com".replace(" ", "")
        text, grams = parsing.fold(f"{name} {first} {last} {email}"), parsing.trigrams(f"{name} {email}")
        freq = rng.choice([None, None, 7, 14, 30, 90])
        rows.append((i, first, last, name, freq, text, grams))
    return rows


async def seed(pool: asyncpg.Pool, contacts: int, interactions: int) -> float:
    rng = random.Random(12)
    started = time.perf_counter()
    rows = contact_rows(contacts, rng)
    now = datetime.now(UTC)
    async with pool.acquire() as conn, conn.transaction():
        await conn.copy_records_to_table(
            "relationship_contacts", records=[r[:6] for r in rows],
            columns=["id", "first_name", "last_name", "display_name", "frequency_days", "search_text"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "relationship_trigrams", records=[(g, r[0]) for r in rows for g in r[6]], columns=["gram", "contact_id"]
        )
        await conn.copy_records_to_table(
            "relationship_details", records=[(r[0], "email", "", r[5].split()[-1], r[5].split()[-1]) for r in rows],
            columns=["contact_id", "kind", "label", "value", "value_norm"],
        )  # fmt: skip
        await conn.copy_records_to_table(
            "relationship_dates", records=[(i, "birthday", rng.randint(1, 12), rng.randint(1, 28)) for i in
                                           range(1, contacts + 1)], columns=["contact_id", "kind", "month", "day"],
        )  # fmt: skip
        moments = [now - timedelta(minutes=rng.randint(0, 60 * 24 * 730)) for _ in range(interactions)]
        await conn.copy_records_to_table(
            "relationship_interactions", records=[(i + 1, m, rng.choice(KINDS), "mutual", "") for i, m in
                                                  enumerate(moments)],
            columns=["id", "occurred_at", "kind", "direction", "notes"],
        )  # fmt: skip
        links = {(i + 1, rng.randint(1, contacts), m) for i, m in enumerate(moments)}
        links |= {(i + 1, rng.randint(1, contacts), m) for i, m in enumerate(moments) if i % 5 == 0}
        await conn.copy_records_to_table(
            "relationship_interaction_contacts", records=list({(a, b): (a, b, m) for a, b, m in links}.values()),
            columns=["interaction_id", "contact_id", "occurred_at"],
        )  # fmt: skip
        await conn.execute(
            "UPDATE relationship_contacts c SET last_interaction_at = x.at FROM (SELECT contact_id, max(occurred_at)"
            " AS at FROM relationship_interaction_contacts GROUP BY contact_id) x WHERE x.contact_id = c.id"
        )
        for table in ("relationship_contacts", "relationship_interactions"):
            await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    await pool.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
    return time.perf_counter() - started


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def timed(client: Client, tool: str, args_of: object, n: int) -> list[float]:
    samples = []
    for i in range(n):
        args = args_of(i) if callable(args_of) else args_of
        start = time.perf_counter()
        # The bare tools/call round trip: the client's own JSON-schema check of the answer
        # (fastmcp and the MCP SDK validate structured output) is client time, not the butler's.
        request = types.CallToolRequest(params=types.CallToolRequestParams(name=tool, arguments=args))
        result = await client.session.send_request(request, client.session._call_tool_adapter)
        samples.append(time.perf_counter() - start)
        assert not result.is_error, result
    return samples


async def query_alone(pool: asyncpg.Pool, n: int) -> None:
    """The same reads without HTTP or MCP, to tell the database's share from the transport's under load."""
    cases = [
        ("fuzzy search", lambda: store.find_contacts(pool, "Zoë Martin123", False, 10)),
        ("feed page, everyone", lambda: feed.feed_page(pool, None, None, 20)),
        ("feed page, one contact", lambda: feed.feed_page(pool, 5, None, 20)),
        ("overdue", lambda: date_tools.overdue(pool, 50)),
    ]
    for label, run in cases:
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await run()
            samples.append(time.perf_counter() - start)
        print(f"  query alone: {label:22s} p50 {pct(samples, 0.5):6.1f} ms")


async def measure(url: str, n: int, contacts: int) -> None:
    rng = random.Random(3)
    queries = [f"{rng.choice(FIRST)} {rng.choice(LAST)}{rng.randint(1, contacts)}" for _ in range(n)]
    typos = [q[:2] + q[3] + q[2] + q[4:] for q in queries]
    async with Client(url, timeout=60) as client:
        await timed(client, "relationship_contact_find", {"query": "warm up"}, 10)
        cases = [
            ("baseline: state_get", "state_get", {"key": "none"}, None),
            ("fuzzy search (name)", "relationship_contact_find", lambda i: {"query": queries[i]}, 20),
            ("fuzzy search (typo)", "relationship_contact_find", lambda i: {"query": typos[i]}, 20),
            ("fuzzy search ('zoe')", "relationship_contact_find", {"query": "zoe"}, 20),
            ("feed page, everyone", "relationship_feed", {"limit": 20}, 20),
            ("feed page, one contact", "relationship_feed", lambda i: {"contact_id": i + 1, "limit": 20}, 20),
            ("overdue", "relationship_overdue", {"limit": 50}, 50),
            ("upcoming 30 days", "relationship_upcoming", {"days": 30}, None),
        ]
        for label, tool, args, goal in cases:
            samples = await timed(client, tool, args, n)
            p50, p95 = pct(samples, 0.5), pct(samples, 0.95)
            verdict = "" if goal is None else f"  (goal p50 <= {goal} ms: {'ok' if p50 <= goal else 'OVER GOAL'})"
            print(f"{label:26s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 calls per case instead of 200")
    parser.add_argument("--contacts", type=int, default=10_000, help="contacts to seed")
    parser.add_argument("--interactions", type=int, default=100_000, help="interactions to seed")
    opts = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="butlers-bench-rel-"))
    pg = TestPostgres(folder / "pg")
    try:
        with running_relationship(pg, folder / "relationship") as rel:

            async def run() -> None:
                pool = await asyncpg.create_pool(**rel.address.connect_kwargs(), database=rel.database)
                try:
                    seconds = await seed(pool, opts.contacts, opts.interactions)
                    print(f"seeded {opts.contacts} contacts, {opts.interactions} interactions in {seconds:.1f} s")
                    await measure(rel.url, 50 if opts.quick else 200, opts.contacts)
                    await query_alone(pool, 50)
                finally:
                    await pool.close()

            anyio.run(run)
    finally:
        pg.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
