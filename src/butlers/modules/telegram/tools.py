"""The telegram module's tools: telegram_send (through the approval gate) and telegram_recent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from pydantic import Field
from telegram import Bot

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import ModuleContext
from butlers.modules.telegram.channel import MAX_TEXT, send_and_record
from butlers.modules.telegram.config import TelegramConfig

if TYPE_CHECKING:
    from fastmcp import FastMCP

MAX_RECENT = 200
COLUMNS = "direction, chat_id, message_id, sender, username, text, sent_at, inbound_id"

ChatArg = Annotated[
    int | str,
    Field(description="A chat id (e.g. 123456789 or -1001234567890) or an allowed @username."),
]


def _row(record: asyncpg.Record) -> dict[str, Any]:
    row = dict(record)
    row["sent_at"] = row["sent_at"].isoformat()
    row["inbound_id"] = str(row["inbound_id"]) if row["inbound_id"] else None
    return row


class TelegramTools:
    """The tools of one butler's Telegram bot."""

    def __init__(self, config: TelegramConfig, ctx: ModuleContext, bot: Callable[[], Bot]) -> None:
        self.config = config
        self.ctx = ctx
        self._bot = bot  # the module's, made at startup

    def register(self, mcp: FastMCP) -> None:
        self.ctx.approvals.register("telegram_send", self.run_send)
        mcp.tool(self.telegram_send, name="telegram_send")
        mcp.tool(self.telegram_recent, name="telegram_recent")

    async def run_send(self, args: dict[str, Any]) -> dict[str, Any]:
        """The executor of telegram_send (now, or once approved)."""
        sent = await send_and_record(self._bot(), self.ctx.pool, int(args["chat_id"]), str(args["text"]))
        return {"status": "sent", "chat_id": sent.chat.id, "message_id": sent.message_id}

    async def telegram_send(self, chat: ChatArg, text: str) -> dict[str, Any]:
        """Send a text message to an allowed Telegram chat (a chat id, or the @username of an allowed user who has written to the bot). Returns the sent message's id, or {"status": "pending_approval", "approval_id": ...} when sending needs the user's approval."""
        if not text.strip():
            raise bad_argument("telegram_send", "text", "must not be empty")
        if len(text) > MAX_TEXT:
            raise bad_argument("telegram_send", "text", f"is {len(text)} characters long; Telegram allows {MAX_TEXT}")
        chat_id, label = await self.resolve_chat("telegram_send", chat)
        args = {"chat_id": chat_id, "text": text}
        preview = text if len(text) <= 200 else text[:200] + "..."
        require = "telegram_send" in self.config.require_approval
        summary = f"Send a Telegram message to {label}: {preview}"
        return await self.ctx.approvals.run_or_hold("telegram_send", args, require=require, summary=summary)

    async def telegram_recent(
        self,
        chat: Annotated[
            int | str | None, Field(description="Only this chat (chat id or allowed @username); all if omitted.")
        ] = None,
        limit: Annotated[int, Field(description=f"How many messages at most (1-{MAX_RECENT}).")] = 20,
    ) -> list[dict[str, Any]]:
        """Recent Telegram messages, newest first: those received from allowed chats (direction 'in') and those the bot sent ('out')."""
        if not 1 <= limit <= MAX_RECENT:
            raise bad_argument("telegram_recent", "limit", f"must be between 1 and {MAX_RECENT}, got {limit}")
        chat_id = None
        if chat is not None and str(chat).strip():
            chat_id, _ = await self.resolve_chat("telegram_recent", chat)
        rows = await self.ctx.pool.fetch(
            f"SELECT {COLUMNS} FROM telegram_messages WHERE ($1::bigint IS NULL OR chat_id = $1)"
            " ORDER BY sent_at DESC, id DESC LIMIT $2",
            chat_id,
            limit,
        )
        return [_row(r) for r in rows]

    async def resolve_chat(self, tool: str, chat: int | str) -> tuple[int, str]:
        """(chat id, label) of an allowed chat given by id or @username; refuses anything else."""
        text = str(chat).strip()
        try:
            chat_id = int(text)
        except ValueError:
            chat_id = None
        if chat_id is not None:
            known = chat_id in self.config.allowed_chat_ids or await self.ctx.pool.fetchval(
                "SELECT true FROM telegram_messages WHERE chat_id = $1 AND direction = 'in' LIMIT 1", chat_id
            )
            if not known:
                raise bad_argument(tool, "chat", f"chat {chat_id} is not on the allow-list (allowed_chat_ids)")
            return chat_id, f"chat {chat_id}"
        name = text.removeprefix("@").lower()
        if not name:
            raise bad_argument(tool, "chat", "must be a chat id or an @username")
        if name not in self.config.allowed_usernames:
            raise bad_argument(tool, "chat", f"@{name} is not on the allow-list (allowed_usernames)")
        found = await self.ctx.pool.fetchval(
            "SELECT chat_id FROM telegram_messages WHERE username = $1 AND direction = 'in' AND chat_id > 0"
            " ORDER BY sent_at DESC, id DESC LIMIT 1",
            name,
        )
        if found is None:
            raise bad_argument(
                tool,
                "chat",
                f"@{name} has not written to the bot yet; a bot can only message users who started a chat"
                " with it (ask them to send /start), or give their chat id",
            )
        return int(found), f"@{name}"
