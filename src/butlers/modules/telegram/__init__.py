"""The `telegram` module: a Telegram bot for the butler, through python-telegram-bot.

Messages from chats on the allow-list become inbound messages (stored, then handed to the
butler); messages from any other chat are recorded as `ignored` inbound messages (never handed
to anyone) and counted. Updates arrive by long polling
(the module's `serve`, run in the butler's task group) or by webhook (a route on the butler's HTTP port, the secret
token header checked). Tools: `telegram_send` (through the approval gate) and `telegram_recent`.

    [modules.telegram]
    mode = "polling"                 # or "webhook"
    allowed_chat_ids = [123456789]
    allowed_usernames = ["alice"]
    require_approval = ["telegram_send"]

The bot token comes from the environment variable BUTLER_TELEGRAM_TOKEN.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import Bot, Message, Update, User
from telegram.request import HTTPXRequest

from butlers.core.approvals import ApprovalGate
from butlers.errors import ModuleError, describe
from butlers.modules.api_health import api_health
from butlers.modules.base import Module, ModuleContext
from butlers.modules.ignored import IgnoredSenders
from butlers.modules.telegram.channel import TelegramChannel
from butlers.modules.telegram.config import OUTBOUND_TOOLS, TOKEN_ENV, TelegramConfig, WebhookConfig
from butlers.modules.telegram.incoming import inbound_message, username_of
from butlers.modules.telegram.owner_approvals import OwnerApprovals
from butlers.modules.telegram.tools import COLUMNS, TelegramTools

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["OUTBOUND_TOOLS", "TOKEN_ENV", "TelegramConfig", "TelegramModule", "WebhookConfig"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_IGNORED_CHATS = 20  # how many ignored chats health() remembers (to help fill the allow-list)
ALLOWED_UPDATES = ["message", "callback_query"]  # callback_query: the owner's Approve / Reject presses
HEALTH_TIMEOUT_S = 5.0


def _gate(ctx: ModuleContext, butler: str) -> ApprovalGate | None:
    """The approval gate of `butler` (this one, or another of the daemon)."""
    if butler == ctx.butler:
        return ctx.approvals
    return getattr(ctx.fleet.get(butler), "approvals", None)


class TelegramModule(Module[TelegramConfig]):
    """A Telegram bot: allowed chats reach the butler; the butler can write back."""

    name = "telegram"
    config_schema = TelegramConfig
    credentials_env = (TOKEN_ENV,)
    migrations_dir = Path(__file__).parent / "migrations"

    def __init__(self, config: TelegramConfig) -> None:
        super().__init__(config)
        self._bot: Bot | None = None
        self._requests: list[HTTPXRequest] = []
        self._ctx: ModuleContext | None = None
        self._loop_error: str | None = None  # the last polling / setWebhook failure, cleared on success
        self.received = 0  # allowed messages stored
        self.ignored_chats = IgnoredSenders(MAX_IGNORED_CHATS)  # chats not on the allow-list
        self.webhook_set = False
        self._owner: OwnerApprovals | None = None  # with owner_chat_id: held actions are offered there

    # -- lifecycle ------------------------------------------------------------------------------

    async def on_startup(self, ctx: ModuleContext) -> None:
        token = ctx.credentials.get(TOKEN_ENV)
        if not token:
            raise ModuleError(
                f"module 'telegram': environment variable {TOKEN_ENV} is not set (the bot token from @BotFather)"
            )
        self._ctx = ctx
        self._bot = self._make_bot(token)
        for request in self._requests:
            await request.initialize()
        if ctx.channels is not None:  # the notify engine (on this butler) delivers through the bot too
            ctx.channels.register(TelegramChannel(self._require_bot, ctx.pool))
        owner, user = self.config.owner_chat_id, self.config.deciding_user_id
        if owner is not None and user is not None:
            self._owner = OwnerApprovals(self._require_bot, ctx.pool, owner, user, lambda b: _gate(ctx, b))

    @property
    def approval_prompter(self) -> OwnerApprovals | None:
        """Found by every butler's approval gate (core/approval_prompts.py) while the bot runs."""
        return self._owner if self._bot is not None else None

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Long-poll for updates until cancelled, or register the webhook (retried until it is set)."""
        self._require_bot()  # on_startup made the bot
        task_status.started()  # ready at once: an unreachable Bot API is retried, shown by health()
        if self.config.mode == "polling":
            await self._poll(ctx)
        else:
            await self._set_webhook(ctx)

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        # The butler cancelled serve before this: nothing uses the connections any more.
        if ctx.channels is not None:
            ctx.channels.unregister("telegram")
        for request in self._requests:
            await request.shutdown()
        self._requests = []
        self._bot = None
        self._owner = None

    def _make_bot(self, token: str) -> Bot:
        # Separate connection pools: a getUpdates held open for 30 s never delays a sendMessage.
        request = HTTPXRequest(connection_pool_size=8, connect_timeout=5.0, read_timeout=10.0)
        updates_request = HTTPXRequest(connection_pool_size=1, connect_timeout=5.0, read_timeout=10.0)
        self._requests = [request, updates_request]
        return Bot(token, base_url=self.config.bot_base_url, request=request, get_updates_request=updates_request)

    async def _retrying(self, ctx: ModuleContext, what: str, attempt: Any) -> None:
        """Run `attempt()` until it returns False (done); failures are logged, shown in health, retried."""
        backoff = 1.0
        while True:
            try:
                again = await attempt()
            except Exception as exc:
                self._loop_error = f"{what} failed: {type(exc).__name__}: {exc}"
                ctx.log.warning("telegram.retry", what=what, error=str(exc), retry_in_s=backoff)
                await anyio.sleep(backoff)  # back off before retrying an unreachable server
                backoff = min(backoff * 2, 60.0)
                continue
            self._loop_error = None
            backoff = 1.0
            if not again:
                return

    async def _poll(self, ctx: ModuleContext) -> None:
        bot = self._require_bot()
        offset: int | None = None
        webhook_deleted = False

        async def once() -> bool:
            nonlocal offset, webhook_deleted
            if not webhook_deleted:  # getUpdates answers 409 while a webhook is set
                await bot.delete_webhook()
                webhook_deleted = True
            updates = await bot.get_updates(
                offset=offset, timeout=self.config.poll_timeout_s, allowed_updates=ALLOWED_UPDATES
            )
            for update in updates:
                await self.handle_update(ctx, update)
                offset = update.update_id + 1  # confirmed only once stored: a crash re-reads it
            return True

        await self._retrying(ctx, "getUpdates", once)

    async def _set_webhook(self, ctx: ModuleContext) -> None:
        bot = self._require_bot()
        hook = self.config.webhook

        async def once() -> bool:
            await bot.set_webhook(url=hook.url, secret_token=hook.secret_token, allowed_updates=ALLOWED_UPDATES)
            self.webhook_set = True
            ctx.log.info("telegram.webhook_set", url=hook.url)
            return False

        await self._retrying(ctx, "setWebhook", once)

    def _require_bot(self) -> Bot:
        if self._bot is None:
            raise ModuleError("module 'telegram' is not started (on_startup has not run)")
        return self._bot

    # -- incoming -------------------------------------------------------------------------------

    def is_allowed(self, message: Message) -> bool:
        chat = message.chat
        if chat.id in self.config.allowed_chat_ids:
            return True
        names = self.config.allowed_usernames
        if chat.username and chat.username.lower() in names:
            return True
        user = message.from_user
        # A private chat's id is its user's id: an allowed user reaches the butler from there.
        username = user.username if user is not None else None
        return chat.type == "private" and username is not None and username.lower() in names

    async def handle_update(self, ctx: ModuleContext, update: Update) -> str:
        """Record one update: 'received', 'duplicate', 'ignored' (not allowed) or 'skipped' (not a message);
        a button press: OwnerApprovals.answer's outcome."""
        if update.callback_query is not None:  # a press on a button: only the owner's Approve / Reject exist
            return await self._owner.answer(update.callback_query) if self._owner is not None else "skipped"
        message = update.message
        if message is None:
            return "skipped"
        msg = inbound_message(update, message)
        if not self.is_allowed(message):
            self._count_ignored(ctx, message)
            if ctx.inbound is not None:  # kept as `ignored` (never dispatched): the user sees who wrote
                why = f"chat {message.chat.id} is not on the allow-list (allowed_chat_ids, allowed_usernames)"
                await ctx.inbound.record_ignored(msg, why)
            return "ignored"
        inbound_id = None
        created = True
        if ctx.inbound is not None:
            inbound_id, created = await ctx.inbound.receive(msg)
        else:
            ctx.log.warning("telegram.no_inbound_log", chat_id=message.chat.id)
        await ctx.pool.execute(
            f"INSERT INTO telegram_messages ({COLUMNS}) VALUES ('in', $1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (chat_id, message_id) DO NOTHING",
            message.chat.id,
            message.message_id,
            msg.sender,
            username_of(message),
            msg.text,
            msg.received_at,
            inbound_id,
        )
        if not created:
            return "duplicate"
        self.received += 1
        return "received"

    def _count_ignored(self, ctx: ModuleContext, message: Message) -> None:
        chat = message.chat
        username = message.from_user.username if message.from_user else chat.username
        self.ignored_chats.add({"chat_id": chat.id}, username=username)
        ctx.log.info("telegram.ignored", chat_id=chat.id, ignored=self.ignored_chats.count)

    # -- tools ----------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        TelegramTools(self.config, ctx, self._require_bot).register(mcp)
        if self.config.mode == "webhook":
            self._register_webhook(mcp, ctx, self.config.webhook)

    def _register_webhook(self, mcp: FastMCP, ctx: ModuleContext, hook: WebhookConfig) -> None:
        secret = (hook.secret_token or "").encode()

        @mcp.custom_route(hook.path, methods=["POST"], name="telegram_webhook", include_in_schema=False)
        async def telegram_webhook(request: Request) -> Response:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not secret or not hmac.compare_digest(given, secret):
                ctx.log.warning("telegram.webhook_forbidden", client=request.client.host if request.client else None)
                return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
            if self._bot is None:
                return JSONResponse({"ok": False, "error": "telegram module not started"}, status_code=503)
            try:
                body = await request.json()
                update = Update.de_json(body, self._bot) if isinstance(body, dict) else None
            except Exception:
                update = None
            if update is None:
                return JSONResponse({"ok": False, "error": "body is not a Telegram update"}, status_code=400)
            # Stored before answering: a failure here answers 500 and Telegram delivers it again.
            outcome = await self.handle_update(ctx, update)
            return JSONResponse({"ok": True, "outcome": outcome})

    # -- health ---------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "mode": self.config.mode,
            "received": self.received,
            "ignored": self.ignored_chats.count,
            "ignored_chats": self.ignored_chats.recent(),
        }
        if self.config.mode == "webhook":
            info["webhook_set"] = self.webhook_set

        async def report(me: User) -> str | None:
            info["bot"] = f"@{me.username}"
            return self._loop_error

        def unreachable(exc: Exception) -> str:
            return f"Bot API at {self.config.api_base_url} unreachable: {describe(exc)}"

        ask = self._bot.get_me if self._bot is not None else None
        return await api_health(info, ask, unreachable, report, HEALTH_TIMEOUT_S)
