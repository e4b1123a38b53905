"""`[modules.slack]`: bad settings and missing tokens are errors naming the key or variable; which events count."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from butlers.butler import check_credentials
from butlers.config import ButlerConfig, load_butler_config
from butlers.errors import ConfigErrors, CredentialError, ModuleError
from butlers.modules.base import ModuleContext
from butlers.modules.loader import available_modules, load_modules
from butlers.modules.slack import APP_TOKEN_ENV, BOT_TOKEN_ENV, SIGNING_SECRET_ENV, SlackConfig, SlackModule
from butlers.modules.slack.inbound import is_allowed, parse_message


def butler(tmp_path: Path, table: str) -> ButlerConfig:
    (tmp_path / "butler.toml").write_text(f'[butler]\nname = "sl"\nport = 8199\n\n[modules.slack]\n{table}\n')
    return load_butler_config(tmp_path, env={})


def errors(tmp_path: Path, table: str) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_modules(butler(tmp_path, table), {"slack": SlackModule})
    return [str(e) for e in exc.value.errors]


def test_the_module_is_installed_under_its_name() -> None:
    assert available_modules()["slack"] is SlackModule


def test_defaults_are_socket_mode_against_slack_with_nobody_allowed(tmp_path: Path) -> None:
    [module] = load_modules(butler(tmp_path, ""), {"slack": SlackModule})
    config = cast(SlackConfig, module.config)
    assert (config.mode, config.api_base_url) == ("socket", "https://slack.com/api")
    assert config.allowed_channels == [] and config.users == frozenset()
    assert config.events.path == "/slack/events" and config.events.max_age_s == 300
    assert config.credentials_needed == (BOT_TOKEN_ENV, APP_TOKEN_ENV)


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('mod = "socket"', "modules.slack.mod", "unknown key"),
        ('mode = "rtm"', "modules.slack.mode", "'socket' or 'events'"),
        ('api_base_url = "slack.com/api"', "modules.slack.api_base_url", "http:// or https://"),
        ('allowed_channels = ["#general"]', "modules.slack.allowed_channels", "not a Slack conversation id"),
        ('allowed_users = ["alice"]', "modules.slack.allowed_users", "not a Slack user id"),
        ('owner = "C0123"', "modules.slack.owner", "not a Slack user id"),
        ('require_approval = ["slack_sned"]', "modules.slack.require_approval", "slack_send"),
        ("ping_interval_s = 0", "modules.slack.ping_interval_s", "greater than 0"),
        ('events = { path = "/mcp" }', "modules.slack.events.path", "under '/mcp'"),
        ("events = { max_age_s = 3600 }", "modules.slack.events.max_age_s", "less than or equal to 300"),
        ('events = { secret = "x" }', "modules.slack.events.secret", "unknown key"),
    ],
)
def test_a_bad_setting_names_the_file_and_key(tmp_path: Path, table: str, key: str, words: str) -> None:
    [message] = errors(tmp_path, table)
    assert f"butler.toml: {key}: " in message, message
    assert words in message, message


def test_the_bot_token_is_required_and_the_mode_tokens_are_passed_when_set(tmp_path: Path) -> None:
    config = butler(tmp_path, 'allowed_users = ["U0ALICE"]')
    modules = load_modules(config, {"slack": SlackModule})
    with pytest.raises(CredentialError, match=BOT_TOKEN_ENV):
        check_credentials(config, modules, {APP_TOKEN_ENV: "xapp-1"})
    env = {BOT_TOKEN_ENV: "xoxb-1", APP_TOKEN_ENV: "xapp-1", "UNRELATED": "x"}
    assert check_credentials(config, modules, env) == {BOT_TOKEN_ENV: "xoxb-1", APP_TOKEN_ENV: "xapp-1"}


@pytest.mark.parametrize(("mode", "missing"), [("socket", APP_TOKEN_ENV), ("events", SIGNING_SECRET_ENV)])
async def test_starting_without_the_mode_token_names_the_variable(tmp_path: Path, mode: str, missing: str) -> None:
    module = SlackModule(SlackConfig(mode=mode))  # type: ignore[arg-type]
    creds = {BOT_TOKEN_ENV: "xoxb-1"}
    ctx = ModuleContext(butler="sl", pool=cast(Any, None), directory=tmp_path, data_dir=tmp_path, credentials=creds)
    with pytest.raises(ModuleError, match=f"mode = '{mode}'.*{missing}"):
        await module.on_startup(ctx)


def _payload(**event: Any) -> dict[str, Any]:
    base = {"type": "message", "channel": "C0GENERAL", "user": "U0BOB", "text": "hi", "ts": "1700000000.000100"}
    return {"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": {**base, **event}}


def test_which_events_are_messages_from_people() -> None:
    message = parse_message(_payload(), bot_user="U0BUTLER")
    assert message is not None and message.external_id == "C0GENERAL:1700000000.000100"
    assert message.inbound().received_at.isoformat() == "2023-11-14T22:13:20.000100+00:00"
    assert parse_message(_payload(type="app_mention"), "U0BUTLER") is not None
    assert parse_message(_payload(subtype="thread_broadcast"), "U0BUTLER") is not None
    for skipped in (
        _payload(subtype="message_changed"),
        _payload(bot_id="B1"),
        _payload(user="U0BUTLER"),
        _payload(type="reaction_added"),
        _payload(ts="not-a-ts"),
        {"type": "url_verification", "challenge": "x"},
    ):
        assert parse_message(skipped, "U0BUTLER") is None, skipped


def test_allowed_by_channel_or_by_user_or_owner() -> None:
    config = SlackConfig(allowed_channels=["C0GENERAL"], allowed_users=["U0ALICE"], owner="U0OWNER")
    assert is_allowed(config, cast(Any, parse_message(_payload(), None)))
    assert is_allowed(config, cast(Any, parse_message(_payload(channel="C0RANDOM", user="U0ALICE"), None)))
    assert is_allowed(config, cast(Any, parse_message(_payload(channel="D0OWNER", user="U0OWNER"), None)))
    assert not is_allowed(config, cast(Any, parse_message(_payload(channel="C0RANDOM"), None)))
