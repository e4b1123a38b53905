"""The slack channel of `notify`: recipients, reply targets, how Web API failures are sorted; the owner's slack id."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from butlers.modules.notify.config import OwnerConfig
from butlers.modules.slack import SlackConfig, SlackModule
from butlers.modules.slack.channel import SlackChannel, delivery_error

CHANNEL = SlackChannel(SlackModule(SlackConfig()))


def api_error(status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None, http_verb="POST", api_url="http://x/api/chat.postMessage", req_args={},
        data=data, headers=headers or {}, status_code=status,
    )  # fmt: skip
    return SlackApiError("failed", response)


@pytest.mark.parametrize("recipient", ["U0ALICE", " W0123ABC ", "C0GENERAL", "D0ALICE", "G0PRIVATE"])
def test_user_and_conversation_ids_are_recipients(recipient: str) -> None:
    assert CHANNEL.normalize(recipient) == recipient.strip()


@pytest.mark.parametrize("recipient", ["alice", "@alice", "u0alice", "X0ALICE", "", "U0"])
def test_anything_else_is_refused_naming_what_a_recipient_is(recipient: str) -> None:
    with pytest.raises(ValueError, match=r"is not a Slack user id .* or conversation id"):
        CHANNEL.normalize(recipient)


def test_a_reply_goes_into_the_thread_of_the_message_and_a_dm_answers_its_person() -> None:
    dm = {"channel": "D0ALICE", "channel_type": "im", "user": "U0ALICE", "ts": "1.000002", "thread_ts": None}
    assert CHANNEL.reply_target({"metadata": dm}) == ("U0ALICE", {"channel": "D0ALICE", "thread_ts": "1.000002"})
    in_thread = {"channel": "C0GENERAL", "channel_type": "channel", "user": "U0BOB", "ts": "2.5", "thread_ts": "2.1"}
    assert CHANNEL.reply_target({"metadata": in_thread}) == ("C0GENERAL", {"channel": "C0GENERAL", "thread_ts": "2.1"})
    with pytest.raises(ValueError, match="no channel/ts"):
        CHANNEL.reply_target({"metadata": {"channel": "C0GENERAL"}})


def test_rate_limits_5xx_and_network_trouble_are_transient_other_errors_are_not() -> None:
    limited = delivery_error(api_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
    assert (limited.transient, limited.retry_after) == (True, 7.0)
    assert "ratelimited" in str(limited)
    assert delivery_error(api_error(500, {})).transient is True
    assert delivery_error(api_error(200, {"ok": False, "error": "internal_error"})).transient is True
    assert delivery_error(aiohttp.ClientConnectionError("refused")).transient is True
    for code in ("invalid_auth", "channel_not_found", "not_in_channel", "something_new"):
        error = delivery_error(api_error(200, {"ok": False, "error": code}))
        assert error.transient is False and code in str(error)


def test_the_owners_slack_id_makes_slack_the_default_after_telegram() -> None:
    owner = OwnerConfig(slack_user_id="U0ALICE", email="me@example.org")
    assert (owner.default_channel, owner.address("slack")) == ("slack", "U0ALICE")
    assert OwnerConfig(slack_user_id="U0ALICE", telegram_chat_id=1).default_channel == "telegram"
    assert OwnerConfig(channel="slack", slack_user_id="U0ALICE", telegram_chat_id=1).default_channel == "slack"
    with pytest.raises(ValidationError, match="channel = 'slack' needs slack_user_id"):
        OwnerConfig(channel="slack")
    with pytest.raises(ValidationError, match="is not a Slack user id"):
        OwnerConfig(slack_user_id="alice")
