"""The routes of the GitHub stand-in (`github_api.GitHubAPI`): one small handler per endpoint."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from butlers.testing import github_payloads as shape

if TYPE_CHECKING:
    from butlers.testing.github_api import GitHubAPI, Item

Handler = Callable[[Request], Awaitable[Response]]
REPO = "/repos/{owner}/{repo}"


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


def _not_found(api: GitHubAPI) -> Response:
    return _json({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}, 404, api.headers())


def _item(api: GitHubAPI, request: Request, key: str = "number") -> Item | None:
    p = request.path_params
    return api.items.get((f"{p['owner']}/{p['repo']}", int(p[key])))


def _search_matches(api: GitHubAPI, item: Item, terms: list[str]) -> bool:
    for term in terms:
        key, _, value = term.partition(":")
        ok = (
            {
                "is": lambda v: (
                    v == ("pr" if item.pull else "issue")
                    or v == item.state
                    or v not in ("pr", "issue", "open", "closed")
                ),
                "repo": lambda v: item.repo.lower() == v.lower(),
                "author": lambda v: item.author == (api.login if v == "@me" else v),
                "review-requested": lambda v: (api.login if v == "@me" else v) in item.review_requested,
                "label": lambda v: v in item.labels,
                "archived": lambda v: True,
            }.get(key)
            if value
            else None
        )
        if ok is not None:
            if not ok(value):
                return False
        elif term.lower() not in f"{item.title} {item.body or ''}".lower():
            return False
    return True


class _Endpoints:
    """The stand-in's handlers, one method an endpoint, over one GitHubAPI's state."""

    def __init__(self, api: GitHubAPI) -> None:
        self.api = api

    async def rate_limit(self, request: Request) -> Response:
        body = shape.rate_limit(self.api.limit, self.api.remaining, int(time.time()) + 3600)
        return _json(body, 200, self.api.headers())

    async def notifications(self, request: Request) -> Response:
        return self.api.notifications(request)

    async def mark_all(self, request: Request) -> Response:
        self.api.mark_read(None)
        return Response(status_code=205, headers=self.api.headers())

    async def mark_thread(self, request: Request) -> Response:
        thread_id = request.path_params["thread_id"]
        if thread_id not in self.api.notes:
            return _not_found(self.api)
        self.api.mark_read(thread_id)
        return Response(status_code=205, headers=self.api.headers())

    async def search(self, request: Request) -> Response:
        query = request.query_params.get("q", "")
        if not query.strip():
            return _json(
                {"message": "Validation Failed", "errors": [{"field": "q", "code": "missing"}]}, 422, self.api.headers()
            )
        terms = re.findall(r"\S+", query)
        found = [i for i in self.api.items.values() if _search_matches(self.api, i, terms)]
        found.sort(key=lambda i: i.updated_at, reverse=True)
        per_page = min(int(request.query_params.get("per_page", 30)), 100)
        items = [shape.search_item(self.api.base, i) for i in found[:per_page]]
        body = {"total_count": len(found), "incomplete_results": False, "items": items, "search_type": "lexical"}
        return _json(body, 200, self.api.headers("search"))

    async def list_issues(self, request: Request) -> Response:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        state = request.query_params.get("state", "open")
        found = [i for (r, _), i in self.api.items.items() if r == repo and state in ("all", i.state)]
        found.sort(key=lambda i: i.number, reverse=True)
        return self.api.page(request, [shape.issue(self.api.base, i) for i in found])

    async def create_issue(self, request: Request) -> Response:
        data = json.loads(await request.body() or b"{}")
        if not str(data.get("title") or "").strip():
            return _json(
                {"message": "Validation Failed", "errors": [{"field": "title", "code": "missing_field"}]},
                422,
                self.api.headers(),
            )
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        number = self.api.add_issue(
            repo, str(data["title"]), body=data.get("body"), author=self.api.login, labels=data.get("labels")
        )
        return _json(shape.issue(self.api.base, self.api.items[(repo, number)]), 201, self.api.headers())

    async def get_issue(self, request: Request) -> Response:
        item = _item(self.api, request)
        return _json(shape.issue(self.api.base, item), 200, self.api.headers()) if item else _not_found(self.api)

    async def create_comment(self, request: Request) -> Response:
        item = _item(self.api, request)
        if item is None:
            return _not_found(self.api)
        body = str(json.loads(await request.body() or b"{}").get("body") or "")
        if not body:
            return _json(
                {"message": "Validation Failed", "errors": [{"field": "body", "code": "missing_field"}]},
                422,
                self.api.headers(),
            )
        self.api._next_comment += 1
        comment = shape.comment(self.api.base, item.repo, item.number, self.api._next_comment, body, self.api.login)
        item.comments.append(comment)
        item.updated_at = datetime.now(UTC)
        return _json(comment, 201, self.api.headers())

    async def get_pull(self, request: Request) -> Response:
        item = _item(self.api, request)
        return (
            _json(shape.pull(self.api.base, item), 200, self.api.headers())
            if item and item.pull
            else _not_found(self.api)
        )

    async def pull_files(self, request: Request) -> Response:
        item = _item(self.api, request)
        if item is None or not item.pull:
            return _not_found(self.api)
        return self.api.page(
            request, [shape.diff_entry(self.api.base, item.repo, item.head_sha, f) for f in item.files]
        )

    def _by_sha(self, request: Request) -> Item | None:
        repo = f"{request.path_params['owner']}/{request.path_params['repo']}"
        ref = request.path_params["ref"]
        return next((i for i in self.api.items.values() if i.repo == repo and ref in (i.head_sha, i.head_ref)), None)

    async def check_runs(self, request: Request) -> Response:
        item = self._by_sha(request)
        runs = (
            [shape.check_run(self.api.base, item.repo, item.head_sha, n, r) for n, r in enumerate(item.check_runs)]
            if item
            else []
        )
        return _json({"total_count": len(runs), "check_runs": runs}, 200, self.api.headers())

    async def status(self, request: Request) -> Response:
        item = self._by_sha(request)
        if item is None:
            return _not_found(self.api)
        return _json(
            shape.combined_status(self.api.base, item.repo, item.head_sha, item.statuses), 200, self.api.headers()
        )


def routes(api: GitHubAPI) -> list[Route]:
    """Every endpoint the stand-in answers; each passes `api.refuse` first and is recorded."""

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            response = api.refuse(request) or await handler(request)
            api.record(request, response.status_code)
            return response

        return endpoint

    ep = _Endpoints(api)
    table: list[tuple[str, Handler, list[str]]] = [
        ("/rate_limit", ep.rate_limit, ["GET"]),
        ("/notifications", ep.notifications, ["GET"]),
        ("/notifications", ep.mark_all, ["PUT"]),
        ("/notifications/threads/{thread_id}", ep.mark_thread, ["PATCH"]),
        ("/search/issues", ep.search, ["GET"]),
        (f"{REPO}/issues", ep.list_issues, ["GET"]),
        (f"{REPO}/issues", ep.create_issue, ["POST"]),
        (f"{REPO}/issues/{{number:int}}", ep.get_issue, ["GET"]),
        (f"{REPO}/issues/{{number:int}}/comments", ep.create_comment, ["POST"]),
        (f"{REPO}/pulls/{{number:int}}", ep.get_pull, ["GET"]),
        (f"{REPO}/pulls/{{number:int}}/files", ep.pull_files, ["GET"]),
        (f"{REPO}/commits/{{ref}}/check-runs", ep.check_runs, ["GET"]),
        (f"{REPO}/commits/{{ref}}/status", ep.status, ["GET"]),
    ]
    return [Route(path, guarded(handler), methods=methods) for path, handler, methods in table]
