"""The owner decides held actions from their own Telegram chat: an Approve / Reject keyboard.

Every action held by any butler of the daemon (`core/approval_prompts.py`) is sent to the owner's
chat with two inline buttons. Each button's callback_data is `a|r:<approval id>:<nonce>`, the nonce
random per prompt and stored with it. A press decides only when it comes from the owner's user id,
in the owner's chat, with the stored nonce, and only once: the first such press claims the prompt
(one UPDATE), later presses and anyone else's are answered "not decided" and change nothing. The
decision goes through the holding butler's approval gate, recorded as decided by
`telegram:<user id>` via `telegram`; the message is then edited to show it, its buttons removed.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import asyncpg
import structlog
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from butlers.core.approval_prompts import HeldAction
from butlers.core.approvals import Approval, ApprovalGate, Decider, UnknownActionError
from butlers.errors import NotFoundError
from butlers.statuses import ApprovalStatus


class Pressed(StrEnum):
    """The button pressed (`telegram_approval_prompts.pressed`, mirrored by its CHECK)."""

    APPROVE = "approve"
    REJECT = "reject"


log = structlog.get_logger(__name__)

_DATA = re.compile(r"^([ar]):([0-9a-f]{32}):([A-Za-z0-9_-]{16,40})$")
MAX_SUMMARY = 3_000
MAX_ANSWER = 200  # answerCallbackQuery's text limit

GateOf = Callable[[str], ApprovalGate | None]


@dataclass(frozen=True)
class Press:
    """What a button says: approve or reject this approval, with the prompt's nonce."""

    approve: bool
    approval_id: uuid.UUID
    nonce: str


def parse_press(data: str | None) -> Press | None:
    match = _DATA.match(data or "")
    if match is None:
        return None
    return Press(match.group(1) == "a", uuid.UUID(hex=match.group(2)), match.group(3))


def prompt_text(held: HeldAction) -> str:
    summary = held.summary if len(held.summary) <= MAX_SUMMARY else held.summary[:MAX_SUMMARY] + "..."
    return (
        f"Approval needed: butler '{held.butler}' wants to run {held.action}.\n\n{summary}\n\n"
        f"approval {held.approval_id}"
    )


def keyboard(held: HeldAction, nonce: str) -> InlineKeyboardMarkup:
    data = f"{held.approval_id.hex}:{nonce}"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Approve", callback_data=f"a:{data}"),
                InlineKeyboardButton("Reject", callback_data=f"r:{data}"),
            ]
        ]
    )


def outcome(record: Approval, ours: bool) -> str:
    """One line saying what became of the action."""
    status = record.status
    if not ours:
        return f"Already decided: {status} (by {record.decided_by or '?'} via {record.decided_via or '?'})."
    if status == ApprovalStatus.REJECTED:
        return "Rejected: it will not run."
    if status == ApprovalStatus.SUCCEEDED:
        return "Approved: done."
    return f"Approved: {status}" + (f" ({record.error})" if record.error else "") + "."


