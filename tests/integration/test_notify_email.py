"""`notify` by email over a real SMTP server, and an answer threaded into the mail it answers (Dovecot IMAP)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from notify_helpers import OWNER_EMAIL, daemon, notify_table, settings_for, wait_for, write_fleet

from butlers.db import ServerAddress
from butlers.testing.mail_servers import TestDovecot, TestSmtpServer
from support.system_packages import ensure_mail_programs

ACCOUNT = "butler@example.test"
PASSWORD = "s3cret"


@pytest.fixture
def mail_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestDovecot, TestSmtpServer]]:
    monkeypatch.setenv("SOURCE_EMAIL", ACCOUNT)
    monkeypatch.setenv("SOURCE_EMAIL_PASSWORD", PASSWORD)
    ensure_mail_programs()
    folder = Path(tempfile.mkdtemp(prefix="butlers-notify-mail-"))
    imap = TestDovecot(folder / "imap", user=ACCOUNT, password=PASSWORD)
    smtp = TestSmtpServer(user=ACCOUNT, password=PASSWORD)
    imap.start()
    smtp.start()
    yield imap, smtp
    smtp.stop()
    imap.stop()
    shutil.rmtree(folder, ignore_errors=True)


def email_table(imap: TestDovecot, smtp: TestSmtpServer) -> str:
    return (
        f'[modules.email]\nimap_host = "{imap.host}"\nimap_port = {imap.port}\nsmtp_host = "{smtp.host}"\n'
        f'smtp_port = {smtp.port}\nsecurity = "none"\npoll_interval_s = 0.2\ntimeout_s = 5\n'
    )


async def test_notify_mails_the_owner_and_answers_a_mail_in_its_thread(
    tmp_path: Path, pg_address: ServerAddress, mail_servers: tuple[TestDovecot, TestSmtpServer]
) -> None:
    imap, smtp = mail_servers
    settings = settings_for(tmp_path, pg_address)
    owner = f'channel = "email"\nemail = "{OWNER_EMAIL}"'
    fleet = write_fleet(settings, email_table(imap, smtp) + notify_table(owner))
    async with daemon(settings, fleet) as d:
        record = await d.call("general", "notify", {"message": "The quarterly tax is due Friday.\nDetails follow."})
        assert record["status"] == "sent", record
        [sent] = smtp.snapshot()
        assert sent.rcpt_tos == [OWNER_EMAIL]
        assert str(sent.message["Subject"]) == f"[{fleet.names['general']}] The quarterly tax is due Friday."
        assert record["channel_message_id"] == str(sent.message["Message-ID"])

        switchboard = d.butler("switchboard")
        await wait_for(lambda: switchboard.pool.fetchval("SELECT true FROM email_watch"), "the mailbox watched")
        mail = EmailMessage()
        mail["From"] = f"Owner <{OWNER_EMAIL}>"
        mail["To"] = ACCOUNT
        mail["Subject"] = "Dinner plans"
        mail["Message-ID"] = "<dinner-2@example.test>"
        mail["References"] = "<dinner-1@example.test>"
        mail.set_content("Where shall we eat on Saturday?")
        imap.deliver(mail)
        inbound = await wait_for(lambda: switchboard.inbound.list(channel="email"), "the mail recorded")

        answer = await d.call("general", "notify", {"message": "Chez Anna, 8 pm.", "reply_to": str(inbound[0].id)})
        assert answer["status"] == "sent" and answer["to_owner"] is True, answer
        reply = smtp.snapshot()[-1].message
        assert reply["To"] == f"Owner <{OWNER_EMAIL}>" or OWNER_EMAIL in str(reply["To"])
        assert str(reply["Subject"]) == "Re: Dinner plans"
        assert str(reply["In-Reply-To"]) == "<dinner-2@example.test>"
        assert str(reply["References"]) == "<dinner-1@example.test> <dinner-2@example.test>"
        assert reply.get_content().strip() == "Chez Anna, 8 pm."
