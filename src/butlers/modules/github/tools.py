"""The github module's MCP tools: one short method each; `register` only registers them.

Every call goes through githubkit (the rate-limit backoff is its `auto_retry`); a failed
call becomes a ToolError naming the tool and GitHub's answer, never the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastmcp.exceptions import ToolError
from githubkit import GitHub
from githubkit.exception import GitHubException
from pydantic import Field, ValidationError

from butlers.core.tool_errors import bad_argument
from butlers.modules.base import ModuleContext
from butlers.modules.github import records as rec
from butlers.modules.github.client import describe_error
from butlers.modules.github.config import REPO_PATTERN, GithubConfig

if TYPE_CHECKING:
    from fastmcp import FastMCP

MAX_LIST = 100
MAX_PAGES = 5  # github_list reads at most this many pages of 100 looking for the kind asked for
MAX_BODY = 65_536  # GitHub's limit for an issue or comment body

Repo = Annotated[
    str, Field(description="The repository as owner/name, e.g. octocat/hello-world.", pattern=REPO_PATTERN)
]
Number = Annotated[int, Field(description="The issue or pull request number.", ge=1)]
Limit = Annotated[int, Field(description=f"How many at most (1-{MAX_LIST}).", ge=1, le=MAX_LIST)]
Kind = Annotated[Literal["any", "issue", "pr"], Field(description="Issues, pull requests, or both.")]
ThreadId = Annotated[
    str | None,
    Field(description="A notification's thread_id; omitted: mark every notification read.", pattern=r"^\d{1,20}$"),
]


class GithubTools:
    """The tools of one module instance; `client` is the module's githubkit client (None until started)."""

    def __init__(self, config: GithubConfig, ctx: ModuleContext, client: Callable[[], GitHub[Any]]) -> None:
        self.config = config
        self.ctx = ctx
        self._client = client

    def register(self, mcp: FastMCP) -> None:
        for name in (
            "github_notifications",
            "github_notifications_mark_read",
            "github_search",
            "github_list",
            "github_get",
            "github_review_requests",
            "github_pr_diffstat",
            "github_pr_checks",
            "github_comment",
            "github_issue_create",
        ):
            mcp.tool(getattr(self, name), name=name)
        self.ctx.approvals.register("github_comment", self.run_comment)
        self.ctx.approvals.register("github_issue_create", self.run_issue_create)

    @asynccontextmanager
    async def _api(self, tool: str) -> AsyncIterator[Any]:
        """The REST namespace of the configured API version; githubkit's errors become this tool's."""
        try:
            yield self._client().rest(self.config.api_version)
        except GitHubException as exc:
            raise ToolError(f"{tool}: {describe_error(exc)}") from None
        except ValidationError as exc:  # an answer githubkit's models refuse (an old Enterprise server?)
            raise ToolError(f"{tool}: GitHub's answer has an unexpected shape: {exc.error_count()} errors") from None

    # -- notifications --------------------------------------------------------------------------

    async def github_notifications(
        self,
        all: Annotated[bool, Field(description="Also notifications already read.")] = False,
        participating: Annotated[bool, Field(description="Only where you are directly involved.")] = False,
        limit: Annotated[int, Field(description="How many at most (1-50).", ge=1, le=50)] = 30,
    ) -> list[rec.Notification]:
        """Your GitHub notifications (unread by default), most recently updated first."""
        async with self._api("github_notifications") as rest:
            resp = await rest.activity.async_list_notifications_for_authenticated_user(
                all_=all, participating=participating, per_page=limit
            )
        return [rec.notification_record(t) for t in resp.parsed_data[:limit]]

    async def github_notifications_mark_read(self, thread_id: ThreadId = None) -> rec.Marked:
        """Mark one notification thread read, or (no thread_id) every notification up to now."""
        async with self._api("github_notifications_mark_read") as rest:
            if thread_id is None:
                await rest.activity.async_mark_notifications_as_read(read=True)
            else:
                await rest.activity.async_mark_thread_as_read(thread_id=int(thread_id))
        return rec.Marked(status="marked_read", thread_id=thread_id)

    # -- issues and pull requests ---------------------------------------------------------------

    async def github_search(
        self,
        query: Annotated[
            str,
            Field(
                description="GitHub search syntax, e.g. 'repo:owner/name is:open label:bug crash' or 'author:@me'.",
                min_length=1,
                max_length=256,
            ),
        ],
        kind: Kind = "any",
        limit: Limit = 20,
    ) -> list[rec.Issue]:
        """Search issues and pull requests across GitHub, best match first."""
        return await self._search("github_search", _with_kind(query, kind), limit)

    async def github_review_requests(self, limit: Limit = 20) -> list[rec.Issue]:
        """Open pull requests waiting for your review, most recently updated first."""
        query = "is:open is:pr review-requested:@me archived:false"
        return await self._search("github_review_requests", query, limit, sort="updated")

    async def _search(self, tool: str, query: str, limit: int, sort: Any = None) -> list[rec.Issue]:
        extra = {"sort": sort} if sort else {}
        async with self._api(tool) as rest:
            resp = await rest.search.async_issues_and_pull_requests(q=query, per_page=limit, **extra)
        return [rec.issue_record(item) for item in resp.parsed_data.items[:limit]]

    async def github_list(
        self,
        repo: Repo,
        kind: Kind = "any",
        state: Annotated[Literal["open", "closed", "all"], Field(description="Which state.")] = "open",
        limit: Limit = 30,
    ) -> list[rec.Issue]:
        """Issues and pull requests of a repository, most recently created first."""
        owner, name = repo.split("/")
        found: list[rec.Issue] = []
        async with self._api("github_list") as rest:
            pages: Any = self._client().paginate(
                rest.issues.async_list_for_repo, owner=owner, repo=name, state=state, per_page=100
            )
            seen = 0
            async for item in pages:
                record = rec.issue_record(item)
                if kind == "any" or record.is_pull_request == (kind == "pr"):
                    found.append(record)
                seen += 1
                if len(found) >= limit or seen >= MAX_PAGES * 100:
                    break
        return found

    async def github_get(self, repo: Repo, number: Number) -> rec.IssueDetail:
        """One issue or pull request with its body; a pull request also with its branches, merge state and size."""
        owner, name = repo.split("/")
        async with self._api("github_get") as rest:
            issue = (await rest.issues.async_get(owner=owner, repo=name, issue_number=number)).parsed_data
            pull = None
            if issue.pull_request:
                pull = (await rest.pulls.async_get(owner=owner, repo=name, pull_number=number)).parsed_data
        return rec.issue_detail(issue, pull)

    async def github_pr_diffstat(self, repo: Repo, number: Number) -> rec.DiffStat:
        """A pull request's size: lines added and deleted, in total and per file (first 100 files)."""
        owner, name = repo.split("/")
        async with self._api("github_pr_diffstat") as rest:
            pull = (await rest.pulls.async_get(owner=owner, repo=name, pull_number=number)).parsed_data
            files: list[Any] = (
                await rest.pulls.async_list_files(owner=owner, repo=name, pull_number=number, per_page=100)
            ).parsed_data
        return rec.DiffStat(
            repository=repo,
            number=number,
            additions=pull.additions,
            deletions=pull.deletions,
            changed_files=pull.changed_files,
            commits=pull.commits,
            files=[
                rec.FileStat(filename=f.filename, status=f.status, additions=f.additions, deletions=f.deletions)
                for f in files
            ],
            files_truncated=pull.changed_files > len(files),
        )

    async def github_pr_checks(self, repo: Repo, number: Number) -> rec.Checks:
        """A pull request's CI: its head commit's check runs and commit statuses, and one overall word."""
        owner, name = repo.split("/")
        async with self._api("github_pr_checks") as rest:
            pull = (await rest.pulls.async_get(owner=owner, repo=name, pull_number=number)).parsed_data
            sha = pull.head.sha
            runs = (await rest.checks.async_list_for_ref(owner=owner, repo=name, ref=sha, per_page=100)).parsed_data
            combined = (await rest.repos.async_get_combined_status_for_ref(owner=owner, repo=name, ref=sha)).parsed_data
        check_runs = [
            rec.CheckRunInfo(name=r.name, status=r.status, conclusion=r.conclusion, html_url=r.html_url)
            for r in runs.check_runs
        ]
        statuses = [
            rec.StatusInfo(context=s.context, state=s.state, description=s.description, target_url=s.target_url)
            for s in combined.statuses
        ]
        overall = rec.overall_state(check_runs, combined.state, len(statuses))
        return rec.Checks(
            repository=repo, number=number, head_sha=sha, overall=overall, check_runs=check_runs, statuses=statuses
        )

    # -- outbound (through the approval gate) ---------------------------------------------------

    async def github_comment(
        self,
        repo: Repo,
        number: Number,
        body: Annotated[str, Field(description="The comment, in GitHub Markdown.", max_length=MAX_BODY)],
    ) -> rec.Commented | rec.PendingApproval:
        """Comment on an issue or pull request. Returns the comment, or {"status": "pending_approval", ...} when commenting needs the user's approval."""
        if not body.strip():
            raise bad_argument("github_comment", "body", "must not be empty")
        summary = f"Comment on {repo}#{number}: {_preview(body)}"
        result = await self._guard("github_comment", {"repo": repo, "number": number, "body": body}, summary)
        return rec.PendingApproval(**result) if result["status"] == "pending_approval" else rec.Commented(**result)

    async def github_issue_create(
        self,
        repo: Repo,
        title: Annotated[str, Field(description="The issue's title.", min_length=1, max_length=256)],
        body: Annotated[str, Field(description="The issue's text, in GitHub Markdown.", max_length=MAX_BODY)] = "",
        labels: Annotated[
            list[str], Field(description="Labels to set (they must exist in the repository).", max_length=20)
        ] = [],  # noqa: B006 - pydantic copies defaults
    ) -> rec.Created | rec.PendingApproval:
        """Open a new issue. Returns it, or {"status": "pending_approval", ...} when creating needs the user's approval."""
        if not title.strip():
            raise bad_argument("github_issue_create", "title", "must not be empty")
        args = {"repo": repo, "title": title, "body": body, "labels": labels}
        result = await self._guard("github_issue_create", args, f"Open an issue in {repo}: {_preview(title)}")
        return rec.PendingApproval(**result) if result["status"] == "pending_approval" else rec.Created(**result)

    async def _guard(self, tool: str, args: dict[str, Any], summary: str) -> dict[str, Any]:
        return await self.ctx.approvals.run_or_hold(
            tool, args, require=tool in self.config.require_approval, summary=summary
        )

    async def run_comment(self, args: dict[str, Any]) -> dict[str, Any]:
        """The executor of github_comment (now, or once approved)."""
        owner, name = str(args["repo"]).split("/")
        async with self._api("github_comment") as rest:
            resp = await rest.issues.async_create_comment(
                owner=owner, repo=name, issue_number=int(args["number"]), body=str(args["body"])
            )
        comment = resp.parsed_data
        return {
            "status": "commented",
            "repository": args["repo"],
            "number": int(args["number"]),
            "comment_id": comment.id,
            "html_url": comment.html_url,
        }

    async def run_issue_create(self, args: dict[str, Any]) -> dict[str, Any]:
        """The executor of github_issue_create (now, or once approved)."""
        owner, name = str(args["repo"]).split("/")
        labels = [str(label) for label in args.get("labels") or []]
        async with self._api("github_issue_create") as rest:
            resp = await rest.issues.async_create(
                owner=owner, repo=name, title=str(args["title"]), body=str(args.get("body") or ""), labels=labels
            )
        issue = resp.parsed_data
        return {"status": "created", "repository": args["repo"], "number": issue.number, "html_url": issue.html_url}


def _with_kind(query: str, kind: str) -> str:
    return query if kind == "any" else f"{query} is:{kind}"


def _preview(text: str) -> str:
    return text if len(text) <= 200 else text[:200] + "..."
