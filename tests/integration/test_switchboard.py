"""The switchboard over real HTTP: registry, in-process route, rules and classification, inbound through dispatch.

One daemon (the shipped butlers.d, in-process Supervisor) serves the whole module; sessions run the real
Claude Code CLI against the model stand-in, and Telegram updates come from the Bot API stand-in.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import pytest_asyncio
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard_fleet import OWNER, OWNER_CHAT, Fleet, running_fleet, wait_until
from typer.testing import CliRunner

from butlers.cli.butlerctl import app as butlerctl
from butlers.core.inbound import InboundLog, InboundMessage
from butlers.db import ServerAddress
from butlers.switchboard.module import SwitchboardModule
from butlers.switchboard.route import queue_session
from butlers.switchboard.store import Decision, Origin, Part, ReasonKind
from butlers.testing.model_api import ApiError, Text, classification_answer
from support.cli_env import butlerctl_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHIPPED = ("general", "health", "relationship", "switchboard")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(pg_address: ServerAddress) -> AsyncIterator[Fleet]:
    # One owner task enters and leaves the daemon's task group (pytest-asyncio runs setup and teardown apart).
    ready: asyncio.Future[Fleet] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def owner() -> None:
        with tempfile.TemporaryDirectory(prefix="butlers-switchboard-") as tmp:
            async with running_fleet(Path(tmp), pg_address) as f:
                ready.set_result(f)
                await stop.wait()

    # Log lines to the real stderr (bound now): butlerctl's output, captured from stdout, stays pure.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    task = asyncio.create_task(owner())
    waited: list[asyncio.Future[Any]] = [task, ready]
    await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        await task
    yield ready.result()
    stop.set()
    await task
    structlog.reset_defaults()


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def sessions_settled(fleet: Fleet) -> AsyncIterator[None]:
    """After each test, its sessions have ended: a test that failed early must not leave one running
    that takes the next test's scripted model answer (one failure would read as two)."""
    yield

    async def settled() -> bool:
        for name in SHIPPED:
            pool = await fleet.pool(name)
            if await pool.fetchval("SELECT count(*) FROM sessions WHERE status IN ('queued', 'running')"):
                return False
        return True

    await wait_until(settled, "every session of the test ended", timeout=120)


def data(result: Any) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def error_text(result: Any) -> str:
    assert result.is_error, result.structured_content
    return str(result.content[0].text)


async def inbound(fleet: Fleet, inbound_id: str) -> dict[str, Any]:
    return data(await fleet.call("switchboard", "inbound_get", {"inbound_id": inbound_id}))


async def wait_finished(fleet: Fleet, inbound_id: str, status: str = "handled") -> dict[str, Any]:
    async def done() -> bool:
        return (await inbound(fleet, inbound_id))["status"] in ("handled", "failed")

    await wait_until(done, f"message {inbound_id} handled", timeout=120)
    row = await inbound(fleet, inbound_id)
    assert row["status"] == status, row
    return row


async def session(fleet: Fleet, butler: str, session_id: str) -> Any:
    pool = await fleet.pool(butler)
    return await pool.fetchrow("SELECT * FROM sessions WHERE id = $1", uuid.UUID(session_id))


async def test_list_butlers_shows_every_hosted_butler_live(fleet: Fleet) -> None:
    listed = data(await fleet.call("switchboard", "list_butlers"))["result"]
    by_name = {b["name"]: b for b in listed}
    assert sorted(by_name) == sorted(SHIPPED)
    for name in SHIPPED:
        b = by_name[name]
        assert b["state"] == "serving" and b["error"] is None
        assert b["url"] == fleet.url(name)
        assert "state_get" in b["tools"] and "status" in b["tools"]
    assert by_name["switchboard"]["modules"] == ["switchboard", "telegram"]
    assert "route" in by_name["switchboard"]["tools"] and "route" not in by_name["general"]["tools"]
    assert by_name["general"]["modules"] == ["notes", "collections"] and "notes_add" in by_name["general"]["tools"]
    assert by_name["general"]["next_run_at"] is not None  # its morning briefing
    assert by_name["health"]["next_run_at"] is not None  # its hourly medication times (tool mode)


