"""The githubkit client the module uses, and what it learns about GitHub's rate limits.

githubkit does the HTTP, the JSON models and the waiting on a rate limit (its `auto_retry`
hook sleeps for `Retry-After` or until `X-RateLimit-Reset`, primary and secondary limits,
403 and 429). This file only decides how long a wait is acceptable and records what every
response says about the limits, for the `status` tool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from githubkit import GitHub, TokenAuthStrategy
from githubkit.exception import GitHubException, PrimaryRateLimitExceeded, RateLimitExceeded
from githubkit.retry import RetryServerError
from githubkit.typing import RetryOption

from butlers.modules.github.config import GithubConfig

USER_AGENT = "butlers-github-module"
MAX_RATE_LIMIT_RETRIES = 3


@dataclass
class RateLimitState:
    """What GitHub's headers said last, per resource (`core`, `search`...), and the backoffs so far."""

    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    limited: int = 0  # 403/429 rate-limit answers seen
    backing_off_until: datetime | None = None
    last_limit: str | None = None  # "primary" or "secondary", with its Retry-After

    def observe(self, headers: httpx.Headers) -> None:
        """Read `X-RateLimit-*` of one response."""
        remaining = headers.get("x-ratelimit-remaining")
        if remaining is None:
            return
        resource = headers.get("x-ratelimit-resource", "core")
        self.resources[resource] = {
            "limit": _int(headers.get("x-ratelimit-limit")),
            "remaining": _int(remaining),
            "used": _int(headers.get("x-ratelimit-used")),
            "reset": _epoch(headers.get("x-ratelimit-reset")),
        }

    def note_limited(self, exc: RateLimitExceeded) -> None:
        self.limited += 1
        self.backing_off_until = datetime.now(UTC) + exc.retry_after
        kind = "primary" if isinstance(exc, PrimaryRateLimitExceeded) else "secondary"
        self.last_limit = f"{kind}: HTTP {exc.response.status_code}, retry after {exc.retry_after.total_seconds():g} s"

    def summary(self) -> dict[str, Any]:
        until = self.backing_off_until
        waiting = until is not None and until > datetime.now(UTC)
        return {
            "resources": self.resources,
            "rate_limited": self.limited,
            "last_limit": self.last_limit,
            "backing_off_until": until.isoformat() if waiting and until else None,
        }


class RateLimitBackoff:
    """githubkit's retry decision: wait out a rate limit (up to `max_wait`), retry 5xx once."""

    def __init__(self, state: RateLimitState, max_wait: timedelta) -> None:
        self.state = state
        self.max_wait = max_wait
        self._server_error = RetryServerError(max_retry=1)

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        if isinstance(exc, RateLimitExceeded):
            self.state.note_limited(exc)
            if retry_count < MAX_RATE_LIMIT_RETRIES and exc.retry_after <= self.max_wait:
                return RetryOption(True, exc.retry_after)
            return RetryOption(False)
        return self._server_error(exc, retry_count)


class SharedTransport(httpx.AsyncBaseTransport):
    """One connection pool for the module's lifetime.

    githubkit opens and closes an httpx client per request outside `async with github:`
    (whose client lives in a context variable, invisible to other tasks); closing that
    client closes its transport, so this one ignores `aclose` and is closed by `close_pool`.
    """

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Kept open: the module closes the pool at shutdown."""

    async def close_pool(self) -> None:
        await self._inner.aclose()


def make_client(
    token: str, config: GithubConfig, state: RateLimitState, transport: SharedTransport, *, retry: bool = True
) -> GitHub[TokenAuthStrategy]:
    """A client of `config.api_base_url`; `retry=False` for health probes, which must answer at once."""

    async def observe(response: httpx.Response) -> None:
        state.observe(response.headers)

    return GitHub(
        TokenAuthStrategy(token),
        base_url=f"{config.api_base_url}/",
        user_agent=USER_AGENT,
        timeout=config.timeout_s,
        async_transport=transport,
        async_event_hooks={"response": [observe]},
        http_cache=False,  # the poller sends If-Modified-Since itself and must see the 304
        auto_retry=RateLimitBackoff(state, timedelta(seconds=config.max_rate_limit_wait_s)) if retry else False,
    )


def describe_error(exc: BaseException) -> str:
    """A short, token-free description of a failed call."""
    if isinstance(exc, RateLimitExceeded):
        return f"rate limited by GitHub (HTTP {exc.response.status_code}); retry after {exc.retry_after}"
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "status_code"):
        message = ""
        try:
            body = response.json()
            message = body.get("message", "") if isinstance(body, dict) else ""
        except Exception:
            message = ""
        return f"GitHub answered HTTP {response.status_code}" + (f": {message}" if message else "")
    inner = getattr(exc, "exc", None)
    cause = inner if isinstance(inner, BaseException) else exc
    text = str(cause)
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _epoch(value: str | None) -> str | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None
