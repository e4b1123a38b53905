"""Domain reminders with no model in the loop: a tool-mode schedule of the relationship butler
runs its digest tool through the scheduler and the message reaches the owner's Telegram chat
through `notify` on the switchboard — zero sessions, zero model requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from notify_helpers import OWNER_CHAT, TOKEN, daemon, notify_table, settings_for, wait_for, write_fleet
from test_notify import bot_api, sent_to, telegram_table

from butlers.core.scheduler import ScheduleRun
from butlers.db import ServerAddress
from butlers.modules.telegram import TOKEN_ENV
from butlers.testing.model_api import ModelApiStandIn


@pytest.fixture(autouse=True)
def bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


async def test_a_birthday_digest_fires_through_the_scheduler_and_reaches_the_owner_without_a_model(
    tmp_path: Path, pg_address: ServerAddress, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ModelApiStandIn() as model, bot_api() as (standin, url):
        for key, value in model.env().items():  # any session would reach the model stand-in
            monkeypatch.setenv(key, value)
        settings = settings_for(tmp_path, pg_address)
        switchboard = telegram_table(url) + notify_table(f"telegram_chat_id = {OWNER_CHAT}")
        fleet = write_fleet(settings, switchboard, general_extra="[modules.relationship]\n")
        async with daemon(settings, fleet) as d:
            tomorrow = datetime.now(UTC).date() + timedelta(days=1)
            await d.call(
                "general",
                "relationship_contact_create",
                {"display_name": "Anna Lindqvist", "birthday": tomorrow.strftime("--%m-%d")},
            )
            due = datetime.now(UTC) + timedelta(seconds=2)
            created = await d.call(
                "general",
                "schedule_create",
                {
                    "name": "upcoming-dates",
                    "at": due.isoformat(),
                    "tool": "relationship_remind_due",
                    "args": {"days": 7},
                },
            )
            assert created["mode"] == "tool"
            general = d.butler("general")

            async def finished() -> list[ScheduleRun]:
                return [r for r in await general.scheduler.runs("upcoming-dates") if r.finished_at]

            [run] = await wait_for(finished, "the digest's run recorded", timeout=30)
            assert run.tool_status == "succeeded", run
            assert run.result["delivered"] is True, run.result
            [message] = sent_to(standin, OWNER_CHAT)
            assert "Anna Lindqvist" in message
            assert await general.pool.fetchval("SELECT count(*) FROM sessions") == 0
        assert model.requests == []
