"""`[modules.github]`: bad settings are errors naming the key; records and messages built from GitHub's data."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import httpx
import pytest

from butlers.butler import check_credentials
from butlers.config import ButlerConfig, load_butler_config
from butlers.errors import ConfigErrors, CredentialError
from butlers.modules.github import TOKEN_ENV, GithubConfig, GithubModule
from butlers.modules.github.client import RateLimitState
from butlers.modules.github.inbound import event_message
from butlers.modules.github.records import CheckRunInfo, overall_state
from butlers.modules.loader import available_modules, load_modules


def butler(tmp_path: Path, table: str) -> ButlerConfig:
    (tmp_path / "butler.toml").write_text(f'[butler]\nname = "gh"\nport = 8199\n\n[modules.github]\n{table}\n')
    return load_butler_config(tmp_path, env={"HOOK_SECRET": "from-the-environment-0123"})


def errors(tmp_path: Path, table: str) -> list[str]:
    with pytest.raises(ConfigErrors) as exc:
        load_modules(butler(tmp_path, table), {"github": GithubModule})
    return [str(e) for e in exc.value.errors]


def test_the_module_is_installed_under_its_name() -> None:
    assert available_modules()["github"] is GithubModule


def test_defaults_poll_github_com(tmp_path: Path) -> None:
    [module] = load_modules(butler(tmp_path, ""), {"github": GithubModule})
    config = cast(GithubConfig, module.config)
    assert (config.api_base_url, config.inbound, config.api_version) == (
        "https://api.github.com",
        "polling",
        "2026-03-10",
    )
    assert config.require_approval == [] and config.watches("any/repo")


def test_enterprise_webhook_and_repositories(tmp_path: Path) -> None:
    table = (
        'api_base_url = "https://ghe.example.org/api/v3/"\ninbound = "webhook"\nrepositories = ["Octo/App"]\n'
        'require_approval = ["github_comment"]\n[modules.github.webhook]\nsecret = "${HOOK_SECRET}"\n'
    )
    [module] = load_modules(butler(tmp_path, table), {"github": GithubModule})
    config = cast(GithubConfig, module.config)
    assert config.api_base_url == "https://ghe.example.org/api/v3"
    assert config.webhook.secret == "from-the-environment-0123" and config.webhook.path == "/github/webhook"
    assert config.watches("octo/app") and not config.watches("octo/other") and not config.watches(None)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('api_base_url = "ghe.example.org"', "modules.github.api_base_url: api_base_url must be an http"),
        ('inbound = "carrier-pigeon"', "modules.github.inbound"),
        ('inbound = "webhook"', "inbound = 'webhook' needs webhook.secret"),
        ('require_approval = ["github_get"]', "'github_get' is not an outbound tool"),
        ('repositories = ["just-a-name"]', "is not a repository as owner/name"),
        ("poll_interval_s = 0", "modules.github.poll_interval_s"),
        ('api_version = "2020-01-01"', "modules.github.api_version"),
        ('tokn = "x"', "modules.github.tokn"),
        ('[modules.github.webhook]\nsecret = "short"', "at least 16 characters"),
        ('[modules.github.webhook]\npath = "/mcp/x"', "not be '/' or under '/mcp'"),
        ('[modules.github.webhook]\nevents = ["Push!"]', "is not a GitHub event name"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, table: str, expected: str) -> None:
    [message] = errors(tmp_path, table)
    assert expected in message and "butler.toml" in message


def test_the_token_is_a_required_credential(tmp_path: Path) -> None:
    config = butler(tmp_path, "")
    modules = load_modules(config, {"github": GithubModule})
    with pytest.raises(CredentialError, match=TOKEN_ENV):
        check_credentials(config, modules, {})
    assert check_credentials(config, modules, {TOKEN_ENV: "ghp_x"})[TOKEN_ENV] == "ghp_x"


def test_checks_are_summed_up_in_one_word() -> None:
    done = CheckRunInfo(name="tests", status="completed", conclusion="success", html_url=None)
    running = CheckRunInfo(name="lint", status="in_progress", conclusion=None, html_url=None)
    failed = CheckRunInfo(name="e2e", status="completed", conclusion="timed_out", html_url=None)
    assert overall_state([], "pending", 0) == "none"
    assert overall_state([done], "pending", 0) == "success"  # no commit statuses: their 'pending' means nothing
    assert overall_state([done, running], "success", 1) == "pending"
    assert overall_state([done, failed], "success", 1) == "failure"
    assert overall_state([done], "failure", 1) == "failure"


def test_rate_limit_headers_are_recorded_per_resource() -> None:
    state = RateLimitState()
    state.observe(httpx.Headers({"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "29", "X-RateLimit-Used": "1",
                                 "X-RateLimit-Reset": "1800000000", "X-RateLimit-Resource": "search"}))  # fmt: skip
    state.observe(httpx.Headers({"Content-Type": "application/json"}))  # no rate headers: nothing changes
    assert state.summary()["resources"] == {
        "search": {"limit": 30, "remaining": 29, "used": 1, "reset": "2027-01-15T08:00:00+00:00"}
    }


def test_a_webhook_event_becomes_a_message_keyed_by_its_delivery() -> None:
    payload = {
        "action": "submitted",
        "repository": {"full_name": "octo/app"},
        "sender": {"login": "alice"},
        "pull_request": {"number": 7, "title": "Faster polls", "html_url": "https://github.com/octo/app/pull/7"},
        "review": {"body": "Looks good, one nit.", "html_url": "https://github.com/octo/app/pull/7#review-1"},
    }
    msg = event_message("guid-1", "pull_request_review", payload)
    assert msg.external_id == "delivery:guid-1" and msg.sender == "@alice"
    assert msg.subject == "pull_request_review submitted by @alice on octo/app#7: Faster polls"
    assert "Looks good, one nit." in msg.text and msg.text.endswith("#review-1")
    assert msg.metadata is not None and msg.metadata["number"] == 7
