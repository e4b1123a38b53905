"""Shared by the github module's tests: the stand-in served, the module run as a butler runs it."""

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
from butlers.modules.github import TOKEN_ENV, GithubConfig, GithubModule
from butlers.testing.asgi import serve_asgi
from butlers.testing.github_api import GitHubAPI

TOKEN = "ghp_standinTOKEN1234567890"
REPO = "octo/app"
SECRET = "a-webhook-secret-of-some-length"


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    """Check `condition` until it holds; fail after `timeout` seconds, naming what was awaited."""
    try:
        with anyio.fail_after(timeout):
            while not await condition():  # noqa: ASYNC110 - rows written by another task, a server's state
                await anyio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}") from None


@asynccontextmanager
async def github_api(**kwargs: Any) -> AsyncIterator[tuple[GitHubAPI, str]]:
    """The stand-in served on a free port (in the test's own task: anyio task groups need that)."""
    standin = GitHubAPI(TOKEN, **kwargs)
    async with serve_asgi(standin.app) as url:
        yield standin, url


class Running:
    def __init__(self, module: GithubModule, ctx: ModuleContext, mcp: FastMCP, gate: ApprovalGate) -> None:
        self.module, self.ctx, self.mcp, self.gate = module, ctx, mcp, gate

    async def inbound(self) -> list[InboundRecord]:
        assert self.ctx.inbound is not None
        return await self.ctx.inbound.list(channel="github")

    async def call(self, tool: str, args: dict[str, Any] | None = None) -> Any:
        async with Client(self.mcp) as client:
            result = await client.call_tool(tool, args or {})
        content = result.structured_content
        return content.get("result", content) if content else result.data


@asynccontextmanager
async def running(pool: asyncpg.Pool, data_dir: Path, config: dict[str, Any]) -> AsyncIterator[Running]:
    """The module as a butler runs it: on_startup, register_tools, serve in a task group; at the end
    serve cancelled, then on_shutdown."""
    module = GithubModule(GithubConfig.model_validate(config))
    gate = ApprovalGate(pool, "test")
    ctx = ModuleContext(
        butler="test",
        pool=pool,
        directory=data_dir,
        data_dir=data_dir,
        credentials={TOKEN_ENV: TOKEN},
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


class LateApp:
    """An ASGI app whose inner app is set once the URL it is served on is known."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
