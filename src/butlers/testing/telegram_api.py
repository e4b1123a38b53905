"""A local stand-in of the Telegram Bot API, speaking its real HTTP API.

Serve it like any ASGI app and point a client's base URL at it::

    api = TelegramBotAPI(token="123:abc")
    async with serve_asgi(api.app) as url:
        bot = telegram.Bot("123:abc", base_url=f"{url}/bot")
        api.enqueue_message(chat_id=42, text="hello", username="alice")
        updates = await bot.get_updates(timeout=5)

What it speaks (``GET`` or ``POST /bot<token>/<method>``, parameters in the query string, a
form-urlencoded or multipart body, or a JSON body, as Telegram accepts them; answers
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": ..., "description": ...}``):

- ``getMe``;
- ``getUpdates`` with ``offset`` (updates below it are confirmed and dropped), ``limit`` and
  ``timeout`` (long polling: the request is held until an update is queued or the timeout ends);
  409 while a webhook is set, as Telegram does;
- ``sendMessage`` (recorded in :attr:`TelegramBotAPI.sent`), with an inline keyboard in ``reply_markup``;
- ``answerCallbackQuery``, ``editMessageText``, ``editMessageReplyMarkup`` and button presses
  (:meth:`TelegramBotAPI.press_button`, a ``callback_query`` update): see ``telegram_buttons``;
- ``allowed_updates`` of ``getUpdates`` is kept, as Telegram keeps it: later calls only get those kinds;
- ``setWebhook`` / ``deleteWebhook`` / ``getWebhookInfo``.

Failures on demand: :meth:`TelegramBotAPI.fail_next` makes the next calls of a method answer an
error (e.g. 500, or 429 with ``parameters.retry_after`` as Telegram's flood control does). A
``sendMessage`` with ``reply_parameters`` (or the older ``reply_to_message_id``) is recorded with
the id of the message it answers.

A wrong token gets 401 Unauthorized; an unknown method 404 Not Found. Tests queue updates with
:meth:`TelegramBotAPI.enqueue_message`; with a webhook set, :meth:`TelegramBotAPI.deliver_webhook`
POSTs the queued updates to it with the ``X-Telegram-Bot-Api-Secret-Token`` header, as Telegram does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from butlers.testing.telegram_buttons import ButtonError, ButtonState, InlineKeyboards, inline_markup


class BotAPIError(Exception):
    """Answered as ``{"ok": false, "error_code": code, "description": description}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass
class SentMessage:
    """One ``sendMessage`` call the stand-in accepted."""

    chat_id: int | str
    text: str
    message_id: int
    params: dict[str, Any] = field(default_factory=dict)
    reply_to_message_id: int | None = None


