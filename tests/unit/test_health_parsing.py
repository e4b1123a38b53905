"""Property tests of the health module's unit conversion and input parsers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastmcp.exceptions import ToolError
from hypothesis import given, settings
from hypothesis import strategies as st

from butlers.modules.health import units
from butlers.modules.health.times import parse_date, parse_instant, parse_period, parse_time_of_day

BERLIN = ZoneInfo("Europe/Berlin")
ALL_UNITS = [(kind, unit) for kind, spec in units.KINDS.items() for unit in spec.units.values()]
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(deadline=None)  # a shared, loaded machine: no per-example time limit
@given(pair=st.sampled_from(ALL_UNITS), value=finite)
def test_every_unit_round_trips_through_the_canonical_one(pair: tuple[str, units.Unit], value: float) -> None:
    _, unit = pair
    assert unit.from_canonical(unit.to_canonical(value)) == pytest.approx(value, rel=1e-9, abs=1e-9)


@settings(deadline=None)
@given(kg=st.floats(min_value=1, max_value=500))
def test_kg_and_lb_agree_both_ways(kg: float) -> None:
    lb = units.find_unit("weight", "lb")
    assert lb is not None
    assert lb.from_canonical(kg) == pytest.approx(kg / 0.45359237)
    assert lb.to_canonical(lb.from_canonical(kg)) == pytest.approx(kg)


def test_known_conversions() -> None:
    def to_canonical(kind: str, unit: str, value: float) -> float:
        found = units.find_unit(kind, unit)
        assert found is not None, unit
        return found.to_canonical(value)

    assert to_canonical("temperature", "°F", 98.6) == pytest.approx(37.0)
    assert to_canonical("temperature", "f", 32) == pytest.approx(0.0)
    assert to_canonical("glucose", "MG / DL", 180.156) == pytest.approx(10.0)
    assert to_canonical("weight", "pounds", 100) == pytest.approx(45.359237)
    assert to_canonical("sleep", "minutes", 90) == 1.5
    assert units.find_unit("weight", "stone") is None
    assert units.find_unit("weight", None) == units.KG  # the canonical unit by default


@settings(deadline=None)
@given(spelling=st.sampled_from(["°C", "c", "C", " celsius ", "º C", "°c"]))
def test_unit_spellings_normalise(spelling: str) -> None:
    assert units.find_unit("temperature", spelling) == units.CELSIUS


@settings(deadline=None)
@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_a_date_parses_to_its_own_start_in_the_zone(day: date) -> None:
    assert parse_date("t", "since", day.isoformat(), BERLIN) == day
    instant = parse_instant("t", "at", day.isoformat(), BERLIN)
    assert instant == datetime.combine(day, time(0), BERLIN)


@settings(deadline=None)
@given(moment=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_an_iso_instant_round_trips(moment: datetime) -> None:
    assert parse_instant("t", "at", moment.isoformat(), BERLIN) == moment
    assert parse_instant("t", "at", moment.replace(tzinfo=None).isoformat(), BERLIN).tzinfo == BERLIN


@settings(deadline=None)
@given(text=st.text(max_size=30).filter(lambda s: s.strip().lower() not in ("now", "today", "yesterday")))
def test_garbage_is_refused_naming_the_argument_and_not_quoted(text: str) -> None:
    try:
        datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        return  # a valid date-time hypothesis happened to find
    except ValueError:
        pass
    with pytest.raises(ToolError) as info:
        parse_instant("health_x", "at", text, BERLIN)
    message = str(info.value)
    assert message.startswith("health_x: argument 'at': ")
    if len(text.strip()) >= 4:
        assert text.strip() not in message.removeprefix("health_x: argument 'at': ")


@settings(deadline=None)
@given(hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_times_of_day_parse(hour: int, minute: int) -> None:
    assert parse_time_of_day("t", "times", f"{hour:02d}:{minute:02d}") == time(hour, minute)


@settings(deadline=None)
@given(text=st.sampled_from(["25:00", "8am", "", "12:60", "noon"]))
def test_bad_times_of_day_are_refused(text: str) -> None:
    with pytest.raises(ToolError, match="argument 'times'"):
        parse_time_of_day("t", "times", text)


@settings(deadline=None)
@given(days=st.integers(1, 3660))
def test_a_period_of_n_days_ends_now_and_spans_n_days(days: int) -> None:
    period = parse_period("t", None, None, days, BERLIN)
    assert period.end - period.start == timedelta(days=days)


def test_an_until_date_includes_that_day_and_backwards_periods_are_refused() -> None:
    period = parse_period("t", "2024-03-01", "2024-03-01", None, BERLIN)
    assert (period.start.isoformat(), period.end.isoformat()) == ("2024-03-01T00:00:00+01:00", "2024-03-02T00:00:00+01:00")  # fmt: skip
    with pytest.raises(ToolError, match="argument 'since': must be before until"):
        parse_period("t", "2024-03-02", "2024-03-01", None, BERLIN)
    with pytest.raises(ToolError, match="argument 'days'"):
        parse_period("t", "2024-03-01", None, 5, BERLIN)
