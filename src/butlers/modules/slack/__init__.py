"""The `slack` module: a Slack app (bot) for the butler, through slack-sdk.

Messages from allowed conversations and users become inbound messages (stored once, then
handed to the butler). Events arrive over Socket Mode (the default: the module's `serve` keeps
a websocket open with slack-sdk's aiohttp SocketModeClient, no public URL needed) or the Events
API (a route on the butler's HTTP port, Slack's signature verified). Tools post, reply, read,
find users, react and upload (see tools.py); `deliver` is the hook for the core `notify`.

    [modules.slack]
    mode = "socket"                      # or "events"
    allowed_channels = ["C0123456789"]
    allowed_users = ["U0123456789"]
    owner = "U0123456789"
    require_approval = ["slack_send", "slack_upload"]

Tokens come only from the environment: BUTLER_SLACK_BOT_TOKEN (always), BUTLER_SLACK_APP_TOKEN
(Socket Mode), BUTLER_SLACK_SIGNING_SECRET (Events API).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import anyio.abc
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from starlette.requests import Request
from starlette.responses import Response

from butlers.core.tool_errors import bad_argument
from butlers.errors import ModuleError, describe
from butlers.modules.api_health import api_health
from butlers.modules.base import Module, ModuleContext
from butlers.modules.ignored import IgnoredSenders
from butlers.modules.slack.channel import SlackCallError, SlackChannel, slack_error
from butlers.modules.slack.config import (
    APP_TOKEN_ENV,
    BOT_TOKEN_ENV,
    CHANNEL_ID,
    OUTBOUND_TOOLS,
    SIGNING_SECRET_ENV,
    USER_ID,
    SlackConfig,
)
from butlers.modules.slack.inbound import EventsEndpoint, is_allowed, parse_message
from butlers.modules.slack.tools import SlackTools

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["APP_TOKEN_ENV", "BOT_TOKEN_ENV", "OUTBOUND_TOOLS", "SIGNING_SECRET_ENV", "SlackConfig", "SlackModule"]

HEALTH_TIMEOUT_S = 5.0
MAX_IGNORED = 20  # how many ignored senders health() remembers (to help fill the allow-list)


class SlackModule(Module[SlackConfig]):
    """A Slack bot: allowed conversations reach the butler; the butler can write back."""

    name = "slack"
    config_schema = SlackConfig
    credentials_env = (BOT_TOKEN_ENV,)
    optional_credentials_env = (APP_TOKEN_ENV, SIGNING_SECRET_ENV)  # one of them, by mode

    def __init__(self, config: SlackConfig) -> None:
        super().__init__(config)
        self._ctx: ModuleContext | None = None
        self._session: aiohttp.ClientSession | None = None
        self._web: AsyncWebClient | None = None
        self._socket: SocketModeClient | None = None
        self._loop_error: str | None = None  # why Socket Mode cannot connect, cleared once it can
        self._secrets: dict[str, str] = {}
        self._dms: dict[str, str] = {}  # conversation id -> allowed user, for DMs seen or opened
        self.bot_user: str | None = None
        self.received = 0
        self.duplicates = 0
        self.ignored_senders = IgnoredSenders(MAX_IGNORED)
        self.events: EventsEndpoint | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def on_startup(self, ctx: ModuleContext) -> None:
        for var in self.config.credentials_needed:
            if not ctx.credentials.get(var):
                raise ModuleError(
                    f"module 'slack' (mode = '{self.config.mode}'): environment variable {var} is not set"
                )
            self._secrets[var] = ctx.credentials[var]
        self._ctx = ctx
        self._session = aiohttp.ClientSession()
        self._web = self._client(self._secrets[BOT_TOKEN_ENV])
        try:  # who the bot is, so its own posts are never taken as work; retried by health() if Slack is down
            with anyio.fail_after(HEALTH_TIMEOUT_S):
                self.bot_user = (await self._web.auth_test()).get("user_id")
        except Exception as exc:
            ctx.log.warning("slack.auth_test_failed", error=_describe(exc))
        if ctx.channels is not None:  # the notify engine (on this butler) delivers through deliver() too
            ctx.channels.register(SlackChannel(self))

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Socket Mode: connect and stay connected (slack-sdk reconnects) until cancelled; Events API: nothing."""
        if self._web is None:
            raise ModuleError("module 'slack' is not started (on_startup has not run)")
        task_status.started()  # at once: an unreachable Slack is retried by the client, shown by health()
        if self.config.mode != "socket":
            return
        client = SocketModeClient(
            self._secrets[APP_TOKEN_ENV],
            web_client=self._client(None),
            ping_interval=self.config.ping_interval_s,
            logger=logging.getLogger(f"{__name__}.socket_mode"),
        )
        client.socket_mode_request_listeners.append(self._on_socket_request)
        self._socket = client
        try:
            await self._connect(ctx, client)
            await anyio.sleep_forever()
        finally:
            self._socket = None
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await client.close()

    async def _connect(self, ctx: ModuleContext, client: SocketModeClient) -> None:
        """Get a websocket URL (retried, the failure shown by health), then connect.

        slack-sdk would retry too, but silently: a wrong app token would only show as "not connected".
        """
        backoff = self.config.ping_interval_s
        while True:
            try:
                client.wss_uri = await client.issue_new_wss_url()
                break
            except Exception as exc:
                self._loop_error = f"apps.connections.open failed: {_describe(exc)}"
                ctx.log.warning("slack.socket_mode_retry", error=self._loop_error, retry_in_s=backoff)
                await anyio.sleep(backoff)  # back off before asking an unreachable or refusing Slack again
                backoff = min(backoff * 2, 60.0)
        self._loop_error = None
        await client.connect()  # retries until connected; later drops are reconnected by its monitor
        ctx.log.info("slack.socket_mode_connected")

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        if ctx.channels is not None:
            ctx.channels.unregister("slack")
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._web = None

    def _client(self, token: str | None) -> AsyncWebClient:
        return AsyncWebClient(token=token, base_url=f"{self.config.api_base_url}/", session=self._session, timeout=10)

    @property
    def web(self) -> AsyncWebClient:
        if self._web is None:
            raise ModuleError("module 'slack' is not started (on_startup has not run)")
        return self._web

    # -- incoming -------------------------------------------------------------------------------

    async def handle_event(self, payload: dict[str, Any]) -> str:
        """Record one event_callback: 'received', 'duplicate', 'ignored' (not allowed) or 'skipped'."""
        ctx = self._ctx
        if ctx is None:
            raise ModuleError("module 'slack' is not started (on_startup has not run)")
        message = parse_message(payload, self.bot_user)
        if message is None:
            return "skipped"
        if not is_allowed(self.config, message):
            self._count_ignored(ctx, message.channel, message.user)
            return "ignored"
        if message.channel_type == "im" and message.user in self.config.users:
            self._dms[message.channel] = message.user
        if ctx.inbound is None:
            ctx.log.warning("slack.no_inbound_log", channel=message.channel)
            return "received"
        _, created = await ctx.inbound.receive(message.inbound())
        if not created:
            self.duplicates += 1
            return "duplicate"
        self.received += 1
        return "received"

    async def _on_socket_request(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        # Acked only once stored: an envelope not acked is delivered again (and stored once).
        if request.type == "events_api" and isinstance(request.payload, dict):
            try:
                outcome = await self.handle_event(request.payload)
            except Exception as exc:
                if self._ctx is not None:
                    self._ctx.log.error("slack.event_failed", via="socket", error=_describe(exc))
                return
            if self._ctx is not None:
                self._ctx.log.info("slack.event", via="socket", outcome=outcome, retry=request.retry_attempt)
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    def _count_ignored(self, ctx: ModuleContext, channel: str, user: str) -> None:
        self.ignored_senders.add({"channel": channel, "user": user})
        ctx.log.info("slack.ignored", channel=channel, user=user, ignored=self.ignored_senders.count)

    # -- outgoing -------------------------------------------------------------------------------

    async def deliver(self, text: str, recipient: str | None = None, thread: str | None = None) -> str:
        """Post `text` to `recipient` (an allowed conversation or user; default the owner's DM), in `thread`.

        Returns the message's ts. The hook for the core `notify` on channel "slack" (not gated:
        a notification is the butler writing to its own user).
        """
        if not text.strip():
            raise ModuleError("module 'slack': deliver: text must not be empty")
        target = recipient or self.config.owner
        if not target:
            raise ModuleError("module 'slack': no recipient given and no owner configured ([modules.slack] owner)")
        channel = await self.resolve("deliver", "recipient", target)
        return await self.post(channel, text, thread)

    async def post(self, channel: str, text: str, thread_ts: str | None, tool: str = "deliver") -> str:
        """chat.postMessage; the message's ts. Errors name `tool`."""
        call = self.web.chat_postMessage(channel=channel, text=text, thread_ts=thread_ts)
        return str((await self.call_api(tool, call))["ts"])

    async def resolve(self, tool: str, argument: str, target: str) -> str:
        """The conversation id of an allowed target (a conversation id, or a user id → their DM); refuses others."""
        target = target.strip()
        if USER_ID.fullmatch(target):
            if target not in self.config.users:
                raise bad_argument(tool, argument, f"user {target} is not on the allow-list (allowed_users or owner)")
            response = await self.call_api(tool, self.web.conversations_open(users=target))
            channel = str(response["channel"]["id"])
            self._dms[channel] = target
            return channel
        if not CHANNEL_ID.fullmatch(target):
            raise bad_argument(
                tool, argument, f"{target!r} is not a conversation id (C..., G..., D...) or user id (U..., W...)"
            )
        if target in self.config.allowed_channels or target in self._dms:
            return target
        if target.startswith("D"):  # a DM: allowed when it is with an allowed user
            info = (await self.call_api(tool, self.web.conversations_info(channel=target)))["channel"]
            if info.get("is_im") and info.get("user") in self.config.users:
                self._dms[target] = info["user"]
                return target
        raise bad_argument(tool, argument, f"conversation {target} is not on the allow-list (allowed_channels)")

    async def call_api(self, tool: str, call: Awaitable[Any]) -> Any:
        """Await a Web API call; Slack's error (or an unreachable Slack) becomes a tool error naming the tool."""
        try:
            return await call
        except SlackApiError as exc:
            raise SlackCallError(f"{tool}: Slack answered {slack_error(exc)}", exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            where = f"{tool}: Slack is unreachable at {self.config.api_base_url}: {_describe(exc)}"
            raise SlackCallError(where, exc) from None

    # -- tools ----------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        SlackTools(self, ctx).register(mcp)
        if self.config.mode == "events":
            events = EventsEndpoint(
                self._secrets[SIGNING_SECRET_ENV], self.config.events.max_age_s, self.handle_event, ctx.log
            )
            self.events = events

            # A function, not the endpoint object: Starlette takes any other callable for a raw ASGI app.
            async def slack_events(request: Request) -> Response:
                return await events(request)

            mcp.custom_route(self.config.events.path, methods=["POST"], name="slack_events", include_in_schema=False)(
                slack_events
            )

    # -- health ---------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "mode": self.config.mode,
            "received": self.received,
            "duplicates": self.duplicates,
            "ignored": self.ignored_senders.count,
            "ignored_senders": self.ignored_senders.recent(),
        }
        if self.events is not None:
            info["refused"] = self.events.refused

        async def report(me: AsyncSlackResponse) -> str | None:
            self.bot_user = self.bot_user or me.get("user_id")
            info["bot"] = me.get("user")
            info["team"] = me.get("team")
            if self.config.mode == "socket":
                info["connected"] = self._socket is not None and await self._socket.is_connected()
                if not info["connected"]:
                    return self._loop_error or "Socket Mode is not connected (reconnecting)"
            return None

        def unreachable(exc: Exception) -> str:
            return f"Slack Web API at {self.config.api_base_url}: {_describe(exc)}"

        ask = self._web.auth_test if self._web is not None else None
        return await api_health(info, ask, unreachable, report, HEALTH_TIMEOUT_S)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {slack_error(exc)}"
    return describe(exc)
