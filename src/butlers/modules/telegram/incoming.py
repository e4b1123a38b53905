"""A Telegram message as the butler's inbound message: who sent it, where, and the text."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Message, Update

from butlers.core.inbound import InboundMessage


def sender_of(message: Message) -> str:
    user = message.from_user
    if user is None:
        return message.chat.title or str(message.chat.id)
    if user.username:
        return f"@{user.username}"
    return f"{user.full_name} (id {user.id})"


def username_of(message: Message) -> str | None:
    """The sender's @username, lower case and without the @ (Telegram compares them so)."""
    user = message.from_user
    return user.username.lower() if user is not None and user.username else None


def received_at(message: Message) -> datetime:
    return message.date if message.date.tzinfo else message.date.replace(tzinfo=UTC)


def inbound_message(update: Update, message: Message) -> InboundMessage:
    """The inbound record of `message` (one per chat and message id: a repeated update is one row)."""
    user = message.from_user
    return InboundMessage(
        channel="telegram",
        external_id=f"{message.chat.id}:{message.message_id}",
        sender=sender_of(message),
        text=message.text or message.caption or "",
        received_at=received_at(message),
        metadata={
            "chat_id": message.chat.id,
            "chat_type": message.chat.type,
            "chat_title": message.chat.title,
            "message_id": message.message_id,
            "update_id": update.update_id,
            "user_id": user.id if user is not None else None,
            "username": username_of(message),
        },
    )
