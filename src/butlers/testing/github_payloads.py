"""JSON bodies shaped as GitHub's REST API answers them, for the stand-in in `github_api`.

Every field githubkit's models require is present (its pydantic models refuse a body
that lacks one), with values of the right type; URLs point at the stand-in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_USER_URLS = (
    "followers",
    "following",
    "gists",
    "starred",
    "subscriptions",
    "organizations",
    "repos",
    "events",
    "received_events",
)
_REPO_URLS = [
    "archive",
    "assignees",
    "blobs",
    "branches",
    "collaborators",
    "comments",
    "commits",
    "compare",
    "contents",
    "contributors",
    "deployments",
    "downloads",
    "events",
    "forks",
    "git_commits",
    "git_refs",
    "git_tags",
    "issue_comment",
    "issue_events",
    "issues",
    "keys",
    "labels",
    "languages",
    "merges",
    "milestones",
    "notifications",
    "pulls",
    "releases",
    "stargazers",
    "statuses",
    "subscribers",
    "subscription",
    "tags",
    "teams",
    "trees",
    "hooks",
]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(text: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(text)) % 10_000_000 + 1


def user(api: str, login: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "login": login,
        "id": _id(login),
        "node_id": f"U_{login}",
        "avatar_url": f"{api}/avatars/{login}",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{api}/html/{login}",
        "type": "User",
        "site_admin": False,
    }
    body.update({f"{name}_url": f"{api}/users/{login}/{name}" for name in _USER_URLS})
    return body


def minimal_repo(api: str, full_name: str) -> dict[str, Any]:
    owner, name = full_name.split("/")
    url = f"{api}/repos/{full_name}"
    body: dict[str, Any] = {
        "id": _id(full_name),
        "node_id": f"R_{full_name}",
        "name": name,
        "full_name": full_name,
        "owner": user(api, owner),
        "private": False,
        "html_url": f"{api}/html/{full_name}",
        "description": None,
        "fork": False,
        "url": url,
    }
    body.update({f"{key}_url": f"{url}/{key}" for key in _REPO_URLS})
    return body


def full_repo(api: str, full_name: str) -> dict[str, Any]:
    now = iso(datetime.now(UTC))
    return {
        **minimal_repo(api, full_name),
        "license": None,
        "forks": 0,
        "git_url": f"git://example.invalid/{full_name}.git",
        "ssh_url": f"git@example.invalid:{full_name}.git",
        "clone_url": f"{api}/html/{full_name}.git",
        "svn_url": f"{api}/html/{full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 1,
        "default_branch": "main",
        "open_issues_count": 0,
        "has_pages": False,
        "disabled": False,
        "pushed_at": now,
        "created_at": now,
        "updated_at": now,
        "open_issues": 0,
        "watchers": 0,
    }


def issue(api: str, item: Any) -> dict[str, Any]:
    """An issue (or a pull request seen as an issue) from the stand-in's record `item`."""
    url = f"{api}/repos/{item.repo}/issues/{item.number}"
    body: dict[str, Any] = {
        "id": _id(f"{item.repo}#{item.number}"),
        "node_id": f"I_{item.repo}_{item.number}",
        "url": url,
        "repository_url": f"{api}/repos/{item.repo}",
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": f"{api}/html/{item.repo}/{'pull' if item.pull else 'issues'}/{item.number}",
        "number": item.number,
        "state": item.state,
        "title": item.title,
        "body": item.body,
        "user": user(api, item.author),
        "labels": [label(api, item.repo, name) for name in item.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "comments": len(item.comments),
        "closed_at": None,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "author_association": "OWNER",
    }
    if item.pull:
        body["pull_request"] = {
            "url": f"{api}/repos/{item.repo}/pulls/{item.number}",
            "html_url": body["html_url"],
            "diff_url": f"{body['html_url']}.diff",
            "patch_url": f"{body['html_url']}.patch",
            "merged_at": None,
        }
    return body


def search_item(api: str, item: Any) -> dict[str, Any]:
    return {**issue(api, item), "score": 1.0}


def label(api: str, repo: str, name: str) -> dict[str, Any]:
    return {
        "id": _id(f"{repo}:{name}"),
        "node_id": f"L_{name}",
        "url": f"{api}/repos/{repo}/labels/{name}",
        "name": name,
        "description": None,
        "color": "ededed",
        "default": False,
        "archived_by": None,
    }


def _branch(api: str, repo: str, ref: str, sha: str, owner: str) -> dict[str, Any]:
    return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "repo": full_repo(api, repo), "user": user(api, owner)}


