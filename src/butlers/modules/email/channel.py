"""Composing and sending mail, shared by the email tools and the notify engine's email channel.

`send_mail` builds the message (From the account, a fresh Message-ID, In-Reply-To
and References when answering), sends it through SMTP and records it in
`email_sent`. As a channel, SMTP failures are sorted: a 4xx answer, a dropped
or refused connection and time-outs may pass if tried again; a 5xx will not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from enum import StrEnum
from typing import Any

import aiosmtplib
import asyncpg

from butlers.core.channels import DeliveryError, Outgoing
from butlers.modules.email.config import EmailConfig
from butlers.modules.email.smtp import SmtpError, send_message

MAX_BODY = 1_000_000


class SentKind(StrEnum):
    """email_sent.kind (mirrored by its CHECK): a new message or a reply."""

    SEND = "send"
    REPLY = "reply"


def new_message(sender: str, to: list[str], subject: str, body: str, cc: list[str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(body)
    return msg


def reply_subject(subject: str) -> str:
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


async def send_mail(
    cfg: EmailConfig, account: tuple[str, str], pool: asyncpg.Pool, args: Mapping[str, Any]
) -> EmailMessage:
    """Send `args` (to, cc, subject, body, in_reply_to?, references?) and record it; SmtpError if refused."""
    sender, password = account
    to, cc = list(args["to"]), list(args.get("cc") or [])
    msg = new_message(sender, to, args["subject"], args["body"], cc)
    if args.get("in_reply_to"):
        msg["In-Reply-To"] = args["in_reply_to"]
        msg["References"] = args.get("references") or args["in_reply_to"]
    recipients = [addr for _, addr in getaddresses([*to, *cc])]
    await send_message(cfg.smtp, sender, password, msg, recipients, cfg.timeout_s)
    await pool.execute(
        "INSERT INTO email_sent (message_id, kind, from_addr, to_addrs, cc_addrs, subject, in_reply_to)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        str(msg["Message-ID"]),
        SentKind.REPLY if args.get("in_reply_to") else SentKind.SEND,
        sender,
        to,
        cc,
        args["subject"],
        args.get("in_reply_to"),
    )
    return msg


def delivery_error(exc: SmtpError) -> DeliveryError:
    cause = exc.__cause__
    if isinstance(cause, aiosmtplib.SMTPResponseException):
        transient = 400 <= cause.code < 500
    elif isinstance(cause, aiosmtplib.SMTPRecipientsRefused):
        transient = all(400 <= r.code < 500 for r in cause.recipients)
    else:  # connection refused or dropped, time-outs
        transient = isinstance(cause, OSError | aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPTimeoutError)
    return DeliveryError(f"email: {exc}", transient=transient)


class EmailChannel:
    """Sends from the module's account."""

    name = "email"
    max_length = MAX_BODY

    def __init__(self, cfg: EmailConfig, account: tuple[str, str], pool: asyncpg.Pool) -> None:
        self._cfg = cfg
        self._account = account
        self._pool = pool

    def normalize(self, recipient: str) -> str:
        if "\r" in recipient or "\n" in recipient:
            raise ValueError("an email address must not contain line breaks")
        _, addr = parseaddr(recipient)
        local, at, domain = addr.partition("@")
        if not (local and at and domain) or " " in addr:
            raise ValueError(f"{recipient!r} is not an email address")
        return addr.lower()

    def reply_target(self, inbound: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        meta = inbound.get("metadata") or {}
        message_id = meta.get("message_id")
        if not message_id:
            raise ValueError("the inbound mail has no Message-ID to answer")
        refs = " ".join(x for x in (str(meta.get("references") or "").strip(), message_id) if x)
        recipient = str(meta.get("reply_to") or inbound["sender"])
        subject = reply_subject(str(inbound.get("subject") or "").strip())
        return self.normalize(recipient), {"message_id": message_id, "references": refs, "subject": subject}

    async def send(self, message: Outgoing) -> str:
        reply = message.reply or {}
        args = {
            "to": [message.recipient],
            "subject": str(reply.get("subject") or message.subject),
            "body": message.text,
            "in_reply_to": reply.get("message_id"),
            "references": reply.get("references"),
        }
        try:
            sent = await send_mail(self._cfg, self._account, self._pool, args)
        except SmtpError as exc:
            raise delivery_error(exc) from exc
        return str(sent["Message-ID"])
