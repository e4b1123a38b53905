"""Shared helpers of the spawner tests: a small butler whose agent runs against the stand-in."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from fastmcp import FastMCP

from butlers.config import AgentConfig, ButlerConfig, EnvConfig
from butlers.core.session_tools import register_session_tools
from butlers.core.spawner import Spawner
from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import ModelApiStandIn, Turn

CANARY = "canary-secret-5b1e9c"
MODEL = "claude-sonnet-4-5"
# Claude Sonnet 4.5 list prices per token, as the CLI applies them.
PRICE = {"input": 3e-6, "output": 15e-6, "cache_read": 0.3e-6, "cache_creation": 3.75e-6}


@dataclass
class Butler:
    spawner: Spawner
    api: ModelApiStandIn
    pool: asyncpg.Pool
    mcp: FastMCP


def butler_config(directory: Path, **agent: Any) -> ButlerConfig:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "CLAUDE.md").write_text("You are the general butler. Keep notes in state.\n")
    return ButlerConfig(
        name="general",
        description="test butler",
        port=1,
        schedules=[],
        env=EnvConfig(),
        agent=AgentConfig(**{"model": MODEL, **agent}),
        modules={},
        directory=directory,
    )


def state_server(pool: asyncpg.Pool) -> FastMCP:
    mcp: FastMCP = FastMCP("general")

    @mcp.tool
    async def state_set(key: str, value: int) -> str:
        """Store an integer under a key."""
        await pool.execute(
            "INSERT INTO state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2", key, value
        )
        return f"stored {key}"

    return mcp


@asynccontextmanager
async def running_butler(
    pool: asyncpg.Pool,
    tmp_path: Path,
    script: list[Turn],
    *,
    model_env: dict[str, str] | None = None,
    declared: dict[str, str] | None = None,
    **agent: Any,
) -> AsyncIterator[Butler]:
    mcp = state_server(pool)
    async with serve_asgi(mcp.http_app(path="/mcp")) as url, ModelApiStandIn(script) as api:
        creds = {"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": api.base_url, "CLAUDE_CODE_MAX_RETRIES": "0"}
        config = butler_config(tmp_path / "butlers.d" / "general", **agent)
        model = creds if model_env is None else model_env
        spawner = Spawner("general", config, pool, f"{url}/mcp", tmp_path / "data", declared or {}, model_env=model)
        register_session_tools(mcp, spawner, spawner.sessions)
        await spawner.recover_at_startup()
        async with anyio.create_task_group() as tg:
            await tg.start(spawner.run)
            yield Butler(spawner, api, pool, mcp)
            tg.cancel_scope.cancel()


async def wait_status(
    pool: asyncpg.Pool, session_id: str | uuid.UUID, statuses: set[str], within: float = 60
) -> dict[str, Any]:
    with anyio.fail_after(within):
        while True:
            row = await pool.fetchrow("SELECT * FROM sessions WHERE id = $1", uuid.UUID(str(session_id)))
            if row is not None and row["status"] in statuses:
                return dict(row)
            await anyio.sleep(0.02)  # polling a condition, bounded by fail_after
