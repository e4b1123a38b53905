"""The `github` module: notifications, issues and pull requests through githubkit.

Notifications (polled, honouring `If-Modified-Since` and `X-Poll-Interval`) or webhook
events (a route on the butler's HTTP port, `X-Hub-Signature-256` checked) become inbound
messages, once each. Tools read notifications, issues and pull requests (diff stat,
checks) and write comments and issues, those two through the approval gate when asked.
Rate limits are waited out (githubkit's retry, bounded by `max_rate_limit_wait_s`) and
shown by `status`.

    [modules.github]
    api_base_url = "https://api.github.com"     # GitHub Enterprise: https://HOST/api/v3
    inbound = "polling"                         # or "webhook" / "off"
    require_approval = ["github_comment", "github_issue_create"]

The token comes from the environment variable BUTLER_GITHUB_TOKEN.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from githubkit import GitHub

from butlers.errors import ModuleError
from butlers.modules.base import Module, ModuleContext
from butlers.modules.github.client import RateLimitState, SharedTransport, describe_error, make_client
from butlers.modules.github.config import OUTBOUND_TOOLS, TOKEN_ENV, GithubConfig
from butlers.modules.github.inbound import PollState, poll_notifications
from butlers.modules.github.tools import GithubTools
from butlers.modules.github.webhook import register_webhook

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["OUTBOUND_TOOLS", "TOKEN_ENV", "GithubConfig", "GithubModule"]

HEALTH_TIMEOUT_S = 5.0
MAX_ERROR_BACKOFF_S = 300.0


class GithubModule(Module[GithubConfig]):
    """GitHub for a butler: what needs you arrives; the butler can read and (with approval) write."""

    name = "github"
    config_schema = GithubConfig
    credentials_env = (TOKEN_ENV,)

    def __init__(self, config: GithubConfig) -> None:
        super().__init__(config)
        self.rate = RateLimitState()
        self.poll = PollState(interval_s=config.poll_interval_s)
        self.received = 0  # notifications/events newly stored
        self.deliveries = {"accepted": 0, "duplicate": 0, "ignored": 0, "refused": 0}
        self._transport: SharedTransport | None = None
        self._gh: GitHub[Any] | None = None
        self._probe: GitHub[Any] | None = None  # no retries: health answers at once
        self._loop_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def on_startup(self, ctx: ModuleContext) -> None:
        token = ctx.credentials.get(TOKEN_ENV)
        if not token:
            raise ModuleError(
                f"module 'github': environment variable {TOKEN_ENV} is not set"
                " (a personal access token; docs/modules/github.md says which scopes)"
            )
        self._transport = SharedTransport()
        self._gh = make_client(token, self.config, self.rate, self._transport)
        self._probe = make_client(token, self.config, self.rate, self._transport, retry=False)

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Poll notifications until cancelled (inbound = "polling"); nothing to run otherwise."""
        self.client()  # on_startup made it
        task_status.started()  # ready at once: an unreachable API is retried, shown by health()
        if self.config.inbound == "polling":
            await self._poll_forever(ctx)

    async def on_shutdown(self, ctx: ModuleContext) -> None:
        if self._transport is not None:
            await self._transport.close_pool()
        self._transport = self._gh = self._probe = None

    def client(self) -> GitHub[Any]:
        if self._gh is None:
            raise ModuleError("module 'github' is not started (on_startup has not run)")
        return self._gh

    async def _poll_forever(self, ctx: ModuleContext) -> None:
        backoff = 1.0
        while True:
            try:
                self.received += await poll_notifications(self.client(), self.config, self.poll, ctx)
            except Exception as exc:  # shown by health, retried: serve must not die on a bad hour
                self._loop_error = f"polling notifications failed: {describe_error(exc)}"
                ctx.log.warning("github.poll_failed", error=self._loop_error, retry_in_s=backoff)
                await anyio.sleep(max(backoff, self._rate_wait()))
                backoff = min(backoff * 2, MAX_ERROR_BACKOFF_S)
                continue
            self._loop_error = None
            backoff = 1.0
            await anyio.sleep(self.poll.interval_s)  # GitHub's X-Poll-Interval, or more

    def _rate_wait(self) -> float:
        """Seconds until a rate limit we hit ends (0 if none): polling again sooner only fails again."""
        until = self.rate.backing_off_until
        if until is None:
            return 0.0
        return max(0.0, (until - datetime.now(UTC)).total_seconds())

    # -- tools ----------------------------------------------------------------------------------

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        GithubTools(self.config, ctx, self.client).register(mcp)
        if self.config.inbound == "webhook":
            register_webhook(mcp, ctx, self)

    # -- health ---------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "api": self.config.api_base_url,
            "inbound": self.config.inbound,
            "received": self.received,
        }
        if self.config.inbound == "polling":
            info["polling"] = {
                "polls": self.poll.polls,
                "not_modified": self.poll.not_modified,
                "interval_s": self.poll.interval_s,
                "last_poll_at": self.poll.last_poll_at.isoformat() if self.poll.last_poll_at else None,
            }
        if self.config.inbound == "webhook":
            info["deliveries"] = dict(self.deliveries)
        if self._probe is None:
            return {"ok": False, "error": "not started", "rate_limit": self.rate.summary(), **info}
        error = await self._probe_api()
        info["rate_limit"] = self.rate.summary()
        if error is None:
            error = self._loop_error
        return {"ok": False, "error": error, **info} if error else {"ok": True, **info}

    async def _probe_api(self) -> str | None:
        """GET /rate_limit: free (it does not count against the limit) and says where the limits stand."""
        assert self._probe is not None
        try:
            with anyio.fail_after(HEALTH_TIMEOUT_S):
                resp = await self._probe.rest(self.config.api_version).rate_limit.async_get()
        except Exception as exc:
            return f"GitHub API at {self.config.api_base_url} unreachable: {describe_error(exc)}"
        for name, limit in (("core", resp.parsed_data.resources.core), ("search", resp.parsed_data.resources.search)):
            self.rate.resources.setdefault(name, {}).update(
                limit=limit.limit, remaining=limit.remaining, used=limit.used, reset=_iso_epoch(limit.reset)
            )
        return None


def _iso_epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()
