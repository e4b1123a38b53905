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

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from butlers.modules.base import Module, ModuleContext
from butlers.modules.email.channel import EmailChannel
from butlers.modules.email.config import OUTBOUND_TOOLS, EmailConfig
from butlers.modules.email.imap import Fetched, ImapClient, ImapError
from butlers.modules.email.messages import MAX_INBOUND_TEXT, attachments, header, parse, sent_date, text_body
from butlers.modules.email.tools import EmailTools

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["OUTBOUND_TOOLS", "EmailConfig", "EmailModule"]


class EmailModule(Module[EmailConfig]):
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

        msg = parse(item.data)
        message_id = (header(msg, "Message-ID") or "").strip()
        external_id = message_id or f"<{uidvalidity}.{item.uid}.{self.settings.mailbox}@imap.local>"
        text = text_body(msg)
        inbound = InboundMessage(
            channel="email",
            external_id=external_id,
            sender=header(msg, "From") or "(unknown sender)",
            text=text[:MAX_INBOUND_TEXT],
            received_at=sent_date(msg) or datetime.now(UTC),
            subject=header(msg, "Subject"),
            metadata={
                "uid": item.uid,
                "uidvalidity": uidvalidity,
                "mailbox": self.settings.mailbox,
                "to": header(msg, "To"),
                "cc": header(msg, "Cc"),
                "message_id": message_id or None,
                "references": header(msg, "References"),
                "reply_to": header(msg, "Reply-To"),
                "attachments": attachments(msg),
            },
        )
        if ctx.inbound is None:
            ctx.log.warning("email.no_inbound_log", external_id=external_id)
            return
        await ctx.inbound.receive(inbound)

    # -- tools ----------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        EmailTools(self.settings, ctx, lambda: self._imap(ctx)).register(mcp)
