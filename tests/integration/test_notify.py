"""`notify` over real HTTP: a butler's message reaches the owner's Telegram chat through the switchboard.

The Telegram Bot API is the stand-in (real HTTP, python-telegram-bot on the other end); every
other part is the real daemon: two butlers, the switchboard's telegram and notify modules, PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from fastmcp.exceptions import ToolError
from notify_helpers import OWNER_CHAT, TOKEN, daemon, notify_table, settings_for, wait_for, write_fleet
from typer.testing import CliRunner

from butlers.cli.butlerctl import app
from butlers.core.scheduler import ScheduleRun
from butlers.db import ServerAddress
from butlers.modules.base import NotifyRequest
from butlers.modules.telegram import TOKEN_ENV
from butlers.settings import Settings
from butlers.testing.asgi import serve_asgi
from butlers.testing.model_api import ModelApiStandIn
from butlers.testing.telegram_api import TelegramBotAPI
from support.cli_env import butlerctl_env

STRANGER_CHAT = 9999


@pytest.fixture(autouse=True)
def bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@asynccontextmanager
async def bot_api() -> AsyncIterator[tuple[TelegramBotAPI, str]]:
    """The stand-in, served in the test's own task (anyio task groups need that)."""
    standin = TelegramBotAPI(TOKEN)
    async with serve_asgi(standin.app) as url:
        yield standin, url


def telegram_table(url: str) -> str:
    return f'[modules.telegram]\napi_base_url = "{url}"\nallowed_chat_ids = [{OWNER_CHAT}]\npoll_timeout_s = 1\n'


def sent_to(standin: TelegramBotAPI, chat: int) -> list[str]:
    return [m.text for m in standin.sent if m.chat_id == chat]


def send_calls(standin: TelegramBotAPI) -> int:
    return sum(1 for c in standin.calls if c.lower() == "sendmessage")


async def butlerctl(settings: Settings, *args: str) -> tuple[int, str]:
    """Run butlerctl in a thread (it runs its own event loop), against the daemon of this test, as its operator."""
    result = await anyio.to_thread.run_sync(lambda: CliRunner().invoke(app, list(args), env=butlerctl_env(settings)))
    return result.exit_code, result.output


