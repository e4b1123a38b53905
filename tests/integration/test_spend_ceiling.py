"""The fleet-wide monthly spend ceiling on a real daemon: sessions run below it; once this month's
recorded cost across every butler reaches it, every butler refuses new sessions, naming the setting.

The agent is the real Claude Code CLI against the model-API stand-in.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client
from spend_helpers import seed_session
from typer.testing import CliRunner

from butlers.auth import find_operator_token
from butlers.cli.butlerctl import app as butlerctl
from butlers.config import discover
from butlers.db import ServerAddress
from butlers.fleet_views import start_of_month
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.model_api import ModelApiStandIn, Text
from butlers.testing.ports import free_port
from support.cli_env import butlerctl_env

CEILING = 3.0


def write_fleet(root: Path) -> dict[str, int]:
    suffix = uuid.uuid4().hex[:6]
    ports = {f"alpha-{suffix}": free_port(), f"beta-{suffix}": free_port()}
    for name, port in ports.items():
        (root / name).mkdir(parents=True)
        (root / name / "butler.toml").write_text(f'[butler]\nname = "{name}"\nport = {port}\n')
    return ports


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Supervisor]:
    configs, errors = discover(settings.dir)
    supervisor = Supervisor(settings, configs, errors)
    async with anyio.create_task_group() as tg:
        with anyio.fail_after(60):
            await tg.start(supervisor.run)
        assert not supervisor.failures, supervisor.failures
        try:
            yield supervisor
        finally:
            supervisor.request_stop()
            with anyio.fail_after(30):
                await supervisor.stopped.wait()


async def trigger(port: int, settings: Settings) -> dict[str, Any]:
    token = find_operator_token(settings)
    assert token is not None
    async with Client(f"http://127.0.0.1:{port}/mcp", auth=token.value, timeout=120) as client:
        result = await client.call_tool("trigger", {"prompt": "Say hello.", "wait": True})
    data = result.structured_content
    assert data is not None
    return data


async def test_every_butler_refuses_sessions_once_the_monthly_ceiling_is_reached(
    tmp_path: Path, pg_address: ServerAddress, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ModelApiStandIn([Text("hello")]) as api:
        for key, value in {**api.env(), "CLAUDE_CODE_MAX_RETRIES": "0"}.items():
            monkeypatch.setenv(key, value)
        root = tmp_path / "butlers.d"
        ports = write_fleet(root)
        settings = Settings(
            dir=root, data_dir=tmp_path / "data", postgres_host=pg_address.host, postgres_port=pg_address.port,
            postgres_user=pg_address.user, postgres_password=pg_address.password, drain_timeout_s=5,
            monthly_spend_ceiling_usd=CEILING,
        )  # fmt: skip
        async with serving(settings) as supervisor:
            alpha, beta = (supervisor.butlers[name] for name in ports)
            # Last month's cost does not count against this month's ceiling.
            await seed_session(beta.pool, 100.0, start_of_month() - timedelta(minutes=1))

            below = await trigger(ports[alpha.name], settings)
            assert below["status"] == "succeeded", below
            assert len(api.requests) >= 1

            # Another butler's cost this month brings the fleet to the ceiling.
            await seed_session(beta.pool, CEILING, datetime.now(UTC))
            asked = len(api.requests)
            for butler in (alpha, beta):
                refused = await trigger(ports[butler.name], settings)
                assert refused["status"] == "failed", refused
                assert refused["error"].startswith("refused: the fleet's monthly spend ceiling of $3.00 is reached")
                assert "monthly_spend_ceiling_usd" in refused["error"]
                assert "BUTLERS_MONTHLY_SPEND_CEILING_USD" in refused["error"]
            assert len(api.requests) == asked  # no model call was made

            env = butlerctl_env(settings)
            result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(butlerctl, ["status"], env=env))
            assert "monthly ceiling: REACHED" in result.output, result.output
