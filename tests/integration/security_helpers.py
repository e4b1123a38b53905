"""Shared by the security tests: a module holding a gated `email_send` and a webhook, and a daemon folder."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from butlers.db import ServerAddress
from butlers.modules.base import Module, ModuleContext
from butlers.modules.loader import available_modules
from butlers.settings import Settings
from butlers.testing.ports import free_port


class OutboxModule(Module):
    """Stands in for a mail module: `email_send` goes through the approval gate; `/hooks/outbox` is a webhook."""

    name = "outbox"
    sent: ClassVar[list[dict[str, Any]]] = []
    hooks: ClassVar[list[str]] = []

    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        async def send(args: dict[str, Any]) -> dict[str, Any]:
            OutboxModule.sent.append(args)
            return {"message_id": f"<{len(OutboxModule.sent)}@test>"}

        assert ctx.approvals is not None
        ctx.approvals.register("email_send", send)

        @mcp.tool(name="email_send")
        async def email_send(to: str, subject: str, body: str) -> dict[str, Any]:
            """Send a mail (held for the user's approval)."""
            assert ctx.approvals is not None
            args = {"to": to, "subject": subject, "body": body}
            return await ctx.approvals.guard("email_send", args, require=True, summary=f"Mail {to}: {subject}")

        @mcp.custom_route("/hooks/outbox", methods=["POST"])
        async def hook(request: Request) -> Response:
            OutboxModule.hooks.append((await request.body()).decode())
            return JSONResponse({"ok": True})


REGISTRY: dict[str, type[Module]] = {**available_modules(), "outbox": OutboxModule}


def daemon_settings(root: Path, data: Path, pg: ServerAddress, **extra: Any) -> tuple[Settings, dict[str, int]]:
    """A folder with butlers alpha (notes, outbox) and beta (notes), uniquely named per call."""
    suffix = uuid.uuid4().hex[:6]
    ports = {"alpha": free_port(), "beta": free_port()}
    for short, port in ports.items():
        name = f"{short}-{suffix}"
        (root / name).mkdir(parents=True)
        extra_modules = "[modules.outbox]\n" if short == "alpha" else ""
        (root / name / "butler.toml").write_text(
            f'[butler]\nname = "{name}"\nport = {port}\n\n[modules.notes]\n{extra_modules}'
        )
    settings = Settings(
        dir=root,
        data_dir=data,
        postgres_host=pg.host,
        postgres_port=pg.port,
        postgres_user=pg.user,
        postgres_password=pg.password,
        drain_timeout_s=5,
        **extra,
    )
    return settings, ports


def names_by_short(root: Path) -> dict[str, str]:
    return {p.name.rsplit("-", 1)[0]: p.name for p in root.iterdir()}
