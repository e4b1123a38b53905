"""The email module's tools: search, read, mark, send, reply, draft (one method each).

Sending, replying and drafting go through the butler's approval gate: each has
an executor (`run_*`) the gate calls now, or once the user approves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastmcp.exceptions import ToolError
from pydantic import Field

from butlers.core.approvals import Executor
from butlers.core.tool_errors import bad_argument
from butlers.modules.base import ModuleContext
from butlers.modules.email.channel import MAX_BODY, new_message, reply_subject, send_mail
from butlers.modules.email.config import EmailConfig
from butlers.modules.email.imap import Fetched, ImapClient, ImapError, quote
from butlers.modules.email.messages import (
    MAX_SEARCH,
    addresses,
    attachments,
    header,
    no_newlines,
    parse,
    summary,
    text_body,
)
from butlers.modules.email.smtp import SmtpError

if TYPE_CHECKING:
    from fastmcp import FastMCP

Uid = Annotated[int, Field(description="The message's IMAP UID in the watched mailbox, as email_search returns it.")]
T = TypeVar("T")


def _positive_uid(tool: str, uid: int) -> None:
    if uid < 1:
        raise bad_argument(tool, "uid", f"must be a positive UID, got {uid}")


def _check_text(tool: str, subject: str, body: str) -> None:
    no_newlines(tool, "subject", subject)
    if not subject.strip():
        raise bad_argument(tool, "subject", "must not be empty")
    if len(body) > MAX_BODY:
        raise bad_argument(tool, "body", f"is {len(body)} characters long; at most {MAX_BODY} allowed")


def search_criteria(sender: str | None, subject: str | None, since: str | None, unread: bool | None) -> list[str]:
    """IMAP SEARCH criteria for email_search's arguments (each checked)."""
    tool = "email_search"
    criteria: list[str] = []
    for argument, key, value in (("sender", "FROM", sender), ("subject", "SUBJECT", subject)):
        if value is not None:
            if not value.strip():
                raise bad_argument(tool, argument, "must not be empty")
            criteria += [key, quote(no_newlines(tool, argument, value.strip()))]
    if since is not None:
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise bad_argument(tool, "since", f"must be a date like 2026-01-31, got {since!r}") from None
        criteria += ["SINCE", f"{day.day}-{day.strftime('%b')}-{day.year}"]
    if unread is not None:
        criteria.append("UNSEEN" if unread else "SEEN")
    return criteria


