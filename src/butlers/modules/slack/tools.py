"""The slack module's MCP tools: one method each; `register` only registers them.

Outbound tools (send, reply, react, upload) resolve and check their target first, then go
through the approval gate: with the tool in `require_approval` the call is stored and runs
once approved. Every target must be on the allow-list (a conversation in `allowed_channels`,
or an allowed user or the owner, whose DM is opened with conversations.open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastmcp.exceptions import ToolError
from pydantic import BaseModel, Field

from butlers.core.approvals import Executor
from butlers.core.tool_errors import bad_argument

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from butlers.modules.base import ModuleContext
    from butlers.modules.slack import SlackModule

MAX_TEXT = 40_000  # chat.postMessage truncates longer texts
MAX_FILE_BYTES = 1_000_000  # "a small text file"
MAX_RECENT = 200
MAX_USERS = 20
USER_PAGES = 10  # users.list pages of 200 searched at most

Target = Annotated[
    str,
    Field(
        description="A conversation id on the allow-list (C..., G..., D...) or an allowed user id (U..., W...) for their DM.",
        min_length=1,
        max_length=40,
    ),
]
Text = Annotated[str, Field(description=f"The message (Slack mrkdwn), 1-{MAX_TEXT} characters.", max_length=MAX_TEXT)]
Ts = Annotated[
    str,
    Field(
        description="A message timestamp as Slack gives it, e.g. '1700000000.000100'.", pattern=r"^\d{1,12}\.\d{1,9}$"
    ),
]
ThreadTs = Annotated[
    str | None,
    Field(description="Post into this thread (the ts of its first message).", pattern=r"^\d{1,12}\.\d{1,9}$"),
]


class Outcome(BaseModel):
    """What an outbound tool did: `sent`/`reacted`/`uploaded`, or `pending_approval` with the approval's id."""

    status: str
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    file_id: str | None = None
    approval_id: str | None = None
    summary: str | None = None


class Message(BaseModel):
    ts: str
    user: str | None
    bot: bool
    text: str
    thread_ts: str | None
    reply_count: int
    reactions: list[str]


class User(BaseModel):
    id: str
    name: str
    real_name: str | None
    display_name: str | None
    email: str | None
    is_bot: bool


def _text(tool: str, text: str) -> str:
    if not text.strip():
        raise bad_argument(tool, "text", "must not be empty")
    return text


def _preview(text: str) -> str:
    return text if len(text) <= 200 else text[:200] + "..."


