"""Issue 11's story end to end: one message in, split by the model, two butlers' sessions, two answers in place.

Real parts: the daemon (in-process Supervisor) over real HTTP, the real Claude Code CLI against the model
stand-in, the Telegram Bot-API stand-in, and the real Dovecot and SMTP servers for mail.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import pytest
from notify_helpers import settings_for, wait_for
from story_helpers import (
    ACCOUNT,
    OWNER_CHAT,
    OWNER_EMAIL,
    PASSWORD,
    TOKEN,
    Story,
    agent_script,
    mail_table,
    write_story,
)
from switchboard_fleet import environment

from butlers.butler import Butler
from butlers.config import discover
from butlers.core.inbound import InboundRecord
from butlers.db import ServerAddress
from butlers.modules.telegram import TOKEN_ENV
from butlers.supervisor import Supervisor
from butlers.testing.asgi import serve_asgi
from butlers.testing.mail_servers import TestDovecot, TestSmtpServer
from butlers.testing.model_api import ModelApiStandIn, classification_answer
from butlers.testing.telegram_api import TelegramBotAPI
from support.system_packages import ensure_mail_programs

pytestmark = pytest.mark.integration

MESSAGE = "weighed 81.2 kg this morning, and Anna's birthday is on Friday"
HEALTH_PART, RELATIONSHIP_PART = "weighed 81.2 kg this morning", "Anna's birthday is on Friday"


@asynccontextmanager
async def story_daemon(root: Path, pg: ServerAddress, story: Story, env: dict[str, str]) -> AsyncIterator[Supervisor]:
    configs, errors = discover(root / "butlers.d")
    assert not errors, errors
    supervisor = Supervisor(settings_for(root, pg), configs, errors)
    with environment({**env, "CLAUDE_CODE_MAX_RETRIES": "0"}):
        async with anyio.create_task_group() as tg:
            with anyio.fail_after(120):
                await tg.start(supervisor.run)
            assert not supervisor.failures, supervisor.failures
            try:
                yield supervisor
            finally:
                supervisor.request_stop()
                with anyio.fail_after(60):
                    await supervisor.stopped.wait()


async def routed_sessions(butler: Butler) -> list[dict[str, Any]]:
    rows = await butler.pool.fetch("SELECT * FROM sessions WHERE trigger_source = 'route' ORDER BY queued_at")
    return [dict(r) for r in rows]


async def check_routing(supervisor: Supervisor, story: Story, model: ModelApiStandIn, channel: str) -> str:
    """The one message was split by one classification into two `route` sessions that both succeeded."""
    board = supervisor.butlers[story.names["switchboard"]]

    async def handled() -> list[InboundRecord]:
        rows = await board.inbound.list(channel=channel)
        return rows if rows and rows[0].status in ("handled", "failed") else []

    [row] = await wait_for(handled, f"the {channel} message handled", timeout=180)
    assert row.status == "handled", row
    assert len(model.classifications) == 1
    assert MESSAGE in str(model.classifications[0]["messages"])
    log = await board.pool.fetch("SELECT butler, part_text, session_id FROM routing_log WHERE inbound_id = $1 "
                                 "ORDER BY part", row.id)  # fmt: skip
    assert [(r["butler"], r["part_text"]) for r in log] == [
        (story.names["health"], HEALTH_PART),
        (story.names["relationship"], RELATIONSHIP_PART),
    ]
    for role, part, entry in zip(("health", "relationship"), (HEALTH_PART, RELATIONSHIP_PART), log, strict=True):
        [session] = await routed_sessions(supervisor.butlers[story.names[role]])
        assert session["id"] == entry["session_id"] and session["status"] == "succeeded", session
        context = session["context"] if isinstance(session["context"], dict) else json.loads(session["context"])
        assert part in session["prompt"] and context["origin"]["inbound_id"] == str(row.id)
        assert context["origin"]["channel"] == channel
    return str(row.id)


async def test_a_telegram_message_split_in_two_is_answered_twice_in_the_same_chat(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    telegram = TelegramBotAPI(TOKEN)
    async with serve_asgi(telegram.app) as url, ModelApiStandIn(agent_script(2)) as model:
        story = write_story(tmp_path / "butlers.d", telegram_url=url)
        model.push_classification(
            classification_answer(
                (story.names["health"], HEALTH_PART), (story.names["relationship"], RELATIONSHIP_PART)
            )
        )
        async with story_daemon(tmp_path, pg_address, story, {**model.env(), TOKEN_ENV: TOKEN}) as supervisor:
            update = telegram.enqueue_message(OWNER_CHAT, MESSAGE)
            original = update["message"]["message_id"]
            inbound_id = await check_routing(supervisor, story, model, "telegram")
            await wait_for(lambda: len(telegram.sent) >= 2, "two replies at the Telegram stand-in")
            board = supervisor.butlers[story.names["switchboard"]]
            notes = await board.pool.fetch("SELECT * FROM notifications ORDER BY origin")
    assert len(telegram.sent) == 2 and model.exhausted == 0
    assert {s.chat_id for s in telegram.sent} == {OWNER_CHAT}
    assert [s.reply_to_message_id for s in telegram.sent] == [original, original]
    assert sorted(s.text for s in telegram.sent) == [
        f"{story.names['health']} noted: {HEALTH_PART}",
        f"{story.names['relationship']} noted: {RELATIONSHIP_PART}",
    ]
    assert [(n["origin"], n["status"], str(n["reply_to"])) for n in notes] == [
        (story.names["health"], "sent", inbound_id),
        (story.names["relationship"], "sent", inbound_id),
    ]


@pytest.fixture
def mail_servers() -> Iterator[tuple[TestDovecot, TestSmtpServer]]:
    ensure_mail_programs()
    folder = Path(tempfile.mkdtemp(prefix="butlers-story-mail-"))
    imap = TestDovecot(folder / "imap", user=ACCOUNT, password=PASSWORD)
    smtp = TestSmtpServer(user=ACCOUNT, password=PASSWORD)
    imap.start()
    smtp.start()
    yield imap, smtp
    smtp.stop()
    imap.stop()
    shutil.rmtree(folder, ignore_errors=True)


async def test_a_mail_split_in_two_is_answered_twice_in_its_thread(
    tmp_path: Path, pg_address: ServerAddress, mail_servers: tuple[TestDovecot, TestSmtpServer]
) -> None:
    imap, smtp = mail_servers
    async with ModelApiStandIn(agent_script(2)) as model:
        mail_config = mail_table(imap.host, imap.port, smtp.host, smtp.port)
        story = write_story(tmp_path / "butlers.d", mail=mail_config)
        model.push_classification(
            classification_answer(
                (story.names["health"], HEALTH_PART), (story.names["relationship"], RELATIONSHIP_PART)
            )
        )
        env = {**model.env(), "SOURCE_EMAIL": ACCOUNT, "SOURCE_EMAIL_PASSWORD": PASSWORD}
        async with story_daemon(tmp_path, pg_address, story, env) as supervisor:
            board = supervisor.butlers[story.names["switchboard"]]
            await wait_for(lambda: board.pool.fetchval("SELECT true FROM email_watch"), "the mailbox watched")
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = f"Owner <{OWNER_EMAIL}>", ACCOUNT, "This week"
            mail["Message-ID"] = "<week-2@example.test>"
            mail["References"] = "<week-1@example.test>"
            mail.set_content(MESSAGE)
            imap.deliver(mail)
            await check_routing(supervisor, story, model, "email")
            await wait_for(lambda: len(smtp.snapshot()) >= 2, "two replies at the SMTP server")
    replies = [c.message for c in smtp.snapshot()]
    assert len(replies) == 2 and model.exhausted == 0
    for reply in replies:
        assert OWNER_EMAIL in str(reply["To"])
        assert str(reply["Subject"]) == "Re: This week"
        assert str(reply["In-Reply-To"]) == "<week-2@example.test>"
        assert str(reply["References"]) == "<week-1@example.test> <week-2@example.test>"
    assert sorted(r.get_content().strip() for r in replies) == [
        f"{story.names['health']} noted: {HEALTH_PART}",
        f"{story.names['relationship']} noted: {RELATIONSHIP_PART}",
    ]
