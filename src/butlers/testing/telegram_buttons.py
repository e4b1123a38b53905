"""Inline keyboards and callback queries for the Bot API stand-in (`telegram_api.TelegramBotAPI`).

What the real Bot API does, and this stand-in with it:

- ``sendMessage`` takes a ``reply_markup`` with an ``inline_keyboard`` (rows of buttons; each button has
  a ``text`` and one action: ``callback_data`` of 1-64 bytes, or a ``url``), kept with the message;
- a user pressing a button (:meth:`InlineKeyboards.press_button`) queues a ``callback_query`` update: the
  pressing user in ``from``, the bot's message in ``message``, the button's ``data``; only a button that
  is on the message now can be pressed;
- ``answerCallbackQuery`` answers a query once (a second answer, or an unknown id, is 400 as on Telegram);
- ``editMessageText`` / ``editMessageReplyMarkup`` change a message the bot sent (no ``reply_markup``
  removes the keyboard); editing to the same content is 400 "message is not modified".
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

MAX_CALLBACK_DATA = 64  # bytes, Telegram's limit
_query_ids = itertools.count(9_000_000_001)


class ButtonError(Exception):
    """A Bot API error from these methods: (code, description)."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class CallbackAnswer:
    """One ``answerCallbackQuery`` the stand-in accepted."""

    query_id: str
    text: str | None
    show_alert: bool


@dataclass
class Edit:
    """One accepted ``editMessageText`` or ``editMessageReplyMarkup``."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None


@dataclass
class ButtonState:
    """What the bot sent (by chat and message id), the open callback queries and the answers."""

    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    open_queries: set[str] = field(default_factory=set)
    answers: list[CallbackAnswer] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)


def inline_markup(raw: Any) -> dict[str, Any] | None:
    """A ``reply_markup`` parameter checked as Telegram checks an inline keyboard; None when absent."""
    if raw in (None, ""):
        return None
    try:
        markup = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ButtonError(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if rows is None:
        return markup if isinstance(markup, dict) else None  # other keyboards: kept, not checked
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ButtonError(400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array')
    for row in rows:
        for button in row:
            _check_button(button)
    return markup


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise ButtonError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
    actions = [k for k in ("callback_data", "url", "switch_inline_query", "pay") if k in button]
    if len(actions) != 1:
        raise ButtonError(400, "Bad Request: can't parse inline keyboard button: exactly one action is expected")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
        raise ButtonError(400, "Bad Request: BUTTON_DATA_INVALID")


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


class InlineKeyboards:
    """Mixed into the stand-in: its ``buttons`` state, the test helper and the three HTTP methods."""

    buttons: ButtonState
    bot_id: int
    username: str

    def enqueue_update(self, body: dict[str, Any]) -> dict[str, Any]:  # provided by TelegramBotAPI
        raise NotImplementedError

    def keep_sent(self, message: dict[str, Any]) -> None:
        """Remember a message the bot sent (with its keyboard), so it can be pressed and edited."""
        self.buttons.messages[(int(message["chat"]["id"]), int(message["message_id"]))] = message

    def message(self, chat_id: int, message_id: int) -> dict[str, Any]:
        """The bot's message as it is now (after edits)."""
        return self.buttons.messages[(chat_id, message_id)]

    def press_button(
        self, chat_id: int, message_id: int, text: str, *, user_id: int, username: str | None = None
    ) -> dict[str, Any]:
        """A user presses the button labelled `text` on the bot's message: queues the callback_query update."""
        message = self.message(chat_id, message_id)
        button = next((b for b in buttons_of(message) if b["text"] == text), None)
        if button is None or "callback_data" not in button:
            raise LookupError(f"message {message_id} in chat {chat_id} has no callback button {text!r} now")
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": username or "User"}
        if username:
            sender["username"] = username
        query_id = str(next(_query_ids))
        self.buttons.open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": sender,
            "message": message,
            "chat_instance": f"ci{chat_id}",
            "data": button["callback_data"],
        }
        return self.enqueue_update({"callback_query": query})

    async def _answer_callback_query(self, params: dict[str, Any], request: Request) -> bool:
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self.buttons.open_queries:
            raise ButtonError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self.buttons.open_queries.discard(query_id)
        text = params.get("text")
        alert = params.get("show_alert") in (True, "true", "True")
        self.buttons.answers.append(CallbackAnswer(query_id, None if text is None else str(text), alert))
        return True

    async def _edit_message_text(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        text = str(params.get("text") or "")
        if not text:
            raise ButtonError(400, "Bad Request: message text is empty")
        return self._edit(params, text, inline_markup(params.get("reply_markup")))

    async def _edit_message_reply_markup(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        message = self._target(params)
        return self._edit(params, str(message.get("text") or ""), inline_markup(params.get("reply_markup")))

    def _target(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            key = (int(params.get("chat_id")), int(params.get("message_id")))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ButtonError(400, "Bad Request: message identifier is not specified") from None
        if key not in self.buttons.messages:
            raise ButtonError(400, "Bad Request: message to edit not found")
        return self.buttons.messages[key]

    def _edit(self, params: dict[str, Any], text: str, markup: dict[str, Any] | None) -> dict[str, Any]:
        message = self._target(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ButtonError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        edited = {k: v for k, v in message.items() if k != "reply_markup"}
        edited["text"] = text
        if markup is not None:
            edited["reply_markup"] = markup
        self.keep_sent(edited)
        chat_id, message_id = int(edited["chat"]["id"]), int(edited["message_id"])
        self.buttons.edits.append(Edit(chat_id, message_id, text, markup))
        return edited
