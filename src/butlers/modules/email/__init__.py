"""The `email` module: an IMAP mailbox and SMTP sending for one account.

    [modules.email]
    provider = "fastmail"                 # or gmail, outlook, icloud, custom (+ imap_host/smtp_host)
    require_approval = ["email_send", "email_reply"]

The account is `SOURCE_EMAIL` with the password `SOURCE_EMAIL_PASSWORD` (an app password for most
providers). Tools search, read, mark, send, reply and draft. The module's `serve` watches the mailbox
(polling, plus IMAP IDLE when `idle = true`) and hands every new message to the butler's inbound
log exactly once: the log's unique (channel, external id) key makes a second sighting, also after
a restart, a no-op. Every sent message is recorded in `email_sent` with its Message-ID.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.abc
from fastmcp.exceptions import ToolError
from pydantic import Field

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import Module, ModuleContext
from butlers.modules.email.channel import MAX_BODY, EmailChannel, new_message, reply_subject, send_mail
from butlers.modules.email.config import OUTBOUND_TOOLS, EmailConfig
from butlers.modules.email.imap import Fetched, ImapClient, ImapError, quote
from butlers.modules.email.smtp import SmtpError

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["OUTBOUND_TOOLS", "EmailConfig", "EmailModule"]

MAX_SEARCH = 200
MAX_INBOUND_TEXT = 100_000
MAX_RECIPIENTS = 50
_ADDR = re.compile(r"[^@\s<>]+@[^@\s<>]+")

Uid = Annotated[int, Field(description="The message's IMAP UID in the watched mailbox, as email_search returns it.")]
T = TypeVar("T")
Executor = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _no_newlines(tool: str, argument: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise bad_argument(tool, argument, "must not contain line breaks")
    return value


def _addresses(tool: str, argument: str, values: list[str] | None, *, required: bool) -> list[str]:
    values = values or []
    if required and not values:
        raise bad_argument(tool, argument, "give at least one address")
    if len(values) > MAX_RECIPIENTS:
        raise bad_argument(tool, argument, f"{len(values)} addresses given; at most {MAX_RECIPIENTS} allowed")
    out: list[str] = []
    for value in values:
        _no_newlines(tool, argument, value)
        _, addr = parseaddr(value)
        if not _ADDR.fullmatch(addr):
            raise bad_argument(tool, argument, f"{value!r} is not an email address")
        out.append(value.strip())
    return out


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = str(part.get_content())
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    return text


def _attachments(msg: EmailMessage) -> list[str]:
    return [part.get_filename() or "(unnamed)" for part in msg.iter_attachments()]


def _header(msg: EmailMessage, name: str) -> str | None:
    value = msg.get(name)
    return str(value) if value is not None else None


def _date(msg: EmailMessage) -> datetime | None:
    raw = msg.get("Date")
    if raw is None:
        return None
    try:
        when = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _summary(item: Fetched) -> dict[str, Any]:
    msg = _parse(item.data)
    when = _date(msg)
    return {
        "uid": item.uid,
        "from": _header(msg, "From"),
        "subject": _header(msg, "Subject"),
        "date": when.isoformat() if when else None,
        "message_id": _header(msg, "Message-ID"),
        "unread": "\\Seen" not in item.flags,
        "flagged": "\\Flagged" in item.flags,
    }


class EmailModule(Module):
    """IMAP + SMTP for one account: search, read, mark, send, reply, draft; new mail becomes inbound messages."""

    name = "email"
    config_schema = EmailConfig
    credentials_env = ("SOURCE_EMAIL", "SOURCE_EMAIL_PASSWORD")
    migrations_dir = Path(__file__).parent / "migrations"

    def __init__(self, config: EmailConfig) -> None:
        super().__init__(config)
        self.settings: EmailConfig = config
        self._ctx: ModuleContext | None = None
        self.last_poll_at: datetime | None = None
        self.last_error: str | None = None
        self.idling = False  # the watcher waits in IMAP IDLE right now

    def _set_idling(self, idling: bool) -> None:
        self.idling = idling

    # -- connections --------------------------------------------------------------------------

    def _account(self, ctx: ModuleContext) -> tuple[str, str]:
        return ctx.credentials.get("SOURCE_EMAIL", ""), ctx.credentials.get("SOURCE_EMAIL_PASSWORD", "")

    def _imap(self, ctx: ModuleContext) -> ImapClient:
        user, password = self._account(ctx)
        return ImapClient(self.settings.imap, user, password, self.settings.timeout_s)

    # -- lifecycle ------------------------------------------------------------------------------

    async def on_startup(self, ctx: ModuleContext) -> None:
        self._ctx = ctx
        if ctx.channels is not None:  # the notify engine (on this butler) sends mail through this account
            ctx.channels.register(EmailChannel(self.settings, self._account(ctx), ctx.pool))

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        if ctx.channels is not None:
            ctx.channels.unregister("email")

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Watch the mailbox until cancelled. Ready at once: a down IMAP server is retried, not fatal."""
        task_status.started()
        await self._watch(ctx)

    async def health(self) -> dict[str, Any]:
        if self._ctx is None:
            return {"ok": False, "error": "email module not started"}
        ep = self.settings.imap
        where = f"{ep.host}:{ep.port}"
        try:
            with anyio.fail_after(min(self.settings.timeout_s, 4)):
                async with self._imap(self._ctx):
                    pass
        except (ImapError, TimeoutError) as exc:
            return {"ok": False, "imap": where, "error": str(exc) or f"IMAP server {where} timed out"}
        return {
            "ok": True,
            "imap": where,
            "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
            "last_error": self.last_error,
        }

    # -- the watcher ----------------------------------------------------------------------------

    async def _watch(self, ctx: ModuleContext) -> None:
        """Poll (and IDLE) the mailbox forever; a down server is retried, never fatal to the butler."""
        retry = 1.0
        while True:
            try:
                async with self._imap(ctx) as imap:
                    retry = 1.0
                    while True:
                        await self.poll_once(imap, ctx)
                        if self.settings.idle and imap.has_idle:
                            await imap.idle_wait(self.settings.poll_interval_s, self._set_idling)
                        else:
                            await anyio.sleep(self.settings.poll_interval_s)
            except Exception as exc:  # the server went away, a bad message, the database blipped...
                self.last_error = f"{type(exc).__name__}: {exc}"
                ctx.log.warning("email.watch_failed", error=self.last_error, retry_in_s=retry)
                await anyio.sleep(retry)
                retry = min(retry * 2, max(self.settings.poll_interval_s, 1.0), 60.0)

    async def poll_once(self, imap: ImapClient, ctx: ModuleContext) -> int:
        """Hand every message above the stored UID to the inbound log; returns how many were seen."""
        mailbox = self.settings.mailbox
        info = await imap.select(mailbox, readonly=True)
        row = await ctx.pool.fetchrow("SELECT uidvalidity, last_uid FROM email_watch WHERE mailbox = $1", mailbox)
        if row is None or row["uidvalidity"] != info.uidvalidity:
            # First look (or the mailbox was rebuilt): what is there now is not new mail.
            await ctx.pool.execute(
                "INSERT INTO email_watch (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3)"
                " ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = $2, last_uid = $3, updated_at = now()",
                mailbox,
                info.uidvalidity,
                max(info.uidnext - 1, 0),
            )
            self.last_poll_at = datetime.now(UTC)
            return 0
        last = int(row["last_uid"])
        uids = [u for u in await imap.search("UID", f"{last + 1}:*") if u > last]
        for uid in uids:
            for item in await imap.fetch([uid], "BODY.PEEK[]"):
                await self._hand_over(item, info.uidvalidity, ctx)
            # After the hand-off: a crash in between sees the message again, and the inbound key drops it.
            await ctx.pool.execute(
                "UPDATE email_watch SET last_uid = $2, updated_at = now() WHERE mailbox = $1 AND last_uid < $2",
                mailbox,
                uid,
            )
        self.last_poll_at = datetime.now(UTC)
        self.last_error = None
        return len(uids)

    async def _hand_over(self, item: Fetched, uidvalidity: int, ctx: ModuleContext) -> None:
        from butlers.core.inbound import InboundMessage

        msg = _parse(item.data)
        message_id = (_header(msg, "Message-ID") or "").strip()
        external_id = message_id or f"<{uidvalidity}.{item.uid}.{self.settings.mailbox}@imap.local>"
        text = _text_body(msg)
        inbound = InboundMessage(
            channel="email",
            external_id=external_id,
            sender=_header(msg, "From") or "(unknown sender)",
            text=text[:MAX_INBOUND_TEXT],
            received_at=_date(msg) or datetime.now(UTC),
            subject=_header(msg, "Subject"),
            metadata={
                "uid": item.uid,
                "uidvalidity": uidvalidity,
                "mailbox": self.settings.mailbox,
                "to": _header(msg, "To"),
                "cc": _header(msg, "Cc"),
                "message_id": message_id or None,
                "references": _header(msg, "References"),
                "reply_to": _header(msg, "Reply-To"),
                "attachments": _attachments(msg),
            },
        )
        if ctx.inbound is None:
            ctx.log.warning("email.no_inbound_log", external_id=external_id)
            return
        await ctx.inbound.receive(inbound)

    # -- tools ----------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        cfg = self.settings
        pool = ctx.pool
        sender, password = self._account(ctx)

        async def run_imap(tool: str, work: Callable[[ImapClient], Awaitable[T]]) -> T:
            try:
                async with self._imap(ctx) as imap:
                    return await work(imap)
            except ImapError as exc:
                raise ToolError(f"{tool}: {exc}") from exc

        async def fetch_one(tool: str, imap: ImapClient, uid: int) -> Fetched:
            await imap.select(cfg.mailbox)
            items = await imap.fetch([uid], "BODY.PEEK[]")
            if not items:
                raise bad_argument(tool, "uid", f"no message with uid {uid} in {cfg.mailbox}")
            return items[0]

        async def deliver(kind: str, args: dict[str, Any]) -> dict[str, Any]:
            try:
                msg = await send_mail(cfg, (sender, password), pool, args)
            except SmtpError as exc:
                raise ToolError(f"email_{kind}: {exc}") from exc
            to, cc = list(args["to"]), list(args.get("cc") or [])
            return {
                "status": "sent",
                "message_id": str(msg["Message-ID"]),
                "to": to,
                "cc": cc,
                "subject": args["subject"],
            }

        async def run_send(args: dict[str, Any]) -> dict[str, Any]:
            return await deliver("send", args)

        async def run_reply(args: dict[str, Any]) -> dict[str, Any]:
            return await deliver("reply", args)

        async def run_draft(args: dict[str, Any]) -> dict[str, Any]:
            msg = new_message(sender, list(args["to"]), args["subject"], args["body"])

            async def work(imap: ImapClient) -> None:
                try:
                    await imap.append(cfg.drafts_mailbox, msg.as_bytes(), "\\Draft \\Seen")
                except ImapError:  # the folder may not exist yet
                    await imap.create(cfg.drafts_mailbox)
                    await imap.append(cfg.drafts_mailbox, msg.as_bytes(), "\\Draft \\Seen")

            await run_imap("email_draft", work)
            return {"status": "drafted", "mailbox": cfg.drafts_mailbox, "message_id": str(msg["Message-ID"])}

        executors: dict[str, Executor] = {"email_send": run_send, "email_reply": run_reply, "email_draft": run_draft}
        for action, run in executors.items():
            ctx.approvals.register(action, run)

        async def guarded(action: str, args: dict[str, Any], summary: str) -> dict[str, Any]:
            return await ctx.approvals.run_or_hold(
                action, args, require=action in cfg.require_approval, summary=summary
            )

        async def email_search(
            sender: str | None = None,
            subject: str | None = None,
            since: Annotated[str | None, Field(description="ISO date (YYYY-MM-DD): on or after.")] = None,
            unread: bool | None = None,
            limit: int = 20,
        ) -> list[dict[str, Any]]:
            """Find messages in the watched mailbox by sender, subject text, date (on or after) and read state; newest first."""
            tool = "email_search"
            criteria: list[str] = []
            for argument, key, value in (("sender", "FROM", sender), ("subject", "SUBJECT", subject)):
                if value is not None:
                    if not value.strip():
                        raise bad_argument(tool, argument, "must not be empty")
                    criteria += [key, quote(_no_newlines(tool, argument, value.strip()))]
            if since is not None:
                try:
                    day = date.fromisoformat(since)
                except ValueError:
                    raise bad_argument(tool, "since", f"must be a date like 2026-01-31, got {since!r}") from None
                criteria += ["SINCE", f"{day.day}-{day.strftime('%b')}-{day.year}"]
            if unread is not None:
                criteria.append("UNSEEN" if unread else "SEEN")
            if not 1 <= limit <= MAX_SEARCH:
                raise bad_argument(tool, "limit", f"must be between 1 and {MAX_SEARCH}, got {limit}")

            async def work(imap: ImapClient) -> list[dict[str, Any]]:
                await imap.select(cfg.mailbox, readonly=True)
                uids = (await imap.search(*(criteria or ["ALL"])))[-limit:]
                items = await imap.fetch(uids, "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)]")
                return [_summary(i) for i in sorted(items, key=lambda i: i.uid, reverse=True)]

            return await run_imap(tool, work)

        async def email_read(uid: Uid) -> dict[str, Any]:
            """One message: headers, the text body and attachment names. Does not mark it read (see email_mark)."""
            if uid < 1:
                raise bad_argument("email_read", "uid", f"must be a positive UID, got {uid}")
            item = await run_imap("email_read", lambda imap: fetch_one("email_read", imap, uid))
            msg = _parse(item.data)
            return {
                **_summary(item),
                "to": _header(msg, "To"),
                "cc": _header(msg, "Cc"),
                "reply_to": _header(msg, "Reply-To"),
                "in_reply_to": _header(msg, "In-Reply-To"),
                "references": _header(msg, "References"),
                "body": _text_body(msg),
                "attachments": _attachments(msg),
            }

        async def email_mark(uid: Uid, read: bool | None = None, flagged: bool | None = None) -> dict[str, Any]:
            """Mark a message read or unread, flagged or unflagged; returns its state afterwards."""
            if uid < 1:
                raise bad_argument("email_mark", "uid", f"must be a positive UID, got {uid}")
            if read is None and flagged is None:
                raise bad_argument("email_mark", "read", "give read and/or flagged")

            async def work(imap: ImapClient) -> dict[str, Any]:
                await fetch_one("email_mark", imap, uid)
                if read is not None:
                    await imap.store(uid, "+FLAGS.SILENT" if read else "-FLAGS.SILENT", "\\Seen")
                if flagged is not None:
                    await imap.store(uid, "+FLAGS.SILENT" if flagged else "-FLAGS.SILENT", "\\Flagged")
                items = await imap.fetch([uid], "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]")
                return {"uid": uid, "unread": "\\Seen" not in items[0].flags, "flagged": "\\Flagged" in items[0].flags}

            return await run_imap("email_mark", work)

        def check_text(tool: str, subject: str, body: str) -> None:
            _no_newlines(tool, "subject", subject)
            if not subject.strip():
                raise bad_argument(tool, "subject", "must not be empty")
            if len(body) > MAX_BODY:
                raise bad_argument(tool, "body", f"is {len(body)} characters long; at most {MAX_BODY} allowed")

        async def email_send(to: list[str], subject: str, body: str, cc: list[str] | None = None) -> dict[str, Any]:
            """Send a new plain-text mail from the butler's account; may wait for approval (require_approval)."""
            to_ = _addresses("email_send", "to", to, required=True)
            cc_ = _addresses("email_send", "cc", cc, required=False)
            check_text("email_send", subject, body)
            args = {"to": to_, "cc": cc_, "subject": subject.strip(), "body": body}
            return await guarded("email_send", args, f"send mail to {', '.join(to_)}: {subject.strip()!r}")

        async def email_reply(uid: Uid, body: str) -> dict[str, Any]:
            """Reply to a message (to its Reply-To or sender, "Re:" subject, threaded); may wait for approval."""
            if uid < 1:
                raise bad_argument("email_reply", "uid", f"must be a positive UID, got {uid}")
            check_text("email_reply", "x", body)
            item = await run_imap("email_reply", lambda imap: fetch_one("email_reply", imap, uid))
            original = _parse(item.data)
            to = _header(original, "Reply-To") or _header(original, "From")
            if not to:
                raise bad_argument("email_reply", "uid", f"message {uid} has no From or Reply-To to answer")
            message_id = (_header(original, "Message-ID") or "").strip() or None
            refs = " ".join(x for x in ((_header(original, "References") or "").strip(), message_id or "") if x)
            args = {
                "uid": uid,
                "to": [to.replace("\r", " ").replace("\n", " ")],
                "cc": [],
                "subject": reply_subject((_header(original, "Subject") or "").strip()),
                "body": body,
                "in_reply_to": message_id,
                "references": refs or None,
            }
            return await guarded("email_reply", args, f"reply to {to}: {args['subject']!r}")

        async def email_draft(to: list[str], subject: str, body: str) -> dict[str, Any]:
            """Save a mail in the Drafts folder without sending it."""
            to_ = _addresses("email_draft", "to", to, required=True)
            check_text("email_draft", subject, body)
            args = {"to": to_, "subject": subject.strip(), "body": body}
            return await guarded("email_draft", args, f"draft to {', '.join(to_)}: {subject.strip()!r}")

        for tool in (email_search, email_read, email_mark, email_send, email_reply, email_draft):
            mcp.tool(tool, name=tool.__name__)
