"""A page's routes: each HTML route has an `/api/` twin at the same path under `/api`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Endpoint = Callable[[Request], Awaitable[Response]]


def with_api(path: str, endpoint: Endpoint, api: Endpoint | None = None, *, post: bool = False) -> list[Route]:
    """The route of `path` and its `/api` twin (served by `api`, or by `endpoint` when it answers both)."""
    methods = ["POST"] if post else None
    return [Route(path, endpoint, methods=methods), Route("/api" + path, api or endpoint, methods=methods)]
