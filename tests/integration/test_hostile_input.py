"""Every tool of a running daemon, driven with hypothesis from its own JSON schema and with hostile values.

Over real HTTP, one daemon for the module (core tools, notes, and a module with a
gated action). Each answer must be a result or a clear tool error (naming the tool,
or the protocol's own validation error), never FastMCP's masked internal error, a
traceback or a dropped connection; and the daemon keeps serving. The figures
(calls, answers by kind) are printed at the end.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import Any, cast

import pytest
from db_fingerprint import DatabaseFingerprint, NoPartialWrite, changed_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schema_strategies import from_schema
from security_helpers import REGISTRY, daemon_settings, names_by_short

from butlers.auth import find_operator_token
from butlers.db import ServerAddress
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.raw_mcp import Answer, RawMcpSession

EXAMPLES_PER_TOOL = int(os.environ.get("BUTLERS_FUZZ_EXAMPLES", "60"))
FIGURES: Counter[str] = Counter()
BIG = json.dumps("x" * 1_000_001)
BY_TOOL: Counter[str] = Counter()


class Target:
    def __init__(self, session: RawMcpSession, tools: dict[str, dict[str, Any]], writes: NoPartialWrite) -> None:
        self.session, self.tools, self.writes = session, tools, writes


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("fuzz")
    config, ports = daemon_settings(base / "butlers.d", base / "data", pg_address)
    with serve_in_thread(config, REGISTRY) as supervisor:
        assert len(supervisor.serving) == 2, supervisor.failures
        token = find_operator_token(config)
        assert token is not None
        alpha = names_by_short(config.dir)["alpha"]
        # The operator's token: operator actions are exercised too.
        with (
            closing(DatabaseFingerprint(pg_address, alpha)) as fingerprint,
            RawMcpSession(f"http://127.0.0.1:{ports['alpha']}/mcp", token.value, timeout=60) as session,
        ):
            writes = NoPartialWrite(fingerprint, fingerprint.wait_until_idle)
            yield Target(session, {t["name"]: t for t in session.list_tools()}, writes)


TOOLS = [
    "status", "tick", "state_get", "state_set", "state_delete", "state_list", "schedule_list", "schedule_create",
    "schedule_update", "schedule_delete", "trigger", "sessions_list", "sessions_get", "session_cancel",
    "schedule_run", "spend_report",
    "approvals_list", "approval_approve", "approval_reject", "email_send", "notify", "remind",
    "notes_add", "notes_get", "notes_list", "notes_search", "notes_delete",
]  # fmt: skip

NUL = "a\x00b"
SURROGATE = "\ud800x"
HOSTILE_JSON = [  # raw JSON text, as a hostile client would write it
    json.dumps(NUL),
    json.dumps(SURROGATE),  # "\ud800x": valid JSON escape, not valid Unicode
    json.dumps({NUL: 1}),
    json.dumps({"k": [NUL]}),
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    str(2**64),
    str(-(2**64)),
    str(2**63),
    "9" * 400,
    "[" * 200 + "]" * 200,
    '{"a":' * 100 + "1" + "}" * 100,
    "BIG",  # replaced by a string of 1,000,001 characters when sent (kept out of reprs)
    "true",
    "null",
    "[]",
    "{}",
    '""',
    "-1",
    "0",
    json.dumps("0001-01-01T00:00:00+05:00"),
    json.dumps("9999-12-31T23:59:59-05:00"),
    json.dumps("0 0 31 2 *"),
    json.dumps("../../../etc/passwd"),
    json.dumps("'; DROP TABLE state; --"),
]


def classify(tool: str, answer: Answer) -> str:
    if answer.status in (413,):
        return "refused_413"
    if answer.message is None:
        return f"http_{answer.status}"
    if "error" in answer.message:
        return "protocol_error"  # JSON-RPC level (e.g. arguments that are not an object)
    result = answer.message["result"]
    text = "".join(b.get("text", "") for b in result.get("content", []) if isinstance(b, dict))
    if "Traceback" in text:
        return "traceback"
    if not result.get("isError"):
        return "ok"
    if text.strip() == f"Error calling tool {tool!r}":
        return "internal_error"  # an exception we did not turn into a clear message
    return "tool_error"


def known_elsewhere(tool: str, arguments: str) -> bool:
    """Findings another change fixes (not this suite's to fix): `state_set` with `value: null`
    (null becomes storable) and time-zone names such as 'America' (time-zone validation)."""
    try:
        args = json.loads(arguments)
    except ValueError:
        return False
    if not isinstance(args, dict):
        return False
    if tool == "state_set" and "value" in args and args["value"] is None:
        return True
    return tool in ("schedule_create", "schedule_update") and isinstance(args.get("timezone"), str)


def hostile_arguments(tool: dict[str, Any]) -> st.SearchStrategy[str]:
    """Raw JSON text of an arguments object: schema-valid, or with one value made hostile."""
    schema = tool["inputSchema"]
    props = list(schema.get("properties", {})) or ["unknown"]
    valid = from_schema(schema).map(json.dumps)

    def mutate(draw_args: tuple[dict[str, Any], str, str]) -> str:
        base, key, value = draw_args
        fields = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in base.items() if k != key]
        fields.append(f"{json.dumps(key)}: {BIG if value == 'BIG' else value}")
        return "{" + ", ".join(fields) + "}"

    mutated = st.tuples(
        from_schema(schema).filter(lambda a: isinstance(a, dict)),
        st.sampled_from(props),
        st.sampled_from(HOSTILE_JSON),
    ).map(mutate)
    return st.one_of(valid, mutated, mutated, mutated)


@pytest.mark.parametrize("tool_name", TOOLS)
def test_every_tool_answers_hostile_input_with_a_result_or_a_clear_error(target: Target, tool_name: str) -> None:
    tool = target.tools[tool_name]  # KeyError: a tool of the list is gone (or renamed)
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_TOOL,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(arguments=hostile_arguments(tool))
    def run(arguments: str) -> None:
        answer = target.writes.around(
            lambda: target.session.post(target.session.call_body(tool_name, arguments)),
            lambda answer: classify(tool_name, answer) != "ok",
            f"{tool_name}({arguments[:200]})",
        )
        kind = classify(tool_name, answer)
        if kind == "internal_error" and known_elsewhere(tool_name, arguments):
            kind = "known_elsewhere"
        FIGURES[kind] += 1
        BY_TOOL[tool_name] += 1
        if kind in ("internal_error", "traceback") or kind.startswith("http_"):
            failures.append(f"{kind}: {tool_name}({arguments[:300]}) -> {answer.text[:300]}")

    run()
    assert not failures, "\n".join(failures[:5])
    partial = target.writes.take_failures()
    assert not partial, "\n".join(partial[:5])  # never a partial write
    assert classify("state_get", target.session.call("state_get", {"key": "alive"})) == "ok"  # still serving


def test_every_tool_is_fuzzed(target: Target) -> None:
    missing = sorted(set(target.tools) - set(TOOLS))
    assert not missing, f"tools not in the fuzz list: {missing}"


def test_the_fingerprint_sees_a_write_over_http(target: Target) -> None:
    # The no-partial-write check is only as good as its fingerprint: a real write must change it.
    before = target.writes.fingerprint.take()
    answer = target.session.call("state_set", {"key": "fingerprint-probe", "value": {"n": len(before)}})
    assert classify("state_set", answer) == "ok", answer.text
    assert changed_tables(before, target.writes.fingerprint.take()) == ["state"]


def test_zz_figures(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    calls, writes = sum(FIGURES.values()), target.writes
    with capsys.disabled():
        print(f"\nhostile-input fuzz: {calls} calls over {len(BY_TOOL)} tools; answers by kind: {dict(FIGURES)}")
        print(f"no partial write: {writes.checked} calls answered with an error fingerprinted before and after "
              f"({len(writes.fingerprint.tables)} tables; {writes.taken} fingerprints in {writes.seconds:.1f} s, "
              f"{writes.waited:.1f} s waiting for work in flight)")  # fmt: skip
    assert calls == 0 or FIGURES["internal_error"] == 0


def tool_text(answer: Answer) -> str:
    assert answer.message is not None, answer.text
    assert "result" in answer.message, answer.message
    result = answer.message["result"]
    assert result.get("isError"), result
    return "".join(b.get("text", "") for b in result["content"])


def state_of(target: Target, key: str) -> Any:
    answer = target.session.call("state_get", {"key": key})
    assert answer.message is not None
    return answer.message["result"]["structuredContent"]["found"]


def test_a_nul_byte_in_a_text_argument_key_or_value_is_a_clear_error_and_nothing_is_written(target: Target) -> None:
    for arguments, where in [
        ({"key": "nul\x00key", "value": 1}, "'key'"),
        ({"key": "nul-value", "value": "a\x00b"}, "'value'"),
        ({"key": "nul-json-key", "value": {"a\x00": 1}}, "'value (a key)'"),
        ({"key": "nul-deep", "value": {"list": ["ok", "x\x00"]}}, "'value.list[1]'"),
    ]:
        text = tool_text(target.session.call("state_set", cast(dict[str, Any], arguments)))
        assert text.startswith(f"state_set: argument {where}: contains a NUL character"), text
    assert not state_of(target, "nul-value") and not state_of(target, "nul-json-key")
    text = tool_text(target.session.call("notes_add", {"title": "t", "body": "b\x00"}))
    assert "notes_add: argument 'body'" in text


def test_a_lone_surrogate_is_a_clear_error(target: Target) -> None:
    # As a JSON escape the parser itself refuses it; nothing reaches a tool.
    answer = target.session.post(target.session.call_body("state_set", '{"key": "s", "value": "\\ud800"}'))
    assert answer.status == 400 and answer.message is not None
    assert answer.message["error"]["code"] == -32700 and "escape" in answer.message["error"]["message"]
    assert not state_of(target, "s")


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "[1, -1e400]"])
def test_nan_and_1e400_are_refused_as_values(target: Target, raw: str) -> None:
    answer = target.session.post(target.session.call_body("state_set", f'{{"key": "n", "value": {raw}}}'))
    if answer.message is not None and "error" in answer.message:
        return  # refused by the JSON-RPC parser itself: also a clear error, nothing written
    assert "must be a finite number" in tool_text(answer)
    assert not state_of(target, "n")


def test_ids_and_offset_beyond_64_bits_are_refused(target: Target) -> None:
    text = tool_text(target.session.post(target.session.call_body("sessions_list", f'{{"offset": {2**64}}}')))
    assert "sessions_list: argument 'offset': is beyond the 64-bit integer range" in text
    text = tool_text(target.session.post(target.session.call_body("notes_get", f'{{"id": {2**64}}}')))
    assert "beyond the 64-bit integer range" in text
    answer = target.session.call("sessions_list", {"offset": 2**63 - 1})  # still a bigint: an empty page
    assert answer.message is not None and answer.message["result"]["structuredContent"]["sessions"] == []


def test_since_in_year_1_or_9999_is_a_clear_error(target: Target) -> None:
    for since in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        text = tool_text(target.session.call("sessions_list", {"since": since}))
        assert text.startswith("sessions_list: argument 'since': out of the range of dates"), text
    answer = target.session.call("sessions_list", {"since": "0001-01-01T00:00:00+00:00"})
    assert answer.message is not None and not answer.message["result"].get("isError"), answer.text


def test_a_cron_that_never_fires_blames_cron_in_create_and_update(target: Target) -> None:
    text = tool_text(target.session.call("schedule_create", {"name": "feb31", "cron": "0 0 31 2 *", "prompt": "p"}))
    assert text.startswith("schedule_create: argument 'cron': '0 0 31 2 *' never fires"), text
    ok = target.session.call("schedule_create", {"name": "daily", "cron": "0 8 * * *", "prompt": "p"})
    assert ok.message is not None and not ok.message["result"].get("isError"), ok.text
    text = tool_text(target.session.call("schedule_update", {"name": "daily", "cron": "0 0 31 2 *"}))
    assert text.startswith("schedule_update: argument 'cron': '0 0 31 2 *' never fires"), text


def test_schedule_prompts_are_capped_like_trigger(target: Target) -> None:
    huge = "x" * 100_001
    text = tool_text(target.session.call("schedule_create", {"name": "huge", "cron": "0 8 * * *", "prompt": huge}))
    assert "prompt" in text and "100000" in text.replace(",", "").replace("_", ""), text[:300]
    text = tool_text(target.session.call("schedule_update", {"name": "daily", "prompt": huge}))
    assert "prompt" in text, text[:300]