def pull(api: str, item: Any) -> dict[str, Any]:
    """A pull request from the stand-in's record `item`."""
    seen_as_issue = issue(api, item)
    url = f"{api}/repos/{item.repo}/pulls/{item.number}"
    owner = item.repo.split("/")[0]
    links = {"self": url, "html": seen_as_issue["html_url"], "issue": seen_as_issue["url"]}
    links.update(comments=f"{seen_as_issue['url']}/comments", commits=f"{url}/commits", statuses=f"{url}/statuses")
    links.update(review_comments=f"{url}/comments", review_comment=f"{url}/comments{{/number}}")
    return {
        **{k: seen_as_issue[k] for k in ("id", "node_id", "html_url", "number", "state", "locked", "title", "user")},
        **{k: seen_as_issue[k] for k in ("body", "labels", "milestone", "created_at", "updated_at", "closed_at")},
        **{k: seen_as_issue[k] for k in ("assignee", "assignees", "author_association", "comments")},
        "url": url,
        "diff_url": f"{seen_as_issue['html_url']}.diff",
        "patch_url": f"{seen_as_issue['html_url']}.patch",
        "issue_url": seen_as_issue["url"],
        "commits_url": f"{url}/commits",
        "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api}/repos/{item.repo}/pulls/comments{{/number}}",
        "comments_url": seen_as_issue["comments_url"],
        "statuses_url": f"{api}/repos/{item.repo}/statuses/{item.head_sha}",
        "merged_at": None,
        "merge_commit_sha": None,
        "head": _branch(api, item.repo, item.head_ref, item.head_sha, owner),
        "base": _branch(api, item.repo, "main", "0" * 40, owner),
        "_links": {key: {"href": href} for key, href in links.items()},
        "auto_merge": None,
        "draft": False,
        "merged": False,
        "mergeable": True,
        "mergeable_state": "clean",
        "merged_by": None,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": max(1, len(item.files)),
        "additions": sum(f["additions"] for f in item.files),
        "deletions": sum(f["deletions"] for f in item.files),
        "changed_files": len(item.files),
    }


def diff_entry(api: str, repo: str, sha: str, stat: dict[str, Any]) -> dict[str, Any]:
    name = stat["filename"]
    return {
        "sha": _id(name).__format__("040x"),
        "filename": name,
        "status": stat.get("status", "modified"),
        "additions": stat["additions"],
        "deletions": stat["deletions"],
        "changes": stat["additions"] + stat["deletions"],
        "blob_url": f"{api}/html/{repo}/blob/{sha}/{name}",
        "raw_url": f"{api}/html/{repo}/raw/{sha}/{name}",
        "contents_url": f"{api}/repos/{repo}/contents/{name}?ref={sha}",
    }


def check_run(api: str, repo: str, sha: str, index: int, run: dict[str, Any]) -> dict[str, Any]:
    now = iso(datetime.now(UTC))
    done = run["status"] == "completed"
    return {
        "id": index + 1,
        "head_sha": sha,
        "node_id": f"CR_{index}",
        "external_id": "",
        "url": f"{api}/repos/{repo}/check-runs/{index + 1}",
        "html_url": f"{api}/html/{repo}/runs/{index + 1}",
        "details_url": None,
        "status": run["status"],
        "conclusion": run.get("conclusion") if done else None,
        "started_at": now,
        "completed_at": now if done else None,
        "output": {"title": None, "summary": None, "text": None, "annotations_count": 0, "annotations_url": ""},
        "name": run["name"],
        "check_suite": {"id": 1},
        "app": None,
        "pull_requests": [],
    }


def combined_status(api: str, repo: str, sha: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    now = iso(datetime.now(UTC))
    states = [s["state"] for s in statuses]
    state = (
        "failure"
        if {"failure", "error"} & set(states)
        else "pending"
        if "pending" in states or not states
        else "success"
    )
    items = [
        {
            "description": s.get("description"),
            "id": i + 1,
            "node_id": f"S_{i}",
            "state": s["state"],
            "context": s["context"],
            "target_url": s.get("target_url"),
            "avatar_url": None,
            "url": f"{api}/repos/{repo}/statuses/{sha}",
            "created_at": now,
            "updated_at": now,
        }
        for i, s in enumerate(statuses)
    ]
    return {
        "state": state,
        "statuses": items,
        "sha": sha,
        "total_count": len(items),
        "repository": minimal_repo(api, repo),
        "commit_url": f"{api}/repos/{repo}/commits/{sha}",
        "url": f"{api}/repos/{repo}/commits/{sha}/status",
    }


def thread(api: str, note: Any, item: Any | None) -> dict[str, Any]:
    """A notification thread from the stand-in's record `note` (and the issue/PR it is about)."""
    subject_url = f"{api}/repos/{note.repo}/releases/1"  # a thread about no issue: a release
    if item is not None:
        subject_url = f"{api}/repos/{item.repo}/{'pulls' if item.pull else 'issues'}/{item.number}"
    return {
        "id": note.id,
        "repository": minimal_repo(api, note.repo),
        "subject": {
            "title": note.title,
            "url": subject_url,
            "latest_comment_url": subject_url,
            "type": note.type,
        },
        "reason": note.reason,
        "unread": note.unread,
        "updated_at": iso(note.updated_at),
        "last_read_at": None,
        "url": f"{api}/notifications/threads/{note.id}",
        "subscription_url": f"{api}/notifications/threads/{note.id}/subscription",
    }


def comment(api: str, repo: str, number: int, comment_id: int, body: str, author: str) -> dict[str, Any]:
    now = iso(datetime.now(UTC))
    return {
        "id": comment_id,
        "node_id": f"IC_{comment_id}",
        "url": f"{api}/repos/{repo}/issues/comments/{comment_id}",
        "html_url": f"{api}/html/{repo}/issues/{number}#issuecomment-{comment_id}",
        "body": body,
        "user": user(api, author),
        "created_at": now,
        "updated_at": now,
        "issue_url": f"{api}/repos/{repo}/issues/{number}",
        "author_association": "OWNER",
    }


def rate_limit(limit: int, remaining: int, reset: int) -> dict[str, Any]:
    core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
    search = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
    return {"resources": {"core": core, "search": search}, "rate": core}
