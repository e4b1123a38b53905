"""`notify` on slack over real HTTP: the switchboard's slack module delivers to the owner's DM.

Slack is the stand-in (its Web API over real HTTP, slack-sdk on the other end, Socket Mode for the
owner's messages); every other part is the real daemon: two butlers, the switchboard's slack and
notify modules, PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from fastmcp.exceptions import ToolError
from notify_helpers import Daemon, daemon, notify_table, settings_for, wait_for, write_fleet
from slack_helpers import ALICE, GENERAL, credentials, slack_standin

from butlers.core.inbound import InboundRecord
from butlers.db import ServerAddress
from butlers.testing.slack_api import SlackAPI

OWNER_DM = "D0ALICE"  # the stand-in's DM of the bot with ALICE


def slack_table(url: str) -> str:
    return (
        f'[modules.slack]\napi_base_url = "{url}/api"\nallowed_channels = ["{GENERAL}"]\n'
        f'owner = "{ALICE}"\nping_interval_s = 1.0\n'
    )


@asynccontextmanager
async def switchboard_on_slack(
    tmp_path: Path, pg_address: ServerAddress, monkeypatch: pytest.MonkeyPatch, owner: str
) -> AsyncIterator[tuple[SlackAPI, Daemon]]:
    async with slack_standin() as (slack, url):
        for var, value in credentials(slack).items():
            monkeypatch.setenv(var, value)
        settings = settings_for(tmp_path, pg_address)
        fleet = write_fleet(settings, slack_table(url) + notify_table(owner))
        async with daemon(settings, fleet) as d:
            yield slack, d


def texts(slack: SlackAPI, channel: str) -> list[str]:
    return [m["text"] for m in slack.posted(channel)]


async def test_notify_on_slack_reaches_the_owners_dm_and_answers_in_the_thread(
    tmp_path: Path, pg_address: ServerAddress, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = f'slack_user_id = "{ALICE}"\nemail = "owner@example.test"'  # slack is the default: no telegram
    async with switchboard_on_slack(tmp_path, pg_address, monkeypatch, owner) as (slack, d):
        record = await d.call("general", "notify", {"message": "Your parcel has arrived"})
        assert record["status"] == "sent", record
        assert (record["channel"], record["recipient"], record["to_owner"]) == ("slack", ALICE, True)
        assert texts(slack, OWNER_DM) == ["Your parcel has arrived"]
        assert record["channel_message_id"] == slack.posted(OWNER_DM)[-1]["ts"]

        named = await d.call("general", "notify", {"message": "Named channel", "channel": "slack"})
        assert named["status"] == "sent" and named["channel"] == "slack", named
        assert texts(slack, OWNER_DM)[-1] == "Named channel"

        # The owner writes in the DM (Socket Mode); the answer goes into that message's thread.
        said = slack.user_says(OWNER_DM, ALICE, "what's on today?")
        slack.socket.send_event(said)
        inbound = await wait_for(lambda: d.butler("switchboard").inbound.list(channel="slack"), "the inbound row")
        answer = await d.call("general", "notify", {"message": "Dentist at 10", "reply_to": str(inbound[0].id)})
        assert answer["status"] == "sent" and answer["to_owner"] is True, answer
        last = slack.posted(OWNER_DM)[-1]
        assert (last["text"], last["thread_ts"]) == ("Dentist at 10", said["event"]["ts"])

        # A message in a shared channel is answered in its thread too, once approved (others read it).
        said = slack.user_says(GENERAL, ALICE, "anyone?")
        slack.socket.send_event(said)
        rows = await wait_for(lambda: _rows_at_least(d, 2), "the channel message's inbound row")
        row = next(r for r in rows if (r.metadata or {})["channel"] == GENERAL)
        held = await d.call("general", "notify", {"message": "In the thread", "reply_to": str(row.id)})
        assert (held["status"], held["held_reason"], held["recipient"]) == ("held", "approval", GENERAL), held
        assert slack.posted(GENERAL) == []

        with pytest.raises(ToolError, match="notify: argument 'recipient': 'nobody' is not a Slack user id"):
            await d.call("general", "notify", {"message": "x", "channel": "slack", "recipient": "nobody"})


async def _rows_at_least(d: Daemon, n: int) -> list[InboundRecord] | None:
    rows = await d.butler("switchboard").inbound.list(channel="slack")
    return rows if len(rows) >= n else None


async def test_slack_rate_limits_and_outages_are_retried_and_lasting_errors_end_failed(
    tmp_path: Path, pg_address: ServerAddress, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = f'channel = "slack"\nslack_user_id = "{ALICE}"'
    async with switchboard_on_slack(tmp_path, pg_address, monkeypatch, owner) as (slack, d):
        slack.fail_next("chat.postMessage", 429, retry_after=1)
        record = await d.call("general", "notify", {"message": "after a rate limit"})
        assert record["status"] == "sent" and record["attempts"] == 2, record
        assert texts(slack, OWNER_DM) == ["after a rate limit"]

        slack.fail_next("chat.postMessage", 500)
        record = await d.call("general", "notify", {"message": "after an outage"})
        assert record["status"] == "sent" and record["attempts"] == 2, record

        slack.fail_next("chat.postMessage", error="invalid_auth")
        failed = await d.call("general", "notify", {"message": "never accepted"})
        assert failed["status"] == "failed" and failed["attempts"] == 1, failed
        assert "invalid_auth" in failed["error"] and failed["channel_message_id"] is None
        assert texts(slack, OWNER_DM) == ["after a rate limit", "after an outage"]

        slack.fail_next("chat.postMessage", 500, times=4)  # max_attempts = 4
        failed = await d.call("general", "notify", {"message": "Slack stays down"})
        assert failed["status"] == "failed" and failed["attempts"] == 4, failed
        assert "HTTP 500" in failed["error"]