class OwnerApprovals:
    """Sends the prompts and answers the presses of one bot, for one owner."""

    def __init__(self, bot: Callable[[], Bot], pool: asyncpg.Pool, chat_id: int, user_id: int, gate_of: GateOf) -> None:
        self._bot, self._pool, self._gate_of = bot, pool, gate_of
        self.chat_id, self.user_id = chat_id, user_id

    async def prompt(self, held: HeldAction) -> None:
        """Send the keyboard for `held` to the owner's chat (stored first: a press always finds its prompt)."""
        nonce, text = secrets.token_urlsafe(18), prompt_text(held)
        await self._pool.execute(
            """INSERT INTO telegram_approval_prompts (butler, approval_id, nonce, chat_id, text)
               VALUES ($1, $2, $3, $4, $5)""",
            held.butler,
            held.approval_id,
            nonce,
            self.chat_id,
            text,
        )
        sent = await self._bot().send_message(chat_id=self.chat_id, text=text, reply_markup=keyboard(held, nonce))
        await self._pool.execute(
            "UPDATE telegram_approval_prompts SET message_id = $2 WHERE approval_id = $1",
            held.approval_id,
            sent.message_id,
        )
        log.info("telegram.approval_prompted", butler=held.butler, approval_id=str(held.approval_id))

    async def answer(self, query: CallbackQuery) -> str:
        """Handle one press: 'decided', 'refused' (not the owner, or not our button), 'already' or 'failed'."""
        press = parse_press(query.data)
        chat_id = query.message.chat.id if query.message is not None else None
        if query.from_user.id != self.user_id or chat_id != self.chat_id:
            log.warning("telegram.approval_refused", user_id=query.from_user.id, chat_id=chat_id)
            await self._reply(query, "Only the owner can decide held actions.")
            return "refused"
        if press is None:
            await self._reply(query, "This button is not one of mine.")
            return "refused"
        prompt = await self._claim(press, query.from_user.id)
        if prompt is None:
            await self._reply(query, await self._why_not(press))
            return "already"
        return await self._decide(query, press, prompt)

    async def _decide(self, query: CallbackQuery, press: Press, prompt: asyncpg.Record) -> str:
        gate = self._gate_of(prompt["butler"])
        decider = Decider(f"telegram:{query.from_user.id}", "telegram")
        try:
            if gate is None:
                raise UnknownActionError(f"butler '{prompt['butler']}' is not running")
            if press.approve:
                record = await gate.approve(press.approval_id, decider)
            else:
                record = await gate.reject(press.approval_id, "rejected on Telegram", decider)
        except (UnknownActionError, NotFoundError) as exc:
            await self._unclaim(press)  # nothing was decided: the buttons stay usable
            await self._reply(query, f"Not decided: {exc}. It stays pending.")
            return "failed"
        ours = record.decided_via == decider.via and record.decided_by == decider.by
        line = outcome(record, ours)
        await self._reply(query, line)
        await self._edit(prompt, line)
        return "decided" if ours else "already"

    async def _claim(self, press: Press, user_id: int) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            """UPDATE telegram_approval_prompts SET answered_at = now(), answered_by = $3, pressed = $4
                WHERE approval_id = $1 AND nonce = $2 AND answered_at IS NULL RETURNING *""",
            press.approval_id,
            press.nonce,
            user_id,
            Pressed.APPROVE if press.approve else Pressed.REJECT,
        )

    async def _unclaim(self, press: Press) -> None:
        await self._pool.execute(
            """UPDATE telegram_approval_prompts SET answered_at = NULL, answered_by = NULL, pressed = NULL
                WHERE approval_id = $1 AND nonce = $2""",
            press.approval_id,
            press.nonce,
        )

    async def _why_not(self, press: Press) -> str:
        row = await self._pool.fetchrow(
            "SELECT pressed FROM telegram_approval_prompts WHERE approval_id = $1 AND nonce = $2",
            press.approval_id,
            press.nonce,
        )
        if row is None:
            return "Unknown or expired button: nothing was decided."
        return f"Already answered ({row['pressed']}): nothing changed."

    async def _reply(self, query: CallbackQuery, text: str) -> None:
        try:
            await self._bot().answer_callback_query(query.id, text=text[:MAX_ANSWER])
        except TelegramError as exc:  # e.g. answered too late: the decision stands
            log.warning("telegram.answer_callback_failed", error=str(exc))

    async def _edit(self, prompt: asyncpg.Record, line: str) -> None:
        if prompt["message_id"] is None:
            return
        try:  # no reply_markup: the buttons go away
            await self._bot().edit_message_text(
                f"{prompt['text']}\n\n{line}", chat_id=prompt["chat_id"], message_id=prompt["message_id"]
            )
        except TelegramError as exc:
            log.warning("telegram.edit_prompt_failed", error=str(exc))
