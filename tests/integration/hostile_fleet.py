"""A daemon with one butler per module, each module on its real outside parts, for the module fuzz suite.

The outside servers are real where the suite has them (Dovecot and an SMTP server for email,
Radicale for calendar) and the stand-ins elsewhere (Telegram, Slack, GitHub), each started once
and served in a thread of its own (the test is synchronous; the daemon runs in its own thread too).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio.from_thread

from butlers.db import ServerAddress
from butlers.modules.github import TOKEN_ENV as GITHUB_TOKEN_ENV
from butlers.modules.slack import APP_TOKEN_ENV, BOT_TOKEN_ENV, SIGNING_SECRET_ENV
from butlers.modules.telegram import TOKEN_ENV as TELEGRAM_TOKEN_ENV
from butlers.settings import Settings
from butlers.testing.asgi import serve_asgi
from butlers.testing.caldav_server import RadicaleServer
from butlers.testing.github_api import GitHubAPI
from butlers.testing.mail_servers import TestDovecot, TestSmtpServer
from butlers.testing.ports import free_port
from butlers.testing.slack_api import SlackAPI
from butlers.testing.telegram_api import TelegramBotAPI

MODULES = ("email", "calendar", "telegram", "slack", "github", "relationship", "health", "collections", "notes",
           "notify", "switchboard")  # fmt: skip
ACCOUNT, PASSWORD = "butler@example.test", "s3cret"
TELEGRAM_TOKEN = "888001:fuzz-token"
GITHUB_TOKEN = "ghp_fuzzTOKEN1234567890"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OWNER_CHAT = 5150


@dataclass
class ModuleFleet:
    settings: Settings
    names: dict[str, str]  # module -> the butler that runs it alone
    ports: dict[str, int]
    env: dict[str, str]


def _tables(urls: dict[str, str], imap: TestDovecot, smtp: TestSmtpServer, dav: RadicaleServer) -> dict[str, str]:
    return {
        "email": f'imap_host = "{imap.host}"\nimap_port = {imap.port}\nsmtp_host = "{smtp.host}"\n'
        f'smtp_port = {smtp.port}\nsecurity = "none"\npoll_interval_s = 30\ntimeout_s = 5\n',
        "calendar": f'url = "{dav.url}"\nusername = "fuzz"\ncalendar = "Personal"\ncreate_if_missing = true\n'
        'timezone = "UTC"\n',
        "telegram": f'api_base_url = "{urls["telegram"]}"\nallowed_chat_ids = [{OWNER_CHAT}]\npoll_timeout_s = 1\n',
        "slack": f'mode = "events"\napi_base_url = "{urls["slack"]}/api"\nallowed_channels = ["C0GENERAL"]\n'
        'allowed_users = ["U0ALICE"]\n',
        "github": f'api_base_url = "{urls["github"]}"\ninbound = "off"\n',
        "notify": f'[modules.notify.owner]\ntelegram_chat_id = {OWNER_CHAT}\nemail = "owner@example.test"\n',
    }


def write_folder(root: Path, tables: dict[str, str]) -> tuple[dict[str, str], dict[str, int]]:
    suffix = uuid.uuid4().hex[:6]
    names = {m: f"fz-{m}-{suffix}" for m in MODULES}
    ports = {m: free_port() for m in MODULES}
    tables = {**tables, "switchboard": f'fallback = "{names["notes"]}"\nclassify = false\n'}
    for module in MODULES:
        folder = root / names[module]
        folder.mkdir(parents=True)
        table = tables.get(module, "")
        body = table if table.startswith("[modules.") else f"[modules.{module}]\n{table}"
        if module == "notify":
            body = f"[modules.notify]\n{table}"
        (folder / "butler.toml").write_text(f'[butler]\nname = "{names[module]}"\nport = {ports[module]}\n\n{body}')
    return names, ports


@contextmanager
def module_fleet(base: Path, pg: ServerAddress) -> Iterator[ModuleFleet]:
    """The outside servers started, and the folder written; the caller serves the daemon."""
    with ExitStack() as stack:
        portal = stack.enter_context(anyio.from_thread.start_blocking_portal())
        slack = SlackAPI()
        slack.add_channel("C0GENERAL", "general")
        slack.add_user("U0ALICE", "alice", real_name="Alice", email="alice@example.org")
        apps = {
            "telegram": TelegramBotAPI(TELEGRAM_TOKEN).app,
            "slack": slack.app,
            "github": GitHubAPI(GITHUB_TOKEN).app,
        }
        urls = {k: stack.enter_context(portal.wrap_async_context_manager(serve_asgi(app))) for k, app in apps.items()}
        imap = TestDovecot(base / "imap", user=ACCOUNT, password=PASSWORD)
        imap.start()
        stack.callback(imap.stop)
        smtp = TestSmtpServer(user=ACCOUNT, password=PASSWORD)
        smtp.start()
        stack.callback(smtp.stop)
        dav = stack.enter_context(RadicaleServer(base / "dav", username="fuzz", password=PASSWORD))
        names, ports = write_folder(base / "butlers.d", _tables(urls, imap, smtp, dav))
        settings = Settings(dir=base / "butlers.d", data_dir=base / "data", postgres_host=pg.host,
                            postgres_port=pg.port, postgres_user=pg.user, postgres_password=pg.password,
                            drain_timeout_s=5)  # fmt: skip
        env = {TELEGRAM_TOKEN_ENV: TELEGRAM_TOKEN, GITHUB_TOKEN_ENV: GITHUB_TOKEN, BOT_TOKEN_ENV: "xoxb-standin-bot",
               APP_TOKEN_ENV: "xapp-1-standin-app", SIGNING_SECRET_ENV: SLACK_SECRET, "SOURCE_EMAIL": ACCOUNT,
               "SOURCE_EMAIL_PASSWORD": PASSWORD, "CALDAV_PASSWORD": PASSWORD}  # fmt: skip
        yield ModuleFleet(settings, names, ports, env)
