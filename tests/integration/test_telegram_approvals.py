"""The owner decides held actions with the Approve / Reject buttons in their own Telegram chat.

One real daemon (in-process Supervisor) for the module: butler `alpha` holds a gated `email_send`;
butler `tg` runs the telegram module with an owner chat, polling the Bot API stand-in. A held mail
becomes a message with an inline keyboard in the owner's chat; presses arrive as callback_query
updates, as from Telegram.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import pytest_asyncio
from fastmcp import Client
from security_helpers import REGISTRY, OutboxModule
from switchboard_fleet import environment

from butlers.auth import find_operator_token
from butlers.config import discover
from butlers.db import ServerAddress
from butlers.modules.telegram import TOKEN_ENV
from butlers.settings import Settings
from butlers.supervisor import Supervisor
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port
from butlers.testing.telegram_api import SentMessage, TelegramBotAPI

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

TOKEN = "555001:approvals-test-token"
OWNER = 4711
STRANGER = 666


@dataclass
class Daemon:
    supervisor: Supervisor
    telegram: TelegramBotAPI
    alpha: str
    url: str

    async def hold_mail(self, subject: str) -> str:
        token = find_operator_token(self.supervisor.settings)
        async with Client(self.url, auth=token.value if token else None) as client:
            result = await client.call_tool("email_send", {"to": "ann@example.org", "subject": subject, "body": "b"})
        assert result.structured_content is not None
        assert result.structured_content["status"] == "pending_approval"
        return str(result.structured_content["approval_id"])

    async def approval(self, approval_id: str) -> dict[str, Any]:
        record = await self.supervisor.butlers[self.alpha].approvals.get(uuid.UUID(approval_id))
        assert record is not None
        return record.model_dump(mode="json")


def write_folder(root: Path, telegram_url: str) -> tuple[str, int]:
    suffix = uuid.uuid4().hex[:6]
    alpha, tg, port = f"alpha-{suffix}", f"tg-{suffix}", free_port()
    (root / alpha).mkdir(parents=True)
    (root / alpha / "butler.toml").write_text(f'[butler]\nname = "{alpha}"\nport = {port}\n\n[modules.outbox]\n')
    (root / tg).mkdir()
    (root / tg / "butler.toml").write_text(
        f'[butler]\nname = "{tg}"\nport = {free_port()}\n\n[modules.telegram]\napi_base_url = "{telegram_url}"\n'
        f"allowed_chat_ids = [{OWNER}]\npoll_timeout_s = 1\nowner_chat_id = {OWNER}\n"
    )
    return alpha, port


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def daemon(pg_address: ServerAddress) -> AsyncIterator[Daemon]:
    ready: asyncio.Future[Daemon] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def owner() -> None:  # one task enters and leaves the daemon's task group
        telegram = TelegramBotAPI(TOKEN)
        with tempfile.TemporaryDirectory(prefix="butlers-tg-approvals-") as tmp:
            async with serve_asgi(telegram.app) as url:
                alpha, port = write_folder(Path(tmp) / "butlers.d", url)
                settings = Settings(dir=Path(tmp) / "butlers.d", data_dir=Path(tmp) / "data",
                                    postgres_host=pg_address.host, postgres_port=pg_address.port,
                                    postgres_user=pg_address.user, postgres_password=pg_address.password,
                                    drain_timeout_s=5)  # fmt: skip
                configs, errors = discover(settings.dir)
                supervisor = Supervisor(settings, configs, errors, module_registry=REGISTRY)
                with environment({TOKEN_ENV: TOKEN}):
                    async with anyio.create_task_group() as tg:
                        with anyio.fail_after(120):
                            await tg.start(supervisor.run)
                        ready.set_result(Daemon(supervisor, telegram, alpha, f"http://127.0.0.1:{port}/mcp"))
                        await stop.wait()
                        supervisor.request_stop()

    task = asyncio.create_task(owner())
    await asyncio.wait(cast("list[asyncio.Future[Any]]", [task, ready]), return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        await task
    yield ready.result()
    stop.set()
    await task


async def wait_until(condition: Callable[[], Awaitable[bool] | bool], what: str, timeout: float = 30.0) -> None:
    try:
        with anyio.fail_after(timeout):
            while True:
                done = condition()
                if done if isinstance(done, bool) else await done:
                    return
                await anyio.sleep(0.05)  # polling state another task changes, bounded by fail_after
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what}") from None


async def prompt_for(daemon: Daemon, approval_id: str) -> SentMessage:
    def sent() -> list[SentMessage]:
        return [m for m in daemon.telegram.sent if approval_id in m.text]

    await wait_until(lambda: bool(sent()), f"the prompt for {approval_id} in the owner's chat")
    [message] = sent()
    return message


def answers(daemon: Daemon, updates: list[dict[str, Any]]) -> list[str | None]:
    ids = {u["callback_query"]["id"] for u in updates}
    return [a.text for a in daemon.telegram.buttons.answers if a.query_id in ids]


async def answered(daemon: Daemon, updates: list[dict[str, Any]]) -> list[str | None]:
    await wait_until(lambda: len(answers(daemon, updates)) == len(updates), "every press answered")
    return answers(daemon, updates)


def mails(subject: str) -> list[dict[str, Any]]:
    return [m for m in OutboxModule.sent if m["subject"] == subject]


async def test_the_owner_approves_on_telegram_and_the_held_mail_runs_once(daemon: Daemon) -> None:
    aid = await daemon.hold_mail("approve me")
    prompt = await prompt_for(daemon, aid)
    assert prompt.chat_id == OWNER and "email_send" in prompt.text and "approve me" in prompt.text
    markup = daemon.telegram.message(OWNER, prompt.message_id)["reply_markup"]
    data = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    assert [d[:2] for d in data] == ["a:", "r:"] and all(uuid.UUID(aid).hex in d for d in data)
    assert mails("approve me") == [] and (await daemon.approval(aid))["status"] == "pending"

    press = daemon.telegram.press_button(OWNER, prompt.message_id, "Approve", user_id=OWNER)
    assert await answered(daemon, [press]) == ["Approved: done."]
    record = await daemon.approval(aid)
    assert (record["status"], record["decided_by"], record["decided_via"]) == ("succeeded", f"telegram:{OWNER}",
                                                                                "telegram")  # fmt: skip
    assert len(mails("approve me")) == 1
    shown = daemon.telegram.message(OWNER, prompt.message_id)
    assert shown["text"].endswith("Approved: done.") and "reply_markup" not in shown  # the buttons are gone


async def test_a_strangers_press_and_a_forged_button_are_refused_and_nothing_runs(daemon: Daemon) -> None:
    aid = await daemon.hold_mail("not yours")
    prompt = await prompt_for(daemon, aid)
    stranger = daemon.telegram.press_button(OWNER, prompt.message_id, "Approve", user_id=STRANGER, username="eve")
    button = daemon.telegram.message(OWNER, prompt.message_id)["reply_markup"]["inline_keyboard"][0][0]
    forged_query = {**stranger["callback_query"], "id": "forged-1", "from": {"id": OWNER, "is_bot": False,
                    "first_name": "Me"}, "data": button["callback_data"].rsplit(":", 1)[0] + ":" + "x" * 24}  # fmt: skip
    daemon.telegram.buttons.open_queries.add("forged-1")
    forged = daemon.telegram.enqueue_update({"callback_query": forged_query})
    assert await answered(daemon, [stranger, forged]) == [
        "Only the owner can decide held actions.",
        "Unknown or expired button: nothing was decided.",
    ]
    record = await daemon.approval(aid)
    assert (record["status"], record["decided_by"]) == ("pending", None) and mails("not yours") == []
    assert "reply_markup" in daemon.telegram.message(OWNER, prompt.message_id)  # still open for the owner
    owner = daemon.telegram.press_button(OWNER, prompt.message_id, "Approve", user_id=OWNER)
    assert await answered(daemon, [owner]) == ["Approved: done."]
    assert len(mails("not yours")) == 1


async def test_a_double_press_decides_once(daemon: Daemon) -> None:
    aid = await daemon.hold_mail("twice")
    prompt = await prompt_for(daemon, aid)
    # Both presses leave the phone before the bot has answered the first (the buttons are still there).
    first = daemon.telegram.press_button(OWNER, prompt.message_id, "Approve", user_id=OWNER)
    second = daemon.telegram.press_button(OWNER, prompt.message_id, "Approve", user_id=OWNER)
    third = daemon.telegram.press_button(OWNER, prompt.message_id, "Reject", user_id=OWNER)
    assert await answered(daemon, [first, second, third]) == [
        "Approved: done.",
        "Already answered (approve): nothing changed.",
        "Already answered (approve): nothing changed.",
    ]
    assert len(mails("twice")) == 1 and (await daemon.approval(aid))["status"] == "succeeded"


async def test_the_owner_rejects_and_the_mail_never_runs(daemon: Daemon) -> None:
    aid = await daemon.hold_mail("reject me")
    prompt = await prompt_for(daemon, aid)
    press = daemon.telegram.press_button(OWNER, prompt.message_id, "Reject", user_id=OWNER)
    assert await answered(daemon, [press]) == ["Rejected: it will not run."]
    record = await daemon.approval(aid)
    assert (record["status"], record["decided_by"], record["decided_via"]) == ("rejected", f"telegram:{OWNER}",
                                                                               "telegram")  # fmt: skip
    # An approval afterwards (by the operator) changes nothing: it was decided.
    again = await daemon.supervisor.butlers[daemon.alpha].approvals.approve(uuid.UUID(aid))
    assert again.status == "rejected" and mails("reject me") == []
    assert daemon.telegram.message(OWNER, prompt.message_id)["text"].endswith("Rejected: it will not run.")


async def test_decided_elsewhere_first_the_press_only_shows_it(daemon: Daemon) -> None:
    aid = await daemon.hold_mail("decided by butlerctl")
    prompt = await prompt_for(daemon, aid)
    await daemon.supervisor.butlers[daemon.alpha].approvals.reject(uuid.UUID(aid), "no")
    press = daemon.telegram.press_button(OWNER, prompt.message_id, "Approve", user_id=OWNER)
    [text] = await answered(daemon, [press])
    assert text is not None and text.startswith("Already decided: rejected (by operator via in-process)")
    assert mails("decided by butlerctl") == []