async def test_route_gives_every_butler_the_same_results_and_errors_as_its_own_port(fleet: Fleet) -> None:
    for name in SHIPPED:
        key = f"route-test-{name}"
        routed = await fleet.call("switchboard", "route", {"butler": name, "tool": "state_set",
                                                           "arguments": {"key": key, "value": [1, name]}})  # fmt: skip
        assert data(routed)["key"] == key
        direct = await fleet.call(name, "state_get", {"key": key})
        via = await fleet.call("switchboard", "route", {"butler": name, "tool": "state_get", "arguments": {"key": key}})
        assert data(via) == data(direct) and data(direct)["value"] == [1, name]
        assert [c.text for c in via.content] == [c.text for c in direct.content]
        # The target's own errors, word for word, after where they came from.
        cases = [("state_get", {}), ("state_get", {"key": ""}), ("schedule_delete", {"name": "no-such-schedule"}),
                 ("state_list", {"limit": "many"})]  # fmt: skip
        for tool, args in cases:
            own = error_text(await fleet.call(name, tool, args))
            routed_error = error_text(
                await fleet.call("switchboard", "route", {"butler": name, "tool": tool, "arguments": args})
            )
            assert routed_error.endswith(own) and routed_error.startswith("route: ")
            assert f"butler '{name}' tool '{tool}'" in routed_error
        assert "argument 'arguments'" in error_text(
            await fleet.call("switchboard", "route", {"butler": name, "tool": "state_get", "arguments": {}})
        )
        # A value no tool can use is refused by route's own guard, for the same reason the target gives.
        hostile = {"key": "a\x00b"}
        own = error_text(await fleet.call(name, "state_get", hostile))
        routed_error = error_text(
            await fleet.call("switchboard", "route", {"butler": name, "tool": "state_get", "arguments": hostile})
        )
        assert own.startswith("state_get: argument 'key': ") and routed_error.startswith(
            "route: argument 'arguments.key': "
        )
        assert routed_error.split(": ", 2)[2] == own.split(": ", 2)[2]
    unknown_tool = error_text(await fleet.call("switchboard", "route", {"butler": "health", "tool": "no_such_tool"}))
    assert unknown_tool == "route: argument 'tool': butler 'health' has no tool 'no_such_tool'"
    unknown_butler = error_text(await fleet.call("switchboard", "route", {"butler": "dentist", "tool": "status"}))
    assert unknown_butler.startswith("route: argument 'butler': unknown butler 'dentist' (hosted: general, health")


async def test_rule_dispatch_asks_no_model_and_queues_a_route_session(fleet: Fleet) -> None:
    before = len(fleet.model.classifications)
    answer = data(await fleet.call("switchboard", "dispatch", {"message": "81.2 kg", "channel": "telegram"}))
    assert len(fleet.model.classifications) == before
    [part] = answer["parts"]
    assert (part["butler"], part["reason_kind"], part["reason"]) == ("health", "rule", "rule 'weight'")
    row = await session(fleet, "health", part["session_id"])
    assert row["trigger_source"] == "route"
    assert row["context"]["origin"]["inbound_id"] == answer["inbound_id"]
    assert row["context"]["origin"]["channel"] == "telegram" and "81.2 kg" in row["prompt"]
    # A keyword rule limited to a channel does not match elsewhere: that one goes to the model.
    fleet.model.push_classification(classification_answer(("general", "/note buy milk")))
    other = data(await fleet.call("switchboard", "dispatch", {"message": "/note buy milk", "channel": "email",
                                                               "sender": OWNER}))  # fmt: skip
    assert other["parts"][0]["reason_kind"] == "model" and len(fleet.model.classifications) == before + 1
    await wait_finished(fleet, answer["inbound_id"])
    await wait_finished(fleet, other["inbound_id"])


