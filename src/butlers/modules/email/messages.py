"""Reading mail for the email module's tools and watcher: parsing, headers, summaries, address checks."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

from butlers.core.tool_errors import bad_argument
from butlers.modules.email.imap import Fetched

MAX_SEARCH = 200
MAX_INBOUND_TEXT = 100_000
MAX_RECIPIENTS = 50
_ADDR = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def no_newlines(tool: str, argument: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise bad_argument(tool, argument, "must not contain line breaks")
    return value


def addresses(tool: str, argument: str, values: list[str] | None, *, required: bool) -> list[str]:
    values = values or []
    if required and not values:
        raise bad_argument(tool, argument, "give at least one address")
    if len(values) > MAX_RECIPIENTS:
        raise bad_argument(tool, argument, f"{len(values)} addresses given; at most {MAX_RECIPIENTS} allowed")
    out: list[str] = []
    for value in values:
        no_newlines(tool, argument, value)
        _, addr = parseaddr(value)
        if not _ADDR.fullmatch(addr):
            raise bad_argument(tool, argument, f"{value!r} is not an email address")
        out.append(value.strip())
    return out


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_body(msg: EmailMessage) -> str:
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


def attachments(msg: EmailMessage) -> list[str]:
    return [part.get_filename() or "(unnamed)" for part in msg.iter_attachments()]


def header(msg: EmailMessage, name: str) -> str | None:
    value = msg.get(name)
    return str(value) if value is not None else None


def sent_date(msg: EmailMessage) -> datetime | None:
    raw = msg.get("Date")
    if raw is None:
        return None
    try:
        when = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def summary(item: Fetched) -> dict[str, Any]:
    msg = parse(item.data)
    when = sent_date(msg)
    return {
        "uid": item.uid,
        "from": header(msg, "From"),
        "subject": header(msg, "Subject"),
        "date": when.isoformat() if when else None,
        "message_id": header(msg, "Message-ID"),
        "unread": "\\Seen" not in item.flags,
        "flagged": "\\Flagged" in item.flags,
    }
