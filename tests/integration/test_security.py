"""Who may call a butler and from where, over real HTTP against one daemon shared by this module.

Operator actions need the operator token on loopback (401 without), a foreign `Host`
or `Origin` is refused with 403 before any tool runs (MCP and webhook endpoints),
`butlerctl` finds the token itself, and `mcp-config` prints a configuration that works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import structlog
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from security_helpers import REGISTRY, OutboxModule, daemon_settings, names_by_short
from typer.testing import CliRunner

from butlers.auth import find_operator_token
from butlers.cli.butlerctl import app as butlerctl
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.daemon_thread import serve_in_thread
from support.cli_env import butlerctl_env

BUTLERD = str(Path(sys.executable).parent / "butlerd")
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "page", "version": "1"}},
}
STATE_SET = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "state_set", "arguments": {"key": "pwned", "value": 1}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class Daemon:
    def __init__(self, supervisor: Supervisor, settings: Settings, ports: dict[str, int], names: dict[str, str]):
        self.supervisor, self.settings, self.ports, self.names = supervisor, settings, ports, names
        found = find_operator_token(settings)
        assert found is not None
        self.token = found.value

    def url(self, short: str) -> str:
        return f"http://127.0.0.1:{self.ports[short]}/mcp"

    def client(self, short: str, token: str | None = None) -> Client[Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return Client(StreamableHttpTransport(self.url(short), headers=headers), timeout=10)

    def butler(self, short: str) -> Any:
        return self.supervisor.butlers[self.names[short]]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("security")
    settings, ports = daemon_settings(base / "butlers.d", base / "data", pg_address)
    # The daemon's log lines go to the real stderr, not to the stdout butlerctl's output is read from.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        with serve_in_thread(settings, REGISTRY) as supervisor:
            assert len(supervisor.serving) == 2, supervisor.failures
            yield Daemon(supervisor, settings, ports, names_by_short(settings.dir))
    finally:
        structlog.reset_defaults()


async def test_the_token_is_generated_once_into_the_data_dir_readable_by_the_owner_only(daemon: Daemon) -> None:
    path = daemon.settings.data_dir / "operator-token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == daemon.token


async def test_reading_needs_no_token_on_loopback_but_operator_actions_do(daemon: Daemon) -> None:
    async with daemon.client("alpha") as anonymous:
        assert (await anonymous.call_tool("state_get", {"key": "k"})).structured_content["found"] is False
    for tool, args in [
        ("state_set", {"key": "k", "value": 1}),
        ("state_delete", {"key": "k"}),
        ("schedule_create", {"name": "x", "cron": "0 8 * * *", "prompt": "p"}),
        ("approval_approve", {"approval_id": "5a1b2c3d-0000-4000-8000-000000000001"}),
        ("approval_reject", {"approval_id": "5a1b2c3d-0000-4000-8000-000000000001"}),
        ("session_cancel", {"session_id": "5a1b2c3d-0000-4000-8000-000000000001"}),
    ]:
        status, body = await raw_call(daemon.ports["alpha"], tool, cast(dict[str, Any], args))
        assert status == 401, (tool, body)
        assert reason(body) == "token_required"
    async with daemon.client("alpha", daemon.token) as operator:
        await operator.call_tool("state_set", {"key": "k", "value": 1})
        assert (await operator.call_tool("state_get", {"key": "k"})).structured_content["value"] == 1


async def test_a_wrong_token_is_refused_even_for_reading(daemon: Daemon) -> None:
    status, body = await raw_call(daemon.ports["alpha"], "state_get", {"key": "k"}, token="not-the-token-at-all")
    assert (status, reason(body)) == (401, "invalid_token")


async def test_a_session_credential_never_decides_approvals(daemon: Daemon) -> None:
    butler = daemon.butler("alpha")
    credential = butler.session_credentials.issue("test-session")
    try:
        status, _ = await raw_call(daemon.ports["alpha"], "state_get", {"key": "k"}, token=credential)
        assert status == 400  # past the guard: the stateful transport wants `initialize` first
        for tool in ("approval_approve", "approval_reject", "trigger", "session_cancel"):
            status, body = await raw_call(daemon.ports["alpha"], tool, {"approval_id": "x"}, token=credential)
            assert (status, reason(body)) == (403, "forbidden_tool"), tool
        # Another butler does not know this butler's session credentials.
        status, _ = await raw_call(daemon.ports["beta"], "state_get", {"key": "k"}, token=credential)
        assert status == 401
    finally:
        butler.session_credentials.revoke(credential)
    status, _ = await raw_call(daemon.ports["alpha"], "state_get", {"key": "k"}, token=credential)
    assert status == 401  # revoked with its session


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Host": "evil.example:{port}"}, "forbidden_host"),
        ({"Host": "127.0.0.1:1"}, "forbidden_host"),
        ({"Origin": "http://evil.example"}, "forbidden_origin"),
        ({"Origin": "http://127.0.0.1:1"}, "forbidden_origin"),
        ({"Host": "evil.example:{port}", "Origin": "http://evil.example:{port}"}, "forbidden_host"),
    ],
)
async def test_a_foreign_host_or_origin_is_refused_before_any_tool_runs(
    daemon: Daemon, headers: dict[str, str], why: str
) -> None:
    port = daemon.ports["alpha"]
    sent = {k: v.format(port=port) for k, v in headers.items()}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for body in (INIT, STATE_SET):  # also a single sessionless POST
            answer = await http.post("/mcp", json=body, headers={**MCP_HEADERS, **sent, "Authorization": ""})
            assert answer.status_code == 403, answer.text
            assert reason(answer.json()) == why
        hook = await http.post("/hooks/outbox", content=b"from a page", headers=sent)
        assert hook.status_code == 403
    assert "from a page" not in OutboxModule.hooks
    async with daemon.client("alpha") as client:
        assert (await client.call_tool("state_get", {"key": "pwned"})).structured_content["found"] is False


async def test_the_daemons_own_origin_and_webhooks_with_a_good_host_pass(daemon: Daemon) -> None:
    port = daemon.ports["alpha"]
    async with httpx.AsyncClient(base_url=f"http://localhost:{port}") as http:
        answer = await http.post("/mcp", json=INIT, headers={**MCP_HEADERS, "Origin": f"http://localhost:{port}"})
        assert answer.status_code == 200
        assert (await http.post("/hooks/outbox", content=b"signed update")).status_code == 200
    assert "signed update" in OutboxModule.hooks


def test_butlerctl_finds_the_token_and_records_who_decided(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio

    async def hold() -> str:
        async with daemon.client("alpha") as client:  # an agent-like caller may ask; it cannot decide
            held = await client.call_tool("email_send", {"to": "ann@example.org", "subject": "Tue", "body": "hi"})
        return str(held.structured_content["approval_id"])

    approval_id = anyio.run(hold)
    sent_before = list(OutboxModule.sent)  # class-wide: other tests in this worker may have sent mail
    runner = CliRunner()
    env = butlerctl_env(daemon.settings)
    monkeypatch.delenv("BUTLERS_TOKEN", raising=False)
    nowhere = {**env, "BUTLERS_DATA_DIR": str(daemon.settings.data_dir / "elsewhere")}
    refused = runner.invoke(butlerctl, ["approvals", "approve", daemon.names["alpha"], approval_id], env=nowhere)
    assert refused.exit_code == 1
    assert "refused (401)" in refused.output and "operator action" in refused.output
    assert OutboxModule.sent == sent_before
    done = runner.invoke(butlerctl, ["approvals", "approve", daemon.names["alpha"], approval_id, "--json"], env=env)
    assert done.exit_code == 0, done.output
    record = json.loads(done.output)
    assert (record["status"], record["decided_by"], record["decided_via"]) == ("succeeded", "operator", "butlerctl")
    assert OutboxModule.sent[len(sent_before) :] == [{"to": "ann@example.org", "subject": "Tue", "body": "hi"}]


def test_mcp_config_output_is_used_as_is(daemon: Daemon) -> None:
    import anyio

    runner = CliRunner()
    env = butlerctl_env(daemon.settings)
    name = daemon.names["beta"]
    plain = json.loads(runner.invoke(butlerctl, ["mcp-config", name], env=env).output)
    assert plain == {"name": name, "transport": "streamable-http", "url": daemon.url("beta"), "headers": {}}
    code = json.loads(runner.invoke(butlerctl, ["mcp-config", name, "--client", "claude-code"], env=env).output)
    assert code == {"mcpServers": {name: {"type": "http", "url": daemon.url("beta")}}}
    full = json.loads(runner.invoke(butlerctl, ["mcp-config", name, "--with-token"], env=env).output)
    assert full["headers"] == {"Authorization": f"Bearer {daemon.token}"}

    async def use(config: dict[str, Any]) -> Any:
        async with Client(StreamableHttpTransport(config["url"], headers=config["headers"])) as client:
            await client.call_tool("state_set", {"key": "from-config", "value": 7})
            return (await client.call_tool("state_get", {"key": "from-config"})).structured_content["value"]

    assert anyio.run(use, full) == 7


def test_a_non_loopback_bind_without_an_explicit_token_is_refused_at_start(tmp_path: Path) -> None:
    root = tmp_path / "butlers.d"
    (root / "open").mkdir(parents=True)
    (root / "open" / "butler.toml").write_text('[butler]\nname = "open"\nport = 1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "BUTLERS_"))}
    env |= {"BUTLERS_DIR": str(root), "BUTLERS_DATA_DIR": str(tmp_path / "data"), "BUTLERS_HOST": "0.0.0.0"}
    env["BUTLERS_DASHBOARD_ENABLED"] = "false"  # no dashboard on the real port 8200
    done = subprocess.run([BUTLERD, "serve"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0" in done.stderr
    assert "BUTLERS_TOKEN" in done.stderr


async def test_a_deeply_nested_body_from_an_anonymous_caller_is_a_parse_error_not_a_crash(daemon: Daemon) -> None:
    # The guard reads an anonymous caller's body to see which tools it calls. json.loads raised
    # RecursionError out of the guard on deep nesting (a 500 and a traceback); the guard now uses
    # the SDK's own parser, so it refuses the body exactly as the SDK does: a JSON-RPC parse error.
    deep = "[" * 100_000 + "]" * 100_000
    nested_call = json.dumps(STATE_SET).replace('"value": 1', f'"value": {deep}')
    async with httpx.AsyncClient() as http:
        for body in (deep, nested_call):
            answer = await http.post(daemon.url("alpha"), content=body, headers=MCP_HEADERS)
            assert answer.status_code == 400, answer.text[:300]
            assert answer.json()["error"]["code"] == -32700, answer.text[:300]
    async with daemon.client("alpha") as anonymous:  # still serving, and nothing was written
        assert (await anonymous.call_tool("state_get", {"key": "pwned"})).structured_content["found"] is False


def reason(body: Any) -> str:
    return str(body["error"]["data"]["reason"])


async def raw_call(port: int, tool: str, args: dict[str, Any], token: str | None = None) -> tuple[int, Any]:
    """One sessionless `tools/call` POST, as a script or a page would send it."""
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {token}"} if token else {})}
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"http://127.0.0.1:{port}/mcp", json=body, headers=headers)
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text
