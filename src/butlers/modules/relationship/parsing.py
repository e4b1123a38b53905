"""Pure parsers and normalisers: dates with or without a year, moments, money, search text.

Each raises `ValueError` with a message fit to follow "argument 'x': "; the tools add the names.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

_FULL = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_NO_YEAR = re.compile(r"^(?:--)?(\d{2})-?(\d{2})$")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
PHONE_LIKE = re.compile(r"[+\d\s().-]+")
MAX_AMOUNT = Decimal("1000000000")


def parse_partial_date(text: str) -> tuple[int | None, int, int]:
    """`YYYY-MM-DD`, `YYYYMMDD`, or without a year `--MM-DD`, `--MMDD`, `MM-DD`: (year or None, month, day)."""
    raw = text.strip()
    full = _FULL.match(raw)
    if full:
        year, month, day = (int(g) for g in full.groups())
        if year < 1:
            raise ValueError(f"year must be 1 or later in {text!r}")
        try:
            date(year, month, day)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a real date ({exc})") from None
        return year, month, day
    short = _NO_YEAR.match(raw)
    if short:
        month, day = int(short.group(1)), int(short.group(2))
        check_month_day(month, day, text)
        return None, month, day
    raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD, or --MM-DD when the year is unknown")


def check_month_day(month: int, day: int, text: str) -> None:
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} in {text!r} is not between 1 and 12")
    # A date without a year may be 29 February (leap year 2000 allows it); never 30 February.
    if not 1 <= day <= calendar.monthrange(2000, month)[1]:
        raise ValueError(f"day {day} in {text!r} does not exist in month {month}")


def format_partial_date(year: int | None, month: int, day: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}" if year is not None else f"--{month:02d}-{day:02d}"


def occurrence_in(year: int, month: int, day: int) -> date:
    """The date's occurrence in `year`: 29 February falls on the 28th in common years."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def next_occurrence(month: int, day: int, today: date) -> date:
    """The first occurrence on or after `today` (across the new year)."""
    this_year = occurrence_in(today.year, month, day)
    return this_year if this_year >= today else occurrence_in(today.year + 1, month, day)


def month_days_within(today: date, days: int) -> list[int]:
    """`month*100+day` keys of every date from today to today+days, with 229 when 28 Feb is in a common year."""
    keys: list[int] = []
    for offset in range(days + 1):
        d = today + timedelta(days=offset)
        keys.append(d.month * 100 + d.day)
        if d.month == 2 and d.day == 28 and not calendar.isleap(d.year):
            keys.append(229)
    return sorted(set(keys))


def parse_moment(text: str) -> datetime:
    """An ISO date (`2026-03-14`, taken as midnight UTC) or date-time (without a zone: UTC)."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=UTC)
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date or date-time (e.g. 2026-03-14 or 2026-03-14T18:30)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_amount(value: str | float | int) -> Decimal:
    """A positive amount with at most two decimals ("50", "12.5", 12.50)."""
    try:
        amount = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"must be a positive amount, got {value!r}")
    if amount >= MAX_AMOUNT:
        raise ValueError(f"{value!r} is too large")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{value!r} has more than two decimals")
    return amount.quantize(Decimal("0.01"))


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if not _CURRENCY.match(code):
        raise ValueError(f"{text!r} is not a three-letter currency code such as EUR or USD")
    return code


def fold(text: str) -> str:
    """Lower case without accents, punctuation as spaces: 'Zoë  O'Neil' -> 'zoe o neil'."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_WORD.sub(" ", stripped.casefold()).split())


def trigrams(text: str) -> list[str]:
    """pg_trgm's trigrams of the folded text: each word padded with two spaces before, one after."""
    grams: set[str] = set()
    for word in fold(text).split():
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return sorted(grams)


def phone_key(text: str) -> str:
    """Digits only, and the last nine of them: '+33 6 12 34 56 78' and '06 12 34 56 78' match."""
    digits = re.sub(r"\D", "", text)
    return digits[-9:] if len(digits) > 9 else digits


def detail_key(kind: str, value: str) -> str:
    """How two details of a kind compare: emails case-insensitively, phones by their digits."""
    if kind == "phone":
        return phone_key(value)
    if kind == "email":
        return value.strip().casefold()
    return fold(value)
