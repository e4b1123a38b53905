"""Property tests of the relationship module's parsers: dates with or without a year, vCards, search text."""

from __future__ import annotations

import calendar
import contextlib
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from butlers.modules.relationship import parsing
from butlers.modules.relationship.feed import Cursor
from butlers.modules.relationship.models import (
    Contact,
    DateKind,
    DetailKind,
    Direction,
    GiftStatus,
    ImportantDate,
    InteractionKind,
    LifeEventKind,
    LoanDirection,
    RelationKind,
)
from butlers.modules.relationship.vcard import VCardError, contact_to_vcard, parse_card, split_cards

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MIGRATION = Path(parsing.__file__).parent / "migrations" / "0001_relationship.sql"


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_a_full_date_round_trips(d: date) -> None:
    text = parsing.format_partial_date(d.year, d.month, d.day)
    assert parsing.parse_partial_date(text) == (d.year, d.month, d.day)
    assert parsing.parse_partial_date(text.replace("-", "")) == (d.year, d.month, d.day)


@given(st.integers(1, 12), st.integers(1, 31))
def test_a_date_without_year_is_accepted_exactly_when_the_day_exists_in_some_year(month: int, day: int) -> None:
    exists = day <= calendar.monthrange(2000, month)[1]
    for text in (f"--{month:02d}-{day:02d}", f"--{month:02d}{day:02d}", f"{month:02d}-{day:02d}"):
        if exists:
            assert parsing.parse_partial_date(text) == (None, month, day)
        else:
            with pytest.raises(ValueError, match="does not exist"):
                parsing.parse_partial_date(text)


@given(st.text(max_size=30))
def test_the_date_parser_never_fails_other_than_with_value_error(text: str) -> None:
    try:
        year, month, day = parsing.parse_partial_date(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert 1 <= month <= 12 and 1 <= day <= 31 and (year is None or year >= 1)


@given(st.integers(1, 12), st.integers(1, 31), st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_next_occurrence_is_within_a_year_and_on_the_day(month: int, day: int, today: date) -> None:
    if day > calendar.monthrange(2000, month)[1]:
        return
    on = parsing.next_occurrence(month, day, today)
    assert today <= on < today + timedelta(days=367)
    if (month, day) == (2, 29) and not calendar.isleap(on.year):
        assert (on.month, on.day) == (2, 28)  # celebrated on the 28th in common years
    else:
        assert (on.month, on.day) == (month, day)
    # The window query asks for exactly the keys of the days in range.
    if (on - today).days <= 30:
        assert month * 100 + day in parsing.month_days_within(today, 30)


def test_year_wrap_and_leap_day() -> None:
    assert parsing.next_occurrence(1, 2, date(2026, 12, 30)) == date(2027, 1, 2)
    assert parsing.next_occurrence(2, 29, date(2027, 2, 1)) == date(2027, 2, 28)
    assert parsing.next_occurrence(2, 29, date(2028, 2, 1)) == date(2028, 2, 29)
    assert 229 in parsing.month_days_within(date(2027, 2, 27), 2)


@given(st.text(max_size=40))
def test_fold_is_idempotent_and_accent_free(text: str) -> None:
    once = parsing.fold(text)
    assert parsing.fold(once) == once
    assert once == once.strip() and "  " not in once
    assert all(c.isascii() for c in once)


def test_fold_and_trigrams() -> None:
    assert parsing.fold("Zoë  O'Neil") == "zoe o neil"
    assert parsing.trigrams("Zoë") == parsing.trigrams("zoe") == ["  z", " zo", "oe ", "zoe"]
    assert parsing.phone_key("+33 6 12 34 56 78") == parsing.phone_key("06 12 34 56 78")


@given(st.decimals(min_value="0.01", max_value="999999999", places=2))
def test_amounts_round_trip(amount: object) -> None:
    assert parsing.parse_amount(str(amount)) == amount


@pytest.mark.parametrize("bad", ["0", "-1", "1.234", "abc", "NaN", "Infinity", "1e12"])
def test_bad_amounts(bad: str) -> None:
    with pytest.raises(ValueError):
        parsing.parse_amount(bad)


@given(st.datetimes(timezones=st.just(UTC)), st.sampled_from(["gift", "interaction", "note"]), st.integers(1, 10**9))
def test_feed_cursor_round_trips(at: datetime, source: str, row_id: int) -> None:
    cursor = Cursor(at, source, row_id)
    assert Cursor.decode(cursor.encode()) == cursor


names = st.text(alphabet=st.characters(categories=["L"], max_codepoint=0x17F), min_size=1, max_size=20)


@given(names, names, st.lists(names, max_size=3, unique=True), st.sampled_from(["3.0", "4.0"]),
       st.one_of(st.none(), st.integers(1900, 2020)), st.integers(1, 12), st.integers(1, 28))  # fmt: skip
def test_vcard_round_trip_keeps_names_nicknames_and_birthday(
    first: str, last: str, nicks: list[str], version: str, year: int | None, month: int, day: int
) -> None:
    birthday = ImportantDate(
        id=1, kind=DateKind.BIRTHDAY, label="", month=month, day=day, year=year,
        text=parsing.format_partial_date(year, month, day),
    )  # fmt: skip
    contact = Contact(
        id=7, display_name=f"{first} {last}", first_name=first, last_name=last, nicknames=nicks, company="",
        job_title="", how_met="", notes="", labels=[], frequency_days=None, archived=False, vcard_uid=None,
        last_interaction_at=None, created_at=NOW, updated_at=NOW, dates=[birthday],
    )  # fmt: skip
    [block] = split_cards(contact_to_vcard(contact, version))
    back = parse_card(block)
    assert (back.display_name, back.first_name, back.last_name) == (contact.display_name, first, last)
    assert back.nicknames == nicks and back.birthday == (year, month, day)
    assert back.vcard_uid == "butlers-relationship-7"


@given(st.text(max_size=200))
def test_reading_any_text_as_a_vcard_fails_only_with_vcard_error(junk: str) -> None:
    for block in split_cards(f"BEGIN:VCARD\nVERSION:3.0\n{junk}\nEND:VCARD\n"):
        with contextlib.suppress(VCardError):
            parse_card(block)


@pytest.mark.parametrize(
    ("column", "vocabulary"),
    [
        ("kind IN ('email'", DetailKind),
        ("kind IN ('partner'", RelationKind),
        ("kind IN ('birthday'", DateKind),
        ("kind IN ('call'", InteractionKind),
        ("direction IN ('outbound'", Direction),
        ("status IN ('idea'", GiftStatus),
        ("direction IN ('lent'", LoanDirection),
        ("kind IN ('moved'", LifeEventKind),
    ],
)
def test_every_vocabulary_matches_its_sql_check(column: str, vocabulary: type[StrEnum]) -> None:
    sql = " ".join(MIGRATION.read_text().split())
    start = sql.index(column.split(" IN ")[0] + " IN (", sql.index(column.replace("( ", "(")))
    listed = re.findall(r"'([a-z_]+)'", sql[start : sql.index(")", start)])
    assert listed == [v.value for v in vocabulary]


def test_carddav_messages_never_show_a_password_in_the_url() -> None:
    from butlers.modules.relationship.carddav import _shown

    assert _shown("https://me:hunter2@dav.example/books/") == "https://dav.example/books/"
    assert _shown("https://dav.example/a@b/") == "https://dav.example/a@b/"
