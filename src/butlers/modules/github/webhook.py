"""The webhook route: GitHub posts events to the butler's HTTP port.

Each request must carry `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the
webhook secret>` (checked by githubkit's `verify`, in constant time); anything else is
answered 401 and nothing is stored. An accepted event is stored before the 2xx answer, so
a failure answers 500 and GitHub's redelivery (same `X-GitHub-Delivery`) stores it once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from githubkit.webhooks import verify
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from butlers.modules.base import ModuleContext
from butlers.modules.github.inbound import event_message, store_event

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from butlers.modules.github import GithubModule

SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


def register_webhook(mcp: FastMCP, ctx: ModuleContext, module: GithubModule) -> None:
    hook = module.config.webhook
    secret = hook.secret or ""

    @mcp.custom_route(hook.path, methods=["POST"], name="github_webhook", include_in_schema=False)
    async def github_webhook(request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if (
            not secret
            or len(body) > MAX_BODY
            or not signature.startswith("sha256=")
            or not verify(secret, body, signature)
        ):
            module.deliveries["refused"] += 1
            ctx.log.warning("github.webhook_refused", client=request.client.host if request.client else None)
            return JSONResponse({"error": "bad or missing X-Hub-Signature-256"}, status_code=401)
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not event or not delivery or not isinstance(payload, dict):
            return JSONResponse({"error": "not a GitHub webhook delivery"}, status_code=400)
        repo = (payload.get("repository") or {}).get("full_name")
        if event not in hook.events or not module.config.watches(repo):
            module.deliveries["ignored"] += 1  # ping, unwanted events and repositories: acknowledged
            return JSONResponse({"outcome": "ignored", "event": event})
        created = await store_event(ctx, event_message(delivery, event, payload))
        outcome = "accepted" if created else "duplicate"
        module.deliveries[outcome] += 1
        module.received += int(created)
        return JSONResponse({"outcome": outcome}, status_code=202 if created else 200)
