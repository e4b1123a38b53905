"""`[modules.telegram]`: bad settings and a missing token are errors that name the key or the variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from butlers.butler import check_credentials
from butlers.config import ButlerConfig, load_butler_config
from butlers.errors import ConfigErrors, CredentialError, ModuleError
from butlers.modules.base import ModuleContext
from butlers.modules.loader import available_modules, load_modules
from butlers.modules.telegram import TOKEN_ENV, TelegramConfig, TelegramModule


def butler(tmp_path: Path, table: str) -> ButlerConfig:
    (tmp_path / "butler.toml").write_text(f'[butler]\nname = "tg"\nport = 8199\n\n[modules.telegram]\n{table}\n')
    return load_butler_config(tmp_path, env={"HOOK_SECRET": "from-the-environment"})


def errors(tmp_path: Path, table: str) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_modules(butler(tmp_path, table), {"telegram": TelegramModule})
    return [str(e) for e in exc.value.errors]


def test_the_module_is_installed_under_its_name() -> None:
    assert available_modules()["telegram"] is TelegramModule


def test_defaults_are_polling_against_telegram_with_nobody_allowed(tmp_path: Path) -> None:
    [module] = load_modules(butler(tmp_path, ""), {"telegram": TelegramModule})
    config = cast(TelegramConfig, module.config)
    assert config.mode == "polling"
    assert config.bot_base_url == "https://api.telegram.org/bot"
    assert config.allowed_chat_ids == [] and config.allowed_usernames == []
    assert config.require_approval == []


def test_a_full_webhook_config_is_accepted_and_usernames_normalised(tmp_path: Path) -> None:
    table = """mode = "webhook"
api_base_url = "http://127.0.0.1:8081/"
allowed_chat_ids = [123, -1001234567890]
allowed_usernames = ["@Alice", "bob"]
require_approval = ["telegram_send"]
[modules.telegram.webhook]
path = "/tg/hook"
secret_token = "${HOOK_SECRET}"
public_url = "https://butler.example.org/"
"""
    [module] = load_modules(butler(tmp_path, table), {"telegram": TelegramModule})
    config = cast(TelegramConfig, module.config)
    assert config.bot_base_url == "http://127.0.0.1:8081/bot"
    assert config.allowed_usernames == ["alice", "bob"]
    assert config.webhook.secret_token == "from-the-environment"
    assert config.webhook.url == "https://butler.example.org/tg/hook"


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('mod = "polling"', "modules.telegram.mod", "unknown key"),
        ('mode = "push"', "modules.telegram.mode", "'polling' or 'webhook'"),
        ('api_base_url = "api.telegram.org"', "modules.telegram.api_base_url", "http:// or https://"),
        ('allowed_chat_ids = ["me"]', "modules.telegram.allowed_chat_ids.0", "integer"),
        ('allowed_usernames = ["not a name"]', "modules.telegram.allowed_usernames", "not a Telegram username"),
        ('require_approval = ["telegram_sned"]', "modules.telegram.require_approval", "telegram_send"),
        ("poll_timeout_s = 0", "modules.telegram.poll_timeout_s", "greater than or equal to 1"),
        ('mode = "webhook"', "modules.telegram.webhook", "webhook.secret_token and webhook.public_url"),
        (
            'mode = "webhook"\nwebhook = { secret_token = "abc" }',
            "modules.telegram.webhook",
            "webhook.public_url",
        ),
        ('webhook = { secret_token = "has spaces" }', "modules.telegram.webhook.secret_token", "A-Z"),
        ('webhook = { path = "/mcp" }', "modules.telegram.webhook.path", "under '/mcp'"),
        ('webhook = { secret = "x" }', "modules.telegram.webhook.secret", "unknown key"),
    ],
)
def test_a_bad_setting_names_the_file_and_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    [message] = errors(tmp_path, table)
    assert f"butler.toml: {key}: " in message, message
    assert words in message, message


def test_a_missing_token_names_the_variable(tmp_path: Path) -> None:
    config = butler(tmp_path, "allowed_chat_ids = [1]")
    modules = load_modules(config, {"telegram": TelegramModule})
    with pytest.raises(CredentialError, match=TOKEN_ENV):
        check_credentials(config, modules, {})
    assert check_credentials(config, modules, {TOKEN_ENV: "1:abc"}) == {TOKEN_ENV: "1:abc"}


async def test_starting_without_the_token_names_the_variable(tmp_path: Path) -> None:
    module = TelegramModule(TelegramConfig())
    ctx = ModuleContext(butler="tg", pool=cast(Any, None), directory=tmp_path, data_dir=tmp_path, credentials={})
    with pytest.raises(ModuleError, match=TOKEN_ENV):
        await module.on_startup(ctx)


async def test_serving_before_startup_fails_before_it_reports_started(tmp_path: Path) -> None:
    module = TelegramModule(TelegramConfig())
    ctx = ModuleContext(butler="tg", pool=cast(Any, None), directory=tmp_path, data_dir=tmp_path, credentials={})
    started: list[object] = []

    class Status:
        def started(self, value: None = None) -> None:
            started.append(value)

    with pytest.raises(ModuleError, match="on_startup has not run"):
        await module.serve(ctx, task_status=Status())
    assert started == []


def test_owner_settings_name_the_key_and_default_the_deciding_user_to_the_chat(tmp_path: Path) -> None:
    assert TelegramConfig(owner_chat_id=4711).deciding_user_id == 4711  # a private chat's id is its user's
    assert TelegramConfig(owner_chat_id=-100123, owner_user_id=4711).deciding_user_id == 4711
    assert TelegramConfig().deciding_user_id is None
    [group] = errors(tmp_path, "owner_chat_id = -100123")
    assert "modules.telegram" in group and "give owner_user_id" in group
    [alone] = errors(tmp_path, "owner_user_id = 4711")
    assert "owner_user_id needs owner_chat_id" in alone


def test_a_button_press_is_parsed_only_in_the_form_the_module_writes() -> None:
    import uuid

    from butlers.core.approval_prompts import HeldAction
    from butlers.modules.telegram.owner_approvals import keyboard, parse_press

    held = HeldAction("general", uuid.uuid4(), "email_send", "Mail ann: hi")
    [[approve, reject]] = keyboard(held, "n" * 24).inline_keyboard
    assert approve.callback_data is not None and len(str(approve.callback_data).encode()) <= 64
    press = parse_press(str(approve.callback_data))
    assert press is not None and press.approve and press.approval_id == held.approval_id and press.nonce == "n" * 24
    assert parse_press(str(reject.callback_data)) is not None and not parse_press(str(reject.callback_data)).approve  # type: ignore[union-attr]
    for forged in (None, "", "a:" + held.approval_id.hex, f"x:{held.approval_id.hex}:{'n' * 24}",
                   f"a:{held.approval_id.hex}:short", f"a:{held.approval_id.hex}:{'n' * 24}:extra"):  # fmt: skip
        assert parse_press(forged) is None
