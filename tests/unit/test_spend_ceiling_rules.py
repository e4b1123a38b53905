"""The ceiling's pure parts: months in the host's zone, the refusal's words, limits, what `status` prints."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from butlers.auth import AGENT_WITHHELD, OPERATOR_ACTIONS
from butlers.cli.spend_commands import ceiling_line, group
from butlers.core import agent_env
from butlers.core.spend_ceiling import refusal_message, tighter
from butlers.core.tool_schedules import FORBIDDEN_TOOLS
from butlers.fleet_views import CeilingState, next_month_start, start_of_month

PARIS = ZoneInfo("Europe/Paris")


def state(spent: float, ceiling: float | None) -> CeilingState:
    month = datetime(2026, 12, 1, tzinfo=PARIS)
    reached = ceiling is not None and spent >= ceiling
    left = None if ceiling is None else max(ceiling - spent, 0.0)
    return CeilingState(month, next_month_start(month), spent, {"general": spent}, ceiling, reached, left)


def test_a_month_starts_at_local_midnight_and_december_rolls_into_january() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=ZoneInfo("UTC"))  # already 1 January in Paris
    assert start_of_month(late, PARIS) == datetime(2027, 1, 1, tzinfo=PARIS)
    december = start_of_month(datetime(2026, 12, 15, 12, tzinfo=PARIS), PARIS)
    assert december == datetime(2026, 12, 1, tzinfo=PARIS)
    assert next_month_start(december) == datetime(2027, 1, 1, tzinfo=PARIS)
    assert next_month_start(datetime(2026, 3, 1, tzinfo=PARIS)).utcoffset() != december.utcoffset()  # DST


def test_the_refusal_names_the_setting_the_spend_and_when_sessions_run_again() -> None:
    message = refusal_message(state(12.5, 10.0))
    assert message.startswith("refused: the fleet's monthly spend ceiling of $10.00 is reached")
    assert "$12.5000 recorded this month" in message
    assert "monthly_spend_ceiling_usd" in message and "BUTLERS_MONTHLY_SPEND_CEILING_USD" in message
    assert message.endswith("new sessions run after 2027-01-01T00:00:00+01:00")


def test_a_session_gets_the_tighter_of_its_daily_budget_and_what_is_left_under_the_ceiling() -> None:
    assert tighter(None, None) is None
    assert tighter(2.0, None) == 2.0 and tighter(None, 0.5) == 0.5
    assert tighter(2.0, 0.5) == 0.5 and tighter(0.25, 0.5) == 0.25


def as_json(s: CeilingState) -> dict[str, Any]:
    """As `status` and `spend_report` send it."""
    return TypeAdapter(CeilingState).dump_python(s, mode="json")


def test_status_and_spend_say_whether_the_ceiling_is_reached() -> None:
    reached = ceiling_line(as_json(state(10.0, 10.0)))
    assert "REACHED" in reached and "refused until 2027-01-01" in reached
    assert "($6.0000 left)" in ceiling_line(as_json(state(4.0, 10.0)))
    assert "monthly_spend_ceiling_usd is unset" in ceiling_line(as_json(state(4.0, None)))


def test_rows_by_butler_are_costliest_first() -> None:
    reports = [
        {"butler": "a", "sessions": 1, "total_usd": 0.5, "by_schedule": [], "by_day": []},
        {"butler": "b", "sessions": 3, "total_usd": 2.0, "by_schedule": [], "by_day": []},
    ]
    assert [r["butler"] for r in group("butler", reports)] == ["b", "a"]


def test_running_a_schedule_now_is_the_operators_and_never_an_agents() -> None:
    assert "schedule_run" in OPERATOR_ACTIONS and "schedule_run" in AGENT_WITHHELD
    assert "mcp__general__schedule_run" in agent_env.disallowed_tools("general")
    assert "schedule_run" in FORBIDDEN_TOOLS  # a schedule never re-enters the scheduler
