"""The butler page's tool forms: fields from a tool's real input schema, and the answers turned into arguments."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import anyio
import pytest
from fastmcp import FastMCP
from pydantic import Field

from butlers.dashboard.charts import cost_per_day
from butlers.dashboard.params import BadParameterError
from butlers.dashboard.tool_forms import arguments, fields_of
from butlers.fleet_views import DaySpend


def schema() -> dict[str, Any]:
    mcp: FastMCP = FastMCP("t")

    @mcp.tool
    async def plan(
        title: Annotated[str, Field(description="What")],
        days: int = 7,
        ratio: float | None = None,
        urgent: bool = False,
        mode: Literal["quick", "full"] = "quick",
        extra: dict[str, Any] | None = None,
    ) -> str:
        return title

    async def read() -> dict[str, Any]:
        tool = await mcp.get_tool("plan")
        assert tool is not None
        return tool.parameters

    return anyio.run(read)


def test_each_type_gets_its_field() -> None:
    fields = {f.name: f for f in fields_of(schema())}
    assert (fields["title"].kind, fields["title"].required, fields["title"].description) == ("text", True, "What")
    assert (fields["days"].kind, fields["days"].step, fields["days"].default) == ("number", "1", "7")
    assert fields["ratio"].kind == "number" and not fields["ratio"].required
    assert fields["urgent"].kind == "checkbox"
    assert (fields["mode"].kind, fields["mode"].options) == ("select", ("quick", "full"))
    assert fields["extra"].kind == "json"


def test_answers_become_typed_arguments_and_empty_optional_ones_are_left_out() -> None:
    form = {"title": "Trip", "days": "3", "ratio": "", "mode": "full", "extra": '{"a": [1]}'}
    assert arguments(schema(), form) == {
        "title": "Trip",
        "days": 3,
        "urgent": False,
        "mode": "full",
        "extra": {"a": [1]},
    }
    assert arguments(schema(), {"title": "x", "urgent": "on"})["urgent"] is True


def test_a_bad_answer_names_the_field() -> None:
    with pytest.raises(BadParameterError, match="days: not an integer"):
        arguments(schema(), {"title": "x", "days": "three"})
    with pytest.raises(BadParameterError, match="extra: not valid JSON"):
        arguments(schema(), {"title": "x", "extra": "{oops"})


def test_the_chart_stacks_each_butlers_cost_per_day() -> None:
    rows = [DaySpend("a", date(2026, 11, 2), 1, 1.0), DaySpend("b", date(2026, 11, 2), 2, 3.0)]
    chart = cost_per_day(rows, date(2026, 11, 1), date(2026, 11, 3), ["b", "a"])
    assert len(chart.bars) == 2 and not chart.empty
    a, b = chart.bars
    assert a.x == b.x and b.height == pytest.approx(3 * a.height) and b.y + b.height == pytest.approx(a.y)
    assert chart.y_labels[-1].text == "$4.00" and [name for name, _ in chart.legend] == ["a", "b"]
    assert cost_per_day([], date(2026, 11, 1), date(2026, 11, 3), ["a"]).empty
