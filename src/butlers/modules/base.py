"""The `Module` ABC: what a module declares and the lifecycle hooks it gets.

A module is found by name (built in, or through the `butlers.modules` entry-point
group), configured from `[modules.<name>]` of butler.toml through its
`config_schema`, started after its `dependencies`, and stopped in reverse order.

Lifecycle, in the butler's order: `on_startup` (acquire resources), `register_tools`,
then - once the butler's HTTP server is up - `serve` (background work, in the
butler's task group) until cancelled at shutdown, then `on_shutdown` (release).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import anyio
import anyio.abc
import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict

from butlers.core.approvals import ApprovalGate

if TYPE_CHECKING:
    from fastmcp import FastMCP

    from butlers.core.channels import ChannelRegistry
    from butlers.core.dispatch import Dispatcher
    from butlers.core.inbound import InboundLog


@dataclass(frozen=True)
class NotifyRequest:
    """A message for the user, as module code and the core `notify` tool ask for it.

    Channel and recipient default to the owner's; `reply_to` names the message being
    answered (a routed session's origin).
    """

    message: str
    channel: str | None = None
    recipient: str | None = None
    reply_to: str | None = None
    priority: str = "normal"


class Notifier(Protocol):
    """Delivers a message to the user (the core `notify` tool's engine, on the switchboard).

    Returns the notification record as JSON.
    """

    async def __call__(self, request: NotifyRequest) -> dict[str, Any]: ...


def delivered(notification: dict[str, Any]) -> bool:
    """Whether `notify` took a message: sent, or accepted and waiting (pending, held). Not when no
    butler delivers ("not_delivered") or delivery failed."""
    return notification.get("status") in {"sent", "pending", "held"}


class EmptyConfig(BaseModel):
    """For modules that take no settings: any key is an error."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class ModuleContext:
    """What a module gets from its butler: never global state."""

    butler: str
    pool: asyncpg.Pool
    directory: Path  # the butler's config folder
    data_dir: Path  # a folder of this module's own under the data dir
    credentials: dict[str, str]  # values of this module's credentials_env
    dispatcher: Dispatcher | None = None
    log: Any = field(default_factory=structlog.get_logger)
    # Shared mechanisms for channel modules (issue 5): inbound messages are stored
    # before anything acts on them; outbound actions can require approval.
    inbound: InboundLog | None = None
    # Always a gate: the butler's, or (a module run alone, as in its tests) one of its own on the same pool.
    approvals: ApprovalGate = None  # type: ignore[assignment]  # filled in __post_init__
    # How a module reaches the user (reminders, digests); None until the butler has `notify`.
    notify: Notifier | None = None
    # Outbound channels of this butler: channel modules (telegram, email) register themselves here.
    channels: ChannelRegistry | None = None
    # Every butler of the daemon by name (Butler.fleet, live): the switchboard routes through it.
    fleet: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.approvals is None:
            self.approvals = ApprovalGate(self.pool, self.butler)


ConfigT = TypeVar("ConfigT", bound=BaseModel)


class Module(ABC, Generic[ConfigT]):
    """Subclass this, declare the class attributes, implement `register_tools`.

    The parameter is the module's config model, the same as `config_schema`
    (`class NotesModule(Module[NotesConfig])`), so `self.config` is typed without a cast.
    """

    name: ClassVar[str]
    config_schema: ClassVar[type[BaseModel]] = EmptyConfig
    dependencies: ClassVar[tuple[str, ...]] = ()
    credentials_env: ClassVar[tuple[str, ...]] = ()
    # Declared like credentials_env (passed in ctx.credentials, redacted from logs) but not required:
    # a module that needs one only in some configurations checks for it in on_startup.
    optional_credentials_env: ClassVar[tuple[str, ...]] = ()
    # A folder of yoyo migrations, tracked apart from core's and other modules'.
    migrations_dir: ClassVar[Path | None] = None

    def __init__(self, config: ConfigT) -> None:
        self.config = config

    @abstractmethod
    def register_tools(self, mcp: FastMCP, ctx: ModuleContext) -> None:
        """Add this module's MCP tools to the butler's server."""

    async def on_startup(self, ctx: ModuleContext) -> None:  # optional hook: empty on purpose
        """Called after migrations, in dependency order."""

    async def serve(
        self, ctx: ModuleContext, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Background work (polling, IMAP IDLE, webhook registration); the default has none.

        The butler runs it with `tg.start` in its own task group, in dependency order,
        after `on_startup` and once its HTTP server is ready. Do the set-up, call
        `task_status.started()` once ready, then run until cancelled (or return when
        the work is done). Raising before `started()` fails the butler's startup; an
        exception after it is logged and marks the module unhealthy in `status`
        without stopping the butler - so retry transient failures here, do not raise.
        Cancellation at shutdown stops it; `on_shutdown` runs afterwards.
        """
        task_status.started()

    async def on_shutdown(self, ctx: ModuleContext) -> None:  # optional hook: empty on purpose
        """Called at shutdown, in reverse dependency order, after `serve` was cancelled."""

    async def health(self) -> dict[str, Any]:
        """Reported by the `status` tool; override to probe an outside server."""
        return {"ok": True}
