"""vCard 3.0 and 4.0 to and from contacts, with vobject.

Reads what address books write: Apple's X-APPLE-OMIT-YEAR birthdays, `--MMDD` (4.0) and
`--MM-DD` birthdays without a year, `tel:` URIs, item-grouped labels, CATEGORIES as labels.
"""

from __future__ import annotations

import re
from typing import Any

import vobject

from . import parsing
from .models import Contact, DateKind, DetailKind
from .store import NewContact

_KIND_OF = {"email": DetailKind.EMAIL, "tel": DetailKind.PHONE, "adr": DetailKind.ADDRESS, "url": DetailKind.URL}
_BDAY_TIME = re.compile(r"[T ].*$")


class VCardError(ValueError):
    """A card that cannot be read; the message says which and why."""


def split_cards(text: str) -> list[str]:
    """Each BEGIN:VCARD..END:VCARD block, so one broken card does not hide the others."""
    blocks = re.findall(r"BEGIN:VCARD.*?END:VCARD", text.replace("\r\n", "\n"), flags=re.S | re.I)
    return [b + "\n" for b in blocks]


def parse_card(block: str) -> NewContact:
    try:
        card = vobject.readOne(block, ignoreUnreadable=True)
    except Exception as exc:  # vobject raises its own ParseError and plain errors alike
        raise VCardError(f"unreadable vCard: {exc}") from None
    given, family = _name_parts(card)
    fn = _first(card, "fn") or " ".join(p for p in (given, family) if p) or _first(card, "org")
    if not fn:
        raise VCardError("vCard has no FN, N or ORG: nothing to call the contact")
    return NewContact(
        display_name=fn.strip()[:200],
        first_name=given,
        last_name=family,
        nicknames=[n for line in _lines(card, "nickname") for n in _list_value(line)],
        company=_org(card),
        job_title=_first(card, "title"),
        notes=_first(card, "note"),
        labels=[c.strip().lower() for line in _lines(card, "categories") for c in _list_value(line) if c.strip()],
        vcard_uid=_first(card, "uid") or None,
        details=_details(card),
        birthday=_birthday(card),
    )


def _lines(card: Any, name: str) -> list[Any]:
    return list(card.contents.get(name, []))


def _first(card: Any, name: str) -> str:
    lines = _lines(card, name)
    value = lines[0].value if lines else ""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value).strip()


def _list_value(line: Any) -> list[str]:
    value = line.value
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def _name_parts(card: Any) -> tuple[str, str]:
    lines = _lines(card, "n")
    if not lines or isinstance(lines[0].value, str):
        return "", ""
    name = lines[0].value

    def joined(part: Any) -> str:
        return " ".join(part).strip() if isinstance(part, list) else str(part).strip()

    return joined(name.given), joined(name.family)


def _org(card: Any) -> str:
    lines = _lines(card, "org")
    if not lines:
        return ""
    value = lines[0].value
    return (value[0] if isinstance(value, list) and value else str(value)).strip()


def _details(card: Any) -> list[tuple[str, str, str]]:
    out = []
    for name, kind in _KIND_OF.items():
        for line in _lines(card, name):
            value = _address(line.value) if kind is DetailKind.ADDRESS else str(line.value).strip()
            if kind is DetailKind.PHONE:
                value = value.removeprefix("tel:")
            if value:
                out.append((kind.value, _label(card, line), value[:500]))
    return out


def _address(adr: Any) -> str:
    if isinstance(adr, str):
        return adr.strip()
    parts = [adr.box, adr.extended, adr.street, adr.city, adr.region, adr.code, adr.country]
    flat = [" ".join(p) if isinstance(p, list) else str(p) for p in parts]
    return ", ".join(p.strip() for p in flat if p.strip())


def _label(card: Any, line: Any) -> str:
    # Apple groups a value with its label: item1.EMAIL + item1.X-ABLabel:_$!<Other>!$_
    if line.group:
        for other in card.getChildren():
            if other.group == line.group and other.name.upper() == "X-ABLABEL":
                return str(other.value).strip("_$!<>").lower()[:50]
    types = [t.lower() for t in line.params.get("TYPE", []) for t in t.split(",")]
    wanted = [t for t in types if t in {"home", "work", "cell", "mobile", "fax", "other", "main"}]
    return wanted[0] if wanted else ""


def _birthday(card: Any) -> tuple[int | None, int, int] | None:
    lines = _lines(card, "bday")
    if not lines:
        return None
    raw = _BDAY_TIME.sub("", str(lines[0].value).strip())
    try:
        year, month, day = parsing.parse_partial_date(raw)
    except ValueError:
        raise VCardError(f"BDAY {raw!r} is not a date") from None
    # Apple writes a birthday without a year as 1604-MM-DD with X-APPLE-OMIT-YEAR=1604.
    if year is not None and str(year) in lines[0].params.get("X-APPLE-OMIT-YEAR", []):
        year = None
    return year, month, day


def contact_to_vcard(contact: Contact, version: str) -> str:
    card = vobject.vCard()
    card.add("version").value = version
    card.add("uid").value = contact.vcard_uid or f"butlers-relationship-{contact.id}"
    card.add("fn").value = contact.display_name
    card.add("n").value = vobject.vcard.Name(family=contact.last_name, given=contact.first_name)
    if contact.nicknames:
        card.add("nickname").value = ",".join(contact.nicknames)
    if contact.company:
        card.add("org").value = [contact.company]
    if contact.job_title:
        card.add("title").value = contact.job_title
    if contact.notes:
        card.add("note").value = contact.notes
    if contact.labels:
        card.add("categories").value = contact.labels
    for detail in contact.details:
        _add_detail(card, detail.kind, detail.value, detail.label)
    birthday = next((d for d in contact.dates if d.kind is DateKind.BIRTHDAY), None)
    if birthday is not None:
        no_year = f"--{birthday.month:02d}{birthday.day:02d}" if version == "4.0" else birthday.text
        card.add("bday").value = birthday.text if birthday.year is not None else no_year
    return str(card.serialize())


def _add_detail(card: Any, kind: DetailKind, value: str, label: str) -> None:
    if kind is DetailKind.ADDRESS:
        line = card.add("adr")
        line.value = vobject.vcard.Address(street=value)
    else:
        line = card.add({"email": "email", "phone": "tel", "url": "url"}[kind.value])
        line.value = value
    if label:
        line.type_param = label