class SlackTools:
    """The tools of one module instance, bound to its butler's context."""

    def __init__(self, module: SlackModule, ctx: ModuleContext) -> None:
        self.module, self.ctx = module, ctx
        self.require = set(module.config.require_approval)
        self.executors: dict[str, Executor] = {
            "slack_send": self._run_send,
            "slack_reply": self._run_reply,
            "slack_react": self._run_react,
            "slack_upload": self._run_upload,
        }
        for action, run in self.executors.items():
            ctx.approvals.register(action, run)

    def register(self, mcp: FastMCP) -> None:
        for tool in (
            self.slack_send,
            self.slack_reply,
            self.slack_recent,
            self.slack_users,
            self.slack_react,
            self.slack_upload,
        ):
            mcp.tool(tool, name=tool.__name__)

    # -- tools ----------------------------------------------------------------------------------

    async def slack_send(self, to: Target, text: Text, thread_ts: ThreadTs = None) -> Outcome:
        """Post a message to an allowed Slack conversation, or to an allowed user's DM (by user id); optionally into a thread. Returns the message's ts, or {"status": "pending_approval", ...} when sending needs the user's approval."""
        channel = await self.module.resolve("slack_send", "to", to)
        args = {"channel": channel, "text": _text("slack_send", text), "thread_ts": thread_ts}
        return await self._guard("slack_send", args, f"Post to Slack {to}: {_preview(text)}")

    async def slack_reply(self, channel: Target, thread_ts: Ts, text: Text) -> Outcome:
        """Reply in a Slack thread: `thread_ts` is the ts of the thread's first message (or of the message to start a thread under)."""
        resolved = await self.module.resolve("slack_reply", "channel", channel)
        args = {"channel": resolved, "text": _text("slack_reply", text), "thread_ts": thread_ts}
        return await self._guard("slack_reply", args, f"Reply in a Slack thread of {channel}: {_preview(text)}")

    async def slack_recent(
        self,
        channel: Target,
        thread_ts: Annotated[
            str | None,
            Field(
                description="Read this thread (its first message, then replies, oldest first) instead of the channel.",
                pattern=r"^\d{1,12}\.\d{1,9}$",
            ),
        ] = None,
        limit: Annotated[
            int, Field(description=f"How many messages at most (1-{MAX_RECENT}).", ge=1, le=MAX_RECENT)
        ] = 20,
    ) -> list[Message]:
        """Recent messages of an allowed Slack conversation (newest first), or of one thread (oldest first)."""
        resolved = await self.module.resolve("slack_recent", "channel", channel)
        web = self.module.web
        if thread_ts is None:
            call = web.conversations_history(channel=resolved, limit=limit)
        else:
            call = web.conversations_replies(channel=resolved, ts=thread_ts, limit=limit)
        response = await self.module.call_api("slack_recent", call)
        return [_message(m) for m in response.get("messages", [])[:limit]]

    async def slack_users(
        self,
        query: Annotated[
            str,
            Field(
                description="An email address (exact), or part of a user's name, display name or real name.",
                min_length=1,
                max_length=200,
            ),
        ],
    ) -> list[User]:
        """Find Slack users by email or by name; returns their user ids (for slack_send's `to`), at most 20."""
        query = query.strip()
        if not query:
            raise bad_argument("slack_users", "query", "must not be empty")
        web = self.module.web
        if "@" in query:
            try:
                response = await self.module.call_api("slack_users", web.users_lookupByEmail(email=query))
            except ToolError as exc:
                if "users_not_found" in str(exc):
                    return []
                raise
            return [_user(response["user"])]
        found: list[User] = []
        cursor = None
        needle = query.lower()
        for _ in range(USER_PAGES):
            page = await self.module.call_api("slack_users", web.users_list(limit=200, cursor=cursor))
            for member in page.get("members", []):
                if not member.get("deleted") and _matches(member, needle):
                    found.append(_user(member))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor or len(found) >= MAX_USERS:
                break
        return found[:MAX_USERS]

    async def slack_react(
        self,
        channel: Target,
        ts: Ts,
        emoji: Annotated[
            str,
            Field(
                description="The emoji's name, e.g. 'thumbsup' or ':white_check_mark:'.",
                pattern=r"^:?[a-z0-9_+'\-]{1,100}:?$",
            ),
        ],
    ) -> Outcome:
        """Add an emoji reaction to a message of an allowed Slack conversation."""
        resolved = await self.module.resolve("slack_react", "channel", channel)
        args = {"channel": resolved, "ts": ts, "emoji": emoji.strip(":")}
        return await self._guard("slack_react", args, f"React :{args['emoji']}: to a Slack message in {channel}")

    async def slack_upload(
        self,
        to: Target,
        filename: Annotated[
            str, Field(description="The file's name, e.g. 'notes.md'.", pattern=r"^[^/\\\x00]{1,255}$")
        ],
        content: Annotated[str, Field(description="The file's text (at most 1 MB as UTF-8).")],
        title: Annotated[
            str | None, Field(description="A title shown in Slack (default: the filename).", max_length=255)
        ] = None,
        comment: Annotated[
            str | None, Field(description="A message posted with the file.", max_length=MAX_TEXT)
        ] = None,
        thread_ts: ThreadTs = None,
    ) -> Outcome:
        """Upload a small text file to an allowed Slack conversation or user's DM, with an optional comment, optionally into a thread."""
        size = len(content.encode())
        if size == 0 or size > MAX_FILE_BYTES:
            raise bad_argument("slack_upload", "content", f"is {size} bytes; give 1 to {MAX_FILE_BYTES}")
        channel = await self.module.resolve("slack_upload", "to", to)
        args = {
            "channel": channel,
            "filename": filename,
            "content": content,
            "title": title or filename,
            "comment": comment,
            "thread_ts": thread_ts,
        }
        return await self._guard("slack_upload", args, f"Upload {filename} ({size} bytes) to Slack {to}")

    # -- executors (run now, or once approved) ----------------------------------------------------

    async def _guard(self, action: str, args: dict[str, Any], summary: str) -> Outcome:
        answer = await self.ctx.approvals.run_or_hold(action, args, require=action in self.require, summary=summary)
        return Outcome.model_validate(answer)

    async def _run_send(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._post("slack_send", args)

    async def _run_reply(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._post("slack_reply", args)

    async def _post(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        ts = await self.module.post(args["channel"], args["text"], args.get("thread_ts"), tool=tool)
        return {"status": "sent", "channel": args["channel"], "ts": ts, "thread_ts": args.get("thread_ts")}

    async def _run_react(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self.module.web.reactions_add(channel=args["channel"], timestamp=args["ts"], name=args["emoji"])
        await self.module.call_api("slack_react", call)
        return {"status": "reacted", "channel": args["channel"], "ts": args["ts"]}

    async def _run_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        call = self.module.web.files_upload_v2(
            channel=args["channel"],
            content=args["content"],
            filename=args["filename"],
            title=args["title"],
            initial_comment=args.get("comment"),
            thread_ts=args.get("thread_ts"),
        )
        response = await self.module.call_api("slack_upload", call)
        file_id = (response.get("file") or {}).get("id")
        return {
            "status": "uploaded",
            "channel": args["channel"],
            "file_id": file_id,
            "thread_ts": args.get("thread_ts"),
        }


def _matches(member: dict[str, Any], needle: str) -> bool:
    profile = member.get("profile") or {}
    names = (member.get("name"), member.get("real_name"), profile.get("display_name"), profile.get("real_name"))
    return any(needle in str(n).lower() for n in names if n)


def _user(member: dict[str, Any]) -> User:
    profile = member.get("profile") or {}
    return User(
        id=member["id"],
        name=member.get("name", ""),
        real_name=member.get("real_name") or profile.get("real_name"),
        display_name=profile.get("display_name") or None,
        email=profile.get("email") or None,
        is_bot=bool(member.get("is_bot")),
    )


def _message(m: dict[str, Any]) -> Message:
    return Message(
        ts=m["ts"],
        user=m.get("user"),
        bot=bool(m.get("bot_id")),
        text=m.get("text", ""),
        thread_ts=m.get("thread_ts"),
        reply_count=int(m.get("reply_count", 0)),
        reactions=[r["name"] for r in m.get("reactions", [])],
    )
