"""GitHub notifications and webhook events → inbound messages, each stored once.

Polling follows GitHub's rules for `GET /notifications`: send the last `Last-Modified`
as `If-Modified-Since` (a 304 costs no rate limit and means nothing new) and never poll
sooner than `X-Poll-Interval` says. GitHub lists every unread thread on each 200, so a
thread's identity here is (thread id, updated_at): new activity on it arrives again, the
same state does not. A webhook event's identity is its `X-GitHub-Delivery` GUID, which a
redelivery keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from githubkit import GitHub

from butlers.core.inbound import InboundMessage
from butlers.modules.base import ModuleContext
from butlers.modules.github.config import GithubConfig

CHANNEL = "github"
PER_PAGE = 50
MAX_TEXT = 8_000  # characters of a comment/issue body copied into the message


@dataclass
class PollState:
    """What the poller knows between polls (kept in memory: after a restart one full read, deduplicated)."""

    last_modified: str | None = None
    interval_s: float = 60.0  # the wait before the next poll: max(config, X-Poll-Interval)
    polls: int = 0
    not_modified: int = 0
    last_poll_at: datetime | None = None


async def poll_notifications(gh: GitHub[Any], config: GithubConfig, state: PollState, ctx: ModuleContext) -> int:
    """One poll: store each new notification; returns how many were new. Raises on failure."""
    headers = {"If-Modified-Since": state.last_modified} if state.last_modified else None
    resp = await gh.rest(config.api_version).activity.async_list_notifications_for_authenticated_user(
        participating=config.participating_only, per_page=PER_PAGE, headers=headers
    )
    state.polls += 1
    state.last_poll_at = datetime.now(UTC)
    state.interval_s = max(config.poll_interval_s, _seconds(resp.headers.get("X-Poll-Interval")))
    if resp.status_code == 304:
        state.not_modified += 1
        return 0
    new = 0
    threads: list[Any] = resp.parsed_data
    for thread in reversed(threads):  # oldest first, as they happened
        if config.watches(thread.repository.full_name):
            new += await _store(ctx, notification_message(thread))
    # Only once every thread is stored: a failure above re-reads them all next time.
    state.last_modified = resp.headers.get("Last-Modified") or state.last_modified
    return new


def notification_message(thread: Any) -> InboundMessage:
    subject = thread.subject
    repo = thread.repository.full_name
    link = _html_url(subject.url, thread.repository.html_url) if subject.url else thread.repository.html_url
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"notification:{thread.id}:{thread.updated_at}",
        sender=f"github ({repo})",
        subject=f"{subject.type} in {repo}: {subject.title}",
        text=f'GitHub notification ({thread.reason}): {subject.type} "{subject.title}" in {repo}\n{link}',
        received_at=_time(str(thread.updated_at)),
        metadata={
            "kind": "notification",
            "thread_id": str(thread.id),
            "reason": thread.reason,
            "type": subject.type,
            "repository": repo,
            "subject_url": subject.url,
            "html_url": link,
            "updated_at": str(thread.updated_at),
        },
    )


def event_message(delivery: str, event: str, payload: dict[str, Any]) -> InboundMessage:
    """A webhook event as a message: who did what, where, with the text written."""
    repo = (payload.get("repository") or {}).get("full_name")
    action = payload.get("action")
    sender = (payload.get("sender") or {}).get("login") or "github"
    item = payload.get("pull_request") or payload.get("issue") or payload.get("check_suite") or {}
    number, title = item.get("number"), item.get("title") or item.get("head_branch")
    written = (payload.get("comment") or payload.get("review") or {}).get("body") or item.get("body") or ""
    url = (payload.get("comment") or payload.get("review") or {}).get("html_url") or item.get("html_url")
    where = f"{repo}#{number}" if number else (repo or "GitHub")
    headline = f"{event}{f' {action}' if action else ''} by @{sender} on {where}" + (f": {title}" if title else "")
    text = headline + (f"\n\n{written[:MAX_TEXT]}" if written else "") + (f"\n\n{url}" if url else "")
    return InboundMessage(
        channel=CHANNEL,
        external_id=f"delivery:{delivery}",
        sender=f"@{sender}",
        subject=headline[:300],
        text=text,
        received_at=datetime.now(UTC),
        metadata={
            "kind": "webhook",
            "event": event,
            "action": action,
            "delivery": delivery,
            "repository": repo,
            "number": number,
            "html_url": url,
        },
    )


async def store_event(ctx: ModuleContext, msg: InboundMessage) -> bool:
    """Store one message (once per external id); True if it was new."""
    return bool(await _store(ctx, msg))


async def _store(ctx: ModuleContext, msg: InboundMessage) -> int:
    if ctx.inbound is None:
        ctx.log.warning("github.no_inbound_log", external_id=msg.external_id)
        return 0
    _, created = await ctx.inbound.receive(msg)
    return int(created)


def _html_url(api_url: str, repo_html: str) -> str:
    """The page of an issue/PR from its API URL (…/repos/o/r/pulls/7 → <repo page>/pull/7)."""
    tail = api_url.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-1].isdigit():
        kind = {"pulls": "pull", "issues": "issues"}.get(tail[-2])
        if kind:
            return f"{repo_html}/{kind}/{tail[-1]}"
    return repo_html


def _seconds(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