class EmailTools:
    """The tools of one butler's email account."""

    def __init__(self, config: EmailConfig, ctx: ModuleContext, imap: Callable[[], ImapClient]) -> None:
        self.cfg = config
        self.ctx = ctx
        self._imap = imap
        self.account = ctx.credentials.get("SOURCE_EMAIL", ""), ctx.credentials.get("SOURCE_EMAIL_PASSWORD", "")

    def register(self, mcp: FastMCP) -> None:
        executors: dict[str, Executor] = {
            "email_send": self.run_send,
            "email_reply": self.run_reply,
            "email_draft": self.run_draft,
        }
        for action, run in executors.items():
            self.ctx.approvals.register(action, run)
        for tool in (
            self.email_search,
            self.email_read,
            self.email_mark,
            self.email_send,
            self.email_reply,
            self.email_draft,
        ):
            mcp.tool(tool, name=tool.__name__)

    # -- plumbing -----------------------------------------------------------------------------

    async def _run_imap(self, tool: str, work: Callable[[ImapClient], Awaitable[T]]) -> T:
        try:
            async with self._imap() as imap:
                return await work(imap)
        except ImapError as exc:
            raise ToolError(f"{tool}: {exc}") from exc

    async def _fetch_one(self, tool: str, imap: ImapClient, uid: int) -> Fetched:
        await imap.select(self.cfg.mailbox)
        items = await imap.fetch([uid], "BODY.PEEK[]")
        if not items:
            raise bad_argument(tool, "uid", f"no message with uid {uid} in {self.cfg.mailbox}")
        return items[0]

    async def _gated(self, action: str, args: dict[str, Any], summary: str) -> dict[str, Any]:
        require = action in self.cfg.require_approval
        return await self.ctx.approvals.run_or_hold(action, args, require=require, summary=summary)

    # -- executors (run now, or once approved) ------------------------------------------------

    async def _deliver(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        try:
            msg = await send_mail(self.cfg, self.account, self.ctx.pool, args)
        except SmtpError as exc:
            raise ToolError(f"email_{kind}: {exc}") from exc
        to, cc = list(args["to"]), list(args.get("cc") or [])
        return {"status": "sent", "message_id": str(msg["Message-ID"]), "to": to, "cc": cc, "subject": args["subject"]}

    async def run_send(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._deliver("send", args)

    async def run_reply(self, args: dict[str, Any]) -> dict[str, Any]:
        return await self._deliver("reply", args)

    async def run_draft(self, args: dict[str, Any]) -> dict[str, Any]:
        drafts = self.cfg.drafts_mailbox
        msg = new_message(self.account[0], list(args["to"]), args["subject"], args["body"])

        async def work(imap: ImapClient) -> None:
            try:
                await imap.append(drafts, msg.as_bytes(), "\\Draft \\Seen")
            except ImapError:  # the folder may not exist yet
                await imap.create(drafts)
                await imap.append(drafts, msg.as_bytes(), "\\Draft \\Seen")

        await self._run_imap("email_draft", work)
        return {"status": "drafted", "mailbox": drafts, "message_id": str(msg["Message-ID"])}

    # -- the tools ----------------------------------------------------------------------------

    async def email_search(
        self,
        sender: str | None = None,
        subject: str | None = None,
        since: Annotated[str | None, Field(description="ISO date (YYYY-MM-DD): on or after.")] = None,
        unread: bool | None = None,
        limit: int = 20,
    ) -> list[dict[str, Any]]:
        """Find messages in the watched mailbox by sender, subject text, date (on or after) and read state; newest first."""
        criteria = search_criteria(sender, subject, since, unread)
        if not 1 <= limit <= MAX_SEARCH:
            raise bad_argument("email_search", "limit", f"must be between 1 and {MAX_SEARCH}, got {limit}")

        async def work(imap: ImapClient) -> list[dict[str, Any]]:
            await imap.select(self.cfg.mailbox, readonly=True)
            uids = (await imap.search(*(criteria or ["ALL"])))[-limit:]
            items = await imap.fetch(uids, "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)]")
            return [summary(i) for i in sorted(items, key=lambda i: i.uid, reverse=True)]

        return await self._run_imap("email_search", work)

    async def email_read(self, uid: Uid) -> dict[str, Any]:
        """One message: headers, the text body and attachment names. Does not mark it read (see email_mark)."""
        _positive_uid("email_read", uid)
        item = await self._run_imap("email_read", lambda imap: self._fetch_one("email_read", imap, uid))
        msg = parse(item.data)
        return {
            **summary(item),
            "to": header(msg, "To"),
            "cc": header(msg, "Cc"),
            "reply_to": header(msg, "Reply-To"),
            "in_reply_to": header(msg, "In-Reply-To"),
            "references": header(msg, "References"),
            "body": text_body(msg),
            "attachments": attachments(msg),
        }

    async def email_mark(self, uid: Uid, read: bool | None = None, flagged: bool | None = None) -> dict[str, Any]:
        """Mark a message read or unread, flagged or unflagged; returns its state afterwards."""
        _positive_uid("email_mark", uid)
        if read is None and flagged is None:
            raise bad_argument("email_mark", "read", "give read and/or flagged")

        async def work(imap: ImapClient) -> dict[str, Any]:
            await self._fetch_one("email_mark", imap, uid)
            if read is not None:
                await imap.store(uid, "+FLAGS.SILENT" if read else "-FLAGS.SILENT", "\\Seen")
            if flagged is not None:
                await imap.store(uid, "+FLAGS.SILENT" if flagged else "-FLAGS.SILENT", "\\Flagged")
            items = await imap.fetch([uid], "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]")
            return {"uid": uid, "unread": "\\Seen" not in items[0].flags, "flagged": "\\Flagged" in items[0].flags}

        return await self._run_imap("email_mark", work)

    async def email_send(self, to: list[str], subject: str, body: str, cc: list[str] | None = None) -> dict[str, Any]:
        """Send a new plain-text mail from the butler's account; may wait for approval (require_approval)."""
        to_ = addresses("email_send", "to", to, required=True)
        cc_ = addresses("email_send", "cc", cc, required=False)
        _check_text("email_send", subject, body)
        args = {"to": to_, "cc": cc_, "subject": subject.strip(), "body": body}
        return await self._gated("email_send", args, f"send mail to {', '.join(to_)}: {subject.strip()!r}")

    async def email_reply(self, uid: Uid, body: str) -> dict[str, Any]:
        """Reply to a message (to its Reply-To or sender, "Re:" subject, threaded); may wait for approval."""
        _positive_uid("email_reply", uid)
        _check_text("email_reply", "x", body)
        item = await self._run_imap("email_reply", lambda imap: self._fetch_one("email_reply", imap, uid))
        original = parse(item.data)
        to = header(original, "Reply-To") or header(original, "From")
        if not to:
            raise bad_argument("email_reply", "uid", f"message {uid} has no From or Reply-To to answer")
        message_id = (header(original, "Message-ID") or "").strip() or None
        refs = " ".join(x for x in ((header(original, "References") or "").strip(), message_id or "") if x)
        args = {
            "uid": uid,
            "to": [to.replace("\r", " ").replace("\n", " ")],
            "cc": [],
            "subject": reply_subject((header(original, "Subject") or "").strip()),
            "body": body,
            "in_reply_to": message_id,
            "references": refs or None,
        }
        return await self._gated("email_reply", args, f"reply to {to}: {args['subject']!r}")

    async def email_draft(self, to: list[str], subject: str, body: str) -> dict[str, Any]:
        """Save a mail in the Drafts folder without sending it."""
        to_ = addresses("email_draft", "to", to, required=True)
        _check_text("email_draft", subject, body)
        args = {"to": to_, "subject": subject.strip(), "body": body}
        return await self._gated("email_draft", args, f"draft to {', '.join(to_)}: {subject.strip()!r}")