async def test_the_model_splits_a_message_into_two_sessions_on_two_butlers(fleet: Fleet) -> None:
    message = "weighed 81.2 kg this morning, and Anna's birthday is on Friday"
    fleet.model.push_classification(
        classification_answer(
            ("health", "weighed 81.2 kg this morning"), ("relationship", "Anna's birthday is on Friday")
        )
    )
    before = len(fleet.model.classifications)
    answer = data(await fleet.call("switchboard", "dispatch", {"message": message, "channel": "telegram"}))
    assert len(fleet.model.classifications) == before + 1  # one classification for the whole message
    parts = {p["butler"]: p for p in answer["parts"]}
    assert sorted(parts) == ["health", "relationship"]
    for butler, text in (("health", "weighed 81.2 kg"), ("relationship", "Anna's birthday")):
        p = parts[butler]
        assert p["reason_kind"] == "model" and p["status"] == "queued"
        row = await session(fleet, butler, p["session_id"])
        assert row["trigger_source"] == "route" and text in row["prompt"]
        assert row["context"]["origin"]["inbound_id"] == answer["inbound_id"]
        assert row["context"]["routing"]["parts"] == 2
    finished = await wait_finished(fleet, answer["inbound_id"])
    [log_row, _] = finished["routing"]
    assert log_row["classify_input_tokens"] == 180 and log_row["classify_output_tokens"] == 40
    assert log_row["classify_via"] == "messages_api" and log_row["classify_cost_usd"] > 0
    request = fleet.model.classifications[-1]
    assert "relationship" in request["system"] and message in request["messages"][0]["content"]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (classification_answer(("dentist", "teeth cleaning on Monday")), "the model named unknown butler 'dentist'"),
        (Text("I would say health, probably."), "model answer not understood"),
        (ApiError(500), "model API unavailable: HTTP 500"),
    ],
    ids=["unknown-butler", "nonsense", "down"],
)
async def test_an_unusable_classification_falls_back_to_general_with_the_reason(
    fleet: Fleet, answer: Any, why: str
) -> None:
    fleet.model.push_classification(answer)
    result = data(await fleet.call("switchboard", "dispatch", {"message": "teeth cleaning on Monday"}))
    [part] = result["parts"]
    assert part["butler"] == "general" and part["reason_kind"] == "fallback" and why in part["reason"]
    row = await session(fleet, "general", part["session_id"])
    assert row["trigger_source"] == "route"
    await wait_finished(fleet, result["inbound_id"])


async def test_a_sender_off_the_allow_list_is_recorded_and_ignored(fleet: Fleet) -> None:
    before = len(fleet.model.classifications)
    result = data(await fleet.call("switchboard", "dispatch", {"message": "win a prize", "channel": "email",
                                                                "sender": "Spammer <spam@example.com>"}))  # fmt: skip
    assert result["status"] == "ignored" and result["parts"] == []
    assert "allowed_senders.email" in result["error"] and len(fleet.model.classifications) == before


async def test_the_same_telegram_update_twice_is_dispatched_once(fleet: Fleet) -> None:
    update = fleet.telegram.enqueue_message(OWNER_CHAT, "72.5 kg", username="owner")
    fleet.telegram.enqueue_update({"message": update["message"]})  # Telegram delivering it again
    fleet.telegram.enqueue_message(999, "72.5 kg", username="stranger")  # not allowed: never dispatched

    async def confirmed() -> bool:
        return not fleet.telegram.pending

    await wait_until(confirmed, "every update confirmed")
    listed = data(await fleet.call("switchboard", "inbound_list", {"channel": "telegram", "limit": 500}))["messages"]
    mine = [m for m in listed if m["external_id"] == f"{OWNER_CHAT}:{update['message']['message_id']}"]
    assert len(mine) == 1
    [stranger] = [m for m in listed if m["sender"] == "@stranger"]  # recorded, ignored, never dispatched
    assert (stranger["status"], stranger["session_id"]) == ("ignored", None)
    assert "chat 999 is not on the allow-list" in stranger["error"]
    assert data(await fleet.call("switchboard", "inbound_get", {"inbound_id": stranger["id"]}))["routing"] == []
    argv = ["inbound", "list", "--status", "ignored", "--json", "--dir", str(fleet.supervisor.settings.dir)]
    env = butlerctl_env(fleet.supervisor.settings)
    shown = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(butlerctl, argv, env=env))
    assert shown.exit_code == 0 and stranger["id"] in [m["id"] for m in json.loads(shown.output)["messages"]]
    row = await wait_finished(fleet, mine[0]["id"])
    assert len(row["routing"]) == 1 and row["routing"][0]["reason"] == "rule 'weight'"
    pool = await fleet.pool("health")
    sessions = await pool.fetchval("SELECT count(*) FROM sessions WHERE context->'origin'->>'inbound_id' = $1",
                                   mine[0]["id"])  # fmt: skip
    assert sessions == 1


