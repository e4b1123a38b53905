"""A local stand-in of GitHub's REST API, speaking its real HTTP protocol.

Serve it like any ASGI app and point a client's base URL at it (githubkit: `base_url`)::

    api = GitHubAPI(token="ghp_test")
    async with serve_asgi(api.app) as url:
        number = api.add_issue("octo/app", "Crash on start")
        api.add_notification("octo/app", number, reason="mention")
        ...   # [modules.github] api_base_url = url

What it speaks: token auth (`Authorization: token|Bearer <token>`, else 401 "Bad credentials");
`X-RateLimit-Limit/Remaining/Used/Reset/Resource` on every answer; `GET /notifications` with
`Last-Modified`, `If-Modified-Since` (304 when nothing changed, not counted against the
limit) and `X-Poll-Interval`; `page`/`per_page` with `Link` headers on lists; the routes in
`_routes` below. Knobs for tests: :meth:`rate_limit_next` (403 with `Retry-After`, a
secondary limit, or 403 with `X-RateLimit-Remaining: 0`, a primary one), :attr:`down`
(every request answers 503), and :meth:`deliver_webhook` (a signed POST as GitHub sends).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx
from githubkit.webhooks import sign
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from butlers.testing import github_payloads as shape
from butlers.testing.github_routes import routes

PARTICIPATING = {"assign", "author", "comment", "mention", "review_requested", "state_change", "team_mention"}


@dataclass
class Item:
    """An issue or pull request held by the stand-in."""

    repo: str
    number: int
    title: str
    body: str | None
    author: str
    pull: bool
    labels: list[str]
    state: str = "open"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    comments: list[dict[str, Any]] = field(default_factory=list)
    review_requested: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    head_ref: str = "feature"
    head_sha: str = ""
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Note:
    """A notification thread."""

    id: str
    repo: str
    title: str
    type: str
    reason: str
    number: int | None
    updated_at: datetime
    unread: bool = True


@dataclass(frozen=True)
class Seen:
    """One request the stand-in answered."""

    method: str
    path: str
    status: int
    if_modified_since: str | None
    api_version: str | None  # X-GitHub-Api-Version
    at: float  # time.monotonic()


class GitHubAPI:
    """GitHub's REST API for one user (one token), in memory."""

    def __init__(
        self, token: str = "ghp_standin", *, login: str = "octocat", poll_interval: int = 60, prefix: str = ""
    ) -> None:
        self.token = token
        self.prefix = prefix  # "/api/v3" as GitHub Enterprise Server serves it
        self.login = login
        self.poll_interval = poll_interval
        self.down = False
        self.limit = 5000
        self.remaining = 5000
        self.items: dict[tuple[str, int], Item] = {}
        self.notes: dict[str, Note] = {}
        self.requests: list[Seen] = []
        self.marked_read: list[str] = []  # thread ids, or "all"
        self._limited: list[tuple[str, int]] = []  # (kind, retry_after) for the next requests
        self._changed_at = datetime.now(UTC).replace(microsecond=0)
        self._next_thread = 1000
        self._next_comment = 5000
        self.app = Starlette(routes=[Mount(prefix, routes=routes(self))] if prefix else routes(self))

    # -- what tests use -------------------------------------------------------------------------

    def add_issue(self, repo: str, title: str, *, body: str | None = None, author: str = "hubot", pull: bool = False,
                  labels: list[str] | None = None, review_requested: list[str] | None = None) -> int:  # fmt: skip
        number = 1 + max((n for (r, n) in self.items if r == repo), default=0)
        item = Item(repo, number, title, body, author, pull, list(labels or []))
        item.review_requested = list(review_requested or [])
        item.head_sha = uuid.uuid5(uuid.NAMESPACE_URL, f"{repo}#{number}").hex + "00000000"
        self.items[(repo, number)] = item
        return number

    def set_pull_details(self, repo: str, number: int, *, files: list[dict[str, Any]] | None = None,
                         check_runs: list[dict[str, Any]] | None = None,
                         statuses: list[dict[str, Any]] | None = None) -> None:  # fmt: skip
        item = self.items[(repo, number)]
        item.files = list(files or item.files)
        item.check_runs = list(check_runs or item.check_runs)
        item.statuses = list(statuses or item.statuses)

    def add_notification(self, repo: str, number: int | None = None, *, reason: str = "subscribed") -> str:
        """A new unread thread (or new activity on the thread about the same issue): its thread id."""
        item = self.items.get((repo, number)) if number is not None else None
        existing = next((n for n in self.notes.values() if n.repo == repo and n.number == number), None)
        if existing is None:
            self._next_thread += 1
            kind = "PullRequest" if item and item.pull else "Issue" if item else "Release"
            existing = Note(str(self._next_thread), repo, item.title if item else f"{repo} release", kind, reason,
                            number, datetime.now(UTC))  # fmt: skip
            self.notes[existing.id] = existing
        existing.unread, existing.reason = True, reason
        existing.updated_at = self._changed()
        return existing.id

    def rate_limit_next(self, times: int = 1, *, retry_after: int = 1, kind: str = "secondary") -> None:
        """The next `times` requests are refused with 403 as GitHub does for a secondary or primary limit."""
        self._limited.extend([(kind, retry_after)] * times)

    def comments_on(self, repo: str, number: int) -> list[str]:
        return [c["body"] for c in self.items[(repo, number)].comments]

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    async def deliver_webhook(self, url: str, secret: str, event: str, payload: dict[str, Any],
                              delivery: str | None = None, signature: str | None = None,
                              client: httpx.AsyncClient | None = None) -> httpx.Response:  # fmt: skip
        """POST an event as GitHub does: the raw JSON body signed with HMAC-SHA256 of `secret`."""
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/standin",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": signature if signature is not None else sign(secret, body, "sha256"),
        }
        if client is not None:
            return await client.post(url, content=body, headers=headers)
        async with httpx.AsyncClient(timeout=10) as own:
            return await own.post(url, content=body, headers=headers)

    def event_payload(self, repo: str, number: int, *, action: str = "created", comment: str | None = None,
                      sender: str = "hubot") -> dict[str, Any]:  # fmt: skip
        """The payload of an `issue_comment` (with `comment`) or `issues`/`pull_request` event."""
        item = self.items[(repo, number)]
        payload: dict[str, Any] = {
            "action": action,
            "repository": shape.full_repo(self.base, repo),
            "sender": shape.user(self.base, sender),
            "pull_request" if item.pull and comment is None else "issue": shape.issue(self.base, item),
        }
        if comment is not None:
            payload["comment"] = shape.comment(self.base, repo, number, 1, comment, sender)
        return payload

    base = "http://github.invalid"  # URLs inside bodies; the client never follows them

    # -- protocol -------------------------------------------------------------------------------

    def _changed(self) -> datetime:
        # Last-Modified has whole seconds: every change moves it forward, so a 304 never hides one.
        self._changed_at = max(datetime.now(UTC).replace(microsecond=0), self._changed_at + timedelta(seconds=1))
        return self._changed_at

    def headers(self, resource: str = "core") -> dict[str, str]:
        reset = int(time.time()) + 3600
        used = self.limit - self.remaining
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Resource": resource,
            "X-GitHub-Request-Id": uuid.uuid4().hex[:16].upper(),
        }

    def refuse(self, request: Request) -> Response | None:
        """The answer for a request that does not get through (down, bad token, rate limited), else None."""
        if self.down:
            return JSONResponse({"message": "Service Unavailable"}, status_code=503)
        auth = request.headers.get("authorization", "")
        if auth not in (f"token {self.token}", f"Bearer {self.token}"):
            return _json({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, 401)
        if self._limited:
            kind, retry_after = self._limited.pop(0)
            return self._rate_limited(kind, retry_after)
        return None

    def _rate_limited(self, kind: str, retry_after: int) -> Response:
        headers = self.headers()
        if kind == "primary":
            headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + retry_after)})
            message = f"API rate limit exceeded for user ID 1. Resets in {retry_after} s."
        else:
            headers["Retry-After"] = str(retry_after)
            message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        body = {"message": message, "documentation_url": "https://docs.github.com/rest/overview/rate-limits"}
        return _json(body, 403, headers)

    def record(self, request: Request, status: int) -> None:
        since = request.headers.get("if-modified-since")
        version = request.headers.get("x-github-api-version")
        path = request.url.path.removeprefix(self.prefix)
        self.requests.append(Seen(request.method, path, status, since, version, time.monotonic()))
        if status not in (304, 503) and status < 500:
            self.remaining = max(0, self.remaining - 1)

    def notifications(self, request: Request) -> Response:
        since = request.headers.get("if-modified-since")
        headers = {**self.headers(), "X-Poll-Interval": str(self.poll_interval)}
        headers["Last-Modified"] = format_datetime(self._changed_at, usegmt=True)
        if since and _http_date(since) is not None and _http_date(since) >= self._changed_at:  # type: ignore[operator]
            return Response(status_code=304, headers=headers)
        query = request.query_params
        notes = [n for n in self.notes.values() if n.unread or query.get("all") == "true"]
        if query.get("participating") == "true":
            notes = [n for n in notes if n.reason in PARTICIPATING]
        notes.sort(key=lambda n: n.updated_at, reverse=True)
        body = [shape.thread(self.base, n, self.items.get((n.repo, n.number or 0))) for n in notes]
        return self.page(request, body, headers)

    def page(self, request: Request, body: list[Any], headers: dict[str, str] | None = None) -> Response:
        """One page of `body` by `page`/`per_page`, with the `Link` header GitHub sends."""
        per_page = min(int(request.query_params.get("per_page", 30)), 100)
        number = max(int(request.query_params.get("page", 1)), 1)
        chunk = body[(number - 1) * per_page : number * per_page]
        headers = dict(headers or self.headers())
        last = max(1, -(-len(body) // per_page))
        links = []
        if number < last:
            links.append(f'<{request.url.include_query_params(page=number + 1)}>; rel="next"')
            links.append(f'<{request.url.include_query_params(page=last)}>; rel="last"')
        if links:
            headers["Link"] = ", ".join(links)
        return _json(chunk, 200, headers)

    def mark_read(self, thread_id: str | None) -> None:
        for note in self.notes.values():
            if thread_id is None or note.id == thread_id:
                note.unread = False
        self.marked_read.append(thread_id or "all")
        self._changed()


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


def _http_date(value: str) -> datetime | None:
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
