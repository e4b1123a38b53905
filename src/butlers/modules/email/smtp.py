"""Sending through SMTP with aiosmtplib: implicit TLS, STARTTLS, or plain on localhost."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from butlers.modules.email.config import Endpoint


class SmtpError(Exception):
    """The SMTP server could not be reached, refused the login or refused the message."""


async def send_message(
    endpoint: Endpoint, user: str, password: str, message: EmailMessage, recipients: list[str], timeout: float
) -> None:
    try:
        await aiosmtplib.send(
            message,
            recipients=recipients,
            hostname=endpoint.host,
            port=endpoint.port,
            username=user,
            password=password,
            use_tls=endpoint.security == "tls",
            start_tls=endpoint.security == "starttls",
            timeout=timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise SmtpError(
            f"SMTP server {endpoint.host}:{endpoint.port} did not take the message: {type(exc).__name__}: {exc}"
        ) from exc
