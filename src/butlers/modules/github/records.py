"""What the github tools return: typed records built from githubkit's models.

The tools never hand githubkit's models (hundreds of fields, API URLs) to the agent:
each record keeps what a person reads on the page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class Notification(BaseModel):
    thread_id: str
    repository: str
    type: str  # Issue, PullRequest, Release, CheckSuite, Discussion...
    title: str
    reason: str  # review_requested, mention, assign, subscribed...
    unread: bool
    updated_at: str
    subject_url: str | None  # the API URL of the issue/PR, if any


class Issue(BaseModel):
    """An issue or a pull request (GitHub lists both as issues)."""

    repository: str
    number: int
    title: str
    state: str
    is_pull_request: bool
    author: str | None
    labels: list[str]
    comments: int
    updated_at: str
    html_url: str


class PullDetail(BaseModel):
    draft: bool
    merged: bool
    mergeable: bool | None
    head_ref: str
    head_sha: str
    base_ref: str
    additions: int
    deletions: int
    changed_files: int


class IssueDetail(Issue):
    body: str | None
    created_at: str
    closed_at: str | None
    assignees: list[str]
    pull: PullDetail | None


class FileStat(BaseModel):
    filename: str
    status: str
    additions: int
    deletions: int


class DiffStat(BaseModel):
    repository: str
    number: int
    additions: int
    deletions: int
    changed_files: int
    commits: int
    files: list[FileStat]  # up to the first 100 files
    files_truncated: bool


class CheckRunInfo(BaseModel):
    name: str
    status: str  # queued, in_progress, completed...
    conclusion: str | None  # success, failure, neutral, cancelled, skipped, timed_out, action_required
    html_url: str | None


class StatusInfo(BaseModel):
    context: str
    state: str  # error, failure, pending, success
    description: str | None
    target_url: str | None


class Checks(BaseModel):
    repository: str
    number: int
    head_sha: str
    overall: Literal["success", "failure", "pending", "none"]
    check_runs: list[CheckRunInfo]
    statuses: list[StatusInfo]


class Marked(BaseModel):
    status: Literal["marked_read"]
    thread_id: str | None  # None: every notification up to now


class Commented(BaseModel):
    status: Literal["commented"]
    repository: str
    number: int
    comment_id: int
    html_url: str


class Created(BaseModel):
    status: Literal["created"]
    repository: str
    number: int
    html_url: str


class PendingApproval(BaseModel):
    status: Literal["pending_approval"]
    approval_id: str
    summary: str


def repo_of(api_url: str) -> str:
    """owner/name from an API URL such as https://api.github.com/repos/owner/name."""
    parts = api_url.rstrip("/").split("/")
    return f"{parts[-2]}/{parts[-1]}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _labels(labels: list[Any]) -> list[str]:
    names = [label if isinstance(label, str) else getattr(label, "name", None) for label in labels]
    return [n for n in names if isinstance(n, str) and n]


def issue_record(item: Any) -> Issue:
    """From githubkit's Issue or IssueSearchResultItem."""
    user = item.user
    return Issue(
        repository=repo_of(item.repository_url),
        number=item.number,
        title=item.title,
        state=str(item.state),
        is_pull_request=bool(getattr(item, "pull_request", None)),
        author=user.login if user else None,
        labels=_labels(item.labels),
        comments=item.comments,
        updated_at=item.updated_at.isoformat(),
        html_url=item.html_url,
    )


def issue_detail(item: Any, pull: Any | None) -> IssueDetail:
    """From githubkit's Issue and, for a pull request, its PullRequest."""
    assignees = [a.login for a in (item.assignees or []) if a is not None]
    return IssueDetail(
        **issue_record(item).model_dump(),
        body=item.body or None,
        created_at=item.created_at.isoformat(),
        closed_at=_iso(item.closed_at),
        assignees=assignees,
        pull=None if pull is None else pull_detail(pull),
    )


def pull_detail(pull: Any) -> PullDetail:
    return PullDetail(
        draft=bool(pull.draft),
        merged=bool(pull.merged),
        mergeable=pull.mergeable,
        head_ref=pull.head.ref,
        head_sha=pull.head.sha,
        base_ref=pull.base.ref,
        additions=pull.additions,
        deletions=pull.deletions,
        changed_files=pull.changed_files,
    )


def notification_record(thread: Any) -> Notification:
    """From githubkit's Thread."""
    return Notification(
        thread_id=str(thread.id),
        repository=thread.repository.full_name,
        type=thread.subject.type,
        title=thread.subject.title,
        reason=thread.reason,
        unread=thread.unread,
        updated_at=str(thread.updated_at),
        subject_url=thread.subject.url or None,
    )


def overall_state(
    runs: list[CheckRunInfo], combined: str, statuses: int
) -> Literal["success", "failure", "pending", "none"]:
    """One word for a PR's checks: any failure fails, anything unfinished is pending."""
    if not runs and not statuses:
        return "none"
    bad = {"failure", "timed_out", "cancelled", "action_required", "startup_failure"}
    if any(r.conclusion in bad for r in runs) or (statuses and combined in ("failure", "error")):
        return "failure"
    if any(r.status != "completed" for r in runs) or (statuses and combined == "pending"):
        return "pending"
    return "success"
