"""`[modules.calendar]` validation and the pure time helpers (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from butlers.modules.calendar import CalendarModule
from butlers.modules.calendar.config import CalendarConfig
from butlers.modules.calendar.events import InputError, free_slots, parse_moment, parse_rrule, parse_work_hours


def test_minimal_configs_and_defaults() -> None:
    cfg = CalendarConfig.model_validate({"url": "https://dav.example.com/dav"})
    assert cfg.url == "https://dav.example.com/dav/"
    assert cfg.require_approval == [] and cfg.ics_sources == []
    ZoneInfo(cfg.timezone)  # the host's zone, a valid IANA name
    ics_only = CalendarConfig.model_validate({"ics_sources": ["https://example.com/h.ics", "local.ics"]})
    assert ics_only.url is None


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"url": "dav.example.com"}, "url"),
        ({"url": "ftp://dav.example.com/"}, "url"),
        ({"url": "http://dav.example.com:99999/"}, "url"),
        ({"url": "https://d.example/", "timezone": "Mars/Olympus"}, "timezone"),
        ({"url": "https://d.example/", "require_approval": ["calendar_send"]}, "require_approval"),
        ({"url": "https://d.example/", "ics_sources": ["http:///nohost"]}, "ics_sources"),
        ({"url": "https://d.example/", "ics_sources": ["a.ics", "a.ics"]}, "ics_sources"),
        ({"url": "https://d.example/", "username": " "}, "username"),
        ({"url": "https://d.example/", "calender": "typo"}, "calender"),
    ],
)
def test_bad_config_names_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ValidationError) as exc:
        CalendarConfig.model_validate(config)
    assert key in {str(part) for err in exc.value.errors() for part in err["loc"]}, exc.value


def test_nothing_to_read_is_an_error() -> None:
    with pytest.raises(ValidationError, match="'url'"):
        CalendarConfig.model_validate({})


def test_module_declares_its_credential() -> None:
    assert CalendarModule.name == "calendar"
    assert CalendarModule.credentials_env == ("CALDAV_PASSWORD",)


def test_parse_moment() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert parse_moment("start", "2025-03-20T09:00:00", paris) == datetime(2025, 3, 20, 9, tzinfo=paris)
    assert parse_moment("start", "2025-03-20T08:00:00Z", paris) == datetime(2025, 3, 20, 8, tzinfo=UTC)
    with pytest.raises(InputError) as exc:
        parse_moment("end", "next week", paris)
    assert exc.value.argument == "end"


def test_parse_rrule_and_work_hours() -> None:
    assert parse_rrule("RRULE:FREQ=WEEKLY;BYDAY=MO") == "FREQ=WEEKLY;BYDAY=MO"
    with pytest.raises(InputError):
        parse_rrule("FREQ=NEVER")
    assert parse_work_hours("09:00-17:30") == (time(9), time(17, 30))
    with pytest.raises(InputError):
        parse_work_hours("25:00-26:00")


def test_free_slots_within_work_hours_across_days() -> None:
    utc = ZoneInfo("UTC")
    day1, day2 = datetime(2025, 6, 2, tzinfo=utc), datetime(2025, 6, 4, tzinfo=utc)
    busy = [(datetime(2025, 6, 2, 9, tzinfo=utc), datetime(2025, 6, 2, 16, tzinfo=utc))]
    slots = free_slots(busy, day1, day2, utc, 60, (time(9), time(17)))
    assert [(s["start"], s["end"]) for s in slots] == [
        ("2025-06-02T16:00:00+00:00", "2025-06-02T17:00:00+00:00"),
        ("2025-06-03T09:00:00+00:00", "2025-06-03T17:00:00+00:00"),
    ]