async def test_notify_reaches_the_owners_chat_and_answers_a_message_in_place(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    async with bot_api() as (standin, url):
        settings = settings_for(tmp_path, pg_address)
        owner = f"telegram_chat_id = {OWNER_CHAT}"
        fleet = write_fleet(settings, telegram_table(url) + notify_table(owner))
        async with daemon(settings, fleet) as d:
            # A butler without any channel asks; the switchboard delivers, in-process.
            record = await d.call("general", "notify", {"message": "Your parcel has arrived"})
            assert record["status"] == "sent", record
            assert record["origin"] == fleet.names["general"] and record["to_owner"] is True
            assert sent_to(standin, OWNER_CHAT) == ["Your parcel has arrived"]
            assert record["channel_message_id"] == str(standin.sent[-1].message_id)

            # The owner writes; the switchboard records it; the answer goes as a reply in that chat.
            update = standin.enqueue_message(OWNER_CHAT, "what's on today?", username="owner")
            inbound = await wait_for(
                lambda: d.butler("switchboard").inbound.list(channel="telegram"), "the inbound row"
            )
            answer = await d.call("general", "notify", {"message": "Dentist at 10", "reply_to": str(inbound[0].id)})
            assert answer["status"] == "sent" and answer["reply_to"] == str(inbound[0].id)
            last = standin.sent[-1]
            assert (last.chat_id, last.text) == (OWNER_CHAT, "Dentist at 10")
            assert last.reply_to_message_id == update["message"]["message_id"]

            # Module code notifies through its context, with the same engine.
            ctx = d.butler("switchboard")._contexts["telegram"]
            assert ctx.notify is not None
            from_module = await ctx.notify(NotifyRequest("from a module", priority="high"))
            assert from_module["status"] == "sent" and from_module["origin"] == fleet.names["switchboard"]
            assert standin.sent[-1].text == "from a module"

            # Bad calls name the tool and the argument, and write nothing.
            with pytest.raises(ToolError, match="notify: argument 'reply_to': no inbound message"):
                await d.call("general", "notify", {"message": "x", "reply_to": str(uuid.uuid4())})
            with pytest.raises(ToolError, match="notify: argument 'recipient'"):
                await d.call("general", "notify", {"message": "x", "recipient": "not a chat"})
            listed = await d.call("switchboard", "notify_list", {})
            assert len(listed["notifications"]) == 3


async def test_transient_failures_are_retried_until_sent_and_lasting_ones_end_failed(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    async with bot_api() as (standin, url):
        settings = settings_for(tmp_path, pg_address)
        fleet = write_fleet(settings, telegram_table(url) + notify_table(f"telegram_chat_id = {OWNER_CHAT}"))
        async with daemon(settings, fleet) as d:
            standin.fail_next("sendMessage", 500)
            standin.fail_next("sendMessage", 429, retry_after=1)
            record = await d.call("general", "notify", {"message": "after two failures"})
            assert record["status"] == "sent" and record["attempts"] == 3, record
            assert send_calls(standin) == 3 and sent_to(standin, OWNER_CHAT) == ["after two failures"]

            standin.fail_next("sendMessage", 500, times=4)  # max_attempts = 4: it never gets through
            failed = await d.call("general", "notify", {"message": "never accepted"})
            assert failed["status"] == "failed" and failed["attempts"] == 4, failed
            assert "Internal Server Error" in failed["error"] and failed["channel_message_id"] is None
            assert sent_to(standin, OWNER_CHAT) == ["after two failures"]

            # butlerctl lists it and retries it; the channel accepts this time.
            sw = ["--dir", str(settings.dir), "--host", "127.0.0.1"]
            sw += ["--butler", fleet.names["switchboard"]]
            code, out = await butlerctl(settings, "notifications", "list", "--status", "failed", "--json", *sw)
            assert code == 0, out
            assert [n["id"] for n in json.loads(out)["notifications"]] == [failed["id"]]
            code, out = await butlerctl(settings, "notifications", "retry", failed["id"][:8], *sw)
            assert code == 0, out
            assert "sent" in out
            assert sent_to(standin, OWNER_CHAT) == ["after two failures", "never accepted"]
            code, out = await butlerctl(settings, "notifications", "retry", failed["id"], *sw)
            assert code == 1 and "only a failed one is retried" in out

            # Asked of a butler without the module, each command says which module to enable (a config problem: 2).
            general = fleet.names["general"]
            at = ["--dir", str(settings.dir), "--host", "127.0.0.1"]
            no_notify = f"error: butler '{general}' has no notifications: enable [modules.notify] in its butler.toml"
            no_inbox = (
                f"error: butler '{general}' has no inbound messages: enable [modules.switchboard] in its butler.toml"
            )
            for args, said in [
                (["notifications", "list", "--butler", general], no_notify),
                (["notifications", "retry", failed["id"][:8], "--butler", general], no_notify),
                (["notifications", "retry", failed["id"], "--butler", general], no_notify),
                (["inbound", "list", "--switchboard", general], no_inbox),
                (["inbound", "show", str(uuid.uuid4()), "--switchboard", general], no_inbox),
                (["inbound", "retry", "0a1b", "--switchboard", general], no_inbox),
                (["inbound", "reroute", str(uuid.uuid4()), general, "--switchboard", general], no_inbox),
            ]:
                code, out = await butlerctl(settings, *args, *at)
                assert (code, out.strip()) == (2, said), args


async def test_quiet_hours_hold_until_the_window_ends_and_a_stranger_waits_for_approval(
    tmp_path: Path, pg_address: ServerAddress
) -> None:
    async with bot_api() as (standin, url):
        settings = settings_for(tmp_path, pg_address)
        owner = f'telegram_chat_id = {OWNER_CHAT}\ntimezone = "Europe/Paris"\nquiet_hours = "22:00-07:00"'
        fleet = write_fleet(settings, telegram_table(url) + notify_table(owner))
        async with daemon(settings, fleet) as d:
            engine = d.notify_module.engine
            assert engine is not None
            now = [datetime(2026, 1, 5, 22, 30, tzinfo=UTC)]  # 23:30 in Paris
            engine.clock = lambda: now[0]

            held = await d.call("general", "notify", {"message": "weekly digest", "priority": "low"})
            assert (held["status"], held["held_reason"]) == ("held", "quiet_hours")
            assert held["hold_until"] == "2026-01-06T06:00:00+00:00"  # 07:00 in Paris
            urgent = await d.call("general", "notify", {"message": "the boiler is leaking", "priority": "high"})
            assert urgent["status"] == "sent"
            assert sent_to(standin, OWNER_CHAT) == ["the boiler is leaking"]

            now[0] = datetime(2026, 1, 6, 6, 1, tzinfo=UTC)  # the window has ended
            await wait_for(lambda: sent_to(standin, OWNER_CHAT)[-1:] == ["weekly digest"], "the held digest sent")
            listed = await d.call("switchboard", "notify_list", {"status": "sent"})
            assert {n["message"] for n in listed["notifications"]} == {"weekly digest", "the boiler is leaking"}

            # Anyone but the owner: held for approval, sent once when a person approves.
            stranger = await d.call("general", "notify", {"message": "hello Bob", "recipient": str(STRANGER_CHAT)})
            assert (stranger["status"], stranger["held_reason"], stranger["to_owner"]) == ("held", "approval", False)
            assert sent_to(standin, STRANGER_CHAT) == []
            approval = await d.call("switchboard", "approval_approve", {"approval_id": stranger["approval_id"]})
            assert approval["status"] == "succeeded", approval
            again = await d.call("switchboard", "approval_approve", {"approval_id": stranger["approval_id"]})
            assert again["status"] == "succeeded"
            assert sent_to(standin, STRANGER_CHAT) == ["hello Bob"]
            after = await d.call("switchboard", "notify_list", {"status": "sent"})
            assert stranger["id"] in {n["id"] for n in after["notifications"]}

            # Rejected: never sent, and the notification says so.
            other = await d.call("general", "notify", {"message": "hello Eve", "recipient": "31337"})
            await d.call("switchboard", "approval_reject", {"approval_id": other["approval_id"], "reason": "no"})
            failed = await d.call("switchboard", "notify_list", {"status": "failed"})
            assert [(n["id"], n["error"]) for n in failed["notifications"]] == [(other["id"], "rejected: no")]
            assert sent_to(standin, 31337) == []


async def test_remind_fires_once_at_its_time_with_no_model_request_also_across_restarts(
    tmp_path: Path, pg_address: ServerAddress, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ModelApiStandIn() as model, bot_api() as (standin, url):
        for key, value in model.env().items():  # any session would reach the model stand-in
            monkeypatch.setenv(key, value)
        settings = settings_for(tmp_path, pg_address)
        fleet = write_fleet(settings, telegram_table(url) + notify_table(f"telegram_chat_id = {OWNER_CHAT}"))
        async with daemon(settings, fleet) as d:
            with pytest.raises(ToolError, match="remind: argument 'at': give exactly one"):
                await d.call("general", "remind", {"message": "x"})
            with pytest.raises(ToolError, match=r"remind: argument 'at': .* is in the past"):
                await d.call("general", "remind", {"message": "x", "at": "2020-01-01T08:00:00+00:00"})
            due = datetime.now(UTC) + timedelta(seconds=3)
            created = await d.call("general", "remind", {"message": "stretch your legs", "at": due.isoformat()})
            assert (created["mode"], created["tool"], created["done"]) == ("tool", "notify", False)
            listed = await d.call("general", "schedule_list", {})
            assert [s["name"] for s in listed["schedules"]] == [created["name"]]
        # The daemon was down when it came due.
        await wait_for(lambda: datetime.now(UTC) > due, "the reminder's time")
        async with daemon(settings, fleet) as d:
            general = d.butler("general")

            async def finished_run() -> list[ScheduleRun]:
                return [r for r in await general.scheduler.runs(created["name"]) if r.finished_at]

            [run] = await wait_for(finished_run, "the reminder's run recorded")
            assert run.tool_status == "succeeded" and run.result["status"] == "sent"
            assert sent_to(standin, OWNER_CHAT) == ["stretch your legs"]
            listed = await d.call("general", "schedule_list", {})
            assert listed["schedules"][0]["done"] is True
        async with daemon(settings, fleet) as d:
            heartbeat = d.supervisor.heartbeat
            assert heartbeat is not None
            await wait_for(lambda: heartbeat.ticks >= 3, "three heartbeat ticks")
            assert await d.butler("general").pool.fetchval("SELECT count(*) FROM sessions") == 0
        assert sent_to(standin, OWNER_CHAT) == ["stretch your legs"]
        assert model.requests == []
