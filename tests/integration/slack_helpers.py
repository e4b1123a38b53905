"""Running the slack module against the Slack stand-in, as a butler runs it (shared by the slack tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from fastmcp import Client, FastMCP

from butlers.core.approvals import ApprovalGate
from butlers.core.inbound import InboundLog, InboundRecord
from butlers.modules.base import ModuleContext
from butlers.modules.slack import APP_TOKEN_ENV, BOT_TOKEN_ENV, SIGNING_SECRET_ENV, SlackConfig, SlackModule
from butlers.testing.asgi import serve_asgi
from butlers.testing.slack_api import SlackAPI

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GENERAL, RANDOM = "C0GENERAL", "C0RANDOM"
ALICE, BOB, MALLORY = "U0ALICE", "U0BOB", "U0MALLORY"


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    """Check `condition` until it holds; fail after `timeout` seconds, naming what was awaited."""
    try:
        with anyio.fail_after(timeout):
            while not await condition():  # noqa: ASYNC110 - state written by other tasks and servers
                await anyio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}") from None


def workspace() -> SlackAPI:
    slack = SlackAPI()
    slack.add_channel(GENERAL, "general")
    slack.add_channel(RANDOM, "random")
    slack.add_user(ALICE, "alice", real_name="Alice Liddell", email="alice@example.org")
    slack.add_user(BOB, "bob", real_name="Bob Builder", email="bob@example.org")
    slack.add_user(MALLORY, "mallory", real_name="Mallory Evil", email="mallory@example.org")
    return slack


@asynccontextmanager
async def slack_standin() -> AsyncIterator[tuple[SlackAPI, str]]:
    slack = workspace()
    async with serve_asgi(slack.app) as url:
        yield slack, url


def socket_config(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "api_base_url": f"{url}/api",
        "allowed_channels": [GENERAL],
        "allowed_users": [ALICE],
        "ping_interval_s": 1.0,
        **extra,
    }


class Running:
    def __init__(self, module: SlackModule, ctx: ModuleContext, mcp: FastMCP, gate: ApprovalGate) -> None:
        self.module, self.ctx, self.mcp, self.gate = module, ctx, mcp, gate

    async def inbound(self) -> list[InboundRecord]:
        assert self.ctx.inbound is not None
        return await self.ctx.inbound.list(channel="slack")

    async def count(self, n: int) -> bool:
        return len(await self.inbound()) == n

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        async with Client(self.mcp) as client:
            result = await client.call_tool(tool, args)
        content = result.structured_content
        return content.get("result", content) if content else result.data


def credentials(slack: SlackAPI) -> dict[str, str]:
    return {BOT_TOKEN_ENV: slack.bot_token, APP_TOKEN_ENV: slack.app_token, SIGNING_SECRET_ENV: SECRET}


@asynccontextmanager
async def running(
    pool: asyncpg.Pool, data_dir: Path, slack: SlackAPI, config: dict[str, Any], **creds: str
) -> AsyncIterator[Running]:
    """on_startup, register_tools, serve in a task group; at the end serve cancelled, then on_shutdown."""
    module = SlackModule(SlackConfig.model_validate(config))
    gate = ApprovalGate(pool, "test")
    ctx = ModuleContext(
        butler="test",
        pool=pool,
        directory=data_dir,
        data_dir=data_dir,
        credentials=credentials(slack) | creds,
        inbound=InboundLog(pool, None, "test"),
        approvals=gate,
    )
    await module.on_startup(ctx)
    try:
        mcp = FastMCP("test")
        module.register_tools(mcp, ctx)
        async with anyio.create_task_group() as tg:
            await tg.start(module.serve, ctx)
            yield Running(module, ctx, mcp, gate)
            tg.cancel_scope.cancel()
    finally:
        await module.on_shutdown(ctx)


async def connected(run: Running) -> None:
    async def up() -> bool:
        return (await run.module.health())["ok"] is True

    await wait_until(up, "Socket Mode connected and the Web API answering")


class LateApp:
    """An ASGI app whose inner app is set once the URL it is served on is known (the butler's HTTP port)."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