async def test_a_failed_session_fails_the_message_which_a_retry_and_a_reroute_send_again(fleet: Fleet) -> None:
    fleet.model.push(ApiError(500, message="overloaded for the test"))  # the health session's only model turn
    result = data(await fleet.call("switchboard", "dispatch", {"message": "80 kg"}))
    failed = await wait_finished(fleet, result["inbound_id"], status="failed")
    assert failed["error"].startswith("health: session failed")
    retried = data(await fleet.call("switchboard", "inbound_retry", {"inbound_id": result["inbound_id"]}))
    assert [p["attempt"] for p in retried["parts"]] == [2]
    await wait_finished(fleet, result["inbound_id"])
    again = error_text(await fleet.call("switchboard", "inbound_retry", {"inbound_id": result["inbound_id"]}))
    assert "only a failed one is retried" in again

    rerouted = data(await fleet.call("switchboard", "reroute", {"inbound_id": result["inbound_id"],
                                                                 "butler": "relationship"}))  # fmt: skip
    [part] = rerouted["parts"]
    assert (part["attempt"], part["butler"], part["reason_kind"]) == (3, "relationship", "reroute")
    assert "was: health" in part["reason"]
    row = await session(fleet, "relationship", part["session_id"])
    assert row["trigger_source"] == "route" and "80 kg" in row["prompt"]
    finished = await wait_finished(fleet, result["inbound_id"])
    assert [r["reason_kind"] for r in finished["routing"]] == ["rule", "rule", "reroute"]
    assert "argument 'butler'" in error_text(
        await fleet.call("switchboard", "reroute", {"inbound_id": result["inbound_id"], "butler": "dentist"})
    )
    missing = await fleet.call("switchboard", "reroute", {"inbound_id": str(uuid.uuid4()), "butler": "general"})
    assert "argument 'inbound_id'" in error_text(missing)


async def test_a_split_message_retried_reruns_only_the_part_that_failed(fleet: Fleet) -> None:
    def health_fails(body: dict[str, Any]) -> Any:  # whichever session asks first: only health's turn fails
        return ApiError(500, message="health overloaded") if "walked 5 km" in json.dumps(body) else Text("Noted.")

    fleet.model.push(health_fails, health_fails)
    fleet.model.push_classification(
        classification_answer(("health", "walked 5 km today"), ("relationship", "Tom moved to Lyon"))
    )
    first = data(await fleet.call("switchboard", "dispatch", {"message": "walked 5 km today; Tom moved to Lyon"}))
    mid = first["inbound_id"]
    failed = await wait_finished(fleet, mid, status="failed")
    assert failed["error"].startswith("health: session failed") and "relationship" not in failed["error"]
    classifications = len(fleet.model.classifications)

    retried = data(await fleet.call("switchboard", "inbound_retry", {"inbound_id": mid}))
    assert [(p["attempt"], p["part"], p["butler"], p["reason_kind"]) for p in retried["parts"]] == [
        (2, 0, "health", "model")
    ]
    assert "walked 5 km" in retried["parts"][0]["text"] and "retried" in retried["parts"][0]["reason"]
    assert len(fleet.model.classifications) == classifications  # the decision is kept, not made again
    finished = await wait_finished(fleet, mid)
    assert [(r["attempt"], r["butler"]) for r in finished["routing"]] == [
        (1, "health"), (1, "relationship"), (2, "health")
    ]  # fmt: skip
    # The relationship part, which had succeeded, was queued once; health twice (the failure, the retry).
    for butler, sessions in (("relationship", 1), ("health", 2)):
        pool = await fleet.pool(butler)
        count = await pool.fetchval("SELECT count(*) FROM sessions WHERE context->'origin'->>'inbound_id' = $1", mid)
        assert count == sessions, butler
    again = error_text(await fleet.call("switchboard", "inbound_retry", {"inbound_id": mid}))
    assert "only a failed one is retried" in again


async def test_route_prompt_waits_for_the_session_and_returns_its_record(fleet: Fleet) -> None:
    fleet.model.push(Text("Noted."))
    record = data(await fleet.call("switchboard", "route_prompt",
                                   {"butler": "general", "prompt": "Say noted.", "context": {"k": 1}, "wait": True}))  # fmt: skip
    assert record["status"] == "succeeded" and record["result"] == "Noted."
    assert record["trigger_source"] == "route" and record["context"] == {"k": 1}
    assert json.dumps(record)  # JSON all through
    offered = set(fleet.model.tool_names(len(fleet.model.requests) - 1))  # the general agent's request
    assert "mcp__general__state_get" in offered and all(t.startswith("mcp__general__") for t in offered)
    assert not {t.rsplit("__", 1)[1] for t in offered} & {"route", "dispatch", "reroute", "route_prompt"}


