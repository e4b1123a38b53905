"""The status vocabularies of the core tables (and the notify module's), each written once.

Every enum here mirrors a SQL CHECK constraint in `migrations/` (or in a
module's migrations): tests/integration/test_status_vocabularies.py reads each
constraint from a real database and compares. Tool parameters and CLI choices
use these enums, so the JSON schema and `--help` list the allowed values.
Below `config` and `core` in the layers, so both can use them.
"""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """sessions.status: queued → running → one of the final states."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self not in ACTIVE_SESSION


ACTIVE_SESSION = frozenset({SessionStatus.QUEUED, SessionStatus.RUNNING})
FINISHED_SESSION = frozenset(set(SessionStatus) - ACTIVE_SESSION)


# One line a vocabulary: StrEnum's functional API gives each member its name in lower case as
# its value ("TRIGGER_TOOL" is "trigger_tool"); the docstring is its JSON schema's description.
TriggerSource = StrEnum("TriggerSource", ["TRIGGER_TOOL", "SCHEDULE", "TICK", "ROUTE", "INBOUND"])
TriggerSource.__doc__ = "sessions.trigger_source: what started a session."

ApprovalStatus = StrEnum("ApprovalStatus", ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "REJECTED"])
ApprovalStatus.__doc__ = "approvals.status: pending → running → succeeded | failed, or pending → rejected."

InboundStatus = StrEnum("InboundStatus", ["RECEIVED", "DISPATCHED", "HANDLED", "FAILED", "IGNORED"])
InboundStatus.__doc__ = (
    "inbound_messages.status: received → dispatched → handled | failed; or received → ignored | failed."
)

ScheduleSource = StrEnum("ScheduleSource", ["CONFIG", "RUNTIME"])
ScheduleSource.__doc__ = "schedules.source: from butler.toml or made at runtime (schedule_create, remind)."

MisfirePolicy = StrEnum("MisfirePolicy", ["COALESCE", "ALL"])
MisfirePolicy.__doc__ = "schedules.misfire: missed windows run once (coalesce) or each (all)."

ToolRunStatus = StrEnum("ToolRunStatus", ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "INTERRUPTED"])
ToolRunStatus.__doc__ = "schedule_runs.tool_status: a tool-mode window's way from queued to its outcome."

NotificationStatus = StrEnum("NotificationStatus", ["PENDING", "SENT", "FAILED", "HELD"])
NotificationStatus.__doc__ = "notifications.status (the notify module's delivery status)."

HeldReason = StrEnum("HeldReason", ["APPROVAL", "QUIET_HOURS"])
HeldReason.__doc__ = "notifications.held_reason: why a notification waits."

Priority = StrEnum("Priority", ["LOW", "NORMAL", "HIGH"])
Priority.__doc__ = "notifications.priority: low and normal wait out the owner's quiet hours."
