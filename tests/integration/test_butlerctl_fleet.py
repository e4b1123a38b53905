"""`butlerctl spend`, `schedules` and `state` over real MCP against one real daemon (two butlers).

The operator token is found by butlerctl itself (the daemon's data dir); changes
made by the commands are checked over MCP and in the butlers' databases.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
import structlog
from fastmcp import Client
from spend_helpers import connect, seed_session
from typer.testing import CliRunner

from butlers.auth import find_operator_token
from butlers.cli.butlerctl import app as butlerctl
from butlers.db import ServerAddress
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.daemon_thread import serve_in_thread
from butlers.testing.ports import free_port
from support.cli_env import butlerctl_env

ALPHA_EXTRA = """
[[butler.schedule]]
name = "stash"
cron = "0 3 * * *"
tool = "state_set"
args = { key = "stashed", value = { by = "schedule" } }
"""


@dataclass
class Daemon:
    supervisor: Supervisor
    settings: Settings
    names: dict[str, str]
    ports: dict[str, int]
    address: ServerAddress

    def cli(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(butlerctl, list(args), env={**butlerctl_env(self.settings), **(env or {})})
        return result.exit_code, result.output

    def mcp(self, short: str, tool: str, **args: Any) -> Any:
        async def go() -> Any:
            token = find_operator_token(self.settings)
            assert token is not None
            async with Client(f"http://127.0.0.1:{self.ports[short]}/mcp", auth=token.value) as client:
                return (await client.call_tool(tool, args)).structured_content

        return anyio.run(go)

    def sql(self, short: str, query: str, *args: Any) -> Any:
        async def go() -> Any:
            conn = await connect(self.address, self.supervisor.butlers[self.names[short]].database)
            try:
                return await conn.fetch(query, *args)
            finally:
                await conn.close()

        return anyio.run(go)

    def seed(self, short: str, cost: float, finished_at: datetime, schedule: str | None = None) -> None:
        async def go() -> None:
            conn = await connect(self.address, self.supervisor.butlers[self.names[short]].database)
            try:
                await seed_session(conn, cost, finished_at, schedule=schedule)
            finally:
                await conn.close()

        anyio.run(go)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pg_address: ServerAddress) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("fleetcli")
    suffix = uuid.uuid4().hex[:6]
    names = {"alpha": f"alpha-{suffix}", "beta": f"beta-{suffix}"}
    ports = {"alpha": free_port(), "beta": free_port()}
    for short, name in names.items():
        (base / "butlers.d" / name).mkdir(parents=True)
        extra = ALPHA_EXTRA if short == "alpha" else "[butler.agent]\ndaily_budget_usd = 1.0\n"
        toml = f'[butler]\nname = "{name}"\nport = {ports[short]}\n{extra}'
        (base / "butlers.d" / name / "butler.toml").write_text(toml)
    settings = Settings(
        dir=base / "butlers.d", data_dir=base / "data", postgres_host=pg_address.host,
        postgres_port=pg_address.port, postgres_user=pg_address.user, postgres_password=pg_address.password,
        drain_timeout_s=5, heartbeat_interval_s=3600,
    )  # fmt: skip
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        with serve_in_thread(settings) as supervisor:
            assert len(supervisor.serving) == 2, supervisor.failures
            yield Daemon(supervisor, settings, names, ports, pg_address)
    finally:
        structlog.reset_defaults()


def test_spend_by_butler_schedule_and_day(daemon: Daemon) -> None:
    now = datetime.now(UTC)
    daemon.seed("alpha", 0.5, now, schedule="briefing")
    daemon.seed("alpha", 0.25, now)
    daemon.seed("beta", 1.25, now)
    code, out = daemon.cli("spend", "--json")
    assert code == 0, out
    answer = json.loads(out)
    by_butler = {r["butler"]: r["cost_usd"] for r in answer["rows"]}
    assert by_butler == {daemon.names["alpha"]: 0.75, daemon.names["beta"]: 1.25}
    assert answer["total_usd"] == 2.0
    assert answer["ceiling"]["ceiling_usd"] is None and answer["ceiling"]["spent_usd"] >= 2.0
    beta_budget = next(b for b in answer["budgets"] if b["butler"] == daemon.names["beta"])
    assert beta_budget["daily_budget_usd"] == 1.0 and beta_budget["reached"] is True

    code, out = daemon.cli("spend", "--by", "schedule", "--json")
    schedules = {(r["butler"], r["schedule"]): r["cost_usd"] for r in json.loads(out)["rows"]}
    assert schedules[(daemon.names["alpha"], "briefing")] == 0.5
    code, out = daemon.cli("spend", "--by", "day", "--since", (now - timedelta(days=2)).date().isoformat())
    assert code == 0, out
    assert daemon.names["beta"] in out and "1.2500" in out and "no monthly ceiling" in out

    code, out = daemon.cli("spend")
    assert code == 0 and "1.00 (reached)" in out  # beta's daily budget against today's use


def test_spend_refuses_bad_options(daemon: Daemon) -> None:
    code, out = daemon.cli("spend", "--by", "week")
    assert code == 2 and "'week' is not one of butler, schedule, day" in out
    code, out = daemon.cli("spend", "--since", "yesterday")
    assert code == 2 and "is not a date" in out
    code, out = daemon.cli("spend", "--since", "2999-01-01")
    assert code == 2 and "in the future" in out


def test_schedules_create_disable_enable_run_and_delete(daemon: Daemon) -> None:
    alpha = daemon.names["alpha"]
    code, out = daemon.cli("schedules", "create", alpha, "nightly", "--cron", "30 2 * * *", "--prompt", "Tidy up.")
    assert code == 0, out
    listed = {s["name"]: s for s in daemon.mcp("alpha", "schedule_list")["schedules"]}
    assert listed["nightly"]["cron"] == "30 2 * * *" and listed["nightly"]["source"] == "runtime"

    code, out = daemon.cli("schedules", "disable", alpha, "nightly")
    assert code == 0, out
    assert (
        next(s for s in daemon.mcp("alpha", "schedule_list")["schedules"] if s["name"] == "nightly")["enabled"] is False
    )
    code, out = daemon.cli("schedules", "enable", alpha, "nightly", "--json")
    assert code == 0 and json.loads(out)["enabled"] is True

    code, out = daemon.cli("schedules", "list", alpha)
    assert code == 0 and "nightly" in out and "stash" in out and "state_set(" in out

    code, out = daemon.cli("schedules", "run", alpha, "nightly", "--json")
    assert code == 0, out
    run = json.loads(out)
    assert run["mode"] == "prompt"
    rows = daemon.sql("alpha", "SELECT schedule_name, trigger_source FROM sessions WHERE id = $1",
                      uuid.UUID(run["session_id"]))  # fmt: skip
    assert [tuple(r) for r in rows] == [("nightly", "schedule")]

    code, out = daemon.cli("schedules", "delete", alpha, "nightly")
    assert code == 0, out
    assert "nightly" not in {s["name"] for s in daemon.mcp("alpha", "schedule_list")["schedules"]}


def test_running_a_tool_schedule_calls_the_tool_and_leaves_its_next_window(daemon: Daemon) -> None:
    alpha = daemon.names["alpha"]
    before = next(s for s in daemon.mcp("alpha", "schedule_list")["schedules"] if s["name"] == "stash")
    code, out = daemon.cli("schedules", "run", alpha, "stash")
    assert code == 0, out
    assert "ran state_set for schedule stash: succeeded" in out
    assert daemon.mcp("alpha", "state_get", key="stashed")["value"] == {"by": "schedule"}
    after = next(s for s in daemon.mcp("alpha", "schedule_list")["schedules"] if s["name"] == "stash")
    assert after["next_run_at"] == before["next_run_at"] and after["last_run_at"] is not None


def test_schedules_refuse_bad_input_and_write_nothing(daemon: Daemon) -> None:
    alpha = daemon.names["alpha"]
    before = daemon.mcp("alpha", "schedule_list")["schedules"]
    code, out = daemon.cli("schedules", "create", alpha, "x", "--cron", "* * * * *", "--at", "2999-01-01T00:00Z",
                           "--prompt", "p")  # fmt: skip
    assert code == 2 and "exactly one of --cron and --at" in out
    code, out = daemon.cli("schedules", "create", alpha, "x", "--cron", "* * * * *", "--tool", "state_set",
                           "--args", "{not json")  # fmt: skip
    assert code == 2 and "not JSON" in out
    code, out = daemon.cli("schedules", "create", alpha, "x", "--cron", "every day", "--prompt", "p")
    assert code == 1 and "schedule_create" in out and "cron" in out
    code, out = daemon.cli("schedules", "run", alpha, "no-such")
    assert code == 1 and "schedule_run: argument 'name'" in out and "no schedule named 'no-such'" in out
    code, out = daemon.cli("schedules", "list", "nobody")
    assert code == 2 and "unknown butler 'nobody'" in out
    assert daemon.mcp("alpha", "schedule_list")["schedules"] == before


def test_state_set_get_list_and_delete(daemon: Daemon) -> None:
    beta = daemon.names["beta"]
    code, out = daemon.cli("state", "set", beta, "lists/groceries", '{"items": ["milk"]}')
    assert code == 0 and "version 1" in out, out
    code, out = daemon.cli("state", "set", beta, "lists/todo", "call mum", "--text")
    assert code == 0, out
    code, out = daemon.cli("state", "get", beta, "lists/groceries")
    assert code == 0 and json.loads(out) == {"items": ["milk"]}
    code, out = daemon.cli("state", "list", beta, "--prefix", "lists/", "--json")
    assert [e["key"] for e in json.loads(out)["entries"]] == ["lists/groceries", "lists/todo"]
    code, out = daemon.cli("state", "set", beta, "lists/groceries", "[]", "--expected-version", "7")
    assert code == 1 and "state_set: argument 'expected_version'" in out
    code, out = daemon.cli("state", "delete", beta, "lists/todo")
    assert code == 0, out
    assert daemon.mcp("beta", "state_get", key="lists/todo")["found"] is False
    code, out = daemon.cli("state", "get", beta, "lists/todo")
    assert code == 1 and "no key 'lists/todo'" in out
    code, out = daemon.cli("state", "delete", beta, "lists/todo")
    assert code == 1


def test_state_set_refuses_bad_json_and_needs_the_token(daemon: Daemon) -> None:
    beta = daemon.names["beta"]
    code, out = daemon.cli("state", "set", beta, "broken", "{oops")
    assert code == 2 and "not JSON" in out
    elsewhere = {"BUTLERS_DATA_DIR": str(daemon.settings.data_dir / "elsewhere"), "BUTLERS_TOKEN": ""}
    code, out = daemon.cli("state", "set", beta, "broken", "1", env=elsewhere)
    assert code == 1 and "operator action" in out
    code, out = daemon.cli("state", "get", beta, "broken", env=elsewhere)  # reading needs no token on loopback
    assert code == 1 and "no key 'broken'" in out
    assert daemon.sql("beta", "SELECT key FROM state WHERE key = 'broken'") == []
