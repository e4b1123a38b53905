"""github inbound: polled notifications and webhook events become inbound messages once each."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import asyncpg
import httpx
from github_helpers import REPO, SECRET, LateApp, github_api, running, wait_until
from githubkit.webhooks import sign

from butlers.testing.asgi import serve_asgi


async def test_polling_stores_each_notification_once_honouring_304_and_x_poll_interval(
    pool: asyncpg.Pool, data_dir: Path
) -> None:
    async with github_api(poll_interval=1) as (standin, url):
        bug = standin.add_issue(REPO, "Crash on start", body="Traceback ...")
        pr = standin.add_issue(REPO, "Fix the crash", pull=True)
        standin.add_notification(REPO, bug, reason="mention")
        standin.add_notification(REPO, pr, reason="review_requested")
        config = {"api_base_url": url, "poll_interval_s": 0.1}
        async with running(pool, data_dir, config) as gh:

            async def two_stored() -> bool:
                return len(await gh.inbound()) == 2

            await wait_until(two_stored, "both notifications stored")

            async def three_polls() -> bool:
                return len(standin.seen("/notifications")) >= 3

            await wait_until(three_polls, "two more polls", timeout=15)
            polls = standin.seen("/notifications")
            # The first poll reads everything; later ones send If-Modified-Since and cost a 304.
            assert polls[0].status == 200 and polls[0].if_modified_since is None
            assert all(p.status == 304 and p.if_modified_since for p in polls[1:3])
            # X-Poll-Interval (1 s) wins over poll_interval_s (0.1 s).
            gaps = [b.at - a.at for a, b in itertools.pairwise(polls[:3])]
            assert all(gap >= 1.0 for gap in gaps), gaps
            assert gh.module.poll.interval_s == 1

            # New activity on the PR: the next 200 lists both unread threads again, only the new state is stored.
            standin.add_notification(REPO, pr, reason="comment")

            async def three_stored() -> bool:
                return len(await gh.inbound()) == 3

            await wait_until(three_stored, "the new activity stored", timeout=15)
            rows = await gh.inbound()
            assert sorted(str((r.metadata or {}).get("reason")) for r in rows) == [
                "comment",
                "mention",
                "review_requested",
            ]
            newest = rows[0]
            assert newest.metadata is not None and newest.metadata["type"] == "PullRequest"
            assert newest.metadata["html_url"].endswith(f"/{REPO}/pull/{pr}")
            assert "Fix the crash" in newest.text
            health = await gh.module.health()
            assert health["ok"] is True, health
            assert health["received"] == 3 and health["polling"]["not_modified"] >= 2
            assert health["rate_limit"]["resources"]["core"]["limit"] == 5000


async def test_polling_waits_out_a_rate_limit_then_goes_on(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api(poll_interval=1) as (standin, url):
        standin.add_notification(REPO, standin.add_issue(REPO, "Flaky test"), reason="assign")
        standin.rate_limit_next(1, retry_after=1)  # the very first poll meets a secondary limit
        async with running(pool, data_dir, {"api_base_url": url, "poll_interval_s": 0.1}) as gh:

            async def stored() -> bool:
                return len(await gh.inbound()) == 1

            await wait_until(stored, "the notification stored after the backoff")
            first, second = standin.seen("/notifications")[:2]
            assert first.status == 403 and second.status == 200
            assert second.at - first.at >= 1.0  # Retry-After: 1 was honoured
            health = await gh.module.health()
            assert health["ok"] is True, health
            assert health["rate_limit"]["rate_limited"] == 1
            assert "secondary" in health["rate_limit"]["last_limit"]


async def test_webhook_checks_the_signature_and_stores_a_redelivery_once(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api() as (standin, api_url):
        number = standin.add_issue(REPO, "Add dark mode")
        late = LateApp()
        async with serve_asgi(late, lifespan="off") as butler_url:
            config = {"api_base_url": api_url, "inbound": "webhook", "webhook": {"secret": SECRET, "path": "/gh"}}
            async with running(pool, data_dir, config) as gh:
                late.app = gh.mcp.http_app(path="/mcp")
                hook = f"{butler_url}/gh"
                payload = standin.event_payload(REPO, number, comment="Could we ship this week?")

                # Signed by GitHub (the stand-in) with the shared secret: stored, 202.
                first = await standin.deliver_webhook(hook, SECRET, "issue_comment", payload, delivery="d-1")
                assert first.status_code == 202, first.text
                # A redelivery keeps X-GitHub-Delivery: answered 200, stored once.
                again = await standin.deliver_webhook(hook, SECRET, "issue_comment", payload, delivery="d-1")
                assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
                [row] = await gh.inbound()
                assert row.external_id == "delivery:d-1"
                assert row.sender == "@hubot"
                assert "Could we ship this week?" in row.text and f"{REPO}#{number}" in (row.subject or "")

                # A wrong secret, a missing signature, a body changed after signing: 401, nothing stored.
                wrong = await standin.deliver_webhook(hook, "not-the-secret-at-all!", "issue_comment", payload)
                signed = sign(SECRET, json.dumps(payload).encode(), "sha256")  # of the body as sent...
                changed = {**payload, "action": "deleted"}  # ...then changed on the way
                tampered = await standin.deliver_webhook(hook, SECRET, "issue_comment", changed, signature=signed)
                async with httpx.AsyncClient() as client:
                    missing = await client.post(
                        hook, json=payload, headers={"X-GitHub-Event": "issues", "X-GitHub-Delivery": "d-9"}
                    )
                assert [wrong.status_code, tampered.status_code, missing.status_code] == [401, 401, 401]

                # A ping (not a wanted event) is acknowledged and not stored.
                ping = await standin.deliver_webhook(hook, SECRET, "ping", {"zen": "Keep it simple."})
                assert ping.status_code == 200 and ping.json()["outcome"] == "ignored"
                assert len(await gh.inbound()) == 1
                health = await gh.module.health()
                assert health["deliveries"] == {"accepted": 1, "duplicate": 1, "ignored": 1, "refused": 3}
