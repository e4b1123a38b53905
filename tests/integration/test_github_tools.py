"""github tools against the GitHub stand-in, through githubkit and a real MCP client."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from fastmcp.exceptions import ToolError
from github_helpers import REPO, TOKEN, github_api, running, wait_until

from butlers.db import ServerAddress
from butlers.errors import ModuleError
from butlers.modules.github import TOKEN_ENV, GithubConfig, GithubModule
from butlers.testing.asgi import serve_asgi
from butlers.testing.github_api import GitHubAPI
from butlers.testing.module_contract import check_module_contract


def quiet(url: str, **extra: Any) -> dict[str, Any]:
    """No inbound polling: the tools' requests are the only ones the stand-in sees."""
    return {"api_base_url": url, "inbound": "off", **extra}


async def test_notifications_are_listed_and_marked_read(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api() as (standin, url), running(pool, data_dir, quiet(url)) as gh:
        bug = standin.add_issue(REPO, "Crash on start")
        first = standin.add_notification(REPO, bug, reason="mention")
        second = standin.add_notification("octo/docs", None, reason="subscribed")
        listed = await gh.call("github_notifications")
        assert [(n["thread_id"], n["reason"], n["repository"]) for n in listed] == [
            (second, "subscribed", "octo/docs"),
            (first, "mention", REPO),
        ]
        assert listed[1]["title"] == "Crash on start" and listed[1]["type"] == "Issue"
        only_mine = await gh.call("github_notifications", {"participating": True})
        assert [n["thread_id"] for n in only_mine] == [first]

        assert await gh.call("github_notifications_mark_read", {"thread_id": first}) == {
            "status": "marked_read",
            "thread_id": first,
        }
        assert [n["thread_id"] for n in await gh.call("github_notifications")] == [second]
        await gh.call("github_notifications_mark_read")
        assert await gh.call("github_notifications") == []
        assert [n["thread_id"] for n in await gh.call("github_notifications", {"all": True})] == [second, first]
        assert standin.marked_read == [first, "all"]
        with pytest.raises(ToolError, match="thread_id"):
            await gh.call("github_notifications_mark_read", {"thread_id": "not-a-number"})


async def test_issues_and_pull_requests_are_searched_listed_and_read(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api() as (standin, url), running(pool, data_dir, quiet(url)) as gh:
        pr = standin.add_issue(REPO, "Fix crash on start", pull=True, body="Closes the crash.", labels=["bug"])
        for n in range(105):  # newer issues push the PR to the second page of 100
            standin.add_issue(REPO, f"Idea {n}", labels=["idea"])

        found = await gh.call("github_search", {"query": f"repo:{REPO} crash", "kind": "pr"})
        assert [(i["number"], i["is_pull_request"], i["labels"]) for i in found] == [(pr, True, ["bug"])]
        assert await gh.call("github_search", {"query": f"repo:{REPO} crash", "kind": "issue"}) == []

        prs = await gh.call("github_list", {"repo": REPO, "kind": "pr"})
        assert [i["number"] for i in prs] == [pr]
        pages = [r for r in standin.seen(f"/repos/{REPO}/issues") if r.method == "GET"]
        assert len(pages) >= 2  # followed to page 2
        latest = await gh.call("github_list", {"repo": REPO, "limit": 3})
        assert [i["title"] for i in latest] == ["Idea 104", "Idea 103", "Idea 102"]

        detail = await gh.call("github_get", {"repo": REPO, "number": pr})
        assert detail["body"] == "Closes the crash." and detail["is_pull_request"] is True
        assert detail["pull"]["head_ref"] == "feature" and detail["pull"]["merged"] is False
        plain = await gh.call("github_get", {"repo": REPO, "number": 2})
        assert plain["pull"] is None and plain["title"] == "Idea 0"

        for tool, args, expected in [
            ("github_get", {"repo": REPO, "number": 999}, "github_get: GitHub answered HTTP 404"),
            ("github_get", {"repo": "not a repo", "number": 1}, "repo"),
            ("github_list", {"repo": REPO, "limit": 0}, "limit"),
            ("github_search", {"query": ""}, "query"),
        ]:
            with pytest.raises(ToolError, match=expected):
                await gh.call(tool, cast(dict[str, Any], args))


async def test_review_requests_diff_stat_and_checks(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api(login="me") as (standin, url), running(pool, data_dir, quiet(url)) as gh:
        mine = standin.add_issue(REPO, "Refactor the poller", pull=True, review_requested=["me"])
        standin.add_issue(REPO, "Someone else's review", pull=True, review_requested=["you"])
        requests = await gh.call("github_review_requests")
        assert [(r["number"], r["title"]) for r in requests] == [(mine, "Refactor the poller")]

        standin.set_pull_details(
            REPO,
            mine,
            files=[
                {"filename": "src/poller.py", "additions": 40, "deletions": 12},
                {"filename": "docs/new.md", "additions": 5, "deletions": 0, "status": "added"},
            ],
            check_runs=[
                {"name": "tests", "status": "completed", "conclusion": "success"},
                {"name": "lint", "status": "in_progress"},
            ],
            statuses=[{"context": "ci/legacy", "state": "success", "description": "ok"}],
        )
        stat = await gh.call("github_pr_diffstat", {"repo": REPO, "number": mine})
        assert (stat["additions"], stat["deletions"], stat["changed_files"]) == (45, 12, 2)
        assert [(f["filename"], f["status"]) for f in stat["files"]] == [
            ("src/poller.py", "modified"),
            ("docs/new.md", "added"),
        ]
        assert stat["files_truncated"] is False

        checks = await gh.call("github_pr_checks", {"repo": REPO, "number": mine})
        assert checks["overall"] == "pending"  # lint still running
        assert [(r["name"], r["conclusion"]) for r in checks["check_runs"]] == [("tests", "success"), ("lint", None)]
        assert [(s["context"], s["state"]) for s in checks["statuses"]] == [("ci/legacy", "success")]
        standin.set_pull_details(
            REPO, mine, check_runs=[{"name": "lint", "status": "completed", "conclusion": "failure"}]
        )
        assert (await gh.call("github_pr_checks", {"repo": REPO, "number": mine}))["overall"] == "failure"


async def test_comment_and_issue_create_write_to_github(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api() as (standin, url), running(pool, data_dir, quiet(url)) as gh:
        bug = standin.add_issue(REPO, "Crash on start")
        done = await gh.call("github_comment", {"repo": REPO, "number": bug, "body": "Reproduced on 3.12."})
        assert done["status"] == "commented" and done["number"] == bug
        assert standin.comments_on(REPO, bug) == ["Reproduced on 3.12."]
        created = await gh.call("github_issue_create", {"repo": REPO, "title": "Docs: polling", "labels": ["docs"]})
        assert created["status"] == "created"
        assert standin.items[(REPO, created["number"])].labels == ["docs"]

        # Bad arguments: refused before anything reaches GitHub.
        before = len(standin.requests)
        for tool, args, expected in [
            ("github_comment", {"repo": REPO, "number": bug, "body": "  "}, "github_comment: argument 'body'"),
            ("github_comment", {"repo": "octo", "number": bug, "body": "x"}, "repo"),
            ("github_comment", {"repo": REPO, "number": 0, "body": "x"}, "number"),
            ("github_issue_create", {"repo": REPO, "title": " "}, "github_issue_create: argument 'title'"),
        ]:
            with pytest.raises(ToolError, match=expected):
                await gh.call(tool, cast(dict[str, Any], args))
        assert len(standin.requests) == before


async def test_comment_and_create_wait_for_approval_and_run_once(pool: asyncpg.Pool, data_dir: Path) -> None:
    config_extra = {"require_approval": ["github_comment", "github_issue_create"]}
    async with github_api() as (standin, url), running(pool, data_dir, quiet(url, **config_extra)) as gh:
        bug = standin.add_issue(REPO, "Crash on start")
        pending = await gh.call("github_comment", {"repo": REPO, "number": bug, "body": "Fixed in #2."})
        assert pending["status"] == "pending_approval" and "Fixed in #2." in pending["summary"]
        assert standin.comments_on(REPO, bug) == []
        approval = uuid.UUID(pending["approval_id"])
        first, second = await gh.gate.approve(approval), await gh.gate.approve(approval)
        assert first.status == second.status == "succeeded"
        assert first.result is not None and first.result["status"] == "commented"
        assert standin.comments_on(REPO, bug) == ["Fixed in #2."]

        issue = await gh.call("github_issue_create", {"repo": REPO, "title": "Never"})
        assert issue["status"] == "pending_approval"
        await gh.gate.reject(uuid.UUID(issue["approval_id"]), "no")
        assert [i.title for i in standin.items.values()] == ["Crash on start"]


async def test_a_rate_limit_is_waited_out_and_shown_in_health(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with github_api() as (standin, url), running(pool, data_dir, quiet(url, max_rate_limit_wait_s=5)) as gh:
        standin.add_issue(REPO, "Crash on start")
        standin.rate_limit_next(1, retry_after=1, kind="secondary")
        standin.rate_limit_next(1, retry_after=1, kind="primary")
        started = time.monotonic()
        listed = await gh.call("github_list", {"repo": REPO})
        assert [i["title"] for i in listed] == ["Crash on start"]
        assert time.monotonic() - started >= 1.0  # waited (Retry-After, then X-RateLimit-Reset)
        statuses = [r.status for r in standin.seen(f"/repos/{REPO}/issues")]
        assert statuses[:3] == [403, 403, 200]
        health = await gh.module.health()
        assert health["ok"] is True
        assert health["rate_limit"]["rate_limited"] == 2 and "primary" in health["rate_limit"]["last_limit"]

        # A limit longer than max_rate_limit_wait_s: the call fails at once, saying so.
        standin.rate_limit_next(1, retry_after=600)
        with pytest.raises(ToolError, match="github_get: rate limited by GitHub"):
            await gh.call("github_get", {"repo": REPO, "number": 1})
        assert (await gh.module.health())["rate_limit"]["backing_off_until"] is not None


async def test_github_down_makes_the_module_unhealthy_until_it_recovers(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with (
        github_api(poll_interval=1) as (standin, url),
        running(pool, data_dir, {"api_base_url": url, "poll_interval_s": 0.1}) as gh,
    ):
        assert (await gh.module.health())["ok"] is True
        standin.down = True
        down = await gh.module.health()
        assert down["ok"] is False and "503" in down["error"], down
        with pytest.raises(ToolError, match="github_notifications: GitHub answered HTTP 503"):
            await gh.call("github_notifications")
        standin.down = False
        standin.add_notification(REPO, standin.add_issue(REPO, "Back"), reason="mention")

        async def recovered() -> bool:
            return len(await gh.inbound()) == 1 and (await gh.module.health())["ok"] is True

        await wait_until(recovered, "healthy again and the notification stored", timeout=20)


async def test_unreachable_api_and_missing_token_are_clear(pool: asyncpg.Pool, data_dir: Path) -> None:
    async with serve_asgi(GitHubAPI(TOKEN).app) as url:
        pass  # served and stopped: nothing listens there any more
    async with running(pool, data_dir, quiet(url)) as gh:
        health = await gh.module.health()
        assert health["ok"] is False and "unreachable" in health["error"]
        assert TOKEN not in str(health)
        ctx = gh.ctx
    with pytest.raises(ModuleError, match=f"environment variable {TOKEN_ENV} is not set"):
        await GithubModule(GithubConfig()).on_startup(replace(ctx, credentials={}))


async def test_github_meets_the_module_contract(pg_address: ServerAddress, database: str, data_dir: Path) -> None:
    async with github_api() as (_, url):
        report = await check_module_contract(
            GithubModule, {"api_base_url": url}, pg_address, database, data_dir, credentials={TOKEN_ENV: TOKEN}
        )
    assert report.tools == [
        "github_comment",
        "github_get",
        "github_issue_create",
        "github_list",
        "github_notifications",
        "github_notifications_mark_read",
        "github_pr_checks",
        "github_pr_diffstat",
        "github_review_requests",
        "github_search",
    ]
