"""The notify module's config (owner, quiet hours) and how channel failures are sorted."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
import pytest
from pydantic import ValidationError
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from butlers.modules.email.channel import EmailChannel
from butlers.modules.email.channel import delivery_error as mail_error
from butlers.modules.email.config import EmailConfig
from butlers.modules.email.smtp import SmtpError
from butlers.modules.notify.config import NotifyConfig, OwnerConfig
from butlers.modules.notify.store import Status
from butlers.modules.telegram.channel import TelegramChannel
from butlers.modules.telegram.channel import delivery_error as telegram_error

PARIS = OwnerConfig(timezone="Europe/Paris", quiet_hours="22:00-07:00", telegram_chat_id=1)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (datetime(2026, 1, 5, 20, 59, tzinfo=UTC), None),  # 21:59 in Paris: not yet
        (datetime(2026, 1, 5, 21, 0, tzinfo=UTC), datetime(2026, 1, 6, 6, 0, tzinfo=UTC)),  # 22:00: until 07:00
        (datetime(2026, 1, 6, 3, 0, tzinfo=UTC), datetime(2026, 1, 6, 6, 0, tzinfo=UTC)),  # 04:00, after midnight
        (datetime(2026, 1, 6, 6, 0, tzinfo=UTC), None),  # 07:00: the window has ended
        (datetime(2026, 7, 5, 20, 30, tzinfo=UTC), datetime(2026, 7, 6, 5, 0, tzinfo=UTC)),  # summer time: UTC+2
    ],
)
def test_quiet_hours_are_read_in_the_owners_zone_across_midnight(now: datetime, until: datetime | None) -> None:
    assert PARIS.quiet_until(now) == until


def test_a_daytime_window_and_no_window() -> None:
    lunch = OwnerConfig(timezone="UTC", quiet_hours="12:00-13:30")
    assert lunch.quiet_until(datetime(2026, 1, 5, 12, 15, tzinfo=UTC)) == datetime(2026, 1, 5, 13, 30, tzinfo=UTC)
    assert lunch.quiet_until(datetime(2026, 1, 5, 13, 30, tzinfo=UTC)) is None
    assert OwnerConfig().quiet_until(datetime(2026, 1, 5, 3, 0, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ({"quiet_hours": "22h-7h"}, "is not a window like '22:00-07:00'"),
        ({"quiet_hours": "07:00-07:00"}, "start and end differ"),
        ({"timezone": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"email": "not an address"}, "is not an email address"),
        ({"channel": "telegram"}, "needs telegram_chat_id"),
        ({"channel": "email"}, "needs email"),
        ({"chat": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_owner_settings_say_what_is_wrong(owner: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NotifyConfig.model_validate({"owner": owner})


def test_the_default_channel_and_addresses() -> None:
    both = OwnerConfig(telegram_chat_id=42, email="Me@Example.com")
    assert both.default_channel == "telegram" and both.address("telegram") == "42"
    assert both.address("email") == "me@example.com"
    assert OwnerConfig(email="me@example.com").default_channel == "email"
    assert OwnerConfig().default_channel is None


def test_status_words_match_the_sql_check() -> None:
    from pathlib import Path

    import butlers.modules.notify as notify

    sql = (Path(notify.__file__).parent / "migrations" / "0001_notifications.sql").read_text()
    assert f"CHECK (status IN ({', '.join(repr(s.value) for s in Status)}))" in sql


@pytest.mark.parametrize(
    ("error", "transient", "retry_after"),
    [
        (RetryAfter(3), True, 3.0),
        (NetworkError("Internal Server Error (500)"), True, None),
        (TimedOut(), True, None),
        (BadRequest("Bad Request: chat not found"), False, None),
        (Forbidden("Forbidden: bot was blocked by the user"), False, None),
    ],
)
def test_telegram_failures_are_sorted_into_transient_and_lasting(
    error: Exception, transient: bool, retry_after: float | None
) -> None:
    sorted_ = telegram_error(error)  # type: ignore[arg-type]
    assert (sorted_.transient, sorted_.retry_after) == (transient, retry_after)


def _smtp(cause: Exception) -> SmtpError:
    try:
        raise SmtpError("SMTP server did not take the message") from cause
    except SmtpError as exc:
        return exc


def test_smtp_failures_are_sorted_into_transient_and_lasting() -> None:
    assert mail_error(_smtp(aiosmtplib.SMTPResponseException(451, "try later"))).transient is True
    assert mail_error(_smtp(aiosmtplib.SMTPResponseException(550, "no such user"))).transient is False
    assert mail_error(_smtp(ConnectionRefusedError())).transient is True


def test_channels_check_recipients() -> None:
    telegram = TelegramChannel(lambda: None, None)  # type: ignore[arg-type,return-value]
    assert telegram.normalize(" 123 ") == "123" and telegram.normalize("@Alice") == "@alice"
    with pytest.raises(ValueError, match="not a Telegram chat id"):
        telegram.normalize("alice")
    config = EmailConfig(imap_host="localhost", smtp_host="localhost")
    mail = EmailChannel(config, ("me@example.com", "pw"), None)  # type: ignore[arg-type]
    assert mail.normalize("Ann <Ann@Example.org>") == "ann@example.org"
    with pytest.raises(ValueError, match="not an email address"):
        mail.normalize("ann")


async def test_module_code_learns_when_no_butler_delivers() -> None:
    from types import SimpleNamespace

    from butlers.core.notify_tools import context_notifier

    lonely = SimpleNamespace(name="general", modules=[])
    lonely.fleet = {"general": lonely}
    answer = await context_notifier(lonely)("hello")  # type: ignore[arg-type]
    assert answer["status"] == "not_delivered" and "[modules.notify]" in answer["error"]
