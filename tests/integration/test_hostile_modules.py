"""Every tool of every module, driven with hypothesis from its own JSON schema and with hostile values.

The companion of test_hostile_input.py (the core tools): one daemon for the whole module, one butler
per module, each module on its real outside parts (hostile_fleet.py), over real HTTP as the operator.
Each answer must be a result or a clear tool error, never FastMCP's masked internal error, a traceback
or a dropped connection; after each module its butler and another one still serve. The figures (calls,
answers by kind, per module) are printed at the end.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from db_fingerprint import DatabaseFingerprint, NoPartialWrite
from hostile_fleet import MODULES, ModuleFleet, module_fleet
from hypothesis import HealthCheck, given, settings
from switchboard_fleet import environment
from test_hostile_input import classify, hostile_arguments, tool_text

from butlers.auth import find_operator_token
from butlers.db import ServerAddress
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.raw_mcp import RawMcpSession

pytestmark = pytest.mark.integration

EXAMPLES_PER_TOOL = int(os.environ.get("BUTLERS_FUZZ_EXAMPLES", "10"))
HUGE = 10_000_001  # characters: a 10 MB string
FIGURES: Counter[str] = Counter()
BY_MODULE: Counter[str] = Counter()
WRITES: Counter[str] = Counter()  # the no-partial-write check: calls checked, fingerprints, milliseconds


class Daemon:
    def __init__(self, fleet: ModuleFleet, token: str, pg: ServerAddress) -> None:
        self.fleet, self.token, self.pg = fleet, token, pg

    def session(self, module: str) -> RawMcpSession:
        return RawMcpSession(f"http://127.0.0.1:{self.fleet.ports[module]}/mcp", self.token, timeout=60)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    with (
        module_fleet(tmp_path_factory.mktemp("fuzz-modules"), pg_address) as fleet,
        environment(fleet.env),
        serve_in_thread(fleet.settings) as supervisor,
    ):
        assert len(supervisor.serving) == len(MODULES), supervisor.failures
        token = find_operator_token(fleet.settings)
        assert token is not None
        yield Daemon(fleet, token.value, pg_address)


def module_tools(daemon: Daemon, module: str) -> dict[str, dict[str, Any]]:
    """The tools `module` adds: its butler's tools less those every butler has (the core)."""
    with daemon.session(module) as own, daemon.session("notes" if module != "notes" else "health") as other:
        mine = {t["name"]: t for t in own.list_tools()}
        core = {t["name"] for t in other.list_tools()}
    return {name: tool for name, tool in mine.items() if name not in core}


def first_text_argument(tool: dict[str, Any]) -> str | None:
    for name, prop in tool["inputSchema"].get("properties", {}).items():
        kinds = [prop.get("type")] + [s.get("type") for s in prop.get("anyOf", [])]
        if "string" in kinds:
            return str(name)
    return None


class Fuzzed:
    """One module's butler under fuzz: its MCP session, the no-partial-write check, what failed."""

    def __init__(self, module: str, session: RawMcpSession, writes: NoPartialWrite) -> None:
        self.module, self.session, self.writes = module, session, writes
        self.failures: list[str] = []


def fuzz_tool(fuzzed: Fuzzed, name: str, tool: dict[str, Any]) -> None:
    @settings(max_examples=EXAMPLES_PER_TOOL, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(arguments=hostile_arguments(tool))
    def run(arguments: str) -> None:
        record(fuzzed, name, arguments)

    run()
    record(fuzzed, name, '{"\\ud800": 1}')  # a lone surrogate in a key


def record(fuzzed: Fuzzed, name: str, arguments: str) -> None:
    session, module, failures = fuzzed.session, fuzzed.module, fuzzed.failures
    answer = fuzzed.writes.around(
        lambda: session.post(session.call_body(name, arguments)),
        lambda answer: classify(name, answer) != "ok",
        f"{name}({arguments[:200]})",
    )
    kind = classify(name, answer)
    FIGURES[kind] += 1
    BY_MODULE[module] += 1
    if kind in ("internal_error", "traceback") or kind.startswith("http_"):
        failures.append(f"{kind}: {name}({arguments[:300]}) -> {answer.text[:300]}")


@pytest.mark.parametrize("module", MODULES)
def test_every_tool_of_the_module_answers_hostile_input_with_a_result_or_a_clear_error(
    daemon: Daemon, module: str
) -> None:
    tools = module_tools(daemon, module)
    assert tools, f"module {module} shows no tools of its own"
    with (
        closing(DatabaseFingerprint(daemon.pg, daemon.fleet.names[module])) as fingerprint,
        daemon.session(module) as session,
    ):
        writes = NoPartialWrite(fingerprint, fingerprint.wait_until_idle)
        fuzzed = Fuzzed(module, session, writes)
        for name, tool in sorted(tools.items()):
            fuzz_tool(fuzzed, name, tool)
        text_tool = next((n for n, t in sorted(tools.items()) if first_text_argument(t)), None)
        if text_tool is not None:  # one 10 MB string per module: refused early by the transport
            arg = first_text_argument(tools[text_tool])
            record(fuzzed, text_tool, json.dumps({arg: "x" * HUGE}))
        WRITES.update(checked=writes.checked, fingerprints=writes.taken, ms=round(writes.seconds * 1000),
                      waited_ms=round(writes.waited * 1000))  # fmt: skip
        assert not fuzzed.failures, "\n".join(fuzzed.failures[:8])
        assert not writes.failures, "\n".join(writes.failures[:8])  # never a partial write
        assert classify("state_get", session.call("state_get", {"key": "alive"})) == "ok"  # still serving
    with daemon.session("notes" if module != "notes" else "health") as other:
        assert classify("state_get", other.call("state_get", {"key": "alive"})) == "ok"


def test_a_control_character_in_a_calendar_uid_or_text_is_a_clear_error_and_nothing_is_created(
    daemon: Daemon,
) -> None:
    # Found by the fuzz: the CalDAV client refused it deep inside ("strings must be XML compatible").
    with daemon.session("calendar") as session:
        text = tool_text(session.call("calendar_delete_event", {"uid": "a\x05b"}))
        assert text.startswith("calendar_delete_event: argument 'uid': must not contain control characters"), text
        event = {"summary": "tea\x13", "start": "2030-01-01T10:00:00", "end": "2030-01-01T11:00:00"}
        text = tool_text(session.call("calendar_create_event", event))
        assert text.startswith("calendar_create_event: argument 'summary': must not contain control"), text
        listed = session.call("calendar_list_events", {"start": "2030-01-01", "end": "2030-01-02"})
        assert listed.message is not None and "tea" not in json.dumps(listed.message["result"])


def test_zz_module_figures(capsys: pytest.CaptureFixture[str]) -> None:
    calls = sum(FIGURES.values())
    with capsys.disabled():
        print(f"\nhostile-input fuzz over module tools: {calls} calls; answers by kind: {dict(FIGURES)}; "
              f"calls by module: {dict(BY_MODULE)}")  # fmt: skip
        print(f"no partial write: {WRITES['checked']} calls answered with an error fingerprinted before and after "
              f"({WRITES['fingerprints']} fingerprints in {WRITES['ms'] / 1000:.1f} s, "
              f"{WRITES['waited_ms'] / 1000:.1f} s waiting for work in flight)")  # fmt: skip
    assert calls == 0 or FIGURES["internal_error"] == 0
