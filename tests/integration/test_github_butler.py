"""github in a real butler (status, approvals, the webhook route over HTTP) and against GitHub Enterprise."""

from __future__ import annotations

from pathlib import Path

import anyio
import asyncpg
import pytest
from fastmcp import Client
from github_helpers import REPO, SECRET, TOKEN, github_api, running, wait_until

from butlers.butler import Butler
from butlers.config import load_butler_config
from butlers.db import ServerAddress
from butlers.modules.github import TOKEN_ENV
from butlers.settings import Settings
from butlers.testing.asgi import serve_asgi
from butlers.testing.ports import free_port


async def test_in_a_butler_events_are_handed_off_status_shows_github_and_approvals_comment_once(
    tmp_path: Path, pg_address: ServerAddress, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("GH_HOOK_SECRET", SECRET)
    folder = tmp_path / "general"
    folder.mkdir()
    async with github_api() as (standin, url):
        bug = standin.add_issue(REPO, "Crash on start")
        (folder / "butler.toml").write_text(
            f'[butler]\nname = "general"\nport = {free_port()}\n\n[modules.github]\n'
            f'api_base_url = "{url}"\ninbound = "webhook"\nrequire_approval = ["github_comment"]\n\n'
            '[modules.github.webhook]\nsecret = "${GH_HOOK_SECRET}"\n'
        )
        butler = Butler(load_butler_config(folder), Settings(data_dir=tmp_path / "data"), pg_address, database=database)
        mcp = await butler.start()
        try:
            async with anyio.create_task_group() as tg, serve_asgi(mcp.http_app(path="/mcp")) as butler_url:
                await butler.serve_modules(tg)  # as run() does once the HTTP server is up
                payload = standin.event_payload(REPO, bug, action="opened")
                sent = await standin.deliver_webhook(f"{butler_url}/github/webhook", SECRET, "issues", payload)
                assert sent.status_code == 202, sent.text
                [row] = await butler.inbound.list(channel="github")
                assert row.status == "dispatched" and row.session_id is not None
                assert row.metadata is not None
                assert row.metadata["event"] == "issues" and row.metadata["action"] == "opened"

                async with Client(f"{butler_url}/mcp") as client:
                    status = (await client.call_tool("status", {})).structured_content
                    assert status is not None
                    health = status["modules"]["github"]
                    assert health["ok"] is True and health["deliveries"]["accepted"] == 1, health
                    assert health["rate_limit"]["resources"]["core"]["remaining"] <= 5000
                    assert TOKEN not in str(status)

                    args = {"repo": REPO, "number": bug, "body": "On it."}
                    answer = (await client.call_tool("github_comment", args)).structured_content
                    assert answer is not None
                    pending = answer["result"]  # a union of records: wrapped by fastmcp
                    assert pending["status"] == "pending_approval"
                    assert standin.comments_on(REPO, bug) == []
                    for _ in range(2):
                        await client.call_tool("approval_approve", {"approval_id": pending["approval_id"]})
                assert standin.comments_on(REPO, bug) == ["On it."]
                tg.cancel_scope.cancel()
        finally:
            await butler._shutdown()


async def test_github_enterprise_is_reached_under_its_api_prefix_with_its_api_version(
    pool: asyncpg.Pool, data_dir: Path
) -> None:
    async with github_api(prefix="/api/v3", poll_interval=1) as (standin, url):
        pr = standin.add_issue(REPO, "Port to Enterprise", pull=True)
        standin.add_notification(REPO, pr, reason="review_requested")
        config = {"api_base_url": f"{url}/api/v3", "api_version": "2022-11-28", "poll_interval_s": 0.1}
        async with running(pool, data_dir, config) as gh:

            async def stored() -> bool:
                return len(await gh.inbound()) == 1

            await wait_until(stored, "the Enterprise notification stored")
            detail = await gh.call("github_get", {"repo": REPO, "number": pr})
            assert detail["pull"]["head_ref"] == "feature"
            await gh.call("github_comment", {"repo": REPO, "number": pr, "body": "LGTM"})
            assert standin.comments_on(REPO, pr) == ["LGTM"]
            assert (await gh.module.health())["ok"] is True
        assert standin.requests and {r.api_version for r in standin.requests} == {"2022-11-28"}
        assert {r.status for r in standin.requests} <= {200, 201, 304}
