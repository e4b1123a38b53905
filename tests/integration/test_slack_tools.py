"""The slack module's tools against the Slack stand-in, through slack-sdk's AsyncWebClient."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from fastmcp.exceptions import ToolError
from slack_helpers import ALICE, BOB, GENERAL, MALLORY, RANDOM, running, slack_standin, socket_config

from butlers.db import ServerAddress
from butlers.errors import ModuleError
from butlers.modules.slack import BOT_TOKEN_ENV, SlackModule
from butlers.testing.module_contract import check_module_contract


def events_mode(url: str, **extra: object) -> dict[str, object]:
    return socket_config(url, mode="events", **extra)  # no websocket: the tools alone


async def test_send_reply_and_read_a_channel_and_a_thread(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, events_mode(url)) as run:
        sent = await run.call("slack_send", {"to": GENERAL, "text": "Milk is on the list."})
        assert sent["status"] == "sent" and sent["channel"] == GENERAL
        [posted] = slack.posted(GENERAL)
        assert (posted["ts"], posted["text"]) == (sent["ts"], "Milk is on the list.")

        question = slack.user_says(GENERAL, BOB, "what time is dinner?")["event"]
        reply = await run.call("slack_reply", {"channel": GENERAL, "thread_ts": question["ts"], "text": "At 7."})
        in_thread = await run.call("slack_send", {"to": GENERAL, "text": "And dessert.", "thread_ts": question["ts"]})
        assert [m["thread_ts"] for m in slack.posted(GENERAL)[1:]] == [question["ts"], question["ts"]]
        assert reply["ts"] != in_thread["ts"]

        recent = await run.call("slack_recent", {"channel": GENERAL, "limit": 10})
        assert [m["text"] for m in recent] == ["what time is dinner?", "Milk is on the list."]  # newest first
        assert recent[0]["reply_count"] == 2 and recent[1]["bot"] is True
        thread = await run.call("slack_recent", {"channel": GENERAL, "thread_ts": question["ts"]})
        assert [m["text"] for m in thread] == ["what time is dinner?", "At 7.", "And dessert."]
        assert len(await run.call("slack_recent", {"channel": GENERAL, "limit": 1})) == 1


async def test_a_dm_by_user_id_and_the_deliver_hook(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with (
        slack_standin() as (slack, url),
        running(pool, data_dir, slack, events_mode(url, owner=BOB)) as run,
    ):
        dm = await run.call("slack_send", {"to": ALICE, "text": "Hi Alice"})
        assert dm["channel"] == "D0ALICE" and slack.posted("D0ALICE")[0]["text"] == "Hi Alice"
        assert "conversations.open" in slack.calls
        # The DM's id is now known as Alice's: reading and reacting there are allowed.
        assert [m["text"] for m in await run.call("slack_recent", {"channel": "D0ALICE"})] == ["Hi Alice"]

        ts = await run.module.deliver("Your reminder")  # notify's hook: the owner's DM by default
        assert slack.posted("D0BOB")[0]["ts"] == ts
        ts2 = await run.module.deliver("In the channel", recipient=GENERAL)
        ts3 = await run.module.deliver("In the thread", recipient=GENERAL, thread=ts2)
        assert [(m["ts"], m.get("thread_ts")) for m in slack.posted(GENERAL)] == [(ts2, ts2), (ts3, ts2)]
        with pytest.raises(ToolError, match="not on the allow-list"):
            await run.module.deliver("no", recipient=MALLORY)

    async with slack_standin() as (slack, url), running(pool, data_dir, slack, events_mode(url)) as run:
        with pytest.raises(ModuleError, match="no owner configured"):
            await run.module.deliver("nobody to tell")
        # A DM conversation id not yet seen is checked with conversations.info: allowed for an allowed user.
        slack.channels["D0ALICE"] = {"id": "D0ALICE", "is_im": True, "user": ALICE}
        slack.messages["D0ALICE"] = []
        assert (await run.call("slack_send", {"to": "D0ALICE", "text": "hello"}))["status"] == "sent"


async def test_users_react_and_upload(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, events_mode(url)) as run:
        by_name = await run.call("slack_users", {"query": "liddell"})
        assert [(u["id"], u["email"]) for u in by_name] == [(ALICE, "alice@example.org")]
        by_email = await run.call("slack_users", {"query": "bob@example.org"})
        assert [u["id"] for u in by_email] == [BOB]
        assert await run.call("slack_users", {"query": "nobody@example.org"}) == []
        assert {u["id"] for u in await run.call("slack_users", {"query": "b"})} >= {BOB, "U0BUTLER"}

        ts = slack.user_says(GENERAL, BOB, "lunch?")["event"]["ts"]
        reacted = await run.call("slack_react", {"channel": GENERAL, "ts": ts, "emoji": ":thumbsup:"})
        assert reacted["status"] == "reacted"
        assert slack.messages[GENERAL][-1]["reactions"] == [{"name": "thumbsup", "users": ["U0BUTLER"], "count": 1}]
        with pytest.raises(ToolError, match="slack_react: Slack answered already_reacted"):
            await run.call("slack_react", {"channel": GENERAL, "ts": ts, "emoji": "thumbsup"})

        text = "# Shopping\n- milk\n- bread\n"
        up = await run.call(
            "slack_upload",
            {"to": GENERAL, "filename": "list.md", "content": text, "comment": "The list", "thread_ts": ts},
        )
        assert up["status"] == "uploaded"
        upload = slack.uploads[up["file_id"]]
        assert (upload.filename, upload.data) == ("list.md", text.encode())
        assert upload.completed["channel_id"] == GENERAL and upload.completed["thread_ts"] == ts
        assert upload.completed["title"] == "list.md"
        assert slack.posted(GENERAL)[-1]["text"] == "The list"
        steps = [c for c in slack.calls if c.startswith("files.")]
        assert steps == ["files.getUploadURLExternal", "files.completeUploadExternal"]


async def test_bad_calls_are_refused_naming_the_argument_and_nothing_reaches_slack(
    pool: asyncpg.Pool, data_dir: Path
) -> None:
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, events_mode(url)) as run:
        for tool, args, expected in [
            (
                "slack_send",
                {"to": RANDOM, "text": "hi"},
                "argument 'to': conversation C0RANDOM is not on the allow-list",
            ),
            ("slack_send", {"to": MALLORY, "text": "hi"}, "argument 'to': user U0MALLORY is not on the allow-list"),
            ("slack_send", {"to": "#general", "text": "hi"}, "argument 'to'"),
            ("slack_send", {"to": GENERAL, "text": "   "}, "argument 'text': must not be empty"),
            ("slack_send", {"to": GENERAL, "text": "hi", "thread_ts": "yesterday"}, "thread_ts"),
            ("slack_reply", {"channel": RANDOM, "thread_ts": "1.2", "text": "x"}, "argument 'channel'"),
            ("slack_recent", {"channel": GENERAL, "limit": 0}, "limit"),
            ("slack_recent", {"channel": RANDOM}, "argument 'channel'"),
            ("slack_react", {"channel": GENERAL, "ts": "1.2", "emoji": "two words"}, "emoji"),
            ("slack_upload", {"to": GENERAL, "filename": "a.txt", "content": ""}, "argument 'content'"),
            ("slack_upload", {"to": GENERAL, "filename": "../etc/passwd", "content": "x"}, "filename"),
            ("slack_users", {"query": "  "}, "argument 'query'"),
        ]:
            with pytest.raises(ToolError, match=expected):
                await run.call(tool, cast(dict[str, Any], args))
        assert slack.posted(GENERAL) == [] and slack.uploads == {}
        with pytest.raises(ToolError, match="slack_send: Slack answered thread_not_found"):
            await run.call("slack_send", {"to": GENERAL, "text": "hi", "thread_ts": "1.000001"})


async def test_outbound_tools_wait_for_approval_and_run_once(pool: asyncpg.Pool, data_dir: Path) -> None:
    config = {"require_approval": ["slack_send", "slack_reply", "slack_react", "slack_upload"]}
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, events_mode(url, **config)) as run:
        pending = await run.call("slack_send", {"to": GENERAL, "text": "I will be there at 6."})
        assert pending["status"] == "pending_approval" and "I will be there at 6." in pending["summary"]
        ts = slack.user_says(GENERAL, BOB, "ok?")["event"]["ts"]
        others = [
            await run.call("slack_reply", {"channel": GENERAL, "thread_ts": ts, "text": "yes"}),
            await run.call("slack_react", {"channel": GENERAL, "ts": ts, "emoji": "ok"}),
            await run.call("slack_upload", {"to": GENERAL, "filename": "a.txt", "content": "a"}),
        ]
        assert [o["status"] for o in others] == ["pending_approval"] * 3
        assert slack.posted(GENERAL) == [] and slack.uploads == {} and "reactions.add" not in slack.calls

        approval_id = uuid.UUID(pending["approval_id"])
        first, second = await run.gate.approve(approval_id), await run.gate.approve(approval_id)
        assert first.status == second.status == "succeeded"
        assert [m["text"] for m in slack.posted(GENERAL)] == ["I will be there at 6."]
        assert first.result is not None and first.result["ts"] == slack.posted(GENERAL)[0]["ts"]

        for outcome in others:
            assert (await run.gate.approve(uuid.UUID(outcome["approval_id"]))).status == "succeeded"
        assert [m.get("thread_ts") for m in slack.posted(GENERAL)] == [None, ts, None]  # sent, reply, upload
        assert len(slack.uploads) == 1
        assert slack.messages[GENERAL][0]["reactions"][0]["name"] == "ok"

        rejected = await run.call("slack_send", {"to": GENERAL, "text": "never"})
        await run.gate.reject(uuid.UUID(rejected["approval_id"]), "no")
        assert "never" not in [m["text"] for m in slack.posted(GENERAL)]


async def test_slack_meets_the_module_contract(pg_address: ServerAddress, database: str, data_dir: Path) -> None:
    async with slack_standin() as (slack, url):
        for config in (socket_config(url), events_mode(url)):
            report = await check_module_contract(
                SlackModule,
                config,
                pg_address,
                database,
                data_dir,
                credentials={
                    BOT_TOKEN_ENV: slack.bot_token,
                    "BUTLER_SLACK_APP_TOKEN": slack.app_token,
                    "BUTLER_SLACK_SIGNING_SECRET": "secret",
                },
            )
            assert report.tools == [
                "slack_react",
                "slack_recent",
                "slack_reply",
                "slack_send",
                "slack_upload",
                "slack_users",
            ]
