"""The issue-11 story's daemon: a switchboard holding the owner's channels, `health`, `relationship`, `general`.

The agents of the routed sessions are scripted by `agent_turn`, which answers like a model that read its
prompt: it finds the inbound id in the session's first user message (nothing else tells it) and calls its
butler's `notify` with `reply_to` set to it, then ends its turn.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from butlers.testing.model_api import Text, ToolUse, Turn
from butlers.testing.ports import free_port

OWNER_CHAT = 4242
OWNER_EMAIL = "owner@example.test"
ACCOUNT, PASSWORD = "butler@example.test", "s3cret"
TOKEN = "777002:story-standin"
ROLES = ("switchboard", "health", "relationship", "general")
DESCRIPTIONS = {
    "switchboard": "Routes messages",
    "health": "Measurements, medications, conditions and symptoms",
    "relationship": "Contacts, birthdays, gifts; keeping in touch",
    "general": "Anything else",
}
INBOUND_ID = re.compile(r'"inbound_id":\s*"([0-9a-f-]{36})"')


@dataclass(frozen=True)
class Story:
    """Role -> butler name (unique per run: the test PostgreSQL server is shared) and port."""

    names: dict[str, str]
    ports: dict[str, int]

    def role_of(self, name: str) -> str:
        return next(role for role, n in self.names.items() if n == name)


def mail_table(imap_host: str, imap_port: int, smtp_host: str, smtp_port: int) -> str:
    return (
        f'[modules.email]\nimap_host = "{imap_host}"\nimap_port = {imap_port}\nsmtp_host = "{smtp_host}"\n'
        f'smtp_port = {smtp_port}\nsecurity = "none"\npoll_interval_s = 0.2\ntimeout_s = 5\n'
    )


def write_story(root: Path, *, telegram_url: str | None = None, mail: str = "") -> Story:
    """butlers.d under `root`: the switchboard with its channels (Telegram and/or the given email table)."""
    suffix = uuid.uuid4().hex[:6]
    names = {role: f"{role}-{suffix}" for role in ROLES}
    ports = {role: free_port() for role in ROLES}
    channels = mail
    if telegram_url is not None:
        channels += f'[modules.telegram]\napi_base_url = "{telegram_url}"\nallowed_chat_ids = [{OWNER_CHAT}]\n'
        channels += "poll_timeout_s = 1\n"
    extra = {
        "switchboard": (
            f'[modules.switchboard]\nfallback = "{names["general"]}"\nfollow_interval_s = 0.1\n'
            f'allowed_senders = {{ email = ["{OWNER_EMAIL}"] }}\n\n{channels}\n'
            "[modules.notify]\nretry_base_s = 0.05\n[modules.notify.owner]\n"
            f'channel = "telegram"\ntelegram_chat_id = {OWNER_CHAT}\nemail = "{OWNER_EMAIL}"\n'
        ),
        "general": "[modules.notes]\n",
    }
    for role in ROLES:
        folder = root / role
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "CLAUDE.md").write_text(f"You are the {role} butler. Answer the user with notify.\n")
        (folder / "butler.toml").write_text(
            f'[butler]\nname = "{names[role]}"\ndescription = "{DESCRIPTIONS[role]}"\nport = {ports[role]}\n\n'
            f"{extra.get(role, '')}"
        )
    return Story(names, ports)


def _texts(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict))


def _answered(body: dict[str, Any]) -> bool:
    last = body["messages"][-1].get("content")
    return isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)


def agent_turn(body: dict[str, Any]) -> Turn:
    """One model turn of a routed session: `notify(reply_to=<the inbound id of its prompt>)`, then done."""
    if _answered(body):
        return Text("Answered the user.")
    prompt = "\n".join(_texts(m) for m in body["messages"] if m.get("role") == "user")
    found = INBOUND_ID.search(prompt)
    notify = [t["name"] for t in body.get("tools", []) if str(t.get("name", "")).endswith("__notify")]
    if found is None or len(notify) != 1:
        return Text(f"no inbound id in the prompt, or no notify tool ({notify})")
    butler = notify[0].split("__")[1]
    part = prompt.split("--- message ---", 1)[-1].split("--- end of message ---", 1)[0].strip()
    answer = f"{butler} noted: {part}"
    return ToolUse(notify[0], {"message": answer, "reply_to": found.group(1)})


def agent_script(sessions: int) -> list[Turn]:
    """Enough turns for `sessions` routed sessions (two model requests each), in any interleaving."""
    return [agent_turn] * (2 * sessions)