class TelegramBotAPI(InlineKeyboards):
    """The Bot API of one bot (one token), in memory."""

    def __init__(
        self, token: str = "123456:TEST-token", *, bot_id: int | None = None, username: str = "butler_test_bot"
    ):
        self.token = token
        self.bot_id = bot_id if bot_id is not None else int(token.split(":", 1)[0]) if token[:1].isdigit() else 1
        self.username = username
        self.sent: list[SentMessage] = []
        self.calls: list[str] = []  # method names, in the order they were called
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] | None = None
        self.polling_allowed_updates: list[str] | None = None  # as last given to getUpdates (kept, like Telegram)
        self.buttons = ButtonState()
        self._queue: list[dict[str, Any]] = []
        self._next_update_id = 1000
        self._next_message_id = 1
        # Created on first wait (an anyio Event needs a running event loop); replaced once set.
        self._arrived: anyio.Event | None = None
        self._chat_usernames: dict[str, int] = {}
        self._failures: dict[str, list[BotAPIError]] = {}  # method (lower case) -> errors to answer next
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])
        self._methods: dict[str, Callable[[dict[str, Any], Request], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
        }

    # -- what tests use -------------------------------------------------------------------------

    def enqueue_message(
        self,
        chat_id: int,
        text: str,
        *,
        username: str | None = None,
        user_id: int | None = None,
        first_name: str = "Test",
        chat_type: str = "private",
    ) -> dict[str, Any]:
        """Queue an update carrying a new text message in `chat_id`; returns the update."""
        user_id = user_id if user_id is not None else chat_id
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name
        else:
            chat["title"] = f"chat {chat_id}"
        if username:
            sender["username"] = username
            if chat_type == "private":
                chat["username"] = username
                self._chat_usernames[username.lower()] = chat_id
        message = {
            "message_id": self._message_id(),
            "from": sender,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        return self.enqueue_update({"message": message})

    def enqueue_update(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (its ``update_id`` is assigned here) and wake a waiting getUpdates."""
        self._next_update_id += 1
        update = {"update_id": self._next_update_id, **body}
        self._queue.append(update)
        if self._arrived is not None:
            self._arrived.set()
            self._arrived = None
        return update

    def fail_next(
        self, method: str, code: int, *, times: int = 1, retry_after: int | None = None, description: str | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with error `code` (429: with `retry_after` seconds)."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after or 1}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(code, f"Error {code}")
        if code == 429 and retry_after is None:
            retry_after = 1
        queue = self._failures.setdefault(method.lower(), [])
        queue.extend(BotAPIError(code, description, retry_after) for _ in range(times))

    @property
    def pending(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by an offset (or delivered to the webhook)."""
        return list(self._queue)

    async def deliver_webhook(self) -> list[int]:
        """POST every queued update to the webhook, as Telegram does; the HTTP status of each.

        An update answered with 2xx is dropped from the queue; others stay queued.
        """
        if not self.webhook_url:
            raise RuntimeError("no webhook is set (setWebhook was not called)")
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
        statuses: list[int] = []
        async with httpx.AsyncClient(timeout=10) as client:
            for update in list(self._queue):
                response = await client.post(self.webhook_url, json=update, headers=headers)
                statuses.append(response.status_code)
                if response.is_success:
                    self._queue.remove(update)
        return statuses

    # -- the HTTP API ---------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(BotAPIError(401, "Unauthorized"))
        method = request.path_params["method"]
        handler = self._methods.get(method.lower())
        self.calls.append(method)
        if handler is None:
            return _error(BotAPIError(404, "Not Found"))
        failures = self._failures.get(method.lower())
        if failures:
            return _error(failures.pop(0))
        try:
            params = await _parameters(request)
            return JSONResponse({"ok": True, "result": await handler(params, request)})
        except BotAPIError as exc:
            return _error(exc)
        except ButtonError as exc:
            return _error(BotAPIError(exc.code, exc.description))

    async def _get_me(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Butler",
            "username": self.username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any], request: Request) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise BotAPIError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            )
        offset = _int(params, "offset", 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        timeout = max(_int(params, "timeout", 0), 0)
        allowed = params.get("allowed_updates")
        if allowed not in (None, ""):
            self.polling_allowed_updates = json.loads(allowed) if isinstance(allowed, str) else list(allowed)
        if offset > 0:  # confirms every update below it
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:  # -n: only the last n
            self._queue = self._queue[offset:]
        if not self._queue and timeout:
            async with anyio.create_task_group() as tg:

                async def client_gone() -> None:
                    # A client that hangs up (e.g. a bot shutting down) ends its long poll, as on Telegram.
                    while (await request.receive())["type"] != "http.disconnect":
                        pass
                    tg.cancel_scope.cancel()

                tg.start_soon(client_gone)
                with anyio.move_on_after(timeout):
                    while not self._queue:
                        if self._arrived is None:
                            self._arrived = anyio.Event()
                        await self._arrived.wait()
                tg.cancel_scope.cancel()
        self._queue = [u for u in self._queue if self._wanted(u)]  # other kinds are dropped, as on Telegram
        return self._queue[:limit]

    def _wanted(self, update: dict[str, Any]) -> bool:
        """Whether the bot asked for this kind of update (an empty or absent list: the default kinds)."""
        wanted = self.polling_allowed_updates
        return not wanted or any(kind in update for kind in wanted)

    async def _send_message(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        chat = params.get("chat_id")
        text = params.get("text")
        if chat in (None, ""):
            raise BotAPIError(400, "Bad Request: chat_id is empty")
        if not text:
            raise BotAPIError(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            raise BotAPIError(400, "Bad Request: message is too long")
        chat_id = _chat_id(chat)
        if isinstance(chat_id, str):
            known = self._chat_usernames.get(chat_id.lstrip("@").lower())
            if known is None:
                raise BotAPIError(400, "Bad Request: chat not found")
            chat_id = known
        markup = inline_markup(params.get("reply_markup"))
        message_id = self._message_id()
        reply_to = _reply_to(params)
        self.sent.append(SentMessage(chat_id, str(text), message_id, params=dict(params), reply_to_message_id=reply_to))
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Butler", "username": self.username},
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
            "date": int(time.time()),
            "text": str(text),
        }
        if markup is not None:
            message["reply_markup"] = markup
        self.keep_sent(message)
        return message

    async def _set_webhook(self, params: dict[str, Any], request: Request) -> bool:
        url = str(params.get("url") or "")
        secret = params.get("secret_token")
        if secret is not None and not (1 <= len(str(secret)) <= 256):
            raise BotAPIError(400, "Bad Request: secret token is invalid")
        if url and not url.startswith(("http://", "https://")):
            raise BotAPIError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        self.webhook_secret = str(secret) if secret else None
        allowed = params.get("allowed_updates")
        self.webhook_allowed_updates = json.loads(allowed) if isinstance(allowed, str) else allowed
        if _bool(params, "drop_pending_updates"):
            self._queue.clear()
        return True

    async def _delete_webhook(self, params: dict[str, Any], request: Request) -> bool:
        self.webhook_url = ""
        self.webhook_secret = None
        if _bool(params, "drop_pending_updates"):
            self._queue.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], request: Request) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_allowed_updates is not None and self.webhook_url:
            info["allowed_updates"] = self.webhook_allowed_updates
        return info

    def _message_id(self) -> int:
        self._next_message_id += 1
        return self._next_message_id


async def _parameters(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST":
        if content_type.startswith("application/json"):
            body = await request.body()
            if body:
                try:
                    loaded = json.loads(body)
                except ValueError as exc:
                    raise BotAPIError(400, "Bad Request: can't parse JSON body") from exc
                if not isinstance(loaded, dict):
                    raise BotAPIError(400, "Bad Request: JSON body must be an object")
                params.update(loaded)
        elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BotAPIError(400, f"Bad Request: parameter {name!r} must be a number") from exc


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _chat_id(value: Any) -> int | str:
    if isinstance(value, int):
        return value
    text = str(value)
    try:
        return int(text)
    except ValueError:
        if not text.startswith("@"):
            raise BotAPIError(400, "Bad Request: chat not found") from None
        return text


def _reply_to(params: dict[str, Any]) -> int | None:
    """The message a sendMessage answers: `reply_parameters.message_id` or `reply_to_message_id`."""
    reply = params.get("reply_parameters")
    if isinstance(reply, str) and reply:
        try:
            reply = json.loads(reply)
        except ValueError as exc:
            raise BotAPIError(400, "Bad Request: can't parse reply parameters JSON object") from exc
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        return _int(reply, "message_id", 0)
    return _int(params, "reply_to_message_id", 0) or None


def _error(exc: BotAPIError) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
    return JSONResponse(body, status_code=exc.code)
