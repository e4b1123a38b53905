"""Mail reaching the switchboard (real Dovecot) goes through dispatch: the owner's to a butler, a stranger's ignored."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import anyio
import pytest
from switchboard_fleet import environment, wait_until

from butlers.config import discover
from butlers.db import ServerAddress, create_pool, database_name
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.mail_servers import TestDovecot, TestSmtpServer
from butlers.testing.model_api import ModelApiStandIn
from butlers.testing.ports import free_port
from support.system_packages import ensure_mail_programs

pytestmark = pytest.mark.integration

USER, PASSWORD = "me@example.test", "s3cret"
OWNER = "owner@example.test"


@pytest.fixture
def mail_servers() -> Iterator[tuple[TestDovecot, TestSmtpServer]]:
    ensure_mail_programs()
    folder = Path(tempfile.mkdtemp(prefix="butlers-dovecot-"))
    dovecot = TestDovecot(folder / "imap", user=USER, password=PASSWORD)
    smtp = TestSmtpServer(user=USER, password=PASSWORD)
    dovecot.start()
    smtp.start()
    yield dovecot, smtp
    smtp.stop()
    dovecot.stop()
    shutil.rmtree(folder, ignore_errors=True)


def mail(sender: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, USER, "Note"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    msg.set_content(text)
    return msg


async def test_owner_mail_is_dispatched_by_rule_and_a_strangers_is_kept_ignored(
    pg_address: ServerAddress, tmp_path: Path, mail_servers: tuple[TestDovecot, TestSmtpServer]
) -> None:
    dovecot, smtp = mail_servers
    suffix = uuid.uuid4().hex[:6]
    board, general = f"sb-{suffix}", f"general-{suffix}"
    root = tmp_path / "butlers.d"
    (root / board).mkdir(parents=True)
    (root / general).mkdir(parents=True)
    (root / general / "butler.toml").write_text(f'[butler]\nname = "{general}"\nport = {free_port()}\n')
    (root / board / "butler.toml").write_text(
        f'[butler]\nname = "{board}"\nport = {free_port()}\n\n[modules.switchboard]\nfallback = "{general}"\n'
        f'follow_interval_s = 0.1\nallowed_senders = {{ email = ["{OWNER}"] }}\n\n'
        f'[[modules.switchboard.rule]]\nname = "notes"\nbutler = "{general}"\nkeywords = ["note"]\nchannels = ["email"]\n\n'
        f'[modules.email]\nimap_host = "{dovecot.host}"\nimap_port = {dovecot.port}\nsmtp_host = "{smtp.host}"\n'
        f'smtp_port = {smtp.port}\nsecurity = "none"\npoll_interval_s = 0.2\ntimeout_s = 5\n'
    )
    configs, errors = discover(root)
    assert not errors, errors
    settings = Settings(dir=root, data_dir=tmp_path / "data", postgres_host=pg_address.host,
                        postgres_port=pg_address.port, postgres_user=pg_address.user,
                        postgres_password=pg_address.password, drain_timeout_s=10)  # fmt: skip
    supervisor = Supervisor(settings, configs, errors)
    async with ModelApiStandIn() as model:
        env = {**model.env(), "CLAUDE_CODE_MAX_RETRIES": "0", "SOURCE_EMAIL": USER, "SOURCE_EMAIL_PASSWORD": PASSWORD}
        with environment(env):
            async with anyio.create_task_group() as tg:
                with anyio.fail_after(120):
                    await tg.start(supervisor.run)
                pool = await create_pool(pg_address, database_name(board))
                try:

                    async def first_look() -> bool:  # mail there before the watcher's first look is not new
                        return bool(await pool.fetchval("SELECT count(*) FROM email_watch"))

                    await wait_until(first_look, "the mail watcher's first look")
                    dovecot.deliver(mail(f"Owner <{OWNER}>", "note: call the plumber"))
                    dovecot.deliver(mail("Spam <spam@example.com>", "note: you won"))

                    async def both_settled() -> bool:
                        rows = await pool.fetch("SELECT status FROM inbound_messages WHERE channel = 'email'")
                        return sorted(r["status"] for r in rows) == ["handled", "ignored"]

                    await wait_until(both_settled, "the owner's mail handled and the stranger's ignored", 120)
                    rows = {r["sender"]: r for r in await pool.fetch("SELECT * FROM inbound_messages")}
                    assert "allowed_senders.email" in rows["Spam <spam@example.com>"]["error"]
                    decided = await pool.fetch("SELECT butler, reason, inbound_id FROM routing_log")
                    owner_id = rows[f"Owner <{OWNER}>"]["id"]
                    assert [(d["butler"], d["reason"], d["inbound_id"]) for d in decided] == [
                        (general, "rule 'notes'", owner_id)
                    ]
                    assert model.classifications == []
                finally:
                    await pool.close()
                    supervisor.request_stop()