async def test_a_decision_recorded_and_queued_before_a_crash_is_replayed_not_made_again(fleet: Fleet) -> None:
    """The other crash window: decision committed, target session queued, message not yet marked dispatched."""
    board = fleet.supervisor.butlers["switchboard"]
    [module] = [m for m in board.modules if isinstance(m, SwitchboardModule)]
    assert module.router is not None
    msg = InboundMessage(channel="telegram", external_id=f"crash:{uuid.uuid4()}", sender="@owner",
                         text="what the crashed daemon was dispatching", received_at=datetime.now(UTC))  # fmt: skip
    inbound_id, _ = await InboundLog(board.pool, None, "switchboard").receive(msg)  # recorded, not handed off
    origin = Origin(inbound_id, msg.channel, msg.sender, msg.text)
    [part] = await module.router.routing.record(
        origin, Decision((Part("health", msg.text, ReasonKind.RULE, "rule 'x'"),))
    )
    health = fleet.supervisor.butlers["health"]
    queued = await queue_session(health, "p", {"origin": {"inbound_id": str(inbound_id)}},
                                 idempotency_key=f"switchboard:{inbound_id}:1:0")  # fmt: skip
    before = len(fleet.model.classifications)

    assert await board.inbound.redeliver_pending() == 1  # what the next start does
    row = await inbound(fleet, str(inbound_id))
    assert row["session_id"] == str(queued.session_id) and len(fleet.model.classifications) == before
    assert [(r["attempt"], r["status"], r["session_id"]) for r in row["routing"]] == [
        (1, "queued", str(queued.session_id))
    ]
    assert part.status == "decided"
    await wait_finished(fleet, str(inbound_id))


async def test_a_route_is_one_trace_from_the_switchboard_call_to_the_target_tool_and_session(fleet: Fleet) -> None:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # it can be set once per process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    data(await fleet.call("switchboard", "route", {"butler": "health", "tool": "state_get",
                                                   "arguments": {"key": "traced"}}))  # fmt: skip
    finished = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def ancestors(span: Any) -> list[str]:
        names = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            names.append(span.name)
        return names

    inner = next(s for s in finished if s.name == "tools/call state_get")
    chain = ancestors(inner)  # the target's tool span, up to the switchboard's call of `route`
    assert chain[0] == "route health.state_get" and chain[-1] == "tools/call route", chain
    assert len({s.context.trace_id for s in finished if s.name in (*chain, inner.name)}) == 1

    fleet.model.push(Text("ok"))
    record = data(await fleet.call("switchboard", "route_prompt", {"butler": "health", "prompt": "p", "wait": True}))
    call_span = next(s for s in exporter.get_finished_spans() if s.name == "tools/call route_prompt")
    assert record["trace_id"] == format(call_span.context.trace_id, "032x")  # the session's span is in that trace


async def test_butlerctl_inbound_lists_shows_and_reroutes_a_message(fleet: Fleet) -> None:
    answer = data(await fleet.call("switchboard", "dispatch", {"message": "79.9 kg", "channel": "telegram"}))
    mid = answer["inbound_id"]
    await wait_finished(fleet, mid)
    root = str(fleet.supervisor.settings.dir)
    env = butlerctl_env(fleet.supervisor.settings)

    def run(*args: str) -> Any:
        return CliRunner().invoke(butlerctl, ["inbound", *args, "--dir", root], env=env)

    listed = await anyio.to_thread.run_sync(run, "list", "--status", "handled", "--json")
    assert listed.exit_code == 0, listed.output
    assert mid in [m["id"] for m in json.loads(listed.output)["messages"]]
    shown = await anyio.to_thread.run_sync(run, "show", mid[:8])
    assert shown.exit_code == 0 and "-> health  queued  rule: rule 'weight'" in shown.output, shown.output
    moved = await anyio.to_thread.run_sync(run, "reroute", mid, "general", "--json")
    assert moved.exit_code == 0, moved.output
    assert [(p["butler"], p["reason_kind"]) for p in json.loads(moved.output)["parts"]] == [("general", "reroute")]
    refused = await anyio.to_thread.run_sync(run, "retry", mid)  # not failed: nothing to retry
    assert refused.exit_code == 1 and "only a failed one is retried" in refused.output
    await wait_finished(fleet, mid)
