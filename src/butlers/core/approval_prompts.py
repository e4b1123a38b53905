"""Asking the owner about a held action on a channel that proves who answers.

When an action is held (`ApprovalGate.guard`), the gate calls its `on_held` hook; the butler's
hook finds, in-process through `Butler.fleet`, a started module offering an `approval_prompter`
(the Telegram module with an owner chat: an Approve / Reject keyboard in that chat), on the
switchboard first, else on any butler. No prompter: nothing is sent; the action waits for
`butlerctl approvals` or the dashboard as before. A prompt that cannot be sent is logged, never
raised: the action stays held and can be decided the other ways.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio
import structlog

from butlers.core.fleet_services import offered_service

if TYPE_CHECKING:
    from butlers.butler import Butler

log = structlog.get_logger(__name__)

PROMPTING_BUTLER = "switchboard"
PROMPT_TIMEOUT_S = 15.0  # the holding tool call waits at most this long for the prompt to go out


@dataclass(frozen=True)
class HeldAction:
    """An action just stored `pending` by a butler's approval gate."""

    butler: str
    approval_id: uuid.UUID
    action: str
    summary: str


class ApprovalPrompter(Protocol):
    async def prompt(self, held: HeldAction) -> None: ...


OnHeld = Callable[[HeldAction], Awaitable[None]]


def find_prompter(fleet: Mapping[str, Butler]) -> ApprovalPrompter | None:
    """A started module's `approval_prompter`, the switchboard's first; None when no butler has one."""
    prompter: ApprovalPrompter | None = offered_service(fleet, "approval_prompter", first=PROMPTING_BUTLER)
    return prompter


def prompt_owner(butler: Butler) -> OnHeld:
    """The `on_held` hook of `butler`'s approval gate."""

    async def on_held(held: HeldAction) -> None:
        prompter = find_prompter(butler.fleet)
        if prompter is None:
            return
        try:
            with anyio.fail_after(PROMPT_TIMEOUT_S):
                await prompter.prompt(held)
        except Exception as exc:
            log.warning(
                "approval.prompt_failed",
                butler=held.butler,
                approval_id=str(held.approval_id),
                error=f"{type(exc).__name__}: {exc}",
            )

    return on_held
