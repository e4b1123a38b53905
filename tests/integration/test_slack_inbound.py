"""Slack events in: Socket Mode (envelopes, acks, reconnects, outages) and the Events API (signatures)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anyio
import asyncpg
import httpx
import pytest
from fastmcp import Client
from slack_helpers import (
    ALICE,
    BOB,
    GENERAL,
    MALLORY,
    RANDOM,
    SECRET,
    LateApp,
    connected,
    credentials,
    running,
    slack_standin,
    socket_config,
    wait_until,
)
from structlog.testing import capture_logs

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.db import ServerAddress
from butlers.modules.slack import APP_TOKEN_ENV, BOT_TOKEN_ENV, SIGNING_SECRET_ENV
from butlers.settings import Settings
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port


async def test_socket_mode_stores_each_allowed_message_once_and_acks_it(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, socket_config(url)) as run:
        await connected(run)
        hello = slack.user_says(GENERAL, BOB, "remember the milk")  # an allowed channel, any member
        first = slack.socket.send_event(hello)
        # The same message as an app_mention (a second event_id): the same message, stored once.
        mention = slack.event_payload({**hello["event"], "type": "app_mention"})
        slack.socket.send_event(mention)
        slack.socket.send_event(slack.user_says(RANDOM, MALLORY, "not for you"))  # neither allowed
        slack.socket.send_event(slack.user_says(RANDOM, ALICE, "alice anywhere"))  # an allowed user
        await run.call("slack_send", {"to": GENERAL, "text": "the bot's own post"})
        own = slack.messages[GENERAL][-1]
        slack.socket.send_event(slack.event_payload({**own, "channel": GENERAL}))  # never taken as work

        async def all_acked() -> bool:
            return not slack.socket.pending and len(slack.socket.acked) == 5

        await wait_until(all_acked, "every envelope acked")
        rows = await run.inbound()
        assert sorted((r.text, r.sender) for r in rows) == [("alice anywhere", ALICE), ("remember the milk", BOB)]
        milk = next(r for r in rows if r.text == "remember the milk")
        assert milk.external_id == f"{GENERAL}:{hello['event']['ts']}"
        # Slack's two events for it (message, app_mention) are handled concurrently: either may be the one kept.
        assert milk.metadata is not None and milk.metadata["event_id"] in {hello["event_id"], mention["event_id"]}
        assert milk.metadata["channel"] == GENERAL

        slack.socket.redeliver(first)  # Slack sends an envelope again when the ack came late

        async def acked_again() -> bool:
            return slack.socket.acked.count(first) == 2

        await wait_until(acked_again, "the redelivered envelope acked")
        assert len(await run.inbound()) == 2
        health = await run.module.health()
        assert health["ok"] is True and health["connected"] is True, health
        # At least: a reconnect under load (a late pong) may deliver unacked envelopes once more.
        assert health["received"] == 2 and health["duplicates"] >= 2 and health["ignored"] >= 1, health
        assert [(s["channel"], s["user"]) for s in health["ignored_senders"]] == [(RANDOM, MALLORY)]


async def test_socket_mode_reconnects_after_a_drop_and_loses_or_doubles_nothing(
    pool: asyncpg.Pool, data_dir: Path
) -> None:
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, socket_config(url)) as run:
        await connected(run)
        slack.socket.send_event(slack.user_says(GENERAL, ALICE, "one"))
        await wait_until(lambda: run.count(1), "the first message stored")

        # The ack of "two" is lost, then the connection drops: Slack still holds "two" as not delivered.
        slack.socket.ignore_acks = True
        slack.socket.send_event(slack.user_says(GENERAL, ALICE, "two"))
        await wait_until(lambda: run.count(2), "the second message stored")
        slack.socket.drop()
        slack.socket.ignore_acks = False
        slack.socket.send_event(slack.user_says(GENERAL, ALICE, "three"))  # sent while nobody is connected

        async def reconnected_and_drained() -> bool:
            return slack.socket.connections_made >= 2 and not slack.socket.pending

        await wait_until(reconnected_and_drained, "a new connection that took 'two' again and 'three'")
        assert sorted(r.text for r in await run.inbound()) == ["one", "three", "two"]

        # Slack asks for a reconnect (a node being recycled): the client opens a new connection.
        slack.socket.disconnect()

        async def third_connection() -> bool:
            return slack.socket.connections_made >= 3 and slack.socket.connected == 1

        await wait_until(third_connection, "a new connection after the disconnect message")
        slack.socket.send_event(slack.user_says(GENERAL, ALICE, "four"))
        await wait_until(lambda: run.count(4), "the message after the reconnect stored")
        assert sorted(r.text for r in await run.inbound()) == ["four", "one", "three", "two"]
        assert run.module.duplicates == 1  # "two", redelivered after the drop


async def test_slack_down_makes_the_module_unhealthy_then_it_recovers(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with slack_standin() as (slack, url), running(pool, data_dir, slack, socket_config(url)) as run:
        await connected(run)
        slack.set_down(True)

        async def unhealthy() -> bool:
            return (await run.module.health())["ok"] is False

        await wait_until(unhealthy, "status showing Slack down")
        health = await run.module.health()
        assert "503" in health["error"] or "not connected" in health["error"], health
        slack.socket.send_event(slack.user_says(GENERAL, ALICE, "sent during the outage"))
        slack.set_down(False)
        await connected(run)
        await wait_until(lambda: run.count(1), "the message held during the outage stored")
        assert slack.socket.connections_made >= 2


async def test_a_refused_app_token_shows_in_status_and_is_never_logged(
    pool: asyncpg.Pool, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # slack-sdk's own (stdlib) logging too, at its most talkative
    with capture_logs() as structlog_events:
        async with (
            slack_standin() as (slack, url),
            running(pool, data_dir, slack, socket_config(url), **{APP_TOKEN_ENV: "xapp-wrong"}) as run,
        ):

            async def refused() -> bool:
                return "invalid_auth" in ((await run.module.health()).get("error") or "")

            await wait_until(refused, "status naming Slack's refusal of the app token")
            health = await run.module.health()
            assert health["ok"] is False and health["error"].startswith("apps.connections.open failed"), health
            assert "xapp-wrong" not in str(health)
            assert slack.socket.connections_made == 0
            await run.call("slack_send", {"to": GENERAL, "text": "a call with the bot token"})
    logged = caplog.text + str(structlog_events)
    assert "Sending a request" in caplog.text  # slack-sdk logged its requests, headers and all
    assert "slack.socket_mode_retry" in logged and "invalid_auth" in logged
    for secret in ("xapp-wrong", slack.bot_token, SECRET):
        assert secret not in logged


def _signed(slack_body: bytes, stamp: int, secret: str = SECRET) -> dict[str, str]:
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(secret).generate_signature(timestamp=str(stamp), body=slack_body) or ""
    return {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": signature, "Content-Type": "application/json"}


async def test_events_api_takes_signed_events_once_and_refuses_bad_stale_and_replayed_ones(
    pool: asyncpg.Pool, data_dir: Path
) -> None:
    async with slack_standin() as (slack, api_url):
        late = LateApp()
        async with serve_asgi(late, lifespan="off") as butler_url:
            config = socket_config(api_url, mode="events", events={"path": "/slack/hook", "max_age_s": 60})
            async with running(pool, data_dir, slack, config) as run:
                late.app = run.mcp.http_app(path="/mcp")
                hook = f"{butler_url}/slack/hook"
                challenge = {"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV"}
                answer = await slack.post_event(hook, challenge, SECRET)
                assert (answer.status_code, answer.json()) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV"})

                event = slack.user_says(GENERAL, ALICE, "via the Events API")
                first = await slack.post_event(hook, event, SECRET)
                assert (first.status_code, first.json()["outcome"]) == (200, "received")
                # Slack's retry (our answer was late, say): the same event, sent and signed seconds later.
                later = int(time.time()) + 3
                retried = await slack.post_event(hook, event, SECRET, retry_num=1, timestamp=later)
                assert (retried.status_code, retried.json()["outcome"]) == (200, "duplicate")

                forged = slack.user_says(GENERAL, ALICE, "forged")
                body = httpx.Request("POST", hook, json=forged).content
                async with httpx.AsyncClient() as client:
                    wrong = await client.post(hook, content=body, headers=_signed(body, int(time.time()), "wrong"))
                    missing = await client.post(hook, content=body, headers={"Content-Type": "application/json"})
                    stale_headers = _signed(body, int(time.time()) - 120)  # a valid signature, outside the window
                    stale = await client.post(hook, content=body, headers=stale_headers)
                    good = _signed(body, int(time.time()))
                    accepted = await client.post(hook, content=body, headers=good)
                    replayed = await client.post(hook, content=body, headers=good)  # the same signed request again
                assert [r.status_code for r in (wrong, missing, stale)] == [401, 401, 401]
                assert "stale" in stale.json()["error"]
                assert (accepted.status_code, replayed.status_code) == (200, 401)
                assert "replayed" in replayed.json()["error"]
                assert sorted(r.text for r in await run.inbound()) == ["forged", "via the Events API"]
                health = await run.module.health()
                assert health["ok"] is True and health["refused"] == 4, health
                assert "connected" not in health  # no websocket in events mode
                assert slack.socket.connections_made == 0


async def test_in_a_butler_a_message_is_handed_off_status_shows_slack_and_approval_posts_once(
    tmp_path: Path, pg_address: ServerAddress, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "general"
    folder.mkdir()
    async with slack_standin() as (slack, url):
        for var, value in credentials(slack).items():
            monkeypatch.setenv(var, value)
        (folder / "butler.toml").write_text(
            f'[butler]\nname = "general"\nport = {free_port()}\n\n[modules.slack]\n'
            f'api_base_url = "{url}/api"\nallowed_channels = ["{GENERAL}"]\nping_interval_s = 1.0\n'
            'require_approval = ["slack_send"]\n'
        )
        butler = Butler(load_butler_config(folder), Settings(data_dir=tmp_path / "data"), pg_address, database=database)
        mcp = await butler.start()
        try:
            async with anyio.create_task_group() as tg:
                await butler.serve_modules(tg)  # as run() does once the HTTP server is up
                slack.socket.send_event(slack.user_says(GENERAL, ALICE, "what is on my list?"))

                async def handed_off() -> bool:
                    return [r.status for r in await butler.inbound.list(channel="slack")] == ["dispatched"]

                await wait_until(handed_off, "the message stored and handed to the butler (a queued session)")
                async with Client(mcp) as client:

                    async def healthy() -> bool:
                        status = (await client.call_tool("status", {})).structured_content or {}
                        return status["modules"]["slack"]["ok"] is True

                    await wait_until(healthy, "status showing slack healthy")
                    pending = (await client.call_tool("slack_send", {"to": GENERAL, "text": "Milk."})).data
                    assert pending.status == "pending_approval" and slack.posted(GENERAL) == []
                    for _ in range(2):
                        await client.call_tool("approval_approve", {"approval_id": pending.approval_id})
                assert [m["text"] for m in slack.posted(GENERAL)] == ["Milk."]
                # Declared (required and optional) credentials only: these are what logs redact.
                assert set(butler.credentials) == {BOT_TOKEN_ENV, APP_TOKEN_ENV, SIGNING_SECRET_ENV}
                tg.cancel_scope.cancel()
        finally:
            await butler._shutdown()
