"""The telegram module as an outbound channel of the notify engine (`butlers.core.channels`).

Sending, with or without a reply to an earlier message, and recording what was
sent in `telegram_messages` is one function shared by `telegram_send` and the
channel. Bot API failures are sorted: 429 (with its `retry_after`), 5xx and
network trouble may pass if tried again; a bad request, a blocked bot or a bad
token will not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, timedelta
from enum import StrEnum
from typing import Any

import asyncpg
from telegram import Bot, Message
from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

from butlers.core.channels import DeliveryError, Outgoing

MAX_TEXT = 4096  # Telegram's limit for one message


class MessageDirection(StrEnum):
    """telegram_messages.direction (mirrored by its CHECK): received ('in') or sent by the bot ('out')."""

    IN = "in"
    OUT = "out"


_COLUMNS = "direction, chat_id, message_id, sender, username, text, sent_at, inbound_id"


async def send_and_record(
    bot: Bot, pool: asyncpg.Pool, chat_id: int | str, text: str, reply_to_message_id: int | None = None
) -> Message:
    """Send a text message (as a reply when `reply_to_message_id` is given) and log it as 'out'."""
    sent = await bot.send_message(chat_id=chat_id, text=text, reply_to_message_id=reply_to_message_id)
    await pool.execute(
        f"INSERT INTO telegram_messages ({_COLUMNS}) VALUES ($1, $2, $3, $4, NULL, $5, $6, NULL)"
        " ON CONFLICT (chat_id, message_id) DO NOTHING",
        MessageDirection.OUT,
        sent.chat.id,
        sent.message_id,
        "bot",
        sent.text or text,
        sent.date if sent.date.tzinfo else sent.date.replace(tzinfo=UTC),
    )
    return sent


def delivery_error(exc: TelegramError) -> DeliveryError:
    """A Bot API failure as a DeliveryError saying whether trying again may help."""
    text = f"Telegram: {type(exc).__name__}: {exc}"
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return DeliveryError(text, transient=True, retry_after=seconds)
    if isinstance(exc, BadRequest | Forbidden | InvalidToken | ChatMigrated):
        return DeliveryError(text, transient=False)
    # NetworkError covers 5xx answers, time-outs and connection failures.
    return DeliveryError(text, transient=isinstance(exc, NetworkError))


class TelegramChannel:
    """Sends through the module's bot; the bot is looked up at each send (it exists once started)."""

    name = "telegram"
    max_length = MAX_TEXT

    def __init__(self, bot: Callable[[], Bot], pool: asyncpg.Pool) -> None:
        self._bot = bot
        self._pool = pool

    def normalize(self, recipient: str) -> str:
        text = str(recipient).strip()
        try:
            return str(int(text))
        except ValueError:
            pass
        if text.startswith("@") and len(text) > 1:
            return text.lower()
        raise ValueError(f"{recipient!r} is not a Telegram chat id (e.g. 123456789) or @username")

    def reply_target(self, inbound: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        meta = inbound.get("metadata") or {}
        if meta.get("chat_id") is None or meta.get("message_id") is None:
            raise ValueError("the inbound Telegram message has no chat_id/message_id to answer")
        return str(int(meta["chat_id"])), {"message_id": int(meta["message_id"])}

    async def send(self, message: Outgoing) -> str:
        reply_id = int(message.reply["message_id"]) if message.reply else None
        recipient = self.normalize(message.recipient)
        chat: int | str = recipient if recipient.startswith("@") else int(recipient)
        try:
            sent = await send_and_record(self._bot(), self._pool, chat, message.text, reply_id)
        except TelegramError as exc:
            raise delivery_error(exc) from exc
        return str(sent.message_id)
