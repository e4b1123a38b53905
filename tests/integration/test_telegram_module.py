"""The telegram module against a local stand-in of the Bot API, reached through the client's base URL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
import asyncpg
import httpx
import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.core.approvals import ApprovalGate
from butlers.core.inbound import InboundLog, InboundRecord
from butlers.db import ServerAddress
from butlers.migrate import apply_migrations
from butlers.modules.base import ModuleContext
from butlers.modules.telegram import TOKEN_ENV, TelegramConfig, TelegramModule
from butlers.settings import Settings
from butlers.testing.asgi import serve_asgi
from butlers.testing.module_contract import check_module_contract
from butlers.testing.telegram_api import TelegramBotAPI

TOKEN = "424242:standin-token"
ALICE_CHAT = 1001
SECRET = "s3cret_token-for-tests"


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    """Check `condition` until it holds; fail after `timeout` seconds, naming what was awaited."""
    try:
        with anyio.fail_after(timeout):
            while not await condition():  # noqa: ASYNC110 - rows written by another task, a server's state
                await anyio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}") from None


@asynccontextmanager
async def bot_api() -> AsyncIterator[tuple[TelegramBotAPI, str]]:
    """The stand-in served on a free port (in the test's own task: anyio task groups need that)."""
    standin = TelegramBotAPI(TOKEN)
    async with serve_asgi(standin.app) as url:
        yield standin, url


class Running:
    def __init__(self, module: TelegramModule, ctx: ModuleContext, mcp: FastMCP, gate: ApprovalGate) -> None:
        self.module, self.ctx, self.mcp, self.gate = module, ctx, mcp, gate

    async def inbound(self) -> list[InboundRecord]:
        assert self.ctx.inbound is not None
        return await self.ctx.inbound.list(channel="telegram")

    async def call(self, tool: str, args: dict[str, Any]) -> Any:
        async with Client(self.mcp) as client:
            result = await client.call_tool(tool, args)
        return (
            result.structured_content.get("result", result.structured_content)
            if result.structured_content
            else result.data
        )


@asynccontextmanager
async def running(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path, config: dict[str, Any]
) -> AsyncIterator[Running]:
    """The module as a butler runs it: migrations, on_startup, register_tools, serve in a task group;
    at the end serve cancelled, then on_shutdown."""
    assert TelegramModule.migrations_dir is not None
    await apply_migrations(pg_address, database, TelegramModule.migrations_dir, "telegram")
    module = TelegramModule(TelegramConfig.model_validate(config))
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


def polling(url: str, **extra: Any) -> dict[str, Any]:
    return {"api_base_url": url, "allowed_chat_ids": [ALICE_CHAT], "poll_timeout_s": 5, **extra}


async def test_polling_delivers_an_allowed_message_as_exactly_one_inbound_message(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    async with bot_api() as (standin, url), running(pool, pg_address, database, data_dir, polling(url)) as bot:
        update = standin.enqueue_message(ALICE_CHAT, "remember the milk", username="Alice")

        async def one_inbound() -> bool:
            return len(await bot.inbound()) == 1

        await wait_until(one_inbound, "the message stored as an inbound message")

        async def confirmed() -> bool:  # the next getUpdates carries offset = update_id + 1
            return not standin.pending

        await wait_until(confirmed, "the update confirmed to the Bot API")
        [row] = await bot.inbound()
        assert row.external_id == f"{ALICE_CHAT}:{update['message']['message_id']}"
        assert row.sender == "@Alice"
        assert row.text == "remember the milk"
        assert row.metadata is not None and row.metadata["chat_id"] == ALICE_CHAT
        assert "deleteWebhook" in standin.calls  # polling clears a webhook first, or getUpdates gets 409

        # Delivered again (e.g. after a restart before the offset was confirmed): still one.
        standin.enqueue_update({"message": update["message"]})
        await wait_until(confirmed, "the repeated update read and confirmed")
        assert len(await bot.inbound()) == 1

        recent = await bot.call("telegram_recent", {"chat": ALICE_CHAT})
        assert [(m["direction"], m["text"]) for m in recent] == [("in", "remember the milk")]
        assert bot.module.received == 1


async def test_a_chat_not_on_the_allow_list_is_ignored_and_counted(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    async with (
        bot_api() as (standin, url),
        running(pool, pg_address, database, data_dir, polling(url, allowed_usernames=["@bob"])) as bot,
    ):
        standin.enqueue_message(666, "let me in", username="mallory")
        standin.enqueue_message(777, "hi from bob", username="Bob")  # allowed by username
        standin.enqueue_message(ALICE_CHAT, "hi from alice")

        async def two_inbound() -> bool:
            return len([r for r in await bot.inbound() if r.status != "ignored"]) == 2

        await wait_until(two_inbound, "the two allowed messages stored")
        # Updates are handled in order, so the stranger's (queued first) was seen by now.
        rows = await bot.inbound()
        assert sorted(r.text for r in rows if r.status != "ignored") == ["hi from alice", "hi from bob"]
        # The stranger's message is kept, marked ignored with why, and never handed to anyone.
        [kept] = [r for r in rows if r.status == "ignored"]
        assert (kept.sender, kept.text, kept.session_id) == ("@mallory", "let me in", None)
        assert "chat 666 is not on the allow-list" in (kept.error or "")
        assert bot.module.ignored_chats.count == 1
        health = await bot.module.health()
        assert health["ok"] is True, health
        assert health["bot"] == f"@{standin.username}"
        assert health["ignored"] == 1
        assert [(c["chat_id"], c["count"]) for c in health["ignored_chats"]] == [(666, 1)]
        assert await pool.fetchval("SELECT count(*) FROM telegram_messages WHERE chat_id = 666") == 0


async def test_telegram_send_reaches_the_bot_api_with_the_right_chat_and_text(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    async with (
        bot_api() as (standin, url),
        running(pool, pg_address, database, data_dir, polling(url, allowed_usernames=["carol"])) as bot,
    ):
        result = await bot.call("telegram_send", {"chat": ALICE_CHAT, "text": "Milk is on the list."})
        assert result["status"] == "sent"
        assert [(m.chat_id, m.text) for m in standin.sent] == [(ALICE_CHAT, "Milk is on the list.")]
        assert result["message_id"] == standin.sent[0].message_id

        # A chat not on the allow-list, a username that never wrote, an empty text: refused, nothing sent.
        for args, expected in [
            ({"chat": 555, "text": "hi"}, "argument 'chat'"),
            ({"chat": "@carol", "text": "hi"}, "has not written to the bot yet"),
            ({"chat": "@dave", "text": "hi"}, "not on the allow-list"),
            ({"chat": ALICE_CHAT, "text": "  "}, "argument 'text'"),
        ]:
            with pytest.raises(ToolError, match=expected):
                await bot.call("telegram_send", cast(dict[str, Any], args))
        assert len(standin.sent) == 1

        # Once @carol has written, her name resolves to her chat.
        standin.enqueue_message(3003, "hello", username="Carol")

        async def carol_seen() -> bool:
            return any(r.sender == "@Carol" for r in await bot.inbound())

        await wait_until(carol_seen, "carol's message stored")
        await bot.call("telegram_send", {"chat": "@carol", "text": "Hi Carol"})
        assert (standin.sent[-1].chat_id, standin.sent[-1].text) == (3003, "Hi Carol")
        recent = await bot.call("telegram_recent", {"limit": 10})
        assert [(m["direction"], m["chat_id"], m["text"]) for m in recent][:2] == [
            ("out", 3003, "Hi Carol"),
            ("in", 3003, "hello"),
        ]


async def test_sending_waits_for_approval_and_an_approval_runs_once(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    async with bot_api() as (standin, url):
        config = polling(url, require_approval=["telegram_send"])
        async with running(pool, pg_address, database, data_dir, config) as bot:
            pending = await bot.call("telegram_send", {"chat": ALICE_CHAT, "text": "I will be there at 6."})
            assert pending["status"] == "pending_approval"
            assert "I will be there at 6." in pending["summary"]
            assert standin.sent == []
            approval_id = uuid.UUID(pending["approval_id"])
            first = await bot.gate.approve(approval_id)
            second = await bot.gate.approve(approval_id)
            assert first.status == second.status == "succeeded"
            assert [(m.chat_id, m.text) for m in standin.sent] == [(ALICE_CHAT, "I will be there at 6.")]

            # Rejected: nothing sent.
            other = await bot.call("telegram_send", {"chat": ALICE_CHAT, "text": "never"})
            await bot.gate.reject(uuid.UUID(other["approval_id"]), "no")
            assert len(standin.sent) == 1


class LateApp:
    """An ASGI app whose inner app is set once the URL it is served on is known."""

    def __init__(self) -> None:
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


async def test_webhook_accepts_updates_with_the_secret_and_refuses_others(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    async with bot_api() as (standin, api_url):
        late = LateApp()
        async with serve_asgi(late, lifespan="off") as butler_url:
            config = {
                "mode": "webhook",
                "api_base_url": api_url,
                "allowed_chat_ids": [ALICE_CHAT],
                "webhook": {"path": "/telegram/hook", "secret_token": SECRET, "public_url": butler_url},
            }
            async with running(pool, pg_address, database, data_dir, config) as bot:
                late.app = bot.mcp.http_app(path="/mcp")

                async def webhook_set() -> bool:  # the module marks it once setWebhook's answer is back
                    return standin.webhook_url == f"{butler_url}/telegram/hook" and bot.module.webhook_set

                await wait_until(webhook_set, "setWebhook called at startup")
                assert standin.webhook_secret == SECRET
                assert standin.webhook_allowed_updates == ["message", "callback_query"]

                # Telegram (the stand-in) posts the update with the secret header: accepted and recorded.
                standin.enqueue_message(ALICE_CHAT, "via webhook")
                assert await standin.deliver_webhook() == [200]
                [row] = await bot.inbound()
                assert row.text == "via webhook"

                # Anyone else: a wrong or missing secret gets 403 and nothing is recorded.
                forged = standin.enqueue_message(ALICE_CHAT, "forged")
                standin.pending.clear()
                async with httpx.AsyncClient(base_url=butler_url) as client:
                    wrong = await client.post(
                        "/telegram/hook", json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                    )
                    missing = await client.post("/telegram/hook", json=forged)
                assert (wrong.status_code, missing.status_code) == (403, 403)
                assert [r.text for r in await bot.inbound()] == ["via webhook"]
                assert await pool.fetchval("SELECT count(*) FROM telegram_messages") == 1
                health = await bot.module.health()
                assert health["ok"] is True and health["webhook_set"] is True, health


async def test_health_reports_an_unreachable_bot_api(
    pool: asyncpg.Pool, pg_address: ServerAddress, database: str, data_dir: Path
) -> None:
    async with serve_asgi(TelegramBotAPI(TOKEN).app) as url:
        pass  # served and stopped: nothing listens there any more
    async with running(pool, pg_address, database, data_dir, polling(url)) as bot:
        health = await bot.module.health()
    assert health["ok"] is False
    assert "unreachable" in health["error"]


async def test_telegram_meets_the_module_contract(pg_address: ServerAddress, database: str, data_dir: Path) -> None:
    async with bot_api() as (_, url):
        report = await check_module_contract(
            TelegramModule,
            {"api_base_url": url, "allowed_chat_ids": [ALICE_CHAT]},
            pg_address,
            database,
            data_dir,
            credentials={TOKEN_ENV: TOKEN},
        )
        assert report.tools == ["telegram_recent", "telegram_send"]
        assert report.migrations_applied


async def test_in_a_butler_messages_are_handed_off_and_approval_tools_send_once(
    tmp_path: Path, pg_address: ServerAddress, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    folder = tmp_path / "general"
    folder.mkdir()
    async with bot_api() as (standin, url):
        (folder / "butler.toml").write_text(
            '[butler]\nname = "general"\nport = 18131\n\n[modules.telegram]\n'
            f'api_base_url = "{url}"\nallowed_chat_ids = [{ALICE_CHAT}]\npoll_timeout_s = 5\n'
            'require_approval = ["telegram_send"]\n'
        )
        butler = Butler(load_butler_config(folder), Settings(data_dir=tmp_path / "data"), pg_address, database=database)
        mcp = await butler.start()
        try:
            async with anyio.create_task_group() as tg:
                await butler.serve_modules(tg)  # as run() does once the HTTP server is up
                standin.enqueue_message(ALICE_CHAT, "what is on my list?", username="alice")

                async def handed_off() -> bool:
                    return [r.status for r in await butler.inbound.list(channel="telegram")] == ["dispatched"]

                await wait_until(handed_off, "the message stored and handed to the butler (a queued session)")
                [row] = await butler.inbound.list(channel="telegram")
                assert row.session_id is not None

                async with Client(mcp) as client:
                    status = (await client.call_tool("status", {})).structured_content
                    assert status is not None
                    health = status["modules"]["telegram"]
                    assert health["ok"] is True and health["received"] == 1, health

                    pending = (await client.call_tool("telegram_send", {"chat": ALICE_CHAT, "text": "Milk."})).data
                    assert pending["status"] == "pending_approval" and standin.sent == []
                    listed = (await client.call_tool("approvals_list", {})).structured_content
                    assert listed is not None
                    assert [a["action"] for a in listed["approvals"]] == ["telegram_send"]
                    for _ in range(2):
                        await client.call_tool("approval_approve", {"approval_id": pending["approval_id"]})
                assert [(m.chat_id, m.text) for m in standin.sent] == [(ALICE_CHAT, "Milk.")]
                tg.cancel_scope.cancel()
        finally:
            await butler._shutdown()
