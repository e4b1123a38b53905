"""A local stand-in of Slack, speaking its real wire protocols: the Web API and Socket Mode.

Serve it like any ASGI app and point slack-sdk at it::

    slack = SlackAPI()
    async with serve_asgi(slack.app) as url:
        web = AsyncWebClient(token=slack.bot_token, base_url=f"{url}/api/")
        await web.chat_postMessage(channel="C0GENERAL", text="hi")
        payload = slack.user_says("C0GENERAL", "U0ALICE", "hello butler")   # a message event
        slack.socket.send_event(payload)                                    # over Socket Mode, or
        await slack.post_event(f"{butler_url}/slack/events", payload, signing_secret)  # Events API

The Web API (``GET``/``POST /api/<method>``; the token in ``Authorization: Bearer`` or a
``token`` parameter; parameters in the query, a form or a JSON body; answers HTTP 200 with
``{"ok": true, ...}`` or ``{"ok": false, "error": "<code>"}``): ``auth.test``,
``chat.postMessage``, ``conversations.history`` / ``replies`` / ``open`` / ``info``, ``users.list``,
``users.lookupByEmail``, ``reactions.add``, ``files.getUploadURLExternal`` + ``POST
/upload/v1/<file id>`` + ``files.completeUploadExternal`` (files_upload_v2), and
``apps.connections.open`` (app-level token only) for Socket Mode (see ``slack_socket_mode``).

:attr:`SlackAPI.down` makes it answer 503 to everything and refuse websockets (and drops the
live ones), as during an outage; :meth:`SlackAPI.fail_next` fails chosen calls of one method.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from butlers.testing.slack_socket_mode import SocketModeHub

Params = dict[str, Any]


class SlackError(Exception):
    """Answered as ``{"ok": false, "error": code}`` (HTTP 200, as Slack does)."""


@dataclass
class Upload:
    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    completed: dict[str, Any] = field(default_factory=dict)  # the completeUploadExternal parameters


class SlackAPI:
    """One workspace with one app (bot), in memory."""

    def __init__(
        self, *, bot_token: str = "xoxb-standin-bot", app_token: str = "xapp-1-standin-app", team: str = "T0TEAM"
    ) -> None:
        self.bot_token, self.app_token, self.team = bot_token, app_token, team
        self.bot_user, self.bot_id, self.app_id = "U0BUTLER", "B0BUTLER", "A0BUTLER"
        self.down = False
        self.calls: list[str] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages, oldest first
        self.uploads: dict[str, Upload] = {}
        self._failures: dict[str, list[tuple[int, str, int | None]]] = {}  # method -> (status, error, retry after)
        self.socket = SocketModeHub(self.app_id, lambda: self.down)
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self.add_user(self.bot_user, "butler", is_bot=True)
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/upload/v1/{file_id}", self._upload, methods=["POST"]),
                WebSocketRoute("/link/", self.socket.endpoint),
            ]
        )
        self._methods: dict[str, Callable[[Params], Awaitable[Params]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.open": self._open,
            "conversations.info": self._info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._lookup_by_email,
            "reactions.add": self._reactions_add,
            "files.getUploadURLExternal": self._get_upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "apps.connections.open": self._connections_open,
        }

    # -- what tests use -------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, real_name: str = "", email: str = "", is_bot: bool = False) -> None:
        profile = {"real_name": real_name or name, "display_name": name, "email": email}
        self.users[user_id] = {
            "id": user_id,
            "team_id": self.team,
            "name": name,
            "real_name": real_name or name,
            "is_bot": is_bot,
            "deleted": False,
            "profile": profile,
        }

    def add_channel(self, channel_id: str, name: str) -> None:
        self.channels[channel_id] = {"id": channel_id, "name": name, "is_channel": True, "is_im": False}
        self.messages.setdefault(channel_id, [])

    def user_says(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None, event_type: str = "message"
    ) -> dict[str, Any]:
        """A user posts `text` (into the thread `thread_ts`): stored, and its event_callback payload returned."""
        if channel not in self.channels:
            raise KeyError(f"unknown channel {channel}")
        message = self._store(channel, {"type": "message", "user": user, "text": text}, thread_ts)
        event = {**message, "type": event_type, "channel": channel, "event_ts": message["ts"]}
        event["channel_type"] = "im" if self.channels[channel]["is_im"] else "channel"
        return self.event_payload(event)

    def event_payload(self, event: dict[str, Any]) -> dict[str, Any]:
        """Wrap `event` as Slack's Events API does (an event_callback with a new event_id)."""
        return {
            "token": "verification-token-unused",
            "team_id": self.team,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": self.team, "user_id": self.bot_user, "is_bot": True}],
        }

    async def post_event(
        self,
        url: str,
        payload: dict[str, Any],
        signing_secret: str,
        *,
        retry_num: int | None = None,
        timestamp: int | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> httpx.Response:
        """POST `payload` to an Events API request URL, signed as Slack signs it (retries carry X-Slack-Retry-Num).

        Through `client` when given (its connections are kept), else a new one.
        """
        body = json.dumps(payload)
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": SignatureVerifier(signing_secret).generate_signature(timestamp=stamp, body=body) or "",
        }
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        if client is not None:
            return await client.post(url, content=body, headers=headers)
        async with httpx.AsyncClient(timeout=10) as fresh:
            return await fresh.post(url, content=body, headers=headers)

    def posted(self, channel: str) -> list[dict[str, Any]]:
        """Messages the bot posted in `channel`, oldest first."""
        return [m for m in self.messages.get(channel, []) if m.get("bot_id") == self.bot_id]

    def fail_next(
        self, method: str, status: int = 200, *, error: str = "", times: int = 1, retry_after: int | None = None
    ) -> None:
        """Fail the next `times` calls of `method`: 429 (``ratelimited``, with Retry-After, as Slack rate
        limits), a 5xx, or HTTP 200 with ``{"ok": false, "error": error}`` (e.g. invalid_auth)."""
        if status == 429:
            error, retry_after = error or "ratelimited", retry_after or 1
        self._failures.setdefault(method, []).extend([(status, error, retry_after)] * times)

    def set_down(self, down: bool) -> None:
        self.down = down
        if down:
            self.socket.drop()

    # -- the HTTP API ---------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        if self.down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        method = request.path_params["method"]
        self.calls.append(method)
        if self._failures.get(method):
            return _failure(*self._failures[method].pop(0))
        try:
            params = await _parameters(request)
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip() or params.get("token")
            self._authorize(method, token)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            return JSONResponse({"ok": True, **await handler(params)})
        except SlackError as exc:
            return JSONResponse({"ok": False, "error": str(exc)})

    def _authorize(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise SlackError("invalid_auth")
        if (method == "apps.connections.open") != (token == self.app_token):
            raise SlackError("not_allowed_token_type")

    async def _upload(self, request: Request) -> Response:
        if self.down:
            return PlainTextResponse("Service Unavailable", status_code=503)
        upload = self.uploads.get(request.path_params["file_id"])
        if upload is None:
            return PlainTextResponse("Not Found", status_code=404)
        upload.data = await request.body()
        return PlainTextResponse(f"OK - {len(upload.data)}")

    # -- methods --------------------------------------------------------------------------------

    async def _auth_test(self, params: Params) -> Params:
        return {
            "url": "https://standin.slack.com/",
            "team": "Stand-in",
            "user": "butler",
            "team_id": self.team,
            "user_id": self.bot_user,
            "bot_id": self.bot_id,
        }

    async def _post_message(self, params: Params) -> Params:
        channel = self._channel(params.get("channel"))
        text = str(params.get("text") or "")
        if not text and not params.get("blocks"):
            raise SlackError("no_text")
        thread_ts = params.get("thread_ts") or None
        if thread_ts and not self._find(channel, str(thread_ts)):
            raise SlackError("thread_not_found")
        body = {"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "text": text}
        message = self._store(channel, body, thread_ts)
        return {"channel": channel, "ts": message["ts"], "message": message}

    async def _history(self, params: Params) -> Params:
        channel = self._channel(params.get("channel"))
        top = [m for m in self.messages[channel] if m.get("thread_ts", m["ts"]) == m["ts"]]
        return self._page(list(reversed(top)), params)  # newest first

    async def _replies(self, params: Params) -> Params:
        channel = self._channel(params.get("channel"))
        ts = str(params.get("ts") or "")
        if not self._find(channel, ts):
            raise SlackError("thread_not_found")
        thread = [m for m in self.messages[channel] if m["ts"] == ts or m.get("thread_ts") == ts]
        return self._page(thread, params)  # oldest first, the parent first

    async def _open(self, params: Params) -> Params:
        user = str(params.get("users") or "")
        if user not in self.users:
            raise SlackError("user_not_found")
        return {"channel": {"id": self._im(user)}}

    async def _info(self, params: Params) -> Params:
        return {"channel": self.channels[self._channel(params.get("channel"))]}

    async def _users_list(self, params: Params) -> Params:
        return self._page(list(self.users.values()), params, key="members")

    async def _lookup_by_email(self, params: Params) -> Params:
        email = str(params.get("email") or "").lower()
        for user in self.users.values():
            if user["profile"]["email"].lower() == email and email:
                return {"user": user}
        raise SlackError("users_not_found")

    async def _reactions_add(self, params: Params) -> Params:
        channel = self._channel(params.get("channel"))
        name = str(params.get("name") or "")
        if not name or ":" in name or " " in name:
            raise SlackError("invalid_name")
        message = self._find(channel, str(params.get("timestamp") or ""))
        if message is None:
            raise SlackError("message_not_found")
        reaction = next((r for r in message.setdefault("reactions", []) if r["name"] == name), None)
        if reaction is not None and self.bot_user in reaction["users"]:
            raise SlackError("already_reacted")
        if reaction is None:
            message["reactions"].append({"name": name, "users": [self.bot_user], "count": 1})
        else:
            reaction["users"].append(self.bot_user)
            reaction["count"] += 1
        return {}

    async def _get_upload_url(self, params: Params) -> Params:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not filename or length <= 0:
            raise SlackError("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self.uploads[file_id] = Upload(file_id, filename, length)
        return {"upload_url": f"{params['_base_url']}upload/v1/{file_id}", "file_id": file_id}

    async def _complete_upload(self, params: Params) -> Params:
        try:
            files = json.loads(str(params.get("files") or ""))
        except ValueError:
            raise SlackError("invalid_json") from None
        channel = self._channel(params["channel_id"]) if params.get("channel_id") else None
        out = []
        for item in files:
            upload = self.uploads.get(str(item.get("id")))
            if upload is None or upload.data is None or len(upload.data) != upload.length:
                raise SlackError("file_not_found" if upload is None else "file_upload_size_mismatch")
            upload.completed = {**params, "title": item.get("title")}
            out.append({"id": upload.file_id, "name": upload.filename, "title": item.get("title") or upload.filename})
        if channel is not None:
            text = str(params.get("initial_comment") or "")
            body = {"type": "message", "user": self.bot_user, "bot_id": self.bot_id, "text": text, "files": out}
            self._store(channel, body, params.get("thread_ts") or None)
        return {"files": out}

    async def _connections_open(self, params: Params) -> Params:
        base = str(params["_base_url"]).replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return {"url": f"{base}link/?ticket={self.socket.issue_ticket()}&app_id={self.app_id}"}

    # -- internals ------------------------------------------------------------------------------

    def _channel(self, value: Any) -> str:
        channel = str(value or "")
        if channel in self.users:  # a user id: the app's DM with that user, as chat.postMessage allows
            return self._im(channel)
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        return channel

    def _im(self, user: str) -> str:
        im = f"D{user[1:]}"
        if im not in self.channels:
            self.channels[im] = {"id": im, "is_channel": False, "is_im": True, "user": user}
            self.messages[im] = []
        return im

    def _store(self, channel: str, body: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
        self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
        message = {**body, "ts": f"{self._last_ts:.6f}", "team": self.team}
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = self._find(channel, thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
        self.messages[channel].append(message)
        return message

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def _page(self, items: list[dict[str, Any]], params: Params, key: str = "messages") -> Params:
        limit = max(1, min(int(params.get("limit") or 100), 1000))
        start = int(params.get("cursor") or 0)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {key: page, "has_more": more, "response_metadata": {"next_cursor": str(start + limit) if more else ""}}


async def _parameters(request: Request) -> Params:
    params: Params = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if request.method == "POST":
        if content_type.startswith("application/json"):
            body = await request.body()
            try:
                loaded = json.loads(body) if body else {}
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(loaded, dict):
                raise SlackError("invalid_json")
            params.update(loaded)
        elif content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    params["_base_url"] = str(request.base_url)
    return params


def _failure(status: int, error: str, retry_after: int | None) -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    if status >= 500:
        return PlainTextResponse("Internal Server Error", status_code=status, headers=headers)
    return JSONResponse({"ok": False, "error": error or "fatal_error"}, status_code=status, headers=headers)
