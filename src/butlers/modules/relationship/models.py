"""The relationship module's vocabularies (each mirrored by a SQL CHECK) and the records tools return."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# One line a vocabulary: StrEnum's functional API gives each member its name in lower case as its value.
DetailKind = StrEnum("DetailKind", ["EMAIL", "PHONE", "ADDRESS", "URL"])
RelationKind = StrEnum(
    "RelationKind", ["PARTNER", "SPOUSE", "CHILD", "PARENT", "SIBLING", "FRIEND", "COLLEAGUE", "CUSTOM"]
)
DateKind = StrEnum("DateKind", ["BIRTHDAY", "ANNIVERSARY", "OTHER"])
InteractionKind = StrEnum("InteractionKind", ["CALL", "MESSAGE", "MEETING", "OTHER"])
# Who reached out: the user (outbound), they (inbound), or nobody in particular (mutual: a dinner together).
Direction = StrEnum("Direction", ["OUTBOUND", "INBOUND", "MUTUAL"])
GiftStatus = StrEnum("GiftStatus", ["IDEA", "GIVEN", "RECEIVED"])
# Lent: the user lent to the contact (they owe the user); borrowed: the user borrowed from the contact.
LoanDirection = StrEnum("LoanDirection", ["LENT", "BORROWED"])
LifeEventKind = StrEnum(
    "LifeEventKind",
    ["MOVED", "NEW_JOB", "BABY", "ENGAGED", "MARRIED", "GRADUATED", "RETIRED", "LOSS", "HEALTH", "OTHER"],
)

# Seen from the other side: if B is A's child, A is B's parent.
INVERSE_RELATION = {RelationKind.CHILD: RelationKind.PARENT, RelationKind.PARENT: RelationKind.CHILD}


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class Detail(Record):
    id: int
    kind: DetailKind
    label: str
    value: str


class ImportantDate(Record):
    id: int
    kind: DateKind
    label: str
    month: int
    day: int
    year: int | None
    text: str  # "1990-03-14" or "--03-14" (no year)


class Relation(Record):
    id: int
    kind: RelationKind
    custom: str
    other_id: int
    other_name: str


class Contact(Record):
    id: int
    display_name: str
    first_name: str
    last_name: str
    nicknames: list[str]
    company: str
    job_title: str
    how_met: str
    notes: str
    labels: list[str]
    frequency_days: int | None
    archived: bool
    vcard_uid: str | None
    last_interaction_at: datetime | None
    created_at: datetime
    updated_at: datetime
    details: list[Detail] = []
    dates: list[ImportantDate] = []
    relations: list[Relation] = []


class ContactMatch(Record):
    id: int
    display_name: str
    nicknames: list[str]
    labels: list[str]
    archived: bool
    score: float  # 1.0 is an exact match of the normalised text


class Interaction(Record):
    id: int
    occurred_at: datetime
    kind: InteractionKind
    direction: Direction
    notes: str
    contact_ids: list[int]


class Gift(Record):
    id: int
    contact_id: int
    name: str
    status: GiftStatus
    occasion: str
    notes: str
    occurred_at: datetime


class Loan(Record):
    id: int
    contact_id: int
    direction: LoanDirection
    amount: str  # a decimal string, "50.00": never a float for money
    currency: str
    notes: str
    settled: bool
    settled_at: datetime | None
    occurred_at: datetime


class LifeEvent(Record):
    id: int
    contact_id: int
    kind: LifeEventKind
    title: str
    notes: str
    occurred_at: datetime


class ContactNote(Record):
    id: int
    contact_id: int
    body: str
    occurred_at: datetime


class FeedItem(Record):
    source: str  # interaction, gift, loan, life_event, note
    id: int
    occurred_at: datetime
    summary: str
    contact_ids: list[int]
    contact_names: list[str]


class FeedPage(Record):
    items: list[FeedItem]
    next_cursor: str | None  # pass as `before` for the next (older) page


class OverdueContact(Record):
    id: int
    display_name: str
    last_interaction_at: datetime | None
    frequency_days: int | None
    days_since: int | None  # None: never talked to


class UpcomingDate(Record):
    contact_id: int
    display_name: str
    kind: DateKind
    label: str
    on: str  # the next occurrence, ISO date
    in_days: int
    turns: int | None  # the age or the number of years, when the year is known


class ImportReport(Record):
    created: int
    updated: int
    unchanged: int
    contact_ids: list[int]
    skipped: list[str]  # cards that could not be read, with why


class Digest(Record):
    message: str
    upcoming: list[UpcomingDate]
    overdue: list[OverdueContact]
    delivered: bool
    delivery: str  # what happened to the message ("sent", "not delivered: notify is not available", ...)
